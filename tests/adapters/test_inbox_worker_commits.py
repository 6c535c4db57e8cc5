"""A delivery that settled a burst is audited in one commit, and the chain is the one-by-one chain."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, event

from bot.adapters.inbox_worker import DeliveryProcessor
from bot.adapters.metrics import Metrics
from bot.adapters.storage import AuditLog, create_database_engine, upgrade_schema
from bot.adapters.storage.inbox import Inbox
from bot.core.audit_events import format_event_time
from bot.core.webhooks import Delivery
from tests.adapters.test_inbox_worker import Clock, engine, store  # noqa: F401 - the fixture

BURST = 6


def test_a_collapsed_burst_costs_three_commits_claim_complete_audit(engine: Engine) -> None:  # noqa: F811
    clock = Clock()
    inbox = Inbox(engine)
    audit = AuditLog(engine)
    for n in range(BURST):  # six pushes of one head: five collapse into the newest
        store(inbox, f"d{n}", at=clock.now)

    def handler(_delivery: Delivery) -> str:
        return "evaluated"

    processor = DeliveryProcessor(
        inbox=inbox, handler=handler, metrics=Metrics(), audit=audit, clock=clock
    )
    commits = [0]

    def count(_connection: object) -> None:
        commits[0] += 1

    event.listen(engine, "commit", count)
    assert processor.run_one()
    event.remove(engine, "commit", count)
    assert commits[0] == 3  # the claim, the completion, every audit event
    events = [e for e in audit.events() if e.type == "webhook.processed"]
    assert [e.correlation_id for e in events] == [f"d{n}" for n in range(BURST)]
    assert [e.payload["outcome"] for e in events] == ["collapsed"] * (BURST - 1) + ["evaluated"]
    assert audit.verify().ok


def test_append_all_seals_the_chain_appending_one_by_one_would(tmp_path: Path) -> None:
    moment = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)
    fields = [
        {
            "type": "webhook.processed",
            "actor": "eucora",
            "correlation_id": f"d{n}",
            "repository": "acme/intents",
            "pr": 7,
            "head_sha": "a" * 40,
            "payload": {"outcome": "collapsed", "n": n},
        }
        for n in range(4)
    ]
    logs = []
    for name in ("together", "apart"):
        built = create_database_engine(f"sqlite:///{tmp_path / name}.db")
        upgrade_schema(built)
        logs.append((AuditLog(built), built))
    (together, one), (apart, two) = logs
    together.append_all([{**f, "time": format_event_time(moment)} for f in fields])
    for f in fields:
        apart.append(**f, time=moment)
    assert [e.hash for e in together.events()] == [e.hash for e in apart.events()]
    assert together.verify().ok
    one.dispose()
    two.dispose()
