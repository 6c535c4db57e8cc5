"""The Celery queue on Redis: a wake-up signal carrying a delivery id, never the delivery.

The database inbox is the source of truth (RELIABILITY.md, 3.3): a message only says "look at
the inbox, this delivery first". So a lost message costs latency, not a delivery (the worker's
sweeper re-sends due rows), and a duplicated one costs nothing (claims are leased rows).

Settings that keep Redis from losing or multiplying work
(https://docs.celeryq.dev/en/stable/userguide/configuration.html):

* ``task_acks_late``: a message is acknowledged after the task ran, not when it is received;
* ``task_reject_on_worker_lost``: a child killed mid-task (OOM, ``kill -9``) re-queues its
  message instead of acknowledging it;
* ``worker_prefetch_multiplier=1``: a worker reserves one message at a time, so no reserved
  message waits long enough to pass the visibility timeout;
* ``visibility_timeout`` (the same in the broker and result-backend transport options) longer
  than the longest task (its hard ``task_time_limit``) plus the longest countdown a message
  waits reserved before it runs (publish retries, ``MAX_COUNTDOWN_SECONDS``), with room to
  spare, so Redis does not hand a running or waiting task to a second worker.

One app, one set of settings, two queues: deliveries (``eucora-deliveries``) and publications
(``eucora-publications``, ``bot/adapters/publish_queue.py``); ``eucora worker`` consumes both
(:func:`worker_queues`).

What the settings do not promise: ``task_reject_on_worker_lost`` re-queues the message of a
*child* that dies; when the worker's *main* process dies (``kill -9`` of the whole worker), the
messages it held stay unacknowledged in Redis until the visibility timeout passes, and only then
does another worker take them. Before that, the database sweepers (expired leases, due rows) are
what re-send the work.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from typing import Any

from celery import Celery, signals
from kombu.entity import Exchange, Queue

from bot.adapters.publish_queue import (
    MAX_COUNTDOWN_SECONDS,
    PUBLISH_QUEUE,
    PUBLISH_TASK,
    register_publish_task,
)

log = logging.getLogger("eucora.queue")
TASK_NAME = "eucora.process_delivery"
QUEUE_NAME = "eucora-deliveries"
TASK_TIME_LIMIT_SECONDS = 600
"""A task that runs longer is killed (the inbox lease and the sweeper take it from there)."""
LONGEST_HOLD_SECONDS = int(MAX_COUNTDOWN_SECONDS) + TASK_TIME_LIMIT_SECONDS
"""The longest a worker holds a message unacknowledged: the longest countdown, then the run."""
VISIBILITY_TIMEOUT_SECONDS = max(3600, 2 * LONGEST_HOLD_SECONDS)
"""An hour (Celery's default), at least twice the longest hold: room for waiting for a free slot."""
WORKER_QUEUES = (QUEUE_NAME, PUBLISH_QUEUE)
BROKER_TIMEOUT_SECONDS = 5.0


def _direct_queue(name: str) -> Queue:
    """A queue bound to its own direct exchange by its name (what Celery creates on demand)."""
    return Queue(name, Exchange(name), routing_key=name)  # type: ignore[no-untyped-call]


def celery_settings(broker_url: str) -> dict[str, Any]:
    """The Celery configuration EUCORA runs with (checked by a test)."""
    transport = {"visibility_timeout": VISIBILITY_TIMEOUT_SECONDS}
    return {
        "broker_url": broker_url,
        "broker_transport_options": dict(transport),
        "result_backend": None,
        "result_backend_transport_options": dict(transport),
        "task_ignore_result": True,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "task_acks_on_failure_or_timeout": True,
        "worker_prefetch_multiplier": 1,
        # On a lost broker connection, let running tasks finish (a plane call is not cut in the
        # middle); their messages cannot be acknowledged any more, and a redelivery finds the row
        # (inbox or outbox) done. True would cancel them (Celery 6 default): chosen, not defaulted.
        "worker_cancel_long_running_tasks_on_connection_loss": False,
        "task_time_limit": TASK_TIME_LIMIT_SECONDS,
        "task_soft_time_limit": TASK_TIME_LIMIT_SECONDS - 30,
        "task_default_queue": QUEUE_NAME,
        "task_queues": tuple(_direct_queue(name) for name in WORKER_QUEUES),
        "task_routes": {TASK_NAME: {"queue": QUEUE_NAME}, PUBLISH_TASK: {"queue": PUBLISH_QUEUE}},
        "task_serializer": "json",
        "accept_content": ["json"],
        "broker_connection_retry_on_startup": True,
        "broker_connection_timeout": BROKER_TIMEOUT_SECONDS,
        "worker_hijack_root_logger": False,
        "worker_send_task_events": False,
        "broker_pool_limit": 4,
    }


def worker_queues() -> str:
    """What ``eucora worker`` consumes (``--queues``): ``eucora-deliveries,eucora-publications``."""
    return ",".join(WORKER_QUEUES)


def worker_argv(
    *, concurrency: int, pool: str = "prefork", hostname: str | None = None
) -> list[str]:
    """The ``celery worker`` arguments of ``eucora worker``: both queues, no gossip or mingle."""
    argv = [
        "worker",
        "--loglevel=INFO",
        f"--concurrency={concurrency}",
        f"--pool={pool}",
        f"--queues={worker_queues()}",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]
    if hostname is not None:
        argv.append(f"--hostname={hostname}")
    return argv


def run_celery_worker(app: Celery, argv: list[str]) -> int:
    """Run the worker until it stops; return its exit code (non-zero after a fatal error).

    ``Celery.worker_main`` drops the code: after an "Unrecoverable error" (kombu failing to
    restore the messages it held when Redis went away, for one) ``eucora worker`` would exit 0,
    and a supervisor restarting on failure only would leave it down. The code is read from the
    worker itself when it shuts down.
    """
    codes: list[int] = []

    def shutdown(sender: object = None, **_kwargs: object) -> None:
        code = getattr(sender, "exitcode", None)
        if isinstance(code, int):
            codes.append(code)

    signals.worker_shutdown.connect(shutdown, weak=False)
    try:
        app.worker_main(argv)
    finally:
        signals.worker_shutdown.disconnect(shutdown)
    return codes[-1] if codes else 0


DELIVERIES_PER_TURN = 8
"""How many deliveries one Celery delivery task takes before it lets other queued work run."""


def delivery_turns(
    drain: Callable[..., int], requeue: Callable[[str], None], *, turn: int = DELIVERIES_PER_TURN
) -> Callable[[str], None]:
    """The delivery task: drain a short turn, then queue one wake-up behind what waits.

    A task that drained every due delivery held its pool slot for as long as webhooks kept
    coming, and a publication message waited behind it (seen in the topology fault suite). A
    wake-up that cannot be sent is not an error: the deliveries stay due and the worker's sweeper
    wakes them.
    """

    def run(delivery_id: str) -> None:
        if drain(delivery_id, limit=turn) < turn:
            return
        try:
            requeue(delivery_id)
        except Exception:  # noqa: BLE001 - the broker is down: the sweeper re-sends wake-ups
            log.warning("could not queue the next turn of deliveries; the sweeper will")

    return run


def create_celery(
    broker_url: str,
    process: Callable[[str], object] | None = None,
    *,
    publish: Callable[[int], None] | None = None,
) -> Celery:
    """The Celery app; with ``process`` / ``publish``, the tasks that run them.

    The web side builds it with neither (it only sends); ``eucora worker`` with both: ``process``
    runs for a delivery id, ``publish`` for a publication id (:func:`register_publish_task`).
    """
    app = Celery("eucora", set_as_current=False)
    app.conf.update(celery_settings(broker_url))
    if process is not None:

        @app.task(name=TASK_NAME, ignore_result=True, shared=False)  # type: ignore[untyped-decorator]
        def process_delivery(delivery_id: str) -> None:
            process(delivery_id)

    if publish is not None:
        register_publish_task(app, publish)
    return app


class CeleryWakeups:
    """Sends the wake-up message for a stored delivery (the task carries only its id)."""

    def __init__(self, app: Celery) -> None:
        self._app = app

    def send(self, delivery_id: str) -> None:
        """Queue the task for ``delivery_id``; raises when the broker cannot be reached."""
        self._app.send_task(
            TASK_NAME,
            args=(delivery_id,),
            queue=QUEUE_NAME,
            retry=True,
            retry_policy={"max_retries": 2, "interval_start": 0.1, "interval_step": 0.2},
        )

    def ping(self) -> None:
        """Raise when the broker cannot be reached (for ``/readyz``)."""
        with self._app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, timeout=BROKER_TIMEOUT_SECONDS)


class BackgroundWakeups:
    """Sends wake-ups from a thread after the response: a request only appends an id.

    Under a burst, at most ``max_per_batch`` messages go out per pass (the newest ids): each task
    drains every due delivery, so one message wakes a worker for many. A wake-up lost with the
    process (a crash before the thread sent it) is re-sent by the worker's sweeper.
    """

    def __init__(self, send: Callable[[str], None], *, max_per_batch: int = 8) -> None:
        self._send = send
        self._max = max_per_batch
        self._ids: list[str] = []
        self._ready = threading.Condition()
        self._pid: int | None = None

    def __call__(self, delivery_id: str) -> None:
        """Queue a wake-up for ``delivery_id`` (starts the thread in this process if needed)."""
        with self._ready:
            if self._pid != os.getpid():  # first use, or a forked child: threads do not follow
                self._pid = os.getpid()
                self._ids = []
                threading.Thread(target=self._loop, name="eucora-wakeups", daemon=True).start()
            self._ids.append(delivery_id)
            self._ready.notify()

    def _loop(self) -> None:
        while True:
            with self._ready:
                while not self._ids:
                    self._ready.wait()
                batch, self._ids = self._ids[-self._max :], []
            for delivery_id in batch:
                try:
                    self._send(delivery_id)
                except Exception:
                    log.warning("could not send a wake-up; the sweeper will", exc_info=True)
