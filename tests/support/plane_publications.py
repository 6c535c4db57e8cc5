"""Shared pieces of the SCCM, Landscape and Ansible connector tests: a journal, publications."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from connectors._polling import Follow
from connectors.base import Publication, Ring

ROOT = Path(__file__).resolve().parents[2]
INTENTS = ROOT / "examples" / "intents-repo" / "intents"
DIGEST = "sha256:" + "ab" * 32
CLIENT_TIMEOUT = 2.0
"""Seconds per request in connector tests: what a hung double costs, with room for a loaded box."""


class DictJournal:
    """The Journal protocol over a dict, counting writes (the outbox row in production)."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}
        self.writes: list[tuple[str, str]] = []

    def get(self, key: str) -> str | None:
        return self.values.get(key)

    def put(self, key: str, value: str) -> None:
        self.values[key] = value
        self.writes.append((key, value))


def intent(relative: str, **changes: Any) -> dict[str, Any]:
    """An example intent from examples/intents-repo, with top-level sections replaced."""
    document = yaml.safe_load((INTENTS / relative).read_text(encoding="utf-8"))
    for key, value in changes.items():
        document[key] = value
    return copy.deepcopy(document)


def publication(document: dict[str, Any], ring_index: int = 0, digest: str = DIGEST) -> Publication:
    """One publication of ``document`` to one of its rings."""
    ring = document["rings"][ring_index]
    name = document["metadata"]["name"]
    version = document["app"]["version"]
    return Publication(
        intent=document,
        ring=Ring(
            name=ring["name"],
            target=ring["target"],
            devices=ring["devices"],
            assignment=ring["assignment"],
        ),
        idempotency_key=f"{name}@{version}#{ring['name']}",
        evidence_digest=digest,
    )


def no_wait(timeout: float = 5.0) -> Follow:
    """Follow jobs without sleeping (the doubles advance one step per read)."""
    return Follow(interval=0.0, timeout=timeout, sleep=lambda _s: None)
