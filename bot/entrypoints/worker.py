"""``eucora worker``: the Celery worker that drains the inbox when ``EUCORA_BROKER_URL`` is set.

The task carries a delivery id and runs :meth:`DeliveryProcessor.drain` (the same code the
in-process drainer runs). A sweeper thread in the worker's main process returns expired leases
(children killed mid-task) to the inbox and re-sends due deliveries whose message was lost
(broker restarted empty, enqueue failed after the commit).
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from typing import Any

from celery import signals

from bot.adapters.queue import run_celery_worker, worker_argv
from bot.bootstrap import Worker
from bot.entrypoints.commands_redeliver import periodic_redelivery
from bot.entrypoints.periodic_reconcile import periodic_reconcile

log = logging.getLogger("eucora.worker")
SWEEP_SECONDS = 15.0
STUCK_AFTER = timedelta(seconds=30)
"""A due delivery older than this has lost its message: the sweeper sends another."""


class Sweeper:
    """Every ``interval`` seconds: release expired leases, re-send stuck due deliveries."""

    def __init__(self, worker: Worker, interval: float = SWEEP_SECONDS) -> None:
        self._worker = worker
        self._interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sweep_once(self) -> int:
        """One pass; return how many deliveries were re-sent."""
        self._worker.processor.sweep()
        stuck_before = self._worker.processor.clock() - STUCK_AFTER
        due = self._worker.services.inbox.due(now=stuck_before)
        for delivery_id in due:
            self._worker.wakeups.send(delivery_id)
        return len(due)

    def start(self) -> None:
        """Run in a daemon thread."""
        self._thread = threading.Thread(target=self._loop, name="eucora-sweeper", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop after the current pass."""
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.sweep_once()
            except Exception:
                log.exception("the sweeper failed; retrying")


def run_worker(worker: Worker, *, concurrency: int, pool: str = "prefork") -> None:
    """Run the Celery worker in this process until it is stopped."""
    sweeper = Sweeper(worker, interval=worker.services.settings.sweep_seconds)
    engine = worker.services.engine

    def child_init(**_kwargs: Any) -> None:
        engine.dispose(close=False)  # the parent's pooled connections are not the child's

    redelivery = periodic_redelivery(worker.services.settings, engine)
    reconcile = periodic_reconcile(worker.services, worker.publisher)

    def ready(**_kwargs: Any) -> None:
        sweeper.start()
        if redelivery is not None:  # one worker at a time runs it: a database lease
            redelivery.start()
        if reconcile is not None:  # likewise: the ``reconcile`` lease
            reconcile.start()

    signals.worker_process_init.connect(child_init, weak=False)
    signals.worker_ready.connect(ready, weak=False)
    code = run_celery_worker(worker.celery, worker_argv(concurrency=concurrency, pool=pool))
    sweeper.stop()
    if redelivery is not None:
        redelivery.stop()
    if reconcile is not None:
        reconcile.stop()
    if code:  # an unrecoverable error: exit non-zero so a supervisor restarts the worker
        raise SystemExit(code)
