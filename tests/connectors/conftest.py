"""Fixtures for connector tests: publications built from the example intents, a dict journal."""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from connectors.artifacts import MemoryArtifactSource
from connectors.base import Publication, Ring

ROOT = Path(__file__).resolve().parents[2]
INTENTS = ROOT / "examples" / "intents-repo" / "intents"
DIGEST = "sha256:" + "ab" * 32


class DictJournal:
    """The Journal protocol over a dict (the outbox row stands in for it in production)."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    def get(self, key: str) -> str | None:
        return self.values.get(key)

    def put(self, key: str, value: str) -> None:
        self.values[key] = value


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


def publication(
    intent: dict[str, Any], ring_index: int = 0, *, digest: str = DIGEST
) -> Publication:
    ring = intent["rings"][ring_index]
    return Publication(
        intent=intent,
        ring=Ring(
            name=ring["name"],
            target=ring["target"],
            devices=ring["devices"],
            assignment=ring["assignment"],
        ),
        idempotency_key=f"{intent['metadata']['name']}:{intent['app']['version']}:{ring['name']}",
        evidence_digest=digest,
    )


def artifacts_for(*intents: dict[str, Any]) -> MemoryArtifactSource:
    """The installer bytes behind each intent's package URL."""
    return MemoryArtifactSource(
        {
            i["package"]["url"]: installer_bytes(i["metadata"]["name"], i["app"]["version"])
            for i in intents
        }
    )


@pytest.fixture
def journal() -> Iterator[DictJournal]:
    return DictJournal()
