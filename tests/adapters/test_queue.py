"""Celery on Redis: the settings that keep Redis from losing or multiplying work, and a real
worker process draining the inbox."""

from __future__ import annotations

import base64
import json
import os
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis

from bot.adapters.queue import (
    QUEUE_NAME,
    TASK_NAME,
    VISIBILITY_TIMEOUT_SECONDS,
    CeleryWakeups,
    celery_settings,
    create_celery,
)
from bot.adapters.storage import create_database_engine, upgrade_schema
from bot.adapters.storage.inbox import Inbox
from bot.bootstrap import build_intake, build_worker, readiness_check
from bot.core.webhooks import body_digest, route_delivery
from bot.entrypoints.worker import Sweeper
from bot.errors import ConfigError
from bot.settings import Settings
from tests.support.redis import RedisServer
from tests.support.serving import (
    free_port,
    recording_serve,
    recording_worker,
    request,
    running,
    wait_until,
)
from tests.support.webhooks import SECRET, encode, headers, pr_payload


def test_celery_settings_guard_against_lost_and_repeated_tasks() -> None:
    settings = celery_settings("redis://127.0.0.1:1/0")
    assert settings["task_acks_late"] is True
    assert settings["task_reject_on_worker_lost"] is True
    assert settings["worker_prefetch_multiplier"] == 1
    broker = settings["broker_transport_options"]["visibility_timeout"]
    backend = settings["result_backend_transport_options"]["visibility_timeout"]
    assert broker == backend == VISIBILITY_TIMEOUT_SECONDS
    assert broker > 2 * settings["task_time_limit"]
    assert settings["task_soft_time_limit"] < settings["task_time_limit"]
    app = create_celery("redis://127.0.0.1:1/0", lambda delivery_id: None)
    assert app.conf.task_acks_late is True
    assert app.conf.task_reject_on_worker_lost is True
    assert app.conf.worker_prefetch_multiplier == 1
    assert app.conf.broker_transport_options["visibility_timeout"] == VISIBILITY_TIMEOUT_SECONDS
    assert TASK_NAME in app.tasks


def migrated(home: Path) -> Inbox:
    engine = create_database_engine(f"sqlite:///{home / 'eucora.db'}")
    upgrade_schema(engine)
    return Inbox(engine)


def test_the_message_carries_only_the_delivery_id(redis_server: RedisServer) -> None:
    url = redis_server.url(1)
    client = redis.Redis.from_url(url)
    client.flushdb()
    CeleryWakeups(create_celery(url)).send("abc-123")
    [message] = client.lrange(QUEUE_NAME, 0, -1)
    envelope = json.loads(message)
    args, kwargs, _ = json.loads(base64.b64decode(envelope["body"]))
    assert (args, kwargs) == (["abc-123"], {})
    assert envelope["headers"]["task"] == TASK_NAME


def test_readiness_checks_the_broker(tmp_path: Path, redis_server: RedisServer) -> None:
    inbox = migrated(tmp_path)
    good = readiness_check(inbox.engine, CeleryWakeups(create_celery(redis_server.url())))
    assert good() is None
    dead = readiness_check(
        inbox.engine, CeleryWakeups(create_celery(f"redis://127.0.0.1:{free_port()}/0"))
    )
    assert (dead() or "").startswith("broker unreachable (")


def test_the_sweeper_resends_deliveries_whose_message_was_lost(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    inbox = migrated(tmp_path)
    url = redis_server.url(2)
    client = redis.Redis.from_url(url)
    client.flushdb()
    body = encode(pr_payload())
    inbox.store(
        delivery_id="lost-1",
        routing=route_delivery("pull_request", pr_payload()),
        body=body,
        body_sha256=body_digest(body),
        received_at=datetime.now(UTC) - timedelta(minutes=5),
    )
    settings = Settings.from_environ({"EUCORA_HOME": str(tmp_path), "EUCORA_BROKER_URL": url})
    worker = build_worker(settings)
    assert Sweeper(worker).sweep_once() == 1
    assert client.llen(QUEUE_NAME) == 1
    # The same pass, from the worker's sweeper thread.
    sweeper = Sweeper(worker, interval=0.05)
    sweeper.start()
    try:
        wait_until(lambda: client.llen(QUEUE_NAME) >= 2, 10, "the sweeper thread to re-send")
    finally:
        sweeper.stop()


def test_without_a_broker_there_is_no_celery_worker(tmp_path: Path) -> None:
    migrated(tmp_path)
    with pytest.raises(ConfigError, match="EUCORA_BROKER_URL is not set"):
        build_worker(Settings.from_environ({"EUCORA_HOME": str(tmp_path)}))
    intake = build_intake(Settings.from_environ({"EUCORA_HOME": str(tmp_path)}))
    assert intake.wakeups is None
    assert intake.drainer is not None


@pytest.mark.slow
def test_a_real_celery_worker_drains_what_serve_accepted(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    home = tmp_path / "home"
    inbox = migrated(home)
    record = tmp_path / "handled.log"
    env = {
        "EUCORA_HOME": str(home),
        "GITHUB_WEBHOOK_SECRET": SECRET,
        "EUCORA_BROKER_URL": redis_server.url(3),
        "EUCORA_TEST_RECORD": str(record),
    }
    redis.Redis.from_url(redis_server.url(3)).flushdb()
    port = free_port()
    with (
        running(recording_serve(port), env, tmp_path / "serve.log", port) as server,
        running(recording_worker("--concurrency", "2"), env, tmp_path / "worker.log") as worker,
    ):
        assert request(f"{server.base}/readyz") == (200, "ready")
        sent = {}
        for i in range(6):
            body = encode(pr_payload(pr=i % 3, head=f"{i:040x}"))
            sent[f"celery-{i}"] = body
            assert (
                request(
                    f"{server.base}/webhook",
                    data=body,
                    headers=headers(body, "pull_request", f"celery-{i}"),
                )[0]
                == 202
            )
        body = sent["celery-0"]
        assert request(
            f"{server.base}/webhook", data=body, headers=headers(body, "pull_request", "celery-0")
        ) == (202, "duplicate")
        wait_until(
            lambda: inbox.depth() == {"pending": 0, "running": 0},
            90,
            "the Celery worker to drain the inbox",
        )
        assert worker.popen.poll() is None
    lines = record.read_text().splitlines() if record.exists() else []
    handled = Counter(line.split()[0] for line in lines)
    statuses = {r["delivery_id"]: r["status"] for r in inbox.rows()}
    # Each delivery ran once, or was superseded by a newer head of its PR before it ran.
    assert all(count == 1 for count in handled.values())
    assert set(handled) | {d for d, s in statuses.items() if s == "superseded"} == set(sent)
    assert all(statuses[d] == "done" for d in handled)
    serve_pid = str(server.popen.pid)
    assert all(line.split()[1] != serve_pid for line in lines)
    assert "Traceback" not in worker.output()
    assert os.environ.get("EUCORA_BROKER_URL") is None


def test_background_wakeups_send_after_the_request_and_cap_bursts() -> None:
    import threading
    import time

    from bot.adapters.queue import BackgroundWakeups

    sent: list[str] = []
    gate = threading.Event()

    def send(delivery_id: str) -> None:
        gate.wait(5)
        if delivery_id == "bad":
            raise ConnectionError("broker down")
        sent.append(delivery_id)

    wakeups = BackgroundWakeups(send, max_per_batch=3)
    wakeups("first")  # the thread takes it and waits on the gate
    time.sleep(0.1)
    for i in range(10):
        wakeups(f"burst-{i}")
    wakeups("bad")
    gate.set()
    deadline = time.monotonic() + 5
    while len(sent) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.1)
    # The first, then only the newest of the burst (a drain covers the rest); a failure is logged.
    assert sent == ["first", "burst-8", "burst-9"]
