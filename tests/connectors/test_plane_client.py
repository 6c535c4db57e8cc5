"""The SCCM/Landscape/AWX client object: error classes, vendor messages, no secret leaks.

Uses httpx.MockTransport (a transport we own, no patching) for answers a double cannot easily
give: bodies that are not JSON, HTTP-date Retry-After, connection errors.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from bot.errors import PermanentConnectorError, TransientConnectorError
from connectors._plane_client import PlaneClient

SECRET = "s3cr3t-value"  # noqa: S105 - a test value


def client(handler: object, **kwargs: object) -> PlaneClient:
    return PlaneClient(
        plane="demo",
        base_url="http://plane.test",
        timeout=1.0,
        secrets=(SECRET, None),
        transport=httpx.MockTransport(handler),  # type: ignore[arg-type]
        **kwargs,  # type: ignore[arg-type]
    )


def test_4xx_is_permanent_with_the_vendor_message_and_no_secret() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(403, json={"detail": f"token {SECRET} lacks scope"})

    with pytest.raises(PermanentConnectorError) as caught:
        client(answer, message_of=lambda r: r.json()["detail"]).request("GET", "/x?sig=abc")
    message = str(caught.value)
    assert message == "demo: GET /x answered HTTP 403: token *** lacks scope"
    assert SECRET not in message


def test_5xx_and_429_are_transient_with_retry_after_in_seconds_or_as_a_date() -> None:
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    answers = iter(
        [
            httpx.Response(503, text="<html><b>down</b></html>"),
            httpx.Response(429, headers={"Retry-After": later}),
            httpx.Response(429, headers={"Retry-After": "nonsense"}),
        ]
    )
    plane = client(lambda request: next(answers))
    with pytest.raises(TransientConnectorError) as first:
        plane.request("POST", "/a")
    assert first.value.retry_after is None
    assert "HTTP 503: <html><b>down</b></html>" in str(first.value)
    with pytest.raises(TransientConnectorError) as second:
        plane.request("POST", "/a")
    assert second.value.retry_after is not None
    assert 25 <= second.value.retry_after <= 30
    with pytest.raises(TransientConnectorError) as third:
        plane.request("POST", "/a")
    assert third.value.retry_after is None


def test_connection_errors_and_timeouts_are_transient() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"refused while sending {SECRET}")

    with pytest.raises(TransientConnectorError, match="failed: refused while sending \\*\\*\\*"):
        client(refuse).request("GET", "/")

    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow")

    with pytest.raises(TransientConnectorError, match=r"timed out \(ReadTimeout\)"):
        client(slow).request("GET", "/")


def test_allowed_statuses_return_and_bodies_decode() -> None:
    answers = iter(
        [
            httpx.Response(404, json={"detail": "gone"}),
            httpx.Response(200, text="not json"),
            httpx.Response(204),
            httpx.Response(400, text=""),
        ]
    )
    plane = client(lambda request: next(answers))
    assert plane.request("GET", "/", allow=(404,)).status_code == 404
    with pytest.raises(TransientConnectorError, match="body that is not JSON"):
        plane.json("GET", "/")
    assert plane.json("DELETE", "/") is None
    with pytest.raises(PermanentConnectorError, match="HTTP 400: Bad Request"):
        plane.request("GET", "/")
    plane.close()


def test_an_unreadable_vendor_body_falls_back_to_the_text() -> None:
    plane = client(
        lambda request: httpx.Response(409, text="conflict!"),
        message_of=lambda r: r.json()["error"],
    )
    with pytest.raises(PermanentConnectorError, match="HTTP 409: conflict!"):
        plane.request("POST", "/")
