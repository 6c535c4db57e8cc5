"""Workers racing over the publications outbox, for its concurrency tests (threads and processes).

Each worker loops: list the due publications, claim one, and then, decided by a seeded random
draw, either dies (walks away holding the lease, as ``kill -9`` would), asks to retry later
(a transient plane error), or publishes to a fake plane and records success. The fake plane
finds-or-creates by idempotency key, as the connectors do, and remembers every call.
Spawned processes import this module by name, so it lives here and not in a test module.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.adapters.storage.publications import Outbox, PublicationClaim
from bot.errors import LeaseLostError

LEASE_SECONDS = 0.2
"""Short, so that abandoned leases expire during the test (real time: workers read the clock)."""


@dataclass
class FakePlane:
    """A plane that creates one object per idempotency key and logs every publish call."""

    objects: dict[str, str] = field(default_factory=dict)
    calls: list[tuple[int, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def publish(self, outbox: Outbox, claim: PublicationClaim) -> str:
        """Find or create the object, noting its id in the journal first thing."""
        journal = outbox.journal(claim)
        with self.lock:
            self.calls.append((claim.row.id, claim.owner))
            object_id = self.objects.setdefault(
                claim.row.idempotency_key, f"obj-{claim.row.idempotency_key}"
            )
        if journal.get("object_id") is None:
            journal.put("object_id", object_id)
        return object_id


@dataclass
class Tally:
    """What one worker did: publications it settled as succeeded, and the other outcomes."""

    succeeded: list[int] = field(default_factory=list)
    lost: int = 0
    abandoned: int = 0
    retried: int = 0
    claims: list[tuple[int, int, str, str]] = field(default_factory=list)
    """(publication id, attempts, the claim's ``now``, what became of it) per claim won."""

    def note(self, claim: PublicationClaim, now: datetime, outcome: str) -> None:
        self.claims.append((claim.row.id, claim.row.attempts, now.isoformat(), outcome))


def lease_violations(claims: list[tuple[int, int, str, str]], lease_seconds: float) -> list[str]:
    """Claims handed out while another worker still held a live lease on the same row.

    Timing-free: ``attempts`` orders the claims of a row, and the next claim is legitimate only
    when the previous one gave the row back (``retried``) or its lease had expired by the next
    claim's ``now``. A winning ``succeeded`` must be the row's last claim.
    """
    by_row: dict[int, list[tuple[int, datetime, str]]] = {}
    for row_id, attempts, now, outcome in claims:
        by_row.setdefault(row_id, []).append((attempts, datetime.fromisoformat(now), outcome))
    problems = []
    lease = timedelta(seconds=lease_seconds)
    for row_id, row_claims in sorted(by_row.items()):
        row_claims.sort()
        numbers = [attempts for attempts, _, _ in row_claims]
        if numbers != list(range(1, len(numbers) + 1)):
            problems.append(f"publication {row_id}: attempts {numbers}")
        for (_, before, outcome), (number, after, _) in itertools.pairwise(row_claims):
            if outcome != "retried" and after <= before + lease:
                problems.append(f"publication {row_id}: attempt {number} stole a live lease")
        if row_claims[-1][2] != "succeeded":
            problems.append(f"publication {row_id}: the last claim {row_claims[-1]} did not win")
    return problems


def work(
    outbox: Outbox,
    plane: FakePlane,
    *,
    seed: int,
    deadline: float,
    after_first_claim: Callable[[], None] | None = None,
) -> Tally:
    """Race the other workers until nothing is left to do (or the deadline passes).

    ``after_first_claim`` runs once, right after this worker's first claim (which it abandons):
    the process test waits there until every worker holds one, so each takes part in the race
    however the machine schedules them.
    """
    draw = random.Random(seed)  # test choreography, not cryptography
    tally = Tally()
    while time.monotonic() < deadline:
        now = datetime.now(UTC)
        depth = outbox.depth()
        if depth["pending"] == 0 and depth["in_progress"] == 0:
            return tally
        due = outbox.due(now=now)
        if not due:
            time.sleep(0.01)
            continue
        claim = outbox.claim(draw.choice(due), now=now)
        if claim is None:
            continue
        roll = draw.random()
        if tally.abandoned == 0 or roll < 0.15:
            # The worker "dies" (its first claim, then now and then): the lease expires and
            # another worker takes the publication over.
            first = tally.abandoned == 0
            tally.abandoned += 1
            tally.note(claim, now, "abandoned")
            if first and after_first_claim is not None:
                after_first_claim()
            continue
        if roll < 0.3:
            tally.retried += 1
            gave_back = outbox.retry_later(claim, error="503", not_before=now, now=now)
            tally.note(claim, now, "retried" if gave_back else "lost")
            continue
        try:
            object_id = plane.publish(outbox, claim)
        except LeaseLostError:
            tally.lost += 1
            tally.note(claim, now, "lost")
            continue
        result = {"object_id": object_id, "created": True, "url": None}
        if outbox.succeed(claim, result, now=datetime.now(UTC)):
            tally.succeeded.append(claim.row.id)
            tally.note(claim, now, "succeeded")
        else:
            tally.lost += 1
            tally.note(claim, now, "lost")
    return tally


def work_in_process(url: str, out: str, seed: int, start: Any, claimed: Any = None) -> None:
    """Run in a forked process: one worker on its own engine; its tally goes to ``out``.

    ``claimed`` (a ``multiprocessing.Barrier``, or None) is met after the first claim.
    """
    from bot.adapters.storage import create_database_engine

    engine = create_database_engine(url)
    outbox = Outbox(engine, lease_seconds=LEASE_SECONDS)
    with engine.connect():  # connect before the start signal, so all start at once
        pass
    start.wait(60)
    plane = FakePlane()

    def meet() -> None:
        with contextlib.suppress(threading.BrokenBarrierError):
            claimed.wait(30)

    tally = work(
        outbox,
        plane,
        seed=seed,
        deadline=time.monotonic() + 30,
        after_first_claim=meet if claimed is not None else None,
    )
    Path(out).write_text(
        json.dumps(
            {
                "succeeded": tally.succeeded,
                "calls": plane.calls,
                "abandoned": tally.abandoned,
                "retried": tally.retried,
                "claims": tally.claims,
                "lost": tally.lost,
            }
        )
    )
    engine.dispose()
