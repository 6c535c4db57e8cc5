"""Where a connector gets the installer bytes it uploads, checked against the intent's SHA-256.

Intune and Jamf store the package themselves, so the connector uploads it. The bytes come from an
:class:`ArtifactSource` (production: :class:`HttpArtifactSource`, which downloads ``package.url``;
tests and the demo: :class:`MemoryArtifactSource`, a fake we own), and :func:`fetch_artifact`
refuses anything whose digest is not the one the CAB approved.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, Protocol
from urllib.parse import urlsplit

from bot.errors import PermanentConnectorError

from ._http import new_client, send

MAX_ARTIFACT_BYTES = 8 * 1024 * 1024 * 1024
DOWNLOAD_TIMEOUT = 120.0


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
    """Downloads artifacts over HTTPS with the shared client settings."""

    def __init__(self, *, ca_bundle: str | None = None) -> None:
        self._ca_bundle = ca_bundle

    def read(self, url: str) -> bytes:
        """Download ``url`` (bounded by :data:`MAX_ARTIFACT_BYTES`)."""
        with new_client("", ca_bundle=self._ca_bundle, timeout=DOWNLOAD_TIMEOUT) as client:
            response = send(client, "GET", url, plane="download", follow_redirects=True)
        if len(response.content) > MAX_ARTIFACT_BYTES:
            raise PermanentConnectorError(f"download {urlsplit(url).path}: larger than allowed")
        return response.content


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
