"""The rollout commands' pure parts: parsing a comment, an issue's marker, applying a command."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.core.gates import new_rollout, ring_gates
from bot.core.render.rollout_issues import issue_marker
from bot.core.rollout_commands import (
    RolloutCommand,
    RolloutVerb,
    apply,
    parse_rollout_command,
    rollout_of_issue,
    unknown_intent_reply,
)
from bot.core.rollout_model import RolloutPhase
from bot.core.webhooks import DeliveryKind, route_delivery

NOW = datetime(2027, 3, 1, 10, 0, tzinfo=UTC)
INTENT = {"rings": [{"name": "lab", "gate": {"soak": "P3D"}}, {"name": "pilot"}]}


def test_a_command_stands_alone_on_its_line_with_its_intent_and_ring() -> None:
    assert parse_rollout_command("/eucora promote chrome pilot") == RolloutCommand(
        RolloutVerb.PROMOTE, "chrome", "pilot"
    )
    assert parse_rollout_command("thanks!\n  /eucora halt chrome\n") == RolloutCommand(
        RolloutVerb.HALT, "chrome"
    )
    assert parse_rollout_command("/eucora resume chrome lab") == RolloutCommand(
        RolloutVerb.RESUME, "chrome"
    )  # a ring means nothing to resume
    assert parse_rollout_command("/eucora promote") == RolloutCommand(RolloutVerb.PROMOTE, "")
    for prose in (
        "> /eucora promote chrome",
        "please /eucora halt chrome",
        "/eucora promote a b c",
        "/eucora recheck",
        "/eucora promoted chrome",
    ):
        assert parse_rollout_command(prose) is None, prose


def test_the_rollout_of_an_issue_is_read_from_its_marker_for_its_repository_only() -> None:
    body = f"{issue_marker('held', 'acme/intents', 42)}\n# held"
    assert rollout_of_issue(body, "acme/intents") == 42
    assert rollout_of_issue(body, "ACME/Intents") == 42
    assert rollout_of_issue(body, "evil/intents") is None
    assert rollout_of_issue("<!-- eucora:other:acme/intents:42 -->", "acme/intents") is None


def test_a_rollout_command_on_an_issue_is_routed_and_other_comments_there_are_not() -> None:
    def route(body: str) -> DeliveryKind:
        payload = {
            "action": "created",
            "repository": {"full_name": "acme/intents"},
            "issue": {"number": 9, "body": ""},
            "comment": {"body": body},
        }
        return route_delivery("issue_comment", payload).kind

    assert route("/eucora resume chrome") is DeliveryKind.COMMAND
    assert route("/eucora recheck") is DeliveryKind.IGNORED
    assert route("hello") is DeliveryKind.IGNORED


def test_apply_keeps_the_gates_rules() -> None:
    state = new_rollout(
        intent="chrome", version="1", plane="intune", gates=ring_gates(INTENT), started_at=NOW
    )
    promoted = apply(state, RolloutCommand(RolloutVerb.PROMOTE, "chrome"), "carol")
    assert not isinstance(promoted, str)
    assert promoted.rings[0].soak_waived_by == "carol"
    skipped = apply(state, RolloutCommand(RolloutVerb.PROMOTE, "chrome", "pilot"), "carol")
    assert isinstance(skipped, str)
    assert "never skipped" in skipped
    held = apply(state, RolloutCommand(RolloutVerb.HALT, "chrome"), "carol")
    assert not isinstance(held, str)
    assert held.phase is RolloutPhase.HELD
    resumed = apply(held, RolloutCommand(RolloutVerb.RESUME, "chrome"), "sam")
    assert not isinstance(resumed, str)
    assert resumed.phase is RolloutPhase.ACTIVE
    assert isinstance(apply(state, RolloutCommand(RolloutVerb.RESUME, "chrome"), "sam"), str)


def test_replies_keep_comment_text_inert() -> None:
    reply = unknown_intent_reply("carol", RolloutCommand(RolloutVerb.HALT, "<b>@x"), ["chrome"])
    assert "<b>" not in reply
    assert "@x" not in reply
    assert "<code>chrome</code>" in reply
