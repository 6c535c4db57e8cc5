"""SQLite: concurrent stores share one transaction (one fsync), each answered only once committed;
and a store waiting for the process's writers' lock goes before the claims and completions.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event

from bot.adapters.storage import create_database_engine, upgrade_schema
from bot.adapters.storage.inbox import _SQLITE_WRITERS, Inbox, Stored
from bot.core.webhooks import body_digest
from tests.adapters.storage.test_inbox import T0, routing

STORES = 24


@pytest.fixture
def database(tmp_path: Path) -> Iterator[tuple[Engine, Path]]:
    path = tmp_path / "eucora.db"
    engine = create_database_engine(f"sqlite:///{path}")
    upgrade_schema(engine)
    yield engine, path
    engine.dispose()


def _store(inbox: Inbox, delivery_id: str, body: bytes) -> Stored:
    return inbox.store(
        delivery_id=delivery_id,
        routing=routing(pr=int(delivery_id.rsplit("-", 1)[-1]) % 5 + 1),
        body=body,
        body_sha256=body_digest(body),
        received_at=T0,
    )


def _commits(engine: Engine) -> list[int]:
    counted = [0]

    def count(_connection: object) -> None:
        counted[0] += 1

    event.listen(engine, "commit", count)
    return counted


def test_concurrent_stores_share_a_commit_and_each_sees_its_row_committed(
    database: tuple[Engine, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, path = database
    inbox = Inbox(engine)
    commits = _commits(engine)
    taken = [0]
    acquire = _SQLITE_WRITERS.acquire

    def counted(**options: Any) -> bool:
        got = acquire(**options)
        taken[0] += got
        return got

    monkeypatch.setattr(_SQLITE_WRITERS, "acquire", counted)
    # Another process holds SQLite's write lock while the stores arrive: they queue up.
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    answers: dict[str, Stored] = {}
    committed_when_answered: dict[str, bool] = {}

    def store(n: int) -> None:
        delivery_id = f"d-{n}"
        # Two of them send the same body under another id: a replay, caught inside the batch.
        body = b'{"same": true}' if n in {3, 4} else f'{{"n": {n}}}'.encode()
        answers[delivery_id] = _store(inbox, delivery_id, body)
        with sqlite3.connect(path) as reader:  # a separate connection: only committed rows
            seen = reader.execute("SELECT 1 FROM inbox WHERE delivery_id = ?", (delivery_id,))
            committed_when_answered[delivery_id] = seen.fetchone() is not None

    threads = [threading.Thread(target=store, args=(n,)) for n in range(STORES)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 10
    while len(inbox._waiting) < STORES - 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not answers  # nobody is answered while nothing is committed
    blocker.execute("COMMIT")
    blocker.close()
    for thread in threads:
        thread.join(30)

    replayed = {"d-3", "d-4"} & {d for d, a in answers.items() if a is Stored.REPLAY}
    assert len(replayed) == 1
    assert sorted(a for d, a in answers.items() if d not in replayed) == [Stored.STORED] * (
        STORES - 1
    )
    stored = [d for d, a in answers.items() if a is Stored.STORED]
    assert all(committed_when_answered[d] for d in stored)
    assert {r["delivery_id"] for r in inbox.rows()} == set(stored)
    # One transaction for the queued stores (the first may have begun alone): not one each;
    # and the stores answered by another's batch never took the writers' lock to find out.
    assert commits[0] <= 3, commits[0]
    assert taken[0] <= 3, taken[0]


def test_a_duplicate_inside_one_batch_is_stored_once(database: tuple[Engine, Path]) -> None:
    engine, path = database
    inbox = Inbox(engine)
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    answers: list[Stored] = []
    threads = [
        threading.Thread(target=lambda: answers.append(_store(inbox, "same-1", b'{"x": 1}')))
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 10
    while len(inbox._waiting) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    blocker.execute("COMMIT")
    blocker.close()
    for thread in threads:
        thread.join(30)
    assert sorted(answers) == sorted([Stored.STORED] + [Stored.DUPLICATE] * 3)
    assert [r["delivery_id"] for r in inbox.rows()] == ["same-1"]


def test_a_waiting_store_takes_the_writers_lock_before_an_earlier_claim() -> None:
    order: list[str] = []
    _SQLITE_WRITERS.acquire()
    claim = threading.Thread(target=lambda: (_SQLITE_WRITERS.acquire(), order.append("claim")))
    claim.start()
    time.sleep(0.1)  # the claim waits first
    store = threading.Thread(
        target=lambda: (_SQLITE_WRITERS.acquire(urgent=True), order.append("store"))
    )
    store.start()
    deadline = time.monotonic() + 5
    while _SQLITE_WRITERS._urgent == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    _SQLITE_WRITERS.release()
    store.join(5)
    assert order == ["store"]
    _SQLITE_WRITERS.release()
    claim.join(5)
    assert order == ["store", "claim"]
    _SQLITE_WRITERS.release()


def test_a_store_that_needs_the_lock_no_more_lets_the_claims_behind_it_go() -> None:
    """The last urgent waiter giving up (its row committed by another) wakes the claims.

    It never takes the lock, so no release wakes them: the drainer slept until the next
    delivery came (after a burst: never). Repeated, as the order of the wake-ups varies.
    """
    for _ in range(30):
        _store_gives_up_and_the_claim_goes()


def _store_gives_up_and_the_claim_goes() -> None:
    done = threading.Event()
    claimed = threading.Event()
    _SQLITE_WRITERS.acquire()
    claim = threading.Thread(target=lambda: (_SQLITE_WRITERS.acquire(), claimed.set()), daemon=True)
    claim.start()
    gave_up: list[bool] = []
    store = threading.Thread(
        target=lambda: gave_up.append(not _SQLITE_WRITERS.acquire(urgent=True, unless=done.is_set))
    )
    store.start()
    deadline = time.monotonic() + 5
    while _SQLITE_WRITERS._urgent == 0 and time.monotonic() < deadline:
        time.sleep(0.001)
    done.set()  # another thread's batch committed the store's row
    _SQLITE_WRITERS.release()
    store.join(5)
    assert gave_up == [True]
    assert claimed.wait(5), "the claim slept on after the store gave up"
    claim.join(5)
    _SQLITE_WRITERS.release()
