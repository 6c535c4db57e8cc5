"""The inbox on SQLite and PostgreSQL: store once, claim with a lease, collapse, supersede, sweep."""

from __future__ import annotations

import itertools
import multiprocessing
import threading
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from bot.adapters.storage.inbox import Claim, Inbox, Status, Stored, format_time, parse_time
from bot.core.webhooks import DeliveryKind, Routing, body_digest
from tests.support.inbox_workers import churn_from_process, drain_from_process

T0 = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)


def routing(
    kind: DeliveryKind = DeliveryKind.EVALUATE,
    *,
    pr: int | None = 7,
    head: str = "a" * 40,
    repo: str = "acme/intents",
) -> Routing:
    event = {
        DeliveryKind.EVALUATE: "pull_request",
        DeliveryKind.REVIEW: "pull_request_review",
        DeliveryKind.COMMAND: "issue_comment",
        DeliveryKind.IGNORED: "push",
    }.get(kind, kind.value)
    return Routing(
        event=event,
        action="synchronize",
        kind=kind,
        installation_id=42,
        repository=repo,
        pr=pr,
        head_sha=head,
        reason="EUCORA does not handle push" if kind is DeliveryKind.IGNORED else "",
    )


def put(
    inbox: Inbox,
    delivery_id: str,
    route: Routing | None = None,
    *,
    body: bytes | None = None,
    at: datetime = T0,
) -> Stored:
    body = body if body is not None else f'{{"id": "{delivery_id}"}}'.encode()
    return inbox.store(
        delivery_id=delivery_id,
        routing=route or routing(),
        body=body,
        body_sha256=body_digest(body),
        received_at=at,
    )


@pytest.fixture
def inbox(engine: Engine) -> Inbox:
    return Inbox(engine, lease_seconds=60, max_attempts=3)


def test_store_then_duplicate_then_replay(inbox: Inbox) -> None:
    assert put(inbox, "d1", body=b'{"a": 1}') is Stored.STORED
    assert put(inbox, "d1", body=b'{"a": 1}') is Stored.DUPLICATE
    assert put(inbox, "d1", body=b'{"a": 2}') is Stored.DUPLICATE
    assert put(inbox, "d2", body=b'{"a": 1}') is Stored.REPLAY
    assert [r["delivery_id"] for r in inbox.rows()] == ["d1"]
    row = inbox.get("d1")
    assert row is not None
    assert (row["status"], row["attempts"], row["serial_key"]) == ("pending", 0, "acme/intents#7")
    assert inbox.get("nope") is None


def test_ignored_deliveries_are_recorded_and_never_claimed(inbox: Inbox) -> None:
    put(inbox, "push-1", routing(DeliveryKind.IGNORED, pr=None))
    row = inbox.get("push-1")
    assert row is not None
    assert (row["status"], row["outcome"], row["error"]) == (
        "ignored",
        "ignored",
        "EUCORA does not handle push",
    )
    assert inbox.claim(now=T0) is None
    assert inbox.depth() == {"pending": 0, "running": 0}


def test_claim_complete_and_the_delivery_handed_out(inbox: Inbox) -> None:
    put(inbox, "d1")
    claim = inbox.claim(now=T0)
    assert claim is not None
    delivery = claim.delivery
    assert (delivery.delivery_id, delivery.kind, delivery.pr, delivery.attempts) == (
        "d1",
        DeliveryKind.EVALUATE,
        7,
        1,
    )
    assert delivery.payload() == {"id": "d1"}
    assert delivery.received_at == T0
    assert inbox.depth() == {"pending": 0, "running": 1}
    assert inbox.claim(now=T0) is None
    assert inbox.complete(claim, outcome="evaluated", now=T0)
    assert not inbox.complete(claim, outcome="again", now=T0)
    row = inbox.get("d1")
    assert row is not None
    assert (row["status"], row["outcome"], row["lease_owner"]) == ("done", "evaluated", None)


def test_a_burst_for_one_head_collapses_into_one_evaluation(inbox: Inbox) -> None:
    for i in range(5):
        put(inbox, f"d{i}", at=T0 + timedelta(seconds=i))
    claim = inbox.claim(now=T0 + timedelta(seconds=10))
    assert claim is not None
    assert claim.delivery.delivery_id == "d4"
    assert claim.collapsed == ("d0", "d1", "d2", "d3")
    assert inbox.claim(now=T0 + timedelta(seconds=10)) is None
    collapsed = inbox.rows([Status.COLLAPSED])
    assert {r["merged_into"] for r in collapsed} == {"d4"}
    assert {r["outcome"] for r in collapsed} == {"collapsed"}


def test_a_newer_head_supersedes_older_ones_but_reviews_and_commands_stay(inbox: Inbox) -> None:
    put(inbox, "old-1", routing(head="1" * 40))
    put(inbox, "review", routing(DeliveryKind.REVIEW, head="1" * 40))
    put(inbox, "old-2", routing(head="1" * 40))
    put(inbox, "command", routing(DeliveryKind.COMMAND, head=None))
    put(inbox, "new", routing(head="2" * 40))
    put(inbox, "other-pr", routing(pr=8, head="3" * 40))
    order = []
    while (claim := inbox.claim(now=T0)) is not None:
        order.append((claim.delivery.delivery_id, claim.superseded))
        assert inbox.complete(claim, outcome="evaluated", now=T0)
    assert order == [
        ("new", ("old-1", "old-2")),
        ("review", ()),
        ("command", ()),
        ("other-pr", ()),
    ]
    assert {r["delivery_id"] for r in inbox.rows([Status.SUPERSEDED])} == {"old-1", "old-2"}


def test_one_delivery_per_pr_runs_at_a_time(inbox: Inbox) -> None:
    put(inbox, "a", routing(head="1" * 40))
    put(inbox, "b", routing(DeliveryKind.REVIEW))
    put(inbox, "c", routing(pr=9))
    first = inbox.claim(now=T0)
    second = inbox.claim(now=T0)
    assert first is not None
    assert second is not None
    assert (first.delivery.delivery_id, second.delivery.delivery_id) == ("a", "c")
    assert inbox.claim(now=T0) is None  # b waits for a (same PR)
    inbox.complete(first, outcome="evaluated", now=T0)
    third = inbox.claim(now=T0)
    assert third is not None
    assert third.delivery.delivery_id == "b"


def test_prefer_takes_the_named_delivery_first(inbox: Inbox) -> None:
    put(inbox, "a", routing(pr=1))
    put(inbox, "b", routing(pr=2))
    claim = inbox.claim(now=T0, prefer="b")
    assert claim is not None
    assert claim.delivery.delivery_id == "b"
    claim = inbox.claim(now=T0, prefer="b")
    assert claim is not None
    assert claim.delivery.delivery_id == "a"


def test_failures_back_off_then_fail_for_good(inbox: Inbox) -> None:
    put(inbox, "d1")
    now = T0
    statuses = []
    for _ in range(3):
        claim = inbox.claim(now=now)
        assert claim is not None
        statuses.append(inbox.fail(claim, reason="GitHub said 502\nTraceback: x", now=now))
        assert inbox.claim(now=now) is None  # waiting out the backoff
        now += timedelta(minutes=10)
    assert statuses == [Status.PENDING, Status.PENDING, Status.FAILED]
    row = inbox.get("d1")
    assert row is not None
    assert (row["status"], row["outcome"], row["attempts"]) == ("failed", "failed", 3)
    assert row["error"] == "GitHub said 502 Traceback: x"
    stale = Claim(delivery=claim.delivery, owner="someone-else")
    assert inbox.fail(stale, reason="x", now=now) is None


def test_backoff_delay(inbox: Inbox) -> None:
    put(inbox, "d1")
    claim = inbox.claim(now=T0)
    assert claim is not None
    inbox.fail(claim, reason="boom", now=T0)
    row = inbox.get("d1")
    assert row is not None
    assert parse_time(row["not_before"]) == T0 + timedelta(seconds=2)
    assert inbox.claim(now=T0 + timedelta(seconds=1)) is None
    assert inbox.due(now=T0 + timedelta(seconds=2)) == ["d1"]
    assert inbox.claim(now=T0 + timedelta(seconds=2)) is not None


def test_the_sweeper_returns_expired_leases(inbox: Inbox) -> None:
    put(inbox, "d1")
    lost = inbox.claim(now=T0)
    assert lost is not None
    assert inbox.release_expired(now=T0 + timedelta(seconds=59)) == 0
    assert inbox.release_expired(now=T0 + timedelta(seconds=61)) == 1
    row = inbox.get("d1")
    assert row is not None
    assert (row["status"], row["error"]) == ("pending", "lease expired: the worker was lost")
    again = inbox.claim(now=T0 + timedelta(seconds=62))
    assert again is not None
    assert again.delivery.attempts == 2
    # The lost worker comes back late: its lease is gone, it cannot complete.
    assert not inbox.complete(lost, outcome="evaluated", now=T0)
    assert inbox.complete(again, outcome="evaluated", now=T0)


def test_a_delivery_that_kills_every_worker_ends_failed(inbox: Inbox) -> None:
    put(inbox, "poison")
    now = T0
    for _ in range(3):
        assert inbox.claim(now=now) is not None
        now += timedelta(minutes=5)
        inbox.release_expired(now=now)
    row = inbox.get("poison")
    assert row is not None
    assert (row["status"], row["error"]) == ("failed", "the worker was lost on every attempt")


def test_times_need_a_zone() -> None:
    with pytest.raises(ValueError, match="time zone"):
        format_time(datetime(2027, 1, 1))  # noqa: DTZ001


def test_same_delivery_from_many_threads_is_stored_once(inbox: Inbox) -> None:
    results: list[Stored] = []
    lock = threading.Lock()

    def send() -> None:
        for _ in range(5):
            outcome = put(inbox, "dup", body=b'{"same": true}')
            with lock:
                results.append(outcome)

    threads = [threading.Thread(target=send) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert Counter(results) == {Stored.STORED: 1, Stored.DUPLICATE: 99}
    assert len(inbox.rows()) == 1


def test_processes_claiming_at_once_process_each_row_exactly_once(
    inbox: Inbox, database_url: str, tmp_path: Path
) -> None:
    """4 processes drain 48 deliveries of 6 PRs: each once, never two of one PR at a time."""
    for i in range(48):
        kind = DeliveryKind.MERGED if i % 2 else DeliveryKind.COMMAND  # never collapsed
        now = datetime.now(UTC)
        put(inbox, f"d{i:02}", routing(kind, pr=i % 6), at=now)
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    outs = [tmp_path / f"worker-{n}.log" for n in range(4)]
    workers = [
        context.Process(target=drain_from_process, args=(database_url, str(out), start, 0.01))
        for out in outs
    ]
    for worker in workers:
        worker.start()
    start.set()
    for worker in workers:
        worker.join(180)
    assert [w.exitcode for w in workers] == [0, 0, 0, 0]
    records = [line.split() for out in outs for line in out.read_text().splitlines() if line]
    assert Counter(r[0] for r in records) == {f"d{i:02}": 1 for i in range(48)}
    assert len({r[4] for r in records}) >= 2, "only one process got work"
    by_pr: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for _, pr, began, ended, _ in records:
        by_pr[pr].append((float(began), float(ended)))
    for spans in by_pr.values():
        spans.sort()
        for (_, end), (begin, _) in itertools.pairwise(spans):
            assert begin >= end, "two deliveries of one PR ran at once"
    assert {r["status"] for r in inbox.rows()} == {"done"}


def test_processes_writing_at_once_never_meet_a_locked_database(
    inbox: Inbox, database_url: str
) -> None:
    """Two processes store, claim and fail deliveries at once: none gets "database is locked".

    On SQLite a write transaction that reads first must take the write lock when it begins
    (``BEGIN IMMEDIATE``): begun deferred, its read pins a snapshot, and when the other process
    commits before its write, SQLite answers "database is locked" at once, without waiting —
    what an intake racing a drainer in another gunicorn worker met.
    """
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    workers = [
        context.Process(target=churn_from_process, args=(database_url, prefix, 150, start))
        for prefix in ("a", "b")
    ]
    for worker in workers:
        worker.start()
    start.set()
    for worker in workers:
        worker.join(180)
    assert [w.exitcode for w in workers] == [0, 0]
    # A process's claim may take the other's delivery (both are due), leaving a few pending.
    once = Inbox(inbox.engine, max_attempts=1)
    while (claim := once.claim(now=datetime.now(UTC))) is not None:
        once.fail(claim, reason="churn", now=datetime.now(UTC))
    rows = inbox.rows()
    assert len(rows) == 300
    assert {r["status"] for r in rows} == {"failed"}
