"""The review ledger on SQLite and PostgreSQL: append-only, folded from the first arrival."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from bot.adapters.storage.reviews import LedgerEntry, ReviewLedger
from bot.core.approvals import Review, ReviewState
from tests.adapters.storage.helpers import T0

REPO = "acme/intents"
OLD, NEW = "a" * 40, "b" * 40


def arrival(review_id: int, state: ReviewState, action: str, **fields: object) -> LedgerEntry:
    review: dict[str, object] = {
        "reviewer": "carol",
        "reviewer_is_bot": False,
        "commit_id": OLD,
        "content_hash": "sha256:" + "1" * 64,
        "submitted_at": T0,
    }
    entry: dict[str, object] = {
        "installation_id": 7,
        "repository": REPO,
        "pr": 12,
        "pr_head_sha": OLD,
        "recorded_at": T0 + timedelta(seconds=1),
    }
    for key, value in fields.items():
        (review if key in review else entry)[key] = value
    said = Review(id=review_id, state=state, **review)  # type: ignore[arg-type]
    return LedgerEntry(review=said, action=action, **entry)  # type: ignore[arg-type]


def test_a_review_keeps_the_head_it_arrived_with_whatever_arrives_later(engine: Engine) -> None:
    ledger = ReviewLedger(engine)
    assert ledger.record(arrival(100, ReviewState.APPROVED, "submitted"))
    # GitHub moved the old approval's commit_id to the new head after a force-push: the
    # edited webhook says NEW, the ledger keeps what was approved.
    assert ledger.record(arrival(100, ReviewState.APPROVED, "edited", commit_id=NEW))

    [review] = ledger.reviews(REPO, 12)
    assert (review.id, review.state, review.commit_id) == (100, ReviewState.APPROVED, OLD)
    assert review.content_hash == "sha256:" + "1" * 64
    assert review.submitted_at == T0
    assert [e.action for e in ledger.entries(REPO, 12)] == ["submitted", "edited"]


def test_a_dismissal_changes_the_state_and_a_redelivery_is_not_recorded_twice(
    engine: Engine,
) -> None:
    ledger = ReviewLedger(engine)
    ledger.record(arrival(100, ReviewState.APPROVED, "submitted"))
    assert ledger.record(arrival(100, ReviewState.DISMISSED, "dismissed"))
    assert not ledger.record(arrival(100, ReviewState.DISMISSED, "dismissed"))
    ledger.record(arrival(101, ReviewState.CHANGES_REQUESTED, "submitted", reviewer="sam"))

    reviews = ledger.reviews(REPO, 12)
    assert [(r.id, r.reviewer, r.state) for r in reviews] == [
        (100, "carol", ReviewState.DISMISSED),
        (101, "sam", ReviewState.CHANGES_REQUESTED),
    ]
    assert len(ledger.entries(REPO, 12)) == 3


def test_pull_requests_known_to_the_ledger_by_installation_and_repository(engine: Engine) -> None:
    ledger = ReviewLedger(engine)
    ledger.record(arrival(1, ReviewState.APPROVED, "submitted"))
    ledger.record(arrival(2, ReviewState.APPROVED, "submitted", pr=13))
    ledger.record(arrival(3, ReviewState.APPROVED, "submitted", pr=5, installation_id=8))
    ledger.record(arrival(4, ReviewState.APPROVED, "submitted", repository="acme/other", pr=1))

    assert ledger.pull_requests(installation_id=7) == [(REPO, 12), (REPO, 13), ("acme/other", 1)]
    assert ledger.pull_requests(repository=REPO) == [(REPO, 5), (REPO, 12), (REPO, 13)]
    assert ledger.pull_requests() == [(REPO, 5), (REPO, 12), (REPO, 13), ("acme/other", 1)]
    assert ledger.reviews(REPO, 99) == []


@pytest.mark.parametrize(
    "statement", ["UPDATE review_ledger SET state = 'APPROVED'", "DELETE FROM review_ledger"]
)
def test_the_database_refuses_to_rewrite_the_ledger(engine: Engine, statement: str) -> None:
    ReviewLedger(engine).record(arrival(100, ReviewState.DISMISSED, "dismissed"))
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
        connection.execute(text(statement))
    [review] = ReviewLedger(engine).reviews(REPO, 12)
    assert review.state is ReviewState.DISMISSED
