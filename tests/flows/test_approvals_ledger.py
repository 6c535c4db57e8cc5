"""The approvals flow records reviews in the ledger through ports only: no database, no git.

``CabApprovals.record`` on the in-memory ledger and revisions (``tests/support/memory.py``):
each arrival is bound to the content hash at the reviewed commit, over the folders the base
revision's ``eucora.yaml`` names; a commit GitHub no longer serves is recorded without a hash.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.core.approvals import ReviewState
from bot.core.github_model import PullRequestReview
from bot.errors import GitHubError
from bot.flows.cab_approvals import CabApprovals
from bot.flows.team_directory import TeamDirectory
from tests.support.fake_github import FakeGitHub
from tests.support.memory import MemoryLedger, MemoryRevisions

REPO = "acme/intents"
BASE, HEAD = "1" * 40, "2" * 40
NOW = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)
CONFIG = b"apiVersion: eucora.dev/v1\nkind: EucoraConfig\ncab:\n  teams: [acme/cab]\npaths:\n  intents: apps\n"


@dataclass
class Context:
    """The part of ``PullRequestContext`` that recording reads: GitHub."""

    github: FakeGitHub


def approvals(ledger: MemoryLedger) -> CabApprovals:
    clock = lambda: NOW  # noqa: E731 - the clock port
    return CabApprovals(ledger, TeamDirectory(clock, ttl=timedelta(seconds=60)), clock=clock)


def review(review_id: int, state: str = "APPROVED") -> PullRequestReview:
    return PullRequestReview(
        id=review_id,
        reviewer="carol",
        state=state,
        commit_id=HEAD,
        submitted_at="2027-01-04T08:59:00Z",
    )


def test_an_approval_is_bound_to_the_content_of_the_folders_the_base_config_names(
    tmp_path: Path,
) -> None:
    revisions = MemoryRevisions(
        files={
            BASE: {"eucora.yaml": CONFIG},
            HEAD: {
                "eucora.yaml": CONFIG,
                "apps/chrome.yaml": b"app: {name: chrome}\n",
                "intents/ignored.yaml": b"not: counted\n",
            },
        }
    )
    github = FakeGitHub(tmp_path, revisions=revisions)
    ledger = MemoryLedger()

    recorded = approvals(ledger).record(
        Context(github),  # type: ignore[arg-type]
        REPO,
        7,
        review(11),
        action="submitted",
        pr_head_sha=HEAD,
        installation_id=3,
        base_sha=BASE,
    )

    assert recorded
    [entry] = ledger.entries(REPO, 7)
    assert entry.review.content_hash == revisions.content_hash(HEAD, ("apps", "policies"))
    assert entry.review.content_hash != revisions.content_hash(HEAD, ("intents", "policies"))
    assert (entry.review.state, entry.review.commit_id, entry.recorded_at) == (
        ReviewState.APPROVED,
        HEAD,
        NOW,
    )
    assert entry.review.submitted_at == datetime(2027, 1, 4, 8, 59, tzinfo=UTC)
    assert github.fetched == [(REPO, (HEAD, BASE))]
    assert (BASE, "eucora.yaml") in revisions.reads


def test_a_redelivered_review_is_recorded_once_and_a_lost_commit_without_a_hash(
    tmp_path: Path,
) -> None:
    revisions = MemoryRevisions(files={HEAD: {"eucora.yaml": CONFIG}})
    github = FakeGitHub(tmp_path, revisions=revisions)
    ledger = MemoryLedger()
    judge = approvals(ledger)
    fields = {"action": "submitted", "pr_head_sha": HEAD, "installation_id": 3, "config": {}}

    assert judge.record(Context(github), REPO, 7, review(11), **fields)  # type: ignore[arg-type]
    assert not judge.record(Context(github), REPO, 7, review(11), **fields)  # type: ignore[arg-type]
    github.fail_fetch = GitHubError("commit gone")
    assert judge.record(Context(github), REPO, 7, review(12), **fields)  # type: ignore[arg-type]
    assert not judge.record(Context(github), REPO, 7, review(13, "PENDING"), **fields)  # type: ignore[arg-type]

    hashes = {e.review.id: e.review.content_hash for e in ledger.entries(REPO, 7)}
    assert hashes == {11: revisions.content_hash(HEAD, ("intents", "policies")), 12: None}
    assert ledger.pull_requests(installation_id=3) == [(REPO, 7)]
