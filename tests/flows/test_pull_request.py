"""The PR evaluation flow on real git repositories, real storage and a fake GitHub we own."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest

from bot.adapters.audit_keys import load_or_create_signer
from bot.adapters.evidence_keys import SettingsKeys
from bot.adapters.evidence_store import EvidenceStore
from bot.adapters.storage.audit_log import AuditLog
from bot.adapters.storage.db import create_database_engine, upgrade_schema
from bot.core.github_model import (
    APPROVAL_CHECK,
    EVIDENCE_MARKER,
    POLICY_CHECK,
    AnnotationLevel,
    CheckConclusion,
    CheckStatus,
    Permission,
    PullRequest,
)
from bot.core.pr_report import Command
from bot.core.redact import Redactor
from bot.errors import GitHubError
from bot.flows.audited_evidence import AuditedEvidence
from bot.flows.pull_request import (
    PullRequestContext,
    evaluate_merge_group,
    evaluate_pull_request,
    run_command,
)
from bot.ports import EvidencePorts
from bot.settings import Settings
from tests.conftest import EXAMPLES
from tests.support.fake_github import FakeGitHub
from tests.support.gitrepo import GitRepo

NOW = datetime.fromisoformat("2027-02-17T10:00:00+01:00")
REPO = "contoso/intents"
CHROME = "intents/windows/google-chrome.yaml"


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    repo = GitRepo.create(tmp_path / "repo", template=EXAMPLES / "intents-repo")
    repo.branch("change")
    return repo


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.from_environ(
        {"EUCORA_HOME": str(tmp_path / "home"), "EUCORA_PUBLIC_URL": "https://eucora.example/"}
    )


@pytest.fixture
def log(settings: Settings) -> AuditLog:
    engine = create_database_engine(settings.database_url)
    upgrade_schema(engine)
    return AuditLog(engine)


@pytest.fixture
def context(settings: Settings, log: AuditLog) -> PullRequestContext:
    signer = load_or_create_signer(settings.home, None)
    store = EvidenceStore(settings.evidence_dir)
    keys = SettingsKeys(settings, checkpoint=signer)
    evidence = AuditedEvidence(log, evidence=EvidencePorts(store, keys), clock=lambda: NOW)
    return PullRequestContext(
        github=FakeGitHub(Path()),
        settings=settings,
        evidence=evidence,
        clock=lambda: NOW,
        redactor=Redactor(),
    )


def using(context: PullRequestContext, github: FakeGitHub) -> PullRequestContext:
    return replace(context, github=github)


def open_pr(github: FakeGitHub, repo: GitRepo, *, labels: tuple[str, ...] = ()) -> PullRequest:
    pr = PullRequest(
        repository=REPO,
        number=7,
        head_sha=repo.git("rev-parse", "change"),
        base_sha=repo.git("rev-parse", "main"),
        base_ref="main",
        head_ref="change",
        author="ada",
        labels=labels,
    )
    github.add_pull(pr)
    return pr


def test_a_good_change_gets_a_green_policy_run_a_pending_cab_run_and_one_comment(
    repo: GitRepo, context: PullRequestContext, log: AuditLog
) -> None:
    repo.edit(CHROME, 'version: "131.0.6778.86"', 'version: "132.0.6834.83"')
    repo.commit("Chrome 132")
    github = FakeGitHub(repo.path)
    pr = open_pr(github, repo)

    outcome = evaluate_pull_request(using(context, github), REPO, 7, correlation_id="delivery-1")

    assert outcome == "evaluated"
    [policy_history] = [h for h in github.check_runs.values() if h[0].name == POLICY_CHECK]
    assert [r.status for r in policy_history] == [CheckStatus.IN_PROGRESS, CheckStatus.COMPLETED]
    policy = policy_history[-1]
    assert policy.conclusion is CheckConclusion.SUCCESS
    assert policy.head_sha == pr.head_sha
    assert policy.output is not None
    assert "may proceed" in policy.output.title
    assert policy.external_id is not None
    assert policy.external_id.startswith("sha256:")
    assert policy.details_url == f"https://eucora.example/evidence/{policy.external_id}"
    assert "Audit log checkpoint (signed)" in policy.output.summary
    [approval] = github.latest_runs(APPROVAL_CHECK)
    assert approval.status is CheckStatus.IN_PROGRESS
    assert approval.output is not None
    assert approval.output.title.startswith("Waiting for 1 CAB approval")
    [comment] = github.comments
    assert comment.body.startswith(EVIDENCE_MARKER)
    assert policy.external_id in comment.body
    assert "— " in comment.body  # the checkpoint note's signature line
    assert github.fetched == [(REPO, (pr.base_sha, pr.head_sha))]
    events = log.events(repository=REPO, pr=7)
    assert [e.type for e in events] == ["pull_request.evaluated", "evidence.stored"]
    assert {e.correlation_id for e in events} == {"delivery-1"}
    assert events[0].payload["digest"] == policy.external_id
    # The pack has its offline proof bundle, against the checkpoint the comment published.
    proof = EvidenceStore(context.settings.evidence_dir).get_proof(policy.external_id)
    assert proof is not None
    published = comment.body.split("```\n", 1)[1].split("\n```", 1)[0]
    assert len(published.splitlines()) >= 4  # origin, size, root, blank, signature
    assert published in proof.decode()


def test_the_pull_requests_title_author_and_address_are_kept_beside_the_pack(
    repo: GitRepo, context: PullRequestContext
) -> None:
    """The evidence page's PR line comes from the App's record, and the pack stays as it was."""
    repo.edit(CHROME, 'version: "131.0.6778.86"', 'version: "132.0.6834.83"')
    repo.commit("Chrome 132")
    github = FakeGitHub(repo.path)
    title = "Chrome 132 <script>alert(1)</script>"
    url = f"https://github.com/{REPO}/pull/7"
    github.add_pull(replace(open_pr(FakeGitHub(repo.path), repo), title=title, html_url=url))

    evaluate_pull_request(using(context, github), REPO, 7, correlation_id="delivery-1")

    [policy] = github.latest_runs(POLICY_CHECK)
    digest = policy.external_id
    assert digest is not None
    store = EvidenceStore(context.settings.evidence_dir)
    assert store.get_pull_request(digest) == {
        "number": 7,
        "title": title,
        "author": "ada",
        "url": url,
    }
    data = store.get(digest)
    assert title.encode() not in data
    assert "sha256:" + hashlib.sha256(data).hexdigest() == digest
    # The same change without a title: the very same pack, and the record follows GitHub.
    untitled = FakeGitHub(repo.path)
    open_pr(untitled, repo)
    evaluate_pull_request(using(context, untitled), REPO, 7, correlation_id="delivery-2")
    [again] = untitled.latest_runs(POLICY_CHECK)
    facts = store.get_pull_request(digest)
    assert facts is not None
    assert facts["title"] is None
    assert again.external_id == digest


def test_a_schema_error_fails_the_run_with_an_annotation_on_its_line(
    repo: GitRepo, context: PullRequestContext
) -> None:
    repo.edit(CHROME, "devices:", "devcies:")
    repo.commit("typo")
    line = next(i for i, text in enumerate(repo.read(CHROME).splitlines(), 1) if "devcies" in text)
    github = FakeGitHub(repo.path)
    open_pr(github, repo)

    evaluate_pull_request(using(context, github), REPO, 7, correlation_id="d")

    [policy] = github.latest_runs(POLICY_CHECK)
    assert policy.conclusion is CheckConclusion.FAILURE
    assert policy.output is not None
    assert policy.output.title.startswith("Blocked")
    failures = [a for a in policy.output.annotations if a.level is AnnotationLevel.FAILURE]
    assert any(a.path == CHROME and a.start_line == line for a in failures), failures
    [approval] = github.latest_runs(APPROVAL_CHECK)
    assert approval.conclusion is CheckConclusion.ACTION_REQUIRED


def test_a_new_push_edits_the_same_sticky_comment(
    repo: GitRepo, context: PullRequestContext
) -> None:
    repo.edit(CHROME, 'version: "131.0.6778.86"', 'version: "132.0.6834.83"')
    repo.commit("Chrome 132")
    github = FakeGitHub(repo.path)
    open_pr(github, repo)
    evaluate_pull_request(using(context, github), REPO, 7, correlation_id="d1")
    first = github.comments[0].body

    repo.edit(CHROME, 'version: "132.0.6834.83"', 'version: "132.0.6834.110"')
    github.move_head(REPO, 7, repo.commit("Chrome 132 patch"))
    evaluate_pull_request(using(context, github), REPO, 7, correlation_id="d2")

    [comment] = github.comments
    assert comment.edits == 1
    assert comment.body != first
    assert "132.0.6834.110" in comment.body


def test_a_delivery_for_an_older_head_is_superseded(
    repo: GitRepo, context: PullRequestContext
) -> None:
    old_head = repo.commit("nothing yet")
    repo.edit(CHROME, 'version: "131.0.6778.86"', 'version: "132.0.6834.83"')
    repo.commit("Chrome 132")
    github = FakeGitHub(repo.path)
    open_pr(github, repo)

    outcome = evaluate_pull_request(
        using(context, github), REPO, 7, correlation_id="d", expected_head=old_head
    )

    assert outcome == "superseded"
    assert github.check_runs == {}


def test_a_closed_pr_is_not_evaluated(repo: GitRepo, context: PullRequestContext) -> None:
    github = FakeGitHub(repo.path)
    pr = open_pr(github, repo)
    github.add_pull(PullRequest(**{**_fields(pr), "state": "closed"}))
    assert evaluate_pull_request(using(context, github), REPO, 7, correlation_id="d") == "ignored"
    assert github.check_runs == {}


def _fields(pr: PullRequest) -> dict[str, object]:
    return {name: getattr(pr, name) for name in PullRequest.__slots__}


def test_an_unreadable_revision_completes_the_run_as_a_failure_saying_why(
    repo: GitRepo, context: PullRequestContext, log: AuditLog
) -> None:
    github = FakeGitHub(repo.path)
    pr = open_pr(github, repo)
    github.add_pull(PullRequest(**{**_fields(pr), "head_sha": "0" * 40}))

    assert evaluate_pull_request(using(context, github), REPO, 7, correlation_id="d") == "failed"

    [policy] = github.latest_runs(POLICY_CHECK)
    assert policy.conclusion is CheckConclusion.FAILURE
    assert policy.output is not None
    assert "could not evaluate" in policy.output.title
    assert "/eucora recheck" in policy.output.summary
    assert [e.type for e in log.events(repository=REPO, pr=7)] == ["pull_request.evaluation_failed"]


def test_github_failures_propagate_for_the_worker_to_retry(
    repo: GitRepo, context: PullRequestContext
) -> None:
    github = FakeGitHub(repo.path, fail_fetch=GitHubError("fetch: 502 Bad Gateway"))
    open_pr(github, repo)
    with pytest.raises(GitHubError, match="502"):
        evaluate_pull_request(using(context, github), REPO, 7, correlation_id="d")


def test_a_failed_evaluation_completes_its_policy_run_before_the_worker_retries(
    repo: GitRepo, context: PullRequestContext
) -> None:
    """Issue 14: the run stayed ``in_progress`` for good (one more per attempt)."""
    github = FakeGitHub(repo.path, fail_fetch=GitHubError("fetch: 502 Bad Gateway"))
    open_pr(github, repo)
    for _ in range(2):  # each attempt completes its own run
        with pytest.raises(GitHubError, match="502"):
            evaluate_pull_request(using(context, github), REPO, 7, correlation_id="d")
    runs = github.latest_runs(POLICY_CHECK)
    assert len(runs) == 2
    for run in runs:
        assert (run.status, run.conclusion) == (CheckStatus.COMPLETED, CheckConclusion.FAILURE)
        assert run.output is not None
        assert run.output.summary.startswith(
            "The evaluation failed (GitHubError: fetch: 502 Bad Gateway); EUCORA retries it."
        )


def test_the_emergency_label_reaches_the_check(repo: GitRepo, context: PullRequestContext) -> None:
    repo.edit(CHROME, 'version: "131.0.6778.86"', 'version: "132.0.6834.83"')
    repo.commit("Chrome 132")
    github = FakeGitHub(repo.path)
    open_pr(github, repo, labels=("eucora:emergency",))
    evaluate_pull_request(using(context, github), REPO, 7, correlation_id="d")
    stored = context.evidence.latest_pack(REPO, 7, github.pulls[(REPO, 7)].head_sha)
    assert stored is not None
    assert stored.pack["labels"] == ["eucora:emergency"]


def test_a_merge_group_gets_the_policy_run_and_no_comment(
    repo: GitRepo, context: PullRequestContext
) -> None:
    repo.edit(CHROME, 'version: "131.0.6778.86"', 'version: "132.0.6834.83"')
    head = repo.commit("Chrome 132")
    github = FakeGitHub(repo.path)
    outcome = evaluate_merge_group(
        using(context, github),
        REPO,
        base_sha=repo.git("rev-parse", "main"),
        head_sha=head,
        correlation_id="mq",
    )
    assert outcome == "evaluated"
    [policy] = github.latest_runs(POLICY_CHECK)
    assert (policy.head_sha, policy.conclusion) == (head, CheckConclusion.SUCCESS)
    assert github.comments == []


def test_recheck_from_a_writer_evaluates_again(
    repo: GitRepo, context: PullRequestContext, log: AuditLog
) -> None:
    github = FakeGitHub(repo.path, permissions={"maya": Permission.MAINTAIN})
    open_pr(github, repo)
    outcome = run_command(
        using(context, github), REPO, 7, Command.RECHECK, user="maya", correlation_id="c1"
    )
    assert outcome == "evaluated"
    types = [e.type for e in log.events(repository=REPO, pr=7)]
    assert types == ["comment_command.accepted", "pull_request.evaluated", "evidence.stored"]


def test_a_command_from_a_reader_is_politely_refused_and_audited(
    repo: GitRepo, context: PullRequestContext, log: AuditLog
) -> None:
    github = FakeGitHub(repo.path, permissions={"rex": Permission.READ})
    open_pr(github, repo)
    outcome = run_command(
        using(context, github), REPO, 7, Command.RECHECK, user="rex", correlation_id="c"
    )
    assert outcome == "refused"
    assert github.check_runs == {}
    [reply] = github.comments
    assert "@rex" in reply.body
    assert "write access" in reply.body
    [event] = log.events(repository=REPO, pr=7)
    assert (event.type, event.payload) == (
        "comment_command.refused",
        {"command": "recheck", "user": "rex"},
    )


def test_explain_replies_with_the_factors_of_the_latest_pack(
    repo: GitRepo, context: PullRequestContext
) -> None:
    repo.edit(CHROME, 'version: "131.0.6778.86"', 'version: "132.0.6834.83"')
    repo.commit("Chrome 132")
    github = FakeGitHub(repo.path, permissions={"maya": Permission.WRITE})
    open_pr(github, repo)
    # Not evaluated yet at this head: explain evaluates first, then answers.
    assert (
        run_command(
            using(context, github), REPO, 7, Command.EXPLAIN, user="maya", correlation_id="e"
        )
        == "explained"
    )
    sticky, reply = github.comments
    assert sticky.body.startswith(EVIDENCE_MARKER)
    assert reply.body.startswith("@maya here is why the risk is **")
    assert "| points | family | rule | intent | reason |" in reply.body
    # Asked again: answered from the stored pack, without a second evaluation.
    runs_before = len(github.check_runs)
    run_command(using(context, github), REPO, 7, Command.EXPLAIN, user="maya", correlation_id="e2")
    assert len(github.check_runs) == runs_before
    assert len(github.comments) == 3


def test_retry_publish_says_there_is_nothing_to_retry_yet(
    repo: GitRepo, context: PullRequestContext
) -> None:
    github = FakeGitHub(repo.path, permissions={"maya": Permission.ADMIN})
    open_pr(github, repo)
    outcome = run_command(
        using(context, github), REPO, 7, Command.RETRY_PUBLISH, user="maya", correlation_id="r"
    )
    assert outcome == "ignored"
    assert "nothing to retry" in github.comments[0].body
