"""Duplicates and replays in the inbox, on SQLite and PostgreSQL (issue 14, finding 7).

A delivery id seen before is a duplicate, whatever its age. The same body under a new delivery
id is a replay only within the replay window (``EUCORA_REPLAY_WINDOW``, five minutes by default)
of the newest stored delivery with that body; for an event whose payload carries no time of its
own (``membership``), not even then when a delivery of the same event and installation with
another body came in between: remove → add → remove is three changes, not a replay.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine, delete, insert

from bot.adapters.storage import create_database_engine, upgrade_schema
from bot.adapters.storage.db import write_transaction
from bot.adapters.storage.inbox import INBOX_LOCK_KEY, Inbox, Stored, format_time, inbox_row
from bot.adapters.storage.tables import inbox as inbox_table
from bot.core.webhooks import DEFAULT_REPLAY_WINDOW, DeliveryKind, Routing, body_digest
from tests.adapters.storage.test_inbox import T0, put, routing

REMOVED = b'{"action": "removed", "member": {"login": "carol"}, "team": {"slug": "cab"}}'
ADDED = b'{"action": "added", "member": {"login": "carol"}, "team": {"slug": "cab"}}'
MEMBERSHIP = routing(DeliveryKind.MEMBERSHIP, pr=None)


@pytest.fixture
def inbox(engine: Engine) -> Inbox:
    return Inbox(engine)


def test_the_default_window_is_five_minutes(inbox: Inbox) -> None:
    assert timedelta(minutes=5) == DEFAULT_REPLAY_WINDOW
    assert inbox.replay_window == DEFAULT_REPLAY_WINDOW


def test_a_redelivery_is_a_duplicate_however_late_it_comes(inbox: Inbox) -> None:
    assert put(inbox, "d1", body=b'{"a": 1}') is Stored.STORED
    assert put(inbox, "d1", body=b'{"a": 1}', at=T0 + timedelta(days=3)) is Stored.DUPLICATE
    assert put(inbox, "d1", body=b'{"a": 2}', at=T0 + timedelta(days=30)) is Stored.DUPLICATE
    assert [r["delivery_id"] for r in inbox.rows()] == ["d1"]


def test_the_same_body_under_a_new_id_is_a_replay_only_within_the_window(inbox: Inbox) -> None:
    """The window runs from the newest *stored* delivery of the body: replays do not extend it."""
    body = b'{"pull_request": {"number": 7}}'
    assert put(inbox, "d1", body=body) is Stored.STORED
    assert put(inbox, "d2", body=body, at=T0 + timedelta(seconds=299)) is Stored.REPLAY
    assert put(inbox, "d3", body=body, at=T0 + timedelta(seconds=300)) is Stored.STORED
    assert put(inbox, "d4", body=body, at=T0 + timedelta(seconds=599)) is Stored.REPLAY
    assert put(inbox, "d5", body=body, at=T0 + timedelta(seconds=600)) is Stored.STORED
    assert put(inbox, "d6", body=body, at=T0 + timedelta(days=3)) is Stored.STORED
    assert [r["delivery_id"] for r in inbox.rows()] == ["d1", "d3", "d5", "d6"]
    assert {r["body_sha256"] for r in inbox.rows()} == {body_digest(body)}


def test_a_delivery_refused_as_a_replay_is_taken_when_redelivered_after_the_window(
    inbox: Inbox,
) -> None:
    """A replay is not stored, so GitHub's redelivery of it (same id) is not a duplicate."""
    body = b'{"genuine": "twice"}'
    assert put(inbox, "d1", body=body) is Stored.STORED
    assert put(inbox, "d2", body=body, at=T0 + timedelta(seconds=10)) is Stored.REPLAY
    assert put(inbox, "d2", body=body, at=T0 + timedelta(minutes=5)) is Stored.STORED
    assert [r["delivery_id"] for r in inbox.rows()] == ["d1", "d2"]


def test_membership_removed_added_removed_within_the_window_is_three_changes(
    inbox: Inbox,
) -> None:
    assert put(inbox, "m1", MEMBERSHIP, body=REMOVED) is Stored.STORED
    assert put(inbox, "m2", MEMBERSHIP, body=ADDED, at=T0 + timedelta(seconds=20)) is Stored.STORED
    third = put(inbox, "m3", MEMBERSHIP, body=REMOVED, at=T0 + timedelta(seconds=40))
    assert third is Stored.STORED
    # the third body again under a fresh id, nothing in between: a captured body, replayed
    assert put(inbox, "m4", MEMBERSHIP, body=REMOVED, at=T0 + timedelta(seconds=41)) is (
        Stored.REPLAY
    )
    assert [r["delivery_id"] for r in inbox.rows()] == ["m1", "m2", "m3"]


def test_only_a_change_of_the_same_event_and_installation_makes_a_membership_repeat_genuine(
    inbox: Inbox,
) -> None:
    elsewhere = replace(MEMBERSHIP, installation_id=99)
    assert put(inbox, "m1", MEMBERSHIP, body=REMOVED) is Stored.STORED
    assert put(inbox, "other-installation", elsewhere, body=ADDED) is Stored.STORED
    assert put(inbox, "pr", body=b'{"pull_request": 1}') is Stored.STORED
    assert put(inbox, "m2", MEMBERSHIP, body=REMOVED, at=T0 + timedelta(seconds=5)) is (
        Stored.REPLAY
    )


def test_events_with_their_own_time_are_replays_within_the_window_whatever_came_between(
    inbox: Inbox,
) -> None:
    """A review's body names the review and when it was given: GitHub never sends it twice."""
    review = routing(DeliveryKind.REVIEW)
    approved = b'{"review": {"id": 5, "state": "approved", "submitted_at": "2027-01-04T09:00Z"}}'
    dismissed = b'{"review": {"id": 5, "state": "dismissed", "submitted_at": "2027-01-04T09:00Z"}}'
    assert put(inbox, "r1", review, body=approved) is Stored.STORED
    assert put(inbox, "r2", review, body=dismissed, at=T0 + timedelta(seconds=10)) is Stored.STORED
    assert put(inbox, "r3", review, body=approved, at=T0 + timedelta(seconds=20)) is Stored.REPLAY


def test_a_zero_window_turns_the_body_check_off(engine: Engine) -> None:
    inbox = Inbox(engine, replay_window=timedelta(0))
    body = b'{"same": true}'
    assert [put(inbox, f"d{i}", body=body) for i in range(3)] == [Stored.STORED] * 3
    assert put(inbox, "d0", body=body) is Stored.DUPLICATE


def test_a_negative_window_is_refused(engine: Engine) -> None:
    with pytest.raises(ValueError, match="replay window must not be negative"):
        Inbox(engine, replay_window=timedelta(seconds=-1))


def test_the_same_body_under_20_new_ids_at_once_is_stored_once(inbox: Inbox) -> None:
    """Without a unique index on the digest, the check and the insert must still be atomic."""
    results: list[Stored] = []
    lock = threading.Lock()
    start = threading.Barrier(20)

    def send(i: int) -> None:
        start.wait()
        outcome = put(inbox, f"fresh-{i}", body=b'{"same": "body"}')
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert Counter(results) == {Stored.STORED: 1, Stored.REPLAY: 19}
    assert len(inbox.rows()) == 1


def test_rows_stored_before_the_upgrade_keep_and_the_body_may_repeat_after_it(
    database_url: str,
) -> None:
    """0005 drops the digest's unique constraint (forward-only: rows and their order stay)."""
    engine = create_database_engine(database_url)
    try:
        upgrade_schema(engine, "0004_publications")
        row = {
            "delivery_id": "old",
            "body_sha256": body_digest(REMOVED),
            "event": "membership",
            "action": "removed",
            "kind": "membership",
            "installation_id": 42,
            "body": REMOVED,
            "received_at": format_time(T0),
            "status": "done",
            "outcome": "redecided 1",
            "not_before": format_time(T0),
        }
        with engine.begin() as connection:
            connection.execute(insert(inbox_table), row)
        assert upgrade_schema(engine, "0005_inbox_replay_window") == (
            "0004_publications",
            "0005_inbox_replay_window",
        )
        inbox = Inbox(engine)
        assert put(inbox, "again", MEMBERSHIP, body=REMOVED, at=T0 + timedelta(seconds=1)) is (
            Stored.REPLAY
        )
        assert put(inbox, "later", MEMBERSHIP, body=REMOVED, at=T0 + timedelta(minutes=6)) is (
            Stored.STORED
        )
        assert [(r["delivery_id"], r["status"]) for r in inbox.rows()] == [
            ("old", "done"),
            ("later", "pending"),
        ]
    finally:
        engine.dispose()


def _sequence(seed: int) -> list[tuple[str, Routing, bytes, datetime]]:
    """Deliveries drawn from small pools, so ids, bodies and events repeat in every way."""
    chance = random.Random(seed)
    bodies = [REMOVED, ADDED, b'{"pull_request": 1}', b'{"pull_request": 2}']
    routes = [MEMBERSHIP, replace(MEMBERSHIP, installation_id=99), routing()]
    at = T0
    out = []
    for _ in range(40):
        at += timedelta(seconds=chance.choice([0, 1, 30, 200]))
        out.append((f"d{chance.randrange(25)}", chance.choice(routes), chance.choice(bodies), at))
    return out


@pytest.mark.parametrize("seed", range(6))
def test_a_batch_judges_each_delivery_as_it_would_be_judged_alone(
    engine: Engine, seed: int
) -> None:
    """One transaction for many stores (the group commit) answers as one store at a time."""
    inbox = Inbox(engine)
    sequence = _sequence(seed)
    alone = [put(inbox, d, route, body=body, at=at) for d, route, body, at in sequence]
    stored_alone = [(r["delivery_id"], r["body_sha256"]) for r in inbox.rows()]
    with engine.begin() as connection:
        connection.execute(delete(inbox_table))
    chance = random.Random(seed)
    batched: list[Stored] = []
    start = 0
    while start < len(sequence):
        size = chance.choice([1, 3, 7, 16])
        rows = [
            (
                inbox_row(
                    delivery_id=d,
                    routing=route,
                    body=body,
                    body_sha256=body_digest(body),
                    received_at=at,
                ),
                route.event,
            )
            for d, route, body, at in sequence[start : start + size]
        ]
        with write_transaction(engine, INBOX_LOCK_KEY) as connection:
            batched += inbox._check_and_insert_all(connection, rows)
        start += size
    assert batched == alone
    assert [(r["delivery_id"], r["body_sha256"]) for r in inbox.rows()] == stored_alone
    assert set(alone) == {Stored.STORED, Stored.DUPLICATE, Stored.REPLAY}
