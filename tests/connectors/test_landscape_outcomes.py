"""Reading a ring's outcomes back from Landscape: the activity group's child activities."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from bot.doubles.landscape import LandscapeDouble
from bot.errors import PermanentConnectorError, TransientConnectorError
from connectors._polling import Follow
from connectors.landscape import LandscapeConnector
from connectors.settings import LandscapeSettings
from tests.support.plane_publications import CLIENT_TIMEOUT, DictJournal, intent, publication

KEY = "LSKEY0123456789"
SECRET = "landscape-secret-7d1e"  # noqa: S105 - the double's test credential
OSQUERY = "linux/osquery.yaml"
PLANE_NOW = datetime(2025, 7, 1, 9, 30, tzinfo=UTC)
STOPPED = Follow(interval=0.0, timeout=0.0, sleep=lambda _s: None)


@pytest.fixture
def landscape() -> Iterator[LandscapeDouble]:
    double = LandscapeDouble(key=KEY, secret=SECRET)
    double.clock = lambda: PLANE_NOW
    with double:
        yield double
    assert double.violations == []


def connector(double: LandscapeDouble) -> LandscapeConnector:
    settings = LandscapeSettings(url=double.url, key=KEY, secret=SECRET, timeout=CLIENT_TIMEOUT)
    return LandscapeConnector(settings, follow=STOPPED)


def launch(double: LandscapeDouble) -> object:
    pub = publication(intent(OSQUERY))
    # still running, or some computers failed: the activity exists either way
    with contextlib.suppress(TransientConnectorError, PermanentConnectorError):
        connector(double).publish(pub, DictJournal())
    return pub


def test_child_activities_are_counted_with_failures_sampled(landscape: LandscapeDouble) -> None:
    pub = publication(intent(OSQUERY))
    landscape.set_outcomes(
        pub.ring.target,
        installed=150,
        failed=4,
        pending=20,
        not_applicable=1,
        errors=[("100", "E: Unable to locate package osquery")],
    )
    launch(landscape)

    read = connector(landscape).outcomes(pub)

    assert (read.targeted, read.installed, read.failed, read.pending, read.not_applicable) == (
        175,
        150,
        4,
        20,
        1,
    )
    assert read.as_of == PLANE_NOW  # Landscape's Date header
    assert {(e.code, e.message) for e in read.errors} == {
        ("100", "E: Unable to locate package osquery")
    }
    pages = [s for s in landscape.requests if s.method == "POST"]
    assert len(pages) >= 3, "175 children at 100 per page need two pages after the group list"


def test_the_counts_follow_the_timeline(landscape: LandscapeDouble) -> None:
    pub = publication(intent(OSQUERY))
    later = PLANE_NOW + timedelta(hours=3)
    landscape.set_outcomes(pub.ring.target, pending=3)
    landscape.set_outcomes(pub.ring.target, installed=2, failed=1, at=later)
    launch(landscape)

    before = connector(landscape).outcomes(pub)
    landscape.clock = lambda: later
    after = connector(landscape).outcomes(pub)

    assert (before.installed, before.pending) == (0, 3)
    assert (after.installed, after.failed, after.pending, after.as_of) == (2, 1, 0, later)


def test_a_server_error_raises(landscape: LandscapeDouble) -> None:
    pub = publication(intent(OSQUERY))
    landscape.set_outcomes(pub.ring.target, installed=2)
    launch(landscape)
    landscape.inject_action("500", "GetActivities")

    with pytest.raises(TransientConnectorError, match="HTTP 500"):
        connector(landscape).outcomes(pub)


def test_no_activity_is_an_error_not_zero(landscape: LandscapeDouble) -> None:
    with pytest.raises(PermanentConnectorError, match="no activity"):
        connector(landscape).outcomes(publication(intent(OSQUERY)))
