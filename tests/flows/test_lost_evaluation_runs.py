"""Check runs a lost evaluation left ``in_progress`` are completed by the next evaluation of the head.

A worker ``kill -9``'d inside an evaluation leaves its ``EUCORA policy`` run (and a CAB approval
run) ``in_progress``; the retry creates new runs. The next evaluation of the same commit completes
this app's older in-progress runs as ``cancelled``, saying why, through the real adapter against
the GitHub double; other apps' runs are left alone, and a failed list read is retried, never "none".
"""

from __future__ import annotations

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
    POLICY_CHECK,
    CheckConclusion,
    CheckRun,
    CheckStatus,
    PullRequest,
)
from bot.core.pr_report import started_policy_run
from bot.core.redact import Redactor
from bot.doubles.github import GitHubDouble
from bot.doubles.github import state as st
from bot.errors import GitHubError
from bot.flows.audited_evidence import AuditedEvidence
from bot.flows.pull_request import PullRequestContext, evaluate_pull_request
from bot.ports import EvidencePorts, GitHub
from bot.settings import Settings
from tests.conftest import EXAMPLES
from tests.support.fake_github import FakeGitHub
from tests.support.github_double_fixtures import app_connector
from tests.support.gitrepo import GitRepo

NOW = datetime.fromisoformat("2027-02-17T10:00:00+01:00")
REPO = "contoso/intents"
CHROME = "intents/windows/google-chrome.yaml"
SUPERSEDED = "Superseded by a later evaluation (the worker evaluating it was lost)."


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    repo = GitRepo.create(tmp_path / "repo", template=EXAMPLES / "intents-repo")
    repo.branch("change")
    repo.edit(CHROME, 'version: "131.0.6778.86"', 'version: "132.0.6834.83"')
    repo.commit("Chrome 132")
    return repo


def flow_context(tmp_path: Path, github: GitHub) -> PullRequestContext:
    settings = Settings.from_environ({"EUCORA_HOME": str(tmp_path / "home")})
    engine = create_database_engine(settings.database_url)
    upgrade_schema(engine)
    signer = load_or_create_signer(settings.home, None)
    evidence = AuditedEvidence(
        AuditLog(engine),
        evidence=EvidencePorts(
            store=EvidenceStore(settings.evidence_dir),
            keys=SettingsKeys(settings, checkpoint=signer),
        ),
        clock=lambda: NOW,
    )
    return PullRequestContext(
        github=github, settings=settings, evidence=evidence, clock=lambda: NOW, redactor=Redactor()
    )


def lost_approval_run(head_sha: str) -> CheckRun:
    return CheckRun(name=APPROVAL_CHECK, head_sha=head_sha, status=CheckStatus.IN_PROGRESS)


def test_the_next_evaluation_of_the_head_completes_the_runs_a_lost_worker_left(
    tmp_path: Path, repo: GitRepo, github_double: GitHubDouble
) -> None:
    installation = github_double.add_installation("contoso")
    github_double.add_repository(REPO, installation=installation, source=repo.path)
    pull = github_double.open_pull_request(REPO, head="change", author="ada")
    github = app_connector(github_double, tmp_path).for_installation(installation.id)
    head = repo.git("rev-parse", "change")
    # The lost evaluation: its runs created, then the worker killed before completing them.
    lost_policy = github.create_check_run(REPO, started_policy_run(head))
    lost_approval = github.create_check_run(REPO, lost_approval_run(head))
    with github_double.lock:  # another app's run on the same commit is not ours to complete
        foreign = st.StoredCheckRun(
            id=github_double.next_id(),
            repository=REPO,
            name=POLICY_CHECK,
            head_sha=head,
            app_id=github_double.app.id + 1,
            status="in_progress",
        )
        github_double.runs[foreign.id] = foreign

    outcome = evaluate_pull_request(
        flow_context(tmp_path, github), REPO, pull.number, correlation_id="retry"
    )

    assert outcome == "evaluated"
    runs = {r.id: r for r in github_double.check_runs(REPO)}
    for lost in (lost_policy, lost_approval):
        assert runs[lost].status == "completed"
        assert runs[lost].conclusion == "cancelled"  # never neutral: a required check passes that
        assert runs[lost].summary == SUPERSEDED
    assert runs[foreign.id].status == "in_progress"
    ours = [r for r in runs.values() if r.app_id == github_double.app.id]
    newest_policy = max((r for r in ours if r.name == POLICY_CHECK), key=lambda r: r.id)
    assert newest_policy.id != lost_policy
    assert newest_policy.status == "completed"
    assert newest_policy.conclusion == "success"
    # In progress now: only this evaluation's own CAB approval run, waiting for approvals.
    newest_approval = max((r for r in ours if r.name == APPROVAL_CHECK), key=lambda r: r.id)
    assert [r.id for r in ours if r.status == "in_progress"] == [newest_approval.id]
    assert newest_approval.id != lost_approval


def test_the_adapter_lists_only_this_apps_in_progress_runs_of_the_name_on_the_commit(
    tmp_path: Path, repo: GitRepo, github_double: GitHubDouble
) -> None:
    installation = github_double.add_installation("contoso")
    github_double.add_repository(REPO, installation=installation, source=repo.path)
    github = app_connector(github_double, tmp_path).for_installation(installation.id)
    head, base = repo.git("rev-parse", "change"), repo.git("rev-parse", "main")
    older = github.create_check_run(REPO, started_policy_run(head))
    newer = github.create_check_run(REPO, started_policy_run(head))  # GitHub's "latest" hides older
    github.create_check_run(REPO, lost_approval_run(head))
    github.create_check_run(REPO, started_policy_run(base))
    done = github.create_check_run(REPO, started_policy_run(head))
    github.update_check_run(
        REPO,
        done,
        CheckRun(
            name=POLICY_CHECK,
            head_sha=head,
            status=CheckStatus.COMPLETED,
            conclusion=CheckConclusion.SUCCESS,
        ),
    )
    with github_double.lock:
        other = github_double.next_id()
        github_double.runs[other] = st.StoredCheckRun(
            id=other,
            repository=REPO,
            name=POLICY_CHECK,
            head_sha=head,
            app_id=github_double.app.id + 1,
            status="in_progress",
        )

    listed = github.in_progress_check_runs(REPO, head, POLICY_CHECK)

    assert sorted(listed) == sorted([older, newer])


def test_a_failed_list_read_is_retried_never_taken_as_none(tmp_path: Path, repo: GitRepo) -> None:
    github = FakeGitHub(repo.path)
    head = repo.git("rev-parse", "change")
    github.add_pull(
        PullRequest(
            repository=REPO,
            number=7,
            head_sha=head,
            base_sha=repo.git("rev-parse", "main"),
            base_ref="main",
            head_ref="change",
            author="ada",
        )
    )
    lost = github.create_check_run(REPO, started_policy_run(head))
    github.fail_next("in_progress_check_runs")
    context = flow_context(tmp_path, github)

    with pytest.raises(GitHubError, match="in_progress_check_runs"):
        evaluate_pull_request(context, REPO, 7, correlation_id="retry")
    # The evaluation's own run is completed as failed; the lost one waits for the retry.
    assert [h[-1].status for h in github.check_runs.values()] == [
        CheckStatus.IN_PROGRESS,
        CheckStatus.COMPLETED,
    ]

    assert evaluate_pull_request(context, REPO, 7, correlation_id="retry") == "evaluated"
    assert github.check_runs[lost][-1].status is CheckStatus.COMPLETED
    assert github.check_runs[lost][-1].output is not None
    assert github.check_runs[lost][-1].output.summary == SUPERSEDED
    assert not github.in_progress_check_runs(REPO, head, POLICY_CHECK)
