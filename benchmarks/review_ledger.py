"""Does reading the review ledger and showing the decision stay flat as a PR collects reviews?

The approvals flow reads a PR's reviews from the review ledger (``ReviewLedger.reviews``: one
query, then each review folded from its arrivals) on every decision, and renders the CAB approval
run (``decided_approval_run``, at most 200 review rows). For N reviews (10, 100, 1,000), each
with a second arrival (an edit) so the fold has work, on a SQLite file, this times:

* eucora — ``ReviewLedger.reviews`` for the PR, then ``decide_approvals`` and
  ``decided_approval_run`` on the result;
* floor  — the same rows read with the standard library's ``sqlite3`` (one ``SELECT`` ordered by
  ``seq``, tuples into a dict keyed by review id): the least any reading of the ledger does.

Figures: milliseconds and microseconds per review, the ratio eucora / floor; best of ``--repeat``.
Usage: python benchmarks/review_ledger.py [--repeat 7]
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.adapters.storage import create_database_engine, upgrade_schema
from bot.adapters.storage.reviews import LedgerEntry, ReviewLedger
from bot.core.approvals import (
    ApprovalPolicy,
    PullRequestFacts,
    Review,
    ReviewState,
    Team,
    decide_approvals,
)
from bot.core.pr_report import decided_approval_run

HEAD = "h" * 40
T0 = datetime(2027, 2, 17, 9, 0, tzinfo=UTC)
TEAMS = {"contoso/cab": Team(members=frozenset(f"user{i}" for i in range(0, 300, 3)))}
POLICY = ApprovalPolicy(cab_teams=("contoso/cab",), tier="high", required=2)
PACK = {"head": HEAD, "decision": {"conclusion": "pass", "reasons": []}}


def fill(ledger: ReviewLedger, pr: int, count: int) -> None:
    for i in range(count):
        for action in ("submitted", "edited"):
            ledger.record(
                LedgerEntry(
                    installation_id=1,
                    repository="contoso/intents",
                    pr=pr,
                    review=Review(
                        id=pr * 100_000 + i,
                        reviewer=f"user{i % 300}",
                        reviewer_is_bot=False,
                        state=ReviewState.APPROVED if i % 3 else ReviewState.COMMENTED,
                        commit_id=HEAD if i % 2 else "0" * 40,
                        content_hash="sha256:" + "c" * 64,
                        submitted_at=T0 + timedelta(seconds=i),
                    ),
                    action=action,
                    pr_head_sha=HEAD,
                    recorded_at=T0
                    + timedelta(seconds=i, milliseconds=1 if action == "edited" else 0),
                )
            )


def eucora(ledger: ReviewLedger, pr: int) -> None:
    reviews = ledger.reviews("contoso/intents", pr)
    facts = PullRequestFacts(author="user299", head_sha=HEAD)
    decision = decide_approvals(facts, reviews, [], TEAMS, POLICY)
    decided_approval_run(PACK, decision, digest="sha256:" + "d" * 64, cab_teams=POLICY.cab_teams)


def floor(path: Path, pr: int) -> None:
    with sqlite3.connect(path) as connection:
        rows = connection.execute(
            "SELECT review_id, reviewer, state, commit_id, submitted_at FROM review_ledger"
            " WHERE repository = ? AND pr = ? ORDER BY seq",
            ("contoso/intents", pr),
        ).fetchall()
    folded: dict[int, tuple[object, ...]] = {}
    for row in rows:
        folded.setdefault(int(row[0]), row)


def best(run: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        run()
        times.append(time.perf_counter() - began)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "eucora.db"
        engine = create_database_engine(f"sqlite:///{path}")
        upgrade_schema(engine)
        ledger = ReviewLedger(engine)
        print("| reviews | eucora | per review | floor | ratio |")
        print("|---:|---:|---:|---:|---:|")
        for pr, count in enumerate((10, 100, 1_000), start=1):
            fill(ledger, pr, count)
            ours = best(lambda pr=pr: eucora(ledger, pr), args.repeat)
            bare = best(lambda pr=pr: floor(path, pr), args.repeat)
            print(
                f"| {count:,} | {ours * 1e3:.2f} ms | {ours / count * 1e6:.1f} µs |"
                f" {bare * 1e3:.2f} ms | {ours / bare:.1f}x |"
            )
        engine.dispose()


if __name__ == "__main__":
    main()
