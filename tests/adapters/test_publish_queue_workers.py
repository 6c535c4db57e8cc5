"""Real Celery worker processes on a real Redis carrying publications (and deliveries).

Two workers (``tests/support/publish_worker.py``: the real app, recording callables) consume
both queues. What the settings promise is checked, and what they do not is shown:

* a child killed mid-publish (``kill -9``): ``task_reject_on_worker_lost`` re-queues the
  message at once and another process runs it;
* the whole worker killed (main process included): nobody is left to reject the message, which
  stays unacknowledged in Redis until the visibility timeout passes (an hour in production:
  before that, the outbox sweeper re-sends the row once its lease expires). A worker with a short
  visibility timeout shows Redis handing it back;
* Redis restarted (no persistence): the workers reconnect and run what is sent next, but the
  messages that were in Redis, and the delayed ones a worker held, are gone: re-sending due rows
  is the outbox sweeper's job.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from bot.adapters.publish_queue import PUBLISH_QUEUE, CeleryPublications
from bot.adapters.queue import CeleryWakeups, create_celery
from tests.support.redis import RedisServer, find_redis_server, running_redis
from tests.support.serving import Process, running, wait_until

pytestmark = pytest.mark.slow
DB = 6


@dataclass
class Line:
    kind: str
    ident: str
    pid: int
    at: float


@dataclass
class Workers:
    url: str
    env: dict[str, str]
    record: Path
    marker: Path
    logs: Path
    processes: dict[str, Process]
    stack: ExitStack

    def start(self, name: str, **extra: str) -> Process:
        command = [sys.executable, "-m", "tests.support.publish_worker", name]
        log = self.logs / f"{name}.log"
        process = self.stack.enter_context(running(command, {**self.env, **extra}, log))
        self.processes[name] = process
        return process

    def lines(self) -> list[Line]:
        if not self.record.exists():
            return []
        found = []
        for text in self.record.read_text().splitlines():
            kind, ident, pid, at = text.split()
            found.append(Line(kind, ident, int(pid), float(at)))
        return found

    def find(self, kind: str, ident: object) -> Line | None:
        return next((x for x in self.lines() if (x.kind, x.ident) == (kind, str(ident))), None)

    def wait_for(self, kind: str, ident: object, timeout: float = 20) -> Line:
        return wait_until(
            lambda: self.find(kind, ident), timeout, f"{kind} {ident} in the record", 0.05
        )


def _ready(process: Process) -> bool:
    if process.popen.poll() is not None:
        raise AssertionError(f"worker exited:\n{process.output()[-3000:]}")
    return " ready." in process.output()


@pytest.fixture(scope="module")
def workers(
    redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Workers]:
    root = tmp_path_factory.mktemp("publish-workers")
    url = redis_server.url(DB)
    redis.Redis.from_url(url).flushdb()
    env = {
        "EUCORA_BROKER_URL": url,
        "EUCORA_TEST_RECORD": str(root / "record.log"),
        "EUCORA_TEST_BLOCK_ONCE": str(root / "block-once"),
        "EUCORA_TEST_FAIL_ID": "13",
    }
    with ExitStack() as stack:
        group = Workers(url, env, root / "record.log", root / "block-once", root, {}, stack)
        for name in ("alpha", "beta"):
            group.start(name)
        for process in group.processes.values():
            wait_until(lambda p=process: _ready(p), 60, "a Celery worker to be ready", 0.1)
        yield group
    redis.Redis.from_url(url).flushdb()


def test_one_worker_pool_runs_publications_and_deliveries_honouring_countdowns(
    workers: Workers,
) -> None:
    app = create_celery(workers.url)
    publications = CeleryPublications(app)
    sent = time.time()
    publications.send(1, delay=2.0)
    publications.send(2)
    publications.send(13)  # its run raises: logged, and the worker goes on
    CeleryWakeups(app).send("delivery-1")
    publications.send(3)
    publications.send(4, delay=0.5)
    for kind, ident in (("publish", 2), ("publish", 3), ("deliver", "delivery-1")):
        workers.wait_for(kind, ident)
    early = workers.wait_for("publish", 4)
    late = workers.wait_for("publish", 1)
    # A delayed message does not run before its time (the ETA is set at send, after `sent`).
    assert early.at >= sent + 0.5
    assert late.at >= sent + 2.0
    wait_until(
        lambda: "publication 13: the run failed" in _all_output(workers),
        20,
        "the failed run to be logged",
    )
    output = _all_output(workers)
    assert "RuntimeError: run failed on purpose for publication 13" in output
    assert all(p.popen.poll() is None for p in workers.processes.values())
    counts = Counter((x.kind, x.ident) for x in workers.lines())
    assert counts == {
        ("publish", "1"): 1,
        ("publish", "2"): 1,
        ("publish", "3"): 1,
        ("publish", "4"): 1,
        ("deliver", "delivery-1"): 1,
    }
    assert redis.Redis.from_url(workers.url).llen(PUBLISH_QUEUE) == 0


def test_a_child_killed_mid_publish_has_its_message_run_again_elsewhere(
    workers: Workers,
) -> None:
    workers.marker.touch()  # the next run blocks forever, like a plane call that hangs
    CeleryPublications(create_celery(workers.url)).send(100)
    blocked = workers.wait_for("block", 100)
    os.kill(blocked.pid, signal.SIGKILL)
    rerun = workers.wait_for("publish", 100)
    # task_reject_on_worker_lost: re-queued at once, run by another process (the other worker,
    # or the child the first worker forked to replace the dead one).
    assert rerun.pid != blocked.pid
    assert rerun.at > blocked.at
    assert all(p.popen.poll() is None for p in workers.processes.values())
    assert "WorkerLostError" in _all_output(workers)


def test_a_worker_killed_whole_leaves_its_message_to_the_visibility_timeout(
    workers: Workers,
) -> None:
    workers.marker.unlink(missing_ok=True)
    Path(f"{workers.marker}.taken").unlink(missing_ok=True)
    workers.marker.touch()
    CeleryPublications(create_celery(workers.url)).send(200)
    blocked = workers.wait_for("block", 200)
    [holder] = [p for p in workers.processes.values() if os.getpgid(blocked.pid) == p.popen.pid]
    holder.kill9()  # main process and child: nobody is left to reject the message
    client = redis.Redis.from_url(workers.url)
    assert client.hlen("unacked") == 1
    assert client.llen(PUBLISH_QUEUE) == 0
    time.sleep(2)  # the surviving worker does not get it: the hour has not passed
    assert workers.find("publish", 200) is None
    # A worker whose visibility timeout is one second finds it stale and hands it back.
    fresh = workers.start("gamma", EUCORA_TEST_VISIBILITY="1")
    rerun = workers.wait_for("publish", 200, timeout=30)
    assert rerun.pid != blocked.pid
    assert fresh.popen.poll() is None
    wait_until(lambda: client.hlen("unacked") == 0, 10, "the message to be acknowledged")


def _all_output(workers: Workers) -> str:
    return "".join(p.output() for p in workers.processes.values())


def test_after_a_redis_restart_workers_run_what_is_sent_next_and_what_redis_held_is_gone(
    tmp_path: Path,
) -> None:
    with running_redis() as server, ExitStack() as stack:
        env = {
            "EUCORA_BROKER_URL": server.url(),
            "EUCORA_TEST_RECORD": str(tmp_path / "record.log"),
        }
        group = Workers(
            server.url(), env, tmp_path / "record.log", tmp_path / "no", tmp_path, {}, stack
        )
        worker = group.start("delta")
        wait_until(lambda: _ready(worker), 60, "a Celery worker to be ready", 0.1)
        publications = CeleryPublications(create_celery(server.url()))
        sent = time.time()
        publications.send(300, delay=2.0)  # held by the worker, unacknowledged, until due
        wait_until(lambda: " received" in worker.output(), 20, "the worker to take the message")
        _restart(server)
        # kombu fails to restore the message it held through the lost connection (an
        # AttributeError in its Redis transport): the worker stops with exit code 1, which
        # run_celery_worker passes on, so a supervisor restarts it. A worker that held nothing
        # reconnects by itself.
        wait_until(
            lambda: worker.popen.poll() is not None or worker.output().count("Connected to") > 1,
            30,
            "the worker to reconnect or stop",
        )
        if worker.popen.poll() is not None:
            assert worker.popen.returncode == 1
            assert "Unrecoverable error" in worker.output()
            worker = group.start("epsilon")
            wait_until(lambda: _ready(worker), 60, "the restarted worker to be ready", 0.1)
        publications.send(301)
        group.wait_for("publish", 301, timeout=30)
        wait_until(lambda: time.time() > sent + 3.0, 10, "the first message's due time to pass")
        time.sleep(0.5)
        assert group.find("publish", 300) is None  # lost: the sweeper re-sends its due row
        worker.popen.send_signal(signal.SIGTERM)
        assert worker.popen.wait(30) == 0  # a requested stop exits 0


def _restart(server: RedisServer) -> None:
    """Stop the server and start a new, empty one on the same port (no persistence)."""
    server.process.terminate()
    server.process.wait(10)
    server.process = subprocess.Popen(
        [
            find_redis_server(),
            "--port",
            str(server.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(server.root),
            "--save",
            "",
            "--appendonly",
            "no",
            "--logfile",
            str(server.root / "redis.log"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_until(server.ping, 20, "Redis to come back", 0.05)
