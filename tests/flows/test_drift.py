"""The drift pass's pure parts: desired state from a rollout, the backoff, the issue, adopt."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import yaml

from bot.core.drift import Assignment, DriftMode, Marker
from bot.core.drift_state import DriftRow
from bot.core.rollout_model import RingPhase, RingState, RolloutRecord, RolloutState
from bot.flows.drift import (
    Backoff,
    adopted_intent,
    desired_of,
    dump_intent,
    issue_body,
    issue_marker,
    published_steps,
)

NOW = datetime(2027, 3, 1, 10, 0, tzinfo=UTC)
INTENT: dict[str, Any] = {
    "metadata": {"name": "google-chrome"},
    "app": {"name": "Google Chrome", "version": "131.0.6778.109"},
    "plane": "intune",
    "rings": [
        {"name": "lab", "target": "LAB-GROUP", "devices": 12, "assignment": "required"},
        {"name": "pilot", "target": "PILOT-GROUP", "devices": 45, "assignment": "available"},
        {"name": "broad", "target": "BROAD-GROUP", "devices": 900},
    ],
}


def record(*phases: RingPhase) -> RolloutRecord:
    rings = tuple(
        RingState(name=r["name"], phase=phase)
        for r, phase in zip(INTENT["rings"], phases, strict=True)
    )
    return RolloutRecord(
        id=7,
        change_id=3,
        repository="acme/intents",
        pr=12,
        installation_id=None,
        merge_sha="a" * 40,
        path="intents/windows/google-chrome.yaml",
        intent=INTENT,
        evidence_digest="sha256:" + "b" * 64,
        emergency=False,
        state=RolloutState(
            intent="google-chrome", version="131.0.6778.109", plane="intune", rings=rings
        ),
        revision=1,
        updated_at=NOW,
    )


def test_desired_holds_the_published_rings_whose_publication_succeeded() -> None:
    rollout = record(RingPhase.PASSED, RingPhase.ACTIVE, RingPhase.WAITING)
    assert published_steps(rollout) == [0, 1]
    assert published_steps(rollout, (0,)) == [0]  # the pilot's publication is still in flight
    desired = desired_of(rollout, (0, 1))
    assert desired.rings == {
        "lab": Assignment(group="LAB-GROUP", intent="required"),
        "pilot": Assignment(group="PILOT-GROUP", intent="available"),
    }
    assert desired.marker == Marker(
        name="google-chrome", version="131.0.6778.109", evidence="sha256:" + "b" * 64
    )


def test_the_backoff_doubles_from_the_cooldown_up_to_its_ceiling() -> None:
    backoff = Backoff(cooldown=timedelta(minutes=10), ceiling=timedelta(hours=1))
    assert [backoff.after(n) for n in (1, 2, 3, 4, 5)] == [
        timedelta(minutes=10),
        timedelta(minutes=20),
        timedelta(minutes=40),
        timedelta(hours=1),
        timedelta(hours=1),
    ]


def test_the_issue_carries_its_marker_and_an_inert_table() -> None:
    rollout = record(RingPhase.ACTIVE, RingPhase.WAITING, RingPhase.WAITING)
    row = DriftRow(
        repository="acme/intents",
        plane="intune",
        intent="google-chrome",
        rollout_id=7,
        items=(
            {"field": "/rings", "kind": "extra-group", "git": "not assigned", "plane": "a|b\nc"},
        ),
        since={"/rings extra-group": "2027-03-01T10:00:00+00:00"},
        open=True,
    )
    body = issue_body(rollout, row, DriftMode.WARN)
    assert body.startswith(issue_marker("intune", "google-chrome"))
    assert "| `/rings` (extra-group) | not assigned | a\\|b c | 2027-03-01T10:00:00+00:00 |" in body
    assert "merged by #12" in body


def test_adopt_writes_the_version_and_assignment_and_lists_what_it_cannot() -> None:
    rollout = record(RingPhase.PASSED, RingPhase.ACTIVE, RingPhase.WAITING)
    items = (
        {
            "field": "/app/version",
            "kind": "version-replaced",
            "git": "131.0.6778.109",
            "plane": "132.0.1",
        },
        {
            "field": "/rings/1/assignment",
            "kind": "assignment-changed",
            "git": "available",
            "plane": "required",
        },
        {"field": "/rings", "kind": "extra-group", "git": "not assigned", "plane": "x (required)"},
    )
    intent, notes = adopted_intent(rollout, items)
    assert intent["app"]["version"] == "132.0.1"
    assert intent["rings"][1]["assignment"] == "required"
    assert INTENT["rings"][1]["assignment"] == "available"  # the record is left alone
    assert any("edit the intent by hand" in note for note in notes)
    assert yaml.safe_load(dump_intent(intent)) == intent
