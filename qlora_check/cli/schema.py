"""`qlora-check schema`: the JSON Schema of the matrix format."""

from __future__ import annotations

import json

from qlora_check.cli.common import console
from qlora_check.matrix.schema import matrix_json_schema


def schema() -> None:
    """Print the JSON Schema of matrix files (for editors and validation)."""
    console.print_json(json.dumps(matrix_json_schema()))
