"""Check run bodies as GitHub takes them: text cut to its size limits, annotations 50 a request.

:func:`cap` cuts any text GitHub limits (comments and issues too), and says it did.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.core.github_model import ANNOTATIONS_PER_REQUEST, Annotation, CheckRun, CheckRunOutput

# GitHub's own size limits for check run text.
MAX_OUTPUT_TEXT = 65_535
MAX_ANNOTATION_MESSAGE = 64 * 1024
MAX_ANNOTATION_TITLE = 255
_TRUNCATED = "\n\n… (truncated)"


def _annotation(annotation: Annotation) -> dict[str, Any]:
    body: dict[str, Any] = {
        "path": annotation.path,
        "start_line": annotation.start_line,
        "end_line": annotation.end_line,
        "annotation_level": str(annotation.level),
        "message": cap(annotation.message, MAX_ANNOTATION_MESSAGE),
    }
    if annotation.title:
        body["title"] = annotation.title[:MAX_ANNOTATION_TITLE]
    # GitHub takes columns only on a single line.
    if annotation.start_line == annotation.end_line and annotation.start_column is not None:
        body["start_column"] = annotation.start_column
        if annotation.end_column is not None:
            body["end_column"] = annotation.end_column
    return body


def cap(text: str, limit: int) -> str:
    """``text`` if within ``limit`` characters, else cut to fit with a note that it was cut."""
    return text if len(text) <= limit else text[: limit - len(_TRUNCATED)] + _TRUNCATED


def output_fields(output: CheckRunOutput, batch: Sequence[Annotation]) -> dict[str, Any]:
    """The ``output`` of a create or update request, carrying the annotations ``batch``."""
    body: dict[str, Any] = {
        "title": output.title,
        "summary": cap(output.summary, MAX_OUTPUT_TEXT),
        "annotations": [_annotation(a) for a in batch],
    }
    if output.text is not None:
        body["text"] = cap(output.text, MAX_OUTPUT_TEXT)
    return body


def annotation_batches(output: CheckRunOutput | None) -> list[tuple[Annotation, ...]]:
    """The annotations of ``output`` in batches of as many as GitHub takes in one request."""
    if output is None:
        return []
    notes = output.annotations
    return [
        notes[i : i + ANNOTATIONS_PER_REQUEST]
        for i in range(0, len(notes), ANNOTATIONS_PER_REQUEST)
    ]


def run_fields(run: CheckRun, first: Sequence[Annotation]) -> dict[str, Any]:
    """The fields of a create or update request for ``run``, with the annotations ``first``."""
    fields: dict[str, Any] = {"status": str(run.status)}
    if run.conclusion is not None:
        fields["conclusion"] = str(run.conclusion)
    if run.output is not None:
        fields["output"] = output_fields(run.output, first)
    if run.external_id is not None:
        fields["external_id"] = run.external_id
    if run.details_url is not None:
        fields["details_url"] = run.details_url
    return fields
