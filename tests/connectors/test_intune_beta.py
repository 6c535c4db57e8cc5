"""Intune settings only Graph beta has (issue 20): filters, dependencies, supersedence, run time.

Published end to end on the double, which checks every beta body against the beta typings'
subset and every v1.0 body against the v1.0 CSDL (the fixture fails on any departure), and read
back by ``state()`` equal to what the intent says.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from bot.doubles.intune import IntuneDouble
from bot.errors import PermanentConnectorError
from connectors._polling import Follow
from connectors.intune import IntuneConnector
from connectors.settings import IntuneSettings
from tests.support.plane_publications import DictJournal, publication

from .conftest import artifacts_for, load_intent
from .test_intune_settings import CONTRACTORS, FULL_REQUIREMENTS, RING, SETTINGS

PREVIOUS = "130.0.6723.117"


@pytest.fixture
def double() -> Iterator[IntuneDouble]:
    with IntuneDouble() as started:
        yield started
        assert started.violations == []


def connect(double: IntuneDouble, *intents: dict[str, Any]) -> IntuneConnector:
    settings = IntuneSettings.from_environ(double.environ())
    assert settings is not None
    follow = Follow(interval=0.0, timeout=5.0, sleep=lambda _s: None)
    return IntuneConnector(settings, artifacts=artifacts_for(*intents), follow=follow)


def chrome(double: IntuneDouble) -> dict[str, Any]:
    """Chrome with every Win32 setting, a dependency, supersedence and per-ring filters."""
    intent = load_intent("windows/google-chrome.yaml")
    intent["intune"] = copy.deepcopy(SETTINGS) | {
        "requirements": FULL_REQUIREMENTS,
        "maxRunTimeMinutes": 90,
        "dependencies": [{"intent": "notepad-plus-plus"}],
        "supersedes": {"version": PREVIOUS, "uninstall": True},
    }
    corporate = double.add_filter("Windows 11 corporate")
    kiosks = double.add_filter("Kiosk devices")
    intent["rings"][0]["intune"] = RING | {"filter": {"id": corporate, "mode": "include"}}
    intent["rings"][1]["intune"] = {
        "excludeGroups": [CONTRACTORS],
        "filter": {"id": kiosks, "mode": "exclude"},
    }
    return intent


def prepared(double: IntuneDouble) -> tuple[IntuneConnector, dict[str, Any], dict[str, Any]]:
    """A connector, the full Chrome intent, and its dependency and previous version published."""
    npp = load_intent("windows/notepad-plus-plus.yaml")
    previous = load_intent("windows/google-chrome.yaml", version=PREVIOUS)
    intent = chrome(double)
    connector = connect(double, npp, previous, intent)
    connector.publish(publication(npp), DictJournal())
    connector.publish(publication(previous), DictJournal())
    return connector, intent, npp


def beta_requests(double: IntuneDouble, since: int = 0) -> list[str]:
    return [f"{r.method} {r.path}" for r in double.requests[since:] if r.path.startswith("/beta/")]


def test_a_win32_intent_with_beta_settings_is_published_and_read_back_equal(
    double: IntuneDouble,
) -> None:
    """Issue 20's Done-when: requirement rules, custom return codes, a dependency, supersedence
    of the previous version, and per ring a filter and an excluded group, read back equal."""
    connector, intent, _ = prepared(double)
    connector.publish(publication(intent), DictJournal())
    connector.publish(publication(intent, 1), DictJournal())

    state = connector.state("google-chrome")
    assert state.settings["intune"] == intent["intune"]
    lab, pilot = intent["rings"][:2]
    rings = state.settings["rings"]
    assert rings[lab["target"]]["intune"] == {
        k: v for k, v in lab["intune"].items() if k != "excludeGroups"
    }
    assert rings[pilot["target"]]["intune"] == {"filter": pilot["intune"]["filter"]}
    assert state.settings["excludeGroups"] == sorted([RING["excludeGroups"][0], CONTRACTORS])

    newest = next(a for a in double.apps.values() if a.body["displayName"].endswith("86"))
    kinds = {r["@odata.type"]: r for r in newest.relationships}
    assert kinds["#microsoft.graph.mobileAppDependency"]["dependencyType"] == "autoInstall"
    assert kinds["#microsoft.graph.mobileAppSupersedence"]["supersedenceType"] == "replace"
    assert newest.body["installExperience"]["maxRunTimeInMinutes"] == 90
    connector.close()


def test_only_the_beta_settings_go_through_beta_and_a_second_publish_sends_nothing(
    double: IntuneDouble,
) -> None:
    connector, intent, _ = prepared(double)
    assert beta_requests(double) == []  # intents without beta settings: v1.0 only
    before = len(double.requests)
    connector.publish(publication(intent), DictJournal())
    writes = [w for w in beta_requests(double, before) if not w.startswith("GET")]
    app_id = next(a for a in double.apps.values() if "86" in a.body["displayName"]).body["id"]
    base = f"/beta/deviceAppManagement/mobileApps/{app_id}"
    assert writes == [f"PATCH {base}", f"POST {base}/updateRelationships", f"POST {base}/assign"]
    v1_create = next(
        r for r in double.requests[before:] if r.method == "POST" and r.path.endswith("/mobileApps")
    )
    assert v1_create.path.startswith("/v1.0/")
    before = len(double.requests)
    connector.publish(publication(intent), DictJournal())
    assert [w for w in beta_requests(double, before) if not w.startswith("GET")] == []
    connector.close()


def test_a_dependency_on_an_intent_not_on_intune_fails_the_plan_and_the_publication(
    double: IntuneDouble,
) -> None:
    previous = load_intent("windows/google-chrome.yaml", version=PREVIOUS)
    intent = chrome(double)
    connector = connect(double, previous, intent)
    connector.publish(publication(previous), DictJournal())
    with pytest.raises(PermanentConnectorError, match="depends on intent notepad-plus-plus"):
        connector.plan(publication(intent))
    writes = len(double.writes())
    with pytest.raises(PermanentConnectorError, match="publish it first"):
        connector.publish(publication(intent), DictJournal())
    assert len(double.writes()) == writes  # refused before any app or content is written
    connector.close()


def test_supersedence_of_a_version_intune_does_not_hold_is_refused(double: IntuneDouble) -> None:
    npp = load_intent("windows/notepad-plus-plus.yaml")
    intent = chrome(double)
    connector = connect(double, npp, intent)
    connector.publish(publication(npp), DictJournal())
    with pytest.raises(PermanentConnectorError, match=f"names version {PREVIOUS}"):
        connector.publish(publication(intent), DictJournal())
    connector.close()


def test_the_plan_names_the_beta_settings_it_would_send(double: IntuneDouble) -> None:
    connector, intent, npp = prepared(double)
    lines = [step.description for step in connector.plan(publication(intent))]
    assert "set maximum run time to 90 minutes (Graph beta)" in lines
    assert f"depend on 'Notepad++ {npp['app']['version']}' (installed with it; Graph beta)" in lines
    assert f"supersede 'Google Chrome {PREVIOUS}' (uninstalled first; Graph beta)" in lines
    filter_id = intent["rings"][0]["intune"]["filter"]["id"]
    assert f"assignment filter {filter_id} (include, Graph beta)" in lines
    connector.close()


def test_the_double_checks_beta_bodies_against_the_beta_description(double: IntuneDouble) -> None:
    target = {
        "@odata.type": "#microsoft.graph.groupAssignmentTarget",
        "groupId": CONTRACTORS,
        "deviceAndAppManagementAssignmentFilterId": CONTRACTORS,
        "deviceAndAppManagementAssignmentFilterType": "include",
    }
    assert double.beta.check(target, "deviceAndAppManagementAssignmentTarget", "t") == []
    assert double.model.check(target, "deviceAndAppManagementAssignmentTarget", "t") == [
        "t: groupAssignmentTarget has no property 'deviceAndAppManagementAssignmentFilterId'",
        "t: groupAssignmentTarget has no property 'deviceAndAppManagementAssignmentFilterType'",
    ]
    wrong = target | {"deviceAndAppManagementAssignmentFilterType": "only"}
    [problem] = double.beta.check(wrong, "deviceAndAppManagementAssignmentTarget", "t")
    assert "'only'" in problem
    assert "deviceAndAppManagementAssignmentFilterType" in problem
    dependency = {"@odata.type": "#microsoft.graph.mobileAppDependency", "autoInstall": True}
    assert double.beta.check(dependency, "mobileAppRelationship", "r") == [
        "r: mobileAppDependency has no property 'autoInstall'"
    ]
    bare = {"targetId": CONTRACTORS}
    assert double.beta.check(bare, "mobileAppRelationship", "r") == [
        "r: mobileAppRelationship is abstract: @odata.type must name a concrete type"
    ]
    assert double.beta.check({"maxRunTimeInMinutes": 90}, "win32LobAppInstallExperience", "i") == []
    assert double.model.check({"maxRunTimeInMinutes": 90}, "win32LobAppInstallExperience", "i")


def test_the_double_refuses_a_filter_the_tenant_does_not_have(double: IntuneDouble) -> None:
    connector, intent, _ = prepared(double)
    intent["rings"][0]["intune"]["filter"]["id"] = "00000000-0000-4000-8000-000000000001"
    with pytest.raises(PermanentConnectorError, match="was not found"):
        connector.publish(publication(intent), DictJournal())
    connector.close()
