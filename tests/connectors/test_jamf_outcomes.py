"""Reading a ring's outcomes back from Jamf Pro: group members and their policy logs."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.doubles.jamf import JamfDouble
from bot.errors import PermanentConnectorError, TransientConnectorError
from connectors.jamf import JamfConnector
from connectors.settings import JamfSettings
from tests.support.plane_publications import DictJournal, publication

from .conftest import artifacts_for, load_intent

GROUPS = {"EUC Lab Macs": 1, "EUC Pilot Macs": 2}
SECRET = "jamf-secret-value"  # noqa: S105 -- the double's test credential
PLANE_NOW = datetime(2025, 9, 10, 11, 12, 13, tzinfo=UTC)


@pytest.fixture
def double() -> Iterator[JamfDouble]:
    with JamfDouble(client_secret=SECRET, computer_groups=GROUPS) as started:
        started.clock = lambda: PLANE_NOW
        yield started
    assert started.violations == []


def connect(double: JamfDouble, *intents: dict[str, Any]) -> JamfConnector:
    settings = JamfSettings.from_environ(double.environ() | {"EUCORA_JAMF_TIMEOUT": "5"})
    assert settings is not None
    return JamfConnector(settings, artifacts=artifacts_for(*intents))


def test_members_policy_logs_are_counted(double: JamfDouble) -> None:
    intent = load_intent("macos/zoom.yaml")
    pub = publication(intent)
    connect(double, intent).publish(pub, DictJournal())
    double.set_outcomes(pub.ring.target, installed=4, failed=2, pending=3, not_applicable=1)

    read = connect(double, intent).outcomes(pub)

    assert (read.targeted, read.installed, read.failed, read.pending, read.not_applicable) == (
        9,
        4,
        2,
        3,
        0,
    )
    assert read.as_of == PLANE_NOW  # Jamf's Date header
    assert [e.code for e in read.errors] == ["Failed", "Failed"]
    assert all("2025-09-10T11:12:13" in e.message for e in read.errors)
    histories = [s for s in double.requests if "/subset/PolicyLogs" in s.path]
    assert len(histories) == 9, "every member's history is read"


def test_a_member_history_5xx_raises_never_zero(double: JamfDouble) -> None:
    intent = load_intent("macos/zoom.yaml")
    pub = publication(intent)
    connect(double, intent).publish(pub, DictJournal())
    double.set_outcomes(pub.ring.target, installed=3)
    double.inject("500", "/subset/PolicyLogs")

    with pytest.raises(TransientConnectorError):
        connect(double, intent).outcomes(pub)


def test_no_policy_is_an_error(double: JamfDouble) -> None:
    intent = load_intent("macos/zoom.yaml")
    with pytest.raises(PermanentConnectorError, match="no policy"):
        connect(double, intent).outcomes(publication(intent))
