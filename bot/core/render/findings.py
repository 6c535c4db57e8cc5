"""Findings as terminal text, JSON and GitHub workflow commands."""

from __future__ import annotations

import json
from collections.abc import Sequence

from bot.core.findings import Finding, Severity

GITHUB_LEVELS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.NOTE: "notice"}


def summarize(findings: Sequence[Finding], files: int) -> dict[str, int]:
    """Count files and findings by severity."""
    return {
        "files": files,
        "errors": sum(f.severity is Severity.ERROR for f in findings),
        "warnings": sum(f.severity is Severity.WARNING for f in findings),
        "notes": sum(f.severity is Severity.NOTE for f in findings),
    }


def render_text(findings: Sequence[Finding]) -> str:
    """One line per finding: ``file:line:col: severity[code]: message``."""
    return "".join(
        f"{f.path}:{f.line}:{f.column}: {f.severity.value}[{f.code}]: {f.message}\n"
        for f in findings
    )


def render_summary(summary: dict[str, int]) -> str:
    """A closing line a person reads at a glance."""
    files = summary["files"]
    parts = [f"{files} file{'s' if files != 1 else ''} checked"]
    parts.append(f"{summary['errors']} error{'s' if summary['errors'] != 1 else ''}")
    parts.append(f"{summary['warnings']} warning{'s' if summary['warnings'] != 1 else ''}")
    return ", ".join(parts) + "\n"


def render_json(findings: Sequence[Finding], files: int) -> str:
    """Every finding and a summary, as one JSON document."""
    document = {
        "summary": summarize(findings, files),
        "findings": [f.as_dict() for f in findings],
    }
    return json.dumps(document, indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def escape_data(text: str) -> str:
    """Escape the message of a workflow command (``%``, CR and LF, as the runner decodes them)."""
    # https://docs.github.com/actions/using-workflows/workflow-commands-for-github-actions
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """Escape a workflow command property value: as :func:`escape_data`, plus ``:`` and ``,``."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def render_github(findings: Sequence[Finding]) -> str:
    """Workflow commands (``::error file=…,line=…,col=…::``) that GitHub shows as annotations."""
    lines = []
    for f in findings:
        props = ",".join(
            (
                f"file={escape_property(f.path)}",
                f"line={f.line}",
                f"col={f.column}",
                f"title={escape_property(f.code)}",
            )
        )
        lines.append(f"::{GITHUB_LEVELS[f.severity]} {props}::{escape_data(f.message)}\n")
    return "".join(lines)
