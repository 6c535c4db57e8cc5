"""Reading a ring's outcomes back from Intune: report export joined with the ring's group."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

import pytest

from bot.doubles.intune import IntuneDouble
from bot.errors import PermanentConnectorError, TransientConnectorError
from connectors._polling import Follow
from connectors.intune import IntuneConnector
from connectors.settings import IntuneSettings
from tests.support.plane_publications import DictJournal, publication

from .conftest import artifacts_for, load_intent

CHROME = "windows/google-chrome.yaml"
PLANE_NOW = datetime(2025, 10, 1, 8, 0, tzinfo=UTC)
SYNCED = datetime(2025, 10, 1, 6, 45, tzinfo=UTC)


@pytest.fixture(scope="module")
def double() -> Iterator[IntuneDouble]:
    with IntuneDouble(page_size=4) as started:
        started.clock = lambda: PLANE_NOW
        yield started


@pytest.fixture
def published(double: IntuneDouble) -> Iterator[tuple[IntuneConnector, Any]]:
    intent = load_intent(CHROME)
    pub = publication(intent)
    connector = connect(double, intent)
    if not any(a.body.get("displayName", "").endswith(pub.version) for a in double.apps.values()):
        connector.publish(pub, DictJournal())
    double.export_supported = True
    with double.lock:
        double.requests.clear()
        double.violations.clear()
    yield connector, pub
    assert double.violations == []


def connect(double: IntuneDouble, *intents: dict[str, Any]) -> IntuneConnector:
    settings = IntuneSettings.from_environ(double.environ() | {"EUCORA_INTUNE_TIMEOUT": "5"})
    assert settings is not None
    follow = Follow(interval=0.0, timeout=5.0, sleep=lambda _s: None)
    return IntuneConnector(settings, artifacts=artifacts_for(*intents), follow=follow)


def test_the_export_is_polled_downloaded_and_joined_with_the_ring_members(
    double: IntuneDouble, published: tuple[IntuneConnector, Any]
) -> None:
    connector, pub = published
    double.set_outcomes(
        pub.ring.target,
        installed=5,
        failed=2,
        pending=3,
        not_applicable=1,
        errors=[("0x87D1041C", "The application was not detected after installation.")],
    )

    read = connector.outcomes(pub)

    assert (read.targeted, read.installed, read.failed, read.pending, read.not_applicable) == (
        11,
        5,
        2,
        3,
        1,
    )
    assert read.as_of == PLANE_NOW  # the export job's requestDateTime, on the plane's clock
    assert {(e.code, e.message) for e in read.errors} == {
        ("0x87D1041C", "The application was not detected after installation.")
    }
    polls = [s for s in double.requests if s.method == "GET" and "exportJobs/" in s.path]
    assert len(polls) == double.export_steps, "the job is read until it says completed"
    members = [s for s in double.requests if "transitiveMembers" in s.path]
    assert len(members) == 3, "11 members at 4 per page: every page is read"


def test_an_unsupported_export_falls_back_to_device_statuses(
    double: IntuneDouble, published: tuple[IntuneConnector, Any]
) -> None:
    connector, pub = published
    double.set_outcomes(pub.ring.target, installed=2, failed=1, pending=1, as_of=SYNCED)
    double.export_supported = False

    read = connector.outcomes(pub)

    assert (read.targeted, read.installed, read.failed, read.pending) == (4, 2, 1, 1)
    assert read.as_of == SYNCED  # the newest lastSyncDateTime
    assert [e.code for e in read.errors] == ["0x87D1041C"]
    assert any(s.path.startswith("/beta/") for s in double.requests)


def test_a_failing_group_read_raises_and_never_yields_zeros(
    double: IntuneDouble, published: tuple[IntuneConnector, Any]
) -> None:
    connector, pub = published
    double.set_outcomes(pub.ring.target, installed=3)
    double.inject("500", "transitiveMembers", times=1)

    with pytest.raises(TransientConnectorError, match="HTTP 500"):
        connector.outcomes(pub)


def test_report_rows_are_joined_to_members_through_managed_devices(
    double: IntuneDouble, published: tuple[IntuneConnector, Any]
) -> None:
    # A report row's DeviceId is the Intune managed-device id; a member's deviceId is the Entra
    # device id; its id is the directory object id. Joining them directly counts every device
    # pending.
    connector, pub = published
    ring = pub.ring.target
    double.set_outcomes(ring, installed=2, failed=1, not_applicable=1)
    ids = {double.managed_id(ring, 0), double.device_id(ring, 0), double.object_id(ring, 0)}
    assert len(ids) == 3

    read = connector.outcomes(pub)

    assert (read.targeted, read.installed, read.failed, read.not_applicable, read.pending) == (
        4,
        2,
        1,
        1,
        0,
    )
    lookups = [s for s in double.requests if s.path.endswith("/managedDevices")]
    assert len(lookups) == 4, "a small ring looks up each member by its Entra id"
    assert all("azureADDeviceId" in unquote(s.query) for s in lookups)


def test_a_large_ring_reads_every_page_of_managed_devices(
    double: IntuneDouble, published: tuple[IntuneConnector, Any]
) -> None:
    connector, pub = published
    double.set_outcomes(pub.ring.target, installed=9, failed=1, pending=2)

    read = connector.outcomes(pub)

    assert (read.targeted, read.installed, read.failed, read.pending) == (12, 9, 1, 2)
    lookups = [s for s in double.requests if s.path.endswith("/managedDevices")]
    assert len(lookups) >= 3, "12 devices at 4 per page: every page is read"
    assert not any("$filter" in unquote(s.query) for s in lookups)


@pytest.mark.parametrize("devices", [4, 12])
def test_a_member_not_enrolled_in_intune_is_pending(
    double: IntuneDouble, published: tuple[IntuneConnector, Any], devices: int
) -> None:
    connector, pub = published
    ring = pub.ring.target
    double.set_outcomes(ring, installed=devices)
    double.unenrolled = {double.device_id(ring, 0)}
    try:
        read = connector.outcomes(pub)
    finally:
        double.unenrolled = set()

    assert (read.targeted, read.installed, read.pending) == (devices, devices - 1, 1)


@pytest.mark.parametrize("devices", [3, 12])
def test_a_failing_managed_devices_read_raises(
    double: IntuneDouble, published: tuple[IntuneConnector, Any], devices: int
) -> None:
    connector, pub = published
    double.set_outcomes(pub.ring.target, installed=devices)
    double.inject("500", "managedDevices", times=1)

    with pytest.raises(TransientConnectorError, match="HTTP 500"):
        connector.outcomes(pub)


def test_a_version_never_published_is_an_error(double: IntuneDouble) -> None:
    intent = load_intent(CHROME, version="999.0.0.1")
    with pytest.raises(PermanentConnectorError, match="no app"):
        connect(double, intent).outcomes(publication(intent))
