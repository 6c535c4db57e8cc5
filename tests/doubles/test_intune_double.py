"""The Intune double itself: auth, CSDL validation, cast routing, paging, blob, commit checks."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from bot.doubles.intune import IntuneDouble
from connectors._http import tls_verify
from connectors.intunewin import Keys, build, seal

WIN32 = {
    "@odata.type": "#microsoft.graph.win32LobApp",
    "displayName": "Tool 1.0",
    "notes": "eucora intent=tool version=1.0 evidence=sha256:00",
    "fileName": "tool.intunewin",
    "setupFilePath": "tool.msi",
    "applicableArchitectures": "x64,x86",
}


@pytest.fixture(scope="module")
def double() -> Iterator[IntuneDouble]:
    with IntuneDouble(page_size=2) as started:
        yield started


@pytest.fixture
def client(double: IntuneDouble) -> Iterator[httpx.Client]:
    with double.lock:
        double.apps.clear()
        double.violations.clear()
        double.creates.clear()
    with token_client(double) as raw:
        yield raw


@contextmanager
def token_client(double: IntuneDouble) -> Iterator[httpx.Client]:
    """An HTTP client on the double holding a Graph token it issued."""
    form = {
        "grant_type": "client_credentials",
        "client_id": double.client_id,
        "client_secret": double.client_secret,
        "scope": "https://graph.microsoft.com/.default",
    }
    with httpx.Client(base_url=double.url, verify=tls_verify(double.ca_bundle), timeout=5) as raw:
        token = raw.post(f"/{double.tenant_id}/oauth2/v2.0/token", data=form).json()["access_token"]
        raw.headers["Authorization"] = f"Bearer {token}"
        yield raw


def create(client: httpx.Client, body: dict[str, Any] | None = None) -> str:
    response = client.post("/v1.0/deviceAppManagement/mobileApps", json=body or WIN32)
    assert response.status_code == 201
    return str(response.json()["id"])


def test_graph_requires_a_token_it_issued(double: IntuneDouble) -> None:
    with httpx.Client(base_url=double.url, verify=tls_verify(double.ca_bundle)) as raw:
        response = raw.get(
            "/v1.0/deviceAppManagement/mobileApps", headers={"Authorization": "Bearer forged"}
        )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "InvalidAuthenticationToken"


def test_token_endpoint_checks_scope_and_secret(double: IntuneDouble) -> None:
    with httpx.Client(base_url=double.url, verify=tls_verify(double.ca_bundle)) as raw:
        path = f"/{double.tenant_id}/oauth2/v2.0/token"
        base = {"grant_type": "client_credentials", "client_id": double.client_id}
        assert (
            raw.post(
                path,
                data=base | {"client_secret": "x", "scope": "https://graph.microsoft.com/.default"},
            ).json()["error"]
            == "invalid_client"
        )
        assert (
            raw.post(
                path, data=base | {"client_secret": double.client_secret, "scope": "openid"}
            ).json()["error"]
            == "invalid_scope"
        )
        assert (
            raw.post(path, data={"grant_type": "password"}).json()["error"]
            == "unsupported_grant_type"
        )


def test_unknown_property_and_bad_enum_are_violations(
    double: IntuneDouble, client: httpx.Client
) -> None:
    create(client, WIN32 | {"installCommandLines": "x", "applicableArchitectures": "x128"})
    assert any("no property 'installCommandLines'" in v for v in double.violations)
    assert any("x128" in v and "windowsArchitecture" in v for v in double.violations)


def test_abstract_or_unknown_odata_type_is_a_violation(
    double: IntuneDouble, client: httpx.Client
) -> None:
    response = client.post("/v1.0/deviceAppManagement/mobileApps", json={"displayName": "x"})
    assert response.status_code == 400
    client.post(
        "/v1.0/deviceAppManagement/mobileApps",
        json={"@odata.type": "#microsoft.graph.windowsStoreApp"},
    )
    assert any("abstract" in v for v in double.violations)
    assert any("windowsStoreApp" in v and "not a known" in v for v in double.violations)


def test_assign_checks_action_parameters_and_nested_types(
    double: IntuneDouble, client: httpx.Client
) -> None:
    app = create(client)
    body = {
        "mobileAppAssignments": [
            {
                "@odata.type": "#microsoft.graph.mobileAppAssignment",
                "intent": "mandatory",
                "target": {"groupId": "g"},
            }
        ],
        "assignments": [],
    }
    response = client.post(f"/v1.0/deviceAppManagement/mobileApps/{app}/assign", json=body)
    assert response.status_code == 400  # not published yet
    assert any("'mandatory'" in v for v in double.violations)
    assert any("abstract" in v and "AssignmentTarget" in v for v in double.violations)
    assert any("no parameter 'assignments'" in v for v in double.violations)


@pytest.mark.parametrize(
    "cast",
    ["", "/microsoft.graph.win32LobApp", "/graph.win32LobApp", "/microsoft.graph.mobileLobApp"],
)
def test_content_versions_route_with_and_without_casts(
    double: IntuneDouble, client: httpx.Client, cast: str
) -> None:
    app = create(client)
    response = client.post(
        f"/v1.0/deviceAppManagement/mobileApps/{app}{cast}/contentVersions", json={}
    )
    assert response.status_code == 201
    assert response.json() == {"@odata.type": "#microsoft.graph.mobileAppContent", "id": "1"}
    assert double.violations == []


def test_a_cast_to_an_unrelated_type_is_refused(double: IntuneDouble, client: httpx.Client) -> None:
    app = create(client)
    response = client.post(
        f"/v1.0/deviceAppManagement/mobileApps/{app}/microsoft.graph.macOSLobApp/contentVersions",
        json={},
    )
    assert response.status_code == 400
    assert double.violations


def test_filters_and_paging(double: IntuneDouble, client: httpx.Client) -> None:
    for n in range(5):
        create(client, WIN32 | {"displayName": f"Tool {n}"})
    create(
        client,
        {"@odata.type": "#microsoft.graph.macOSLobApp", "displayName": "Mac", "bundleId": "b"},
    )
    seen: list[str] = []
    response = client.get(
        "/v1.0/deviceAppManagement/mobileApps",
        params={"$filter": "isof('microsoft.graph.win32LobApp')"},
    )
    while True:
        body = response.json()
        seen += [a["displayName"] for a in body["value"]]
        if "@odata.nextLink" not in body:
            break
        response = client.get(body["@odata.nextLink"])
    assert seen == [f"Tool {n}" for n in range(5)]
    named = client.get(
        "/v1.0/deviceAppManagement/mobileApps",
        params={"$filter": "isof('microsoft.graph.mobileLobApp') and displayName eq 'Mac'"},
    )
    assert [a["displayName"] for a in named.json()["value"]] == ["Mac"]
    bad = client.get(
        "/v1.0/deviceAppManagement/mobileApps", params={"$filter": "startswith(displayName,'T')"}
    )
    assert bad.status_code == 400


def test_upload_state_machine_blob_signature_and_commit_verification(
    double: IntuneDouble, client: httpx.Client
) -> None:
    app = create(client)
    versions = (
        f"/v1.0/deviceAppManagement/mobileApps/{app}/microsoft.graph.win32LobApp/contentVersions"
    )
    client.post(versions, json={})
    package = build({"tool.msi": b"installer bytes"}, "tool.msi")
    payload, info = package.payload, package.detection.encryption.graph()
    created = client.post(
        f"{versions}/1/files", json=file_body(package.detection.unencrypted_size, payload)
    ).json()
    assert created["uploadState"] == "azureStorageUriRequestPending"
    assert created["azureStorageUri"] is None
    path = f"{versions}/1/files/{created['id']}"
    ready = client.get(path).json()
    assert ready["uploadState"] == "azureStorageUriRequestSuccess"
    sas = httpx.URL(ready["azureStorageUri"])
    forged = sas.copy_set_param("sig", "forged").copy_merge_params(
        {"comp": "block", "blockid": "MDAwMA=="}
    )
    assert client.put(str(forged), content=payload).status_code == 403
    block = sas.copy_merge_params({"comp": "block", "blockid": "MDAwMA=="})
    assert (
        client.put(str(block), content=payload, headers={"x-ms-blob-type": "BlockBlob"}).status_code
        == 201
    )
    listing = (
        '<?xml version="1.0" encoding="utf-8"?><BlockList><Latest>MDAwMA==</Latest></BlockList>'
    )
    assert (
        client.put(str(sas.copy_merge_params({"comp": "blocklist"})), content=listing).status_code
        == 201
    )
    tampered = dict(info, fileDigest=base64.b64encode(hashlib.sha256(b"other").digest()).decode())
    assert client.post(f"{path}/commit", json={"fileEncryptionInfo": tampered}).status_code == 204
    assert client.get(path).json()["uploadState"] == "commitFileFailed"
    assert any("do not verify" in v for v in double.violations)
    double.violations.clear()
    assert client.post(f"{path}/commit", json={"fileEncryptionInfo": info}).status_code == 204
    assert client.get(path).json()["uploadState"] == "commitFileSuccess"
    patch = {"@odata.type": "#microsoft.graph.win32LobApp", "committedContentVersion": "1"}
    assert (
        client.patch(f"/v1.0/deviceAppManagement/mobileApps/{app}", json=patch).status_code == 204
    )
    assert (
        client.get(f"/v1.0/deviceAppManagement/mobileApps/{app}").json()["publishingState"]
        == "published"
    )
    assert client.post(f"{path}/renewUpload").status_code == 204
    assert double.violations == []


def file_body(size: int, payload: bytes) -> dict[str, Any]:
    return {
        "@odata.type": "#microsoft.graph.mobileAppContentFile",
        "name": "IntunePackage.intunewin",
        "size": size,
        "sizeEncrypted": len(payload),
        "isDependency": False,
    }


def commit_state(client: httpx.Client, app: str, size: int, payload: bytes, info: Any) -> str:
    """Upload ``payload`` as the app's content in one block, commit with ``info``: the state."""
    versions = (
        f"/v1.0/deviceAppManagement/mobileApps/{app}/microsoft.graph.win32LobApp/contentVersions"
    )
    version = client.post(versions, json={}).json()["id"]
    created = client.post(f"{versions}/{version}/files", json=file_body(size, payload)).json()
    path = f"{versions}/{version}/files/{created['id']}"
    sas = httpx.URL(client.get(path).json()["azureStorageUri"])
    block = sas.copy_merge_params({"comp": "block", "blockid": "MDAwMA=="})
    client.put(str(block), content=payload, headers={"x-ms-blob-type": "BlockBlob"})
    listing = '<?xml version="1.0"?><BlockList><Latest>MDAwMA==</Latest></BlockList>'
    client.put(str(sas.copy_merge_params({"comp": "blocklist"})), content=listing)
    client.post(f"{path}/commit", json={"fileEncryptionInfo": info})
    return str(client.get(path).json()["uploadState"])


def test_content_without_the_apps_setup_file_is_refused(
    double: IntuneDouble, client: httpx.Client
) -> None:
    app = create(client)  # setupFilePath tool.msi
    other = build({"setup.exe": b"installer bytes"}, "setup.exe")
    size, payload = other.detection.unencrypted_size, other.payload
    state = commit_state(client, app, size, payload, other.detection.encryption.graph())
    assert state == "commitFileFailed"
    assert double.violations == [
        (
            f"commit of file {next(iter(double.apps[app].versions['1']))}: uploaded bytes do not"
            " verify: the setup folder has no setupFilePath 'tool.msi' (it holds ['setup.exe'])"
        )
    ]
    double.violations.clear()


def test_a_raw_installer_is_not_win32_content(double: IntuneDouble, client: httpx.Client) -> None:
    app = create(client)
    payload, info = seal(b"installer bytes", Keys.random())
    assert commit_state(client, app, 15, payload, info.graph()) == "commitFileFailed"
    assert "must be a zip of the setup folder" in double.violations[0]
    double.violations.clear()


def test_content_sealed_with_other_keys_is_refused(
    double: IntuneDouble, client: httpx.Client
) -> None:
    app = create(client)
    package = build({"tool.msi": b"installer bytes"}, "tool.msi")
    other = build({"tool.msi": b"installer bytes"}, "tool.msi")
    size = package.detection.unencrypted_size
    state = commit_state(client, app, size, package.payload, other.detection.encryption.graph())
    assert state == "commitFileFailed"
    assert "does not open it" in double.violations[0]
    double.violations.clear()


def test_committing_an_unfinished_version_is_refused(
    double: IntuneDouble, client: httpx.Client
) -> None:
    app = create(client)
    patch = {"@odata.type": "#microsoft.graph.win32LobApp", "committedContentVersion": "7"}
    response = client.patch(f"/v1.0/deviceAppManagement/mobileApps/{app}", json=patch)
    assert response.status_code == 400
    assert "not committed" in response.json()["error"]["message"]
