"""The loopback server under the plane doubles: faults, matching, shutdown."""

from __future__ import annotations

import time

import httpx
import pytest

from bot.doubles._http_double import HttpDouble, Request, Response


class Echo(HttpDouble):
    name = "echo"

    def route(self, request: Request) -> Response:
        self.counts["applied"] += 1
        if request.path == "/boom":
            raise RuntimeError("bug in the double")
        return Response(200, {"path": request.path, "query": dict(request.query)})


def test_faults_hit_matching_requests_the_given_number_of_times() -> None:
    with Echo(hang_seconds=0.5) as double:
        double.inject("throttle", times=2, path="/a", retry_after=9)
        double.inject("error", method="POST")
        double.inject("drop", when=lambda r: r.query.get("x") == ["1"])
        first = httpx.get(f"{double.url}/a")
        assert (first.status_code, first.headers["Retry-After"]) == (429, "9")
        assert httpx.get(f"{double.url}/a").status_code == 429
        assert httpx.get(f"{double.url}/a").status_code == 200
        assert httpx.post(f"{double.url}/b").status_code == 500
        assert double.counts["applied"] == 1
        with pytest.raises(httpx.RemoteProtocolError):
            httpx.get(f"{double.url}/c", params={"x": "1"})
        assert double.counts["applied"] == 2  # dropped after it was applied
        double.inject("hang")
        started = time.monotonic()
        with pytest.raises(httpx.ReadTimeout):
            httpx.get(f"{double.url}/d", timeout=0.2)
        assert time.monotonic() - started < 0.45
        assert double.counts["applied"] == 3
        assert double.requests[-1] == ("GET", "/d")
    assert double.violations == []


def test_a_bug_in_a_route_answers_500_and_is_recorded() -> None:
    with Echo() as double:
        assert httpx.get(f"{double.url}/boom").status_code == 500
    assert "bug in the double" in double.violations[0]


def test_url_before_start_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="not started"):
        _ = Echo().url
    with pytest.raises(NotImplementedError):
        HttpDouble().route(Request("GET", "/", {}, {}, b""))
