"""Where a connector gets the installer bytes it uploads, checked against the intent's SHA-256.

Intune and Jamf store the package themselves, so the connector uploads it. The bytes come from an
:class:`ArtifactSource` (production: :class:`HttpArtifactSource`, which downloads ``package.url``;
tests and the demo: :class:`MemoryArtifactSource`, a fake we own), and :func:`fetch_artifact`
refuses anything whose digest is not the one the CAB approved.

The download is streamed: its size is checked against ``Content-Length`` before reading and
against :data:`MAX_ARTIFACT_BYTES` while reading, so an oversize body is dropped after at most
that many bytes. It is https only, and redirects are followed by hand (at most
:data:`MAX_REDIRECTS`): each must lead to https on the package URL's own host or on a host that
``EUCORA_ARTIFACT_REDIRECT_HOSTS`` allows (comma-separated host names, ``*.example.com`` for
any subdomain; default none: only the package URL's own host). The package URL's host itself is
judged at review time by ``packageHosts`` in eucora.yaml (``package.host-not-allowed``).
``EUCORA_ARTIFACT_CA_BUNDLE`` names a PEM file of a private CA to trust for downloads.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx

from bot.core.facts import host_listed
from bot.errors import PermanentConnectorError, TransientConnectorError

from ._http import new_client, raise_for_status

MAX_ARTIFACT_BYTES = 8 * 1024 * 1024 * 1024
DOWNLOAD_TIMEOUT = 120.0
MAX_REDIRECTS = 5
ERROR_PAGE_BYTES = 64 * 1024
"""An error answer's page is read this far, for the message (it is cut to 300 characters)."""


@dataclass(frozen=True, slots=True)
class Artifact:
    """An installer whose bytes match the intent's ``package.sha256``."""

    file_name: str
    data: bytes
    sha256: str

    @property
    def size(self) -> int:
        """Size in bytes."""
        return len(self.data)


class ArtifactSource(Protocol):
    """Gives the bytes behind an intent's ``package.url``."""

    def read(self, url: str) -> bytes:
        """The artifact's bytes (raise a connector error when they cannot be had)."""
        ...


class HttpArtifactSource:
    """Downloads artifacts over HTTPS, streamed and bounded (see the module docstring)."""

    def __init__(
        self,
        *,
        ca_bundle: str | None = None,
        redirect_hosts: Sequence[str] = (),
        max_bytes: int = MAX_ARTIFACT_BYTES,
    ) -> None:
        self._ca_bundle = ca_bundle
        self._redirect_hosts = tuple(h.strip().lower() for h in redirect_hosts if h.strip())
        self._max_bytes = max_bytes

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> HttpArtifactSource:
        """``EUCORA_ARTIFACT_REDIRECT_HOSTS`` (unset: own host only), ``_CA_BUNDLE`` (a PEM)."""
        hosts = environ.get("EUCORA_ARTIFACT_REDIRECT_HOSTS", "")
        ca_bundle = environ.get("EUCORA_ARTIFACT_CA_BUNDLE") or None
        return cls(ca_bundle=ca_bundle, redirect_hosts=hosts.split(","))

    def read(self, url: str) -> bytes:
        """Download ``url``: https only, allowed redirects only, at most ``max_bytes``."""
        origin = _https_host(url, url)
        with new_client("", ca_bundle=self._ca_bundle, timeout=DOWNLOAD_TIMEOUT) as client:
            current = httpx.URL(url)
            for _ in range(MAX_REDIRECTS + 1):
                where = f"download GET {current.path}"
                try:
                    with client.stream("GET", current) as response:
                        if not response.is_redirect:
                            return self._body(response, where)
                        target = current.join(response.headers.get("Location", ""))
                except httpx.TimeoutException as error:
                    raise TransientConnectorError(
                        f"{where}: timed out ({type(error).__name__})"
                    ) from None
                except httpx.TransportError as error:
                    raise TransientConnectorError(f"{where}: connection failed: {error}") from None
                host = _https_host(str(target), url)
                if host != origin and not host_listed(host, self._redirect_hosts):
                    raise PermanentConnectorError(
                        f"download {urlsplit(url).path}: redirected to {host}, which is neither"
                        " the package's host nor in EUCORA_ARTIFACT_REDIRECT_HOSTS"
                    )
                current = target
        raise PermanentConnectorError(
            f"download {urlsplit(url).path}: more than {MAX_REDIRECTS} redirects"
        )

    def _body(self, response: httpx.Response, where: str) -> bytes:
        """The body of a final answer, read no further than the limit allows."""
        if response.status_code >= 400:
            head = _first_bytes(response, ERROR_PAGE_BYTES)
            raise_for_status(
                httpx.Response(
                    response.status_code,
                    headers={"Retry-After": response.headers.get("Retry-After", "")},
                    content=head,
                ),
                where=where,
            )
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > self._max_bytes:
            raise PermanentConnectorError(
                f"{where}: {declared} bytes, more than the {self._max_bytes} bytes allowed"
            )
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > self._max_bytes:
                raise PermanentConnectorError(
                    f"{where}: more than the {self._max_bytes} bytes allowed"
                )
            chunks.append(chunk)
        return b"".join(chunks)


def _https_host(url: str, package_url: str) -> str:
    """The lower-case host of an https URL; anything else is refused."""
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise PermanentConnectorError(
            f"download {urlsplit(package_url).path}: {parts.scheme or 'a relative'} URL"
            f" {parts.hostname or ''} refused: artifacts are downloaded over https only"
        )
    return parts.hostname.lower()


def _first_bytes(response: httpx.Response, limit: int) -> bytes:
    head = b""
    for chunk in response.iter_bytes():
        head += chunk
        if len(head) >= limit:
            break
    return head[:limit]


class MemoryArtifactSource:
    """Artifacts held in memory by URL (tests, the demo)."""

    def __init__(self, artifacts: Mapping[str, bytes]) -> None:
        self._artifacts = dict(artifacts)

    def read(self, url: str) -> bytes:
        """The bytes registered for ``url``."""
        try:
            return self._artifacts[url]
        except KeyError:
            raise PermanentConnectorError(f"no artifact for {url}") from None


def fetch_artifact(source: ArtifactSource, intent: Mapping[str, Any], file_name: str) -> Artifact:
    """Read the intent's package and check its SHA-256 before anything is uploaded."""
    package = intent["package"]
    data = source.read(str(package["url"]))
    digest = hashlib.sha256(data).hexdigest()
    expected = str(package["sha256"]).lower()
    if digest != expected:
        raise PermanentConnectorError(
            f"artifact {package['url']}: sha256 {digest} is not the approved {expected}"
        )
    return Artifact(file_name=file_name, data=data, sha256=digest)


def artifact_file_name(intent: Mapping[str, Any]) -> str:
    """A plane-unique file name: ``<intent>-<version><suffix of the URL's file>``."""
    suffix = PurePosixPath(urlsplit(str(intent["package"]["url"])).path).suffix
    return f"{intent['metadata']['name']}-{intent['app']['version']}{suffix}"
