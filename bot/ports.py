"""Ports: the small interfaces the flows and entry points need from the outside world.

Each is a ``typing.Protocol`` (structural, so an adapter or a test fake needs no base class); the
adapters implement them, one module per outside thing, and the composition root picks which.
"""

from __future__ import annotations

from typing import Protocol


class EvidenceSource(Protocol):
    """Where stored evidence packs are read from, by digest (the evidence store, or a test dict)."""

    def get(self, digest: str) -> bytes | None:
        """The canonical JSON bytes of the pack stored under ``digest``, or None when unknown.

        ``digest`` is ``sha256:`` and 64 lower-case hex digits; callers check the form first.
        """
        ...
