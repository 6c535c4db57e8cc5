"""GitHub Actions mode, the pure parts: the event payload, capped annotations, step outputs.

The runner hands a step the event that started the workflow as a JSON file, reads workflow
commands from the step's output, and reads outputs from a file in its own "environment file"
format. These functions turn a payload into the revisions to check and a check's evidence pack
into what the runner shows; the flow (``bot.flows.action``) does the reading and writing.
References: https://docs.github.com/actions/reference/events-that-trigger-workflows,
https://docs.github.com/actions/reference/workflow-commands-for-github-actions.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot.core.findings import SEVERITY_ORDER, Finding, Severity
from bot.core.render.findings import escape_data, render_github

SUPPORTED_EVENTS = ("pull_request", "merge_group")

ANNOTATIONS_PER_KIND = 10
"""GitHub shows at most 10 error, 10 warning and 10 notice annotations of one step."""

_SHA_LENGTHS = (40, 64)  # SHA-1 and SHA-256 object names
_HEX = frozenset("0123456789abcdef")


class EventError(ValueError):
    """The event payload cannot be checked: wrong event, missing or malformed fields."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ActionEvent:
    """What the check needs from the event that started the workflow."""

    name: str
    repository: str
    base_sha: str
    head_sha: str
    number: int | None = None
    """The pull request's number; ``None`` for a merge group (there is no one PR to comment on)."""
    labels: tuple[str, ...] = ()
    from_fork: bool = False
    """The head lives in another repository: its token is read-only, so there is no comment."""


def _get(payload: Mapping[str, Any], dotted: str) -> Any:
    value: Any = payload
    for key in dotted.split("."):
        if not isinstance(value, Mapping) or key not in value:
            raise EventError(f"the {dotted} field is missing from the event payload")
        value = value[key]
    return value


def _sha(payload: Mapping[str, Any], dotted: str) -> str:
    value = _get(payload, dotted)
    if not (isinstance(value, str) and len(value) in _SHA_LENGTHS and set(value) <= _HEX):
        raise EventError(f"{dotted} in the event payload is not a commit SHA: {value!r:.80}")
    return value


def _text(payload: Mapping[str, Any], dotted: str) -> str:
    value = _get(payload, dotted)
    if not isinstance(value, str) or not value:
        raise EventError(f"{dotted} in the event payload is not a name: {value!r:.80}")
    return value


def parse_event(name: str, payload: Any) -> ActionEvent:
    """The revisions and context to check, from a ``pull_request`` or ``merge_group`` payload.

    Raises :class:`EventError` with a one-line reason for any other event or a payload that
    lacks what is needed.
    """
    if name not in SUPPORTED_EVENTS:
        raise EventError(
            f"EUCORA checks pull_request and merge_group events, not {name or 'no event'!r}:"
            " run it from a workflow triggered by them"
        )
    if not isinstance(payload, Mapping):
        raise EventError("the event payload is not a JSON object")
    repository = _text(payload, "repository.full_name")
    if name == "merge_group":
        return ActionEvent(
            name=name,
            repository=repository,
            base_sha=_sha(payload, "merge_group.base_sha"),
            head_sha=_sha(payload, "merge_group.head_sha"),
        )
    number = _get(payload, "pull_request.number")
    if not isinstance(number, int) or isinstance(number, bool) or number < 1:
        raise EventError(f"pull_request.number is not a pull request number: {number!r:.80}")
    labels = _get(payload, "pull_request").get("labels") or []
    names = tuple(
        sorted({str(label["name"]) for label in labels if isinstance(label, Mapping)} - {""})
    )
    head_repo = _get(payload, "pull_request.head").get("repo")
    head_name = head_repo.get("full_name") if isinstance(head_repo, Mapping) else None
    return ActionEvent(
        name=name,
        repository=repository,
        base_sha=_sha(payload, "pull_request.base.sha"),
        head_sha=_sha(payload, "pull_request.head.sha"),
        number=number,
        labels=names,
        # a deleted fork has no head repo; its token is as read-only as a live fork's
        from_fork=head_name != repository,
    )


def _finding(item: Mapping[str, Any]) -> Finding:
    return Finding(
        path=str(item["path"]),
        line=int(item["line"]),
        column=int(item["column"]),
        code=str(item["code"]),
        severity=Severity(item["severity"]),
        message=str(item["message"]),
    )


def capped_annotations(
    findings: Sequence[Mapping[str, Any]], *, per_kind: int = ANNOTATIONS_PER_KIND
) -> str:
    """Workflow commands for a pack's findings, no more of a kind than GitHub shows.

    The most severe come first (the pack's order within a severity). When findings were left
    out, a last notice says how many and where to read them all; it takes one notice's place.
    """
    ordered = sorted(
        (_finding(item) for item in findings), key=lambda f: SEVERITY_ORDER[f.severity]
    )
    by_kind = {s: [f for f in ordered if f.severity is s] for s in Severity}
    shown = [*by_kind[Severity.ERROR][:per_kind], *by_kind[Severity.WARNING][:per_kind]]
    left_out = len(by_kind[Severity.ERROR]) + len(by_kind[Severity.WARNING]) - len(shown)
    notes = by_kind[Severity.NOTE]
    # the closing notice is a notice too: keep it a place when anything is left out
    room = per_kind - 1 if left_out or len(notes) > per_kind else per_kind
    shown.extend(notes[:room])
    left_out += max(0, len(notes) - room)
    commands = render_github(shown)
    if left_out:
        noun = "finding" if left_out == 1 else "findings"
        commands += (
            f"::notice title=EUCORA::{escape_data(f'{left_out:,} more {noun} not annotated')}"
            " (GitHub shows 10 of each kind per step): all are in the job summary and the"
            " evidence pack\n"
        )
    return commands


def _delimiter(name: str, value: str) -> str:
    """A heredoc delimiter that cannot occur in the value (derived from it, so deterministic)."""
    seed = f"{name}\0{value}".encode()
    while True:
        delimiter = "EUCORA_" + hashlib.sha256(seed).hexdigest()
        if delimiter not in value:
            return delimiter
        seed += b"\0"  # pragma: no cover - a value holding its own hash


def format_outputs(outputs: Mapping[str, str]) -> str:
    """Step outputs in the ``$GITHUB_OUTPUT`` file format, safe for multi-line values.

    Each output is written as ``name<<DELIMITER``, the value, ``DELIMITER``, as the runner
    reads multi-line values; names are checked, never escaped.
    """
    lines: list[str] = []
    for name, value in outputs.items():
        if not name or not all(c.isalnum() or c in "-_" for c in name):
            raise ValueError(f"{name!r} is not a step output name")
        delimiter = _delimiter(name, value)
        lines.extend((f"{name}<<{delimiter}", value, delimiter))
    return "".join(f"{line}\n" for line in lines)


def check_outputs(pack: Mapping[str, Any], *, digest: str, evidence_file: str) -> dict[str, str]:
    """The step outputs of a check: decision, risk tier and score, pack digest and file."""
    return {
        "decision": str(pack["decision"]["conclusion"]),
        "risk-tier": str(pack["risk"]["tier"]),
        "risk-score": str(pack["risk"]["score"]),
        "digest": digest,
        "evidence-file": evidence_file,
    }


def evidence_file_name(digest: str) -> str:
    """The file the canonical pack is written to: named by its digest, safe on every runner."""
    return "eucora-evidence-" + digest.replace(":", "-") + ".json"
