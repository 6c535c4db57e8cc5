"""Intune plane settings end to end on the double (issue 20): sent, stored, read back equal."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from bot.doubles.intune import IntuneDouble
from connectors._polling import Follow
from connectors.intune import IntuneConnector
from connectors.settings import IntuneSettings
from tests.support.plane_publications import DictJournal, publication

from .conftest import artifacts_for, load_intent

KIOSKS = "4f1c7d52-93a8-4f0e-b8f5-0b1f6d0e2a77"
SETTINGS = {
    "restartBehavior": "basedOnReturnCode",
    "requirements": {
        "minimumWindowsRelease": "21H1",
        "minimumFreeDiskSpaceMB": 2048,
        "minimumMemoryMB": 4096,
        "rules": [
            {
                "type": "registry",
                "key": "HKEY_LOCAL_MACHINE\\SOFTWARE\\Contoso\\Baseline",
                "valueName": "Ring",
                "check": "string",
                "operator": "equal",
                "value": "managed",
            },
            {"type": "file", "path": "C:\\Windows\\System32\\msvcp140.dll", "check": "exists"},
            {
                "type": "script",
                "script": "(Get-CimInstance Win32_OperatingSystem).BuildNumber",
                "check": "integer",
                "operator": "greaterThanOrEqual",
                "value": "19044",
            },
        ],
    },
    "returnCodes": [{"code": 1603, "type": "failed"}, {"code": 2, "type": "retry"}],
}
RING = {
    "notifications": "showReboot",
    "deliveryOptimizationPriority": "foreground",
    "excludeGroups": [KIOSKS],
    "restartGracePeriod": {
        "gracePeriodMinutes": 1440,
        "countdownMinutes": 15,
        "snoozeMinutes": 240,
    },
}


@pytest.fixture
def double() -> Iterator[IntuneDouble]:
    with IntuneDouble() as started:
        yield started
        assert started.violations == []


def connect(double: IntuneDouble, intent: dict[str, Any]) -> IntuneConnector:
    settings = IntuneSettings.from_environ(double.environ())
    assert settings is not None
    follow = Follow(interval=0.0, timeout=5.0, sleep=lambda _s: None)
    return IntuneConnector(settings, artifacts=artifacts_for(intent), follow=follow)


def chrome() -> dict[str, Any]:
    intent = load_intent("windows/google-chrome.yaml")
    intent["intune"] = SETTINGS
    intent["rings"][0]["intune"] = RING
    return intent


def test_every_setting_is_sent_valid_and_read_back_equal(double: IntuneDouble) -> None:
    intent = chrome()
    connector = connect(double, intent)
    connector.publish(publication(intent), DictJournal())
    state = connector.state("google-chrome")
    ring = intent["rings"][0]
    assert state.settings["intune"] == SETTINGS
    assert state.settings["excludeGroups"] == [KIOSKS]
    read = state.settings["rings"][ring["target"]]
    assert read["intune"] == {k: v for k, v in RING.items() if k != "excludeGroups"}
    assert read["schedule"] == {"start": "2027-03-01T08:00:00Z", "deadline": "2027-03-01T16:00:00Z"}
    assert state.rings == {ring["target"]: "required"}  # an exclusion is no ring
    [app] = double.apps.values()
    codes = {(c["returnCode"], c["type"]) for c in app.body["returnCodes"]}
    assert {(0, "success"), (1641, "hardReboot"), (1603, "failed"), (2, "retry")} <= codes
    targets = [a["target"]["@odata.type"] for a in app.assignments]
    assert sorted(targets) == [
        "#microsoft.graph.exclusionGroupAssignmentTarget",
        "#microsoft.graph.groupAssignmentTarget",
    ]
    connector.close()


def test_a_second_publish_changes_nothing_and_other_rings_keep_their_settings(
    double: IntuneDouble,
) -> None:
    intent = chrome()
    connector = connect(double, intent)
    connector.publish(publication(intent), DictJournal())
    connector.publish(publication(intent, 1), DictJournal())
    before = len(double.requests)
    connector.publish(publication(intent, 1), DictJournal())
    assert not [r for r in double.requests[before:] if r.path.endswith("/assign")]
    state = connector.state("google-chrome")
    lab, pilot = (r["target"] for r in intent["rings"][:2])
    assert state.settings["rings"][lab]["intune"]["notifications"] == "showReboot"
    assert "intune" not in state.settings["rings"][pilot]
    assert state.rings == {lab: "required", pilot: "required"}
    connector.close()


def test_the_double_refuses_a_rule_the_description_does_not_have(double: IntuneDouble) -> None:
    intent = chrome()
    intent["intune"] = {
        "requirements": {"rules": [{"type": "file", "path": "C:\\x", "check": "exists"}]}
    }
    connector = connect(double, intent)
    connector.publish(publication(intent), DictJournal())
    [app] = double.apps.values()
    [rule] = [r for r in app.body["rules"] if r["ruleType"] == "requirement"]
    rule["operationType"] = "doesNotExist"  # beta only: v1.0's file rules have no such check
    assert double.model.check(app.body, "win32LobApp", "body")
    double.violations.clear()
    connector.close()


CONTRACTORS = "0b7e4a61-2f3c-4d8e-9a15-6c2d8f4e1b37"
FULL_REQUIREMENTS = {
    "minimumWindowsRelease": "2H20",
    "minimumFreeDiskSpaceMB": 1024,
    "minimumMemoryMB": 8192,
    "minimumProcessors": 2,
    "minimumCpuSpeedMHz": 1800,
    "rules": SETTINGS["requirements"]["rules"],
}


def test_a_win32_intent_over_two_rings_reads_back_all_it_says(double: IntuneDouble) -> None:
    """Issue 20's Done-when on Graph v1.0: requirements (OS, architecture, disk, memory, CPU,
    file/registry/script rules), detection, custom return codes, and per ring an excluded group
    and assignment settings (dependencies, supersedence and filters: test_intune_beta.py)."""
    intent = chrome()
    intent["intune"] = SETTINGS | {"requirements": FULL_REQUIREMENTS}
    intent["package"]["architectures"] = ["x64"]
    intent["package"]["detection"] = {
        "type": "registry",
        "key": "HKEY_LOCAL_MACHINE\\SOFTWARE\\Google\\Chrome\\BLBeacon",
        "valueName": "version",
    }
    intent["rings"][1]["intune"] = {"excludeGroups": [CONTRACTORS], "notifications": "hideAll"}
    connector = connect(double, intent)
    connector.publish(publication(intent), DictJournal())
    connector.publish(publication(intent, 1), DictJournal())
    state = connector.state("google-chrome")
    lab, pilot = intent["rings"][:2]
    assert state.settings["intune"] == intent["intune"]
    assert state.settings["package"] == {
        "architectures": ["x64"],
        "detection": intent["package"]["detection"],
    }
    assert state.settings["excludeGroups"] == sorted([KIOSKS, CONTRACTORS])
    rings = state.settings["rings"]
    assert rings[lab["target"]]["intune"] == {
        k: v for k, v in lab["intune"].items() if k != "excludeGroups"
    }
    assert rings[pilot["target"]]["intune"] == {"notifications": "hideAll"}
    assert state.rings == {lab["target"]: "required", pilot["target"]: "required"}
    connector.close()


@pytest.mark.parametrize(
    "detection",
    [
        {"type": "msiProductCode", "productCode": "{8A69D345-D564-463C-AFF1-A69D9E530F96}"},
        {"type": "file", "path": "C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe"},
        {
            "type": "file",
            "path": "C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe",
            "fileVersion": "131.0.6778.86",
        },
        {"type": "registry", "key": "HKEY_LOCAL_MACHINE\\SOFTWARE\\Google\\Chrome"},
        {"type": "script", "script": "if (Test-Path $env:ProgramFiles\\Google) { 'yes' }"},
    ],
    ids=["msi", "file", "file-version", "registry-key", "script"],
)
def test_each_detection_rule_reads_back_as_the_intent_says_it(
    double: IntuneDouble, detection: dict[str, Any]
) -> None:
    intent = chrome()
    intent["package"]["detection"] = detection
    connector = connect(double, intent)
    connector.publish(publication(intent), DictJournal())
    assert connector.state("google-chrome").settings["package"] == {"detection": detection}
    connector.close()
