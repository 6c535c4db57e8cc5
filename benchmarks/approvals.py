"""Does deciding CAB approvals stay flat as a pull request collects reviews (issue 7)?

Builds a pull request with N reviews (10, 100, 1,000 and 10,000) from 300 reviewers, of whom a
third are CAB members of two teams (one a child team), over 50 commits with co-author trailers,
then times:

* eucora — ``bot.core.approvals.decide_approvals``: every review's verdict and reason, blocking
  change requests, the quorum matching, who can still approve;
* floor  — the least any correct decision must do, with bare Python: sort the reviews by time,
  keep each reviewer's latest, and test each kept approval against a set of members and a set of
  excluded people (no reasons, no quorum, no evidence).

Figures: microseconds per review for each N (flat means the cost per review does not grow), and
the ratio eucora / floor. Each figure is the best of ``--repeat`` runs (noise on a shared 2-core
machine is one-sided). Usage: python benchmarks/approvals.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.core.approvals import (
    ApprovalPolicy,
    Commit,
    Person,
    PullRequestFacts,
    Review,
    ReviewState,
    Team,
    decide_approvals,
)

HEAD = "h" * 40
T0 = datetime(2027, 2, 17, 9, 0, tzinfo=UTC)
REVIEWERS = [f"user{i}" for i in range(300)]
TEAMS = {
    "contoso/cab": Team(members=frozenset(REVIEWERS[0:60])),
    "contoso/cab-emea": Team(members=frozenset(REVIEWERS[60:80]), parent="contoso/cab"),
    "contoso/security": Team(members=frozenset(REVIEWERS[50:100])),
}
COMMITS = [
    Commit(
        sha=f"{i:040x}",
        author=Person(login=f"user{200 + i}", email=f"user{200 + i}@contoso.com"),
        committer=Person(login="web-flow", email="noreply@github.com"),
        message=f"Change {i}\n\nCo-authored-by: U <{250 + i}+user{250 + i}@users.noreply.github.com>",
    )
    for i in range(50)
]
POLICY = ApprovalPolicy(
    cab_teams=("contoso/cab", "contoso/security"), tier="high", required=2, distinct_teams=2
)
PR = PullRequestFacts(author="user299", head_sha=HEAD, content_hash="c")


def reviews(count: int, seed: int = 7) -> list[Review]:
    rng = random.Random(seed)
    states = (
        [ReviewState.APPROVED] * 5
        + [ReviewState.COMMENTED] * 3
        + [
            ReviewState.CHANGES_REQUESTED,
            ReviewState.DISMISSED,
        ]
    )
    return [
        Review(
            id=i,
            reviewer=rng.choice(REVIEWERS),
            state=rng.choice(states),
            commit_id=HEAD if rng.random() < 0.7 else "0" * 40,
            submitted_at=T0 + timedelta(seconds=rng.randrange(10**6)),
            content_hash="c",
        )
        for i in range(count)
    ]


def floor(items: list[Review]) -> int:
    """Latest review per reviewer, then membership and exclusion tests: the bare minimum."""
    members = set().union(*(t.members for t in TEAMS.values()))
    excluded = {
        PR.author,
        *(c.author.login for c in COMMITS),
        *(f"user{250 + i}" for i in range(50)),
    }
    latest: dict[str, Review] = {}
    for review in sorted(items, key=lambda r: (r.submitted_at, r.id)):
        if review.state is not ReviewState.COMMENTED:
            latest[review.reviewer] = review
    return sum(
        1
        for r in latest.values()
        if r.state is ReviewState.APPROVED
        and r.commit_id == HEAD
        and r.reviewer in members
        and r.reviewer not in excluded
    )


def best(run: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        run()
        times.append(time.perf_counter() - began)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"{'reviews':>8} {'eucora':>12} {'per review':>11} {'floor':>10} {'ratio':>6}")
    for count in (10, 100, 1_000, 10_000):
        items = reviews(count)
        decision = decide_approvals(PR, items, COMMITS, TEAMS, POLICY)
        if len(decision.counted) != floor(items):
            raise SystemExit("the floor and the decision disagree on what counts")
        ours = best(lambda: decide_approvals(PR, items, COMMITS, TEAMS, POLICY), args.repeat)  # noqa: B023
        bare = best(lambda: floor(items), args.repeat)  # noqa: B023
        print(
            f"{count:>8,} {ours * 1000:>9.2f} ms {ours / count * 1e6:>8.1f} µs"
            f" {bare * 1000:>7.2f} ms {ours / bare:>5.1f}x",
            flush=True,
        )


if __name__ == "__main__":
    main()
