"""CAB approvals end to end: signed review, membership and deployment protection rule webhooks
into the app, the inbox drained, PyGithub and git talking to the GitHub double (which checks every
request against GitHub's description), the review ledger and audit log on SQLite."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from bot.adapters.storage import AuditLog
from bot.adapters.storage.reviews import ReviewLedger
from bot.core.github_model import APPROVAL_CHECK, EVIDENCE_MARKER
from bot.doubles.github.server import GitHubDouble
from tests.conftest import EXAMPLES
from tests.entrypoints.test_github_app import App, latest, serving
from tests.support import webhooks
from tests.support.gitrepo import GitRepo

REPO = "acme/intents"
NEW_APP = "intents/windows/notepad-plus-plus-x.yaml"
CAB = ["carol", "sam"]


@pytest.fixture
def source(tmp_path: Path) -> GitRepo:
    """The example repository with its CAB team in the repository's organisation, and a PR
    branch adding a new app (medium risk: one CAB approval)."""
    repo = GitRepo.create(
        tmp_path / "src", template=EXAMPLES / "intents-repo", freeze_windows=False
    )
    repo.edit(
        "eucora.yaml", "    - contoso/cab-desktop\n    - contoso/security-cab\n", "    - acme/cab\n"
    )
    repo.commit("the CAB is acme/cab")
    repo.branch("change")
    text = repo.read("intents/windows/notepad-plus-plus.yaml")
    text = text.replace("name: notepad-plus-plus\n", "name: notepad-plus-plus-x\n", 1)
    text = text.replace("  name: Notepad++\n", "  name: Notepad++ X\n", 1)
    repo.write(NEW_APP, text)
    repo.commit("a new app: medium risk")
    return repo


@contextmanager
def serving_with_teams(
    tmp_path: Path,
    github_double: GitHubDouble,
    github_env: dict[str, str],
    teams: Mapping[str, list[str]],
) -> Iterator[App]:
    """The App serving with the double, and the organisation ``acme``'s ``teams`` (slug →
    members)."""
    environ = {
        **github_env,
        "EUCORA_HOME": str(tmp_path / "home"),
        "EUCORA_GITHUB_WRITE_INTERVAL": "0",
    }
    with serving(github_double, environ) as app:
        for slug, members in teams.items():
            github_double.add_team("acme", slug, members)
        yield app


@pytest.fixture
def app(tmp_path: Path, github_double: GitHubDouble, github_env: dict[str, str]) -> Iterator[App]:
    with serving_with_teams(tmp_path, github_double, github_env, {"cab": CAB}) as app:
        yield app


def opened(app: App, source: GitRepo, *, base: str = "main") -> Any:
    app.double.add_repository(
        REPO, installation=app.double.installations[app.installation], source=source.path
    )
    pr = app.double.open_pull_request(REPO, head="change", base=base, author="dave")
    assert app.post(app.pr_event(pr, "opened")) == 202
    app.drain()
    return pr


def review(app: App, pr: Any, user: str, state: str, action: str = "submitted") -> Any:
    """``user`` reviews in the double, and GitHub's webhook for it arrives and is processed."""
    stored = app.double.add_review(REPO, pr.number, user, state)
    deliver_review(app, pr, stored, action)
    return stored


def deliver_review(app: App, pr: Any, stored: Any, action: str) -> None:
    delivery = webhooks.review_event(
        pr, stored, action, secret=app.secret, installation_id=app.installation
    )
    assert app.post(delivery) == 202
    app.drain()


def approval_run(app: App) -> Any:
    return latest(app.double.check_runs(REPO), APPROVAL_CHECK)


def comment(app: App, pr: Any) -> str:
    [sticky] = [c for c in app.double.comments(REPO, pr.number) if EVIDENCE_MARKER in c.body]
    return sticky.body


def audit_types(app: App, pr: Any) -> list[str]:
    log = AuditLog(app.server.intake.services.engine)
    return [e.type for e in log.events(repository=REPO, pr=pr.number)]


def test_pending_then_approved_then_a_push_makes_it_pending_and_the_author_cannot_approve(
    app: App, source: GitRepo
) -> None:
    pr = opened(app, source)
    first_head = pr.head_sha
    run = approval_run(app)
    assert (run.status, run.title) == ("in_progress", "Waiting for 1 more CAB approval")
    assert "who can approve: members of acme/cab (carol, sam)" in run.summary
    assert "### CAB approvals" in comment(app, pr)
    # the CAB team was asked to review, once
    assert app.double.pull_request(REPO, pr.number).requested_teams == ["cab"]

    approved = review(app, pr, "carol", "APPROVED")
    run = approval_run(app)
    assert (run.status, run.conclusion, run.title) == (
        "completed",
        "success",
        "Approved by the CAB",
    )
    assert f"| {approved.id} | carol | approved |" in run.summary
    assert "counted for acme/cab" in run.summary
    assert "approved: 1 CAB approval of 1" in comment(app, pr)
    assert len(app.double.comments(REPO, pr.number)) == 1  # the same sticky comment, edited

    source.edit(NEW_APP, "  name: Notepad++ X\n", "  name: Notepad++ X2\n")
    source.commit("rename")
    [moved] = app.double.push(REPO, source.path, "change")
    app.post(app.pr_event(moved, "synchronize"))
    app.drain()
    run = approval_run(app)
    assert (run.head_sha, run.status) == (moved.head_sha, "in_progress")
    assert "given on an earlier head: the pull request changed since" in run.summary

    review(app, moved, "dave", "APPROVED")
    run = approval_run(app)
    assert run.status == "in_progress"
    assert "the pull request's author cannot approve it" in run.summary
    assert "| dave | approved |" in comment(app, pr)

    types = audit_types(app, pr)
    assert types.count("approval.review_requested") == 1
    assert len(app.double.requests_to("POST", r"/requested_reviewers$")) == 1
    assert "approval.counted" in types
    assert types.count("approval.refused") >= 2  # carol's on the old head, dave's own
    assert "approval.decided" in types
    ledger = ReviewLedger(app.server.intake.services.engine)
    assert [(r.reviewer, r.commit_id) for r in ledger.reviews(REPO, pr.number)] == [
        ("carol", first_head),
        ("dave", moved.head_sha),
    ]


def test_a_member_removed_from_the_cab_team_stops_counting_after_the_membership_event(
    app: App, source: GitRepo
) -> None:
    pr = opened(app, source)
    review(app, pr, "carol", "APPROVED")
    assert approval_run(app).conclusion == "success"

    app.double.teams[("acme", "cab")].members.remove("carol")

    def adjust(payload: dict[str, Any]) -> None:
        payload["organization"]["login"] = "acme"

    delivery = webhooks.build(
        "membership",
        "removed",
        secret=app.secret,
        team="cab",
        member="carol",
        installation_id=app.installation,
        adjust=adjust,
    )
    assert app.post(delivery) == 202
    app.drain()
    run = approval_run(app)
    assert run.status == "in_progress"
    assert "not an active member of a CAB team" in run.summary


def test_a_dismissed_approval_stops_counting(app: App, source: GitRepo) -> None:
    pr = opened(app, source)
    approved = review(app, pr, "carol", "APPROVED")
    assert approval_run(app).conclusion == "success"

    approved.state = "DISMISSED"
    deliver_review(app, pr, approved, "dismissed")
    run = approval_run(app)
    assert run.status == "in_progress"
    assert "the review was dismissed" in run.summary


def test_changes_requested_by_a_cab_member_block_even_with_an_approval(
    app: App, source: GitRepo
) -> None:
    pr = opened(app, source)
    review(app, pr, "carol", "APPROVED")
    review(app, pr, "sam", "CHANGES_REQUESTED")
    run = approval_run(app)
    assert (run.status, run.conclusion) == ("completed", "failure")
    assert run.title == "Blocked: changes requested by CAB member(s) sam"


def test_a_commit_author_and_a_stranger_do_not_count(app: App, source: GitRepo) -> None:
    app.double.add_team("acme", "cab", [*CAB, "ada"])  # ada wrote the PR's commits
    pr = opened(app, source)
    review(app, pr, "ada", "APPROVED")
    review(app, pr, "mallory", "APPROVED")
    run = approval_run(app)
    assert run.status == "in_progress"
    assert "an author of a commit in the pull request cannot approve it" in run.summary
    assert "not an active member of a CAB team" in run.summary


def protection_rule(  # noqa: PLR0913 - the event's knobs
    app: App,
    pr: Any,
    environment: str,
    run_id: int,
    *,
    sha: str | None = None,
    named: bool = False,
) -> None:
    """GitHub asks to deploy ``sha`` (default: the PR's head); ``named``: the event names the PR."""

    def adjust(payload: dict[str, Any]) -> None:
        payload["environment"] = environment
        payload["deployment_callback_url"] = (
            f"https://api.github.com/repos/{REPO}/actions/runs/{run_id}/deployment_protection_rule"
        )
        if named:
            item = webhooks.example("pull_request", "opened")["pull_request"]
            item["number"] = pr.number
            payload["pull_requests"] = [item]

    delivery = webhooks.build(
        "deployment_protection_rule",
        "requested",
        secret=app.secret,
        repository=REPO,
        head_sha=sha or pr.head_sha,
        installation_id=app.installation,
        adjust=adjust,
    )
    assert app.post(delivery) == 202
    app.drain()


def test_the_deployment_protection_rule_follows_the_cab_decision(app: App, source: GitRepo) -> None:
    pr = opened(app, source)
    review(app, pr, "dave", "APPROVED")  # the author: known to the ledger, does not count
    protection_rule(app, pr, "intune/ring1", 11)
    approved = review(app, pr, "carol", "APPROVED")
    protection_rule(app, pr, "intune/ring1", 12)
    protection_rule(app, pr, "production", 13)

    answers = [(a["run_id"], a["state"]) for a in app.double.protection_rule_reviews]
    assert answers == [(11, "rejected"), (12, "approved"), (13, "rejected")]
    first, second, third = app.double.protection_rule_reviews
    assert "waiting for 1 more CAB approval" in first["comment"]
    assert str(approved.id) in second["comment"]
    assert "<plane>/<ring>" in third["comment"]
    assert {a["environment_name"] for a in app.double.protection_rule_reviews} == {
        "intune/ring1",
        "production",
    }
    assert not app.double.violations


def test_approvals_survive_a_readme_push_only_when_the_repository_says_so(
    app: App, source: GitRepo
) -> None:
    source.git("checkout", "-q", "main")
    source.edit(
        "eucora.yaml",
        "approvalsSurviveNonIntentPush: false",
        "approvalsSurviveNonIntentPush: true",
    )
    source.commit("approvals survive pushes that change no intent")
    source.git("checkout", "-q", "change")
    source.git("rebase", "-q", "main")
    pr = opened(app, source)
    review(app, pr, "carol", "APPROVED")
    assert approval_run(app).conclusion == "success"

    source.write("README.md", "typo fixed\n")
    source.commit("README only")
    [moved] = app.double.push(REPO, source.path, "change")
    app.post(app.pr_event(moved, "synchronize"))
    app.drain()
    assert (approval_run(app).head_sha, approval_run(app).conclusion) == (moved.head_sha, "success")

    source.edit(NEW_APP, "  name: Notepad++ X\n", "  name: Notepad++ X2\n")
    source.commit("an intent changes")
    [moved] = app.double.push(REPO, source.path, "change")
    app.post(app.pr_event(moved, "synchronize"))
    app.drain()
    run = approval_run(app)
    assert (run.head_sha, run.status) == (moved.head_sha, "in_progress")
    assert "given on an earlier head" in run.summary


def recheck(app: App, pr: Any, note: str = "") -> None:
    """``/eucora recheck`` from a writer (``note`` makes a second comment's body differ)."""
    app.double.set_permission(REPO, "erin", "write")
    delivery = webhooks.build(
        "issue_comment",
        "created",
        secret=app.secret,
        repository=REPO,
        number=pr.number,
        sender="erin",
        comment_body=f"/eucora recheck\n{note}",
        installation_id=app.installation,
    )
    assert app.post(delivery) == 202
    app.drain()


def test_reviews_the_ledger_never_saw_arrive_are_caught_up_from_the_api(
    app: App, source: GitRepo
) -> None:
    pr = opened(app, source)
    missed = app.double.add_review(REPO, pr.number, "carol", "APPROVED")  # no webhook came
    recheck(app, pr)
    assert approval_run(app).conclusion == "success"
    ledger = ReviewLedger(app.server.intake.services.engine)
    [entry] = ledger.entries(REPO, pr.number)
    assert (entry.review.id, entry.source, entry.action) == (missed.id, "api", "listed")
    assert entry.installation_id == app.installation  # membership events find this PR too
    assert entry.review.content_hash is not None
    assert entry.review.content_hash.startswith("sha256:")

    missed.state = "DISMISSED"  # dismissed, and that webhook was lost too
    recheck(app, pr, "again")
    run = approval_run(app)
    assert run.status == "in_progress"
    assert "the review was dismissed" in run.summary
    assert [e.review.state.value for e in ledger.entries(REPO, pr.number)] == [
        "APPROVED",
        "DISMISSED",
    ]


def test_a_cab_team_github_will_not_show_is_said_and_nobody_counts_for_it(
    app: App, source: GitRepo
) -> None:
    del app.double.teams[("acme", "cab")]
    pr = opened(app, source)
    review(app, pr, "carol", "APPROVED")
    run = approval_run(app)
    assert run.status == "in_progress"
    assert "CAB team acme/cab could not be read" in run.summary
    assert "members: read" in run.summary
    assert "not an active member of a CAB team" in run.summary


def test_a_deployment_of_a_commit_no_known_pr_produced_is_rejected(
    app: App, source: GitRepo
) -> None:
    pr = opened(app, source)
    stranger = type("Commitish", (), {"head_sha": "f" * 40})()
    protection_rule(app, stranger, "jamf/pilot", 21)
    [answer] = app.double.protection_rule_reviews
    assert answer["state"] == "rejected"
    assert "no pull request known to EUCORA produced ffffffffffff" in answer["comment"]
    assert pr.number == 1


def test_a_deployment_from_a_pr_the_policy_blocks_is_rejected(app: App, source: GitRepo) -> None:
    source.edit(NEW_APP, "    devices:", "    devcies:")
    source.commit("typo: a schema error blocks the change")
    pr = opened(app, source)
    run = approval_run(app)
    assert run.conclusion == "action_required"
    review(app, pr, "carol", "APPROVED")  # known to the ledger now
    protection_rule(app, pr, "intune/ring1", 31)
    [answer] = app.double.protection_rule_reviews
    assert answer["state"] == "rejected"
    assert "blocked by the EUCORA policy check" in answer["comment"]


def merge_group(app: App, pr: Any, attempt: int) -> Any:
    """The merge queue asks for checks on a group queuing ``pr`` (its commit: the PR's head)."""

    def adjust(payload: dict[str, Any]) -> None:
        group = payload["merge_group"]
        group["head_ref"] = f"refs/heads/gh-readonly-queue/main/pr-{pr.number}-{pr.base_sha}"
        group["head_commit"]["message"] = f"Merge queue attempt {attempt}"  # a new body

    delivery = webhooks.build(
        "merge_group",
        "checks_requested",
        secret=app.secret,
        repository=REPO,
        head_sha=pr.head_sha,
        base_sha=pr.base_sha,
        installation_id=app.installation,
        adjust=adjust,
    )
    assert app.post(delivery) == 202
    app.drain()
    return approval_run(app)


def test_a_merge_group_passes_the_cab_check_only_when_its_pr_is_approved(
    app: App, source: GitRepo
) -> None:
    pr = opened(app, source)
    run = merge_group(app, pr, 1)
    assert (run.status, run.conclusion) == ("completed", "failure")
    assert f"#{pr.number}: waiting for 1 more CAB approval" in run.summary

    approved = review(app, pr, "carol", "APPROVED")
    run = merge_group(app, pr, 2)
    assert (run.status, run.conclusion, run.title) == (
        "completed",
        "success",
        "Every queued pull request is approved",
    )
    assert f"(reviews {approved.id})" in run.summary


def test_a_pr_that_cannot_be_read_fails_the_membership_delivery_after_the_others_are_decided(
    app: App, source: GitRepo
) -> None:
    from datetime import UTC, datetime

    from bot.adapters.storage.inbox import Inbox
    from bot.adapters.storage.reviews import LedgerEntry
    from bot.core.approvals import Review, ReviewState

    pr = opened(app, source)
    review(app, pr, "carol", "APPROVED")
    engine = app.server.intake.services.engine
    moment = datetime.now(UTC)
    ReviewLedger(engine).record(  # a PR of a repository the installation no longer holds
        LedgerEntry(
            installation_id=app.installation,
            repository="acme/gone",
            pr=3,
            review=Review(
                id=1,
                reviewer="carol",
                reviewer_is_bot=False,
                state=ReviewState.APPROVED,
                commit_id="a" * 40,
                content_hash=None,
                submitted_at=moment,
            ),
            action="submitted",
            pr_head_sha="a" * 40,
            recorded_at=moment,
        )
    )
    app.double.teams[("acme", "cab")].members.remove("carol")

    def adjust(payload: dict[str, Any]) -> None:
        payload["organization"]["login"] = "acme"

    delivery = webhooks.build(
        "membership",
        "removed",
        secret=app.secret,
        team="cab",
        member="carol",
        installation_id=app.installation,
        adjust=adjust,
    )
    app.post(delivery)
    app.drain()
    assert approval_run(app).status == "in_progress"  # acme/intents was decided again
    stored = Inbox(engine).get(delivery.delivery_id) or {}
    assert "re-deciding after a membership change failed for acme/gone#3" in str(stored["error"])


# --- issue 14: the protection rule answers as the merge does --------------------------------------


def test_a_deployment_of_another_commit_is_rejected_though_the_event_names_an_approved_pr(
    app: App, source: GitRepo
) -> None:
    pr = opened(app, source)
    review(app, pr, "carol", "APPROVED")
    protection_rule(app, pr, "intune/ring1", 41, sha=pr.base_sha, named=True)  # main's commit
    protection_rule(app, pr, "intune/ring1", 42, named=True)  # the approved head
    answers = [(a["run_id"], a["state"]) for a in app.double.protection_rule_reviews]
    assert answers == [(41, "rejected"), (42, "approved")]
    first = app.double.protection_rule_reviews[0]
    assert f"no pull request known to EUCORA produced {pr.base_sha[:12]}" in first["comment"]


def test_a_deployment_from_a_pr_into_a_side_branch_is_rejected_whatever_its_rules_say(
    app: App, source: GitRepo
) -> None:
    source.branch("side", "main")
    source.edit("eucora.yaml", "    medium: 1\n", "    medium: 0\n")  # no approval needed there
    source.commit("side: its own rules")
    source.git("checkout", "-q", "change")
    source.git("rebase", "-q", "side")
    pr = opened(app, source, base="side")
    assert approval_run(app).conclusion == "success"  # under side's rules: nothing to approve
    protection_rule(app, pr, "intune/ring1", 43, named=True)
    [answer] = app.double.protection_rule_reviews
    assert answer["state"] == "rejected"
    assert "base branch is side, not main" in answer["comment"]


def test_a_team_read_that_fails_during_a_deployment_is_retried_not_rejected(
    app: App, source: GitRepo
) -> None:
    pr = opened(app, source)
    review(app, pr, "carol", "APPROVED")
    app.double.fail(404, 1, method="GET", path=r"/orgs/acme/teams/cab/members")
    protection_rule(app, pr, "intune/ring1", 44)
    assert app.double.protection_rule_reviews == []  # no answer on data that could not be read
    time.sleep(2.2)  # the inbox's first retry is due after 2 s
    app.drain()
    [answer] = app.double.protection_rule_reviews
    assert (answer["run_id"], answer["state"]) == (44, "approved")


def test_a_team_read_github_fails_for_a_moment_is_retried_never_taken_as_nobody(
    app: App, source: GitRepo
) -> None:
    """502s on the CAB team read while the PR is evaluated: the delivery is retried, never
    decided as "nobody is a member" (issue 14, finding 6: never decide on missing data)."""
    # more 502s than the adapter retries in one call: the read fails for this attempt
    app.double.fail(502, 6, method="GET", path=r"/orgs/acme/teams/cab/members")
    pr = opened(app, source)
    time.sleep(2.2)  # the inbox's first retry is due after 2 s
    app.drain()
    run = approval_run(app)
    assert "could not be read" not in run.summary, run.summary
    review(app, pr, "carol", "APPROVED")
    assert approval_run(app).conclusion == "success"
