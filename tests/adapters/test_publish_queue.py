"""The publications queue: one Celery app for both tasks (its settings checked), the message
on a real Redis, a broker that is down, and the in-process publisher used without a broker."""

from __future__ import annotations

import base64
import json
import logging
import multiprocessing
import random
import threading
import time
from collections.abc import Callable
from datetime import datetime
from multiprocessing.connection import Connection

import pytest
import redis

from bot.adapters.publish_queue import (
    MAX_COUNTDOWN_SECONDS,
    PUBLISH_QUEUE,
    PUBLISH_TASK,
    CeleryPublications,
    InProcessPublisher,
    PublishQueueError,
    register_publish_task,
)
from bot.adapters.queue import (
    QUEUE_NAME,
    TASK_NAME,
    VISIBILITY_TIMEOUT_SECONDS,
    WORKER_QUEUES,
    celery_settings,
    create_celery,
    worker_argv,
    worker_queues,
)
from bot.errors import EucoraError
from bot.ports import PublicationQueue
from tests.support.redis import RedisServer, running_redis

# --- one Celery app, one set of settings, both tasks ------------------------------------------


def test_one_app_carries_both_tasks_with_the_settings_reliability_asks_for() -> None:
    settings = celery_settings("redis://127.0.0.1:1/0")
    # RELIABILITY.md 3.3: ack after the run, re-queue when the child dies, reserve one at a time.
    assert settings["task_acks_late"] is True
    assert settings["task_reject_on_worker_lost"] is True
    assert settings["worker_prefetch_multiplier"] == 1
    broker = settings["broker_transport_options"]["visibility_timeout"]
    backend = settings["result_backend_transport_options"]["visibility_timeout"]
    assert broker == backend == VISIBILITY_TIMEOUT_SECONDS
    # A message is held unacknowledged for its countdown, then for the run (at most the hard
    # time limit): Redis must not hand it to a second worker meanwhile, with room to spare.
    limit = settings["task_time_limit"]
    assert settings["task_soft_time_limit"] < limit
    assert broker > limit
    assert broker > MAX_COUNTDOWN_SECONDS
    assert broker >= 2 * (MAX_COUNTDOWN_SECONDS + limit)
    # Tasks carry ids as JSON, nothing pickled.
    assert settings["task_serializer"] == "json"
    assert settings["accept_content"] == ["json"]
    # Each task has its queue, and a worker started without --queues still consumes both.
    assert settings["task_routes"] == {
        TASK_NAME: {"queue": QUEUE_NAME},
        PUBLISH_TASK: {"queue": PUBLISH_QUEUE},
    }
    assert [queue.name for queue in settings["task_queues"]] == list(WORKER_QUEUES)
    assert worker_queues() == "eucora-deliveries,eucora-publications"
    argv = worker_argv(concurrency=4)
    assert argv[0] == "worker"
    assert "--queues=eucora-deliveries,eucora-publications" in argv
    assert {"--concurrency=4", "--pool=prefork", "--without-mingle"} <= set(argv)
    assert worker_argv(concurrency=1, pool="solo", hostname="a@%h")[-1] == "--hostname=a@%h"
    # A lost broker connection does not cut running publications short.
    assert settings["worker_cancel_long_running_tasks_on_connection_loss"] is False

    app = create_celery("redis://127.0.0.1:1/0", lambda _delivery: None, publish=lambda _id: None)
    for name in (TASK_NAME, PUBLISH_TASK):
        task = app.tasks[name]
        assert task.acks_late is True
        assert task.reject_on_worker_lost is True
        assert task.ignore_result is True
    assert app.conf.worker_prefetch_multiplier == 1
    assert app.conf.broker_transport_options["visibility_timeout"] == VISIBILITY_TIMEOUT_SECONDS
    # The web side sends only: neither task is registered there.
    sender = create_celery("redis://127.0.0.1:1/0")
    assert TASK_NAME not in sender.tasks
    assert PUBLISH_TASK not in sender.tasks


def test_each_app_runs_its_own_callables() -> None:
    seen: list[str] = []
    first = create_celery(
        "redis://127.0.0.1:1/0",
        lambda d: seen.append(f"a:{d}"),
        publish=lambda i: seen.append(f"a:{i}"),
    )
    second = create_celery(
        "redis://127.0.0.1:1/0",
        lambda d: seen.append(f"b:{d}"),
        publish=lambda i: seen.append(f"b:{i}"),
    )
    for app, tag in ((second, "x"), (first, "y")):
        app.tasks[TASK_NAME].run(tag)
        app.tasks[PUBLISH_TASK].run(1)
    assert seen == ["b:x", "b:1", "a:y", "a:1"]


def test_the_publish_task_runs_the_id_and_logs_what_run_raises(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ran: list[int] = []

    def run(publication_id: int) -> None:
        if publication_id == 13:
            message = "database gone"
            raise RuntimeError(message)
        ran.append(publication_id)

    app = create_celery("redis://127.0.0.1:1/0")
    register_publish_task(app, run)
    task = app.tasks[PUBLISH_TASK]
    task.run(7)
    with caplog.at_level(logging.ERROR, logger="eucora.publish"):
        task.run(13)  # logged; the row is left for the sweeper
    assert ran == [7]
    [entry] = caplog.records
    assert entry.name == "eucora.publish"
    assert "publication 13: the run failed" in entry.getMessage()
    assert entry.exc_info is not None


def test_both_senders_are_publication_queues() -> None:
    queues: list[PublicationQueue] = [
        CeleryPublications(create_celery("redis://127.0.0.1:1/0")),
        InProcessPublisher(lambda _id: None),
    ]
    assert all(callable(queue.send) for queue in queues)


# --- the message on a real Redis --------------------------------------------------------------


def _messages(client: redis.Redis) -> list[tuple[list[object], str | None]]:
    """(args, eta) of each message waiting in the publications queue."""
    found = []
    for raw in client.lrange(PUBLISH_QUEUE, 0, -1):
        envelope = json.loads(raw)
        assert envelope["headers"]["task"] == PUBLISH_TASK
        args, kwargs, _ = json.loads(base64.b64decode(envelope["body"]))
        assert kwargs == {}
        found.append((args, envelope["headers"]["eta"]))
    return found


def test_the_message_carries_only_the_publication_id_and_its_due_time(
    redis_server: RedisServer,
) -> None:
    url = redis_server.url(5)
    client = redis.Redis.from_url(url)
    client.flushdb()
    queue = CeleryPublications(create_celery(url))
    before = time.time()
    queue.send(41)
    queue.send(42, delay=30)
    queue.send(43, delay=10 * MAX_COUNTDOWN_SECONDS)  # capped below the visibility timeout
    queue.send(44, delay=-5)
    after = time.time()
    assert client.llen(QUEUE_NAME) == 0
    messages = {args[0]: eta for args, eta in _messages(client)}
    assert set(messages) == {41, 42, 43, 44}
    assert messages[41] is None
    assert messages[44] is None
    etas = {ident: _unix(messages[ident]) for ident in (42, 43)}
    assert before + 30 - 1 <= etas[42] <= after + 30 + 1
    assert before + MAX_COUNTDOWN_SECONDS - 1 <= etas[43] <= after + MAX_COUNTDOWN_SECONDS + 1
    client.flushdb()


def _unix(eta: str | None) -> float:
    assert eta is not None
    return datetime.fromisoformat(eta).timestamp()


def test_sending_while_redis_is_down_raises_a_clear_error() -> None:
    with running_redis() as server:
        queue = CeleryPublications(create_celery(server.url()))
        queue.send(1)  # up: queued
        server.process.terminate()
        server.process.wait(10)
        began = time.monotonic()
        with pytest.raises(PublishQueueError) as raised:
            queue.send(2, delay=5)
    elapsed = time.monotonic() - began
    message = str(raised.value)
    assert message.startswith("could not queue publication 2: broker unreachable (")
    assert "\n" not in message
    assert isinstance(raised.value, EucoraError)
    assert elapsed < 10  # a few quick retries, then the error: the caller keeps the outbox row


# --- the in-process publisher -----------------------------------------------------------------


class Recorder:
    """A ``run`` that records (id, start, end, thread) and can hold ids until released."""

    def __init__(self, *, hold: float = 0.0) -> None:
        self.lock = threading.Lock()
        self.runs: list[tuple[int, float, float, str]] = []
        self.hold = hold
        self.active: set[int] = set()
        self.overlaps: list[int] = []
        self.most_at_once = 0
        self.gates: dict[int, threading.Event] = {}

    def __call__(self, publication_id: int) -> None:
        began = time.monotonic()
        with self.lock:
            if publication_id in self.active:
                self.overlaps.append(publication_id)
            self.active.add(publication_id)
            self.most_at_once = max(self.most_at_once, len(self.active))
        try:
            gate = self.gates.get(publication_id)
            if gate is not None:
                assert gate.wait(10)
            time.sleep(self.hold)
        finally:
            with self.lock:
                self.active.discard(publication_id)
                self.runs.append(
                    (publication_id, began, time.monotonic(), threading.current_thread().name)
                )

    def ids(self) -> list[int]:
        with self.lock:
            return [run[0] for run in sorted(self.runs, key=lambda run: run[1])]


def test_runs_in_due_time_order_not_before_their_delay() -> None:
    recorder = Recorder()
    publisher = InProcessPublisher(recorder, threads=1)
    sent = time.monotonic()
    publisher.send(3, delay=0.6)
    publisher.send(2, delay=0.3)
    publisher.send(1)
    publisher.send(4, delay=0.3)  # same due time as 2 give or take: sent later, runs later
    assert publisher.wait_idle(10)
    assert recorder.ids() == [1, 2, 4, 3]
    starts = {ident: began for ident, began, _, _ in recorder.runs}
    assert starts[2] - sent >= 0.3
    assert starts[3] - sent >= 0.6
    publisher.stop()


def test_concurrency_is_limited_to_its_threads() -> None:
    recorder = Recorder()
    gate = threading.Event()
    for ident in range(5):
        recorder.gates[ident] = gate
    publisher = InProcessPublisher(recorder, threads=3)
    publisher.start()
    for ident in range(12):
        publisher.send(ident)
    _wait_for(lambda: len(recorder.active) == 3)
    time.sleep(0.1)
    assert len(recorder.active) == 3  # the other requests wait for a free thread
    assert recorder.active == {0, 1, 2}  # the earliest first
    gate.set()
    assert publisher.wait_idle(10)
    assert sorted(recorder.ids()) == list(range(12))
    assert recorder.most_at_once == 3
    assert len({thread for *_, thread in recorder.runs}) == 3
    publisher.stop()


def _wait_for(predicate: Callable[[], bool], timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def test_duplicates_collapse_and_the_same_id_never_runs_twice_at_once() -> None:
    recorder = Recorder()
    gate = threading.Event()
    recorder.gates[5] = gate
    publisher = InProcessPublisher(recorder, threads=4)
    publisher.send(5)
    deadline = time.monotonic() + 5
    while 5 not in recorder.active and time.monotonic() < deadline:
        time.sleep(0.01)
    assert 5 in recorder.active
    # While 5 runs: duplicates wait for it (a run may re-send itself, e.g. a retry), never overlap.
    for _ in range(5):
        publisher.send(5)
    publisher.send(6)
    assert not publisher.wait_idle(0.2)
    del recorder.gates[5]
    gate.set()
    assert publisher.wait_idle(10)
    assert recorder.overlaps == []
    # One run for the blocked request, one run answering the five duplicates sent meanwhile.
    assert sorted(recorder.ids()) == [5, 5, 6]
    publisher.stop()
    # Duplicates waiting for a free thread collapse into one run.
    single = InProcessPublisher(recorder, threads=1)
    gate = threading.Event()
    recorder.gates[7] = gate
    single.send(7)
    _wait_for(lambda: 7 in recorder.active)
    for _ in range(4):
        single.send(8)
    gate.set()
    assert single.wait_idle(10)
    assert recorder.ids().count(8) == 1
    single.stop()


def test_a_retry_sent_by_the_run_itself_runs_after_its_delay() -> None:
    starts: list[float] = []
    publisher: InProcessPublisher

    def run(publication_id: int) -> None:
        starts.append(time.monotonic())
        if len(starts) == 1:
            publisher.send(publication_id, delay=0.2)  # like retry_later + send(delay=...)
            publisher.send(publication_id)  # and a sweeper's duplicate meanwhile

    publisher = InProcessPublisher(run, threads=2)
    publisher.send(9)
    assert publisher.wait_idle(10)
    assert len(starts) == 3  # the duplicate right after, the retry after its delay
    assert starts[2] - starts[0] >= 0.2
    publisher.stop()


def test_wait_idle_counts_delayed_requests() -> None:
    recorder = Recorder()
    publisher = InProcessPublisher(recorder)
    publisher.send(1, delay=0.5)
    assert publisher.wait_idle(0.05) is False
    assert publisher.wait_idle(10) is True
    assert recorder.ids() == [1]
    assert InProcessPublisher(recorder).wait_idle(0) is True  # nothing sent
    publisher.stop()


def test_an_exception_from_run_is_logged_and_the_thread_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ran: list[int] = []

    def run(publication_id: int) -> None:
        if publication_id % 2:
            message = f"boom {publication_id}"
            raise RuntimeError(message)
        ran.append(publication_id)

    publisher = InProcessPublisher(run, threads=1)
    with caplog.at_level(logging.ERROR, logger="eucora.publish"):
        for ident in range(6):
            publisher.send(ident)
        assert publisher.wait_idle(10)
    assert ran == [0, 2, 4]
    failures = [r for r in caplog.records if r.name == "eucora.publish"]
    assert [r.getMessage().split(":")[0] for r in failures] == [
        "publication 1",
        "publication 3",
        "publication 5",
    ]
    assert all(r.exc_info is not None for r in failures)
    publisher.stop()


def test_stop_joins_the_threads_and_drops_what_waits() -> None:
    recorder = Recorder(hold=0.1)
    publisher = InProcessPublisher(recorder, threads=2)
    publisher.send(1)
    publisher.send(2, delay=30)  # dropped: its outbox row stays due for the sweeper
    _wait_for(lambda: 1 in recorder.active)
    began = time.monotonic()
    publisher.stop(timeout=5)
    assert time.monotonic() - began < 5
    assert recorder.ids() == [1]  # the running one finished
    assert not any(t.name.startswith("eucora-publish") and t.is_alive() for t in _threads())
    with pytest.raises(PublishQueueError, match="publisher stopped"):
        publisher.send(3)
    with pytest.raises(ValueError, match="at least one thread"):
        InProcessPublisher(recorder, threads=0)


def _threads() -> list[threading.Thread]:
    return threading.enumerate()


def test_every_request_is_answered_by_a_run_that_starts_after_it_is_due() -> None:
    """Random sends from two threads and from runs, while another thread polls wait_idle."""
    rng = random.Random(8)
    lock = threading.Lock()
    requests: list[tuple[int, float]] = []  # (id, earliest due) as the sender saw it
    recorder = Recorder()
    publisher: InProcessPublisher

    def send(ident: int, delay: float) -> None:
        with lock:
            requests.append((ident, time.monotonic() + delay))
        publisher.send(ident, delay=delay)

    def run(ident: int) -> None:
        recorder(ident)
        with lock:
            again = rng.random() < 0.2
        if again:
            send(ident, 0.01)  # a retry scheduled by the run itself

    publisher = InProcessPublisher(run, threads=3)
    stop_polling = threading.Event()

    def poll() -> None:
        while not stop_polling.is_set():
            publisher.wait_idle(0.001)

    def senders(seed: int) -> None:
        local = random.Random(seed)
        for _ in range(60):
            send(local.randrange(8), local.choice((0.0, 0.0, 0.005, 0.02)))
            time.sleep(local.random() / 500)

    threads = [threading.Thread(target=poll)] + [
        threading.Thread(target=senders, args=(seed,)) for seed in (1, 2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads[1:]:
        thread.join(30)
    assert publisher.wait_idle(20)
    stop_polling.set()
    threads[0].join(5)
    publisher.stop()
    assert recorder.overlaps == []
    assert _unanswered(requests, recorder.runs) == []


def _unanswered(
    requests: list[tuple[int, float]], runs: list[tuple[int, float, float, str]]
) -> list[tuple[int, float]]:
    """The requests no run of their id started at or after their due time."""
    starts: dict[int, list[float]] = {}
    for ident, began, _, _ in runs:
        starts.setdefault(ident, []).append(began)
    return [(i, due) for i, due in requests if not any(s >= due for s in starts.get(i, []))]


def _in_forked_child(publisher: InProcessPublisher, recorder: Recorder, out: Connection) -> None:
    publisher.send(2)
    idle = publisher.wait_idle(10)
    out.send((idle, recorder.ids()))


def test_a_forked_child_runs_its_own_requests_on_its_own_threads() -> None:
    recorder = Recorder()
    gate = threading.Event()
    recorder.gates[1] = gate
    publisher = InProcessPublisher(recorder, threads=1)
    publisher.send(1)  # the parent's only thread is busy with it
    publisher.send(3, delay=30)  # and this waits in the parent's heap
    _wait_for(lambda: 1 in recorder.active)
    receive, send = multiprocessing.get_context("fork").Pipe(duplex=False)
    child = multiprocessing.get_context("fork").Process(
        target=_in_forked_child, args=(publisher, recorder, send)
    )
    child.start()
    try:
        assert receive.poll(20)
        idle, ran = receive.recv()
    finally:
        child.join(10)
    assert (idle, ran) == (True, [2])  # not the parent's 1 or 3
    assert child.exitcode == 0
    gate.set()
    publisher.stop()
    assert recorder.ids() == [1]
