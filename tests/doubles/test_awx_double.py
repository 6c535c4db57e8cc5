"""The AWX double itself: what it accepts, what it refuses and records, how its jobs move."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from bot.doubles.awx import AwxDouble

TOKEN = "tok-123"  # noqa: S105 - the double's test credential


@pytest.fixture
def awx() -> Iterator[tuple[AwxDouble, httpx.Client]]:
    double = AwxDouble(token=TOKEN)
    double.add_job_template("patch+reboot", organization="Contoso")
    double.add_job_template("no-prompts", ask_limit_on_launch=False, ask_variables_on_launch=False)
    with (
        double,
        httpx.Client(
            base_url=double.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5
        ) as client,
    ):
        yield double, client


def test_auth_bearer_and_basic(awx: tuple[AwxDouble, httpx.Client]) -> None:
    double, client = awx
    assert httpx.get(f"{double.url}/api/v2/job_templates/").status_code == 401
    basic = httpx.get(f"{double.url}/api/v2/job_templates/", auth=double.basic)
    assert basic.status_code == 200
    assert client.get("/api/v2/job_templates/").json()["count"] == 2
    assert double.violations == []


def test_named_urls_decode_plus_signs(awx: tuple[AwxDouble, httpx.Client]) -> None:
    double, client = awx
    found = client.get("/api/v2/job_templates/patch[+]reboot++Contoso/")
    assert found.json()["name"] == "patch+reboot"
    assert client.get("/api/v2/job_templates/patch[+]reboot++Other/").status_code == 404
    assert double.violations == []


def test_requests_outside_the_description_are_recorded(awx: tuple[AwxDouble, httpx.Client]) -> None:
    double, client = awx
    assert client.get("/api/v2/no_such_thing/").status_code == 404
    assert client.delete("/api/v2/job_templates/7/launch/").status_code == 404
    assert client.get("/api/v2/job_templates/", params={"nmae": "typo"}).status_code == 400
    assert client.post("/api/v2/job_templates/7/launch/", json={"limt": "x"}).status_code == 400
    assert client.post("/api/v2/job_templates/7/launch/", content=b"{").status_code == 400
    assert client.get("/api/v3/job_templates/").status_code == 404
    assert len(double.violations) == 6
    assert "undeclared query parameters ['nmae']" in double.violations[2]
    assert "launch fields not accepted: ['limt']" in double.violations[3]
    assert double.creates["launch"] == 0


def test_launch_follows_awx_prompt_rules(awx: tuple[AwxDouble, httpx.Client]) -> None:
    double, client = awx
    template = next(t for t in double.templates.values() if t.name == "no-prompts")
    answer = client.post(
        f"/api/v2/job_templates/{template.id}/launch/",
        json={"limit": "web", "extra_vars": '{"a": 1}'},
    )
    assert answer.status_code == 201
    body = answer.json()
    assert answer.headers["Location"] == f"/api/v2/jobs/{body['job']}/"
    assert body["ignored_fields"] == {"limit": "web", "extra_vars": '{"a": 1}'}
    assert double.jobs[body["job"]].limit == ""
    assert double.creates["launch"] == 1
    assert double.violations == []


def test_jobs_move_to_a_final_status_and_report_hosts(awx: tuple[AwxDouble, httpx.Client]) -> None:
    double, client = awx
    job_id = client.post("/api/v2/job_templates/7/launch/", json={}).json()["job"]
    assert client.get(f"/api/v2/jobs/{job_id}/job_host_summaries/").json()["results"] == []
    statuses = [client.get(f"/api/v2/jobs/{job_id}/").json()["status"] for _ in range(3)]
    assert statuses == ["pending", "successful", "successful"]
    hosts = client.get(f"/api/v2/jobs/{job_id}/job_host_summaries/").json()["results"]
    assert [h["host_name"] for h in hosts] == ["ws-001", "ws-002"]
    events = client.get(f"/api/v2/jobs/{job_id}/job_events/").json()["results"]
    assert events[0]["event"] == "playbook_on_start"
    assert client.post(f"/api/v2/jobs/{job_id}/cancel/").status_code == 405
    assert client.get(f"/api/v2/jobs/{job_id}/cancel/").json() == {"can_cancel": False}
    assert client.get("/api/v2/jobs/999/").status_code == 404
    assert client.get("/api/v2/tokens/").json()["count"] == 0
    assert double.violations == []


def test_a_body_the_operation_declares_none_for_is_refused(
    awx: tuple[AwxDouble, httpx.Client],
) -> None:
    """Issue 20: ``POST jobs/{id}/cancel/`` declares no body parameter; AWX takes none."""
    double, client = awx
    job_id = client.post("/api/v2/job_templates/7/launch/", json={}).json()["job"]
    answer = client.post(f"/api/v2/jobs/{job_id}/cancel/", json={})
    assert answer.status_code == 400
    assert double.jobs[job_id].status != "canceled"
    assert double.violations == [
        f"POST /api/v2/jobs/{job_id}/cancel/: a request body, which the operation does not declare"
    ]


def test_job_listing_pages_newest_first(awx: tuple[AwxDouble, httpx.Client]) -> None:
    double, client = awx
    for _ in range(3):
        client.post("/api/v2/job_templates/7/launch/", json={})
    page = client.get(
        "/api/v2/job_templates/7/jobs/", params={"order_by": "-id", "page_size": 2}
    ).json()
    assert [j["id"] for j in page["results"]] == [102, 101]
    assert page["next"] is not None
    last = client.get(
        "/api/v2/job_templates/7/jobs/", params={"order_by": "-id", "page_size": 2, "page": 2}
    ).json()
    assert [j["id"] for j in last["results"]] == [100]
    assert last["next"] is None
    assert double.violations == []


def test_an_offline_plane_closes_connections_unanswered_and_applies_nothing(
    awx: tuple[AwxDouble, httpx.Client],
) -> None:
    double, client = awx
    [template] = [t.id for t in double.templates.values() if t.name == "patch+reboot"]
    launch = f"/api/v2/job_templates/{template}/launch/"
    double.offline(30)
    with pytest.raises(httpx.TransportError):
        client.post(launch, json={"limit": "lab"})
    assert (double.refused, double.creates["launch"], len(double.jobs)) == (1, 0, 0)
    double.offline(0)  # back: the same launch is applied and answered
    assert client.post(launch, json={"limit": "lab"}).status_code == 201
    assert (double.refused, double.creates["launch"]) == (1, 1)

    double.offline(30, refusals=2)  # the next two connections only
    for _ in range(2):
        with pytest.raises(httpx.TransportError):
            client.get("/api/v2/job_templates/")
    assert client.get("/api/v2/job_templates/").status_code == 200
    assert double.refused == 3
