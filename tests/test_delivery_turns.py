"""The worker's delivery task drains in short turns, so publications are never starved.

A Celery delivery task drains every due delivery; with a steady stream of webhooks it drained
for as long as the stream lasted while a publication message waited behind it in the same pool
(the topology fault suite saw merges not start publishing after 60 s). A turn now ends after a
few deliveries and, when more may be due, queues one more wake-up behind whatever arrived
meanwhile (publications included).
"""

from __future__ import annotations

import pytest

from bot.adapters.queue import DELIVERIES_PER_TURN, delivery_turns


class _Inbox:
    """Due deliveries; ``drain`` takes at most ``limit`` of them, as DeliveryProcessor.drain."""

    def __init__(self, due: int) -> None:
        self.due = due
        self.limits: list[int] = []

    def drain(self, prefer: str | None = None, *, limit: int = 100) -> int:
        self.limits.append(limit)
        taken = min(self.due, limit)
        self.due -= taken
        return taken


def test_a_turn_takes_a_few_deliveries_then_queues_the_rest_behind_other_work() -> None:
    inbox, requeued = _Inbox(due=DELIVERIES_PER_TURN * 3 + 1), []
    turn = delivery_turns(inbox.drain, requeued.append)
    turn("d-1")
    assert inbox.limits == [DELIVERIES_PER_TURN]
    assert inbox.due == DELIVERIES_PER_TURN * 2 + 1
    assert requeued == ["d-1"]  # one wake-up, at the back of the queue


def test_a_turn_that_empties_the_inbox_queues_nothing() -> None:
    inbox, requeued = _Inbox(due=DELIVERIES_PER_TURN - 1), []
    delivery_turns(inbox.drain, requeued.append)("d-2")
    assert inbox.due == 0
    assert requeued == []


def test_a_wake_up_that_cannot_be_sent_is_left_to_the_sweeper(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broker_down(delivery_id: str) -> None:
        raise ConnectionError("redis is restarting")

    inbox = _Inbox(due=DELIVERIES_PER_TURN * 2)
    delivery_turns(inbox.drain, broker_down)("d-3")  # never raises: the deliveries stay due
    assert inbox.due == DELIVERIES_PER_TURN
    assert "sweeper" in caplog.text
