"""A check pack's findings read back: as ``Finding`` objects, most severe first, counted."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from bot.core.findings import SEVERITY_ORDER, Finding, Severity
from bot.core.render.formatting import _plural

GROUPS = (
    (Severity.ERROR, "Errors"),
    (Severity.WARNING, "Warnings"),
    (Severity.NOTE, "Notes"),
)


def _finding(item: Mapping[str, Any], clean: Callable[[Any], str] = str) -> Finding:
    return Finding(
        path=clean(item["path"]),
        line=int(item["line"]),
        column=int(item["column"]),
        code=clean(item["code"]),
        severity=Severity(item["severity"]),
        message=clean(item["message"]),
        json_path=str(item.get("jsonPath", "$")),
    )


def _by_severity(findings: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Most severe first; the pack's order (file, position) within a severity."""
    return sorted(findings, key=lambda f: SEVERITY_ORDER[Severity(f["severity"])])


def _counts(findings: Sequence[Mapping[str, Any]]) -> dict[Severity, int]:
    counts = dict.fromkeys(Severity, 0)
    for item in findings:
        counts[Severity(item["severity"])] += 1
    return counts


def _counts_text(counts: Mapping[Severity, int]) -> str:
    return ", ".join(
        (
            _plural(counts[Severity.ERROR], "error"),
            _plural(counts[Severity.WARNING], "warning"),
            _plural(counts[Severity.NOTE], "note"),
        )
    )
