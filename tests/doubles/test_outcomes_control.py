"""The plane doubles' control API: install outcomes told per group, over a drivable clock."""

from __future__ import annotations

import email.utils
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from bot.doubles.sccm import SccmDouble

T0 = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_nothing_told_is_none_so_the_double_keeps_its_old_behaviour() -> None:
    double = SccmDouble()
    assert double.outcomes_of("PS100012") is None


def test_devices_are_named_and_ordered_with_errors_given_in_turn() -> None:
    double = SccmDouble()
    double.set_outcomes(
        "G", installed=1, failed=3, pending=1, not_applicable=1, errors=[("1", "a"), ("2", "b")]
    )

    devices = double.outcomes_of("G")

    assert devices is not None
    assert [(d.name, d.state, d.code) for d in devices] == [
        ("G-001", "installed", ""),
        ("G-002", "failed", "1"),
        ("G-003", "failed", "2"),
        ("G-004", "failed", "1"),
        ("G-005", "pending", ""),
        ("G-006", "not_applicable", ""),
    ]


def test_a_timeline_follows_the_plane_clock_and_as_of_defaults_to_it() -> None:
    double = SccmDouble()
    now = [T0]
    double.clock = lambda: now[0]
    double.set_outcomes("G", pending=2)
    double.set_outcomes("G", installed=2, at=T0 + timedelta(hours=1), as_of=T0)

    first = double.outcome_entry("G")
    now[0] = T0 + timedelta(hours=2)
    second = double.outcome_entry("G")

    assert first is not None
    assert (first.pending, first.installed) == (2, 0)
    assert double.data_time("G") == T0
    assert second is not None
    assert (second.pending, second.installed) == (0, 2)
    now[0] = T0 - timedelta(hours=1)
    assert double.data_time("G") == now[0], "without as_of the data is as of the clock"


def test_negative_counts_are_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        SccmDouble().set_outcomes("G", installed=-1)


def test_the_date_header_is_the_plane_clock() -> None:
    with SccmDouble() as double:
        double.clock = lambda: T0
        response = httpx.get(f"{double.url}/AdminService/wmi/SMS_Collection")
    assert email.utils.parsedate_to_datetime(response.headers["Date"]) == T0
