"""The drift issue's commands as data: parsing, the issue's marker, routing, the replies."""

from __future__ import annotations

import pytest

from bot.core.drift_commands import (
    MAX_NAME,
    DriftVerb,
    drift_of_issue,
    no_drift_reply,
    not_writer_reply,
    parse_drift_command,
)
from bot.core.webhooks import DeliveryKind, route_delivery
from bot.flows.drift import issue_marker
from tests.core.test_webhooks import example


@pytest.mark.parametrize(
    ("body", "verb"),
    [
        ("/eucora remediate", DriftVerb.REMEDIATE),
        ("Keeping it.\n  /eucora adopt  \nthanks", DriftVerb.ADOPT),
        ("/eucora adopt\n/eucora remediate", DriftVerb.ADOPT),  # the first one
        ("Should we /eucora adopt?", None),  # in prose
        ("> /eucora adopt now", None),  # quoted
        ("/eucora adopt google-chrome", None),  # a word after it is not this command
        ("/eucora adoption", None),
        ("/eucora explain", None),
    ],
)
def test_a_drift_command_stands_alone_on_its_line(body: str, verb: DriftVerb | None) -> None:
    assert parse_drift_command(body) is verb


def test_the_drift_issue_marker_names_its_intent_and_plane() -> None:
    body = f"{issue_marker('jamf', 'zoom-macos')}\n**zoom-macos** on **jamf** ..."
    assert drift_of_issue(body) == ("zoom-macos", "jamf")
    assert drift_of_issue("it is jammed") is None
    assert drift_of_issue(issue_marker("jamf", "x" * (MAX_NAME + 1))) is None


def test_a_drift_command_on_a_plain_issue_is_routed_as_a_command() -> None:
    payload = example("issue_comment.created")  # GitHub's example is on an issue
    assert "pull_request" not in payload["issue"]
    for body, kind in (
        ("/eucora remediate", DeliveryKind.COMMAND),
        ("Done.\n/eucora adopt", DeliveryKind.COMMAND),
        ("we could /eucora adopt", DeliveryKind.IGNORED),
        ("/eucora explain", DeliveryKind.IGNORED),  # a PR command, on an issue
    ):
        payload["comment"]["body"] = body
        assert route_delivery("issue_comment", payload).kind is kind, body


def test_the_replies_escape_what_a_user_controls() -> None:
    reply = not_writer_reply("<b>x</b>", DriftVerb.ADOPT)
    assert "<b>" not in reply
    assert "write access" in reply
    assert "no drift belongs to this issue" in no_drift_reply("dave", DriftVerb.REMEDIATE)
