"""Repeated and replayed webhooks end to end (issue 14, finding 7): signed membership deliveries
into the app, the inbox drained, the approval flow talking to the GitHub double.

A membership payload carries no time, so a member removed, added back and removed again sends
the same body twice under two delivery ids; the second removal must still be acted on. A body
sent again under a fresh delivery id with nothing in between is a replay; after the replay
window it is processed again."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.adapters.storage import AuditLog, create_database_engine, upgrade_schema
from bot.adapters.storage.inbox import Inbox
from bot.bootstrap import pull_request_handler_factory
from bot.doubles.github.server import GitHubDouble
from bot.entrypoints.serve import build_server
from bot.settings import Settings
from tests.entrypoints.test_approvals_e2e import (  # noqa: F401 - pytest finds fixtures by name
    CAB,
    REPO,
    approval_run,
    deliver_review,
    opened,
    review,
    source,
)
from tests.entrypoints.test_github_app import App
from tests.support import webhooks
from tests.support.gitrepo import GitRepo

SHORT_WINDOW = 0.2
"""Seconds: the window of the app that shows a body processed again once the window is over."""


@pytest.fixture
def repo(request: pytest.FixtureRequest) -> GitRepo:
    """The approvals tests' repository: acme/cab is the CAB, the PR needs one approval."""
    found: GitRepo = request.getfixturevalue("source")
    return found


@pytest.fixture
def make_app(
    tmp_path: Path, github_double: GitHubDouble, github_env: dict[str, str]
) -> Iterator[Callable[..., App]]:
    built: list[App] = []

    def make(**environ: str) -> App:
        settings = Settings.from_environ(
            {
                **github_env,
                "EUCORA_HOME": str(tmp_path / "home"),
                "EUCORA_GITHUB_WRITE_INTERVAL": "0",
                **environ,
            }
        )
        engine = create_database_engine(settings.database_url)
        upgrade_schema(engine)
        engine.dispose()
        server = build_server(settings, pull_request_handler_factory, metrics_dir=False)
        installation = github_double.add_installation("acme")
        github_double.add_team("acme", "cab", list(CAB))
        built.append(App(server, github_double, installation.id))
        return built[-1]

    yield make
    for app in built:
        app.server.intake.services.engine.dispose()


def membership(app: App, action: str, *, delivery_id: str | None = None) -> webhooks.Delivery:
    """GitHub's ``membership`` delivery for carol and acme/cab (no time in it: same body)."""

    def adjust(payload: dict[str, Any]) -> None:
        payload["organization"]["login"] = "acme"

    return webhooks.build(
        "membership",
        action,
        secret=app.secret,
        team="cab",
        member="carol",
        installation_id=app.installation,
        adjust=adjust,
        delivery_id=delivery_id,
    )


def post(app: App, delivery: webhooks.Delivery) -> tuple[int, str]:
    response = app.client.post("/webhook", data=delivery.body, headers=delivery.headers)
    return response.status_code, response.get_data(as_text=True)


def decisions(app: App, pr: Any) -> int:
    log = AuditLog(app.server.intake.services.engine)
    return [e.type for e in log.events(repository=REPO, pr=pr.number)].count("approval.decided")


def removed_added_removed(app: App, repo: GitRepo) -> tuple[Any, webhooks.Delivery]:
    """carol approves, is removed, added back and removed again; each change's webhook is
    processed. Returns the PR and the third delivery."""
    members = app.double.teams[("acme", "cab")].members
    pr = opened(app, repo)
    review(app, pr, "carol", "APPROVED")
    assert approval_run(app).conclusion == "success"
    first = membership(app, "removed")
    members.remove("carol")
    assert post(app, first) == (202, "accepted")
    app.drain()
    assert approval_run(app).status == "in_progress"
    members.append("carol")
    assert post(app, membership(app, "added")) == (202, "accepted")
    app.drain()
    assert approval_run(app).conclusion == "success"
    members.remove("carol")
    third = membership(app, "removed")
    assert third.body == first.body
    assert third.delivery_id != first.delivery_id
    assert post(app, third) == (202, "accepted")
    app.drain()
    return pr, third


def test_removed_added_removed_leaves_the_cab_check_not_approved(
    make_app: Callable[..., App], repo: GitRepo
) -> None:
    app = make_app()
    removed_added_removed(app, repo)
    run = approval_run(app)
    assert (run.status, run.conclusion) == ("in_progress", None)
    assert "not an active member of a CAB team" in run.summary


def test_a_redelivery_and_a_replay_of_the_third_are_acknowledged_and_not_run(
    make_app: Callable[..., App], repo: GitRepo
) -> None:
    app = make_app()
    pr, third = removed_added_removed(app, repo)
    decided = decisions(app, pr)
    again = membership(app, "removed", delivery_id=third.delivery_id)
    assert post(app, again) == (202, "duplicate")  # GitHub's redelivery: same id
    replayed = membership(app, "removed")  # a fresh id, nothing in between
    assert post(app, replayed) == (202, "replay")
    assert app.drain() == 0
    assert decisions(app, pr) == decided
    inbox = Inbox(app.server.intake.services.engine)
    assert inbox.get(replayed.delivery_id) is None
    assert [r["outcome"] for r in inbox.rows() if r["event"] == "membership"] == ["redecided1"] * 3


def test_after_the_window_the_same_body_under_a_new_id_runs_again(
    make_app: Callable[..., App], repo: GitRepo
) -> None:
    app = make_app(EUCORA_REPLAY_WINDOW=str(SHORT_WINDOW))
    removed_added_removed(app, repo)
    time.sleep(SHORT_WINDOW * 1.5)
    fourth = membership(app, "removed")
    assert post(app, fourth) == (202, "accepted")
    assert app.drain() == 1
    row = Inbox(app.server.intake.services.engine).get(fourth.delivery_id) or {}
    assert (row.get("status"), row.get("outcome")) == ("done", "redecided1")
    assert approval_run(app).status == "in_progress"


def test_a_captured_approval_replayed_after_its_dismissal_and_the_window_does_not_count(
    make_app: Callable[..., App], repo: GitRepo
) -> None:
    """After the window a body runs again, but its facts never outweigh GitHub's current state."""
    app = make_app(EUCORA_REPLAY_WINDOW=str(SHORT_WINDOW))
    pr = opened(app, repo)
    approved = app.double.add_review(REPO, pr.number, "carol", "APPROVED")
    captured = webhooks.review_event(
        pr, approved, "submitted", secret=app.secret, installation_id=app.installation
    )
    assert post(app, captured) == (202, "accepted")
    app.drain()
    assert approval_run(app).conclusion == "success"
    approved.state = "DISMISSED"
    deliver_review(app, pr, approved, "dismissed")
    assert approval_run(app).status == "in_progress"

    time.sleep(SHORT_WINDOW * 1.5)
    replayed = webhooks.Delivery(
        captured.event,
        captured.action,
        captured.payload,
        captured.body,
        {**captured.headers, "X-GitHub-Delivery": "attacker-chosen-id"},
    )
    assert post(app, replayed) == (202, "accepted")
    assert app.drain() == 1
    run = approval_run(app)
    assert (run.status, run.conclusion) == ("in_progress", None)
    assert "the review was dismissed" in run.summary
