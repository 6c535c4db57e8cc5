"""Checks that need every file of a repository at once."""

from __future__ import annotations

from collections.abc import Sequence
from operator import attrgetter
from typing import Any

from bot.core.documents import DocumentKind, ValidatedDocument
from bot.core.findings import Finding
from bot.core.plane_settings import intune_dependencies
from bot.core.schema import RawFinding

_PATH = attrgetter("path")
_INTENT, _CONFIG = DocumentKind.INTENT, DocumentKind.CONFIG  # read once: 0.15 µs each from the enum


def _intents_by_name(
    documents: Sequence[ValidatedDocument],
) -> tuple[dict[str, ValidatedDocument], list[tuple[ValidatedDocument, str]]]:
    """The first intent (in path order) of each name, and every later intent of a name taken."""
    first: dict[str, ValidatedDocument] = {}
    again: list[tuple[ValidatedDocument, str]] = []
    for doc in sorted(documents, key=_PATH):
        if doc.kind is not _INTENT or not isinstance(doc.data, dict):
            continue
        metadata = doc.data.get("metadata")
        name = metadata.get("name") if isinstance(metadata, dict) else None
        if not isinstance(name, str):
            continue
        if name in first:
            again.append((doc, name))
        else:
            first[name] = doc
    return first, again


def check_repository(documents: Sequence[ValidatedDocument]) -> tuple[Finding, ...]:
    """:func:`check_unique_names`, then :func:`check_intune_dependencies`, over one index."""
    first, again = _intents_by_name(documents)
    return _duplicate_names(first, again) + _missing_dependencies(documents, first)


def check_unique_names(documents: Sequence[ValidatedDocument]) -> tuple[Finding, ...]:
    """Intent names are unique in a repository: publications and evidence are keyed by them."""
    return _duplicate_names(*_intents_by_name(documents))


def check_intune_dependencies(documents: Sequence[ValidatedDocument]) -> tuple[Finding, ...]:
    """An Intune dependency names an intent of the repository (run with its ``eucora.yaml``).

    Without the repository's configuration among ``documents`` the files given may be a part of
    it, so nothing is said here and the Intune connector refuses a missing dependency at plan time.
    """
    return _missing_dependencies(documents, _intents_by_name(documents)[0])


def _duplicate_names(
    first: dict[str, ValidatedDocument], again: list[tuple[ValidatedDocument, str]]
) -> tuple[Finding, ...]:
    return tuple(
        doc.locate(
            RawFinding(
                "/metadata/name",
                "repo.duplicate-name",
                f"intent name {name!r} is already used by {first[name].path}",
            )
        )
        for doc, name in again
    )


def _missing_dependencies(
    documents: Sequence[ValidatedDocument], first: dict[str, ValidatedDocument]
) -> tuple[Finding, ...]:
    if not any(doc.kind is _CONFIG for doc in documents):
        return ()
    intents: dict[str, Any] = {name: doc.data for name, doc in first.items()}
    return tuple(first[name].locate(raw) for name, raw in intune_dependencies(intents))
