"""Checking the audit chain: the first bad event, every bad checkpoint, proven excerpts.

``verify_chain`` walks the whole log (from the database or a complete export) and names the first
event that is wrong and how (``ChainProblem``); the stored checkpoints must sign the roots of the
events they cover. ``extend_chain`` checks only the events after the last checkpoint, which is
what signing the next one needs. ``verify_excerpt`` checks some events, each with its inclusion
proof in the latest checkpoint (a filtered export). The Merkle tree, proofs and signed notes are
``bot.core.tlog``'s (RFC 9162, c2sp.org/tlog-checkpoint).

Nothing here reads a clock, a file or a database: events and keys are passed in.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum

from bot.core.audit_events import GENESIS_HASH, AuditEvent, event_leaf_hash, recompute_hash
from bot.core.tlog import (
    EMPTY_ROOT,
    Checkpoint,
    CompactRange,
    TlogError,
    parse_checkpoint,
    verify_checkpoint,
    verify_consistency,
    verify_inclusion,
)

_LEAF_BATCH = 4096


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
