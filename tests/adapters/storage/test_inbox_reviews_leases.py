"""The inbox folds a burst of reviews of one PR into one run, and renews leases while work runs."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine

from bot.adapters.storage.inbox import DEFAULT_LEASE_SECONDS, Inbox, Status
from bot.core.webhooks import DeliveryKind
from bot.settings import Settings
from tests.adapters.storage.test_inbox import T0, put, routing


@pytest.fixture
def inbox(engine: Engine) -> Inbox:
    return Inbox(engine, lease_seconds=60, max_attempts=3)


def _review(inbox: Inbox, delivery_id: str, *, pr: int = 7) -> None:
    put(inbox, delivery_id, routing(DeliveryKind.REVIEW, pr=pr))


def test_reviews_waiting_in_a_row_run_once_and_carry_every_body(inbox: Inbox) -> None:
    for n in (1, 2, 3):
        _review(inbox, f"r{n}")
    _review(inbox, "elsewhere", pr=8)
    put(inbox, "command", routing(DeliveryKind.COMMAND))
    _review(inbox, "r4")

    claim = inbox.claim(now=T0)
    assert claim is not None
    assert claim.delivery.delivery_id == "r3"
    assert claim.collapsed == ("r1", "r2")
    assert [d.delivery_id for d in claim.delivery.folded] == ["r1", "r2"]
    assert [d.payload() for d in claim.delivery.folded] == [{"id": "r1"}, {"id": "r2"}]
    for row in (inbox.get("r1"), inbox.get("r2")):
        assert row is not None
        assert (row["status"], row["merged_into"]) == ("collapsed", "r3")
    assert inbox.complete(claim, outcome="approval-decided", now=T0)

    # the command arrived before r4: it runs first, and r4 is not folded across it
    order = []
    while (claim := inbox.claim(now=T0)) is not None:
        order.append((claim.delivery.delivery_id, [d.delivery_id for d in claim.delivery.folded]))
        assert inbox.complete(claim, outcome="done", now=T0)
    assert order == [("elsewhere", []), ("command", []), ("r4", [])]
    assert {r["delivery_id"] for r in inbox.rows([Status.COLLAPSED])} == {"r1", "r2"}


def test_a_retried_review_still_carries_the_reviews_folded_into_it(inbox: Inbox) -> None:
    for n in (1, 2, 3):
        _review(inbox, f"r{n}")
    first = inbox.claim(now=T0)
    assert first is not None
    assert inbox.fail(first, reason="GitHub answered 502", now=T0) is Status.PENDING
    retry = inbox.claim(now=T0 + timedelta(hours=1))
    assert retry is not None
    assert retry.delivery.delivery_id == "r3"
    assert retry.collapsed == ("r1", "r2")  # still answers for them (audited when it ends)
    assert [d.delivery_id for d in retry.delivery.folded] == ["r1", "r2"]


def test_a_renewed_lease_is_not_swept_and_a_lost_one_cannot_be_renewed(inbox: Inbox) -> None:
    put(inbox, "d1")
    claim = inbox.claim(now=T0)
    assert claim is not None
    assert inbox.renew(claim, now=T0 + timedelta(seconds=50))
    assert inbox.release_expired(now=T0 + timedelta(seconds=100)) == 0  # renewed until 110 s
    assert inbox.release_expired(now=T0 + timedelta(seconds=111)) == 1  # no heartbeat since
    assert not inbox.renew(claim, now=T0 + timedelta(seconds=112))
    taken = inbox.claim(now=T0 + timedelta(seconds=112))
    assert taken is not None
    assert taken.owner != claim.owner
    assert not inbox.complete(claim, outcome="late", now=T0 + timedelta(seconds=113))
    assert inbox.complete(taken, outcome="evaluated", now=T0 + timedelta(seconds=113))


def test_the_lease_is_a_minute_by_default_and_set_by_the_environment(tmp_path: object) -> None:
    assert DEFAULT_LEASE_SECONDS == 60.0
    assert Settings.from_environ({"EUCORA_HOME": str(tmp_path)}).inbox_lease_seconds == 60.0
    environ = {"EUCORA_HOME": str(tmp_path), "EUCORA_INBOX_LEASE_SECONDS": "20"}
    assert Settings.from_environ(environ).inbox_lease_seconds == 20.0


def test_what_a_retried_delivery_settled_passes_to_the_one_that_collapses_it(
    inbox: Inbox,
) -> None:
    for name in ("a", "b", "x"):
        put(inbox, name)
    first = inbox.claim(now=T0)
    assert first is not None
    assert (first.delivery.delivery_id, first.collapsed) == ("x", ("a", "b"))
    assert inbox.fail(first, reason="the worker's GitHub call failed", now=T0) is Status.PENDING
    put(inbox, "y")  # a newer delivery of the same head arrives while x waits for its retry
    claim = inbox.claim(now=T0 + timedelta(hours=1))
    assert claim is not None
    assert claim.delivery.delivery_id == "y"
    assert claim.collapsed == ("a", "b", "x")  # none left with nobody to audit them
    assert {r["merged_into"] for r in inbox.rows([Status.COLLAPSED])} == {"y"}
