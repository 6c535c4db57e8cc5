"""The JSON-double layer on the shared server: conversion, lock, bugs, the ``when`` fault filter."""

from __future__ import annotations

import httpx
import pytest

from bot.doubles._json_double import Call, JsonDouble, Reply


class Echo(JsonDouble):
    plane = "echo"

    def route(self, call: Call) -> Reply:
        self.creates["applied"] += 1
        if call.path == "/boom":
            raise RuntimeError("bug in the double")
        return Reply(
            201,
            {
                "query": dict(call.query),
                "form": dict(call.form),
                "json": call.json()
                if call.headers.get("content-type") == "application/json"
                else None,
            },
            {"X-Seen": call.method},
        )


def test_calls_and_replies_convert_both_ways() -> None:
    with Echo() as double:
        answer = httpx.post(f"{double.url}/x", params={"a": "1"}, json={"k": [1]})
        assert answer.status_code == 201
        assert answer.headers["X-Seen"] == "POST"
        assert answer.json() == {"query": {"a": ["1"]}, "form": {}, "json": {"k": [1]}}
        form = httpx.post(f"{double.url}/x", data={"action": "Go"}).json()
        assert form["form"] == {"action": ["Go"]}
    assert double.violations == []


def test_when_narrows_a_fault_to_matching_requests_and_faults_keep_the_plane_shape() -> None:
    with Echo() as double:
        double.inject("429", "^/api/$", when=lambda r: r.form.get("action") == "B", retry_after=4)
        assert httpx.post(f"{double.url}/api/", data={"action": "A"}).status_code == 201
        refused = httpx.post(f"{double.url}/api/", data={"action": "B"})
        assert (refused.status_code, refused.headers["Retry-After"]) == (429, "4")
        assert refused.json() == {
            "error": "TooManyRequests",
            "message": "Please retry again later.",
        }
        assert httpx.post(f"{double.url}/api/", data={"action": "B"}).status_code == 201
        assert double.creates["applied"] == 2


def test_a_bug_in_a_route_answers_500_and_is_recorded() -> None:
    with Echo() as double:
        assert httpx.get(f"{double.url}/boom").status_code == 500
    assert "bug in the double" in double.violations[0]


def test_route_is_for_subclasses() -> None:
    with pytest.raises(NotImplementedError):
        JsonDouble().route(Call("GET", "/", {}, {}, b""))
