"""The Intune double's Graph beta routes: relationships, filtered assignments, max run time."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from bot.doubles.intune import IntuneDouble
from connectors._http import tls_verify

from .test_intune_double import WIN32, create, token_client

APPS = "/deviceAppManagement/mobileApps"
GROUP = "6513270e-269e-4d37-b2a7-4de452e6b438"
DEPENDENCY = "#microsoft.graph.mobileAppDependency"


@pytest.fixture
def double() -> Iterator[IntuneDouble]:
    with IntuneDouble() as started:
        yield started


@pytest.fixture
def client(double: IntuneDouble) -> Iterator[httpx.Client]:
    with token_client(double) as raw:
        yield raw


def published(double: IntuneDouble, client: httpx.Client, name: str) -> str:
    app_id = create(client, WIN32 | {"displayName": name})
    double.apps[app_id].body["publishingState"] = "published"  # content is not this test's part
    return app_id


def assignment(
    filter_id: str | None, mode: str, kind: str = "groupAssignmentTarget"
) -> dict[str, object]:
    target: dict[str, object] = {"@odata.type": f"#microsoft.graph.{kind}", "groupId": GROUP}
    if filter_id is not None or mode != "include":
        target |= {
            "deviceAndAppManagementAssignmentFilterId": filter_id,
            "deviceAndAppManagementAssignmentFilterType": mode,
        }
    return {"@odata.type": "#microsoft.graph.mobileAppAssignment", "intent": "required",
            "target": target}  # fmt: skip


def test_a_filtered_assignment_reads_back_through_beta_and_not_through_v1(
    double: IntuneDouble, client: httpx.Client
) -> None:
    app = published(double, client, "Tool 1.0")
    corporate = double.add_filter("Corporate")
    sent = client.post(
        f"/beta{APPS}/{app}/assign",
        json={"mobileAppAssignments": [assignment(corporate, "include")]},
    )
    assert sent.status_code == 204
    [beta] = client.get(f"/beta{APPS}/{app}/assignments").json()["value"]
    assert beta["target"]["deviceAndAppManagementAssignmentFilterId"] == corporate
    assert beta["target"]["deviceAndAppManagementAssignmentFilterType"] == "include"
    [v1] = client.get(f"/v1.0{APPS}/{app}/assignments").json()["value"]
    assert v1["target"] == {
        "@odata.type": "#microsoft.graph.groupAssignmentTarget",
        "groupId": GROUP,
    }
    assert double.violations == []


@pytest.mark.parametrize(
    "case",
    [
        ("00000000-0000-4000-8000-000000000009", "include", "groupAssignmentTarget", "not found"),
        (None, "include", "groupAssignmentTarget", ""),
        (None, "exclude", "groupAssignmentTarget", "needs an assignment filter id"),
        ("known", "none", "groupAssignmentTarget", "include or exclude"),
        ("known", "exclude", "exclusionGroupAssignmentTarget", "excluded groups"),
    ],
    ids=["unknown-filter", "no-filter-is-fine", "no-id", "no-type", "on-an-exclusion"],
)
def test_beta_assign_refuses_what_intune_refuses_of_filters(
    double: IntuneDouble, client: httpx.Client, case: tuple[str | None, str, str, str]
) -> None:
    filter_id, mode, kind, why = case
    app = published(double, client, "Tool 1.0")
    known = double.add_filter("Corporate")
    given = known if filter_id == "known" else filter_id
    body = {"mobileAppAssignments": [assignment(given, mode, kind)]}
    response = client.post(f"/beta{APPS}/{app}/assign", json=body)
    if not why:
        assert response.status_code == 204
        return
    assert response.status_code == 400
    assert why in response.json()["error"]["message"]


def test_a_filter_type_beta_does_not_have_is_a_violation(
    double: IntuneDouble, client: httpx.Client
) -> None:
    app = published(double, client, "Tool 1.0")
    corporate = double.add_filter("Corporate")
    body = {"mobileAppAssignments": [assignment(corporate, "only")]}
    client.post(f"/beta{APPS}/{app}/assign", json=body)
    [violation] = double.violations
    assert "'only'" in violation
    assert "deviceAndAppManagementAssignmentFilterType" in violation


def test_relationships_are_stored_as_a_set_and_read_from_both_ends(
    double: IntuneDouble, client: httpx.Client
) -> None:
    runtime = published(double, client, "Runtime 2.0")
    tool = published(double, client, "Tool 1.0")
    body = {"relationships": [{"@odata.type": DEPENDENCY, "targetId": runtime,
                               "dependencyType": "autoInstall"}]}  # fmt: skip
    assert client.post(f"/beta{APPS}/{tool}/updateRelationships", json=body).status_code == 204
    [child] = client.get(f"/beta{APPS}/{tool}/relationships").json()["value"]
    assert (child["targetId"], child["targetType"], child["dependencyType"]) == (
        runtime,
        "child",
        "autoInstall",
    )
    assert child["targetDisplayName"] == "Runtime 2.0"
    [parent] = client.get(f"/beta{APPS}/{runtime}/relationships").json()["value"]
    assert (parent["targetId"], parent["targetType"]) == (tool, "parent")
    assert client.post(
        f"/beta{APPS}/{tool}/updateRelationships", json={"relationships": []}
    ).is_success
    assert client.get(f"/beta{APPS}/{tool}/relationships").json()["value"] == []
    assert double.violations == []


@pytest.mark.parametrize(
    ("relationship", "status", "violation"),
    [
        (
            {"@odata.type": DEPENDENCY, "targetId": "missing", "dependencyType": "autoInstall"},
            400,
            None,
        ),
        ({"targetId": "RUNTIME"}, 400, "abstract"),
        (
            {"@odata.type": DEPENDENCY, "targetId": "RUNTIME", "dependencyType": "always"},
            204,
            "'always'",
        ),
        (
            {"@odata.type": DEPENDENCY, "targetId": "RUNTIME", "autoInstall": True},
            204,
            "has no property 'autoInstall'",
        ),
    ],
    ids=["unknown-target", "no-type", "unknown-dependency-type", "unknown-property"],
)
def test_update_relationships_refuses_what_beta_does_not_describe(
    double: IntuneDouble,
    client: httpx.Client,
    relationship: dict[str, object],
    status: int,
    violation: str | None,
) -> None:
    runtime = published(double, client, "Runtime 2.0")
    tool = published(double, client, "Tool 1.0")
    given = {k: (runtime if v == "RUNTIME" else v) for k, v in relationship.items()}
    response = client.post(
        f"/beta{APPS}/{tool}/updateRelationships", json={"relationships": [given]}
    )
    assert response.status_code == status
    if violation is None:
        assert double.violations == []
    else:
        assert any(violation in v for v in double.violations), double.violations


def test_max_run_time_is_beta_only_and_a_v1_patch_keeps_it(
    double: IntuneDouble, client: httpx.Client
) -> None:
    app = create(client)
    experience = {"@odata.type": "#microsoft.graph.win32LobAppInstallExperience",
                  "runAsAccount": "system", "deviceRestartBehavior": "suppress"}  # fmt: skip
    body = {"@odata.type": WIN32["@odata.type"], "installExperience": experience}
    client.patch(f"/beta{APPS}/{app}", json=body | {
        "installExperience": experience | {"maxRunTimeInMinutes": 90}})  # fmt: skip
    client.patch(f"/v1.0{APPS}/{app}", json=body)
    beta = client.get(f"/beta{APPS}/{app}").json()["installExperience"]
    assert beta["maxRunTimeInMinutes"] == 90
    v1 = client.get(f"/v1.0{APPS}/{app}").json()["installExperience"]
    assert "maxRunTimeInMinutes" not in v1
    assert double.violations == []
    client.patch(f"/v1.0{APPS}/{app}", json=body | {
        "installExperience": experience | {"maxRunTimeInMinutes": 90}})  # fmt: skip
    expected = f"PATCH mobileApp {app}.installExperience: win32LobAppInstallExperience"
    assert double.violations == [f"{expected} has no property 'maxRunTimeInMinutes'"]


def test_beta_requires_a_token_it_issued(double: IntuneDouble) -> None:
    with httpx.Client(base_url=double.url, verify=tls_verify(double.ca_bundle)) as raw:
        response = raw.get(f"/beta{APPS}/x", headers={"Authorization": "Bearer forged"})
    assert response.status_code == 401
