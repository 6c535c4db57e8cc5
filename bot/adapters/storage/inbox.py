"""The webhook inbox: deliveries stored before they are acknowledged, and claimed with a lease.

State machine of a row (``status``)::

    store ──► pending ──claim──► running ──complete──► done      (outcome: the handler's word)
      │          ▲  │               │  └──fail──► pending (attempts left; waits not_before)
      │          │  │               │  └──fail──► failed      (attempts used up; error kept)
      │          │  │               └──lease expired (sweeper)──► pending (or failed when used up)
      │          │  ├──a newer delivery of the same key is claimed──► collapsed  (merged_into)
      │          │  └──a newer head SHA of the same PR is claimed───► superseded (merged_into)
      └──► ignored (an event EUCORA does not act on; error says why)

* A delivery id seen before is a *duplicate* (GitHub's redelivery keeps the id), however late.
  A body stored before under another delivery id is a *replay* (the signature covers the body
  only) within the replay window of its newest stored copy, except the repeat of a timeless
  event after a change of that event in between (``bot.core.webhooks.is_replay``). Neither is
  stored; after the window the body is a new delivery. The check and the insert are one
  transaction, serialised per body (SQLite's write lock, a PostgreSQL advisory lock); the stores
  waiting in one process share that transaction and its commit (group commit), each checked as
  it would be alone and answered only once committed.
* Claiming takes the oldest due row whose pull request (``serial_key``) has nothing running; for
  an evaluation it runs the *newest* pending evaluation of that PR and marks the older ones
  collapsed (same head SHA) or superseded (older head). For a review it runs the newest of the
  reviews of that PR waiting in a row (up to the next delivery of another kind) and marks the
  older ones collapsed: the claim hands their bodies along (``Delivery.folded``, also on a
  retry) so that each is recorded in the review ledger and the PR is decided once. Comment
  commands, merges and deployments are never collapsed; they run one at a time per PR.
* A running delivery's lease is renewed while its handler runs (``renew``, the worker's
  heartbeat), so a short lease (``EUCORA_INBOX_LEASE_SECONDS``, 60 s by default) suffices for a
  slow evaluation and a killed worker's delivery is taken over soon after the lease lapses.
* At most one row per ``serial_key`` is ``running``: the partial unique index guarantees it
  across processes; claims use ``FOR UPDATE SKIP LOCKED`` on PostgreSQL and ``BEGIN IMMEDIATE``
  on SQLite. ``attempts`` counts claims, so a delivery that kills its worker every time ends
  ``failed`` too.

Time is never read here: callers pass ``now``.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import stamina
from sqlalchemy import (
    Connection,
    Engine,
    Row,
    and_,
    bindparam,
    exists,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.exc import DBAPIError, IntegrityError

from bot.adapters.storage.audit_log import is_transient
from bot.adapters.storage.db import is_postgresql, row_locking_write, write_transaction
from bot.adapters.storage.tables import inbox
from bot.core.webhooks import (
    DEFAULT_REPLAY_WINDOW,
    TIMELESS_EVENTS,
    Delivery,
    DeliveryKind,
    EarlierBody,
    Routing,
    is_replay,
    retry_delay_seconds,
)

INBOX_LOCK_KEY = 0x6575636F72610003
"""SQLite only: write_transaction's key (PostgreSQL claims lock rows, not the table)."""
DEFAULT_LEASE_SECONDS = 60.0
"""A claim's lease: renewed every third of it while the handler runs (``renew``)."""
DEFAULT_MAX_ATTEMPTS = 5
_CLAIM_CONFLICT_RETRIES = 10
STORE_RETRY_SECONDS = 5.0
"""How long ``store`` retries a busy or lost database before giving up (the webhook then
answers 503): the acknowledgement never waits long on a database that is not there."""
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


class _WriterLock:
    """A lock whose urgent waiters go first: the intake's stores before the workers' claims.

    SQLite has one writer at a time; a process queues its inbox writers here rather than in
    SQLite's busy handler (see ``Inbox._transaction``). An acknowledgement waits for its commit,
    a claim or a completion can wait: while a store waits, no claim or completion takes the lock.
    """

    def __init__(self) -> None:
        self._condition = threading.Condition(threading.Lock())
        self._held = False
        self._urgent = 0

    def acquire(self, *, urgent: bool = False, unless: Callable[[], bool] | None = None) -> bool:
        """Take the lock; a non-urgent caller also waits while an urgent one does.

        With ``unless``, give up waiting (False, the lock not taken) as soon as it is true: a
        store whose row another thread's batch has committed meanwhile needs the lock no more,
        and would otherwise take it only to give it back (a handover per row of every batch).
        """
        with self._condition:
            self._urgent += urgent
            try:
                while self._held or (not urgent and self._urgent):
                    if unless is not None and unless():
                        return False
                    self._condition.wait()
                if unless is not None and unless():
                    return False
                self._held = True
                return True
            finally:
                self._urgent -= urgent
                if urgent and not self._urgent and not self._held:
                    # An urgent waiter that gave up: those it held back may go now (a release
                    # would have woken them, but nobody took the lock to release it).
                    self._condition.notify_all()

    def release(self) -> None:
        """Give the lock back and wake the waiters (the urgent ones take it first)."""
        with self._condition:
            self._held = False
            self._condition.notify_all()

    def __enter__(self) -> None:
        self.acquire()

    def __exit__(self, *_exc: object) -> None:
        self.release()


_SQLITE_WRITERS = _WriterLock()
"""Serialises this process's SQLite write transactions on the inbox (see ``Inbox._transaction``)."""


@dataclass(slots=True)
class _Pending:
    """A delivery waiting for the group commit: its row and, once committed, the answer."""

    row: dict[str, Any]
    event: str
    done: threading.Event = field(default_factory=threading.Event)
    taken: bool = False
    """PostgreSQL: a batch holds it (its committer answers it)."""
    stored: Stored | None = None
    error: BaseException | None = None


@dataclass(frozen=True, slots=True)
class _Copy:
    """The newest stored delivery of a body.

    In the database (``seq``) or earlier in the batch (``index`` in its stored rows).
    """

    seq: int | None
    received_at: str
    index: int | None


POSTGRESQL_BATCHES_IN_FLIGHT = 2
"""PostgreSQL: how many intake batches of one process commit at once. While one waits for its
WAL flush, the next collects the stores that arrive meanwhile: the commits overlap (as separate
stores' would) and each is shared by every store waiting when it began."""


_INSERT = insert(inbox)
"""One compiled statement for every delivery (values bound per call: no per-call compiling)."""
_SEEN_IDS = select(inbox.c.delivery_id).where(
    inbox.c.delivery_id.in_(bindparam("ids", expanding=True))
)
_COPIES = select(inbox.c.seq, inbox.c.body_sha256, inbox.c.received_at).where(
    inbox.c.body_sha256.in_(bindparam("bodies", expanding=True))
)
_BODY_LOCK_SPACE = 0x65756372
"""PostgreSQL only: the first key of ``pg_advisory_xact_lock(int, int)`` held while a body is
checked and stored; the second is taken from the body's digest (two-key locks never meet the
one-key locks of the migrations and the audit log)."""
_BODY_LOCK = text("SELECT pg_advisory_xact_lock(CAST(:space AS integer), CAST(:key AS integer))")
_BODY_LOCKS = text(
    "SELECT pg_advisory_xact_lock(CAST(:space AS integer), key)"
    " FROM unnest(CAST(:keys AS integer[])) WITH ORDINALITY AS taken(key, n) ORDER BY n"
)
"""A batch's body locks, one statement, in the (ascending) order given: two batches that lock
the same bodies take them in the same order, so they never wait for each other in a circle."""
_LEASE_EXPIRED = "lease expired: the worker was lost"
_COALESCING = (DeliveryKind.EVALUATE.value, DeliveryKind.MERGE_GROUP.value)
_FOLDING = DeliveryKind.REVIEW.value


class Status(StrEnum):
    """An inbox row's state (see the module docstring)."""

    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    COLLAPSED = "collapsed"
    SUPERSEDED = "superseded"
    IGNORED = "ignored"


class Stored(StrEnum):
    """What ``Inbox.store`` did with a delivery."""

    STORED = "stored"
    DUPLICATE = "duplicate"
    """The delivery id was stored before (a redelivery): not stored or processed again."""
    REPLAY = "replay"
    """The same body was stored under another delivery id within the replay window: not run."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Claim:
    """A delivery leased to one worker, and the deliveries settled into it.

    ``collapsed`` and ``superseded`` name them whether this claim or, for a retried delivery,
    an earlier one settled them: the worker audits them once, when the delivery ends.
    """

    delivery: Delivery
    owner: str
    collapsed: tuple[str, ...] = ()
    superseded: tuple[str, ...] = ()


def format_time(moment: datetime) -> str:
    """RFC 3339 UTC text with microseconds: sorts as time does."""
    if moment.tzinfo is None:
        raise ValueError("inbox times need a time zone")
    return moment.astimezone(UTC).strftime(_TIME_FORMAT)


def parse_time(text: str) -> datetime:
    """The inverse of ``format_time``."""
    return datetime.strptime(text, _TIME_FORMAT).replace(tzinfo=UTC)


def new_owner() -> str:
    """A fresh lease owner id (one per claim)."""
    return uuid.uuid4().hex


class Inbox:
    """The ``inbox`` table: store, claim, complete, fail, sweep, count."""

    def __init__(
        self,
        engine: Engine,
        *,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        replay_window: timedelta = DEFAULT_REPLAY_WINDOW,
    ) -> None:
        if replay_window < timedelta(0):
            raise ValueError("the replay window must not be negative")
        if lease_seconds <= 0:
            raise ValueError("the inbox lease must be positive")
        self._engine = engine
        self._waiting: list[_Pending] = []
        self._waiting_lock = threading.Lock()
        self._batch_ended = threading.Condition(self._waiting_lock)
        self._batches_in_flight = 0
        self.lease_seconds = lease_seconds
        self.max_attempts = max_attempts
        self.replay_window = replay_window

    @property
    def engine(self) -> Engine:
        """The database engine."""
        return self._engine

    # --- intake -----------------------------------------------------------------------------------

    def store(
        self,
        *,
        delivery_id: str,
        routing: Routing,
        body: bytes,
        body_sha256: str,
        received_at: datetime,
    ) -> Stored:
        """Commit the delivery (``pending``, or ``ignored``), or say it is a duplicate or replay.

        Returns only once the row is committed: the caller may acknowledge then, never before.
        """
        row = inbox_row(
            delivery_id=delivery_id,
            routing=routing,
            body=body,
            body_sha256=body_sha256,
            received_at=received_at,
        )
        try:
            return self._store(row, routing.event)
        except DBAPIError as error:
            if not is_transient(error):
                raise
        # Busy or a lost connection: retried with a short, jittered backoff (the sender waits).
        stored = Stored.STORED
        for attempt in _retrying(timeout=STORE_RETRY_SECONDS):
            with attempt:
                stored = self._store(row, routing.event)
        return stored

    def _store(self, row: dict[str, Any], event: str) -> Stored:
        """Check for a duplicate or replay and insert, in one transaction (see the docstring)."""
        if not is_postgresql(self._engine):
            return self._store_grouped(row, event)
        return self._store_batched(row, event)

    def _store_batched(self, row: dict[str, Any], event: str) -> Stored:
        """PostgreSQL: the stores waiting in this process share one transaction and one commit.

        Each store queues its row. When fewer than ``POSTGRESQL_BATCHES_IN_FLIGHT`` batches are
        committing, the store takes every queued row (its own included) as a batch and commits
        it: the body locks of the batch first (in ascending order), then each row checked as it
        would be alone, in arrival order (the rows before it in the batch included), then one
        commit. Otherwise it waits until a batch takes its row or a slot frees. Nobody returns
        before its row is committed; a batch that fails answers every row in it with the error
        (the web answers 503: never 202 for what was not stored).
        """
        pending = _Pending(row, event)
        with self._batch_ended:
            self._waiting.append(pending)
            while not pending.taken and self._batches_in_flight >= POSTGRESQL_BATCHES_IN_FLIGHT:
                self._batch_ended.wait()
            batch: list[_Pending] = []
            if not pending.taken:
                batch, self._waiting = self._waiting, []
                for taken in batch:
                    taken.taken = True
                self._batches_in_flight += 1
        if batch:
            try:
                self._commit_postgresql_batch(batch)
            finally:
                with self._batch_ended:
                    self._batches_in_flight -= 1
                    self._batch_ended.notify_all()
        pending.done.wait()
        if pending.error is not None:
            raise pending.error
        assert pending.stored is not None  # noqa: S101 - set before done
        return pending.stored

    def _commit_postgresql_batch(self, batch: list[_Pending]) -> None:
        """Store ``batch`` in one transaction; answer each (the error, when it failed)."""
        try:
            with self._engine.begin() as connection:
                keys = sorted({_body_key(p.row) for p in batch})
                connection.execute(_BODY_LOCKS, {"space": _BODY_LOCK_SPACE, "keys": keys})
                answers = self._check_and_insert_all(connection, [(p.row, p.event) for p in batch])
        except IntegrityError:
            # Another writer stored one of these delivery ids just now: each alone then.
            for pending in batch:
                self._answer_alone(pending)
            return
        except BaseException as error:  # noqa: BLE001 - each waiter raises it in its own thread
            _fail_all(batch, error)
            return
        _answer_all(batch, answers)

    def _answer_alone(self, pending: _Pending) -> None:
        try:
            pending.stored = self._store_one_postgresql(pending.row, pending.event)
        except BaseException as error:  # noqa: BLE001 - raised in the waiter's thread
            pending.error = error
        pending.done.set()

    def _store_one_postgresql(self, row: dict[str, Any], event: str) -> Stored:
        try:
            with self._engine.begin() as connection:
                connection.execute(_BODY_LOCK, {"space": _BODY_LOCK_SPACE, "key": _body_key(row)})
                return self._check_and_insert(connection, row, event)
        except IntegrityError:
            with self._engine.connect() as connection:
                seen = connection.execute(
                    select(inbox.c.seq).where(inbox.c.delivery_id == row["delivery_id"])
                ).first()
            if seen is None:
                raise  # not a duplicate delivery id: never answered as stored
            return Stored.DUPLICATE  # the same delivery id, stored by another writer just now

    def _store_grouped(self, row: dict[str, Any], event: str) -> Stored:
        """SQLite: the stores waiting in this process share one transaction and one fsync.

        Each store queues its row, then waits for the writers' lock (before any claim or
        completion). The first to get it commits every queued row, in arrival order, each
        checked as it would be alone (the rows before it in the batch included); the others,
        woken with their rows committed, return without taking the lock. Nobody returns before
        its row is committed, so the acknowledgement still waits for its own durable commit.
        """
        pending = _Pending(row, event)
        with self._waiting_lock:
            self._waiting.append(pending)
        if _SQLITE_WRITERS.acquire(urgent=True, unless=pending.done.is_set):
            try:
                if not pending.done.is_set():
                    with self._waiting_lock:
                        batch, self._waiting = self._waiting, []
                    self._commit_batch(batch)
            finally:
                _SQLITE_WRITERS.release()
        if pending.error is not None:
            raise pending.error
        assert pending.stored is not None  # noqa: S101 - set before done
        return pending.stored

    def _commit_batch(self, batch: list[_Pending]) -> None:
        """Store ``batch`` in one transaction (holding ``_SQLITE_WRITERS``); answer each."""
        try:
            try:
                with write_transaction(self._engine, INBOX_LOCK_KEY) as connection:
                    answers = self._check_and_insert_all(
                        connection, [(p.row, p.event) for p in batch]
                    )
            except IntegrityError:
                # Not expected under SQLite's write lock; each row alone then, as before.
                answers = [self._store_alone(p) for p in batch]
        except BaseException as error:
            _fail_all(batch, error)
            raise
        _answer_all(batch, answers)

    def _store_alone(self, pending: _Pending) -> Stored:
        try:
            with write_transaction(self._engine, INBOX_LOCK_KEY) as connection:
                return self._check_and_insert(connection, pending.row, pending.event)
        except IntegrityError:
            return Stored.DUPLICATE

    def _check_and_insert(self, connection: Connection, row: dict[str, Any], event: str) -> Stored:
        """In the caller's transaction: a duplicate, a replay, or the row inserted."""
        return self._check_and_insert_all(connection, [(row, event)])[0]

    def _check_and_insert_all(
        self, connection: Connection, rows: Sequence[tuple[dict[str, Any], str]]
    ) -> list[Stored]:
        """In the caller's transaction: each row a duplicate, a replay or inserted, in order.

        Each row is judged as it would be alone, the rows stored before it in the batch
        included; but the batch costs three statements (the ids seen, the bodies' newest copies,
        one insert), not three a row: its transaction holds the writers' lock, so its length
        is what every other writer waits.
        """
        ids = [row["delivery_id"] for row, _ in rows]
        seen = set(connection.execute(_SEEN_IDS, {"ids": ids}).scalars())
        newest = self._newest_copies(connection, rows)
        answers: list[Stored] = []
        stored: list[dict[str, Any]] = []
        for row, event in rows:
            if row["delivery_id"] in seen:
                answers.append(Stored.DUPLICATE)
                continue
            copy = newest.get(row["body_sha256"])
            earlier = None
            if copy is not None:
                changed = event in TIMELESS_EVENTS and self._changed_since(
                    connection, row, event, copy, stored
                )
                earlier = EarlierBody(
                    received_at=parse_time(copy.received_at), changed_since=changed
                )
            received_at = parse_time(row["received_at"])
            if is_replay(event, earlier, received_at=received_at, window=self.replay_window):
                answers.append(Stored.REPLAY)
                continue
            seen.add(row["delivery_id"])
            newest[row["body_sha256"]] = _Copy(None, row["received_at"], len(stored))
            stored.append(row)
            answers.append(Stored.STORED)
        if stored:
            connection.execute(_INSERT, stored)  # one compiled statement, executemany
        return answers

    def _newest_copies(
        self, connection: Connection, rows: Sequence[tuple[dict[str, Any], str]]
    ) -> dict[str, _Copy]:
        """The newest stored delivery of each body in ``rows`` (none when the check is off)."""
        if not self.replay_window:
            return {}
        bodies = sorted({row["body_sha256"] for row, _ in rows})
        newest: dict[str, _Copy] = {}
        for seq, body, received in connection.execute(_COPIES, {"bodies": bodies}):
            known = newest.get(body)
            if known is None or seq > (known.seq or 0):
                newest[body] = _Copy(seq, received, None)
        return newest

    @staticmethod
    def _changed_since(
        connection: Connection,
        row: dict[str, Any],
        event: str,
        copy: _Copy,
        stored: list[dict[str, Any]],
    ) -> bool:
        """Whether ``event`` came for the same installation with another body after ``copy``.

        Looked for in this batch and, for a copy in the database, in the database.
        """
        after = stored if copy.index is None else stored[copy.index + 1 :]
        installation = row["installation_id"]
        if any(
            other["event"] == event
            and other["installation_id"] == installation
            and other["body_sha256"] != row["body_sha256"]
            for other in after
        ):
            return True
        if copy.seq is None:
            return False
        return (
            connection.execute(
                select(inbox.c.seq)
                .where(
                    inbox.c.seq > copy.seq,
                    inbox.c.event == event,
                    inbox.c.installation_id.is_(None)
                    if installation is None
                    else inbox.c.installation_id == installation,
                    inbox.c.body_sha256 != row["body_sha256"],
                )
                .limit(1)
            ).first()
            is not None
        )

    # --- workers ----------------------------------------------------------------------------------

    def claim(self, *, now: datetime, prefer: str | None = None) -> Claim | None:
        """Lease the next delivery to run, or ``None`` when nothing is due.

        ``prefer`` (a delivery id, from a queue message) is taken first when it is due.
        """
        for _ in range(_CLAIM_CONFLICT_RETRIES):
            try:
                for attempt in _retrying():
                    with attempt, self._transaction() as connection:
                        return self._claim(connection, now=now, prefer=prefer)
            except IntegrityError:
                # Another worker started a delivery of the same PR at the same moment.
                continue
        return None

    def _claim(self, connection: Connection, *, now: datetime, prefer: str | None) -> Claim | None:
        stamp = format_time(now)
        running = inbox.alias("running")
        busy = exists().where(
            and_(
                running.c.status == Status.RUNNING,
                running.c.serial_key == inbox.c.serial_key,
            )
        )
        query = (
            select(inbox.c.seq, inbox.c.kind, inbox.c.serial_key)
            .where(inbox.c.status == Status.PENDING, inbox.c.not_before <= stamp, ~busy)
            .order_by(inbox.c.seq)
            .limit(1)
        )
        chosen = None
        if prefer is not None:
            chosen = connection.execute(
                self._locking(query.where(inbox.c.delivery_id == prefer))
            ).first()
        chosen = chosen or connection.execute(self._locking(query)).first()
        if chosen is None:
            return None
        runner_seq: int = chosen.seq
        collapsed: tuple[str, ...] = ()
        superseded: tuple[str, ...] = ()
        if chosen.kind in _COALESCING and chosen.serial_key is not None:
            runner_seq, collapsed, superseded = self._settle_group(connection, chosen, stamp)
        elif chosen.kind == _FOLDING and chosen.serial_key is not None:
            runner_seq, collapsed = self._fold_reviews(connection, chosen, stamp)
        owner = new_owner()
        lease_until = format_time(now + timedelta(seconds=self.lease_seconds))
        connection.execute(
            update(inbox)
            .where(inbox.c.seq == runner_seq, inbox.c.status == Status.PENDING)
            .values(
                status=Status.RUNNING,
                attempts=inbox.c.attempts + 1,
                lease_owner=owner,
                lease_until=lease_until,
            )
        )
        row = connection.execute(select(inbox).where(inbox.c.seq == runner_seq)).one()
        if collapsed or superseded or row.attempts > 1:
            # A retried runner (failed, or its worker lost) still answers for what it settled.
            settled = connection.execute(
                select(inbox.c.delivery_id, inbox.c.status)
                .where(inbox.c.merged_into == row.delivery_id)
                .order_by(inbox.c.seq)
            ).all()
            collapsed = tuple(r.delivery_id for r in settled if r.status == Status.COLLAPSED)
            superseded = tuple(r.delivery_id for r in settled if r.status == Status.SUPERSEDED)
        delivery = _delivery(row)
        if row.kind == _FOLDING:
            folded = connection.execute(
                select(inbox)
                .where(
                    inbox.c.merged_into == row.delivery_id,
                    inbox.c.status == Status.COLLAPSED,
                    inbox.c.kind == _FOLDING,
                )
                .order_by(inbox.c.seq)
            ).all()
            delivery = replace(delivery, folded=tuple(_delivery(r) for r in folded))
        return Claim(delivery=delivery, owner=owner, collapsed=collapsed, superseded=superseded)

    def _fold_reviews(
        self, connection: Connection, chosen: Row[Any], stamp: str
    ) -> tuple[int, tuple[str, ...]]:
        """Run the newest of the reviews waiting in a row behind ``chosen``; collapse the others.

        The row stops at the PR's next pending delivery of another kind (a merge, a command): a
        review that arrived after it is not decided before it.
        """
        later = connection.execute(
            self._locking(
                select(inbox.c.seq, inbox.c.delivery_id, inbox.c.kind)
                .where(
                    inbox.c.status == Status.PENDING,
                    inbox.c.serial_key == chosen.serial_key,
                    inbox.c.seq >= chosen.seq,
                )
                .order_by(inbox.c.seq)
            )
        ).all()
        group = []
        for row in later:
            if row.kind != _FOLDING:
                break
            group.append(row)
        runner, older = group[-1], group[:-1]
        if older:
            _adopt(connection, [r.delivery_id for r in older], runner.delivery_id)
            connection.execute(
                update(inbox)
                .where(inbox.c.seq.in_([r.seq for r in older]), inbox.c.status == Status.PENDING)
                .values(
                    status=Status.COLLAPSED,
                    outcome=Status.COLLAPSED.value,
                    merged_into=runner.delivery_id,
                    finished_at=stamp,
                )
            )
        return runner.seq, tuple(r.delivery_id for r in older)

    def _settle_group(
        self, connection: Connection, chosen: Row[Any], stamp: str
    ) -> tuple[int, tuple[str, ...], tuple[str, ...]]:
        """Run the newest pending evaluation of the PR; collapse or supersede the older ones."""
        group = connection.execute(
            self._locking(
                select(inbox.c.seq, inbox.c.delivery_id, inbox.c.head_sha)
                .where(
                    inbox.c.status == Status.PENDING,
                    inbox.c.serial_key == chosen.serial_key,
                    inbox.c.kind == chosen.kind,
                )
                .order_by(inbox.c.seq)
            )
        ).all()
        runner = group[-1]
        collapsed = [r for r in group[:-1] if r.head_sha == runner.head_sha]
        superseded = [r for r in group[:-1] if r.head_sha != runner.head_sha]
        _adopt(connection, [r.delivery_id for r in group[:-1]], runner.delivery_id)
        for rows, status in ((collapsed, Status.COLLAPSED), (superseded, Status.SUPERSEDED)):
            if rows:
                connection.execute(
                    update(inbox)
                    .where(inbox.c.seq.in_([r.seq for r in rows]))
                    .values(
                        status=status,
                        outcome=status.value,
                        merged_into=runner.delivery_id,
                        finished_at=stamp,
                    )
                )
        return (
            runner.seq,
            tuple(r.delivery_id for r in collapsed),
            tuple(r.delivery_id for r in superseded),
        )

    def renew(self, claim: Claim, *, now: datetime) -> bool:
        """Extend a running claim's lease by ``lease_seconds`` from ``now`` (the heartbeat).

        ``False`` when the lease was lost (expired and taken over): the worker should let go.
        """
        until = format_time(now + timedelta(seconds=self.lease_seconds))
        return self._update_held(claim, lease_until=until)

    def _update_held(self, claim: Claim, **values: Any) -> bool:
        """Update the claim's row while this claim still holds it; whether it did."""
        with self._transaction() as connection:
            result = connection.execute(
                update(inbox)
                .where(
                    inbox.c.delivery_id == claim.delivery.delivery_id,
                    inbox.c.status == Status.RUNNING,
                    inbox.c.lease_owner == claim.owner,
                )
                .values(**values)
            )
        return result.rowcount == 1

    def complete(self, claim: Claim, *, outcome: str, now: datetime) -> bool:
        """Record the handler's outcome; ``False`` when the lease was lost (nothing changed)."""
        return self._update_held(
            claim,
            status=Status.DONE,
            outcome=outcome,
            finished_at=format_time(now),
            lease_owner=None,
            lease_until=None,
            error=None,
        )

    def fail(self, claim: Claim, *, reason: str, now: datetime) -> Status | None:
        """Record a failed attempt: ``pending`` again after a backoff, or ``failed`` when used up.

        Returns the new status, or ``None`` when the lease was lost (nothing changed).
        """
        reason = " ".join(reason.split())[:500] or "failed"
        with self._transaction() as connection:
            attempts = connection.execute(
                select(inbox.c.attempts).where(
                    inbox.c.delivery_id == claim.delivery.delivery_id,
                    inbox.c.status == Status.RUNNING,
                    inbox.c.lease_owner == claim.owner,
                )
            ).scalar()
            if attempts is None:
                return None
            values: dict[str, Any] = {"lease_owner": None, "lease_until": None, "error": reason}
            if attempts >= self.max_attempts:
                status = Status.FAILED
                values |= {"outcome": "failed", "finished_at": format_time(now)}
            else:
                status = Status.PENDING
                delay = timedelta(seconds=retry_delay_seconds(attempts))
                values["not_before"] = format_time(now + delay)
            connection.execute(
                update(inbox)
                .where(
                    inbox.c.delivery_id == claim.delivery.delivery_id,
                    inbox.c.lease_owner == claim.owner,
                )
                .values(status=status, **values)
            )
        return status

    def release_expired(self, *, now: datetime) -> int:
        """The sweeper: leases past their time go back to ``pending`` (``failed`` when used up).

        A lease expires when its worker died (``kill -9``, OOM, lost machine) mid-delivery.
        """
        stamp = format_time(now)
        expired = and_(inbox.c.status == Status.RUNNING, inbox.c.lease_until < stamp)
        cleared = {"lease_owner": None, "lease_until": None}
        with self._transaction() as connection:
            used_up = connection.execute(
                update(inbox)
                .where(expired, inbox.c.attempts >= self.max_attempts)
                .values(
                    status=Status.FAILED,
                    outcome="failed",
                    finished_at=stamp,
                    error="the worker was lost on every attempt",
                    **cleared,
                )
            ).rowcount
            released = connection.execute(
                update(inbox)
                .where(expired)
                .values(
                    status=Status.PENDING, error="lease expired: the worker was lost", **cleared
                )
            ).rowcount
        return int(used_up + released)

    # --- reading ----------------------------------------------------------------------------------

    def depth(self) -> dict[str, int]:
        """How many deliveries wait (``pending``) and run (``running``) now."""
        with self._engine.connect() as connection:
            rows = connection.execute(
                select(inbox.c.status, func.count())
                .where(inbox.c.status.in_([Status.PENDING, Status.RUNNING]))
                .group_by(inbox.c.status)
            ).all()
        counts = {Status.PENDING.value: 0, Status.RUNNING.value: 0}
        counts.update({str(status): int(count) for status, count in rows})
        return counts

    def due(self, *, now: datetime, limit: int = 100) -> list[str]:
        """Delivery ids of pending rows that are due (to wake workers up after a restart)."""
        with self._engine.connect() as connection:
            return list(
                connection.execute(
                    select(inbox.c.delivery_id)
                    .where(
                        inbox.c.status == Status.PENDING,
                        inbox.c.not_before <= format_time(now),
                    )
                    .order_by(inbox.c.seq)
                    .limit(limit)
                ).scalars()
            )

    def get(self, delivery_id: str) -> dict[str, Any] | None:
        """One row as a dict (the body left out), for status pages and tests."""
        with self._engine.connect() as connection:
            row = connection.execute(
                select(*(c for c in inbox.c if c.name != "body")).where(
                    inbox.c.delivery_id == delivery_id
                )
            ).first()
        return dict(row._mapping) if row else None  # noqa: SLF001 - SQLAlchemy's public API

    def known(self, delivery_ids: Sequence[str]) -> set[str]:
        """Which of ``delivery_ids`` the inbox holds (for redelivery: what reached it)."""
        found: set[str] = set()
        wanted = list(dict.fromkeys(delivery_ids))
        with self._engine.connect() as connection:
            for start in range(0, len(wanted), 500):
                query = select(inbox.c.delivery_id).where(
                    inbox.c.delivery_id.in_(wanted[start : start + 500])
                )
                found.update(connection.execute(query).scalars())
        return found

    def rows(self, statuses: Sequence[str] = ()) -> list[dict[str, Any]]:
        """Every row (without bodies) in receive order, optionally of some statuses."""
        query = select(*(c for c in inbox.c if c.name != "body")).order_by(inbox.c.seq)
        if statuses:
            query = query.where(inbox.c.status.in_(list(statuses)))
        with self._engine.connect() as connection:
            return [dict(r._mapping) for r in connection.execute(query)]  # noqa: SLF001

    # --- helpers ----------------------------------------------------------------------------------

    def _transaction(self) -> AbstractContextManager[Connection]:
        """A write transaction (``bot.adapters.storage.db.row_locking_write``)."""
        return row_locking_write(self._engine, INBOX_LOCK_KEY, _SQLITE_WRITERS)

    def _locking(self, query: Any) -> Any:
        if is_postgresql(self._engine):
            return query.with_for_update(skip_locked=True, of=inbox)
        return query


def _adopt(connection: Connection, settled: list[str], runner: str) -> None:
    """What was settled into deliveries now settled into ``runner`` is ``runner``'s to answer for.

    A delivery goes back to pending with deliveries collapsed into it when its worker died or
    it failed; if a newer one then collapses it, its own are not left with nobody to audit them.
    """
    connection.execute(
        update(inbox).where(inbox.c.merged_into.in_(settled)).values(merged_into=runner)
    )


def inbox_row(
    *, delivery_id: str, routing: Routing, body: bytes, body_sha256: str, received_at: datetime
) -> dict[str, Any]:
    """A new delivery's inbox row (``pending``, or ``ignored``), as ``Inbox.store`` inserts it."""
    ignored = routing.kind is DeliveryKind.IGNORED
    received = format_time(received_at)
    return {
        "delivery_id": delivery_id,
        "body_sha256": body_sha256,
        "event": routing.event,
        "action": routing.action,
        "kind": routing.kind.value,
        "installation_id": routing.installation_id,
        "repository": routing.repository,
        "pr": routing.pr,
        "head_sha": routing.head_sha,
        "serial_key": routing.serial_key,
        "coalesce_key": routing.coalesce_key,
        "body": body,
        "received_at": received,
        "status": Status.IGNORED if ignored else Status.PENDING,
        "outcome": Status.IGNORED.value if ignored else None,
        "attempts": 0,
        "not_before": received,
        "finished_at": received if ignored else None,
        "error": routing.reason or None,
    }


def _answer_all(batch: list[_Pending], answers: list[Stored]) -> None:
    """The batch is committed: each waiter gets its answer."""
    for pending, answer in zip(batch, answers, strict=True):
        pending.stored = answer
        pending.done.set()


def _fail_all(batch: list[_Pending], error: BaseException) -> None:
    """The batch failed: each waiter raises the error in its own thread."""
    for pending in batch:
        pending.error = error
        pending.done.set()


def _body_key(row: dict[str, Any]) -> int:
    """The second key of a body's advisory lock: a signed 32-bit int from its digest."""
    return int(row["body_sha256"][:8], 16) - 2**31


def _retrying(timeout: float = 60.0) -> Any:
    return stamina.retry_context(
        on=is_transient,
        attempts=20,
        timeout=timeout,
        wait_initial=0.01,
        wait_max=1.0,
        wait_jitter=0.05,
    )


def _delivery(row: Row[Any]) -> Delivery:
    return Delivery(
        delivery_id=row.delivery_id,
        event=row.event,
        action=row.action,
        kind=DeliveryKind(row.kind),
        installation_id=row.installation_id,
        repository=row.repository,
        pr=row.pr,
        head_sha=row.head_sha,
        body=bytes(row.body),
        body_sha256=row.body_sha256,
        received_at=parse_time(row.received_at),
        attempts=row.attempts,
    )
