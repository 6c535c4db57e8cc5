"""The rollout section of a merged PR's sticky comment: each rollout ring by ring.

Markdown under the publication table: per rollout the intent, version, plane and phase (and
why it is held, halted or superseded), then a row per ring with its state, the success rate
against the gate's minimum, the devices installed and the soak left. A function of the PR's
stored rollouts and ``now`` (for the soak left), built from the same view as the board and
``eucora rollout status`` (:func:`bot.core.render.rollouts.rollout_view`), so they agree.

Every name comes from an intent or a plane, so every cell is escaped and clipped
(:func:`bot.core.render.publications._cell`), and the section is bounded in size.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from bot.core.render.publications import _cell
from bot.core.render.rollouts import rollout_view
from bot.core.rollout_model import RolloutRecord

ROLLOUTS_HEADING = "### Rollouts"
MAX_ROLLOUTS = 20
"""Rollouts shown in full; the rest are counted (the board lists them all)."""
REASON_WIDTH = 240

_PHASE_TEXT = {
    "active": "🔄 rolling out",
    "held": "⏸️ held",
    "halted": "🛑 halted",
    "complete": "✅ complete",
    "superseded": "⏭️ superseded",
}
_RING_TEXT = {
    "waiting": "⏳ waiting",
    "active": "🔄 active",
    "passed": "✅ passed",
    "failed": "❌ failed",
    "held": "⏸️ held",
}


def soak_text(seconds: int | None) -> str:
    """The soak left as people read it: ``2 d 3 h``, ``4 h 10 min``, ``done``, or ``—``."""
    if seconds is None:
        return "—"
    if seconds <= 0:
        return "done"
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{max(minutes, 1)} min"


def gate_text(ring: Mapping[str, Any]) -> str:
    """The gate's thresholds: ``≥ 95 %, ≤ 2 failed``, or ``—`` without a gate."""
    parts = []
    if ring.get("minSuccessPercent") is not None:
        parts.append(f"≥ {ring['minSuccessPercent']} %")
    if ring.get("maxFailures") is not None:
        parts.append(f"≤ {ring['maxFailures']} failed")
    return ", ".join(parts) or "—"


def installed_text(ring: Mapping[str, Any]) -> str:
    """``installed/targeted, failed, pending`` as last read, or ``—`` before any read."""
    if ring.get("targeted") is None:
        return "—"
    return (
        f"{ring['installed']}/{ring['targeted']} installed, {ring['failed']} failed,"
        f" {ring['pending']} pending"
    )


def _ring_row(ring: Mapping[str, Any]) -> str:
    state = _RING_TEXT.get(str(ring["phase"]), _cell(ring["phase"]))
    rate = ring.get("successRate") or "n/a"
    cells = (
        f"`{_cell(ring['name'])}`",
        state,
        _cell(rate),
        gate_text(ring),
        installed_text(ring),
        soak_text(ring.get("soakLeftSeconds")),
    )
    return "| " + " | ".join(cells) + " |"


def _rollout(view: Mapping[str, Any]) -> list[str]:
    phase = _PHASE_TEXT.get(str(view["phase"]), _cell(view["phase"]))
    watching = f", watching `{_cell(view['watching'])}`" if view["phase"] == "active" else ""
    head = f"**{_cell(view['intent'])}** {_cell(view['version'])} on {_cell(view['plane'])}:"
    lines = [f"{head} {phase}{watching}"]
    if view["reason"]:
        lines.append(f"> {_cell(view['reason'], REASON_WIDTH)}")
    lines += [
        "",
        "| Ring | State | Success rate | Gate | Devices | Soak left |",
        "|---|---|---|---|---|---|",
        *(_ring_row(ring) for ring in view["rings"]),
    ]
    lines += [f"- ⚠️ alert: {_cell(alert, REASON_WIDTH)}" for alert in view["alerts"]]
    return lines


def rollout_section(records: Sequence[RolloutRecord], *, now: datetime) -> str:
    """The PR's rollouts as a Markdown section (empty when the PR started none)."""
    if not records:
        return ""
    lines = [ROLLOUTS_HEADING, ""]
    for record in records[:MAX_ROLLOUTS]:
        lines += _rollout(rollout_view(record, now=now))
        lines.append("")
    if len(records) > MAX_ROLLOUTS:
        more = len(records) - MAX_ROLLOUTS
        lines.append(f"…and {more} more rollouts: see the rollout board (`GET /rollouts`).")
    return "\n".join(lines).rstrip() + "\n"
