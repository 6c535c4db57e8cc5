"""Approvals routed by what changes, end to end through the App on the GitHub double.

The repository needs the mac CAB (``acme/mac-cab``) for macOS intents and security's CAB
(``acme/security-cab``) for a change reaching the broad ring, on top of the tier's count from
``acme/cab``. Signed webhooks into the app, the inbox drained, PyGithub and git talking to the
double, the review ledger and audit log on SQLite; the merge is made in the double and its
``closed`` delivery decided again by the merge flow.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.adapters.storage import AuditLog
from bot.doubles.github.server import GitHubDouble
from tests.conftest import EXAMPLES
from tests.entrypoints.test_approvals_e2e import (
    approval_run,
    comment,
    review,
    serving_with_teams,
)
from tests.entrypoints.test_github_app import App
from tests.support.gitrepo import GitRepo

REPO = "acme/intents"
ROUTES = """\
cab:
  teams:
    - acme/cab
  routes:
    - name: macos
      description: macOS changes need the mac CAB
      when:
        platforms: [macos]
      teams: [acme/mac-cab]
    - name: broad-ring
      when:
        rings: [broad]
      teams: [acme/security-cab]
"""


@pytest.fixture
def source(tmp_path: Path) -> GitRepo:
    """The example repository with routes, a branch ``mac`` bumping Zoom (macOS, reaching
    broad) and a branch ``win`` bumping Chrome (Windows, reaching broad)."""
    repo = GitRepo.create(
        tmp_path / "src", template=EXAMPLES / "intents-repo", freeze_windows=False
    )
    text = repo.read("eucora.yaml")
    start = text.index("cab:\n")
    end = text.index("  approvalsSurviveNonIntentPush")
    repo.write("eucora.yaml", text[:start] + ROUTES + text[end:])
    repo.commit("the CAB is acme/cab; the mac CAB for macOS, security's for the broad ring")
    repo.branch("mac")
    repo.edit("intents/macos/zoom.yaml", "6.2.11.43613", "6.2.12.44000")
    repo.commit("zoom 6.2.12")
    repo.branch("win")
    repo.edit("intents/windows/google-chrome.yaml", "131.0.6778.86", "131.0.6778.109")
    repo.commit("chrome 131.0.6778.109")
    return repo


@pytest.fixture
def app(tmp_path: Path, github_double: GitHubDouble, github_env: dict[str, str]) -> Iterator[App]:
    teams = {"cab": ["carol", "sam"], "mac-cab": ["mia"], "security-cab": ["sue", "dave"]}
    with serving_with_teams(tmp_path, github_double, github_env, teams) as app:
        yield app


def opened(app: App, source: GitRepo, head: str) -> Any:
    if REPO not in app.double.repositories:
        app.double.add_repository(
            REPO, installation=app.double.installations[app.installation], source=source.path
        )
    pr = app.double.open_pull_request(REPO, head=head, base="main", author="dave")
    assert app.post(app.pr_event(pr, "opened")) == 202
    app.drain()
    return pr


def merged(app: App, pr: Any) -> None:
    """Merge in the double and deliver GitHub's ``closed`` webhook."""
    app.double.merge_pull_request(REPO, pr.number, by="carol")
    payload = app.double.pull_request_event(REPO, pr.number, "closed", sender="carol")
    body, headers = app.double.signed_delivery("pull_request", payload)
    assert app.client.post("/webhook", data=body, headers=headers).status_code == 202
    app.drain()


def audit(app: App, pr: Any) -> list[tuple[str, dict[str, Any]]]:
    log = AuditLog(app.server.intake.services.engine)
    return [(e.type, e.payload) for e in log.events(repository=REPO, pr=pr.number)]


def test_each_pr_gets_the_teams_its_changes_route_to_explained(app: App, source: GitRepo) -> None:
    mac = opened(app, source, "mac")
    run = approval_run(app)
    assert run.status == "in_progress"
    assert "(route macos)" in run.title or "route macos" in run.summary
    summary = run.summary
    assert "route macos: 0 of 1 approval from acme/mac-cab" in summary
    assert "matched intents/macos/zoom.yaml: platform macos" in summary
    assert "route broad-ring: 0 of 1 approval from acme/security-cab" in summary
    assert "intents/macos/zoom.yaml: ring broad" in summary
    assert "route macos: members of acme/mac-cab (mia)" in summary
    # dave, the PR's author, is in security's CAB but cannot approve it
    assert "route broad-ring: members of acme/security-cab (sue)" in summary
    assert "Separation of duties:" in summary
    assert "the pull request's author cannot approve it" in summary
    assert "approvals per tier (risk.approvals): low 0, medium 1, high 2, critical 2" in summary
    assert "route macos: 0 of 1" in comment(app, mac)
    # every team of the change was asked to review
    requested = app.double.pull_request(REPO, mac.number).requested_teams
    assert sorted(requested) == ["cab", "mac-cab", "security-cab"]

    win = opened(app, source, "win")
    win_run = approval_run(app)
    assert win_run.head_sha == win.head_sha
    assert "route broad-ring: 0 of 1 approval from acme/security-cab" in win_run.summary
    assert "route macos" not in win_run.summary
    assert sorted(app.double.pull_request(REPO, win.number).requested_teams) == [
        "cab",
        "security-cab",
    ]


def test_the_cab_check_passes_only_when_every_routed_team_approved(
    app: App, source: GitRepo
) -> None:
    pr = opened(app, source, "mac")
    review(app, pr, "carol", "APPROVED")
    review(app, pr, "sam", "APPROVED")
    review(app, pr, "sue", "APPROVED")
    review(app, pr, "dave", "APPROVED")  # the author, in security's CAB: refused
    run = approval_run(app)
    assert run.status == "in_progress"
    assert run.title == "Waiting for 1 more approval from acme/mac-cab (route macos)"
    assert "route broad-ring: 1 of 1 approval from acme/security-cab (sue)" in run.summary

    review(app, pr, "mia", "APPROVED")
    run = approval_run(app)
    assert (run.status, run.conclusion) == ("completed", "success")
    assert "route macos: 1 of 1 approval from acme/mac-cab (mia)" in run.summary
    [decided] = [p for t, p in audit(app, pr) if t == "approval.decided"][-1:]
    assert [(r["route"], r["counted"], r["missing"]) for r in decided["requirements"]] == [
        ("macos", ["mia"], 0),
        ("broad-ring", ["sue"], 0),
    ]


def test_a_merge_without_the_mac_cab_approval_is_refused(app: App, source: GitRepo) -> None:
    pr = opened(app, source, "mac")
    review(app, pr, "carol", "APPROVED")
    review(app, pr, "sam", "APPROVED")
    review(app, pr, "sue", "APPROVED")
    assert approval_run(app).status == "in_progress"

    merged(app, pr)

    events = audit(app, pr)
    types = [t for t, _ in events]
    assert "merge.refused" in types
    assert "merge.accepted" not in types
    [refused] = [p for t, p in events if t == "merge.refused"]
    assert "route macos" in str(refused)
    assert "### Merge refused: nothing was published" in comment(app, pr)
