"""Matrices: the YAML format, its validation, and expansion into cells."""

from qlora_check.matrix.cell import Cell
from qlora_check.matrix.expand import expand
from qlora_check.matrix.loader import load_matrix, parse_matrix
from qlora_check.matrix.model import ExpectRule, Matrix, Settings

__all__ = ["Cell", "ExpectRule", "Matrix", "Settings", "expand", "load_matrix", "parse_matrix"]
