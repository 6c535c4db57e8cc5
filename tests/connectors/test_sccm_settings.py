"""Configuration Manager plane settings end to end on the double (issue 20): sent, read back equal."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from bot.core.plane_settings import check_sccm_settings
from bot.doubles.sccm import SccmDouble
from bot.errors import PermanentConnectorError
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
        "package": {"detection": document["package"]["detection"]},
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
        "package": {"detection": document["package"]["detection"]},
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


REQUIREMENTS: dict[str, Any] = {
    "operatingSystems": ["windows10-x64", "windows11-x64"],
    "minimumFreeDiskSpaceMB": 2048,
    "minimumMemoryMB": 4096,
}
FILE_DETECTION = {
    "type": "file",
    "path": "C:\\Program Files\\7-Zip\\7z.exe",
    "fileVersion": "24.08",
}


def previous(document: dict[str, Any]) -> dict[str, Any]:
    """The same intent at its rollback version (24.07), as the site held it before."""
    older = intent("windows/7-zip.yaml")
    older["app"]["version"] = document["rollback"]["previousVersion"]
    return older


def test_requirements_detection_and_supersedence_are_published_and_read_back_equal(
    sccm: SccmDouble,
) -> None:
    document = seven_zip()
    document["sccm"] = SETTINGS | {
        "requirements": REQUIREMENTS,
        "supersedes": {"version": "24.07", "uninstall": True},
    }
    document["rings"][0]["sccm"] = RING | {"updateSupersedence": True}
    document["package"]["detection"] = FILE_DETECTION
    connector = connect(sccm)
    connector.publish(publication(previous(document)), DictJournal())
    [create, _deploy] = connector.plan(publication(document))
    assert create.description == (
        "create application '7-zip 24.08', superseding '7-zip 24.07' (uninstall)"
    )
    connector.publish(publication(document), DictJournal())
    state = connector.state("7-zip")
    assert state.version == "24.08"
    lab = document["rings"][0]["name"]
    assert state.settings == {
        "sccm": document["sccm"],
        "package": {"detection": FILE_DETECTION},
        "rings": {lab: {"sccm": document["rings"][0]["sccm"], "schedule": SCHEDULE}},
    }
    old, new = sorted(sccm.applications.values(), key=lambda a: a["CI_ID"])
    assert (old.get("IsSuperseded"), new["IsSuperseding"]) == (True, True)
    deployment = next(d for d in sccm.assignments.values() if d["AssignedCIs"] == [new["CI_ID"]])
    assert deployment["UpdateSupersedence"] is True
    assert deployment["EnforcementDeadline"] == SCHEDULE["deadline"]
    connector.close()


@pytest.mark.parametrize(
    "detection",
    [
        {"type": "msiProductCode", "productCode": "{23170F69-40C1-2702-2408-000001000000}"},
        FILE_DETECTION,
        {"type": "file", "path": "C:\\Program Files\\7-Zip"},
        {"type": "registry", "key": "HKEY_LOCAL_MACHINE\\SOFTWARE\\7-Zip", "valueName": "Path"},
        {"type": "registry", "key": "HKEY_LOCAL_MACHINE\\SOFTWARE\\7-Zip"},
        {"type": "script", "script": "if (Test-Path 'C:\\Program Files\\7-Zip') { 'yes' }"},
    ],
    ids=["msi", "file-version", "folder", "registry-value", "registry-key", "script"],
)
def test_each_detection_method_reads_back_as_the_intent_says_it(
    sccm: SccmDouble, detection: dict[str, Any]
) -> None:
    document = intent("windows/7-zip.yaml")
    document["package"]["detection"] = detection
    connector = connect(sccm)
    connector.publish(publication(document), DictJournal())
    assert connector.state("7-zip").settings["package"] == {"detection": detection}
    connector.close()


def test_superseding_a_version_the_site_lacks_fails_the_plan_and_creates_nothing(
    sccm: SccmDouble,
) -> None:
    document = seven_zip()
    document["sccm"] = {"supersedes": {"version": "24.07"}}
    connector = connect(sccm)
    with pytest.raises(PermanentConnectorError, match=r"'7-zip 24\.07', which the site does not"):
        connector.plan(publication(document))
    with pytest.raises(PermanentConnectorError, match="publish that version first"):
        connector.publish(publication(document), DictJournal())
    assert sccm.applications == {}
    assert sccm.assignments == {}
    connector.close()


def post_model(sccm: SccmDouble, model: str) -> httpx.Response:
    with httpx.Client(
        base_url=f"{sccm.url}/AdminService/wmi", auth=(USER, PASSWORD), timeout=CLIENT_TIMEOUT
    ) as client:
        return client.post("/SMS_Application", json={"SDMPackageXML": model})


@pytest.mark.parametrize(
    ("before", "after", "message"),
    [
        ('LogicalName="FreeDiskSpace"', 'LogicalName="CPUTemperature"', "global condition"),
        ("Windows/All_x64_Windows_11", "Linux/All_x64_Windows_11", "not all Windows/ platforms"),
        ('Hive="HKEY_LOCAL_MACHINE"', 'Hive="HKLM"', "RegistryKey Hive 'HKLM'"),
        ('DesiredState="Prohibited"', 'DesiredState="Required"', "DesiredState Prohibited"),
    ],
    ids=["condition", "platform", "hive", "supersedence-state"],
)
def test_the_double_refuses_what_the_model_does_not_have(
    sccm: SccmDouble, before: str, after: str, message: str
) -> None:
    document = seven_zip()
    document["sccm"] = {"requirements": REQUIREMENTS, "supersedes": {"version": "24.07"}}
    document["package"]["detection"] = {
        "type": "registry",
        "key": "HKEY_LOCAL_MACHINE\\SOFTWARE\\7-Zip",
    }
    connector = connect(sccm)
    connector.publish(publication(previous(document)), DictJournal())
    connector.publish(publication(document), DictJournal())
    newest = max(sccm.applications.values(), key=lambda a: a["CI_ID"])
    model = newest["SDMPackageXML"].replace("7-zip 24.08", "7-zip 24.09")
    assert before in model
    answer = post_model(sccm, model.replace(before, after))
    assert answer.status_code == 400
    assert message in answer.text
    sccm.violations.clear()
    connector.close()


def test_the_double_refuses_a_supersedence_of_an_application_it_does_not_hold(
    sccm: SccmDouble,
) -> None:
    document = seven_zip()
    document["sccm"] = {"supersedes": {"version": "24.07"}}
    connector = connect(sccm)
    connector.publish(publication(previous(document)), DictJournal())
    connector.publish(publication(document), DictJournal())
    newest = max(sccm.applications.values(), key=lambda a: a["CI_ID"])
    old = min(sccm.applications.values(), key=lambda a: a["CI_ID"])
    logical = old["ModelName"].split("/", 1)[1]
    model = newest["SDMPackageXML"].replace("7-zip 24.08", "7-zip 24.09")
    answer = post_model(
        sccm, model.replace(f'LogicalName="{logical}"', 'LogicalName="Application_gone"')
    )
    assert answer.status_code == 400
    assert "superseded application ScopeId_EUCORA/Application_gone does not exist" in answer.text
    sccm.violations.clear()
    connector.close()


@pytest.mark.parametrize(
    ("change", "pointer", "words"),
    [
        ({"sccm": {"supersedes": {"version": "24.08"}}}, "/sccm/supersedes/version", "not older"),
        ({"sccm": {"supersedes": {"version": "25.01"}}}, "/sccm/supersedes/version", "not older"),
        (
            {"ring": {"updateSupersedence": True}},
            "/rings/0/sccm/updateSupersedence",
            "add sccm.supersedes",
        ),
        (
            {"detection": {"type": "registry", "key": "HKLM\\SOFTWARE\\7-Zip"}},
            "/package/detection/key",
            "write the full hive",
        ),
        (
            {"detection": {"type": "bundleId", "bundleId": "org.7-zip.app"}},
            "/package/detection/type",
            "no 'bundleId' detection method",
        ),
        (
            {"package": {"architectures": ["x64"]}},
            "/package/architectures",
            "sccm.requirements.operatingSystems",
        ),
        ({"package": {"setupFile": "7z2408-x64.msi"}}, "/package/setupFile", "remove it"),
    ],
    ids=[
        "same-version",
        "newer-version",
        "upgrade-without-supersedes",
        "hklm",
        "bundle-id",
        "architectures",
        "setup-file",
    ],
)
def test_what_configuration_manager_would_refuse_is_a_finding_that_says_how_to_fix_it(
    change: dict[str, Any], pointer: str, words: str
) -> None:
    document = intent("windows/7-zip.yaml")
    if "sccm" in change:
        document["sccm"] = change["sccm"]
    if "ring" in change:
        document["rings"][0]["sccm"] = change["ring"]
    if "detection" in change:
        document["package"]["detection"] = change["detection"]
    document["package"].update(change.get("package", {}))
    [finding] = list(check_sccm_settings(document))
    assert finding.pointer == pointer
    assert words in finding.message


def test_an_older_version_superseded_is_no_finding() -> None:
    document = intent("windows/7-zip.yaml")
    document["sccm"] = {"supersedes": {"version": "24.07"}}
    document["rings"][0]["sccm"] = {"updateSupersedence": True}
    assert list(check_sccm_settings(document)) == []
