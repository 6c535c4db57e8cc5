"""Configuration Manager plane settings end to end on the double (issue 20): sent, read back equal."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from bot.core.plane_settings import check_sccm_settings
from bot.doubles.sccm import SccmDouble
from connectors.sccm import SccmConnector
from connectors.settings import SccmSettings
from tests.support.plane_publications import CLIENT_TIMEOUT, DictJournal, intent, publication

USER = "CONTOSO\\svc-eucora"
PASSWORD = "sccm-secret-31f0"  # noqa: S105 - the double's test credential
SETTINGS: dict[str, Any] = {
    "installBehavior": "systemIfDeviceOtherwiseUser",
    "maxRunTimeMinutes": 45,
    "rebootBehavior": "forceReboot",
    "returnCodes": [{"code": 1603, "type": "failure"}, {"code": 2, "type": "fastRetry"}],
}
RING: dict[str, Any] = {
    "userNotification": "hideAll",
    "overrideServiceWindows": True,
    "rebootOutsideServiceWindows": True,
}
SCHEDULE = {"start": "2027-01-11T09:00:00Z", "deadline": "2027-01-12T15:00:00Z"}


@pytest.fixture
def sccm() -> Iterator[SccmDouble]:
    double = SccmDouble(username=USER, password=PASSWORD)
    double.add_collection("PS100012", "EUC lab", members=3)
    double.add_collection("PS100013", "EUC pilot", members=5)
    with double:
        yield double
    assert double.violations == []


def connect(double: SccmDouble) -> SccmConnector:
    settings = SccmSettings(
        url=double.url, timeout=CLIENT_TIMEOUT, username=USER, password=PASSWORD
    )
    return SccmConnector(settings)


def seven_zip() -> dict[str, Any]:
    document = intent("windows/7-zip.yaml")
    document["sccm"] = SETTINGS
    document["rings"][0]["sccm"] = RING
    document["rings"][0]["schedule"] = SCHEDULE
    return document


def test_a_deployment_with_a_deadline_is_published_and_read_back_equal(sccm: SccmDouble) -> None:
    document = seven_zip()
    connector = connect(sccm)
    connector.publish(publication(document), DictJournal())
    state = connector.state("7-zip")
    lab = document["rings"][0]["name"]
    assert state.settings == {
        "sccm": SETTINGS,
        "rings": {lab: {"sccm": RING, "schedule": SCHEDULE}},
    }
    (deployment,) = sccm.assignments.values()
    assert deployment["EnforcementDeadline"] == SCHEDULE["deadline"]
    assert (deployment["NotifyUser"], deployment["UserUIExperience"]) == (False, False)
    connector.close()


def test_settings_left_out_read_back_as_left_out(sccm: SccmDouble) -> None:
    document = intent("windows/7-zip.yaml")
    connector = connect(sccm)
    connector.publish(publication(document), DictJournal())
    connector.publish(publication(document, 1), DictJournal())
    state = connector.state("7-zip")
    lab, pilot = (r["name"] for r in document["rings"][:2])
    assert state.settings == {
        "sccm": {},
        "rings": {
            lab: {
                "schedule": {"start": "2027-01-11T09:00:00Z", "deadline": "2027-01-11T15:00:00Z"}
            },
            pilot: {
                "schedule": {"start": "2027-01-14T09:00:00Z", "deadline": "2027-01-15T15:00:00Z"}
            },
        },
    }
    connector.close()


def test_the_double_refuses_a_return_code_class_the_model_does_not_have(
    sccm: SccmDouble,
) -> None:
    document = seven_zip()
    connector = connect(sccm)
    connector.publish(publication(document), DictJournal())
    (application,) = sccm.applications.values()
    model = application["SDMPackageXML"].replace('Class="Failure"', 'Class="Broken"')
    with httpx.Client(
        base_url=f"{sccm.url}/AdminService/wmi", auth=(USER, PASSWORD), timeout=CLIENT_TIMEOUT
    ) as client:
        answer = client.post("/SMS_Application", json={"SDMPackageXML": model})
    assert answer.status_code == 400
    assert "ExitCode Class 'Broken'" in answer.text
    sccm.violations.clear()
    connector.close()


def test_return_codes_listed_twice_are_a_finding() -> None:
    document = seven_zip()
    document["sccm"] = {
        "returnCodes": [{"code": 2, "type": "failure"}, {"code": 2, "type": "success"}]
    }
    [finding] = list(check_sccm_settings(document))
    assert finding.pointer == "/sccm/returnCodes/1/code"
