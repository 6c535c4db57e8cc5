"""The Jamf double itself: auth, OpenAPI and Classic schema validation, unique names, faults."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from bot.doubles.jamf import JamfDouble

POLICY = (
    "<policy><general><name>P</name><enabled>true</enabled><frequency>Once per computer</frequency></general>"
    "<scope><computer_groups><computer_group><name>Lab</name></computer_group></computer_groups></scope></policy>"
)


@pytest.fixture
def double() -> Iterator[JamfDouble]:
    with JamfDouble(computer_groups={"Lab": 1}) as started:
        yield started


@pytest.fixture
def client(double: JamfDouble) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=double.url, timeout=5) as raw:
        form = {
            "grant_type": "client_credentials",
            "client_id": double.client_id,
            "client_secret": double.client_secret,
        }
        token = raw.post("/api/oauth/token", data=form).json()["access_token"]
        raw.headers["Authorization"] = f"Bearer {token}"
        yield raw


def xml(client: httpx.Client, method: str, path: str, body: str) -> httpx.Response:
    return client.request(method, path, content=body, headers={"Content-Type": "application/xml"})


def test_both_token_paths_and_bearer_required(double: JamfDouble) -> None:
    with httpx.Client(base_url=double.url) as raw:
        form = {
            "grant_type": "client_credentials",
            "client_id": double.client_id,
            "client_secret": double.client_secret,
        }
        assert raw.post("/api/v1/oauth/token", data=form).json()["token_type"] == "Bearer"  # noqa: S105
        assert (
            raw.post("/api/oauth/token", data=form | {"client_secret": "no"}).json()["error"]
            == "invalid_client"
        )
        assert raw.get("/api/v1/packages").status_code == 401
        classic = raw.get("/JSSResource/policies")
        assert classic.status_code == 401
        assert "text/html" in classic.headers["Content-Type"]
    assert double.violations == []


def test_package_body_is_checked_against_the_openapi_description(
    double: JamfDouble, client: httpx.Client
) -> None:
    client.post("/api/v1/packages", json={"packageName": "x", "colour": "red"})
    assert any("required property" in v for v in double.violations)
    assert any("'colour'" in v for v in double.violations)


def test_duplicate_package_name_is_409(double: JamfDouble, client: httpx.Client) -> None:
    body = {
        "packageName": "x",
        "fileName": "x.pkg",
        "categoryId": "-1",
        "priority": 3,
        "osInstall": False,
        "fillUserTemplate": False,
        "rebootRequired": False,
        "suppressEula": False,
        "suppressFromDock": False,
        "suppressRegistration": False,
        "suppressUpdates": False,
    }
    assert client.post("/api/v1/packages", json=body).status_code == 201
    second = client.post("/api/v1/packages", json=body)
    assert second.status_code == 409
    assert second.json()["errors"][0]["code"] == "DUPLICATE_FIELD"
    assert (
        client.get("/api/v1/packages", params={"filter": 'fileName=="x.pkg"'}).json()["totalCount"]
        == 1
    )
    assert client.get("/api/v1/packages", params={"filter": "id>1"}).status_code == 400
    assert double.creates["package"] == 1
    assert double.violations == []


def test_classic_policy_create_find_duplicate_and_delete(
    double: JamfDouble, client: httpx.Client
) -> None:
    created = xml(client, "POST", "/JSSResource/policies/id/0", POLICY)
    assert created.status_code == 201
    assert created.text.endswith("<policy><id>1</id></policy>")
    duplicate = xml(client, "POST", "/JSSResource/policies/id/0", POLICY)
    assert duplicate.status_code == 409
    assert "Duplicate name" in duplicate.text
    found = client.get("/JSSResource/policies/name/P")
    assert "<name>Lab</name>" in found.text
    as_json = client.get(
        "/JSSResource/policies/id/1", headers={"Accept": "application/json"}
    ).json()
    assert as_json["policy"]["general"]["frequency"] == "Once per computer"
    assert client.get("/JSSResource/policies/name/Q").status_code == 404
    assert client.delete("/JSSResource/policies/id/1").status_code == 200
    assert client.get("/JSSResource/policies/id/1").status_code == 404
    assert double.violations == []


def test_classic_xml_is_checked_against_the_policy_schema(
    double: JamfDouble, client: httpx.Client
) -> None:
    bad = POLICY.replace("Once per computer", "Twice a fortnight").replace(
        "<enabled>true</enabled>", "<enabled>true</enabled><colour>red</colour>"
    )
    xml(client, "POST", "/JSSResource/policies/id/0", bad)
    assert any(
        "general/colour: element not in the Classic policy schema" in v for v in double.violations
    )
    assert any("Twice a fortnight" in v for v in double.violations)
    assert xml(client, "POST", "/JSSResource/policies/id/0", "<policy><general>").status_code == 400
    client.post(
        "/JSSResource/policies/id/0",
        content=POLICY.replace("<name>P</name>", "<name>R</name>"),
        headers={"Content-Type": "text/plain"},
    )
    assert any("Content-Type 'text/plain'" in v for v in double.violations)


def test_unknown_scope_group_is_409(double: JamfDouble, client: httpx.Client) -> None:
    response = xml(client, "POST", "/JSSResource/policies/id/0", POLICY.replace("Lab", "Nope"))
    assert response.status_code == 409
    assert "Problem with computer group Nope" in response.text


def test_drop_applies_the_create_and_closes_the_connection(
    double: JamfDouble, client: httpx.Client
) -> None:
    double.inject("drop", r"^/JSSResource/policies/id/0$")
    with pytest.raises(httpx.RemoteProtocolError):
        xml(client, "POST", "/JSSResource/policies/id/0", POLICY)
    assert double.creates["policy"] == 1
    assert xml(client, "POST", "/JSSResource/policies/id/0", POLICY).status_code == 409


def test_429_500_and_their_counts(double: JamfDouble, client: httpx.Client) -> None:
    double.inject("429", r"^/api/v1/packages$", times=2, retry_after=9)
    double.inject("500", r"^/JSSResource/policies$", method="GET")
    first = client.get("/api/v1/packages")
    assert first.status_code == 429
    assert first.headers["Retry-After"] == "9"
    assert client.get("/api/v1/packages").status_code == 429
    assert client.get("/api/v1/packages").status_code == 200
    assert client.get("/JSSResource/policies").status_code == 500
    assert client.get("/JSSResource/policies").status_code == 200


def test_hang_outlasts_the_client_timeout(double: JamfDouble) -> None:
    double.inject("hang", r"^/api/v1/packages$")
    with httpx.Client(base_url=double.url, timeout=0.5) as raw, pytest.raises(httpx.ReadTimeout):
        raw.get("/api/v1/packages")


def test_writes_exclude_reads_and_tokens(double: JamfDouble, client: httpx.Client) -> None:
    client.get("/JSSResource/policies")
    assert double.writes() == []
    xml(client, "POST", "/JSSResource/policies/id/0", POLICY)
    assert [(w.method, w.path) for w in double.writes()] == [("POST", "/JSSResource/policies/id/0")]


def test_stop_releases_the_port(double: JamfDouble) -> None:
    """Once stopped, nothing answers on the port any more.

    The probe polls: a process forked elsewhere in the suite (git, a worker) holds a copy of every
    open socket for the instant between its fork and its exec, so one refused connection, not the
    first, is the evidence that the double let go of the port.
    """
    port = int(double.url.rsplit(":", 1)[1])
    double.stop()
    deadline = time.monotonic() + 5.0
    refused = False
    while not refused and time.monotonic() < deadline:
        with socket.socket() as probe:
            refused = probe.connect_ex(("127.0.0.1", port)) != 0
        if not refused:
            time.sleep(0.05)
    assert refused, f"port {port} still accepts connections 5 s after stop()"


def test_url_before_start_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="not started"):
        _ = JamfDouble().url
