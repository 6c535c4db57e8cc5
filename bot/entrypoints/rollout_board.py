"""``GET /rollouts``: the rollout board, served by ``eucora serve`` beside the evidence pages.

The page is rendered by the pure core (:func:`bot.core.render.rollout_board.render_rollout_board`)
from the rollouts store; ``Accept: application/json`` gets the same rollouts as ``eucora rollout
status --format json`` (:func:`bot.core.render.rollouts.rollouts_json`). Each rollout links its
rollout evidence records, found in the audit log (the ``rollout.decided`` events that carry one).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from flask import Response, request
from sqlalchemy import Engine

from bot.adapters.storage.audit_log import AuditLog
from bot.adapters.storage.drift import DriftStore
from bot.adapters.storage.rollouts import RolloutStore
from bot.core.audit_events import AuditEventType
from bot.core.render.rollout_board import render_rollout_board
from bot.core.render.rollouts import DriftItems, rollouts_json
from bot.core.rollout_model import RolloutRecord

DECIDED = AuditEventType.ROLLOUT_DECIDED.value


@dataclass(frozen=True, slots=True, kw_only=True)
class RolloutBoard:
    """What the board reads: the recent rollouts, their evidence records, the clock."""

    recent: Callable[[], Sequence[RolloutRecord]]
    evidence: Callable[[Sequence[RolloutRecord]], Mapping[int, Sequence[str]]]
    clock: Callable[[], datetime]
    web_url: str
    """GitHub's web address (``https://github.com``, a GHES host), for PR and deployment links."""
    drift: Callable[[], Mapping[int, DriftItems]] = dict
    """The open drift of each rollout, by rollout id (``DriftStore.open_items``)."""


def rollout_board(engine: Engine, *, clock: Callable[[], datetime], web_url: str) -> RolloutBoard:
    """The board over the database's rollouts and audit log."""
    store, audit = RolloutStore(engine), AuditLog(engine)

    def evidence(records: Sequence[RolloutRecord]) -> Mapping[int, Sequence[str]]:
        return rollout_evidence(audit, records)

    return RolloutBoard(
        recent=store.recent,
        evidence=evidence,
        clock=clock,
        web_url=web_url,
        drift=DriftStore(engine).open_items,
    )


def rollout_evidence(audit: AuditLog, records: Sequence[RolloutRecord]) -> dict[int, list[str]]:
    """Each rollout's evidence digests, oldest first (one read of the log per merged PR)."""
    wanted = {record.id for record in records}
    found: dict[int, list[str]] = {}
    for repository, pr in sorted({(record.repository, record.pr) for record in records}):
        for event in audit.events(repository=repository, pr=pr):
            payload = event.payload if isinstance(event.payload, Mapping) else {}
            rollout, digest = payload.get("rollout"), payload.get("evidence")
            if event.type == DECIDED and rollout in wanted and isinstance(digest, str):
                found.setdefault(int(rollout), []).append(digest)
    return found


def board_response(board: RolloutBoard) -> Response:
    """The board as HTML, or its rollouts as JSON for ``Accept: application/json``."""
    records = board.recent()
    now = board.clock()
    offered = ("text/html", "application/json")
    wanted = request.accept_mimetypes.best_match(offered, default="text/html")
    if wanted == "application/json":
        view = rollouts_json(records, now=now, drift=board.drift())
        body = json.dumps(view, indent=2, sort_keys=True)
        response = Response(body + "\n", status=200, mimetype="application/json")
    else:
        page = render_rollout_board(
            records,
            now=now,
            web_url=board.web_url,
            evidence=board.evidence(records),
            drift=board.drift(),
        )
        response = Response(page, status=200, mimetype="text/html")
    response.vary.add("Accept")
    response.headers["Cache-Control"] = "no-store"
    return response
