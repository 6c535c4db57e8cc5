"""The delivery processor and the in-process drainer, over a real SQLite inbox."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, update

from bot.adapters.inbox_worker import DeliveryProcessor, ThreadedDrainer
from bot.adapters.metrics import Metrics
from bot.adapters.storage import AuditLog, create_database_engine, upgrade_schema
from bot.adapters.storage.inbox import Inbox
from bot.adapters.storage.tables import audit_events
from bot.adapters.storage.tables import inbox as inbox_table
from bot.core.webhooks import Delivery, body_digest, route_delivery
from tests.support.webhooks import encode, pr_payload


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    built = create_database_engine(f"sqlite:///{tmp_path / 'eucora.db'}")
    upgrade_schema(built)
    yield built
    built.dispose()


@pytest.fixture
def clock() -> Clock:
    return Clock()


def store(
    inbox: Inbox, delivery_id: str, *, pr: int = 7, head: str = "a" * 40, at: datetime
) -> None:
    payload = pr_payload(pr=pr, head=head)
    payload["delivery"] = delivery_id
    body = encode(payload)
    inbox.store(
        delivery_id=delivery_id,
        routing=route_delivery("pull_request", payload),
        body=body,
        body_sha256=body_digest(body),
        received_at=at,
    )


def audit_payloads(engine: Engine) -> list[dict]:
    with engine.connect() as connection:
        return [json.loads(r.payload) for r in connection.execute(select(audit_events))]


def test_failures_are_retried_then_recorded_failed_and_audited(
    engine: Engine, clock: Clock
) -> None:
    inbox = Inbox(engine, max_attempts=2)
    metrics = Metrics()
    calls: list[int] = []

    def flaky(delivery: Delivery) -> str:
        calls.append(delivery.attempts)
        raise ConnectionError("GitHub\nunreachable")

    processor = DeliveryProcessor(
        inbox=inbox, handler=flaky, metrics=metrics, audit=AuditLog(engine), clock=clock
    )
    store(inbox, "d1", at=clock.now)
    assert processor.run_one()
    assert not processor.run_one()  # backing off
    clock.now += timedelta(minutes=1)
    assert processor.run_one()
    assert calls == [1, 2]
    row = inbox.get("d1")
    assert row is not None
    assert (row["status"], row["error"]) == ("failed", "ConnectionError: GitHub unreachable")
    [audited] = audit_payloads(engine)
    assert (audited["outcome"], audited["error"], audited["attempts"]) == (
        "failed",
        "ConnectionError: GitHub unreachable",
        2,
    )
    text = metrics.exposition().decode()
    assert 'eucora_webhook_deliveries_total{event="pull_request",outcome="failed"} 1.0' in text
    assert 'eucora_evaluation_duration_seconds_count{outcome="error"} 2.0' in text


def test_outcomes_are_one_word(engine: Engine, clock: Clock) -> None:
    inbox = Inbox(engine)
    answers = iter(["evaluated ok!\n", 42, "superseded"])
    processor = DeliveryProcessor(
        inbox=inbox, handler=lambda d: next(answers), metrics=Metrics(), clock=clock
    )
    for i in range(3):
        store(inbox, f"d{i}", pr=i, at=clock.now)
    assert processor.drain() == 3
    assert [r["outcome"] for r in inbox.rows()] == ["evaluatedok", "done", "superseded"]


def test_collapsed_and_superseded_deliveries_are_counted_and_audited(
    engine: Engine, clock: Clock
) -> None:
    inbox = Inbox(engine)
    metrics = Metrics()
    seen: list[str] = []
    processor = DeliveryProcessor(
        inbox=inbox,
        handler=lambda d: seen.append(d.delivery_id) or "evaluated",
        metrics=metrics,
        audit=AuditLog(engine),
        clock=clock,
    )
    store(inbox, "old", head="1" * 40, at=clock.now)
    store(inbox, "same-1", head="2" * 40, at=clock.now)
    store(inbox, "same-2", head="2" * 40, at=clock.now)
    assert processor.drain() == 1
    assert seen == ["same-2"]
    collapsed, superseded, ran = audit_payloads(engine)
    assert (ran["collapsed"], ran["superseded"], ran["outcome"]) == (
        ["same-1"],
        ["old"],
        "evaluated",
    )
    assert (collapsed["outcome"], collapsed["merged_into"]) == ("collapsed", "same-2")
    assert (superseded["outcome"], superseded["merged_into"]) == ("superseded", "same-2")
    with engine.connect() as connection:
        ids = [r.correlation_id for r in connection.execute(select(audit_events))]
    assert ids == ["same-1", "old", "same-2"]
    text = metrics.exposition().decode()
    assert 'outcome="collapsed"} 1.0' in text
    assert 'outcome="superseded"} 1.0' in text


def test_a_lost_lease_is_not_completed(engine: Engine, clock: Clock) -> None:
    inbox = Inbox(engine)

    def stolen(delivery: Delivery) -> str:
        with engine.begin() as connection:
            connection.execute(update(inbox_table).values(lease_owner="another-worker"))
        return "evaluated"

    processor = DeliveryProcessor(inbox=inbox, handler=stolen, metrics=Metrics(), clock=clock)
    store(inbox, "d1", at=clock.now)
    assert processor.run_one()
    row = inbox.get("d1")
    assert row is not None
    assert (row["status"], row["lease_owner"]) == ("running", "another-worker")


def test_the_drainer_runs_deliveries_in_the_background(engine: Engine) -> None:
    inbox = Inbox(engine, lease_seconds=0.2)
    done = threading.Event()
    handled: list[str] = []

    def handler(delivery: Delivery) -> str:
        handled.append(delivery.delivery_id)
        if len(handled) == 3:
            done.set()
        return "evaluated"

    processor = DeliveryProcessor(inbox=inbox, handler=handler, metrics=Metrics())
    drainer = ThreadedDrainer(processor, threads=2, poll_seconds=0.05, sweep_seconds=0.05)
    drainer.start()
    drainer.start()  # idempotent
    try:
        now = datetime.now(UTC)
        for i in range(3):
            store(inbox, f"d{i}", pr=i, at=now)
            drainer.wake(f"d{i}")
        assert done.wait(10)
        time.sleep(0.1)
    finally:
        drainer.stop()
    assert sorted(handled) == ["d0", "d1", "d2"]
    assert inbox.depth() == {"pending": 0, "running": 0}


def test_the_drainer_survives_a_failing_database(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    engine = create_database_engine(f"sqlite:///{tmp_path / 'empty.db'}")  # no tables
    processor = DeliveryProcessor(inbox=Inbox(engine), handler=lambda d: "x", metrics=Metrics())
    drainer = ThreadedDrainer(processor, threads=1, poll_seconds=0.05)
    drainer.start()
    time.sleep(0.3)
    drainer.stop()
    assert "the inbox drainer failed; retrying" in caplog.text


def test_sweep_returns_expired_leases(
    engine: Engine, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    inbox = Inbox(engine, lease_seconds=10)
    processor = DeliveryProcessor(
        inbox=inbox, handler=lambda d: "x", metrics=Metrics(), clock=clock
    )
    store(inbox, "d1", at=clock.now)
    assert inbox.claim(now=clock.now) is not None
    clock.now += timedelta(seconds=11)
    assert processor.sweep() == 1
    assert "returned 1 expired lease" in caplog.text


def test_github_metrics_for_the_evaluation_flow() -> None:
    metrics = Metrics(depth=lambda: {"pending": 3, "running": 1})
    metrics.github_call("get", 200)
    metrics.github_call("post", 403)
    metrics.github_call("patch", 502)
    metrics.github_call("get", None)
    metrics.rate_limit("core", 4999)
    text = metrics.exposition().decode()
    assert 'eucora_github_api_calls_total{method="GET",status="200"} 1.0' in text
    assert 'eucora_github_api_errors_total{kind="rate_limited"} 1.0' in text
    assert 'eucora_github_api_errors_total{kind="5xx"} 1.0' in text
    assert 'eucora_github_api_errors_total{kind="no_answer"} 1.0' in text
    assert 'eucora_github_rate_limit_remaining{resource="core"} 4999.0' in text
    assert 'eucora_inbox_depth{status="pending"} 3.0' in text


def test_a_slow_delivery_keeps_its_lease_while_it_runs(engine: Engine) -> None:
    """The heartbeat renews a short lease: a sweep during a long handler takes nothing over."""
    inbox = Inbox(engine, lease_seconds=0.6)
    store(inbox, "slow", at=datetime.now(UTC))
    swept: list[int] = []
    sweeper = DeliveryProcessor(inbox=inbox, handler=lambda _d: "x", metrics=Metrics())

    def handler(_delivery: Delivery) -> str:
        for _ in range(4):  # 2 s: more than three leases
            time.sleep(0.5)
            swept.append(sweeper.sweep())
        return "evaluated"

    processor = DeliveryProcessor(inbox=inbox, handler=handler, metrics=Metrics())
    assert processor.run_one()
    assert swept == [0, 0, 0, 0]
    row = inbox.get("slow")
    assert row is not None
    assert (row["status"], row["outcome"], row["attempts"]) == ("done", "evaluated", 1)
