"""Reports of a run: report.html, report.json, junit.xml and summary.md, rendered without torch."""

from qlora_check.reports.writer import FORMATS, write_report, write_reports, write_reports_after_run

__all__ = ["FORMATS", "write_report", "write_reports", "write_reports_after_run"]
