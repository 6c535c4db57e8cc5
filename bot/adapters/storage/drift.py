"""The drift table: what the last drift pass found per (repository, plane, intent).

Read and written by the drift pass (``bot.flows.drift``) under the reconcile lease; read by the
metrics at scrape time (``eucora_drift_open``). Remediation puts git's state back by reopening the
ring's own outbox row (same idempotency key, a fresh journal): the publisher runs it again and
the connector finds its object (or creates it again) and re-assigns. Time is never read here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func, insert, select, update

from bot.adapters.storage.inbox import format_time, parse_time
from bot.adapters.storage.rollouts import RolloutStore
from bot.adapters.storage.tables import drift, publications, rollouts
from bot.core.drift_state import DriftRow
from bot.core.evidence import canonical_json
from bot.core.publishing import PublicationState
from bot.core.rollout_model import RolloutPhase, RolloutRecord

WATCHED = (RolloutPhase.ACTIVE.value, RolloutPhase.HELD.value, RolloutPhase.COMPLETE.value)
"""Rollouts whose rings git still wants on the plane (superseded and halted ones are not)."""


class DriftStore:
    """Rows of the ``drift`` table; the rollouts drift watches; reopening a ring's publication."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._rollouts = RolloutStore(engine)

    def watched(self) -> tuple[RolloutRecord, ...]:
        """The newest running, held or complete rollout of each (repository, plane, intent)."""
        newest = (
            select(func.max(rollouts.c.id))
            .where(rollouts.c.phase.in_(WATCHED))
            .group_by(rollouts.c.repository, rollouts.c.plane, rollouts.c.intent_name)
        )
        with self._engine.connect() as connection:
            ids = [int(i) for i in connection.execute(newest).scalars()]
        return tuple(r for i in sorted(ids) if (r := self._rollouts.get(i)) is not None)

    def get(self, repository: str, plane: str, intent: str) -> DriftRow | None:
        """The row of that (repository, plane, intent), or ``None``."""
        with self._engine.connect() as connection:
            row = connection.execute(
                select(drift).where(
                    drift.c.repository == repository,
                    drift.c.plane == plane,
                    drift.c.intent_name == intent,
                )
            ).first()
        if row is None:
            return None
        return DriftRow(
            repository=row.repository,
            plane=row.plane,
            intent=row.intent_name,
            rollout_id=int(row.rollout_id),
            items=tuple(json.loads(row.items_json)),
            since=json.loads(row.since_json),
            open=bool(row.open),
            issue_number=None if row.issue_number is None else int(row.issue_number),
            remediations=int(row.remediations),
            next_remediation=None
            if row.next_remediation is None
            else parse_time(row.next_remediation),
            error=row.error,
        )

    def put(self, row: DriftRow, *, now: datetime) -> None:
        """Insert or replace the row of its (repository, plane, intent)."""
        values: dict[str, Any] = {
            "rollout_id": row.rollout_id,
            "items_json": _json(list(row.items)),
            "since_json": _json(dict(row.since)),
            "open": row.open,
            "issue_number": row.issue_number,
            "remediations": row.remediations,
            "next_remediation": None
            if row.next_remediation is None
            else format_time(row.next_remediation),
            "error": row.error,
            "updated_at": format_time(now),
        }
        key = (
            drift.c.repository == row.repository,
            drift.c.plane == row.plane,
            drift.c.intent_name == row.intent,
        )
        with self._engine.begin() as connection:
            if connection.execute(update(drift).where(*key).values(**values)).rowcount == 0:
                connection.execute(
                    insert(drift).values(
                        repository=row.repository,
                        plane=row.plane,
                        intent_name=row.intent,
                        **values,
                    )
                )

    def open_by_plane(self) -> dict[str, int]:
        """How many (repository, intent) drift on each plane now (the metric)."""
        with self._engine.connect() as connection:
            rows = connection.execute(
                select(drift.c.plane, func.count())
                .where(drift.c.open.is_(True))
                .group_by(drift.c.plane)
            ).all()
        return {str(plane): int(count) for plane, count in rows}

    def open_items(self) -> dict[int, tuple[Mapping[str, str], ...]]:
        """The open drift of each rollout drift watches, by rollout id (the rollout board)."""
        with self._engine.connect() as connection:
            rows = connection.execute(
                select(drift.c.rollout_id, drift.c.items_json).where(drift.c.open.is_(True))
            ).all()
        return {int(rollout): tuple(json.loads(items)) for rollout, items in rows}

    def published(self, record: RolloutRecord) -> tuple[int, ...] | None:
        """The rollout's ring steps the plane was told to hold; ``None`` while one is in flight.

        A step counts once its publication has succeeded (a reopened one still has its result);
        a publication pending or running (a promotion, a remediation) makes the plane's state
        not worth comparing yet.
        """
        with self._engine.connect() as connection:
            rows = connection.execute(
                select(publications.c.step, publications.c.state, publications.c.result_json).where(
                    publications.c.change_id == record.change_id,
                    publications.c.plane == record.state.plane,
                    publications.c.intent_name == record.state.intent,
                )
            ).all()
        busy = {PublicationState.PENDING.value, PublicationState.IN_PROGRESS.value}
        if any(row.state in busy for row in rows):
            return None
        return tuple(
            sorted(
                {
                    int(row.step)
                    for row in rows
                    if row.state == PublicationState.SUCCEEDED.value or row.result_json
                }
            )
        )

    def reopen(self, record: RolloutRecord, steps: Sequence[int], *, now: datetime) -> list[int]:
        """Put the rollout's publications of those ring steps back in the outbox, due now.

        Same row, same idempotency key; attempts back to 0 and a fresh journal, so a plane whose
        launches are journalled (Landscape, AWX) launches again. Rows still pending or running
        are left alone. Returns the reopened ids.
        """
        reopened: list[int] = []
        stamp = format_time(now)
        with self._engine.begin() as connection:
            for step in steps:
                found = self._rollouts.step_publication(record, step)
                if found is None:
                    continue
                moved = connection.execute(
                    update(publications)
                    .where(
                        publications.c.id == found,
                        publications.c.state.in_(
                            [PublicationState.SUCCEEDED.value, PublicationState.FAILED.value]
                        ),
                    )
                    .values(
                        state=PublicationState.PENDING.value,
                        attempts=0,
                        not_before=stamp,
                        lease_owner=None,
                        lease_until=None,
                        journal_json="{}",
                        updated_at=stamp,
                    )
                ).rowcount
                if moved:
                    reopened.append(found)
        return reopened


def _json(value: Any) -> str:
    return canonical_json(value).decode("utf-8")
