"""The audit trail's pure part: hash-chained events, their Merkle leaves, and checking both.

Each event holds the hash of the one before it (``prev_hash``; the first holds ``GENESIS_HASH``),
and its own ``hash`` is SHA-256 over the RFC 8785 canonical JSON of every other field. So editing,
deleting, inserting or reordering a stored event breaks the chain exactly there, and
``verify_chain`` names the first event that is wrong and how.

The events are also, in order, the leaves of an RFC 6962 Merkle tree (``leaf_data``: the
canonical JSON of the event *with* its hash, which is also its exported JSON line). Signed
checkpoints of that tree (c2sp.org/tlog-checkpoint, ``bot.core.tlog``) let an auditor check
offline, with only an export and the log's public key, that an event is in the log (inclusion
proof) and that a later checkpoint extends an earlier one (consistency proof). A rewrite of the
whole chain, which the hash links alone cannot reveal, changes the root a checkpoint signed.

Nothing here reads a clock, a file or a database: events, times and keys are passed in.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from bot.core.evidence import canonical_json
from bot.core.tlog import (
    EMPTY_ROOT,
    Checkpoint,
    CompactRange,
    TlogError,
    node_hash,
    parse_checkpoint,
    verify_checkpoint,
    verify_consistency,
    verify_inclusion,
)
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
_DURATION = re.compile(r"(?:\d+[smhdw])+")
_DURATION_PART = re.compile(r"(\d+)([smhdw])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_LEAF_BATCH = 4096


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
        "type": type,
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


# --- time -----------------------------------------------------------------------------------------


def format_event_time(moment: datetime) -> str:
    """RFC 3339 UTC text with microseconds (``2027-01-04T09:00:00.000000Z``), sorting as time does.

    Raises ``ValueError`` for a naive datetime (the zone would be a guess).
    """
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("an event time needs a time zone")
    return moment.astimezone(UTC).strftime(_TIME_FORMAT)


def parse_since(text: str, *, now: datetime) -> datetime:
    """The moment ``--since`` names: a duration before ``now``, or an RFC 3339 time with a zone.

    Durations are ``90m``, ``1h30m``, ``7d``, ``2w``; times ``2027-01-04T09:00:00Z``.

    Raises ``ValueError`` with a message for people.
    """
    value = text.strip()
    if _DURATION.fullmatch(value):
        seconds = sum(
            int(count) * _UNIT_SECONDS[unit] for count, unit in _DURATION_PART.findall(value)
        )
        return now - timedelta(seconds=seconds)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(
            f"{text!r} is neither a duration (30m, 24h, 7d, 2w) nor an RFC 3339 time"
        ) from None
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} needs a time zone, e.g. 2027-01-04T09:00:00Z")
    return moment


# --- verifying the chain --------------------------------------------------------------------------


class ChainProblem(StrEnum):
    """How an event breaks the chain."""

    EDITED = "edited"
    """Its fields do not hash to its stored hash: it was changed after it was written."""
    MISSING = "missing"
    """An event with this sequence number should be here and is not: it was deleted."""
    INSERTED = "inserted"
    """The next event links past it: it was put into the chain afterwards."""
    REORDERED = "reordered"
    """It stands where another event should: events were swapped or moved."""
    BROKEN_LINK = "broken-link"
    """Its ``prev_hash`` is not the previous event's hash (the one before it was replaced)."""
    OUT_OF_ORDER = "out-of-order"
    """Its sequence number repeats or goes backwards."""
    MALFORMED = "malformed"
    """It is not an event at all (an export line that does not parse)."""
    NOT_IN_LOG = "not-in-log"
    """Its inclusion proof fails against the signed checkpoint: the log never held it so."""
    NOT_COVERED = "not-covered"
    """No signed checkpoint covers it, so an export cannot prove it."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ChainFault:
    """The first event that is wrong: its sequence number, what is wrong, and a sentence."""

    seq: int | None
    problem: ChainProblem
    message: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckpointFault:
    """A stored checkpoint that does not hold: bad signature, wrong root, inconsistent."""

    size: int
    message: str


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredCheckpoint:
    """A checkpoint as the log keeps it: tree size, root and the signed note.

    ``consistency`` is the RFC 9162 proof that this tree extends the previous stored checkpoint's
    (empty for the first); an export carries it where the leaves themselves are not exported.
    ``frontier`` is the compact range of the tree (one subtree hash per set bit of ``size``,
    empty when not kept): it folds to ``root``, so the next checkpoint and the proofs of the
    events after it need only the events since (``bot.core.tlog.TailTree``).
    """

    size: int
    root: bytes
    note: str
    consistency: tuple[bytes, ...] = ()
    frontier: tuple[bytes, ...] = ()

    def compact_range(self) -> CompactRange | None:
        """The kept frontier when it is well formed and folds to the root, else ``None``."""
        if not self.frontier:
            return None
        try:
            compact = CompactRange(self.size, self.frontier)
        except ValueError:
            return None
        return compact if compact.root() == self.root else None


@dataclass(frozen=True, slots=True, kw_only=True)
class ChainReport:
    """What a walk over the log found.

    ``size`` events held (all of them, or those before the faulty one); ``root`` is the Merkle
    root of those events; ``checkpoints`` are the sizes of the checkpoints that held;
    ``signatures_checked`` says whether a verifier key was given for the checkpoint notes.
    """

    size: int
    head_hash: str
    root: bytes
    fault: ChainFault | None = None
    checkpoint_faults: tuple[CheckpointFault, ...] = ()
    checkpoints: tuple[int, ...] = ()
    signatures_checked: bool = False
    frontier: tuple[bytes, ...] = ()

    @property
    def ok(self) -> bool:
        """Whether the chain and every checkpoint held."""
        return self.fault is None and not self.checkpoint_faults


def _note_checkpoint(note: str, verifier_keys: Sequence[str] | None) -> Checkpoint:
    """The checkpoint in a signed note: signature checked when keys are given."""
    if verifier_keys is not None:
        return verify_checkpoint(note, verifier_keys)
    split = note.rfind("\n\n")
    if split < 0:
        raise TlogError("a signed note has a blank line before its signatures")
    return parse_checkpoint(note[: split + 1])


def _open_checkpoints(
    checkpoints: Sequence[StoredCheckpoint], verifier_keys: Sequence[str] | None
) -> tuple[list[StoredCheckpoint], list[CheckpointFault]]:
    """The stored checkpoints whose notes verify and match their rows, in size order."""
    good: list[StoredCheckpoint] = []
    faults: list[CheckpointFault] = []
    for stored in sorted(checkpoints, key=lambda c: c.size):
        try:
            signed = _note_checkpoint(stored.note, verifier_keys)
        except TlogError as error:
            faults.append(CheckpointFault(size=stored.size, message=f"signed note: {error}"))
            continue
        if (signed.size, signed.root) != (stored.size, stored.root):
            faults.append(
                CheckpointFault(
                    size=stored.size,
                    message=f"the stored size and root differ from the signed note's"
                    f" (size {signed.size})",
                )
            )
            continue
        if stored.size == 0:
            faults.append(CheckpointFault(size=0, message="a log signs no empty tree"))
            continue
        if good and good[-1].size == stored.size:
            faults.append(CheckpointFault(size=stored.size, message="two checkpoints share a size"))
            continue
        good.append(stored)
    return good, faults


class _Frontier:
    """Leaf hashes folded into a compact range in batches, with the root at given sizes."""

    def __init__(self) -> None:
        self._range = CompactRange()
        self._pending: list[bytes] = []

    @property
    def size(self) -> int:
        return self._range.size + len(self._pending)

    def add(self, leaf: bytes) -> None:
        self._pending.append(leaf)
        if len(self._pending) >= _LEAF_BATCH:
            self._flush()

    def root(self) -> bytes:
        self._flush()
        return self._range.root()

    def compact(self) -> CompactRange:
        self._flush()
        return self._range

    def _flush(self) -> None:
        if self._pending:
            self._range = self._range.extend(self._pending)
            self._pending = []


def verify_chain(
    events: Iterable[AuditEvent],
    checkpoints: Sequence[StoredCheckpoint] = (),
    verifier_keys: Sequence[str] | None = None,
    *,
    signed_only: bool = False,
    leaves: list[bytes] | None = None,
) -> ChainReport:
    """Walk the whole log in order and report the first bad event and every bad checkpoint.

    Per event, in this order: its ``seq`` is the next one (else *missing* or *out of order*); its
    ``prev_hash`` is the previous event's hash (else *inserted* when it links to the one before,
    *reordered* when the next event holds the hash it links to, *broken link* otherwise); its
    fields hash to its ``hash`` (else *edited*). Each stored checkpoint's note must verify with
    ``verifier_keys`` (when given), match its row, and sign the root of the first ``size``
    events, which makes consecutive checkpoints consistent. A checkpoint larger than the log
    names the first missing event. The walk stops at the first bad event.

    ``signed_only`` (offline checks of an export) also refuses events no valid checkpoint
    covers, since anyone can append well-formed events to a file. ``leaves`` collects the leaf
    hashes of the events that held, for the caller's proofs.
    """
    opened, faults = _open_checkpoints(checkpoints, verifier_keys)
    pending = iter(opened)
    due = next(pending, None)
    frontier = _Frontier()
    verified: list[int] = []
    previous_hash = GENESIS_HASH
    before_previous: str | None = None
    previous_seq = 0
    fault: ChainFault | None = None
    signed_size = opened[-1].size if opened else 0
    stream = _Peekable(events)
    for event in stream:
        fault = _event_fault(event, previous_seq, previous_hash, before_previous, stream)
        if fault is None and signed_only and event.seq > signed_size:
            fault = ChainFault(
                seq=event.seq,
                problem=ChainProblem.NOT_COVERED,
                message=f"event {event.seq} is not covered by a valid signed checkpoint"
                f" (they cover {signed_size} events): nothing proves it is the log's",
            )
        if fault is not None:
            break
        leaf = event_leaf_hash(event)
        if leaves is not None:
            leaves.append(leaf)
        frontier.add(leaf)
        before_previous, previous_hash, previous_seq = previous_hash, event.hash, event.seq
        while due is not None and due.size == frontier.size:
            if frontier.root() != due.root:
                faults.append(
                    CheckpointFault(
                        size=due.size,
                        message=f"signs a different root than the first {due.size} events have:"
                        " events it covers were rewritten",
                    )
                )
            elif due.frontier and due.frontier != frontier.compact().hashes:
                faults.append(
                    CheckpointFault(
                        size=due.size,
                        message="its stored frontier is not the compact range of the events",
                    )
                )
            else:
                verified.append(due.size)
            due = next(pending, None)
    if fault is None and due is not None:
        fault = ChainFault(
            seq=previous_seq + 1,
            problem=ChainProblem.MISSING,
            message=f"events {previous_seq + 1} to {due.size} are missing:"
            f" a signed checkpoint covers {due.size} events, the log holds {previous_seq}",
        )
    return ChainReport(
        size=frontier.size,
        head_hash=previous_hash,
        root=frontier.root(),
        fault=fault,
        checkpoint_faults=tuple(faults),
        checkpoints=tuple(verified),
        signatures_checked=verifier_keys is not None,
        frontier=frontier.compact().hashes,
    )


def _event_fault(
    event: AuditEvent,
    previous_seq: int,
    previous_hash: str,
    before_previous: str | None,
    stream: _Peekable,
) -> ChainFault | None:
    """The fault of one event in a contiguous walk, or ``None`` (see ``verify_chain``)."""
    expected = previous_seq + 1
    if event.seq > expected:
        return ChainFault(
            seq=expected,
            problem=ChainProblem.MISSING,
            message=f"event {expected} is missing: event {event.seq} follows event"
            f" {previous_seq} (deleted"
            + ("" if event.seq == expected + 1 else f", with {event.seq - expected - 1} more")
            + ")",
        )
    if event.seq < expected:
        return ChainFault(
            seq=event.seq,
            problem=ChainProblem.OUT_OF_ORDER,
            message=f"event {event.seq} comes after event {previous_seq}: repeated or reordered",
        )
    if event.prev_hash != previous_hash:
        return _link_fault(event, previous_seq, before_previous, stream)
    if recompute_hash(event) != event.hash:
        return ChainFault(
            seq=event.seq,
            problem=ChainProblem.EDITED,
            message=f"event {event.seq} was edited: its fields do not hash to its stored hash"
            f" {event.hash[:12]}…",
        )
    return None


def _link_fault(
    event: AuditEvent, previous_seq: int, before_previous: str | None, stream: _Peekable
) -> ChainFault:
    """Why ``event`` does not link to the event before it: inserted, reordered or replaced."""
    if before_previous is not None and event.prev_hash == before_previous:
        return ChainFault(
            seq=previous_seq,
            problem=ChainProblem.INSERTED,
            message=f"event {previous_seq} was inserted: event {event.seq} links to the event"
            f" before it",
        )
    following = stream.peek()
    if following is not None and following.hash == event.prev_hash:
        return ChainFault(
            seq=event.seq,
            problem=ChainProblem.REORDERED,
            message=f"event {event.seq} is out of place: it links to the event stored after it"
            " (events were swapped)",
        )
    return ChainFault(
        seq=event.seq,
        problem=ChainProblem.BROKEN_LINK,
        message=f"event {event.seq} does not link to event {previous_seq}: its prev_hash"
        f" {event.prev_hash[:12]}… is not that event's hash (event {previous_seq} was replaced,"
        " or events between them were deleted)",
    )


class _Peekable(Iterator[AuditEvent]):
    """An iterator with one event of look-ahead, for telling a swap from a deletion."""

    def __init__(self, events: Iterable[AuditEvent]) -> None:
        self._events = iter(events)
        self._ahead: list[AuditEvent] = []

    def __next__(self) -> AuditEvent:
        if self._ahead:
            return self._ahead.pop()
        return next(self._events)

    def peek(self) -> AuditEvent | None:
        if not self._ahead:
            following = next(self._events, None)
            if following is None:
                return None
            self._ahead.append(following)
        return self._ahead[0]


@dataclass(frozen=True, slots=True, kw_only=True)
class Extension:
    """The events after a checkpoint, checked: their leaf hashes, or the first one that is wrong."""

    leaves: tuple[bytes, ...]
    fault: ChainFault | None = None


def extend_chain(head: AuditEvent, events: Iterable[AuditEvent]) -> Extension:
    """Check the events that follow ``head`` (the last event a checkpoint covers) in order.

    ``head`` must hash to its own hash; then each event must be the next one and link to the
    one before, as in ``verify_chain``. This is what signing the next checkpoint needs: the tree
    up to ``head`` is the signed one (its frontier folds to the signed root), so only the new
    events are read. The walk over the whole log stays with ``verify_chain``.
    """
    if recompute_hash(head) != head.hash:
        return Extension(
            leaves=(),
            fault=ChainFault(
                seq=head.seq,
                problem=ChainProblem.EDITED,
                message=f"event {head.seq} was edited: its fields do not hash to its stored hash",
            ),
        )
    leaves: list[bytes] = []
    previous_seq, previous_hash, before_previous = head.seq, head.hash, head.prev_hash
    stream = _Peekable(events)
    for event in stream:
        fault = _event_fault(event, previous_seq, previous_hash, before_previous, stream)
        if fault is not None:
            return Extension(leaves=tuple(leaves), fault=fault)
        leaves.append(event_leaf_hash(event))
        before_previous, previous_hash, previous_seq = previous_hash, event.hash, event.seq
    return Extension(leaves=tuple(leaves))


@dataclass(frozen=True, slots=True, kw_only=True)
class ProvenEvent:
    """An exported event with its inclusion proof in the export's latest checkpoint."""

    event: AuditEvent
    proof: tuple[bytes, ...]


def verify_excerpt(
    events: Iterable[ProvenEvent],
    checkpoints: Sequence[StoredCheckpoint],
    verifier_keys: Sequence[str],
) -> ChainReport:
    """Check a filtered export: some events, each proven to be in the signed log.

    The checkpoints must verify with the keys, and each must extend the one before through its
    consistency proof (RFC 9162 §2.1.4.2). Each event must hash to its hash, come after the one
    before it, link to it when the two are consecutive, and be included at index ``seq - 1`` in
    the latest checkpoint (RFC 9162 §2.1.3.2): an edited, invented or moved event fails there.
    What a filter left out cannot be told from what was deleted: export without filters for that.
    """
    opened, faults = _open_checkpoints(checkpoints, verifier_keys)
    verified: list[int] = []
    for older, newer in itertools.pairwise(opened):
        try:
            verify_consistency(older.size, newer.size, newer.consistency, older.root, newer.root)
        except TlogError as error:
            faults.append(
                CheckpointFault(size=newer.size, message=f"does not extend {older.size}: {error}")
            )
        else:
            verified.append(newer.size)
    if opened and not any(f.size == opened[0].size for f in faults):
        verified.insert(0, opened[0].size)
    latest = opened[-1] if opened else None
    walked = 0
    previous: AuditEvent | None = None
    fault: ChainFault | None = None
    for proven in events:
        walked += 1
        fault = _excerpt_fault(proven, previous, latest)
        if fault is not None:
            break
        previous = proven.event
    return ChainReport(
        size=walked,
        head_hash=previous.hash if previous else GENESIS_HASH,
        root=latest.root if latest else EMPTY_ROOT,
        fault=fault,
        checkpoint_faults=tuple(faults),
        checkpoints=tuple(sorted(verified)),
        signatures_checked=True,
    )


def _excerpt_fault(
    proven: ProvenEvent, previous: AuditEvent | None, latest: StoredCheckpoint | None
) -> ChainFault | None:
    event = proven.event
    if previous is not None and event.seq <= previous.seq:
        return ChainFault(
            seq=event.seq,
            problem=ChainProblem.OUT_OF_ORDER,
            message=f"event {event.seq} comes after event {previous.seq}: repeated or reordered",
        )
    if recompute_hash(event) != event.hash:
        return ChainFault(
            seq=event.seq,
            problem=ChainProblem.EDITED,
            message=f"event {event.seq} was edited: its fields do not hash to its stored hash",
        )
    if previous is not None and event.seq == previous.seq + 1 and event.prev_hash != previous.hash:
        return ChainFault(
            seq=event.seq,
            problem=ChainProblem.BROKEN_LINK,
            message=f"event {event.seq} does not link to event {previous.seq}",
        )
    if latest is None or event.seq > latest.size:
        return ChainFault(
            seq=event.seq,
            problem=ChainProblem.NOT_COVERED,
            message=f"event {event.seq} is not covered by any valid signed checkpoint",
        )
    try:
        verify_inclusion(
            event_leaf_hash(event), event.seq - 1, latest.size, proven.proof, latest.root
        )
    except TlogError as error:
        return ChainFault(
            seq=event.seq,
            problem=ChainProblem.NOT_IN_LOG,
            message=f"event {event.seq} is not in the signed log of {latest.size} events"
            f" at index {event.seq - 1}: {error}",
        )
    return None


# --- Merkle proofs over many leaves ---------------------------------------------------------------


class MerkleLevels:
    """Every perfect subtree hash of a list of leaf hashes: any root or proof in O(log n).

    ``bot.core.tlog`` computes a proof by hashing the leaves again (O(n) per proof); a log of a
    million events exporting proofs for a few hundred of them keeps the levels instead
    (about two hashes per leaf) and gives the same proofs (RFC 9162 §2.1.3.1 and §2.1.4.1).
    """

    __slots__ = ("_levels",)

    def __init__(self, leaf_hashes: Sequence[bytes]) -> None:
        levels = [list(leaf_hashes)]
        sha256 = hashlib.sha256
        while len(levels[-1]) > 1:
            below = levels[-1]
            levels.append(
                [
                    sha256(b"\x01" + below[i] + below[i + 1]).digest()
                    for i in range(0, len(below) - 1, 2)
                ]
            )
        self._levels = levels

    @property
    def size(self) -> int:
        """The number of leaves."""
        return len(self._levels[0])

    def _subtree(self, low: int, high: int) -> bytes:
        """MTH(D[low:high]) for ``low`` aligned to a power of two at least ``high - low``."""
        if high == low:
            return EMPTY_ROOT
        blocks: list[bytes] = []
        position, remaining = low, high - low
        for level in reversed(range(remaining.bit_length())):
            if remaining >> level & 1:
                blocks.append(self._levels[level][position >> level])
                position += 1 << level
        root = blocks[-1]
        for block in reversed(blocks[:-1]):
            root = node_hash(block, root)
        return root

    def root(self, size: int | None = None) -> bytes:
        """The tree hash of the first ``size`` leaves (all by default)."""
        size = self.size if size is None else size
        self._check_size(size)
        return self._subtree(0, size)

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """PATH(index, D[0:size]) (RFC 9162 §2.1.3.1), as ``tlog.inclusion_proof`` gives it."""
        self._check_size(size)
        if not 0 <= index < size:
            raise ValueError(f"index {index} is not in a tree of {size} leaves")
        path: list[bytes] = []
        low, high = 0, size
        while high - low > 1:
            middle = low + _split(high - low)
            if index < middle:
                path.append(self._subtree(middle, high))
                high = middle
            else:
                path.append(self._subtree(low, middle))
                low = middle
        path.reverse()
        return path

    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        """PROOF(old_size, D[0:new_size]) (RFC 9162 §2.1.4.1), as ``tlog.consistency_proof``."""
        self._check_size(new_size)
        if not 0 < old_size <= new_size:
            raise ValueError(f"no consistency proof from size {old_size} to size {new_size}")
        proof: list[bytes] = []
        low, high, boundary, whole = 0, new_size, old_size, True
        while boundary != high - low:
            k = _split(high - low)
            if boundary <= k:
                proof.append(self._subtree(low + k, high))
                high = low + k
            else:
                proof.append(self._subtree(low, low + k))
                low, boundary, whole = low + k, boundary - k, False
        if not whole:
            proof.append(self._subtree(low, high))
        proof.reverse()
        return proof

    def _check_size(self, size: int) -> None:
        if not 0 <= size <= self.size:
            raise ValueError(f"size {size} is outside the {self.size} leaves given")


def _split(n: int) -> int:
    """The largest power of two strictly below ``n`` (n > 1), where RFC 9162 §2.1.1 splits."""
    return 1 << ((n - 1).bit_length() - 1)


# --- exports (JSON Lines) -------------------------------------------------------------------------

EXPORT_FORMAT = "eucora.dev/audit-export/v1"
"""The ``format`` of an export's header line.

An export is JSON Lines, each line canonical JSON:

1. a header ``{"record": "header", "format": ..., "size": N, "complete": bool, "filters": {...}}``;
2. every stored checkpoint, smallest first: ``{"record": "checkpoint", "size": ..., "root":
   base64, "note": signed note, "consistency": [base64 hashes from the previous checkpoint]}``;
3. the events, each line exactly its leaf data (``leaf_data``), in log order; in a filtered
   export each is followed by ``{"record": "inclusion", "seq": ..., "proof": [base64 ...]}``,
   its inclusion proof in the latest checkpoint.

Nothing in the file is trusted but what the verifier key's signatures cover: the header only
says how to read the rest.
"""


@dataclass(frozen=True, slots=True, kw_only=True)
class ExportFilters:
    """Which events an export holds: since a time (event-time text), of a repository, of a PR."""

    since: str | None = None
    repository: str | None = None
    pr: int | None = None

    @property
    def complete(self) -> bool:
        """Whether no filter is set: the export holds the whole signed log."""
        return self.since is None and self.repository is None and self.pr is None

    def matches(self, event: AuditEvent) -> bool:
        """Whether an event passes every filter."""
        return (
            (self.since is None or event.time >= self.since)
            and (self.repository is None or event.repository == self.repository)
            and (self.pr is None or event.pr == self.pr)
        )


def _line(value: Any) -> bytes:
    return canonical_json(value) + b"\n"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def export_header_line(filters: ExportFilters, size: int) -> bytes:
    """The header line of an export of a log whose latest checkpoint covers ``size`` events."""
    return _line(
        {
            "record": "header",
            "format": EXPORT_FORMAT,
            "size": size,
            "complete": filters.complete,
            "filters": {"since": filters.since, "repository": filters.repository, "pr": filters.pr},
        }
    )


def checkpoint_line(checkpoint: StoredCheckpoint) -> bytes:
    """A stored checkpoint as an export line."""
    return _line(
        {
            "record": "checkpoint",
            "size": checkpoint.size,
            "root": _b64(checkpoint.root),
            "note": checkpoint.note,
            "consistency": [_b64(h) for h in checkpoint.consistency],
        }
    )


def event_line(event: AuditEvent) -> bytes:
    """An event as an export line: its leaf data and a newline."""
    return leaf_data(event) + b"\n"


def inclusion_line(seq: int, proof: Sequence[bytes]) -> bytes:
    """The inclusion proof of event ``seq`` in the latest checkpoint, as an export line."""
    return _line({"record": "inclusion", "seq": seq, "proof": [_b64(h) for h in proof]})


class _ExportReader:
    """Reads an export line by line; the first malformed line becomes a fault, not an error."""

    def __init__(self, lines: Iterable[str | bytes]) -> None:
        self._lines = iter(enumerate(lines, 1))
        self._held: tuple[int, dict[str, Any]] | None = None
        self.fault: ChainFault | None = None
        self.events_read = 0
        self.fault_after = 0  # events read before the malformed line

    def _next(self) -> tuple[int, dict[str, Any]] | None:
        if self.fault is not None:
            return None
        if self._held is not None:
            held, self._held = self._held, None
            return held
        numbered = next(self._lines, None)
        if numbered is None:
            return None
        number, raw = numbered
        try:
            value = json.loads(raw)
        except ValueError as error:
            self._fail(number, f"not JSON ({error})")
            return None
        if not isinstance(value, dict):
            self._fail(number, "not a JSON object")
            return None
        return number, value

    def _fail(self, number: int, message: str) -> None:
        if self.fault is None:
            self.fault_after = self.events_read
            self.fault = ChainFault(
                seq=None, problem=ChainProblem.MALFORMED, message=f"line {number}: {message}"
            )

    def header(self) -> dict[str, Any] | None:
        item = self._next()
        if item is None:
            self._fail(1, "an export starts with its header line")
            return None
        number, value = item
        if value.get("record") != "header" or value.get("format") != EXPORT_FORMAT:
            self._fail(number, f"not an {EXPORT_FORMAT} header")
            return None
        if not isinstance(value.get("complete"), bool):
            self._fail(number, "the header says neither complete nor filtered")
            return None
        return value

    def checkpoints(self) -> list[StoredCheckpoint]:
        stored: list[StoredCheckpoint] = []
        while (item := self._next()) is not None:
            number, value = item
            if value.get("record") != "checkpoint":
                self._held = item
                break
            try:
                stored.append(
                    StoredCheckpoint(
                        size=_int(value["size"]),
                        root=_unb64(value["root"]),
                        note=_text(value["note"]),
                        consistency=tuple(_unb64(h) for h in value["consistency"]),
                    )
                )
            except (KeyError, TypeError, ValueError) as error:
                self._fail(number, f"not a checkpoint record ({error})")
                break
        return stored

    def events(self) -> Iterator[AuditEvent]:
        while (item := self._next()) is not None:
            number, value = item
            try:
                event = event_from_json(value)
            except ValueError as error:
                self._fail(number, f"not an event: {error}")
                return
            self.events_read += 1
            yield event

    def proven_events(self) -> Iterator[ProvenEvent]:
        for event in self.events():
            item = self._next()
            if item is None:
                self._fail(0, f"event {event.seq} has no inclusion proof after it")
                return
            number, value = item
            if value.get("record") != "inclusion" or value.get("seq") != event.seq:
                self._fail(number, f"expected the inclusion proof of event {event.seq}")
                return
            try:
                proof = tuple(_unb64(h) for h in value["proof"])
            except (KeyError, TypeError, ValueError) as error:
                self._fail(number, f"not an inclusion proof ({error})")
                return
            yield ProvenEvent(event=event, proof=proof)


def _int(value: Any) -> int:
    if type(value) is not int:
        raise TypeError("expected an integer")
    return value


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError("expected text")
    return value


def _unb64(value: Any) -> bytes:
    text = _text(value)
    data = base64.b64decode(text, validate=True)
    if _b64(data) != text:
        raise ValueError("not canonical base64")
    return data


def verify_export(lines: Iterable[str | bytes], verifier_keys: Sequence[str]) -> ChainReport:
    """Check an export offline with only the log's verifier key(s).

    A complete export is walked like the database (``verify_chain``), and every event must be
    covered by a checkpoint the keys verify. A filtered export is checked event by event against
    the latest checkpoint (``verify_excerpt``). A line that does not parse is the fault where it
    stands ("line N: ..."). Truncating a complete export together with its last checkpoints is
    not visible in the file itself: compare its latest checkpoint with one kept elsewhere.
    """
    reader = _ExportReader(lines)
    header = reader.header()
    if header is None:
        return ChainReport(size=0, head_hash=GENESIS_HASH, root=EMPTY_ROOT, fault=reader.fault)
    checkpoints = reader.checkpoints()
    if header["complete"]:
        report = verify_chain(reader.events(), checkpoints, verifier_keys, signed_only=True)
    else:
        report = verify_excerpt(reader.proven_events(), checkpoints, verifier_keys)
    if reader.fault is not None and (report.fault is None or report.size >= reader.fault_after):
        return replace(report, fault=reader.fault)
    return report


# --- the story of one change ----------------------------------------------------------------------

_SUMMARY_WIDTH = 100


def render_story(events: Sequence[AuditEvent], *, pr: int, repository: str | None = None) -> str:
    """The events of one pull request, in log order, one line each, for people.

    ``#seq  time  type  by actor  @sha  payload`` with the payload as compact JSON, cut at
    100 characters; the repository is shown on each line when the events span several.
    """
    where = f"{repository}#{pr}" if repository else f"pull request #{pr}"
    if not events:
        return f"{where}: no audit events\n"
    repositories = sorted({e.repository for e in events})
    several = len(repositories) > 1
    plural = "s" if len(events) != 1 else ""
    lines = [f"{where}: {len(events)} event{plural}, {events[0].time} to {events[-1].time}"]
    for event in events:
        summary = json.dumps(event.payload, sort_keys=True, separators=(",", ":"))
        if len(summary) > _SUMMARY_WIDTH:
            summary = summary[: _SUMMARY_WIDTH - 1] + "…"
        sha = f"  @{event.head_sha[:7]}" if event.head_sha else ""
        place = f"  {event.repository}" if several else ""
        lines.append(
            f"  #{event.seq:<6} {event.time}  {event.type}  by {event.actor}{sha}{place}"
            f"  [{event.correlation_id}]  {summary}"
        )
    return "\n".join(lines) + "\n"


def render_report(report: ChainReport, *, source: str = "audit log") -> str:
    """The outcome of a verification, for people.

    OK with the counts, or FAIL naming the first bad event and every bad checkpoint.
    """
    checked = "signatures checked" if report.signatures_checked else "signatures NOT checked"
    latest = f", latest at size {report.checkpoints[-1]}" if report.checkpoints else ""
    lines: list[str] = []
    if report.ok:
        lines.append(
            f"OK: {source}: {report.size} event{'s' if report.size != 1 else ''}, chain intact;"
            f" {len(report.checkpoints)} checkpoint{'s' if len(report.checkpoints) != 1 else ''}"
            f" verified ({checked}){latest}"
        )
        return "\n".join(lines) + "\n"
    lines.append(f"FAIL: {source}")
    if report.fault is not None:
        name = f"event {report.fault.seq}" if report.fault.seq is not None else "export"
        lines.append(f"  first bad event: {name} ({report.fault.problem}): {report.fault.message}")
    else:
        lines.append(f"  the chain of {report.size} events is intact")
    lines.extend(
        f"  bad checkpoint at size {fault.size}: {fault.message}"
        for fault in report.checkpoint_faults
    )
    if report.checkpoints:
        lines.append(
            f"  checkpoints that held ({checked}): {', '.join(map(str, report.checkpoints))}"
        )
    return "\n".join(lines) + "\n"
