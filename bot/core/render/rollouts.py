"""Where rollouts stand, for people (text) and programs (JSON): ``rollout status``, the board.

One row per rollout: plane, version, phase and why, per ring its state, the success rate
against the gate's minimum, the counts last read and the soak left, and the open drift of its
(intent, plane). A function of the stored rollouts, their drift (given as data) and ``now`` (for
the soak left), so the CLI, the board page and tests agree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from fractions import Fraction
from typing import Any

from bot.core.gates import RingGate, percent, ring_gates, soak_left
from bot.core.rollout_model import RingState, RolloutRecord


def _ring_view(gate: RingGate | None, ring: RingState, now: datetime) -> dict[str, Any]:
    counts = ring.counts
    rate = None
    if counts is not None and counts[1] + counts[2]:
        rate = Fraction(counts[1], counts[1] + counts[2])
    left = soak_left(gate, ring, now) if gate is not None else None
    return {
        "name": ring.name,
        "phase": ring.phase.value,
        "verdict": ring.last_verdict,
        "startedAt": None if ring.started_at is None else ring.started_at.isoformat(),
        "targeted": None if counts is None else counts[0],
        "installed": None if counts is None else counts[1],
        "failed": None if counts is None else counts[2],
        "pending": None if counts is None else counts[3],
        "successRate": percent(rate) if rate is not None else None,
        "minSuccessPercent": None if gate is None else gate.min_success_percent,
        "maxFailures": None if gate is None else gate.max_failures,
        "soakLeftSeconds": None if left is None else int(left.total_seconds()),
        "readErrors": ring.read_errors,
    }


DriftItems = Sequence[Mapping[str, str]]
"""A rollout's open drift: ``field``, ``kind``, ``git`` and ``plane`` of each difference."""


def rollout_view(record: RolloutRecord, *, now: datetime, drift: DriftItems = ()) -> dict[str, Any]:
    """One rollout as plain data (the JSON form of the board and ``rollout status``).

    ``drift`` is the open drift the drift pass found on the rollout's plane (none: ``[]``).
    """
    gates = ring_gates(record.intent)
    state = record.state
    return {
        "id": record.id,
        "repository": record.repository,
        "pullRequest": record.pr,
        "mergeCommit": record.merge_sha,
        "path": record.path,
        "intent": state.intent,
        "version": state.version,
        "plane": state.plane,
        "phase": state.phase.value,
        "reason": state.reason,
        "alerts": sorted(state.alerts),
        "watching": state.rings[state.current].name if state.rings else None,
        "rings": [
            _ring_view(gates[i] if i < len(gates) else None, ring, now)
            for i, ring in enumerate(state.rings)
        ],
        "drift": [
            {key: str(item.get(key, "")) for key in ("field", "kind", "git", "plane")}
            for item in drift
        ],
    }


def rollouts_json(
    records: Sequence[RolloutRecord],
    *,
    now: datetime,
    drift: Mapping[int, DriftItems] | None = None,
) -> dict[str, Any]:
    """Every rollout given, newest first, as ``{"rollouts": [...]}``.

    ``drift`` maps a rollout's id to its open drift items.
    """
    found = drift or {}
    return {
        "rollouts": [
            rollout_view(record, now=now, drift=found.get(record.id, ())) for record in records
        ]
    }


def _soak(seconds: int | None) -> str:
    if seconds is None:
        return ""
    delta = timedelta(seconds=seconds)
    if not seconds:
        return ", soak done"
    hours = int(delta.total_seconds() // 3600)
    minutes = int(delta.total_seconds() % 3600 // 60)
    return f", soak {hours} h {minutes} min left"


def render_rollouts_text(records: Sequence[RolloutRecord], *, now: datetime) -> str:
    """The rollouts as text, a block each (``eucora rollout status``)."""
    if not records:
        return "No rollouts yet: one starts when a merge's first ring is published.\n"
    lines: list[str] = []
    for record in records:
        view = rollout_view(record, now=now)
        head = (
            f"{view['intent']} {view['version']} on {view['plane']}: {view['phase']}"
            f" ({view['repository']}#{view['pullRequest']})"
        )
        lines.append(head)
        if view["reason"]:
            lines.append(f"  why: {view['reason']}")
        for ring in view["rings"]:
            rate = ring["successRate"] or "n/a"
            gate = f" (gate {ring['minSuccessPercent']} %)" if ring["minSuccessPercent"] else ""
            counts = (
                ""
                if ring["targeted"] is None
                else f"; {ring['installed']}/{ring['targeted']} installed, {ring['failed']} failed,"
                f" {ring['pending']} pending"
            )
            lines.append(
                f"  {ring['name']:<10} {ring['phase']:<8} success {rate}{gate}{counts}"
                f"{_soak(ring['soakLeftSeconds'])}"
            )
        lines.extend(f"  alert: {alert}" for alert in view["alerts"])
        lines.append("")
    return "\n".join(lines)
