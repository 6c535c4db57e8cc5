"""The rollout issues' Markdown: markers per rollout and kind, counts vs gate, inert errors."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.core.render import rollout_issues as render
from bot.core.rollout_model import DeviceError, RingOutcomes


def facts(**changes: object) -> render.RolloutFacts:
    fields: dict[str, object] = {
        "rollout_id": 7,
        "repository": "acme/intents",
        "pr": 42,
        "intent": "7-zip",
        "version": "24.09",
        "plane": "sccm",
        "ring": "lab",
        "reasons": ("3 devices failed to install; the gate allows 0",),
        "outcomes": RingOutcomes(
            targeted=20,
            installed=15,
            failed=3,
            pending=2,
            as_of=datetime(2027, 1, 11, tzinfo=UTC),
            errors=(DeviceError("PC-<1>", "0x1", "see [here](http://evil) @cab | x"),),
        ),
        "gate": {"minSuccessPercent": 95, "maxFailures": 0, "soak": "1 day"},
    }
    return render.RolloutFacts(**{**fields, **changes})  # type: ignore[arg-type]


def test_markers_differ_per_rollout_and_kind() -> None:
    assert (
        render.issue_marker("halted", "acme/intents", 7) == "<!-- eucora:halted:acme/intents:7 -->"
    )
    assert render.issue_marker("stuck", "acme/intents", 7) != render.issue_marker(
        "halted", "acme/intents", 7
    )
    assert render.issue_marker("halted", "acme/intents", 8) != render.issue_marker(
        "halted", "acme/intents", 7
    )


def test_the_halted_issue_shows_counts_against_the_gate_and_what_to_do() -> None:
    title, body = render.halted_issue(facts(), rollback="A rollback pull request is open.")
    assert title == "Rollout halted: 7-zip 24.09 at lab"
    assert body.startswith("<!-- eucora:halted:acme/intents:7 -->")
    assert "| 20 | 15 | 3 | 2 | 0 | 83.3 % |" in body
    assert "at least 95 % success, at most 0 failures" in body
    assert "3 devices failed to install" in body
    assert "/eucora resume 7-zip" in body


def test_device_errors_are_inert_markdown() -> None:
    _, body = render.halted_issue(facts(), rollback="")
    row = next(line for line in body.splitlines() if "0x1" in line)
    assert "<1>" not in row
    assert "[here](" not in row  # brackets escaped: no link
    assert "@cab" not in row
    assert row.count("|") == 4  # the message's pipe breaks no cell


def test_the_held_issue_asks_the_cab_to_promote_or_halt() -> None:
    title, body = render.held_issue(facts())
    assert title.startswith("Rollout held")
    assert "/eucora promote 7-zip" in body
    assert "/eucora halt 7-zip" in body


def test_no_outcomes_read_is_said_plainly() -> None:
    _, body = render.stuck_issue(facts(outcomes=None))
    assert "No install outcomes could be read" in body


def test_the_rollback_branch_names_intent_and_version() -> None:
    assert render.rollback_branch("7-zip", "24.09") == "eucora/rollback/7-zip-24.09"
