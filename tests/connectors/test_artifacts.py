"""Artifact sources: the bytes a connector uploads, checked against the approved SHA-256."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest
from werkzeug.wrappers import Request, Response

from bot.doubles._server import HttpDouble
from bot.errors import PermanentConnectorError
from connectors.artifacts import (
    MAX_REDIRECTS,
    HttpArtifactSource,
    MemoryArtifactSource,
    artifact_file_name,
    fetch_artifact,
)

INTENT = {
    "metadata": {"name": "tool"},
    "app": {"version": "1.2"},
    "package": {
        "url": "https://h.test/d/Tool.pkg?x=1",
        "sha256": hashlib.sha256(b"tool").hexdigest(),
    },
}


def test_fetch_checks_the_digest() -> None:
    artifact = fetch_artifact(
        MemoryArtifactSource({INTENT["package"]["url"]: b"tool"}), INTENT, "tool-1.2.pkg"
    )
    assert (artifact.file_name, artifact.size, artifact.sha256) == (
        "tool-1.2.pkg",
        4,
        INTENT["package"]["sha256"],
    )
    with pytest.raises(PermanentConnectorError, match="is not the approved"):
        fetch_artifact(MemoryArtifactSource({INTENT["package"]["url"]: b"evil"}), INTENT, "x")


def test_file_name_is_unique_per_intent_and_version() -> None:
    assert artifact_file_name(INTENT) == "tool-1.2.pkg"


class Downloads(HttpDouble):
    """A package host over HTTPS: packages, redirects, and bodies that count what was sent."""

    plane = "downloads"

    def __init__(self) -> None:
        super().__init__(tls=True)
        self.sent = 0
        self.redirects: dict[str, str] = {}

    def handle(self, request: Request) -> Response:
        """``/pkg``, ``/endless`` (chunked), ``/declared`` (a huge Content-Length), redirects."""
        if request.path in self.redirects:
            return Response(status=302, headers={"Location": self.redirects[request.path]})
        if request.path == "/pkg":
            return Response(PACKAGE, mimetype="application/octet-stream")
        if request.path in {"/endless", "/declared"}:
            response = Response(self._chunks(), mimetype="application/octet-stream")
            if request.path == "/declared":
                response.headers["Content-Length"] = str(TOTAL)
            return response
        return Response("Unauthorized: no token", status=401, mimetype="text/plain")

    def _chunks(self) -> Iterator[bytes]:
        for _ in range(TOTAL // CHUNK):
            with self.lock:
                self.sent += CHUNK
            yield b"x" * CHUNK


PACKAGE = b"package bytes"
CHUNK = 64 * 1024
TOTAL = 256 * 1024 * 1024
LIMIT = 1024 * 1024


@pytest.fixture
def downloads() -> Iterator[Downloads]:
    with Downloads() as double:
        yield double
    assert double.violations == []


def source(double: Downloads, *hosts: str) -> HttpArtifactSource:
    return HttpArtifactSource(ca_bundle=double.ca_bundle, redirect_hosts=hosts, max_bytes=LIMIT)


def test_sources_report_what_they_cannot_give(downloads: Downloads) -> None:
    with pytest.raises(PermanentConnectorError, match="no artifact"):
        MemoryArtifactSource({}).read("https://x.test/a.pkg")
    with pytest.raises(PermanentConnectorError, match="HTTP 401: Unauthorized: no token"):
        source(downloads).read(f"{downloads.url}/api/v1/packages?page=0")
    assert [(s.method, s.path, s.query) for s in downloads.requests] == [
        ("GET", "/api/v1/packages", "page=0")
    ]
    assert source(downloads).read(f"{downloads.url}/pkg") == PACKAGE


@pytest.mark.parametrize("path", ["/endless", "/declared"])
def test_an_oversize_body_is_refused_without_reading_it_all(
    downloads: Downloads, path: str
) -> None:
    with pytest.raises(PermanentConnectorError, match=f"more than the {LIMIT} bytes allowed"):
        source(downloads).read(f"{downloads.url}{path}")
    downloads.stop()  # the server's writes end when the client has gone
    assert downloads.sent < TOTAL // 8, f"sent {downloads.sent} of {TOTAL} bytes"


def test_a_redirect_on_the_packages_own_host_is_followed(downloads: Downloads) -> None:
    downloads.redirects["/latest"] = "/pkg"
    downloads.redirects["/mirror"] = f"{downloads.url}/latest"
    assert source(downloads).read(f"{downloads.url}/mirror") == PACKAGE
    assert [s.path for s in downloads.requests] == ["/mirror", "/latest", "/pkg"]


def test_a_redirect_to_another_host_is_refused_unless_allowed(downloads: Downloads) -> None:
    other = downloads.url.replace("127.0.0.1", "localhost")  # the same server, another host
    downloads.redirects["/moved"] = f"{other}/pkg"
    with pytest.raises(PermanentConnectorError, match="redirected to localhost, which is neither"):
        source(downloads).read(f"{downloads.url}/moved")
    assert [s.path for s in downloads.requests] == ["/moved"]  # never went there
    assert source(downloads, "localhost").read(f"{downloads.url}/moved") == PACKAGE
    with pytest.raises(PermanentConnectorError, match="redirected to localhost"):
        source(downloads, "*.localhost").read(f"{downloads.url}/moved")  # not the bare domain


def test_a_redirect_to_plain_http_is_refused_even_on_the_same_host(
    downloads: Downloads,
) -> None:
    downloads.redirects["/downgrade"] = downloads.url.replace("https:", "http:") + "/pkg"
    with pytest.raises(PermanentConnectorError, match="over https only"):
        source(downloads, "127.0.0.1").read(f"{downloads.url}/downgrade")
    assert [s.path for s in downloads.requests] == ["/downgrade"]
    with pytest.raises(PermanentConnectorError, match="over https only"):
        source(downloads).read(downloads.url.replace("https:", "http:") + "/pkg")
    assert len(downloads.requests) == 1


def test_a_redirect_loop_ends(downloads: Downloads) -> None:
    downloads.redirects["/loop"] = "/loop"
    with pytest.raises(PermanentConnectorError, match=f"more than {MAX_REDIRECTS} redirects"):
        source(downloads).read(f"{downloads.url}/loop")
    assert len(downloads.requests) == MAX_REDIRECTS + 1


def test_the_redirect_hosts_come_from_the_environment(downloads: Downloads) -> None:
    other = downloads.url.replace("127.0.0.1", "localhost")
    downloads.redirects["/moved"] = f"{other}/pkg"
    assert downloads.ca_bundle is not None
    trust = {"EUCORA_ARTIFACT_CA_BUNDLE": downloads.ca_bundle}
    with pytest.raises(PermanentConnectorError, match="EUCORA_ARTIFACT_REDIRECT_HOSTS"):
        HttpArtifactSource.from_environ(trust).read(f"{downloads.url}/moved")
    configured = HttpArtifactSource.from_environ(
        {**trust, "EUCORA_ARTIFACT_REDIRECT_HOSTS": " cdn.example.com, LOCALHOST "}
    )
    assert configured.read(f"{downloads.url}/moved") == PACKAGE
