"""Drift commands end to end: ``/eucora remediate|adopt`` as signed ``issue_comment`` webhooks.

The fixtures of ``test_drift_e2e`` (GitHub double, five plane doubles, SQLite, a test clock): a
console edit, a reconcile pass opens the drift issue, then a person comments on that issue. The
webhook goes through the app's intake, routing and worker into the drift pass that the composition
root built for the webhook handler. dave has write access; mallory has not.
"""

from __future__ import annotations

import itertools
from typing import Any

import yaml

from bot.doubles.github.state import Issue
from bot.doubles.planes import PlaneDoubles
from tests.entrypoints import test_drift_e2e
from tests.entrypoints.test_drift_e2e import (
    CHROME_LAB,
    EDITS,
    audit_payloads,
    drift_issues,
    reconcile,
)
from tests.entrypoints.test_github_app import App
from tests.entrypoints.test_publish_e2e import REPO, ShiftedClock
from tests.support import webhooks

app = test_drift_e2e.app
planes = test_drift_e2e.planes
clock = test_drift_e2e.clock
merged = test_drift_e2e.merged
rolling = test_drift_e2e.rolling
source = test_drift_e2e.source
drift_section = test_drift_e2e.drift_section
_COMMENT_IDS = itertools.count(8_000_000)


def comment(app: App, issue: Any, user: str, body: str) -> str:
    """Deliver ``body`` as ``user``'s signed comment on ``issue``; the bot's reply to them."""

    def adjust(payload: dict[str, Any]) -> None:
        payload["comment"]["id"] = next(_COMMENT_IDS)  # each comment its own (not a replay)
        payload["issue"]["body"] = issue.body
        payload["issue"]["title"] = issue.title

    delivery = webhooks.build(
        "issue_comment",
        "created",
        secret=app.secret,
        repository=REPO,
        number=issue.number,
        sender=user,
        comment_body=body,
        on_pull_request=False,
        installation_id=app.installation,
        adjust=adjust,
    )
    assert app.post(delivery) == 202
    app.drain()
    replies = [c for c in app.double.comments(REPO, issue.number) if c.body.startswith(f"@{user} ")]
    assert replies, f"no reply to {user}'s {body!r}"
    return str(replies[-1].body)


def edited(app: App, planes: PlaneDoubles, rolling: Any, plane: str) -> Any:
    """A console edit on ``plane`` and the reconcile pass that opens its drift issue; the case."""
    case = EDITS[plane]
    double = planes.awx if plane == "ansible" else getattr(planes, plane)
    double.console_edit(case.intent, case.kind, group=case.group, value=case.value)
    reconcile(app, rolling)
    return case


def adopt_pulls(app: App) -> list[Any]:
    return [p for p in app.double.pulls.values() if p.head_ref.startswith("eucora/adopt-")]


def test_a_writers_adopt_on_the_drift_issue_opens_the_pull_request(
    app: App, planes: PlaneDoubles, clock: ShiftedClock, rolling: Any
) -> None:
    case = edited(app, planes, rolling, "intune")
    [issue] = drift_issues(app)
    reply = comment(app, issue, "dave", "Keeping the console change.\n/eucora adopt\n")
    [pull] = adopt_pulls(app)
    assert f"done: #{pull.number} writes intune's state into" in reply
    assert pull.head_ref == "eucora/adopt-intune-google-chrome"
    adopted = yaml.safe_load(app.double.git(REPO, "show", f"{pull.head_sha}:{case.path}"))
    assert adopted["rings"][0]["assignment"] == "available"
    assert adopted["rings"][0]["target"] == CHROME_LAB
    [event] = audit_payloads(app, "drift.adopted")
    assert (event["by"], event["pull_request"], event["issue"]) == (
        "dave",
        pull.number,
        issue.number,
    )


def test_a_reader_is_refused_politely_and_nothing_happens(
    app: App, planes: PlaneDoubles, clock: ShiftedClock, rolling: Any
) -> None:
    edited(app, planes, rolling, "intune")
    [issue] = drift_issues(app)
    for body in ("/eucora adopt", "/eucora remediate"):
        reply = comment(app, issue, "mallory", body)
        assert reply.startswith("@mallory sorry, <code>" + body + "</code> can only be run by")
        assert "write access" in reply
    assert adopt_pulls(app) == []
    assert audit_payloads(app, "drift.remediated") == []
    refused = audit_payloads(app, "drift.command_refused")
    assert [(e["by"], e["command"]) for e in refused] == [
        ("mallory", "adopt"),
        ("mallory", "remediate"),
    ]


def test_remediate_on_the_drift_issue_puts_the_plane_back_on_the_next_publish_run(
    app: App, planes: PlaneDoubles, clock: ShiftedClock, rolling: Any
) -> None:
    edited(app, planes, rolling, "jamf")
    reconcile(app, rolling)
    [issue] = drift_issues(app)
    assert audit_payloads(app, "drift.remediated") == []  # warn mode: reported only
    reply = comment(app, issue, "dave", "/eucora remediate")
    assert reply.startswith("@dave done: git's state of <code>zoom-macos</code> on jamf")
    assert [e["by"] for e in audit_payloads(app, "drift.remediated")] == ["dave"]
    # the reopened publication ran; the next passes find the plane as git says and close
    reconcile(app, rolling)
    reconcile(app, rolling)
    assert drift_issues(app) == []
    assert [i.number for i in drift_issues(app, "closed")] == [issue.number]


def test_a_command_on_an_issue_that_is_not_this_repositorys_drift_is_refused(
    app: App, planes: PlaneDoubles, clock: ShiftedClock, rolling: Any
) -> None:
    edited(app, planes, rolling, "intune")
    [drifting] = drift_issues(app)
    # someone copies the drift issue's marker into an issue of their own
    github = app.double
    copy = Issue(github._next_number(REPO), REPO, "copied", drifting.body, [], "dave")
    github.issues[(REPO, copy.number)] = copy
    reply = comment(app, copy, "dave", "/eucora adopt")
    assert "no drift belongs to this issue" in reply
    assert adopt_pulls(app) == []
    [refused] = audit_payloads(app, "drift.command_refused")
    assert (refused["by"], refused["why"]) == ("dave", "no-drift")


def test_a_command_quoted_in_prose_is_not_run(
    app: App, planes: PlaneDoubles, clock: ShiftedClock, rolling: Any
) -> None:
    edited(app, planes, rolling, "intune")
    [issue] = drift_issues(app)
    before = len(app.double.comments(REPO, issue.number))
    delivery = webhooks.build(
        "issue_comment",
        "created",
        secret=app.secret,
        repository=REPO,
        number=issue.number,
        sender="dave",
        comment_body="Should we run /eucora adopt here?",
        on_pull_request=False,
        installation_id=app.installation,
    )
    assert app.post(delivery) == 202
    app.drain()
    assert len(app.double.comments(REPO, issue.number)) == before
    assert adopt_pulls(app) == []


def test_the_rollout_board_shows_the_open_drift_from_the_drift_store(
    app: App, planes: PlaneDoubles, clock: ShiftedClock, rolling: Any
) -> None:
    case = edited(app, planes, rolling, "intune")
    response = app.client.get("/rollouts", headers={"Accept": "application/json"})
    views = {v["intent"]: v for v in response.get_json()["rollouts"]}
    field, kind, git, plane = case.row
    assert views[case.intent]["drift"] == [
        {"field": field, "kind": kind, "git": git, "plane": plane}
    ]
    assert all(v["drift"] == [] for name, v in views.items() if name != case.intent)
    page = app.client.get("/rollouts").get_data(as_text=True)
    assert f"Drift of {case.intent} on intune: 1 field differs from git" in page
