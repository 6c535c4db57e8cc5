"""The shared HTTP helpers: error classification, Retry-After, vendor messages, redaction."""

from __future__ import annotations

import pickle
import ssl

import httpx
import pytest

from bot.errors import PermanentConnectorError, TransientConnectorError
from connectors._http import (
    poll,
    raise_for_status,
    redact,
    retry_after_seconds,
    tls_verify,
    vendor_message,
)


def response(status: int, text: str = "", headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, text=text, headers=headers or {})


def test_retry_after_as_seconds_or_http_date() -> None:
    assert retry_after_seconds("120") == 120.0
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412490.0) == 0.0
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            '{"error": {"code": "BadRequest", "message": "Invalid filter"}}',
            "BadRequest: Invalid filter",
        ),
        ('{"httpStatus": 400, "errors": [{"code": "X", "description": "bad name"}]}', "bad name"),
        (
            '{"error": "invalid_client", "error_description": "AADSTS7000215"}',
            "invalid_client: AADSTS7000215",
        ),
        ('{"error": "invalid_client"}', "invalid_client"),
        ('{"detail": "You do not have permission."}', "You do not have permission."),
        (
            "<html><body><p>Conflict</p><p>Error: Duplicate name</p></body></html>",
            "Conflict Error: Duplicate name",
        ),
        ("", "Bad Request"),
    ],
)
def test_vendor_message(body: str, expected: str) -> None:
    assert vendor_message(response(400, body)) == expected


def test_classification() -> None:
    raise_for_status(response(204), where="x")
    raise_for_status(response(409), where="x", accept=(409,))
    with pytest.raises(TransientConnectorError) as throttled:
        raise_for_status(response(429, headers={"Retry-After": "3"}), where="plane GET /a")
    assert throttled.value.retry_after == 3.0
    assert str(throttled.value) == "plane GET /a: HTTP 429: Too Many Requests (retry after 3 s)"
    with pytest.raises(TransientConnectorError) as broken:
        raise_for_status(response(503, "down"), where="p")
    assert broken.value.retry_after is None
    with pytest.raises(PermanentConnectorError, match="HTTP 403: nope"):
        raise_for_status(response(403, "nope"), where="p")


def test_errors_survive_pickling() -> None:
    error = TransientConnectorError("plane: HTTP 429", 5.0)
    copy = pickle.loads(pickle.dumps(error))  # noqa: S301 -- our own bytes
    assert (copy.message, copy.retry_after, str(copy)) == (error.message, 5.0, str(error))


def test_redact_masks_secrets_bearers_and_jwts() -> None:
    text = "secret=hunter2hunter2 Authorization: Bearer abc.def-123 token eyJhbGciOi.eyJzdWIiOi.sig"
    cleaned = redact(text, ["hunter2hunter2", None, "ab"])
    assert "hunter2" not in cleaned
    assert "abc.def-123" not in cleaned
    assert "eyJ" not in cleaned


def test_poll_gives_up_as_transient() -> None:
    states = iter(range(10))
    with pytest.raises(TransientConnectorError, match="still not done after 3 polls"):
        poll(lambda: next(states), lambda s: s > 100, what="thing", attempts=3, interval=0)
    assert poll(lambda: 7, lambda s: s == 7, what="thing", attempts=0, interval=0) == 7


def test_tls_verify() -> None:
    assert tls_verify(None) is True
    assert isinstance(
        tls_verify(ssl.get_default_verify_paths().cafile or ""), (ssl.SSLContext, bool)
    )
