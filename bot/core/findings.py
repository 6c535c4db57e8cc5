"""The one diagnostic type of the project.

Every user mistake — a YAML error, a schema violation, a broken semantic rule, later a policy
denial — is a :class:`Finding`: a value that says where (file, line, column, JSON path) and
what (code, severity, message). Functions return findings; they never raise for bad input.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, TypeVar

T = TypeVar("T")


class Severity(StrEnum):
    """How much a finding matters: errors block, warnings inform, notes explain."""

    ERROR = "error"
    WARNING = "warning"
    NOTE = "note"


SEVERITY_ORDER = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.NOTE: 2}


@dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    """One problem found in one file, at a 1-based line and column."""

    path: str
    line: int
    column: int
    code: str
    severity: Severity
    message: str
    json_path: str = "$"

    def sort_key(self) -> tuple[str, int, int, int, str, str]:
        """Order findings by file, position, severity, code and message, for stable output."""
        return (
            self.path,
            self.line,
            self.column,
            SEVERITY_ORDER[self.severity],
            self.code,
            self.message,
        )

    def as_dict(self) -> dict[str, object]:
        """Return the finding as plain JSON-ready data."""
        return {
            "path": self.path,
            "line": self.line,
            "column": self.column,
            "code": self.code,
            "severity": self.severity.value,
            "message": self.message,
            "jsonPath": self.json_path,
        }


def sort_findings(findings: tuple[Finding, ...] | list[Finding]) -> tuple[Finding, ...]:
    """Return the findings in a stable order, without duplicates."""
    return tuple(sorted(set(findings), key=Finding.sort_key))


def has_errors(findings: tuple[Finding, ...]) -> bool:
    """Tell whether any finding is an error (a warning alone does not fail a validation)."""
    return any(f.severity is Severity.ERROR for f in findings)


@dataclass(frozen=True, slots=True)
class Parsed(Generic[T]):
    """A value (or ``None`` when it could not be built) together with the findings on the way."""

    value: T | None
    findings: tuple[Finding, ...] = ()

    @property
    def ok(self) -> bool:
        """Tell whether a value was built without any error finding."""
        return self.value is not None and not has_errors(self.findings)
