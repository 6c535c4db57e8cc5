"""The publications sweeper's grace: a Celery worker's sweep leaves rows due a moment ago alone.

Every ``eucora worker`` sweeps every 15 s; re-sending every due row made duplicate task runs
under a backlog (``benchmarks/publish.py``). Real SQLite outbox; a queue that records sends.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from celery import Celery

from bot.adapters.inbox_worker import DeliveryProcessor
from bot.adapters.metrics import Metrics
from bot.adapters.storage import create_database_engine, upgrade_schema
from bot.adapters.storage.inbox import Inbox
from bot.adapters.storage.publications import NewChange, NewPublication, Outbox
from bot.bootstrap import PUBLISH_SWEEP_GRACE, _publications
from bot.flows.publish import Publisher
from connectors.registry import Connectors

NOW = datetime(2027, 3, 1, 9, tzinfo=UTC)


class SentQueue:
    """The ``PublicationQueue`` protocol, remembering what was sent."""

    def __init__(self) -> None:
        self.sent: list[int] = []

    def send(self, publication_id: int, *, delay: float = 0.0) -> None:
        del delay
        self.sent.append(publication_id)


class Unused:
    """GitHub and evidence: a sweep of pending rows never reaches them."""

    def __getattr__(self, name: str) -> Any:
        message = f"the sweep should not call {name}"
        raise AssertionError(message)


@pytest.fixture
def outbox(tmp_path: Path) -> Outbox:
    engine = create_database_engine(f"sqlite:///{tmp_path / 'eucora.db'}")
    upgrade_schema(engine)
    return Outbox(engine)


def _record(outbox: Outbox, count: int) -> list[int]:
    publications = [
        NewPublication(
            plane="sccm",
            intent_name=f"tool-{i}",
            version="1.0",
            ring="lab",
            target="PS100012",
            path=f"intents/tool-{i}.yaml",
            idempotency_key=f"tool-{i}@1.0#lab",
            intent={"metadata": {"name": f"tool-{i}"}},
            evidence_digest="sha256:" + "ab" * 32,
        )
        for i in range(count)
    ]
    change = NewChange(
        repository="acme/intents",
        pr=7,
        installation_id=None,
        head_sha="a" * 40,
        merge_sha="b" * 40,
        check_digest="sha256:" + "cd" * 32,
        state="publishing",
        emergency=False,
        facts={},
        comment_head="head",
        correlation_id="c-1",
    )
    _, rows, _ = outbox.record_change(change, publications, now=NOW)
    return [row.id for row in rows]


def _publisher(outbox: Outbox) -> tuple[Publisher, SentQueue]:
    publisher = Publisher(
        outbox=outbox,
        connectors=Connectors({}),
        github=Unused(),
        evidence=Unused(),
        clock=lambda: NOW,
    )
    queue = SentQueue()
    publisher.queue = queue
    return publisher, queue


def test_a_sweep_with_grace_resends_only_rows_due_for_that_long(outbox: Outbox) -> None:
    ids = _record(outbox, 3)
    publisher, queue = _publisher(outbox)
    grace = timedelta(seconds=30)

    assert publisher.sweep(now=NOW + timedelta(seconds=10), grace=grace) == 0
    assert queue.sent == []
    assert publisher.sweep(now=NOW + timedelta(seconds=31), grace=grace) == 3
    assert queue.sent == ids


def test_without_grace_the_sweep_resends_every_due_row_at_once(outbox: Outbox) -> None:
    ids = _record(outbox, 2)
    publisher, queue = _publisher(outbox)
    assert publisher.sweep() == 2
    assert queue.sent == ids


def test_the_celery_workers_sweep_with_grace_the_in_process_one_without(
    outbox: Outbox,
) -> None:
    ids = _record(outbox, 2)
    for celery, expected in ((Celery("eucora-test", set_as_current=False), []), (None, ids)):
        publisher, queue = _publisher(outbox)
        services: Any = type("Services", (), {"publisher": publisher})()
        inbox = Inbox(outbox.engine)
        processor = DeliveryProcessor(
            inbox=inbox, handler=lambda _delivery: "done", metrics=Metrics(depth=inbox.depth)
        )
        runner = _publications(services, processor, celery)
        publisher.queue = queue  # instead of the Celery sender (needs a broker) or the threads
        [sweep] = processor.also_sweep
        sweep()  # the clock says NOW: the rows are due this very moment
        assert queue.sent == expected
        if runner is not None:
            runner.stop()
    assert timedelta(seconds=15) < PUBLISH_SWEEP_GRACE
