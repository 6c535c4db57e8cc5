"""One review type: GitHub's report becomes the core's Review in one place, the ledger stores it."""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, datetime

import pytest

from bot.core.approvals import Review, ReviewState
from bot.core.github_model import PullRequestReview, review_of, review_state
from bot.core.records import LedgerEntry, fold_reviews

NOW = datetime(2027, 3, 1, 12, tzinfo=UTC)
SHA = "a" * 40


def reported(**fields_: object) -> PullRequestReview:
    values: dict[str, object] = {
        "id": 5,
        "reviewer": "carol",
        "state": "APPROVED",
        "commit_id": SHA,
        "submitted_at": "2027-02-28T09:30:00Z",
    }
    values.update(fields_)
    return PullRequestReview(**values)  # type: ignore[arg-type]


def test_a_reported_review_becomes_the_core_review_with_its_time_in_utc() -> None:
    review = review_of(reported(state="changes_requested"), now=NOW, content_hash="sha256:x")
    assert review == Review(
        id=5,
        reviewer="carol",
        state=ReviewState.CHANGES_REQUESTED,
        commit_id=SHA,
        submitted_at=datetime(2027, 2, 28, 9, 30, tzinfo=UTC),
        content_hash="sha256:x",
    )


@pytest.mark.parametrize(
    "report",
    [
        reported(state="PENDING", submitted_at=None),
        reported(state="SHRUGGED"),
        reported(commit_id=""),
    ],
)
def test_pending_unknown_or_commitless_reviews_do_not_count(report: PullRequestReview) -> None:
    assert review_state(report) is None
    assert review_of(report, now=NOW) is None


@pytest.mark.parametrize("submitted", [None, "", "yesterday"])
def test_a_missing_or_unreadable_submission_time_is_the_time_it_arrived(
    submitted: str | None,
) -> None:
    review = review_of(reported(submitted_at=submitted, reviewer_is_bot=True), now=NOW)
    assert review is not None
    assert (review.submitted_at, review.reviewer_is_bot) == (NOW, True)


def test_the_ledger_holds_reviews_and_repeats_none_of_their_fields() -> None:
    review_fields = {f.name for f in fields(Review)}
    entry_fields = {f.name for f in fields(LedgerEntry)}
    assert entry_fields & review_fields == set()
    assert "review" in entry_fields
    # GitHub's report carries nothing the core review lacks (it only has it as text).
    assert {f.name for f in fields(PullRequestReview)} <= review_fields


def test_folding_keeps_the_first_arrival_and_the_latest_state() -> None:
    first = review_of(reported(), now=NOW, content_hash="sha256:first")
    assert first is not None
    moved = review_of(reported(state="DISMISSED", commit_id="b" * 40), now=NOW)
    assert moved is not None

    def arrival(review: Review, action: str) -> LedgerEntry:
        return LedgerEntry(
            installation_id=1,
            repository="acme/intents",
            pr=7,
            review=review,
            action=action,
            pr_head_sha=SHA,
            recorded_at=NOW,
        )

    [folded] = fold_reviews([arrival(first, "submitted"), arrival(moved, "dismissed")])
    assert folded.commit_id == SHA
    assert folded.content_hash == "sha256:first"
    assert folded.state is ReviewState.DISMISSED
