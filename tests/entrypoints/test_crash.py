"""Crash safety: ``kill -9`` of the server between the commit and the evaluation loses nothing
and processes nothing twice."""

from __future__ import annotations

import http.client
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.adapters.storage import create_database_engine, upgrade_schema
from bot.adapters.storage.inbox import Inbox
from tests.support.serving import free_port, recording_serve, request, running, wait_until
from tests.support.webhooks import SECRET, encode, headers, pr_payload

pytestmark = pytest.mark.slow


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    engine = create_database_engine(f"sqlite:///{home / 'eucora.db'}")
    upgrade_schema(engine)
    engine.dispose()
    return home


def records(path: Path) -> Counter[str]:
    if not path.exists():
        return Counter()
    return Counter(line.split()[0] for line in path.read_text().splitlines() if line)


def test_kill_9_after_commit_before_response_then_restart(tmp_path: Path, home: Path) -> None:
    record = tmp_path / "handled.log"
    env = {
        "EUCORA_HOME": str(home),
        "GITHUB_WEBHOOK_SECRET": SECRET,
        "EUCORA_TEST_RECORD": str(record),
    }
    body = encode(pr_payload())
    sent = headers(body, "pull_request", "crash-1")
    port = free_port()
    crashing = {**env, "EUCORA_CRASHPOINT": "after_commit_before_response"}
    with running(recording_serve(port), crashing, tmp_path / "first.log", port) as server:
        # The worker process dies right after the commit: GitHub sees no answer.
        with pytest.raises((http.client.RemoteDisconnected, ConnectionError, OSError)):
            request(f"{server.base}/webhook", data=body, headers=sent)
        server.kill9()
    inbox = Inbox(create_database_engine(f"sqlite:///{home / 'eucora.db'}"))
    row = inbox.get("crash-1")
    assert row is not None, "the delivery was committed before the crash"
    with inbox.engine.connect() as connection:
        assert connection.execute(text("PRAGMA integrity_check")).scalar() == "ok"
    port = free_port()
    with running(
        recording_serve(port, "--lease", "2"), env, tmp_path / "second.log", port
    ) as server:
        # GitHub redelivers the failed delivery with the same id: a duplicate, not run again.
        assert request(f"{server.base}/webhook", data=body, headers=sent) == (202, "duplicate")
        wait_until(
            lambda: (inbox.get("crash-1") or {}).get("status") == "done",
            30,
            "the delivery to be processed",
        )
    assert records(record) == {"crash-1": 1}


def test_kill_9_during_the_evaluation_then_restart(tmp_path: Path, home: Path) -> None:
    """The worker dies holding the lease; after restart the sweeper gives the delivery back."""
    record = tmp_path / "handled.log"
    env = {
        "EUCORA_HOME": str(home),
        "GITHUB_WEBHOOK_SECRET": SECRET,
        "EUCORA_TEST_RECORD": str(record),
    }
    bodies = {f"mid-{i}": encode(pr_payload(pr=i)) for i in range(3)}
    inbox = Inbox(create_database_engine(f"sqlite:///{home / 'eucora.db'}"))
    port = free_port()
    blocked = {**env, "EUCORA_TEST_HANDLER_BLOCK": "1"}
    with running(
        recording_serve(port, "--lease", "2"), blocked, tmp_path / "first.log", port
    ) as server:
        for delivery, body in bodies.items():
            assert request(
                f"{server.base}/webhook", data=body, headers=headers(body, "pull_request", delivery)
            ) == (202, "accepted")
        wait_until(lambda: inbox.depth()["running"] == 2, 30, "two deliveries to be running")
        server.kill9()
    assert records(record) == Counter()
    port = free_port()
    with running(recording_serve(port, "--lease", "2"), env, tmp_path / "second.log", port):
        wait_until(
            lambda: {r["status"] for r in inbox.rows()} == {"done"}, 60, "every delivery to be done"
        )
    assert records(record) == {"mid-0": 1, "mid-1": 1, "mid-2": 1}
    # The two that were running when the server died took a second attempt; the waiting one, one.
    assert sorted(r["attempts"] for r in inbox.rows()) == [1, 2, 2]
