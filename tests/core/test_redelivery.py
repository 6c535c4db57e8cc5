"""Which deliveries are redelivered: one choice per guid, the newest attempt decides."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.core.redelivery import Attempt, DeliveryListError, choose, parse_attempt, since_moment

NOW = datetime(2027, 1, 4, 12, 0, tzinfo=UTC)


def attempt(  # noqa: PLR0913
    id_: int, guid: str, code: int, *, ago: int, redelivery: bool = False, event: str = "push"
) -> Attempt:
    return Attempt(
        id=id_,
        guid=guid,
        event=event,
        action=None,
        status="OK" if 200 <= code < 300 else "failed to connect",
        status_code=code,
        delivered_at=NOW - timedelta(minutes=ago),
        redelivery=redelivery,
    )


def decide(*attempts: Attempt, stored: frozenset[str] = frozenset(), gap: int = 0) -> dict:
    choices = choose(
        attempts,
        stored=stored,
        now=NOW,
        since=NOW - timedelta(hours=6),
        min_gap=timedelta(minutes=gap),
    )
    return {c.guid: (c.redeliver, c.reason, c.attempt_id) for c in choices}


def test_a_failed_delivery_not_in_the_inbox_is_redelivered_once() -> None:
    assert decide(attempt(1, "g", 500, ago=30), attempt(2, "g", 0, ago=20, redelivery=True)) == {
        "g": (True, "failed", 2)
    }


def test_a_failed_delivery_the_inbox_holds_is_left_alone() -> None:
    assert decide(attempt(1, "g", 0, ago=30), stored=frozenset({"g"})) == {
        "g": (False, "stored", 1)
    }


def test_a_later_successful_redelivery_settles_the_guid() -> None:
    found = decide(attempt(1, "g", 500, ago=30), attempt(2, "g", 202, ago=10, redelivery=True))
    assert found == {"g": (False, "delivered", 2)}


def test_a_success_the_inbox_never_stored_is_redelivered_but_a_ping_is_not() -> None:
    found = decide(attempt(1, "g", 202, ago=30), attempt(2, "p", 200, ago=30, event="ping"))
    assert found == {"g": (True, "not stored", 1), "p": (False, "delivered", 2)}


def test_a_recent_redelivery_is_not_asked_again_within_the_gap() -> None:
    recent = (attempt(1, "g", 500, ago=30), attempt(2, "g", 500, ago=5, redelivery=True))
    assert decide(*recent, gap=10) == {"g": (False, "redelivered recently", 2)}
    assert decide(*recent, gap=1) == {"g": (True, "failed", 2)}


def test_attempts_before_since_are_not_considered() -> None:
    assert decide(attempt(1, "g", 500, ago=7 * 60)) == {}


def test_a_list_item_missing_a_field_is_named() -> None:
    with pytest.raises(DeliveryListError, match="status_code"):
        parse_attempt(
            {
                "id": 1,
                "guid": "g",
                "event": "push",
                "status": "OK",
                "delivered_at": "2027-01-04T10:00:00Z",
                "redelivery": False,
            }
        )


@pytest.mark.parametrize(
    ("text", "back"),
    [
        ("2h", timedelta(hours=2)),
        ("30m", timedelta(minutes=30)),
        ("P1D", timedelta(days=1)),
        ("PT1H30M", timedelta(minutes=90)),
        ("p2w", timedelta(weeks=2)),
    ],
)
def test_since_takes_durations_and_iso_8601_periods(text: str, back: timedelta) -> None:
    assert since_moment(text, now=NOW) == NOW - back


def test_since_refuses_what_is_no_duration() -> None:
    with pytest.raises(ValueError, match="neither a duration"):
        since_moment("P", now=NOW)
