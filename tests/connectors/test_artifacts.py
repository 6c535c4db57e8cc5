"""Artifact sources: the bytes a connector uploads, checked against the approved SHA-256."""

from __future__ import annotations

import hashlib

import pytest

from bot.doubles.jamf import JamfDouble
from bot.errors import PermanentConnectorError
from connectors.artifacts import (
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


def test_sources_report_what_they_cannot_give() -> None:
    with pytest.raises(PermanentConnectorError, match="no artifact"):
        MemoryArtifactSource({}).read("https://x.test/a.pkg")
    with JamfDouble() as double:
        with pytest.raises(PermanentConnectorError, match="HTTP 401"):
            HttpArtifactSource().read(f"{double.url}/api/v1/packages?page=0")
        assert [(s.method, s.path, s.query) for s in double.requests] == [
            ("GET", "/api/v1/packages", "page=0")
        ]
