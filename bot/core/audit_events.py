"""An audit event: its fields, its hash, its Merkle leaf, its JSON form and its type.

Each event holds the hash of the one before it (``prev_hash``; the first holds ``GENESIS_HASH``),
and its own ``hash`` is SHA-256 over the RFC 8785 canonical JSON of every other field. So editing,
deleting, inserting or reordering a stored event breaks the chain exactly there
(``bot.core.audit_chain`` checks it).

The events are also, in order, the leaves of an RFC 6962 Merkle tree (``leaf_data``: the
canonical JSON of the event *with* its hash, which is also its exported JSON line); the tree,
its proofs and signed checkpoints are ``bot.core.tlog``'s.

Nothing here reads a clock, a file or a database: events and times are passed in.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from bot.core.evidence import canonical_json
from bot.core.tlog import leaf_hash as tlog_leaf_hash

GENESIS_HASH = "0" * 64
"""The ``prev_hash`` of the first event: no event comes before it."""

EVENT_FIELDS = (
    "seq",
    "time",
    "type",
    "actor",
    "correlation_id",
    "repository",
    "pr",
    "head_sha",
    "payload",
    "prev_hash",
    "hash",
)
"""The keys of an event's JSON form (its leaf data and its exported line)."""

_HEX_HASH = re.compile(r"[0-9a-f]{64}")
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
_TIME_TEXT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")


class AuditEventType(StrEnum):
    """Every type of event the product appends, by the text stored in the ``type`` field.

    The values are the stored strings and never change (they are hashed into every event).
    ``AuditEvent.type`` stays ``str``: a log may hold types written by other versions.
    """

    WEBHOOK_RECEIVED = "webhook.received"
    WEBHOOK_PROCESSED = "webhook.processed"
    PULL_REQUEST_CHECKED = "pull_request.checked"
    PULL_REQUEST_EVALUATED = "pull_request.evaluated"
    PULL_REQUEST_EVALUATION_FAILED = "pull_request.evaluation_failed"
    COMMENT_COMMAND_ACCEPTED = "comment_command.accepted"
    COMMENT_COMMAND_REFUSED = "comment_command.refused"
    EVIDENCE_STORED = "evidence.stored"
    APPROVAL_REVIEW_REQUESTED = "approval.review_requested"
    APPROVAL_DECIDED = "approval.decided"
    APPROVAL_COUNTED = "approval.counted"
    APPROVAL_REFUSED = "approval.refused"
    """A review arrived and did not count (``bot.flows.cab_approvals``)."""
    APPROVAL_REVIEW_RECORDED = "approval.review_recorded"
    APPROVAL_DEPLOYMENT_REVIEWED = "approval.deployment_reviewed"
    MERGE_ACCEPTED = "merge.accepted"
    MERGE_REFUSED = "merge.refused"
    """A merge was refused (``bot.flows.merge.REFUSED``): not the refused review above."""
    MERGE_NOTHING_TO_PUBLISH = "merge.nothing_to_publish"
    PUBLICATION_RECORDED = "publication.recorded"
    PUBLICATION_RETRY_REQUESTED = "publication.retry_requested"
    PUBLICATION_STARTED = "publication.started"
    PUBLICATION_SUCCEEDED = "publication.succeeded"
    PUBLICATION_RETRY_SCHEDULED = "publication.retry_scheduled"
    PUBLICATION_FAILED = "publication.failed"
    PUBLICATION_REPORT_DELAYED = "publication.report_delayed"
    CHANGE_PUBLISHED = "change.published"
    FOLLOWUP_OPENED = "followup.opened"
    WEBHOOK_REDELIVERY_REQUESTED = "webhook.redelivery_requested"
    """GitHub was asked to redeliver a delivery that failed or never reached the inbox."""
    WEBHOOK_REDELIVERY_FAILED = "webhook.redelivery_failed"
    """GitHub refused (or did not answer) a request to redeliver."""
    ROLLOUT_STARTED = "rollout.started"
    """A merge's first ring was published: its rollout starts (``bot.flows.rollouts``)."""
    ROLLOUT_DECIDED = "rollout.decided"
    """A ring's gate was decided and the rollout's state changed (with the RolloutPack)."""
    ROLLOUT_PROMOTED = "rollout.promoted"
    ROLLOUT_HALTED = "rollout.halted"
    ROLLOUT_HELD = "rollout.held"
    ROLLOUT_ALERT = "rollout.alert"
    ROLLOUT_COMPLETED = "rollout.completed"
    DRIFT_DETECTED = "drift.detected"
    """A plane no longer holds what git says for an intent, or the difference changed
    (``bot.flows.drift``; the items and the drift issue)."""
    DRIFT_RESOLVED = "drift.resolved"
    """The plane holds what git says again: the drift issue was closed."""
    DRIFT_REMEDIATED = "drift.remediated"
    """Git's state was pushed back (remediate mode or ``/eucora remediate``)."""
    DRIFT_ADOPTED = "drift.adopted"
    """``/eucora adopt`` opened a pull request writing the plane's state into the intent."""
    DRIFT_READ_FAILED = "drift.read_failed"
    """Reading an intent back from its plane failed (not drift)."""
    DRIFT_COMMAND_REFUSED = "drift.command_refused"
    """A drift command from someone without write access."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditEvent:
    """One entry of the append-only audit trail.

    ``seq`` counts from 1 with no gaps; ``time`` is RFC 3339 UTC text with microseconds (so text
    order is time order); ``correlation_id`` is the webhook delivery id that caused the event;
    ``payload`` is JSON-like data hashed in its canonical form; ``prev_hash`` and ``hash`` are
    lowercase hex SHA-256 (see ``event_hash``).
    """

    seq: int
    time: str
    type: str
    actor: str
    correlation_id: str
    repository: str
    pr: int | None
    head_sha: str | None
    payload: Any
    prev_hash: str
    hash: str


def _body(  # noqa: PLR0913 - one parameter per hashed field
    *,
    seq: int,
    time: str,
    type: str,  # noqa: A002 - the field is called type
    actor: str,
    correlation_id: str,
    repository: str,
    pr: int | None,
    head_sha: str | None,
    payload: Any,
    prev_hash: str,
) -> dict[str, Any]:
    return {
        "seq": seq,
        "time": time,
        "type": str(type),  # an AuditEventType is stored as its text
        "actor": actor,
        "correlation_id": correlation_id,
        "repository": repository,
        "pr": pr,
        "head_sha": head_sha,
        "payload": payload,
        "prev_hash": prev_hash,
    }


def event_hash(  # noqa: PLR0913 - one parameter per hashed field
    *,
    seq: int,
    time: str,
    type: str,  # noqa: A002 - the field is called type
    actor: str,
    correlation_id: str,
    repository: str,
    pr: int | None,
    head_sha: str | None,
    payload: Any,
    prev_hash: str,
) -> str:
    """SHA-256 (hex) of the canonical JSON (RFC 8785) of every field but ``hash`` itself.

    ``prev_hash`` is included, which is what chains each event to the one before it.
    """
    body = _body(
        seq=seq,
        time=time,
        type=type,
        actor=actor,
        correlation_id=correlation_id,
        repository=repository,
        pr=pr,
        head_sha=head_sha,
        payload=payload,
        prev_hash=prev_hash,
    )
    return hashlib.sha256(canonical_json(body)).hexdigest()


def seal_event(  # noqa: PLR0913 - one parameter per hashed field
    *,
    seq: int,
    time: str,
    type: str,  # noqa: A002 - the field is called type
    actor: str,
    correlation_id: str,
    repository: str,
    pr: int | None,
    head_sha: str | None,
    payload: Any,
    prev_hash: str,
) -> AuditEvent:
    """The event with these fields and its hash, after checking every field's form.

    Raises ``ValueError`` when a field is malformed or the payload is not canonical-JSON-able
    (floats that are not finite, integers beyond I-JSON, lone surrogates...).
    """
    fields = _body(
        seq=seq,
        time=time,
        type=type,
        actor=actor,
        correlation_id=correlation_id,
        repository=repository,
        pr=pr,
        head_sha=head_sha,
        payload=payload,
        prev_hash=prev_hash,
    )
    problem = _field_problem({**fields, "hash": GENESIS_HASH})
    if problem:
        raise ValueError(problem)
    digest = hashlib.sha256(canonical_json(fields)).hexdigest()
    return AuditEvent(**fields, hash=digest)


def event_json(event: AuditEvent) -> dict[str, Any]:
    """The event as a JSON object with every field, ``hash`` included."""
    return {
        "seq": event.seq,
        "time": event.time,
        "type": event.type,
        "actor": event.actor,
        "correlation_id": event.correlation_id,
        "repository": event.repository,
        "pr": event.pr,
        "head_sha": event.head_sha,
        "payload": event.payload,
        "prev_hash": event.prev_hash,
        "hash": event.hash,
    }


def leaf_data(event: AuditEvent) -> bytes:
    """The event's Merkle leaf: the canonical JSON of all its fields, its hash included.

    The same bytes are the event's line in an export, so an auditor hashes lines as they are.
    """
    return canonical_json(event_json(event))


def event_leaf_hash(event: AuditEvent) -> bytes:
    """The RFC 6962 leaf hash of the event: SHA-256(0x00 || leaf_data(event))."""
    return tlog_leaf_hash(leaf_data(event))


def recompute_hash(event: AuditEvent) -> str:
    """The hash the event's fields call for (compare it with ``event.hash``)."""
    return event_hash(
        seq=event.seq,
        time=event.time,
        type=event.type,
        actor=event.actor,
        correlation_id=event.correlation_id,
        repository=event.repository,
        pr=event.pr,
        head_sha=event.head_sha,
        payload=event.payload,
        prev_hash=event.prev_hash,
    )


def event_from_json(value: Any) -> AuditEvent:
    """The event in a JSON object (an exported line), refusing anything out of form.

    Raises ``ValueError`` naming what is wrong; the hash is not checked here.
    """
    if not isinstance(value, Mapping):
        raise ValueError("an event is a JSON object")  # noqa: TRY004 - one error type for callers
    keys = set(value)
    if keys != set(EVENT_FIELDS):
        missing = sorted(set(EVENT_FIELDS) - keys)
        extra = sorted(keys - set(EVENT_FIELDS))
        raise ValueError(f"event fields: missing {missing}, unexpected {extra}")
    problem = _field_problem(value)
    if problem:
        raise ValueError(problem)
    return AuditEvent(**{name: value[name] for name in EVENT_FIELDS})


def _field_problem(value: Mapping[str, Any]) -> str | None:  # noqa: C901 - one check per field
    """What is wrong with an event's fields, or ``None``."""
    seq = value["seq"]
    if type(seq) is not int or seq < 1:
        return "seq must be a positive integer"
    if not isinstance(value["time"], str) or _TIME_TEXT.fullmatch(value["time"]) is None:
        return "time must be RFC 3339 UTC text like 2027-01-04T09:00:00.000000Z"
    for name in ("type", "actor", "correlation_id", "repository"):
        if not isinstance(value[name], str):
            return f"{name} must be text"
    if not value["type"]:
        return "type must not be empty"
    pr = value["pr"]
    if pr is not None and (type(pr) is not int or pr < 0):
        return "pr must be a non-negative integer or null"
    if value["head_sha"] is not None and not isinstance(value["head_sha"], str):
        return "head_sha must be text or null"
    for name in ("prev_hash", "hash"):
        if not isinstance(value[name], str) or _HEX_HASH.fullmatch(value[name]) is None:
            return f"{name} must be 64 lowercase hex digits"
    try:
        canonical_json(value["payload"])
    except (TypeError, ValueError) as error:
        return f"payload is not canonical JSON data: {error}"
    return None


def format_event_time(moment: datetime) -> str:
    """RFC 3339 UTC text with microseconds (``2027-01-04T09:00:00.000000Z``), sorting as time does.

    Raises ``ValueError`` for a naive datetime (the zone would be a guess).
    """
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("an event time needs a time zone")
    return moment.astimezone(UTC).strftime(_TIME_FORMAT)
