"""The Landscape double itself: signatures, schema checks, activities."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from bot.doubles.landscape import LandscapeDouble, signature

KEY, SECRET = "KEY1", "secret-1"


@pytest.fixture
def landscape() -> Iterator[LandscapeDouble]:
    double = LandscapeDouble(key=KEY, secret=SECRET)
    double.add_computer("a", "web")
    double.add_computer("b", "web", "db")
    with double:
        yield double


def call(
    double: LandscapeDouble, action: str, *, secret: str = SECRET, **args: str
) -> httpx.Response:
    params = {
        "action": action,
        "version": "2011-08-01",
        "access_key_id": KEY,
        "signature_method": "HmacSHA256",
        "signature_version": "2",
        "timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        **args,
    }
    host = double.url.removeprefix("http://")
    params["signature"] = signature(secret, "POST", host, "/api/", params)
    return httpx.post(f"{double.url}/api/", data=params, timeout=5)


def code(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_a_signed_call_works_and_a_forged_one_does_not(landscape: LandscapeDouble) -> None:
    answer = call(landscape, "GetComputers", query="tag:db")
    assert [c["title"] for c in answer.json()] == ["b"]
    forged = call(landscape, "GetComputers", secret="guess")  # noqa: S106
    assert forged.status_code == 401
    assert forged.json()["error"] == "SignatureDoesNotMatch"
    assert landscape.violations == []


@pytest.mark.parametrize(
    ("action", "args", "error"),
    [
        ("DropDatabase", {}, "UnknownAction"),
        ("GetScripts", {"limt": "5"}, "UnknownParameter"),
        ("GetScripts", {"limit": "five"}, "InvalidParameter"),
        ("CreateScript", {"title": "t", "time_limit": "10"}, "MissingParameter"),
        ("CreateScript", {"title": "t", "time_limit": "1", "code": "%%%"}, "ScriptEncoding"),
        ("InstallPackages", {"query": "tag:web", "packages": "x"}, "InvalidParameter"),
        ("InstallPackages", {"query": "tag:web", "packages.2": "x"}, "InvalidParameter"),
        ("GetComputers", {"with_network": "maybe"}, "InvalidParameter"),
        ("GetComputers", {"query": "os:linux"}, "InvalidQuery"),
        ("GetActivities", {"query": "created-after:yesterday"}, "InvalidQuery"),
        ("ExecuteScript", {"query": "tag:web", "script_id": "42"}, "UnknownScript"),
    ],
)
def test_calls_outside_the_schema_are_refused_and_recorded(
    landscape: LandscapeDouble, action: str, args: dict[str, Any], error: str
) -> None:
    answer = call(landscape, action, **args)
    assert answer.status_code == 400
    assert answer.json()["error"] == error
    assert len(landscape.violations) == 1
    assert error in landscape.violations[0]


def test_scripts_activities_and_lists(landscape: LandscapeDouble) -> None:
    created = call(landscape, "CreateScript", title="s", time_limit="60", code=code("#!/bin/sh\n"))
    script_id = str(created.json()["id"])
    duplicate = call(
        landscape, "CreateScript", title="s", time_limit="60", code=code("#!/bin/sh\n")
    )
    assert duplicate.json()["error"] == "DuplicateScript"
    no_shebang = call(landscape, "CreateScript", title="t", time_limit="6", code=code("echo"))
    assert no_shebang.json()["error"] == "EmptyScriptInterpreter"
    assert (
        call(landscape, "ExecuteScript", query="tag:web", script_id=script_id).json()["error"]
        == "RequiresUser"
    )
    group = call(landscape, "ExecuteScript", query="tag:web", script_id=script_id, username="root")
    assert group.json()["type"] == "ActivityGroup"
    install = call(landscape, "InstallPackages", query="tag:db", **{"packages.1": "osquery"})
    assert install.json()["summary"] == "Install packages osquery"
    assert landscape.creates["launch"] == 2
    children = call(landscape, "GetActivities", query=f"parent-id:{group.json()['id']}").json()
    assert [c["activity_status"] for c in children] == ["delivered", "delivered"]
    done = call(landscape, "GetActivities", query=f"parent-id:{group.json()['id']}").json()
    assert {c["activity_status"] for c in done} == {"succeeded"}
    status = call(landscape, "GetActivities", query=f"id:{group.json()['id']}").json()
    assert status[0]["activity_status"] == "succeeded"
    edited = call(landscape, "EditScript", script_id=script_id, title="renamed")
    assert edited.json()["title"] == "renamed"
    assert call(landscape, "RemoveScript", script_id=script_id).status_code == 200
    assert call(landscape, "GetScripts").json() == []
    # Expected refusals of well-formed calls are not violations.
    assert landscape.violations == [
        "POST /api/: EmptyScriptInterpreter: the script has no #! line",
        "POST /api/: RequiresUser: the script has no user to run as",
    ]


def test_only_post_to_api(landscape: LandscapeDouble) -> None:
    assert httpx.get(f"{landscape.url}/api/").status_code == 405
    assert httpx.post(f"{landscape.url}/other").status_code == 404
    assert len(landscape.violations) == 2
