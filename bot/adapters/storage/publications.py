"""The publications outbox: merged changes and their publications, leased to workers.

A merge is recorded once (``changes``, unique per repository, PR and merge SHA) together with one
publication per intent, plane and first ring, in ONE transaction and before any plane is called:
a crash after the commit loses nothing, a crash before it leaves nothing half-recorded, and a
redelivered merge event finds the rows already there.

State machine of a publication (``state``)::

    record ──► pending ──claim──► in_progress ──succeed──► succeeded
                 ▲ ▲                  │  │
                 │ └───retry_later────┘  └──fail──► failed ──reopen_failed──► pending (attempts 0)
                 │
                 └ an in_progress row whose lease expired (its worker died) is claimed again

* ``claim`` leases a row to one worker (a fresh ``owner`` id, ``lease_until``) and counts the
  attempt; exactly one of several concurrent claimers wins (``FOR UPDATE SKIP LOCKED`` on
  PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite). Giving up after too many attempts is the caller's
  decision (``bot.core.publishing.retry_decision`` reads ``attempts``).
* Everything a worker writes afterwards (journal notes, the outcome) is conditional on still
  owning the lease: a worker that lost it (it stalled past ``lease_until`` and another took over)
  changes nothing and learns so (``False``, or ``LeaseLostError`` from the journal).
* A change becomes ``final`` (with the digest of its stored change pack) once, when every one of
  its publications is final; ``reopen_failed`` makes it ``publishing`` again.

Time is never read here: callers pass ``now``. Times are stored as RFC 3339 UTC text, as in the
inbox, so they compare as text.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import Any, TypeVar

import stamina
from sqlalchemy import Connection, Engine, Row, Select, and_, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from bot.adapters.storage.audit_log import is_transient
from bot.adapters.storage.db import is_postgresql, row_locking_write
from bot.adapters.storage.inbox import format_time, new_owner, parse_time
from bot.adapters.storage.tables import changes, publications
from bot.core.evidence import canonical_json
from bot.core.publishing import FINAL_STATES, PublicationState
from bot.core.records import (
    ChangeRow,
    NewChange,
    NewPublication,
    PublicationClaim,
    PublicationRow,
)
from bot.errors import LeaseLostError, StorageError

OUTBOX_LOCK_KEY = 0x6575636F72610004
"""SQLite only: write_transaction's key (PostgreSQL locks rows, not the table)."""
DEFAULT_LEASE_SECONDS = 900.0
ERROR_LIMIT = 2000
"""Characters of an error message kept (a vendor's message can be long)."""

CHANGE_PUBLISHING = "publishing"
CHANGE_REFUSED = "refused"
CHANGE_FINAL = "final"

_PENDING = PublicationState.PENDING.value
_IN_PROGRESS = PublicationState.IN_PROGRESS.value
_SUCCEEDED = PublicationState.SUCCEEDED.value
_FAILED = PublicationState.FAILED.value
_FINAL = sorted(state.value for state in FINAL_STATES)
_T = TypeVar("_T")
_PUBLICATIONS = publications
SQLITE_WRITERS = threading.Lock()
"""Queues this process's SQLite writers on the outbox (see ``Outbox._writing``)."""


class PublicationJournal:
    """A claimed publication's durable notes (``connectors.base.Journal``), in ``journal_json``.

    ``put`` commits before it returns, and only while the claim still owns the lease: a worker
    that lost it gets ``LeaseLostError`` and must stop (another one runs the publication now).
    """

    def __init__(self, outbox: Outbox, claim: PublicationClaim) -> None:
        self._outbox = outbox
        self._claim = claim

    def get(self, key: str) -> str | None:
        """A value saved for this publication earlier (in this attempt or a previous one)."""
        return self._outbox._journal_read(self._claim.row.id).get(key)  # noqa: SLF001

    def put(self, key: str, value: str) -> None:
        """Save ``value`` under ``key``, committed; ``LeaseLostError`` when the lease is lost."""
        self._outbox._journal_write(self._claim, key, value)  # noqa: SLF001


class Outbox:
    """The ``changes`` and ``publications`` tables: record, claim, settle, retry, finalize."""

    def __init__(self, engine: Engine, *, lease_seconds: float = DEFAULT_LEASE_SECONDS) -> None:
        self._engine = engine
        self.lease_seconds = lease_seconds

    @property
    def engine(self) -> Engine:
        """The database engine."""
        return self._engine

    # --- recording a merge ------------------------------------------------------------------------

    def record_change(
        self, change: NewChange, publications: Sequence[NewPublication], *, now: datetime
    ) -> tuple[ChangeRow, tuple[PublicationRow, ...], bool]:
        """Record the change and its publications in one transaction; ``True`` when created.

        A change already recorded (same repository, PR and merge SHA: a redelivered merge event)
        is returned as stored, with ``False``, and nothing is written. A failure (e.g. two
        publications with the same plane and idempotency key) leaves nothing behind.
        """
        stamp = format_time(now)
        change_values = {
            "repository": change.repository,
            "pr": change.pr,
            "installation_id": change.installation_id,
            "head_sha": change.head_sha,
            "merge_sha": change.merge_sha,
            "check_digest": change.check_digest,
            "state": change.state,
            "emergency": change.emergency,
            "facts_json": _json(change.facts),
            "comment_head": change.comment_head,
            "followup_issue": None,
            "final_digest": None,
            "correlation_id": change.correlation_id,
            "created_at": stamp,
            "updated_at": stamp,
        }
        publication_values = [
            {
                "repository": change.repository,
                "pr": change.pr,
                "plane": p.plane,
                "intent_name": p.intent_name,
                "version": p.version,
                "ring": p.ring,
                "target": p.target,
                "path": p.path,
                "idempotency_key": p.idempotency_key,
                "intent_json": _json(p.intent),
                "evidence_digest": p.evidence_digest,
                "state": _PENDING,
                "attempts": 0,
                "not_before": stamp,
                "journal_json": "{}",
                "created_at": stamp,
                "updated_at": stamp,
                "action": p.action,
            }
            for p in publications
        ]

        def work(connection: Connection) -> tuple[int, bool]:
            existing = _find_change(connection, change)
            if existing is not None:
                return existing, False
            change_id = int(
                connection.execute(
                    insert(changes).values(change_values).returning(changes.c.id)
                ).scalar_one()
            )
            if publication_values:
                connection.execute(
                    insert(_PUBLICATIONS),  # the parameter hides the table's name here
                    [values | {"change_id": change_id} for values in publication_values],
                )
            return change_id, True

        try:
            change_id, created = self._transact(work)
        except IntegrityError as error:
            # Another process recorded the same merge at the same moment, or the input is bad.
            with self._engine.connect() as connection:
                existing = _find_change(connection, change)
            if existing is None:
                raise StorageError(
                    f"could not record the merge of {change.repository}#{change.pr}"
                    f" ({change.merge_sha}): {error.orig}"
                ) from error
            change_id, created = existing, False
        with self._engine.connect() as connection:
            return (
                _change(_one_change(connection, change_id)),
                _publications_of(connection, change_id),
                created,
            )

    # --- reading ----------------------------------------------------------------------------------

    def change(self, change_id: int) -> ChangeRow | None:
        """One change, or ``None``."""
        with self._engine.connect() as connection:
            row = connection.execute(select(changes).where(changes.c.id == change_id)).first()
        return _change(row) if row else None

    def latest_change(self, repository: str, pr: int) -> ChangeRow | None:
        """The PR's most recently recorded change (a PR merged once has one), or ``None``."""
        with self._engine.connect() as connection:
            row = connection.execute(
                select(changes)
                .where(changes.c.repository == repository, changes.c.pr == pr)
                .order_by(changes.c.id.desc())
                .limit(1)
            ).first()
        return _change(row) if row else None

    def unfinished_changes(self, *, limit: int = 100) -> tuple[ChangeRow, ...]:
        """Changes still ``publishing`` (the sweeper closes those whose publications are final)."""
        with self._engine.connect() as connection:
            rows = connection.execute(
                select(changes)
                .where(changes.c.state == CHANGE_PUBLISHING)
                .order_by(changes.c.id)
                .limit(limit)
            ).all()
        return tuple(_change(row) for row in rows)

    def publications(self, change_id: int) -> tuple[PublicationRow, ...]:
        """A change's publications, ordered by id."""
        with self._engine.connect() as connection:
            return _publications_of(connection, change_id)

    def get(self, publication_id: int) -> PublicationRow | None:
        """One publication, or ``None``."""
        with self._engine.connect() as connection:
            row = connection.execute(
                select(publications).where(publications.c.id == publication_id)
            ).first()
        return _publication(row) if row else None

    def all_final(self, change_id: int) -> bool:
        """Whether the change exists and every one of its publications is final."""
        with self._engine.connect() as connection:
            if connection.execute(select(changes.c.id).where(changes.c.id == change_id)).first():
                return _unfinished(connection, change_id) == 0
        return False

    def due(self, *, now: datetime, limit: int = 100) -> list[int]:
        """Ids to (re)enqueue: pending rows that are due, in-progress rows whose lease expired."""
        stamp = format_time(now)
        with self._engine.connect() as connection:
            return [
                int(i)
                for i in connection.execute(
                    select(publications.c.id)
                    .where(_claimable(stamp))
                    .order_by(publications.c.id)
                    .limit(limit)
                ).scalars()
            ]

    def depth(self) -> dict[str, int]:
        """How many publications are in each state (every state named, zeros included)."""
        with self._engine.connect() as connection:
            rows = connection.execute(
                select(publications.c.state, func.count()).group_by(publications.c.state)
            ).all()
        counts = {state.value: 0 for state in PublicationState}
        counts.update({str(state): int(count) for state, count in rows})
        return counts

    # --- workers ----------------------------------------------------------------------------------

    def claim(self, publication_id: int, *, now: datetime) -> PublicationClaim | None:
        """Lease the publication to a new owner and count the attempt; ``None`` when not claimable.

        Claimable: ``pending`` and due (``not_before <= now``), or ``in_progress`` with a lease
        that expired (its worker died). Final rows, rows not yet due and rows leased to a live
        worker are not. Of concurrent claimers, exactly one wins.
        """
        stamp = format_time(now)
        owner = new_owner()
        lease_until = format_time(now + timedelta(seconds=self.lease_seconds))

        def work(connection: Connection) -> PublicationRow | None:
            found = connection.execute(
                self._locking(
                    select(publications.c.id).where(
                        publications.c.id == publication_id, _claimable(stamp)
                    ),
                    skip_locked=True,
                )
            ).first()
            if found is None:
                return None
            connection.execute(
                update(publications)
                .where(publications.c.id == publication_id)
                .values(
                    state=_IN_PROGRESS,
                    attempts=publications.c.attempts + 1,
                    lease_owner=owner,
                    lease_until=lease_until,
                    updated_at=stamp,
                )
            )
            return _publication(
                connection.execute(
                    select(publications).where(publications.c.id == publication_id)
                ).one()
            )

        row = self._transact(work)
        return PublicationClaim(row=row, owner=owner) if row else None

    def journal(self, claim: PublicationClaim) -> PublicationJournal:
        """The claimed publication's journal (``connectors.base.Journal``)."""
        return PublicationJournal(self, claim)

    def succeed(self, claim: PublicationClaim, result: Mapping[str, Any], *, now: datetime) -> bool:
        """Record the plane's result (``PublishResult`` fields by name); ``False``: lease lost."""
        return self._settle(
            claim,
            state=_SUCCEEDED,
            result_json=_json(result),
            last_error=None,
            updated_at=format_time(now),
        )

    def retry_later(
        self, claim: PublicationClaim, *, error: str, not_before: datetime, now: datetime
    ) -> bool:
        """Back to ``pending``, due at ``not_before``; ``False`` when the lease was lost."""
        return self._settle(
            claim,
            state=_PENDING,
            not_before=format_time(not_before),
            last_error=_clip(error),
            updated_at=format_time(now),
        )

    def fail(self, claim: PublicationClaim, *, error: str, now: datetime) -> bool:
        """``failed`` for good (until a person retries); ``False`` when the lease was lost."""
        return self._settle(
            claim, state=_FAILED, last_error=_clip(error), updated_at=format_time(now)
        )

    def set_deployment(self, publication_id: int, deployment_id: int) -> None:
        """Remember the GitHub deployment that shows this publication on the PR."""
        self._transact(
            lambda connection: connection.execute(
                update(publications)
                .where(publications.c.id == publication_id)
                .values(deployment_id=deployment_id)
            )
        )

    # --- people and the change --------------------------------------------------------------------

    def reopen_failed(self, change_id: int, *, now: datetime) -> tuple[int, ...]:
        """Failed publications back to ``pending``, attempts 0, due now (``/eucora retry-publish``).

        A ``final`` change with reopened publications is ``publishing`` again and its
        ``final_digest`` is cleared: a new change pack is stored when they are final again.
        Returns the reopened ids.
        """
        stamp = format_time(now)

        def work(connection: Connection) -> tuple[int, ...]:
            _lock_change(connection, change_id, locking=self._locking)
            ids = tuple(
                int(i)
                for i in connection.execute(
                    select(publications.c.id)
                    .where(publications.c.change_id == change_id, publications.c.state == _FAILED)
                    .order_by(publications.c.id)
                ).scalars()
            )
            if not ids:
                return ()
            connection.execute(
                update(publications)
                .where(publications.c.id.in_(ids), publications.c.state == _FAILED)
                .values(
                    state=_PENDING,
                    attempts=0,
                    not_before=stamp,
                    lease_owner=None,
                    lease_until=None,
                    updated_at=stamp,
                )
            )
            connection.execute(
                update(changes)
                .where(changes.c.id == change_id, changes.c.state == CHANGE_FINAL)
                .values(state=CHANGE_PUBLISHING, final_digest=None, updated_at=stamp)
            )
            return ids

        return self._transact(work)

    def finalize_change(self, change_id: int, *, final_digest: str, now: datetime) -> bool:
        """Mark a ``publishing`` change ``final`` with its change pack's digest, once.

        Only when every publication is final, checked in the same transaction; ``True`` when
        this call set it (``False``: not all final, already final, refused, or unknown).
        """
        stamp = format_time(now)

        def work(connection: Connection) -> bool:
            state = _lock_change(connection, change_id, locking=self._locking)
            if state != CHANGE_PUBLISHING or _unfinished(connection, change_id):
                return False
            connection.execute(
                update(changes)
                .where(changes.c.id == change_id)
                .values(state=CHANGE_FINAL, final_digest=final_digest, updated_at=stamp)
            )
            return True

        return self._transact(work)

    def set_followup_issue(self, change_id: int, number: int) -> None:
        """Remember the issue opened for the post-implementation review."""
        self._transact(
            lambda connection: connection.execute(
                update(changes).where(changes.c.id == change_id).values(followup_issue=number)
            )
        )

    # --- helpers ----------------------------------------------------------------------------------

    def _settle(self, claim: PublicationClaim, **values: Any) -> bool:
        """Write the outcome of an attempt if the claim still owns the lease."""
        values |= {"lease_owner": None, "lease_until": None}

        def work(connection: Connection) -> bool:
            result = connection.execute(update(publications).where(*_owned(claim)).values(**values))
            return bool(result.rowcount == 1)

        return self._transact(work)

    def _journal_read(self, publication_id: int) -> dict[str, str]:
        with self._engine.connect() as connection:
            text = connection.execute(
                select(publications.c.journal_json).where(publications.c.id == publication_id)
            ).scalar()
        return _journal(text)

    def _journal_write(self, claim: PublicationClaim, key: str, value: str) -> None:
        def work(connection: Connection) -> None:
            text = connection.execute(
                self._locking(select(publications.c.journal_json).where(*_owned(claim)))
            ).scalar()
            if text is None:
                raise LeaseLostError(
                    f"publication {claim.row.id} ({claim.row.idempotency_key} on"
                    f" {claim.row.plane}): this worker's lease was lost, another one runs it now"
                )
            journal = _journal(text) | {key: value}
            connection.execute(
                update(publications).where(*_owned(claim)).values(journal_json=_json(journal))
            )

        self._transact(work)

    @stamina.retry(
        on=is_transient,
        attempts=20,
        timeout=60.0,
        wait_initial=0.01,
        wait_max=1.0,
        wait_jitter=0.05,
    )
    def _transact(self, work: Callable[[Connection], _T]) -> _T:
        """Run ``work`` in one write transaction, again from the start on a transient error."""
        with self._writing() as connection:
            return work(connection)

    def _writing(self) -> AbstractContextManager[Connection]:
        """A write transaction (``bot.adapters.storage.db.row_locking_write``)."""
        return row_locking_write(self._engine, OUTBOX_LOCK_KEY, SQLITE_WRITERS)

    def _locking(self, query: Select[Any], *, skip_locked: bool = False) -> Select[Any]:
        if is_postgresql(self._engine):
            return query.with_for_update(skip_locked=skip_locked)
        return query


def _claimable(stamp: str) -> Any:
    due = and_(publications.c.state == _PENDING, publications.c.not_before <= stamp)
    expired = and_(publications.c.state == _IN_PROGRESS, publications.c.lease_until < stamp)
    return or_(due, expired)


def _owned(claim: PublicationClaim) -> tuple[Any, ...]:
    return (
        publications.c.id == claim.row.id,
        publications.c.state == _IN_PROGRESS,
        publications.c.lease_owner == claim.owner,
    )


def _find_change(connection: Connection, change: NewChange) -> int | None:
    found = connection.execute(
        select(changes.c.id).where(
            changes.c.repository == change.repository,
            changes.c.pr == change.pr,
            changes.c.merge_sha == change.merge_sha,
        )
    ).scalar()
    return int(found) if found is not None else None


def _lock_change(
    connection: Connection, change_id: int, *, locking: Callable[[Select[Any]], Select[Any]]
) -> str | None:
    """The change's state, its row locked until commit (PostgreSQL; SQLite holds the db lock)."""
    state = connection.execute(
        locking(select(changes.c.state).where(changes.c.id == change_id))
    ).scalar()
    return str(state) if state is not None else None


def _unfinished(connection: Connection, change_id: int) -> int:
    return int(
        connection.execute(
            select(func.count()).where(
                publications.c.change_id == change_id,
                publications.c.step == 0,
                publications.c.state.not_in(_FINAL),
            )
        ).scalar_one()
    )


def _one_change(connection: Connection, change_id: int) -> Row[Any]:
    return connection.execute(select(changes).where(changes.c.id == change_id)).one()


def _publications_of(connection: Connection, change_id: int) -> tuple[PublicationRow, ...]:
    """The merge's own publications (step 0): what the change pack and its table list."""
    rows = connection.execute(
        select(publications)
        .where(publications.c.change_id == change_id, publications.c.step == 0)
        .order_by(publications.c.id)
    )
    return tuple(_publication(row) for row in rows)


def _change(row: Row[Any]) -> ChangeRow:
    return ChangeRow(
        id=int(row.id),
        repository=row.repository,
        pr=int(row.pr),
        installation_id=_int_or_none(row.installation_id),
        head_sha=row.head_sha,
        merge_sha=row.merge_sha,
        check_digest=row.check_digest,
        state=row.state,
        emergency=bool(row.emergency),
        facts=json.loads(row.facts_json),
        comment_head=row.comment_head,
        followup_issue=_int_or_none(row.followup_issue),
        final_digest=row.final_digest,
        correlation_id=row.correlation_id,
    )


def _publication(row: Row[Any]) -> PublicationRow:
    return PublicationRow(
        id=int(row.id),
        change_id=int(row.change_id),
        repository=row.repository,
        pr=int(row.pr),
        plane=row.plane,
        intent_name=row.intent_name,
        version=row.version,
        ring=row.ring,
        target=row.target,
        path=row.path,
        idempotency_key=row.idempotency_key,
        intent=json.loads(row.intent_json),
        evidence_digest=row.evidence_digest,
        state=row.state,
        attempts=int(row.attempts),
        not_before=parse_time(row.not_before),
        last_error=row.last_error,
        result=json.loads(row.result_json) if row.result_json is not None else None,
        journal=_journal(row.journal_json),
        deployment_id=_int_or_none(row.deployment_id),
        lease_owner=row.lease_owner,
        step=int(row.step),
        action=str(row.action),
    )


def _journal(text: str | None) -> dict[str, str]:
    return {str(k): str(v) for k, v in json.loads(text or "{}").items()}


def _json(value: Mapping[str, Any]) -> str:
    return canonical_json(dict(value)).decode("utf-8")


def _clip(error: str) -> str:
    return error if len(error) <= ERROR_LIMIT else error[: ERROR_LIMIT - 1] + "…"


def _int_or_none(value: Any) -> int | None:
    return int(value) if value is not None else None
