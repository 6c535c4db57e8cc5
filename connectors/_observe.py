"""Turning what a plane holds into :class:`bot.core.drift.Observed`: what the connectors share.

Each connector's ``observe(intent, rings)`` reads the plane (its own calls: a failed read raises
``TransientConnectorError`` or ``PermanentConnectorError``, never "absent") and hands the objects
it found to these helpers, so the five planes normalise alike: group ids as the plane spells them
(the core compares them case-insensitively), one :class:`Assignment` per (group, intent), the
marker parsed into :class:`Marker`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from bot.core.drift import Assignment, Marker, Observed
from connectors.base import Ring


def parse_marker(text: str | None) -> Marker | None:
    """The ``eucora intent=... version=... evidence=...`` line of a field, or ``None``.

    The marker may follow other text (a Jamf Self Service description keeps the team's own words
    before it); the last line that starts with ``eucora`` counts.
    """
    found: Marker | None = None
    for line in (text or "").splitlines():
        words = line.split()
        if not words or words[0] != "eucora":
            continue
        values = dict(word.split("=", 1) for word in words[1:] if "=" in word)
        if "intent" in values:
            found = Marker(
                name=values["intent"],
                version=values.get("version", ""),
                evidence=values.get("evidence", ""),
            )
    return found


def assignments(pairs: Iterable[tuple[str, str]]) -> tuple[Assignment, ...]:
    """(group, intent) pairs as sorted, de-duplicated assignments (empty groups dropped)."""
    return tuple(
        Assignment(group=group, intent=intent)
        for group, intent in sorted({(g.strip(), i) for g, i in pairs if g.strip()})
    )


def target_of(rings: Sequence[Ring], ring_name: str) -> str | None:
    """The target the intent gives the named ring (planes that know rings, not groups)."""
    return next((ring.target for ring in rings if ring.name == ring_name), None)


def intent_name(intent: Mapping[str, Any]) -> str:
    """The intent document's ``metadata.name``."""
    return str(intent["metadata"]["name"])


def absent() -> Observed:
    """The plane holds nothing for the intent (read successfully)."""
    return Observed(present=False)
