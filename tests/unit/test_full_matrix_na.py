"""matrices/full.yaml lost its 36 excludes that only restated n/a rules: automatic pruning plans the same cells."""

from __future__ import annotations

from qlora_check.capabilities import not_applicable_reason
from qlora_check.matrix.expand import expand_matrix
from qlora_check.matrix.loader import parse_matrix
from tests.conftest import MATRICES

# The hand-written excludes full.yaml carried before n/a pruning (each one an n/a rule spelled out).
RESTATED_NA_RULES = (
    """
  - {quantizer: none, train_type: qlora}
  - {quantizer: none, train_type: qdora}
  - {quantizer: none, train_type: custom_qlora}
"""
    + "".join(
        f"  - {{quantizer: {quantizer}, train_type: {train_type}}}\n"
        for quantizer in ("bnb-nf4", "bnb-int8", "hqq-4bit", "quanto-int4", "mlx-4bit")
        for train_type in ("full", "lora", "dora", "custom_lora")
    )
    + "".join(f"  - {{backend: {backend}, quantizer: mlx-4bit}}\n" for backend in ("cpu", "cuda", "mps"))
    + "".join(
        f"  - {{backend: mlx, {axis}: {value}}}\n"
        for axis, value in (
            ("quantizer", "bnb-nf4"),
            ("quantizer", "bnb-int8"),
            ("quantizer", "hqq-4bit"),
            ("quantizer", "quanto-int4"),
            ("train_type", "custom_lora"),
            ("train_type", "custom_qlora"),
            ("train_type", "llama_pro"),
            ("precision", "bf16_autocast"),
            ("precision", "fp16_autocast"),
            ("optimizer", "adamw_8bit"),
        )
    )
)


def test_full_plans_the_same_cells_without_the_excludes_that_restated_na_rules() -> None:
    source = (MATRICES / "full.yaml").read_text(encoding="utf-8")
    assert "exclude:\n" in source
    before = parse_matrix(source.replace("exclude:\n", "exclude:\n" + RESTATED_NA_RULES, 1))
    assert len(before.exclude) == len(parse_matrix(source).exclude) + 36
    old_cells = expand_matrix(before).cells
    assert not [cell.label for cell in old_cells if not_applicable_reason(cell)], "the old file had no n/a cell"

    expansion = expand_matrix(parse_matrix(source))
    kept = [cell for cell in expansion.cells if not_applicable_reason(cell) is None or cell.id in expansion.explicit]
    assert [cell.id for cell in kept] == [cell.id for cell in old_cells]
    assert len(expansion.cells) - len(kept) > 0, "n/a combinations are now pruned by qlora-check, not by hand"
