"""Checks that need every file of a repository at once."""

from __future__ import annotations

from collections.abc import Sequence

from bot.core.documents import DocumentKind, ValidatedDocument
from bot.core.findings import Finding
from bot.core.schema import RawFinding


def check_unique_names(documents: Sequence[ValidatedDocument]) -> tuple[Finding, ...]:
    """Intent names are unique in a repository: publications and evidence are keyed by them."""
    first: dict[str, str] = {}
    findings: list[Finding] = []
    for doc in sorted(documents, key=lambda d: d.path):
        if doc.kind is not DocumentKind.INTENT or not isinstance(doc.data, dict):
            continue
        metadata = doc.data.get("metadata")
        name = metadata.get("name") if isinstance(metadata, dict) else None
        if not isinstance(name, str):
            continue
        if name in first:
            findings.append(
                doc.locate(
                    RawFinding(
                        "/metadata/name",
                        "repo.duplicate-name",
                        f"intent name {name!r} is already used by {first[name]}",
                    )
                )
            )
        else:
            first[name] = doc.path
    return tuple(findings)
