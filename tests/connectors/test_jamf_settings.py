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

GROUPS = {"EUC Lab Macs": 1, "Kiosk Macs": 9}
SECRET = "jamf-secret-value"  # noqa: S105 -- the double's test credential


@pytest.fixture
def double() -> Iterator[JamfDouble]:
    with JamfDouble(client_secret=SECRET, computer_groups=GROUPS) as started:
        yield started
    assert started.violations == []


def test_trigger_self_service_and_exclusion_are_stored(double: JamfDouble) -> None:
    intent: dict[str, Any] = load_intent("macos/zoom.yaml")
    intent["jamf"] = {
        "triggers": ["recurringCheckin", "enrollmentComplete"],
        "customEvent": "install-zoom",
        "frequency": "Once per computer",
        "selfService": {"category": "Communication", "installButtonText": "Get Zoom"},
        "scripts": [{"name": "zoom-defaults.sh", "priority": "after", "parameters": ["sso"]}],
        "restart": {"userLoggedIn": "doNotRestart", "noUserLoggedIn": "restartIfRequired"},
        "package": {"priority": 5, "fillUserTemplate": True},
    }
    intent["rings"][0]["jamf"] = {"excludeGroups": ["Kiosk Macs"]}
    settings = JamfSettings.from_environ(double.environ() | {"EUCORA_JAMF_CLIENT_SECRET": SECRET})
    assert settings is not None
    JamfConnector(settings, artifacts=artifacts_for(intent)).publish(
        publication(intent), DictJournal()
    )
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
    assert service["self_service_categories"]["category"][0]["name"] == "Communication"
    assert service["install_button_text"] == "Get Zoom"
    assert policy["reboot"]["no_user_logged_in"] == "Restart if a package or update requires it"
    [package] = double.packages.values()
    assert (package["priority"], package["fillUserTemplate"]) == (5, True)
