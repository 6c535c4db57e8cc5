"""Where rollouts stand, as text and JSON: the same view for the CLI and the board."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from bot.core.gates import new_rollout, ring_gates
from bot.core.render.rollouts import render_rollouts_text, rollouts_json
from bot.core.rollout_model import (
    RingPhase,
    RolloutPhase,
    RolloutRecord,
    state_from_json,
    state_to_json,
)

T0 = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
INTENT = {
    "metadata": {"name": "chrome"},
    "app": {"version": "131.0"},
    "plane": "intune",
    "rings": [
        {
            "name": "lab",
            "target": "g",
            "devices": 10,
            "assignment": "required",
            "gate": {"minSuccessPercent": 95, "soak": "P1D", "maxFailures": 1},
        },
        {"name": "pilot", "target": "h", "devices": 50, "assignment": "required"},
    ],
}


def record(**changes: object) -> RolloutRecord:
    state = new_rollout(
        intent="chrome", version="131.0", plane="intune", gates=ring_gates(INTENT), started_at=T0
    )
    lab = dataclasses.replace(
        state.rings[0], counts=(10, 9, 1, 0, 0), reporting_since=T0, last_verdict="pending"
    )
    state = dataclasses.replace(state, rings=(lab, state.rings[1]), **changes)  # type: ignore[arg-type]
    return RolloutRecord(
        id=1,
        change_id=1,
        repository="acme/intents",
        pr=7,
        installation_id=None,
        merge_sha="m" * 40,
        path="intents/chrome.yaml",
        intent=INTENT,
        evidence_digest="sha256:" + "e" * 64,
        emergency=False,
        state=state,
        revision=0,
        updated_at=T0,
    )


def test_json_view_shows_rates_against_the_gate_and_the_soak_left() -> None:
    view = rollouts_json([record()], now=T0 + timedelta(hours=6))["rollouts"][0]
    assert (view["intent"], view["plane"], view["phase"], view["watching"]) == (
        "chrome",
        "intune",
        "active",
        "lab",
    )
    lab, pilot = view["rings"]
    assert (lab["successRate"], lab["minSuccessPercent"], lab["soakLeftSeconds"]) == (
        "90 %",
        95,
        18 * 3600,
    )
    assert (pilot["phase"], pilot["successRate"], pilot["targeted"]) == ("waiting", None, None)


def test_text_says_what_holds_a_rollout() -> None:
    text = render_rollouts_text(
        [record(phase=RolloutPhase.HALTED, reason="lab: 2 devices failed")], now=T0
    )
    assert text.splitlines()[0] == "chrome 131.0 on intune: halted (acme/intents#7)"
    assert "  why: lab: 2 devices failed" in text
    assert (
        "success 90 % (gate 95 %); 9/10 installed, 1 failed, 0 pending, soak 24 h 0 min left"
        in text
    )
    assert render_rollouts_text([], now=T0).startswith("No rollouts yet")


def test_the_stored_state_round_trips() -> None:
    state = record(alerts=frozenset({"stuck:lab"})).state
    state = dataclasses.replace(
        state, rings=(state.rings[0], dataclasses.replace(state.rings[1], phase=RingPhase.HELD))
    )
    assert state_from_json(state_to_json(state)) == state
