"""A worker killed around the completion of a delivery: its audit event is appended exactly once.

The delivery's ``webhook.processed`` event (and those of the deliveries collapsed into it) used
to be appended after the ``done`` commit, so a ``kill -9`` between the two left the delivery done
and unaudited for good (the topology fault suite met it). The processor stands for the killed
worker, its inbox dying right after (or right before) the commit; a second processor over the
same SQLite inbox stands for the worker that takes over once the lease has expired.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine, select

from bot.adapters.inbox_worker import DeliveryProcessor
from bot.adapters.metrics import Metrics
from bot.adapters.storage import AuditLog
from bot.adapters.storage.inbox import Claim, Inbox
from bot.adapters.storage.tables import audit_events
from tests.adapters.test_inbox_worker import Clock, clock, engine, store  # noqa: F401 - fixtures

LEASE_SECONDS = 10


class Killed(BaseException):
    """The worker process is gone (``kill -9``): nothing after this point runs."""


class DyingInbox(Inbox):
    """The inbox of a worker killed right after (or right before) its ``done`` commit."""

    def __init__(self, engine: Engine, *, after_commit: bool) -> None:  # noqa: F811
        super().__init__(engine, lease_seconds=LEASE_SECONDS)
        self.after_commit = after_commit

    def complete(self, claim: Claim, *, outcome: str, now: datetime) -> bool:
        if self.after_commit:
            super().complete(claim, outcome=outcome, now=now)
        raise Killed


def processed(engine: Engine) -> Counter[str]:  # noqa: F811 - the fixture's name
    with engine.connect() as connection:
        query = select(audit_events.c.correlation_id).where(
            audit_events.c.type == "webhook.processed"
        )
        return Counter(r.correlation_id for r in connection.execute(query))


@pytest.mark.parametrize("after_commit", [True, False], ids=["after-commit", "before-commit"])
def test_a_worker_killed_at_completion_leaves_one_audit_event_per_delivery(
    engine: Engine,  # noqa: F811 - the fixture imported above
    clock: Clock,  # noqa: F811
    after_commit: bool,
) -> None:
    handled: list[str] = []

    def handler(delivery: object) -> str:
        handled.append(getattr(delivery, "delivery_id", ""))
        return "evaluated"

    killed = DeliveryProcessor(
        inbox=DyingInbox(engine, after_commit=after_commit),
        handler=handler,
        metrics=Metrics(),
        audit=AuditLog(engine),
        clock=clock,
    )
    store(killed.inbox, "same-1", head="2" * 40, at=clock.now)
    store(killed.inbox, "same-2", head="2" * 40, at=clock.now)
    with pytest.raises(Killed):
        killed.run_one()

    clock.now += timedelta(seconds=LEASE_SECONDS + 1)  # the lease lapses; another worker sweeps
    inbox = Inbox(engine, lease_seconds=LEASE_SECONDS)
    survivor = DeliveryProcessor(
        inbox=inbox, handler=handler, metrics=Metrics(), audit=AuditLog(engine), clock=clock
    )
    survivor.sweep()
    survivor.drain()

    assert {r["delivery_id"]: r["status"] for r in inbox.rows()} == {
        "same-1": "collapsed",
        "same-2": "done",
    }
    assert processed(engine) == {"same-1": 1, "same-2": 1}
    assert handled == ["same-2"] if after_commit else ["same-2", "same-2"]
    assert AuditLog(engine).verify().ok
