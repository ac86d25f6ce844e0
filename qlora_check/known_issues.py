"""Known upstream incompatibilities shipped with the package (data/known_issues.yaml) as expectations.

A matching cell that fails the known way becomes `xfail` with the upstream link, so a known library bug
never reads as a fresh failure; one that passes becomes `xpass` ("fixed upstream? <link>"). A matrix's own
`expect` rules come first: a result they already judged is left alone. A rule applies only while the
installed libraries lie in its version ranges, and (where it names one) only to the error it describes,
so another failure of the same cell keeps its own status.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from qlora_check.errors import QloraCheckError
from qlora_check.results.models import CellResult, Status

KNOWN_ISSUES_SCHEMA_VERSION = 1
SOURCE = "known_issues"
_NOT_JUDGED = frozenset({Status.SKIP, Status.NOT_APPLICABLE, Status.INTERRUPTED})
_LINK_KINDS = ("issue", "related")
_NEEDS = ("cpu", "gpu")


class KnownIssuesError(QloraCheckError):
    """The known-issues file is malformed or of a newer schema version."""


@dataclass(frozen=True)
class KnownIssue:
    """One upstream incompatibility: which cells, which library versions, which failure, and where it is told."""

    id: str
    match: dict[str, tuple[Any, ...]]
    status: str
    url: str
    reason: str
    link_kind: str = "issue"
    error_contains: tuple[str, ...] = ()  # any one of these texts (one library, one cause, several wordings)
    libraries: dict[str, str] = field(default_factory=dict)
    needs: str = "cpu"
    example: dict[str, Any] = field(default_factory=dict)

    def matches(self, values: Mapping[str, Any]) -> bool:
        """Whether a cell's values fit every axis of the rule (a list of values means any of them)."""
        return all(values.get(name) in allowed for name, allowed in self.match.items())

    def applies_to(self, versions: Mapping[str, str | None]) -> bool:
        """Whether every library the rule names is installed in a version inside its range."""
        from packaging.specifiers import SpecifierSet
        from packaging.version import InvalidVersion, Version

        for name, specifier in self.libraries.items():
            installed = versions.get(name)
            if installed is None:
                return False
            try:
                if Version(installed) not in SpecifierSet(specifier):
                    return False
            except InvalidVersion:
                return False
        return True

    def explains(self, result: CellResult) -> bool:
        """Whether ``result`` is the failure this rule describes (status, and the error text if given)."""
        if result.status.value != self.status:
            return False
        if not self.error_contains:
            return True
        text = f"{result.error.message if result.error else ''}\n{result.reason}"
        return any(wording in text for wording in self.error_contains)

    def expectation(self) -> dict[str, Any]:
        """What a judged result records in ``expected`` (the same keys as a matrix rule, plus the source)."""
        return {
            "status": self.status,
            "reason": self.reason,
            "link": self.url,
            "strict": False,
            "source": SOURCE,
            "id": self.id,
            "link_kind": self.link_kind,
        }


def load_known_issues(path: Path | None = None) -> list[KnownIssue]:
    """The rules in ``path``, or the package's own file."""
    if path is None:
        text = resources.files("qlora_check").joinpath("data", "known_issues.yaml").read_text(encoding="utf-8")
        where = "qlora_check/data/known_issues.yaml"
    else:
        text, where = path.read_text(encoding="utf-8"), str(path)
    return parse_known_issues(yaml.safe_load(text), where)


def parse_known_issues(document: Any, where: str = "known_issues.yaml") -> list[KnownIssue]:
    """Validate the document and build the rules; a clear error names the rule and the field."""
    if not isinstance(document, dict) or not isinstance(document.get("issues"), list):
        raise KnownIssuesError(f"{where}: expected a mapping with an 'issues' list")
    version = document.get("schema_version")
    if not isinstance(version, int) or version > KNOWN_ISSUES_SCHEMA_VERSION:
        raise KnownIssuesError(
            f"{where}: schema_version {version!r} is not supported (this qlora-check reads up to "
            f"{KNOWN_ISSUES_SCHEMA_VERSION})",
            tip="upgrade qlora-check",
        )
    return [_issue(entry, f"{where}: issue {index + 1}") for index, entry in enumerate(document["issues"])]


def _issue(entry: Any, where: str) -> KnownIssue:
    if not isinstance(entry, dict):
        raise KnownIssuesError(f"{where}: expected a mapping")
    missing = {"id", "match", "status", "url", "reason"} - set(entry)
    if missing:
        raise KnownIssuesError(f"{where}: missing {', '.join(sorted(missing))}")
    url = str(entry["url"])
    if not url.startswith("https://"):
        raise KnownIssuesError(f"{where}: url must be an https:// address, not {url!r}")
    link_kind = str(entry.get("link_kind", "issue"))
    needs = str(entry.get("needs", "cpu"))
    if link_kind not in _LINK_KINDS or needs not in _NEEDS:
        raise KnownIssuesError(f"{where}: link_kind must be one of {_LINK_KINDS} and needs one of {_NEEDS}")
    match = {
        str(name): tuple(value) if isinstance(value, list) else (value,) for name, value in dict(entry["match"]).items()
    }
    return KnownIssue(
        id=str(entry["id"]),
        match=match,
        status=str(entry["status"]),
        url=url,
        reason=" ".join(str(entry["reason"]).split()),
        link_kind=link_kind,
        error_contains=_texts(entry.get("error_contains"), where),
        libraries={str(name): str(spec) for name, spec in dict(entry.get("libraries") or {}).items()},
        needs=needs,
        example=dict(entry.get("example") or {}),
    )


def _texts(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    texts = value if isinstance(value, list) else [value]
    if not texts or not all(isinstance(text, str) and text for text in texts):
        raise KnownIssuesError(f"{where}: error_contains must be a text or a list of texts")
    return tuple(texts)


def active_issues(issues: Iterable[KnownIssue], versions: Mapping[str, str | None]) -> list[KnownIssue]:
    """The rules whose library version ranges hold for ``versions`` (this host's installed libraries)."""
    return [issue for issue in issues if issue.applies_to(versions)]


def apply_known_issues(result: CellResult, issues: Sequence[KnownIssue]) -> CellResult:
    """Judge a result a matrix rule has not judged: the known failure -> xfail, a pass -> xpass."""
    if result.expected is not None or result.status in _NOT_JUDGED:
        return result
    matching = [issue for issue in issues if issue.matches(result.values)]
    if not matching:
        return result
    # The rule that describes this very failure, if any; a pass is judged by the first matching rule.
    issue = next((issue for issue in matching if issue.explains(result)), matching[0])
    if issue.explains(result):
        reason = f"known upstream issue ({issue.url}): {issue.reason}; {result.reason}"
        return replace(result, status=Status.XFAIL, reason=reason, expected=issue.expectation())
    if result.status is Status.PASS:
        reason = f"passed: fixed upstream? {issue.url} (known issue {issue.id}: {issue.reason})"
        return replace(result, status=Status.XPASS, reason=reason, expected=issue.expectation())
    return result


def matched_cells(issues: Sequence[KnownIssue], cells: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """How many of ``cells`` (their values) each rule matches, by rule id (0 included)."""
    counts = {issue.id: 0 for issue in issues}
    for values in cells:
        issue = next((issue for issue in issues if issue.matches(values)), None)
        if issue is not None:
            counts[issue.id] += 1
    return counts
