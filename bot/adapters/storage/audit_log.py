"""The audit log on the database: append-only, hash-chained, with signed Merkle checkpoints.

``AuditLog(engine)`` appends events one writer at a time, whatever the number of processes (the
writers' lock: SQLite ``BEGIN IMMEDIATE``, PostgreSQL ``pg_advisory_xact_lock``), so every event
links to the one committed before it; busy and serialisation failures are retried with a
bounded, jittered backoff (``stamina``). It signs C2SP checkpoints of the Merkle tree of its
events, never one inconsistent with a checkpoint it signed before, and gives inclusion and
consistency proofs and JSON Lines exports an auditor checks offline. The decisions (hashing,
verifying, the export format) are in ``bot.core.audit_*``; this module moves rows.

Time is never read here: callers pass it in.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import IO, Any

import stamina
from sqlalchemy import Connection, Engine, Row, func, insert, select
from sqlalchemy.exc import DBAPIError, OperationalError

from bot.adapters.storage.db import read_snapshot, write_transaction
from bot.adapters.storage.tables import audit_checkpoints, audit_events
from bot.core.audit_chain import ChainReport, StoredCheckpoint, extend_chain, verify_chain
from bot.core.audit_events import (
    GENESIS_HASH,
    AuditEvent,
    event_json,
    event_leaf_hash,
    format_event_time,
    seal_event,
)
from bot.core.audit_export import (
    ExportFilters,
    checkpoint_line,
    event_line,
    export_header_line,
    inclusion_line,
)
from bot.core.evidence import canonical_json
from bot.core.records import ExportSummary
from bot.core.tlog import (
    HASH_SIZE,
    Checkpoint,
    CompactRange,
    Ed25519Signer,
    MerkleLevels,
    ProofBundle,
    TailTree,
    TlogError,
    consistency_proof_size,
    format_proof,
    sign_checkpoint,
    verify_checkpoint,
    verify_consistency,
)
from bot.errors import AuditIntegrityError, StorageError

AUDIT_LOCK_KEY = 0x6575636F72610001
"""PostgreSQL advisory lock key of the audit writers ("eucora" + 1)."""
RETRY_ATTEMPTS = 20
RETRY_TIMEOUT_SECONDS = 60.0
_STREAM_BATCH = 5000
# SQLSTATEs worth a retry: serialization_failure, deadlock_detected, lock_not_available.
_TRANSIENT_SQLSTATES = frozenset({"40001", "40P01", "55P03"})


def is_transient(error: BaseException) -> bool:
    """Whether a database error is worth retrying: busy, locked, serialisation, lost connection."""
    if not isinstance(error, DBAPIError):
        return False
    if error.connection_invalidated:
        return True
    sqlstate = getattr(error.orig, "sqlstate", None)
    if sqlstate in _TRANSIENT_SQLSTATES:
        return True
    if isinstance(error, OperationalError):
        message = str(error.orig).lower()
        return "locked" in message or "busy" in message
    return False


class AuditLog:
    """The audit trail in the database (tables ``audit_events`` and ``audit_checkpoints``)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @property
    def engine(self) -> Engine:
        """The database engine the log writes to."""
        return self._engine

    # --- writing ----------------------------------------------------------------------------------

    def append(  # noqa: PLR0913 - one parameter per event field
        self,
        *,
        type: str,  # noqa: A002 - the field is called type
        actor: str,
        correlation_id: str,
        repository: str,
        pr: int | None,
        head_sha: str | None,
        payload: Any,
        time: datetime,
        once: bool = False,
    ) -> AuditEvent:
        """Append one event after the last committed one and return it, sealed.

        The writers' lock makes appends from any number of processes one chain; a busy database
        or a serialisation failure is retried (``RETRY_ATTEMPTS`` times, ``RETRY_TIMEOUT_SECONDS``
        at most). Raises ``ValueError`` for malformed fields before touching the database.
        ``once``: when an event of this type and correlation id is already in the log, that one
        is returned and nothing is appended (decided under the lock: a retry after a crash).
        """
        fields: dict[str, Any] = {
            "time": format_event_time(time),
            "type": type,
            "actor": actor,
            "correlation_id": correlation_id,
            "repository": repository,
            "pr": pr,
            "head_sha": head_sha,
            "payload": payload,
        }
        return self.append_all([fields], once=once)[0]

    def append_all(
        self, events: Sequence[Mapping[str, Any]], *, once: bool = False
    ) -> list[AuditEvent]:
        """Append events in order in one transaction (one commit), and return them sealed.

        Each is ``append``'s fields, ``time`` already formatted (``format_event_time``). The chain
        is the same as appending them one by one; a crash keeps all of them or none. ``once``:
        an event whose type and correlation id the log already holds is not appended again; the
        earlier one is returned in its place (decided under the lock: a retry after a crash).
        """
        for fields in events:  # refuse bad fields before locking
            seal_event(seq=1, prev_hash=GENESIS_HASH, **fields)
        sealed: list[AuditEvent] = []
        for attempt in stamina.retry_context(
            on=is_transient,
            attempts=RETRY_ATTEMPTS,
            timeout=RETRY_TIMEOUT_SECONDS,
            wait_initial=0.01,
            wait_max=1.0,
            wait_jitter=0.05,
        ):
            with attempt, write_transaction(self._engine, AUDIT_LOCK_KEY) as connection:
                head = connection.execute(
                    select(audit_events.c.seq, audit_events.c.hash)
                    .order_by(audit_events.c.seq.desc())
                    .limit(1)
                ).first()
                seq, prev_hash = (head.seq + 1, head.hash) if head else (1, GENESIS_HASH)
                sealed = []
                for fields in events:
                    earlier = (
                        _same_event(connection, fields["type"], fields["correlation_id"])
                        if once
                        else None
                    )
                    if earlier is not None:
                        sealed.append(earlier)
                        continue
                    event = seal_event(seq=seq, prev_hash=prev_hash, **fields)
                    connection.execute(insert(audit_events).values(_row(event)))
                    sealed.append(event)
                    seq, prev_hash = seq + 1, event.hash
        return sealed

    def checkpoint(
        self, signer: Ed25519Signer, origin: str | None = None, *, time: datetime
    ) -> str | None:
        """Sign a checkpoint of the whole log and store it; return the signed note.

        Holds the writers' lock. When the last stored checkpoint is one this signer signed and
        kept its frontier (the compact range of its tree, which must fold to its signed root),
        only the events since are read: the last one it covers must hash to its hash and each
        new one must link to the one before; the new tree is that frontier extended with the
        new events, so it extends the signed one by construction (the RFC 9162 consistency
        proof, stored with the new checkpoint, is checked too). Otherwise (the first checkpoint,
        another key, a frontier that does not hold) every event and checkpoint is re-verified,
        as ``verify`` does. Either way a log never signs a checkpoint inconsistent with one it
        signed before (c2sp.org/tlog-checkpoint), and refuses (``AuditIntegrityError``) when
        the events it would sign are broken. Events already signed and tampered with later are
        named by ``verify`` (``eucora audit verify``), the full walk.

        Returns the last note unchanged when the log has not grown, and ``None`` for an empty
        log. ``origin`` defaults to the signer's key name.
        """
        for attempt in stamina.retry_context(
            on=is_transient, attempts=RETRY_ATTEMPTS, timeout=RETRY_TIMEOUT_SECONDS
        ):
            with attempt, write_transaction(self._engine, AUDIT_LOCK_KEY) as connection:
                note = self._checkpoint(connection, signer, origin or signer.name, time)
        return note

    def _checkpoint(
        self, connection: Connection, signer: Ed25519Signer, origin: str, time: datetime
    ) -> str | None:
        last = _latest_checkpoint(connection)
        base = _signed_frontier(last, signer) if last is not None else None
        head = _event_at(connection, last.size) if last is not None else None
        if last is None or base is None or head is None:
            return self._checkpoint_from_scratch(connection, signer, origin, time)
        extension = extend_chain(head, _stream_events(connection, after=last.size))
        if extension.fault is not None:
            raise AuditIntegrityError(f"refusing to sign a checkpoint: {extension.fault.message}")
        if not extension.leaves:
            return last.note
        tree = TailTree(base, extension.leaves)
        root = tree.root()
        proof = tree.consistency_proof(last.size)
        return self._store_checkpoint(
            connection,
            signer,
            Checkpoint(origin, tree.size, root),
            previous=last,
            proof=proof,
            frontier=base.extend(extension.leaves),
            time=time,
        )

    def _checkpoint_from_scratch(
        self, connection: Connection, signer: Ed25519Signer, origin: str, time: datetime
    ) -> str | None:
        stored = _read_checkpoints(connection)
        leaves: list[bytes] = []
        report = verify_chain(_stream_events(connection), stored, leaves=leaves)
        if not report.ok:
            raise AuditIntegrityError(f"refusing to sign a checkpoint: {describe_problem(report)}")
        size = report.size
        last = stored[-1] if stored else None
        if size == 0:
            return None
        if last is not None and last.size == size:
            return last.note
        proof = MerkleLevels(leaves).consistency_proof(last.size, size) if last else []
        return self._store_checkpoint(
            connection,
            signer,
            Checkpoint(origin, size, report.root),
            previous=last,
            proof=proof,
            frontier=CompactRange(size, report.frontier),
            time=time,
        )

    @staticmethod
    def _store_checkpoint(  # noqa: PLR0913 - what a stored checkpoint is made of
        connection: Connection,
        signer: Ed25519Signer,
        checkpoint: Checkpoint,
        *,
        previous: StoredCheckpoint | None,
        proof: Sequence[bytes],
        frontier: CompactRange,
        time: datetime,
    ) -> str:
        """Check the new tree against the previous checkpoint, sign it, store it with its proof."""
        if frontier.size != checkpoint.size or frontier.root() != checkpoint.root:
            raise AuditIntegrityError(  # pragma: no cover - both come from the same leaves
                f"refusing to sign: the frontier of size {frontier.size} is not the tree's"
            )
        if previous is not None:
            try:
                verify_consistency(
                    previous.size, checkpoint.size, proof, previous.root, checkpoint.root
                )
            except TlogError as error:  # pragma: no cover - the tree was built on the old one
                raise AuditIntegrityError(
                    f"refusing to sign: size {checkpoint.size} does not extend checkpoint"
                    f" {previous.size}: {error}"
                ) from error
        note = sign_checkpoint(checkpoint, signer.name, signer.private_key)
        connection.execute(
            insert(audit_checkpoints).values(
                size=checkpoint.size,
                origin=checkpoint.origin,
                root=checkpoint.root,
                note=note,
                consistency=b"".join((*proof, *frontier.hashes)),
                signed_at=format_event_time(time),
            )
        )
        return note

    # --- reading ----------------------------------------------------------------------------------

    def size(self) -> int:
        """How many events the log holds."""
        with read_snapshot(self._engine) as connection:
            return int(
                connection.execute(select(func.count()).select_from(audit_events)).scalar_one()
            )

    def events(
        self,
        *,
        since: datetime | None = None,
        repository: str | None = None,
        pr: int | None = None,
    ) -> list[AuditEvent]:
        """The events matching every filter given, in log order."""
        filters = ExportFilters(
            since=format_event_time(since) if since else None, repository=repository, pr=pr
        )
        with read_snapshot(self._engine) as connection:
            return list(_stream_events(connection, filters=filters))

    def checkpoints(self) -> list[StoredCheckpoint]:
        """The stored checkpoints, smallest first."""
        with read_snapshot(self._engine) as connection:
            return _read_checkpoints(connection)

    def verify(self, verifier_keys: Sequence[str] | None = None) -> ChainReport:
        """Walk every event and checkpoint in one snapshot (``audit_chain.verify_chain``)."""
        with read_snapshot(self._engine) as connection:
            stored = _read_checkpoints(connection)
            return verify_chain(_stream_events(connection), stored, verifier_keys)

    def latest_checkpoint(self) -> str | None:
        """The newest signed checkpoint note, or ``None`` before the first is signed.

        The note to publish where the operator cannot rewrite it (the PR comment, the check
        run summary): every later checkpoint must be consistent with it.
        """
        with read_snapshot(self._engine) as connection:
            latest = _latest_checkpoint(connection)
        return latest.note if latest is not None else None

    def inclusion_proof(
        self, seq: int, size: int | None = None, *, extra: bytes | None = None
    ) -> str:
        """A c2sp.org/tlog-proof@v1 text proving event ``seq`` is in a stored checkpoint.

        ``size`` picks the checkpoint (default: the latest); ``extra`` is the bundle's opaque
        data line. Only the events after the last checkpoint before the event are read (their
        frontier gives the rest), and the proof's tree must have the signed root. Check it
        offline with ``tlog.verify_proof_bundle(text, leaf_data(event), [verifier_key])``.
        """
        with read_snapshot(self._engine) as connection:
            checkpoint = (
                _latest_checkpoint(connection) if size is None else _checkpoint_of(connection, size)
            )
            if checkpoint is None:
                raise StorageError(
                    "the audit log has no signed checkpoint yet"
                    if size is None
                    else f"no checkpoint of size {size}"
                )
            if not 1 <= seq <= checkpoint.size:
                raise StorageError(
                    f"event {seq} is not in the checkpoint of size {checkpoint.size}"
                )
            base = _frontier_before(connection, seq - 1)
            tail = tuple(
                event_leaf_hash(e)
                for e in _stream_events(connection, after=base.size, upto=checkpoint.size)
            )
        tree = TailTree(base, tail)
        if tree.size != checkpoint.size or tree.root() != checkpoint.root:
            raise AuditIntegrityError(
                f"the events do not have the root checkpoint {checkpoint.size} signed:"
                " run `eucora audit verify`"
            )
        proof = tree.inclusion_proof(seq - 1)
        return format_proof(
            ProofBundle(index=seq - 1, proof=tuple(proof), checkpoint=checkpoint.note, extra=extra)
        )

    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        """The RFC 9162 proof that the tree of ``new_size`` events extends that of ``old_size``."""
        with read_snapshot(self._engine) as connection:
            levels = _levels(connection, new_size)
        if levels.size != new_size:
            raise StorageError(f"the log holds {levels.size} events, not {new_size}")
        return levels.consistency_proof(old_size, new_size)

    def export_jsonl(self, stream: IO[bytes], filters: ExportFilters) -> ExportSummary:
        """Write the signed part of the log as JSON Lines (format in ``bot.core.audit_export``).

        Only events a stored checkpoint covers are written (sign one first to export them all).
        Without filters every event is written, and the chain itself proves them; with filters
        each written event is followed by its inclusion proof in the latest checkpoint.
        """
        with read_snapshot(self._engine) as connection:
            stored = _read_checkpoints(connection)
            size = stored[-1].size if stored else 0
            stream.write(export_header_line(filters, size))
            for checkpoint in stored:
                stream.write(checkpoint_line(checkpoint))
            written = 0
            if filters.complete:
                for event in _stream_events(connection, upto=size):
                    stream.write(event_line(event))
                    written += 1
            else:
                levels = _levels(connection, size)
                for event in _stream_events(connection, upto=size, filters=filters):
                    stream.write(event_line(event))
                    stream.write(
                        inclusion_line(event.seq, levels.inclusion_proof(event.seq - 1, size))
                    )
                    written += 1
        return ExportSummary(events=written, size=size, complete=filters.complete)


def describe_problem(report: ChainReport) -> str:
    """The first problem of a report, as one sentence."""
    if report.fault is not None:
        return report.fault.message
    if report.checkpoint_faults:
        first = report.checkpoint_faults[0]
        return f"checkpoint at size {first.size}: {first.message}"
    return "no problem"


def _row(event: AuditEvent) -> dict[str, Any]:
    """The event as a table row: every field, the payload stored as its canonical JSON text."""
    return {**event_json(event), "payload": canonical_json(event.payload).decode("utf-8")}


def _same_event(connection: Connection, type_: str, correlation_id: str) -> AuditEvent | None:
    """The first event of ``type_`` with ``correlation_id``, if the log has one."""
    row = connection.execute(
        select(audit_events)
        .where(audit_events.c.correlation_id == correlation_id, audit_events.c.type == type_)
        .order_by(audit_events.c.seq)
        .limit(1)
    ).first()
    return None if row is None else _event(row)


def _event(row: Row[Any]) -> AuditEvent:
    """The event in a row.

    A payload that is not JSON any more (tampering) is kept as text, so the hash check names
    the event instead of the reader failing.
    """
    try:
        payload = json.loads(row.payload)
    except (TypeError, ValueError):
        payload = row.payload
    return AuditEvent(
        seq=row.seq,
        time=row.time,
        type=row.type,
        actor=row.actor,
        correlation_id=row.correlation_id,
        repository=row.repository,
        pr=row.pr,
        head_sha=row.head_sha,
        payload=payload,
        prev_hash=row.prev_hash,
        hash=row.hash,
    )


def _stream_events(
    connection: Connection,
    *,
    after: int | None = None,
    upto: int | None = None,
    filters: ExportFilters | None = None,
) -> Iterator[AuditEvent]:
    """The events in log order (those after ``after`` and up to ``upto``), fetched in batches."""
    query = select(audit_events).order_by(audit_events.c.seq)
    if after is not None:
        if upto is None:  # both bounds: planners without statistics still pick the index
            upto = connection.execute(select(func.max(audit_events.c.seq))).scalar_one() or 0
        query = query.where(audit_events.c.seq > after)
    if upto is not None:
        query = query.where(audit_events.c.seq <= upto)
    if filters is not None:
        if filters.since is not None:
            query = query.where(audit_events.c.time >= filters.since)
        if filters.repository is not None:
            query = query.where(audit_events.c.repository == filters.repository)
        if filters.pr is not None:
            query = query.where(audit_events.c.pr == filters.pr)
    # Per statement: Connection.execution_options() would change the connection for good.
    result = connection.execute(query.execution_options(yield_per=_STREAM_BATCH))
    for row in result:
        yield _event(row)


def _read_checkpoints(connection: Connection) -> list[StoredCheckpoint]:
    rows = connection.execute(select(audit_checkpoints).order_by(audit_checkpoints.c.size))
    stored: list[StoredCheckpoint] = []
    previous: int | None = None
    for row in rows:
        stored.append(_stored(row, previous))
        previous = row.size
    return stored


def _stored(row: Row[Any], previous: int | None) -> StoredCheckpoint:
    """A checkpoint row: its blob is the consistency proof from ``previous``, then the frontier.

    The proof's length follows from the two sizes (``consistency_proof_size``), so the frontier
    is what remains; rows written before frontiers were kept hold the proof alone.
    """
    hashes = _split_hashes(bytes(row.consistency))
    length = consistency_proof_size(previous, row.size) if previous else 0
    return StoredCheckpoint(
        size=row.size,
        root=bytes(row.root),
        note=row.note,
        consistency=hashes[:length],
        frontier=hashes[length:],
    )


def _split_hashes(data: bytes) -> tuple[bytes, ...]:
    return tuple(data[i : i + HASH_SIZE] for i in range(0, len(data), HASH_SIZE))


def _checkpoints_from(connection: Connection, query: Any) -> StoredCheckpoint | None:
    """The first checkpoint a newest-first query of at most two rows finds, with its proof split."""
    rows = connection.execute(query.order_by(audit_checkpoints.c.size.desc()).limit(2)).all()
    if not rows:
        return None
    return _stored(rows[0], rows[1].size if len(rows) > 1 else None)


def _latest_checkpoint(connection: Connection) -> StoredCheckpoint | None:
    return _checkpoints_from(connection, select(audit_checkpoints))


def _checkpoint_of(connection: Connection, size: int) -> StoredCheckpoint | None:
    found = _checkpoints_from(
        connection, select(audit_checkpoints).where(audit_checkpoints.c.size <= size)
    )
    return found if found is not None and found.size == size else None


def _frontier_before(connection: Connection, index: int) -> CompactRange:
    """The kept frontier of the largest checkpoint of at most ``index`` events (else empty)."""
    found = _checkpoints_from(
        connection, select(audit_checkpoints).where(audit_checkpoints.c.size <= index)
    )
    compact = found.compact_range() if found is not None else None
    return compact if compact is not None else CompactRange()


def _signed_frontier(last: StoredCheckpoint, signer: Ed25519Signer) -> CompactRange | None:
    """The last checkpoint's frontier, if this signer signed its note and it folds to its root."""
    try:
        signed = verify_checkpoint(last.note, [signer.verifier.verifier_key])
    except TlogError:
        return None
    if (signed.size, signed.root) != (last.size, last.root):
        return None
    return last.compact_range()


def _event_at(connection: Connection, seq: int) -> AuditEvent | None:
    row = connection.execute(select(audit_events).where(audit_events.c.seq == seq)).first()
    return _event(row) if row is not None else None


def _levels(connection: Connection, size: int) -> MerkleLevels:
    """The Merkle levels of the first ``size`` events, leaves recomputed from the rows."""
    return MerkleLevels([event_leaf_hash(e) for e in _stream_events(connection, upto=size)])
