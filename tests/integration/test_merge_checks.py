"""`merge` and `adapter_reload` in real cells of both engines, and MLX's adapter_dtype."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.conftest import assert_passed, run_cell

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    ("values", "path"),
    [
        ({"train_type": "lora"}, "peft merge_and_unload"),
        ({"train_type": "custom_lora"}, "own merge: W += (alpha / r) · B · A"),
        ({"quantizer": "hqq-4bit", "train_type": "qlora"}, "dequantize (hqq) -> peft merge_and_unload"),
        ({"quantizer": "bnb-nf4", "train_type": "qdora"}, "dequantize (bnb) -> peft merge_and_unload"),
        ({"quantizer": "hqq-4bit", "train_type": "custom_qlora"}, "dequantize (hqq) -> own merge"),
        ({"backend": "mlx", "quantizer": "mlx-4bit", "train_type": "qlora"}, "mlx-lm fuse --dequantize"),
    ],
)
def test_merge_and_adapter_reload_are_checked_with_their_figures(
    tmp_path: Path, values: dict[str, str], path: str
) -> None:
    checks = assert_passed(run_cell(tmp_path, **values), "merge", "adapter_reload")
    merge = checks["merge"]["figures"]
    assert merge["path"].startswith(path)
    assert merge["max_abs_diff"] <= merge["limit"] < merge["adapter_effect"]  # a lost update would not pass
    if "in_place" in merge:  # a quantized base: the library's requantizing merge ran too, and kept some effect
        assert 0.0 < merge["in_place_kept"] <= 1.0 and merge["in_place"]["from_base"] > 0
    assert checks["adapter_reload"]["figures"]["max_abs_diff"] == 0.0  # bit-identical on this CPU (measured)


def test_peft_s_merge_into_an_optimum_quanto_layer_drops_the_update_and_the_check_says_so(tmp_path: Path) -> None:
    result = run_cell(tmp_path, quantizer="quanto-int4", train_type="qlora", steps=20)
    merge = next(check for check in result["checks"] if check["name"] == "merge")
    assert not merge["passed"] and "the update was dropped" in merge["detail"]
    assert merge["figures"]["max_abs_diff"] <= merge["figures"]["limit"]  # dequantize -> merge itself is exact
    assert merge["figures"]["in_place"]["from_base"] == 0.0


@pytest.mark.parametrize(("setting", "dtype"), [("fp32", "mlx.core.float32"), ("param", "mlx.core.bfloat16")])
def test_mlx_adapter_dtype(tmp_path: Path, setting: str, dtype: str) -> None:
    result = run_cell(tmp_path, backend="mlx", precision="bf16", adapter_dtype=setting)
    assert_passed(result, "learned", "merge", "adapter_reload")
    assert result["engine"]["precision"]["trainable_dtypes"] == [dtype]
