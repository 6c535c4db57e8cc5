"""The rollouts table: each merged intent's ring-by-ring state, saved between reconcile passes.

A rollout starts when the merge's publication of its first ring succeeded (:meth:`RolloutStore.
start_published`, which also marks an older rollout of the same intent on the same plane
superseded, and a live rollout of an intent a later merge deleted retired: superseded, "retired
by the merge of #N"). Each pass loads the active rollouts, decides (``bot.core.gates``) and saves
the new state with :meth:`RolloutStore.save`: conditional on the revision it loaded, and in the SAME
transaction as the promotion's outbox row, so of two reconcilers racing on one rollout exactly one
moves it, and a crash between "decided" and "recorded" loses nothing and repeats nothing.

Named leases (:meth:`RolloutStore.lease`) let one replica at a time run the pass. Time is never
read here: callers pass ``now``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial
from typing import Any, TypeVar

import stamina
from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Row,
    and_,
    delete,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from bot.adapters.storage.audit_log import is_transient
from bot.adapters.storage.db import row_locking_write
from bot.adapters.storage.inbox import format_time, parse_time
from bot.adapters.storage.publications import OUTBOX_LOCK_KEY, SQLITE_WRITERS
from bot.adapters.storage.tables import changes, leases, publications, rollouts
from bot.core.evidence import canonical_json
from bot.core.gates import new_rollout, retire, ring_gates, supersede
from bot.core.publishing import PublicationAction, PublicationState
from bot.core.rollout_model import (
    FINAL_PHASES,
    OWED_PREFIX,
    Promotion,
    RolloutPhase,
    RolloutRecord,
    RolloutState,
    state_from_json,
    state_to_json,
)

_T = TypeVar("_T")
_LIVE = [phase.value for phase in RolloutPhase if phase not in FINAL_PHASES]


class RolloutStore:
    """Start, list, save rollouts; named leases."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    # --- starting ---------------------------------------------------------------------------------

    def start_published(self, *, now: datetime) -> tuple[RolloutRecord, ...]:
        """Start a rollout for every merge publication that succeeded and has none yet.

        The first ring's clock starts when its publication succeeded. An older live rollout of
        the same intent on the same plane in the same repository is superseded by it. A merge
        that deleted an intent (its ``retire`` publication, whatever its state: nothing more is
        promoted once the deletion is merged) retires the older live rollouts of that intent.
        """
        stamp = format_time(now)

        def work(connection: Connection) -> list[int]:
            _retire_deleted(connection, stamp)
            started: list[int] = []
            for row in connection.execute(_unstarted()).all():
                state = new_rollout(
                    intent=row.intent_name,
                    version=row.version,
                    plane=row.plane,
                    gates=ring_gates(json.loads(row.intent_json)),
                    started_at=parse_time(row.updated_at),
                )
                _supersede_older(connection, row, state.version, stamp)
                started.append(
                    int(
                        connection.execute(
                            insert(rollouts)
                            .values(
                                change_id=row.change_id,
                                repository=row.repository,
                                pr=row.pr,
                                installation_id=row.installation_id,
                                merge_sha=row.merge_sha,
                                path=row.path,
                                plane=row.plane,
                                intent_name=row.intent_name,
                                version=row.version,
                                intent_json=row.intent_json,
                                evidence_digest=row.evidence_digest,
                                emergency=bool(row.emergency),
                                state_json=_json(state_to_json(state)),
                                phase=state.phase.value,
                                revision=0,
                                created_at=stamp,
                                updated_at=stamp,
                            )
                            .returning(rollouts.c.id)
                        ).scalar_one()
                    )
                )
            return started

        try:
            ids = self._transact(work)
        except IntegrityError:  # another replica started them at the same moment
            return ()
        return tuple(record for i in ids if (record := self.get(i)) is not None)

    # --- reading ----------------------------------------------------------------------------------

    def get(self, rollout_id: int) -> RolloutRecord | None:
        """One rollout, or ``None``."""
        with self._engine.connect() as connection:
            row = connection.execute(select(rollouts).where(rollouts.c.id == rollout_id)).first()
        return _record(row) if row else None

    def live(self, *, limit: int = 100_000) -> tuple[RolloutRecord, ...]:
        """Rollouts still running or held, oldest first (what a reconcile pass looks at)."""
        with self._engine.connect() as connection:
            rows = connection.execute(
                select(rollouts)
                .where(rollouts.c.phase.in_(_LIVE))
                .order_by(rollouts.c.id)
                .limit(limit)
            ).all()
        return tuple(_record(row) for row in rows)

    def owing(self, *, limit: int = 1_000) -> tuple[RolloutRecord, ...]:
        """Rollouts, halted ones too, still owing an issue GitHub failed to take (oldest first).

        The reconciler marks an issue owed (``issue-owed:<kind>`` in the state's alerts) in the
        same save as the decision that needs it, and clears the mark once GitHub took it.
        """
        with self._engine.connect() as connection:
            rows = connection.execute(
                select(rollouts)
                .where(rollouts.c.state_json.contains(f'"{OWED_PREFIX}'))
                .order_by(rollouts.c.id)
                .limit(limit)
            ).all()
        found = (_record(row) for row in rows)
        return tuple(r for r in found if any(a.startswith(OWED_PREFIX) for a in r.state.alerts))

    def stuck_count(self) -> int:
        """Live rollouts with a ``stuck:<ring>`` alert (the ``eucora_stuck_rollouts`` gauge)."""
        return sum(1 for state in self._live_states_mentioning('"stuck:') if _stuck(state))

    def _live_states_mentioning(self, text: str) -> list[RolloutState]:
        """Live rollouts whose stored state holds ``text`` (narrowed in SQL, then read exactly)."""
        with self._engine.connect() as connection:
            rows = connection.execute(
                select(rollouts.c.state_json).where(
                    rollouts.c.phase.in_(_LIVE), rollouts.c.state_json.contains(text)
                )
            ).all()
        return [state_from_json(json.loads(row.state_json)) for row in rows]

    def recent(self, *, limit: int = 200) -> tuple[RolloutRecord, ...]:
        """The newest rollouts whatever their phase (the board and ``rollout status``)."""
        with self._engine.connect() as connection:
            rows = connection.execute(
                select(rollouts).order_by(rollouts.c.id.desc()).limit(limit)
            ).all()
        return tuple(_record(row) for row in rows)

    def of_pr(self, repository: str, pr: int) -> tuple[RolloutRecord, ...]:
        """The rollouts a merged PR started, by id."""
        with self._engine.connect() as connection:
            rows = connection.execute(
                select(rollouts)
                .where(rollouts.c.repository == repository, rollouts.c.pr == pr)
                .order_by(rollouts.c.id)
            ).all()
        return tuple(_record(row) for row in rows)

    def step_publication(self, record: RolloutRecord, step: int) -> int | None:
        """The outbox id of the rollout's publication of ring ``step`` (0: the merge's own)."""
        with self._engine.connect() as connection:
            found = connection.execute(
                select(publications.c.id).where(_of_step(record, step))
            ).first()
        return None if found is None else int(found[0])

    def in_flight(self, record: RolloutRecord, step: int) -> bool:
        """Whether the rollout's publication of ring ``step`` waits or runs (not yet done)."""
        busy = (PublicationState.PENDING.value, PublicationState.IN_PROGRESS.value)
        with self._engine.connect() as connection:
            found = connection.execute(
                select(publications.c.id).where(
                    _of_step(record, step), publications.c.state.in_(busy)
                )
            ).first()
        return found is not None

    # --- saving -----------------------------------------------------------------------------------

    def save(
        self,
        record: RolloutRecord,
        state: RolloutState,
        *,
        now: datetime,
        promotion: Promotion | None = None,
    ) -> tuple[bool, int | None]:
        """Save ``state`` if nobody saved since ``record`` was read; record the promotion too.

        Returns ``(saved, publication id)``: ``(False, None)`` when another reconciler moved the
        rollout first (nothing is written), the new outbox row's id when a promotion was recorded.
        """
        stamp = format_time(now)

        def work(connection: Connection) -> tuple[bool, int | None]:
            moved = connection.execute(
                update(rollouts)
                .where(rollouts.c.id == record.id, rollouts.c.revision == record.revision)
                .values(
                    state_json=_json(state_to_json(state)),
                    phase=state.phase.value,
                    revision=record.revision + 1,
                    updated_at=stamp,
                )
            ).rowcount
            if moved != 1:
                return False, None
            if promotion is None:
                return True, None
            return True, _record_promotion(connection, record, promotion, stamp)

        return self._transact(work)

    # --- leases -----------------------------------------------------------------------------------

    def lease(self, name: str, holder: str, *, now: datetime, seconds: float) -> bool:
        """Take or renew the named lease for ``holder``; ``False`` while another holds it."""
        stamp, until = format_time(now), format_time(now + timedelta(seconds=seconds))

        def work(connection: Connection) -> bool:
            taken = connection.execute(
                update(leases)
                .where(
                    leases.c.name == name, or_(leases.c.holder == holder, leases.c.until < stamp)
                )
                .values(holder=holder, until=until)
            ).rowcount
            if taken == 1:
                return True
            if connection.execute(select(leases.c.name).where(leases.c.name == name)).first():
                return False
            connection.execute(insert(leases).values(name=name, holder=holder, until=until))
            return True

        try:
            return self._transact(work)
        except IntegrityError:  # another replica inserted it first
            return False

    def release(self, name: str, holder: str) -> None:
        """Give the lease back (only the holder can)."""
        self._transact(
            lambda connection: connection.execute(
                delete(leases).where(leases.c.name == name, leases.c.holder == holder)
            )
        )

    @stamina.retry(
        on=is_transient,
        attempts=20,
        timeout=60.0,
        wait_initial=0.01,
        wait_max=1.0,
        wait_jitter=0.05,
    )
    def _transact(self, work: Callable[[Connection], _T]) -> _T:
        with row_locking_write(self._engine, OUTBOX_LOCK_KEY, SQLITE_WRITERS) as connection:
            return work(connection)


def _unstarted() -> Any:
    """Merge publications (step 0) that succeeded and have no rollout yet, with their change."""
    started = (
        select(rollouts.c.id)
        .where(
            rollouts.c.change_id == publications.c.change_id,
            rollouts.c.plane == publications.c.plane,
            rollouts.c.intent_name == publications.c.intent_name,
        )
        .exists()
    )
    return (
        select(
            publications.c.change_id,
            publications.c.repository,
            publications.c.pr,
            publications.c.plane,
            publications.c.intent_name,
            publications.c.version,
            publications.c.path,
            publications.c.intent_json,
            publications.c.evidence_digest,
            publications.c.updated_at,
            changes.c.installation_id,
            changes.c.emergency,
            changes.c.merge_sha,
        )
        .join(changes, changes.c.id == publications.c.change_id)
        .where(
            publications.c.step == 0,
            publications.c.action == PublicationAction.PUBLISH.value,
            publications.c.state == PublicationState.SUCCEEDED.value,
            ~started,
        )
        .order_by(publications.c.id)
    )


def _retire_deleted(connection: Connection, stamp: str) -> None:
    """Live rollouts of an intent that a later merge deleted: retired (they stop promoting)."""
    retirements = connection.execute(
        select(
            publications.c.change_id,
            publications.c.repository,
            publications.c.pr,
            publications.c.plane,
            publications.c.intent_name,
        )
        .where(
            publications.c.step == 0,
            publications.c.action == PublicationAction.RETIRE.value,
            select(rollouts.c.id).where(*_older_live(publications.c)).exists(),
        )
        .order_by(publications.c.id)
    ).all()
    for row in retirements:
        pr = int(row.pr)
        _stop_older(connection, row, partial(_retired, pr=pr), stamp)


def _retired(state: RolloutState, *, pr: int) -> RolloutState:
    return retire(state, pr)


def _older_live(row: Any) -> tuple[Any, ...]:
    """Live rollouts of ``row``'s intent on its plane, started by an earlier change."""
    return (
        rollouts.c.repository == row.repository,
        rollouts.c.plane == row.plane,
        rollouts.c.intent_name == row.intent_name,
        rollouts.c.change_id < row.change_id,
        rollouts.c.phase.in_(_LIVE),
    )


def _supersede_older(connection: Connection, row: Row[Any], version: str, stamp: str) -> None:
    _stop_older(connection, row, lambda state: supersede(state, version), stamp)


def _stop_older(
    connection: Connection,
    row: Any,
    stop: Callable[[RolloutState], RolloutState],
    stamp: str,
) -> None:
    older = connection.execute(select(rollouts).where(*_older_live(row))).all()
    for old in older:
        state = stop(state_from_json(json.loads(old.state_json)))
        connection.execute(
            update(rollouts)
            .where(rollouts.c.id == old.id)
            .values(
                state_json=_json(state_to_json(state)),
                phase=state.phase.value,
                revision=old.revision + 1,
                updated_at=stamp,
            )
        )


def _of_step(record: RolloutRecord, step: int) -> ColumnElement[bool]:
    """The rollout's publication of ring ``step``, as a condition on the outbox."""
    return and_(
        publications.c.change_id == record.change_id,
        publications.c.plane == record.state.plane,
        publications.c.intent_name == record.state.intent,
        publications.c.step == step,
    )


def _record_promotion(
    connection: Connection, record: RolloutRecord, promotion: Promotion, stamp: str
) -> int:
    intent = dict(record.intent)
    return int(
        connection.execute(
            insert(publications)
            .values(
                change_id=record.change_id,
                repository=record.repository,
                pr=record.pr,
                plane=record.state.plane,
                intent_name=record.state.intent,
                version=record.state.version,
                ring=promotion.ring,
                target=promotion.target,
                path=record.path,
                idempotency_key=promotion.idempotency_key,
                intent_json=_json(intent),
                evidence_digest=promotion.evidence_digest,
                state=PublicationState.PENDING.value,
                attempts=0,
                not_before=stamp,
                journal_json="{}",
                created_at=stamp,
                updated_at=stamp,
                step=promotion.step,
            )
            .returning(publications.c.id)
        ).scalar_one()
    )


def _record(row: Row[Any]) -> RolloutRecord:
    return RolloutRecord(
        id=int(row.id),
        change_id=int(row.change_id),
        repository=row.repository,
        pr=int(row.pr),
        installation_id=None if row.installation_id is None else int(row.installation_id),
        merge_sha=row.merge_sha,
        path=row.path,
        intent=json.loads(row.intent_json),
        evidence_digest=row.evidence_digest,
        emergency=bool(row.emergency),
        state=state_from_json(json.loads(row.state_json)),
        revision=int(row.revision),
        updated_at=parse_time(row.updated_at),
    )


def _stuck(state: RolloutState) -> bool:
    return any(alert.startswith("stuck:") for alert in state.alerts)


def _json(value: Any) -> str:
    return canonical_json(value).decode("utf-8")
