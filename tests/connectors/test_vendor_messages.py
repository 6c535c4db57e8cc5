"""How the Intune and Jamf connectors read vendor errors, and the PlaneClient additions they use."""

from __future__ import annotations

import ssl

import httpx
import pytest

from connectors._http import PlaneClient, tls_verify
from connectors.intune import graph_message
from connectors.jamf import jamf_message


def response(status: int, text: str) -> httpx.Response:
    return httpx.Response(status, text=text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '{"error": {"code": "BadRequest", "message": "Invalid filter"}}',
            "BadRequest: Invalid filter",
        ),
        (
            '{"error": "invalid_client", "error_description": "AADSTS7000215"}',
            "invalid_client: AADSTS7000215",
        ),
        (
            "<Error><Code>AuthenticationFailed</Code><Message>Signature did not match.</Message></Error>",
            "AuthenticationFailed: Signature did not match.",
        ),
        ("[1]", "[1]"),
    ],
)
def test_graph_message(text: str, expected: str) -> None:
    assert graph_message(response(400, text)) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '{"httpStatus": 409, "errors": [{"code": "DUPLICATE_FIELD", "description": "packageName must be unique"}]}',
            "packageName must be unique",
        ),
        (
            '{"error": "invalid_client", "error_description": "Client authentication failed"}',
            "invalid_client: Client authentication failed",
        ),
        ('{"error": "invalid_client"}', "invalid_client"),
        (
            "<html><body><p>Conflict</p><p>Error: Duplicate name</p></body></html>",
            "Conflict Error: Duplicate name",
        ),
        ("[]", "[]"),
    ],
)
def test_jamf_message(text: str, expected: str) -> None:
    assert jamf_message(response(409, text)) == expected


def test_tls_verify_uses_a_private_ca_only_when_given(tmp_path: object) -> None:
    assert tls_verify(None) is True
    assert tls_verify("") is True
    cafile = ssl.get_default_verify_paths().cafile
    if cafile:
        assert isinstance(tls_verify(cafile), ssl.SSLContext)


def test_plane_client_passes_headers_content_and_exposes_its_client() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201)

    client = PlaneClient(
        plane="p", base_url="https://p.test", timeout=1.0, transport=httpx.MockTransport(answer)
    )
    client.request("PUT", "/x", content=b"<a/>", headers={"Content-Type": "application/xml"})
    assert seen[0].content == b"<a/>"
    assert seen[0].headers["Content-Type"] == "application/xml"
    assert isinstance(client.http, httpx.Client)
    client.close()
