"""Result records and the run directory that holds them."""

from qlora_check.results.models import CellResult, CheckResult, ErrorInfo, Status

__all__ = ["CellResult", "CheckResult", "ErrorInfo", "Status"]
