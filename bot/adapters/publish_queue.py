"""Where publications run: a Celery task on Redis, or threads in this process (no broker).

Like the delivery queue (``bot/adapters/queue.py``), a message is a wake-up carrying a
publication id, never the publication: the outbox row is the source of truth. ``run`` claims the
row (a lease), calls the plane, and schedules its own retries through the outbox and
:meth:`PublicationQueue.send` with a delay. So a lost message costs latency (the sweeper re-sends
due rows and expired leases), and a duplicated one costs nothing (the claim refuses a row that is
not due or is leased by a live worker).
"""

from __future__ import annotations

import heapq
import itertools
import logging
import math
import os
import threading
import time
import weakref
from collections.abc import Callable

from celery import Celery
from kombu.exceptions import OperationalError

from bot.errors import EucoraError

log = logging.getLogger("eucora.publish")
PUBLISH_TASK = "eucora.publish"
PUBLISH_QUEUE = "eucora-publications"
MAX_COUNTDOWN_SECONDS = 900.0
"""The longest delay a message waits in the broker (``RETRY_AFTER_CAP_SECONDS`` of the core).

On Redis a delayed message is reserved, unacknowledged, by a worker until it is due: the wait
counts against the visibility timeout (``bot/adapters/queue.py`` keeps that far above this plus
the task time limit, and a test checks it). A longer delay is capped: the early run finds the row
not due and does nothing, and the sweeper re-sends it once it is.
"""
SEND_RETRY_POLICY = {"max_retries": 2, "interval_start": 0.1, "interval_step": 0.2}


class PublishQueueError(EucoraError):
    """A publication could not be queued (the broker is unreachable).

    The outbox row is already committed: the caller keeps it and the sweeper re-sends it.
    """


def _countdown(delay: float) -> float:
    if math.isnan(delay) or delay <= 0:
        return 0.0
    return min(delay, MAX_COUNTDOWN_SECONDS)


class CeleryPublications:
    """Sends the publish task (only the id) to the publications queue on the broker."""

    def __init__(self, app: Celery) -> None:
        self._app = app

    def send(self, publication_id: int, *, delay: float = 0.0) -> None:
        """Queue a run of ``publication_id``; raises :class:`PublishQueueError` when it cannot."""
        countdown = _countdown(delay)
        if countdown < delay:
            log.info(
                "publication %d: delay %.0f s capped at %.0f s; the sweeper re-sends it when due",
                publication_id,
                delay,
                countdown,
            )
        try:
            self._app.send_task(
                PUBLISH_TASK,
                args=(publication_id,),
                countdown=countdown or None,
                queue=PUBLISH_QUEUE,
                retry=True,
                retry_policy=SEND_RETRY_POLICY,
            )
        except (OperationalError, OSError) as error:
            message = f"could not queue publication {publication_id}: broker unreachable ({error})"
            raise PublishQueueError(message) from error


def register_publish_task(app: Celery, run: Callable[[int], None]) -> None:
    """Add the publish task to ``app``: it runs ``run`` for the id the message carries.

    Acknowledged late and rejected (re-queued) when the child running it dies (the app's
    settings, repeated on the task). ``run`` handles plane errors and retries itself; anything it
    raises is a bug or an outage: logged, and the row is left for the sweeper (its lease expires).
    """

    @app.task(  # type: ignore[untyped-decorator]
        name=PUBLISH_TASK,
        ignore_result=True,
        acks_late=True,
        reject_on_worker_lost=True,
        shared=False,  # shared tasks join every later app, whose own ``run`` would be ignored
    )
    def publish(publication_id: int) -> None:
        try:
            run(int(publication_id))
        except Exception:
            log.exception(
                "publication %r: the run failed; the sweeper retries it when its lease expires",
                publication_id,
            )


class InProcessPublisher:
    """The same ``run`` on ``threads`` daemon threads of this process: installs without a broker.

    Requests wait in a heap ordered by due time (then by arrival); idle threads sleep on a
    condition until the earliest is due or a new one arrives. One id never runs on two threads at
    once: a request for an id that is running waits for that run to end. A run that starts at or
    after a request's due time answers it, so duplicates collapse into one run. Requests still
    waiting when the publisher stops are dropped: their outbox rows stay due for the sweeper.
    Threads do not survive a fork (a server forking its workers): a forked child starts afresh,
    with its own threads from its first ``send``, and leaves the parent's requests to the parent.
    """

    def __init__(self, run: Callable[[int], None], *, threads: int = 2) -> None:
        if threads < 1:
            message = f"InProcessPublisher needs at least one thread, not {threads}"
            raise ValueError(message)
        self._run = run
        self._size = threads
        self._ready = threading.Condition()
        self._heap: list[tuple[float, int, int]] = []  # (due, arrival, id)
        self._arrivals = itertools.count()
        self._parked: dict[int, list[tuple[float, int, int]]] = {}  # due while the id runs
        self._running: set[int] = set()
        self._last_start: dict[int, float] = {}
        self._threads: list[threading.Thread] = []
        self._stopping = False
        alive = weakref.ref(self)
        os.register_at_fork(after_in_child=lambda: _after_fork(alive))

    def _forget_parent(self) -> None:
        """In a forked child: a fresh lock (the parent's may be held) and no inherited work."""
        self._ready = threading.Condition()
        self._heap = []
        self._parked = {}
        self._running = set()
        self._last_start = {}
        self._threads = []

    def send(self, publication_id: int, *, delay: float = 0.0) -> None:
        """Run ``publication_id`` on a thread once ``delay`` seconds have passed."""
        with self._ready:
            if self._stopping:
                message = f"could not queue publication {publication_id}: the publisher stopped"
                raise PublishQueueError(message)
            self._start_locked()
            due = time.monotonic() + (delay if delay > 0 else 0.0)  # no broker: no cap
            heapq.heappush(self._heap, (due, next(self._arrivals), publication_id))
            self._ready.notify_all()  # wait_idle callers wait on it too

    def start(self) -> None:
        """Start the threads (``send`` also does, the first time)."""
        with self._ready:
            self._start_locked()

    def stop(self, timeout: float = 10.0) -> None:
        """Let running runs finish, drop waiting requests, join the threads (up to ``timeout``)."""
        with self._ready:
            self._stopping = True
            self._heap.clear()
            self._parked.clear()
            self._ready.notify_all()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def wait_idle(self, timeout: float) -> bool:
        """True once nothing is queued, delayed or running; False if ``timeout`` passes first."""
        deadline = time.monotonic() + timeout
        with self._ready:
            while self._heap or self._parked or self._running:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._ready.wait(left)
            return True

    def _start_locked(self) -> None:
        if self._threads or self._stopping:
            return
        for number in range(self._size):
            thread = threading.Thread(
                target=self._loop, name=f"eucora-publish-{number}", daemon=True
            )
            self._threads.append(thread)
            thread.start()

    def _next_locked(self) -> int | None:
        """The id to run now (marked running), or None after waiting; call with the lock held."""
        now = time.monotonic()
        while self._heap and self._heap[0][0] <= now:
            entry = heapq.heappop(self._heap)
            due, _, publication_id = entry
            if due < self._last_start.get(publication_id, -math.inf):
                self._ready.notify_all()  # answered by a run that started after it was due
                continue
            if publication_id in self._running:
                self._parked.setdefault(publication_id, []).append(entry)
                continue
            self._running.add(publication_id)
            self._last_start[publication_id] = now
            return publication_id
        self._ready.wait(self._heap[0][0] - now if self._heap else None)
        return None

    def _loop(self) -> None:
        while True:
            with self._ready:
                if self._stopping:
                    return
                publication_id = self._next_locked()
            if publication_id is None:
                continue
            try:
                self._run(publication_id)
            except Exception:
                log.exception(
                    "publication %d: the run failed; the sweeper retries it when its lease expires",
                    publication_id,
                )
            finally:
                self._finished(publication_id)

    def _finished(self, publication_id: int) -> None:
        with self._ready:
            self._running.discard(publication_id)
            for entry in self._parked.pop(publication_id, []):
                heapq.heappush(self._heap, entry)
            if not any(entry[2] == publication_id for entry in self._heap):
                self._last_start.pop(publication_id, None)
            self._ready.notify_all()


def _after_fork(alive: weakref.ref[InProcessPublisher]) -> None:
    publisher = alive()
    if publisher is not None:
        publisher._forget_parent()  # noqa: SLF001 - its own fork hook
