"""The AdminService double itself: class schemas, filters, auth."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from bot.doubles.sccm import SccmDouble

USER, PASSWORD = "svc", "pw-1"
DIGEST = (
    '<AppMgmtDigest xmlns="http://schemas.microsoft.com/SystemCenterConfigurationManager/2009/'
    'AppMgmtDigest"><Application LogicalName="Application_1"><Title>App 1.0</Title>'
    "<SoftwareVersion>1.0</SoftwareVersion></Application><DeploymentType/></AppMgmtDigest>"
)


@pytest.fixture
def sccm() -> Iterator[tuple[SccmDouble, httpx.Client]]:
    double = SccmDouble(username=USER, password=PASSWORD)
    double.add_collection("PS100012", "Lab")
    with (
        double,
        httpx.Client(
            base_url=f"{double.url}/AdminService/wmi", auth=(USER, PASSWORD), timeout=5
        ) as client,
    ):
        yield double, client


def assignment(ci_id: int, **changes: object) -> dict[str, object]:
    body: dict[str, object] = {
        "AssignmentName": "App 1.0 lab",
        "AssignedCIs": [ci_id],
        "AssignmentType": 2,
        "AssignmentAction": 2,
        "DesiredConfigType": 1,
        "OfferTypeID": 0,
        "TargetCollectionID": "PS100012",
        "StartTime": "2027-01-01T00:00:00Z",
        "UseGMTTimes": True,
    }
    body.update(changes)
    return body


def test_create_filter_select_and_case_insensitive_classes(
    sccm: tuple[SccmDouble, httpx.Client],
) -> None:
    double, client = sccm
    created = client.post("/SMS_Application", json={"SDMPackageXML": DIGEST})
    assert created.status_code == 201
    ci_id = created.json()["CI_ID"]
    assert client.post("/SMS_Application", json={"SDMPackageXML": DIGEST}).status_code == 409
    found = client.get("/sms_application", params={"$filter": "LocalizedDisplayName eq 'App 1.0'"})
    assert [a["CI_ID"] for a in found.json()["value"]] == [ci_id]
    prefix = client.get(
        "/SMS_Application",
        params={
            "$filter": "startswith(LocalizedDisplayName,'App ') and IsLatest eq true",
            "$select": "CI_ID,SoftwareVersion",
        },
    )
    assert prefix.json()["value"] == [{"CI_ID": ci_id, "SoftwareVersion": "1.0"}]
    assert client.get(f"/SMS_Application({ci_id})").json()["value"][0]["CI_ID"] == ci_id
    deployed = client.post("/SMS_ApplicationAssignment", json=assignment(ci_id))
    assert deployed.status_code == 201
    assert deployed.json()["ApplicationName"] == "App 1.0"
    assignment_id = deployed.json()["AssignmentID"]
    rows = client.get(
        "/SMS_AppDeploymentAssetDetails", params={"$filter": f"AssignmentID eq {assignment_id}"}
    ).json()["value"]
    assert {r["StatusType"] for r in rows} == {2}
    assert client.delete(f"/SMS_ApplicationAssignment({assignment_id})").status_code == 204
    assert double.creates["deployment"] == 1
    assert double.violations == []


@pytest.mark.parametrize(
    ("path", "body", "why"),
    [
        ("/SMS_Application", {"SDMPackageXML": DIGEST, "LocalizedDisplayName": "x"}, "read-only"),
        ("/SMS_Application", {"SDMPackageXML": "<not-xml"}, "is not XML"),
        ("/SMS_Application", {"SDMPackageXML": "<Other/>"}, "not an AppMgmtDigest"),
        ("/SMS_Application", {"Name": "x"}, "'SDMPackageXML' is a required property"),
        ("/SMS_ApplicationAssignment", assignment(1, OfferTypeID=1), "is not one of [0, 2]"),
        ("/SMS_ApplicationAssignment", assignment(1, DesiredConfigType=0), "is not one of"),
        ("/SMS_ApplicationAssignment", assignment(1, StartTime="soon"), "does not match"),
        ("/SMS_ApplicationAssignment", assignment(1, TargetCollectionID="lab"), "does not match"),
        ("/SMS_ApplicationAssignment", assignment(1, ApplicationName="x"), "read-only"),
        ("/SMS_ApplicationAssignment", assignment(1), "AssignedCIs [1] is unknown"),
        (
            "/SMS_Collection",
            {"Name": "x", "CollectionType": 2, "LimitToCollectionID": "SMS00001"},
            "does not create collections",
        ),
        ("/SMS_AppDeploymentAssetDetails", {}, "not supported"),
    ],
)
def test_bodies_outside_the_class_schemas_are_refused_and_recorded(
    sccm: tuple[SccmDouble, httpx.Client], path: str, body: dict[str, object], why: str
) -> None:
    double, client = sccm
    answer = client.post(path, json=body)
    assert answer.status_code in {400, 405}
    assert "error" in answer.json()
    assert len(double.violations) == 1
    assert why in double.violations[0]


@pytest.mark.parametrize(
    ("params", "why"),
    [
        ({"$filter": "DisplayName eq 'x'"}, "has no property DisplayName"),
        ({"$filter": "CI_ID gt 3"}, "unsupported $filter clause"),
        ({"$select": "CI_ID,Nope"}, "has no properties ['Nope']"),
        ({"$orderby": "CI_ID"}, "query options not supported"),
    ],
)
def test_queries_outside_the_class_schemas_are_refused(
    sccm: tuple[SccmDouble, httpx.Client], params: dict[str, str], why: str
) -> None:
    double, client = sccm
    assert client.get("/SMS_Application", params=params).status_code == 400
    assert why in double.violations[0]


def test_auth_and_unknown_routes(sccm: tuple[SccmDouble, httpx.Client]) -> None:
    double, client = sccm
    assert httpx.get(f"{double.url}/AdminService/wmi/SMS_Application").status_code == 401
    assert client.get("/SMS_Nothing").status_code == 404
    assert (
        httpx.get(f"{double.url}/AdminService/v1.0/Device", auth=(USER, PASSWORD)).status_code
        == 404
    )
    assert client.get("/SMS_Application(99)").status_code == 404
    assert client.delete("/SMS_ApplicationAssignment(5)").status_code == 404
    assert client.put("/SMS_Application", json={}).status_code == 405
    assert len(double.violations) == 5
