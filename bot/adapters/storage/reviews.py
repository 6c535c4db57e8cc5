"""The review ledger: every pull request review recorded as it arrived, and read back folded.

EUCORA decides approvals from this ledger, never from a later read of a review's ``commit_id``
(GitHub has been seen to move an old approval's ``commit_id`` to a new head after a force-push
with the same patch). Each row is one arrival: a ``pull_request_review`` webhook (submitted,
edited, dismissed) or, for a review EUCORA never saw arrive, the API's report of it. Rows are
never changed (the database refuses UPDATE and DELETE); :meth:`ReviewLedger.reviews` folds them
into one :class:`bot.core.approvals.Review` per review id: the commit, content hash and
submission time of its first arrival, the state of its latest.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from sqlalchemy import Engine, and_, insert, select

from bot.adapters.storage.db import is_sqlite, read_snapshot, write_transaction
from bot.adapters.storage.tables import review_ledger
from bot.core.approvals import Review, ReviewState
from bot.core.records import LedgerEntry, fold_reviews

LEDGER_LOCK_KEY = 0x6575636F72610004
"""write_transaction's key for the ledger's writers."""
_SQLITE_WRITERS = threading.Lock()
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def _text(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(_TIME_FORMAT)


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text)  # RFC 3339 with Z: fromisoformat reads it, fast


class ReviewLedger:
    """The append-only review ledger on the database (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def record(self, entry: LedgerEntry) -> bool:
        """Append an arrival; ``False`` when it repeats the review's newest row (a redelivery)."""
        lock = _SQLITE_WRITERS if is_sqlite(self._engine) else threading.Lock()
        with lock, write_transaction(self._engine, LEDGER_LOCK_KEY) as connection:
            newest = connection.execute(
                select(review_ledger.c.state, review_ledger.c.action, review_ledger.c.commit_id)
                .where(
                    and_(
                        review_ledger.c.repository == entry.repository,
                        review_ledger.c.pr == entry.pr,
                        review_ledger.c.review_id == entry.review.id,
                    )
                )
                .order_by(review_ledger.c.seq.desc())
                .limit(1)
            ).first()
            if newest is not None and tuple(newest) == (
                entry.review.state.value,
                entry.action,
                entry.review.commit_id,
            ):
                return False
            connection.execute(
                insert(review_ledger).values(
                    installation_id=entry.installation_id,
                    repository=entry.repository,
                    pr=entry.pr,
                    review_id=entry.review.id,
                    reviewer=entry.review.reviewer,
                    reviewer_is_bot=entry.review.reviewer_is_bot,
                    state=entry.review.state.value,
                    action=entry.action,
                    commit_id=entry.review.commit_id,
                    pr_head_sha=entry.pr_head_sha,
                    content_hash=entry.review.content_hash,
                    submitted_at=_text(entry.review.submitted_at),
                    recorded_at=_text(entry.recorded_at),
                    source=entry.source,
                )
            )
        return True

    def entries(self, repository: str, pr: int) -> list[LedgerEntry]:
        """Every arrival for the PR, in the order recorded."""
        query = (
            select(review_ledger)
            .where(and_(review_ledger.c.repository == repository, review_ledger.c.pr == pr))
            .order_by(review_ledger.c.seq)
        )
        with read_snapshot(self._engine) as connection:
            rows = connection.execute(query).mappings().all()
        return [
            LedgerEntry(
                installation_id=row["installation_id"],
                repository=row["repository"],
                pr=int(row["pr"]),
                review=Review(
                    id=int(row["review_id"]),
                    reviewer=row["reviewer"],
                    reviewer_is_bot=bool(row["reviewer_is_bot"]),
                    state=ReviewState(row["state"]),
                    commit_id=row["commit_id"],
                    content_hash=row["content_hash"],
                    submitted_at=_time(row["submitted_at"]),
                ),
                action=row["action"],
                pr_head_sha=row["pr_head_sha"],
                recorded_at=_time(row["recorded_at"]),
                source=row["source"],
            )
            for row in rows
        ]

    def reviews(self, repository: str, pr: int) -> list[Review]:
        """One review per review id, folded from its arrivals (see the module docstring)."""
        return fold_reviews(self.entries(repository, pr))

    def pull_requests(
        self, *, installation_id: int | None = None, repository: str | None = None
    ) -> list[tuple[str, int]]:
        """The PRs with recorded reviews (of one installation or repository), sorted."""
        query = select(review_ledger.c.repository, review_ledger.c.pr).distinct()
        if installation_id is not None:
            query = query.where(review_ledger.c.installation_id == installation_id)
        if repository is not None:
            query = query.where(review_ledger.c.repository == repository)
        with read_snapshot(self._engine) as connection:
            rows = connection.execute(query).all()
        return sorted((str(repo), int(number)) for repo, number in rows)
