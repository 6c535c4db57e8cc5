"""Jamf plane settings sent to the double (issue 20): a valid Classic policy that holds them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from bot.doubles.jamf import JamfDouble
from connectors.jamf import JamfConnector
from connectors.settings import JamfSettings
from tests.support.plane_publications import DictJournal, publication

from .conftest import artifacts_for, load_intent

GROUPS = {"EUC Lab Macs": 1, "EUC Pilot Macs": 2, "Kiosk Macs": 9}
SECRET = "jamf-secret-value"  # noqa: S105 -- the double's test credential


@pytest.fixture
def double() -> Iterator[JamfDouble]:
    with JamfDouble(client_secret=SECRET, computer_groups=GROUPS) as started:
        yield started
    assert started.violations == []


SETTINGS: dict[str, Any] = {
    "triggers": ["recurringCheckin", "enrollmentComplete"],
    "customEvent": "install-zoom",
    "frequency": "Once every week",
    "selfService": {
        "displayName": "Zoom",
        "category": "Communication",
        "installButtonText": "Get Zoom",
        "description": "Video meetings.",
    },
    "scripts": [
        {"name": "zoom-defaults.sh", "priority": "before", "parameters": ["sso", "eu"]},
        {"name": "zoom-cleanup.sh"},
    ],
    "restart": {
        "userLoggedIn": "doNotRestart",
        "noUserLoggedIn": "restartIfRequired",
        "minutesUntilReboot": 10,
    },
    "package": {"priority": 5, "fillUserTemplate": True, "rebootRequired": True},
}


def zoom() -> dict[str, Any]:
    intent: dict[str, Any] = load_intent("macos/zoom.yaml")
    intent["jamf"] = SETTINGS
    intent["rings"][0]["jamf"] = {"excludeGroups": ["Kiosk Macs"]}
    return intent


def connect(double: JamfDouble, intent: dict[str, Any]) -> JamfConnector:
    settings = JamfSettings.from_environ(double.environ() | {"EUCORA_JAMF_CLIENT_SECRET": SECRET})
    assert settings is not None
    return JamfConnector(settings, artifacts=artifacts_for(intent))


def test_trigger_self_service_and_exclusion_are_stored(double: JamfDouble) -> None:
    intent = zoom()
    connect(double, intent).publish(publication(intent), DictJournal())
    [policy] = double.policies.values()
    general = policy["general"]
    assert general["trigger_checkin"] is True
    assert general["trigger_enrollment_complete"] is True
    assert general["trigger_login"] is False
    assert general["trigger_other"] == "install-zoom"
    assert policy["scope"]["exclusions"]["computer_groups"] == [
        {"computer_group": {"name": "Kiosk Macs"}}
    ]
    service = policy["self_service"]
    assert service["self_service_categories"]["category"] == [
        {"name": "Communication", "display_in": True}
    ]
    assert service["install_button_text"] == "Get Zoom"
    assert policy["reboot"]["no_user_logged_in"] == "Restart if a package or update requires it"
    [package] = double.packages.values()
    assert (package["priority"], package["fillUserTemplate"]) == (5, True)


def test_each_script_is_its_own_element_in_the_double(double: JamfDouble) -> None:
    intent = zoom()
    connect(double, intent).publish(publication(intent), DictJournal())
    [policy] = double.policies.values()
    assert policy["scripts"]["script"] == [
        {"name": "zoom-defaults.sh", "priority": "Before", "parameter4": "sso", "parameter5": "eu"},
        {"name": "zoom-cleanup.sh", "priority": "After"},
    ]


def test_every_setting_is_read_back_equal(double: JamfDouble) -> None:
    intent = zoom()
    connector = connect(double, intent)
    connector.publish(publication(intent), DictJournal())
    state = connector.state("zoom-macos")
    ring = intent["rings"][0]
    assert state.settings == {
        "jamf": SETTINGS,
        "rings": {ring["name"]: {"jamf": {"excludeGroups": ["Kiosk Macs"]}}},
    }
    connector.close()


def test_settings_left_out_read_back_as_left_out(double: JamfDouble) -> None:
    intent: dict[str, Any] = load_intent("macos/zoom.yaml")
    connector = connect(double, intent)
    connector.publish(publication(intent), DictJournal())
    connector.publish(publication(intent, 1), DictJournal())
    state = connector.state("zoom-macos")
    lab, pilot = (r["name"] for r in intent["rings"][:2])
    assert state.settings == {"jamf": {}, "rings": {lab: {}, pilot: {}}}
    connector.close()
