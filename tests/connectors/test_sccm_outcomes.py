"""Reading a ring's install outcomes back from Configuration Manager (SMS_DeploymentSummary)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from bot.core.rollout_model import ERROR_SAMPLE_MAX, DeviceError
from bot.doubles.sccm import SccmDouble
from bot.errors import PermanentConnectorError, TransientConnectorError
from connectors.sccm import SccmConnector
from connectors.settings import SccmSettings
from tests.support.plane_publications import CLIENT_TIMEOUT, DictJournal, intent, publication

USER = "CONTOSO\\svc-eucora"
PASSWORD = "sccm-secret-31f0"  # noqa: S105 - the double's test credential
ZIP = "windows/7-zip.yaml"
SUMMARISED = datetime(2025, 3, 4, 5, 0, tzinfo=UTC)
PLANE_NOW = datetime(2025, 3, 4, 6, 30, tzinfo=UTC)


@pytest.fixture
def sccm() -> Iterator[SccmDouble]:
    double = SccmDouble(username=USER, password=PASSWORD)
    double.add_collection("PS100012", "EUC lab", members=3)
    double.clock = lambda: PLANE_NOW
    with double:
        yield double
    assert double.violations == []


def connector(double: SccmDouble) -> SccmConnector:
    settings = SccmSettings(
        url=double.url, timeout=CLIENT_TIMEOUT, username=USER, password=PASSWORD
    )
    return SccmConnector(settings)


def test_counts_come_from_the_deployment_summary_as_of_its_summarization_time(
    sccm: SccmDouble,
) -> None:
    pub = publication(intent(ZIP))
    connector(sccm).publish(pub, DictJournal())
    sccm.set_outcomes(
        "PS100012",
        installed=40,
        failed=3,
        pending=5,
        not_applicable=2,
        errors=[("0x80070643", "Fatal error during installation")],
        as_of=SUMMARISED,
    )

    read = connector(sccm).outcomes(pub)

    assert (read.targeted, read.installed, read.failed, read.pending, read.not_applicable) == (
        50,
        40,
        3,
        5,
        2,
    )
    assert read.as_of == SUMMARISED
    assert read.errors == tuple(
        DeviceError(f"PS100012-{n:03d}", "0x80070643", "enforcement state 5000")
        for n in (41, 42, 43)
    )
    summary = [s for s in sccm.requests if "SMS_DeploymentSummary" in s.path]
    assert summary, "the counts must come from SMS_DeploymentSummary"


def test_the_error_sample_is_capped(sccm: SccmDouble) -> None:
    pub = publication(intent(ZIP))
    connector(sccm).publish(pub, DictJournal())
    sccm.set_outcomes("PS100012", installed=1, failed=ERROR_SAMPLE_MAX + 7)

    read = connector(sccm).outcomes(pub)

    assert read.failed == ERROR_SAMPLE_MAX + 7
    assert len(read.errors) == ERROR_SAMPLE_MAX


def test_a_timeline_moves_with_the_plane_clock(sccm: SccmDouble) -> None:
    pub = publication(intent(ZIP))
    connector(sccm).publish(pub, DictJournal())
    sccm.set_outcomes("PS100012", pending=10, as_of=PLANE_NOW - timedelta(hours=2))
    later = PLANE_NOW + timedelta(hours=6)
    sccm.set_outcomes("PS100012", installed=9, failed=1, as_of=later, at=later)

    before = connector(sccm).outcomes(pub)
    sccm.clock = lambda: later
    after = connector(sccm).outcomes(pub)

    assert (before.installed, before.pending, before.as_of) == (
        0,
        10,
        PLANE_NOW - timedelta(hours=2),
    )
    assert (after.installed, after.failed, after.pending, after.as_of) == (9, 1, 0, later)


def test_a_server_error_raises_and_never_reads_as_zero(sccm: SccmDouble) -> None:
    pub = publication(intent(ZIP))
    connector(sccm).publish(pub, DictJournal())
    sccm.set_outcomes("PS100012", installed=3)
    sccm.inject("500", "SMS_DeploymentSummary")

    with pytest.raises(TransientConnectorError, match="HTTP 500"):
        connector(sccm).outcomes(pub)


def test_a_deployment_not_yet_summarised_is_an_error_not_zero(sccm: SccmDouble) -> None:
    pub = publication(intent(ZIP))
    connector(sccm).publish(pub, DictJournal())  # no outcomes told: no summary row yet

    with pytest.raises(TransientConnectorError, match="0 summary rows"):
        connector(sccm).outcomes(pub)


def test_a_ring_never_deployed_is_an_error(sccm: SccmDouble) -> None:
    with pytest.raises(PermanentConnectorError, match="no deployment named"):
        connector(sccm).outcomes(publication(intent(ZIP)))
