"""Fixtures for the Intune and Jamf connector tests: example intents with installer bytes."""

from __future__ import annotations

import copy
import hashlib
from typing import Any

import pytest
import yaml

from connectors.artifacts import MemoryArtifactSource
from tests.support.plane_publications import INTENTS, DictJournal


def installer_bytes(name: str, version: str) -> bytes:
    """Deterministic stand-in for an installer (a few KiB, distinct per version)."""
    seed = f"{name}-{version}".encode()
    return b"".join(hashlib.sha256(seed + bytes([i])).digest() for i in range(200))


def load_intent(relative: str, *, version: str | None = None) -> dict[str, Any]:
    """An example intent whose package URL and SHA-256 point at :func:`installer_bytes`."""
    intent = copy.deepcopy(yaml.safe_load((INTENTS / relative).read_text(encoding="utf-8")))
    if version is not None:
        intent["app"]["version"] = version
    name, version = intent["metadata"]["name"], intent["app"]["version"]
    data = installer_bytes(name, version)
    file_name = intent["package"]["url"].rsplit("/", 1)[-1]
    intent["package"]["url"] = f"https://downloads.example.test/{name}/{version}/{file_name}"
    intent["package"]["sha256"] = hashlib.sha256(data).hexdigest()
    intent["package"]["sizeBytes"] = len(data)
    return intent


def artifacts_for(*intents: dict[str, Any]) -> MemoryArtifactSource:
    """The installer bytes behind each intent's package URL."""
    return MemoryArtifactSource(
        {
            i["package"]["url"]: installer_bytes(i["metadata"]["name"], i["app"]["version"])
            for i in intents
        }
    )


@pytest.fixture
def journal() -> DictJournal:
    return DictJournal()
