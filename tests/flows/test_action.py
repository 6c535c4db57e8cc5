"""The Action flow: the sticky comment (posted once, updated in place, never for forks or merge
groups) and the CAB approvals it decides (a failed read is an error, never "no approvals")."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from bot.adapters.git_content import content_hash
from bot.adapters.github_connectors import GitHubTokenConnector
from bot.adapters.revisions import GitRevisions
from bot.core.action import ApprovalsState
from bot.core.github_model import EVIDENCE_MARKER
from bot.errors import GitHubError
from bot.flows.action import ActionEnvironment, ActionError, read_event, run_action
from tests.conftest import EXAMPLES
from tests.support import webhooks
from tests.support.gitrepo import GitRepo

SECRET = "webhook-secret-unused-here"  # noqa: S105 - signs the test payloads only
WEDNESDAY = datetime.fromisoformat("2027-02-17T10:00:00+01:00")
CHROME = "intents/windows/google-chrome.yaml"


class CommentsOnly:
    """A GitHub that keeps comments by (repository, number), as upsert_comment promises."""

    def __init__(self, *, fail: bool = False) -> None:
        self.comments: dict[int, tuple[str, int, str]] = {}
        self.fail = fail

    def upsert_comment(self, repository: str, number: int, marker: str, body: str) -> int:
        if self.fail:
            raise GitHubError("403 Resource not accessible by integration")
        assert marker in body
        for comment_id, (repo, pr, old) in self.comments.items():
            if (repo, pr) == (repository, number) and marker in old:
                self.comments[comment_id] = (repository, number, body)
                return comment_id
        comment_id = 1000 + len(self.comments)
        self.comments[comment_id] = (repository, number, body)
        return comment_id


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    repo = GitRepo.create(tmp_path / "intents", template=EXAMPLES / "intents-repo")
    repo.branch("change")
    repo.edit(CHROME, 'version: "131.0.6778.86"', 'version: "131.0.6778.109"')
    repo.commit("Chrome 131.0.6778.109")
    return repo


def environment(tmp_path: Path, repo: GitRepo, event: str, payload: dict) -> ActionEnvironment:
    path = tmp_path / f"{event}.json"
    path.write_text(json.dumps(payload), encoding="utf-8")
    return ActionEnvironment.from_environ(
        {
            "GITHUB_EVENT_NAME": event,
            "GITHUB_EVENT_PATH": str(path),
            "GITHUB_WORKSPACE": str(repo.path),
            "GITHUB_OUTPUT": str(tmp_path / "output"),
            "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
            "RUNNER_TEMP": str(tmp_path / "temp"),
        }
    )


def pr(repo: GitRepo, **changes) -> dict:
    return webhooks.build(
        "pull_request",
        "synchronize",
        secret=SECRET,
        repository="contoso/intents",
        number=9,
        base_sha=repo.git("rev-parse", "main"),
        head_sha=repo.git("rev-parse", "change"),
        **changes,
    ).payload


def test_the_sticky_comment_is_posted_then_updated_in_place(tmp_path: Path, repo: GitRepo) -> None:
    github = CommentsOnly()
    env = environment(tmp_path, repo, "pull_request", pr(repo))
    first = run_action(env, open_revisions=GitRevisions, now=WEDNESDAY, connect=lambda: github)
    assert first.comment == "sticky comment 1000 on pull request #9 is up to date"
    repo.edit(CHROME, 'version: "131.0.6778.109"', 'version: "131.0.6778.110"')
    repo.commit("Chrome 131.0.6778.110")
    env = environment(tmp_path, repo, "pull_request", pr(repo))
    second = run_action(
        env,
        open_revisions=GitRevisions,
        now=WEDNESDAY,
        connect=lambda: github,
        public_url="https://eucora.contoso.com/",
    )
    assert second.comment == first.comment
    [(repository, number, body)] = github.comments.values()
    assert (repository, number) == ("contoso/intents", 9)
    assert body.startswith(EVIDENCE_MARKER)
    assert second.run.digest in body
    assert f"https://eucora.contoso.com/evidence/{second.run.digest}" in body
    assert "131.0.6778.110" in body


def test_no_client_is_built_for_a_fork_or_a_merge_group(tmp_path: Path, repo: GitRepo) -> None:
    def never() -> CommentsOnly:
        raise AssertionError("no GitHub client may be built")

    def fork(payload: dict) -> None:
        payload["pull_request"]["head"]["repo"]["full_name"] = "mallory/intents"

    env = environment(tmp_path, repo, "pull_request", pr(repo, adjust=fork))
    assert (
        "fork" in run_action(env, open_revisions=GitRevisions, now=WEDNESDAY, connect=never).comment
    )
    group = webhooks.build(
        "merge_group",
        "checks_requested",
        secret=SECRET,
        base_sha=repo.git("rev-parse", "main"),
        head_sha=repo.git("rev-parse", "change"),
    ).payload
    env = environment(tmp_path, repo, "merge_group", group)
    assert (
        "merge group"
        in run_action(env, open_revisions=GitRevisions, now=WEDNESDAY, connect=never).comment
    )


def test_a_refused_comment_is_reported_not_fatal(tmp_path: Path, repo: GitRepo) -> None:
    env = environment(tmp_path, repo, "pull_request", pr(repo))
    report = run_action(
        env, open_revisions=GitRevisions, now=WEDNESDAY, connect=lambda: CommentsOnly(fail=True)
    )
    assert report.comment_failed
    assert "403 Resource not accessible by integration" in report.comment
    assert not report.blocked
    assert (tmp_path / "output").read_text(encoding="utf-8").count("<<") == 6  # with approvals


def test_outputs_and_summary_are_appended_not_overwritten(tmp_path: Path, repo: GitRepo) -> None:
    (tmp_path / "output").write_text("earlier=step\n", encoding="utf-8")
    (tmp_path / "summary.md").write_text("# Earlier step\n", encoding="utf-8")
    run_action(
        environment(tmp_path, repo, "pull_request", pr(repo)),
        open_revisions=GitRevisions,
        now=WEDNESDAY,
    )
    assert (tmp_path / "output").read_text(encoding="utf-8").startswith("earlier=step\n")
    assert (tmp_path / "summary.md").read_text(encoding="utf-8").startswith("# Earlier step\n")


def test_unwritable_evidence_folder_and_unreadable_event(tmp_path: Path, repo: GitRepo) -> None:
    env = environment(tmp_path, repo, "pull_request", pr(repo))
    blocker = tmp_path / "file"
    blocker.write_text("x", encoding="utf-8")
    bad = ActionEnvironment(
        event_name=env.event_name, event_path=env.event_path, repo=env.repo, evidence_dir=blocker
    )
    with pytest.raises(ActionError, match="cannot write"):
        run_action(bad, open_revisions=GitRevisions, now=WEDNESDAY)
    missing = ActionEnvironment(
        event_name="pull_request", event_path=tmp_path / "nope.json", repo=env.repo
    )
    with pytest.raises(ActionError, match=r"cannot read the event payload .*nope\.json"):
        read_event(missing)
    summary_dir = ActionEnvironment(
        event_name=env.event_name,
        event_path=env.event_path,
        repo=env.repo,
        evidence_dir=tmp_path / "ev",
        summary_path=tmp_path,
    )
    with pytest.raises(ActionError, match="cannot write"):
        run_action(summary_dir, open_revisions=GitRevisions, now=WEDNESDAY)


def test_oversized_and_binary_payloads(tmp_path: Path, repo: GitRepo) -> None:
    path = tmp_path / "event.json"
    path.write_bytes(b"\xff\xfe{}")
    env = ActionEnvironment(event_name="pull_request", event_path=path, repo=repo.path)
    with pytest.raises(ActionError, match="not JSON"):
        read_event(env)
    with path.open("wb") as stream:
        stream.truncate(25 * 1024 * 1024 + 1)
    with pytest.raises(ActionError, match="larger than GitHub's 25 MB"):
        read_event(env)


def test_defaults_outside_a_runner(tmp_path: Path) -> None:
    env = ActionEnvironment.from_environ({"GITHUB_EVENT_PATH": "e.json"})
    assert (env.repo, env.evidence_dir, env.output_path, env.summary_path) == (
        Path(),
        Path(),
        None,
        None,
    )


# --- CAB approvals: reads that fail are never "no approvals" ---------------------------------------


@pytest.fixture
def approvals_scene(tmp_path: Path, repo: GitRepo, github_double):
    """The repository on the GitHub double, a PR by dave, a CAB member's approval (carol's)."""
    installation = github_double.add_installation("contoso")
    github_double.add_repository("contoso/intents", installation=installation, source=repo.path)
    github_double.add_team("contoso", "cab-desktop", ["carol"])
    github_double.add_team("contoso", "security-cab", ["sam"])
    pull = github_double.open_pull_request(
        "contoso/intents", head="change", base="main", author="dave"
    )
    github_double.add_review("contoso/intents", pull.number, "carol", "APPROVED")
    token = github_double.installation_token(installation.id)
    connector = GitHubTokenConnector(
        api_url=github_double.url,
        token=token,
        mirrors_dir=tmp_path / "mirrors",
        backoff_factor=0.01,
        max_wait=1,
    )
    payload = webhooks.pull_request_event(
        pull, "opened", secret=SECRET, installation_id=None
    ).payload
    return environment(tmp_path, repo, "pull_request", payload), connector.for_installation(None)


def test_approvals_are_decided_after_a_passing_failure(approvals_scene, github_double) -> None:
    env, github = approvals_scene
    github_double.fail(502, 2, method="GET", path=r"/teams/cab-desktop/members")
    report = run_action(
        env,
        open_revisions=GitRevisions,
        now=WEDNESDAY,
        approvals=lambda: github,
        content_hash=content_hash,
    )
    assert report.approvals.state is ApprovalsState.DECIDED
    assert report.approvals.output == "approved"
    assert [v.reviewer for v in report.approvals.decision.counted] == ["carol"]
    team_reads = [r for r in github_double.requests if r.path.endswith("/cab-desktop/members")]
    assert [r.status for r in team_reads] == [502, 502, 200]


@pytest.mark.parametrize(
    ("path", "status", "said"),
    [
        (r"/teams/cab-desktop/members", 502, "GitHub failed: reading the members of team"),
        (r"/pulls/\d+/reviews", 500, "GitHub failed: reading the reviews of"),
        (r"/teams/security-cab/members", 404, "cannot see CAB team contoso/security-cab"),
    ],
)
def test_a_failed_read_is_an_error_never_no_approvals(
    approvals_scene, github_double, path: str, status: int, said: str
) -> None:
    env, github = approvals_scene
    github_double.fail(status, 50, method="GET", path=path)
    report = run_action(
        env,
        open_revisions=GitRevisions,
        now=WEDNESDAY,
        approvals=lambda: github,
        content_hash=content_hash,
    )
    approvals = report.approvals
    assert (approvals.state, approvals.output, approvals.decision) == (
        ApprovalsState.ERROR,
        "error",
        None,
    )
    assert said in approvals.why
    assert not approvals.unmet  # not "waiting": the step exits 2, not 1
    assert "could not be decided" in (env.summary_path or Path()).read_text(encoding="utf-8")


def test_no_approvals_are_decided_for_a_merge_group_or_a_blocked_change(
    tmp_path: Path, repo: GitRepo
) -> None:
    def never() -> CommentsOnly:
        raise AssertionError("no GitHub client may be built")

    group = webhooks.build(
        "merge_group",
        "checks_requested",
        secret=SECRET,
        base_sha=repo.git("rev-parse", "main"),
        head_sha=repo.git("rev-parse", "change"),
    ).payload
    report = run_action(
        environment(tmp_path, repo, "merge_group", group),
        open_revisions=GitRevisions,
        now=WEDNESDAY,
        approvals=never,
    )
    assert report.approvals.state is ApprovalsState.NOT_DECIDED
    assert "each pull request's own run" in report.approvals.why
    repo.write(CHROME, repo.read(CHROME).replace("https://", "http://", 1))
    repo.commit("plain http")
    report = run_action(
        environment(tmp_path, repo, "pull_request", pr(repo)),
        open_revisions=GitRevisions,
        now=WEDNESDAY,
        approvals=never,
    )
    assert report.blocked
    assert report.approvals.output == "not-decided"
    assert "the policy check blocks this change" in report.approvals.why


def test_an_approval_survives_a_push_that_changes_no_intent_only_when_configured(
    tmp_path: Path, github_double
) -> None:
    """``approvalsSurviveNonIntentPush``: the App's rule, from the content hash at each commit."""
    repo = GitRepo.create(tmp_path / "surviving", template=EXAMPLES / "intents-repo")
    repo.edit(
        "eucora.yaml",
        "approvalsSurviveNonIntentPush: false",
        "approvalsSurviveNonIntentPush: true",
    )
    repo.commit("approvals survive a push that changes no intent")
    repo.branch("change")
    repo.edit(CHROME, 'version: "131.0.6778.86"', 'version: "131.0.6778.109"')
    repo.commit("Chrome 131.0.6778.109")
    installation = github_double.add_installation("contoso")
    github_double.add_repository("contoso/intents", installation=installation, source=repo.path)
    github_double.add_team("contoso", "cab-desktop", ["carol"])
    github_double.add_team("contoso", "security-cab", [])
    pull = github_double.open_pull_request(
        "contoso/intents", head="change", base="main", author="dave"
    )
    review = github_double.add_review("contoso/intents", pull.number, "carol", "APPROVED")
    repo.write("README.md", "A typo fixed.\n")
    repo.commit("README typo")
    [moved] = github_double.push("contoso/intents", repo.path, "change")
    assert moved.head_sha != review.commit_id
    payload = webhooks.pull_request_event(
        moved, "synchronize", secret=SECRET, installation_id=None
    ).payload
    env = environment(tmp_path, repo, "pull_request", payload)
    github = GitHubTokenConnector(
        api_url=github_double.url,
        token=github_double.installation_token(installation.id),
        mirrors_dir=tmp_path / "mirrors",
    ).for_installation(None)
    report = run_action(
        env,
        open_revisions=GitRevisions,
        now=WEDNESDAY,
        approvals=lambda: github,
        content_hash=content_hash,
    )
    assert report.approvals.output == "approved"
    # without a way to hash the content, an approval counts on its own head only (strict)
    strict = run_action(env, open_revisions=GitRevisions, now=WEDNESDAY, approvals=lambda: github)
    assert strict.approvals.output == "waiting"
    [verdict] = strict.approvals.decision.verdicts
    assert verdict.reason is not None
    assert verdict.reason.value == "not-on-head"


def test_a_payload_without_the_authors_login_is_an_error_not_a_guess(
    tmp_path: Path, repo: GitRepo
) -> None:
    def never() -> CommentsOnly:
        raise AssertionError("no GitHub client may be built")

    payload = pr(repo)
    del payload["pull_request"]["user"]  # not GitHub's shape: the step must not guess
    env = environment(tmp_path, repo, "pull_request", payload)
    report = run_action(env, open_revisions=GitRevisions, now=WEDNESDAY, approvals=never)
    assert report.approvals.output == "error"
    assert "does not name the pull request's author" in report.approvals.why
