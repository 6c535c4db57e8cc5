"""The embedded drainer yields to the webhook requests in flight, in every server process."""

from __future__ import annotations

import multiprocessing
import threading
import time
from datetime import UTC, datetime

from sqlalchemy import Engine

from bot.adapters.inbox_worker import DeliveryProcessor, IntakeGate, ThreadedDrainer
from bot.adapters.metrics import Metrics
from bot.adapters.storage.inbox import Inbox
from bot.core.webhooks import Delivery
from tests.adapters.test_inbox_worker import engine, store  # noqa: F401 - the fixture

WAIT = 10.0


def _drainer(engine: Engine, handled: list[str], *, yield_seconds: float) -> ThreadedDrainer:  # noqa: F811
    def handler(delivery: Delivery) -> str:
        handled.append(delivery.delivery_id)
        return "evaluated"

    processor = DeliveryProcessor(inbox=Inbox(engine), handler=handler, metrics=Metrics())
    return ThreadedDrainer(
        processor, threads=1, poll_seconds=0.05, sweep_seconds=60, yield_seconds=yield_seconds
    )


def _until(predicate: object, timeout: float = WAIT) -> float:
    started = time.monotonic()
    while not predicate():  # type: ignore[operator]
        if time.monotonic() - started > timeout:
            raise AssertionError("timed out")
        time.sleep(0.01)
    return time.monotonic() - started


def test_the_drainer_claims_nothing_while_a_request_is_in_flight(engine: Engine) -> None:  # noqa: F811
    handled: list[str] = []
    drainer = _drainer(engine, handled, yield_seconds=30)
    drainer.start()
    try:
        with drainer.gate.receiving():
            store(Inbox(engine), "d1", at=datetime.now(UTC))
            drainer.wake("d1")
            time.sleep(0.5)
            assert handled == []  # it waits for the acknowledgement
        _until(lambda: handled == ["d1"], timeout=2)
    finally:
        drainer.stop()


def test_a_steady_stream_of_requests_slows_the_drainer_without_stopping_it(
    engine: Engine,  # noqa: F811
) -> None:
    handled: list[str] = []
    drainer = _drainer(engine, handled, yield_seconds=0.3)
    drainer.start()
    try:
        with drainer.gate.receiving():
            # timed from before the store: the drainer may see the row by polling, before the
            # wake, and its yield starts then (not when this thread resumes after a slow store)
            started = time.monotonic()
            store(Inbox(engine), "d1", at=datetime.now(UTC))
            drainer.wake("d1")
            _until(lambda: handled == ["d1"])
            waited = time.monotonic() - started
        assert 0.25 <= waited < WAIT
    finally:
        drainer.stop()


def _hold(gate: IntakeGate, entered: object, leave: object) -> None:
    with gate.receiving():
        entered.set()  # type: ignore[attr-defined]
        leave.wait(WAIT)  # type: ignore[attr-defined]


def test_the_gate_counts_the_requests_of_every_forked_process() -> None:
    gate = IntakeGate()  # made before the fork, as eucora serve makes it before gunicorn's
    context = multiprocessing.get_context("fork")
    entered, leave = context.Event(), context.Event()
    worker = context.Process(target=_hold, args=(gate, entered, leave))
    worker.start()
    try:
        assert entered.wait(WAIT)
        assert gate.in_flight == 1  # seen from this process
        stop = threading.Event()
        started = time.monotonic()
        gate.wait_quiet(0.2, stop)
        assert time.monotonic() - started >= 0.15
    finally:
        leave.set()
        worker.join(WAIT)
    assert gate.in_flight == 0
