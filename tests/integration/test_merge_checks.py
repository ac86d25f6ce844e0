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
        ({"quantizer": "hqq-4bit", "train_type": "qlora"}, "peft merge_and_unload into the quantized layer"),
        ({"backend": "mlx", "quantizer": "mlx-4bit", "train_type": "qlora"}, "mlx-lm fuse into the quantized layer"),
    ],
)
def test_merge_and_adapter_reload_are_checked_with_their_figures(
    tmp_path: Path, values: dict[str, str], path: str
) -> None:
    checks = assert_passed(run_cell(tmp_path, **values), "merge", "adapter_reload")
    merge = checks["merge"]["figures"]
    assert merge["path"].startswith(path)
    assert merge["max_abs_diff"] <= merge["limit"] < merge["adapter_effect"]  # a lost update would not pass
    assert checks["adapter_reload"]["figures"]["max_abs_diff"] == 0.0  # bit-identical on this CPU (measured)


def test_custom_lora_over_a_quantized_base_records_why_it_is_not_merged(tmp_path: Path) -> None:
    checks = assert_passed(run_cell(tmp_path, quantizer="hqq-4bit", train_type="custom_qlora"), "merge")
    assert checks["merge"]["figures"]["skipped"] is True


@pytest.mark.parametrize(("setting", "dtype"), [("fp32", "mlx.core.float32"), ("param", "mlx.core.bfloat16")])
def test_mlx_adapter_dtype(tmp_path: Path, setting: str, dtype: str) -> None:
    result = run_cell(tmp_path, backend="mlx", precision="bf16", adapter_dtype=setting)
    assert_passed(result, "learned", "merge", "adapter_reload")
    assert result["engine"]["precision"]["trainable_dtypes"] == [dtype]
