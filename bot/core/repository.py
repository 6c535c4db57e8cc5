"""Checks that need every file of a repository at once."""

from __future__ import annotations

from collections.abc import Sequence

from bot.core.documents import DocumentKind, ValidatedDocument
from bot.core.findings import Finding
from bot.core.plane_settings import intune_dependencies
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


def check_intune_dependencies(documents: Sequence[ValidatedDocument]) -> tuple[Finding, ...]:
    """An Intune dependency names an intent of the repository (run with its ``eucora.yaml``).

    Without the repository's configuration among ``documents`` the files given may be a part of
    it, so nothing is said here and the Intune connector refuses a missing dependency at plan time.
    """
    if not any(doc.kind is DocumentKind.CONFIG for doc in documents):
        return ()
    by_name: dict[str, ValidatedDocument] = {}
    for doc in sorted(documents, key=lambda d: d.path):
        metadata = doc.data.get("metadata") if isinstance(doc.data, dict) else None
        name = metadata.get("name") if isinstance(metadata, dict) else None
        if doc.kind is DocumentKind.INTENT and isinstance(name, str):
            by_name.setdefault(name, doc)
    intents = {name: doc.data for name, doc in by_name.items() if isinstance(doc.data, dict)}
    return tuple(by_name[name].locate(raw) for name, raw in intune_dependencies(intents))
