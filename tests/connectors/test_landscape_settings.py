"""Landscape settings of an intent (issue 20): source, time limit, user, reboot after install.

Against the Landscape double, which checks every call against the legacy API's description and
stores what it is sent (the script's time limit, user and code; RebootComputers' computers and
deliver_after).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.doubles.landscape import LandscapeDouble
from bot.errors import PermanentConnectorError
from connectors.base import StepKind
from connectors.landscape import REBOOT_ID, LandscapeConnector, script_code
from connectors.settings import LandscapeSettings
from tests.support.plane_publications import (
    CLIENT_TIMEOUT,
    DictJournal,
    intent,
    no_wait,
    publication,
)

KEY = "LSKEY0123456789"
SECRET = "landscape-secret-7d1e"  # noqa: S105 - the double's test credential
OSQUERY = "linux/osquery.yaml"
NOW = datetime(2027, 2, 1, 9, 0, tzinfo=UTC)
SETTINGS: dict[str, Any] = {
    "source": "repository",
    "packageName": "osquery",
    "timeLimitSeconds": 900,
    "runAs": "landscape-installer",
    "reboot": "afterInstall",
    "rebootDelayMinutes": 30,
}


@pytest.fixture
def landscape() -> Iterator[LandscapeDouble]:
    double = LandscapeDouble(key=KEY, secret=SECRET)
    double.add_computer("lab-01", "euc-lab")
    double.add_computer("lab-02", "euc-lab")
    double.add_computer("ws-17", "euc-pilot-linux")
    with double:
        yield double
    assert double.violations == []


def connector(double: LandscapeDouble) -> LandscapeConnector:
    settings = LandscapeSettings(url=double.url, key=KEY, secret=SECRET, timeout=CLIENT_TIMEOUT)
    return LandscapeConnector(settings, follow=no_wait(), now=lambda: NOW)


def with_settings(top: dict[str, Any], **rings: dict[str, Any]) -> dict[str, Any]:
    """The example with exactly these settings (the example's own are replaced)."""
    document = intent(OSQUERY, landscape=top)
    for ring in document["rings"]:
        ring.pop("landscape", None)
        if ring["name"] in rings:
            ring["landscape"] = rings[ring["name"]]
    return document


def test_the_settings_are_sent_and_read_back_equal(landscape: LandscapeDouble) -> None:
    document = with_settings(SETTINGS, pilot={"reboot": "never"})
    plane = connector(landscape)

    for index in (0, 1):
        plane.publish(publication(document, index), DictJournal())

    scripts = sorted(landscape.scripts.values(), key=lambda s: s.id)
    assert [(s.time_limit, s.username) for s in scripts] == [(900, "landscape-installer")] * 2
    assert "apt-get install -y osquery=5.14.1-1" in scripts[0].code
    assert "curl" not in scripts[0].code  # from the repository: nothing downloaded
    lab = sorted(c.id for c in landscape.computers.values() if "euc-lab" in c.tags)
    assert landscape.reboots == [(lab, "2027-02-01T09:30:00Z")]  # the pilot ring says never
    assert plane.state("osquery-linux").settings == {
        "landscape": SETTINGS,
        "rings": {"pilot": {"reboot": "never"}},
    }


def test_a_retry_after_the_reboot_does_not_restart_the_computers_again(
    landscape: LandscapeDouble,
) -> None:
    pub = publication(with_settings({"reboot": "afterInstall"}))
    journal = DictJournal()
    plane = connector(landscape)

    first = plane.publish(pub, journal)
    again = plane.publish(pub, journal)

    assert len(landscape.reboots) == 1
    assert landscape.reboots[0][1] is None  # no delay: deliver_after not sent
    assert first.details["reboot_activity_id"] == again.details["reboot_activity_id"]
    assert journal.values[REBOOT_ID] == first.details["reboot_activity_id"]


def test_the_plan_names_the_user_time_limit_source_and_reboot(landscape: LandscapeDouble) -> None:
    steps = connector(landscape).plan(publication(with_settings(SETTINGS)))

    launches = [s.description for s in steps if s.kind is StepKind.LAUNCH]
    assert (
        "as landscape-installer, time limit 900 s, osquery from the computers' APT" in (launches[0])
    )
    assert launches[1] == (
        "restart those computers once every one has installed it, 30 minutes later"
        " (RebootComputers)"
    )


def test_an_intent_without_settings_keeps_its_script_byte_identical() -> None:
    document = with_settings({})
    del document["landscape"]
    pub = publication(document)

    code = script_code(pub)

    assert "landscape-settings" not in code
    assert "curl -fsSL --proto '=https'" in code


def test_source_repository_needs_a_deb_package_name() -> None:
    pub = publication(with_settings({"source": "repository"}))

    with pytest.raises(PermanentConnectorError, match=r"landscape\.packageName"):
        script_code(pub)


def test_the_double_refuses_a_reboot_of_an_unknown_computer(landscape: LandscapeDouble) -> None:
    plane = connector(landscape)

    with pytest.raises(PermanentConnectorError, match="UnknownComputer"):
        plane._call("RebootComputers", computer_ids=[999])

    assert landscape.violations == ["POST /api/: UnknownComputer: no computer 999"]
    assert landscape.reboots == []
    landscape.violations.clear()


def test_an_uninstall_ring_removes_the_package_it_never_installs_it(
    landscape: LandscapeDouble,
) -> None:
    document = with_settings({})
    del document["landscape"]
    document["rings"][0]["assignment"] = "uninstall"
    pub = publication(document)

    code = script_code(pub)
    steps = connector(landscape).plan(pub)

    assert "DEBIAN_FRONTEND=noninteractive apt-get remove -y osquery" in code  # detection's name
    assert "apt-get install" not in code
    assert "curl" not in code
    assert "(removes osquery-linux 5.14.1-1)" in steps[-1].description


def test_an_uninstall_ring_of_a_script_package_is_refused() -> None:
    document = with_settings({})
    del document["landscape"]
    document["package"]["type"] = "script"
    del document["package"]["detection"]
    document["rings"][0]["assignment"] = "uninstall"

    with pytest.raises(PermanentConnectorError, match="asks to uninstall, and a script package"):
        script_code(publication(document))
