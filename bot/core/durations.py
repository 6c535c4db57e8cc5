"""Durations and times for people: what ``eucora audit --since`` accepts.

Nothing here reads the clock: ``now`` is passed in.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

_DURATION = re.compile(r"(?:\d+[smhdw])+")
_DURATION_PART = re.compile(r"(\d+)([smhdw])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_since(text: str, *, now: datetime) -> datetime:
    """The moment ``--since`` names: a duration before ``now``, or an RFC 3339 time with a zone.

    Durations are ``90m``, ``1h30m``, ``7d``, ``2w``; times ``2027-01-04T09:00:00Z``.

    Raises ``ValueError`` with a message for people.
    """
    value = text.strip()
    if _DURATION.fullmatch(value):
        seconds = sum(
            int(count) * _UNIT_SECONDS[unit] for count, unit in _DURATION_PART.findall(value)
        )
        return now - timedelta(seconds=seconds)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(
            f"{text!r} is neither a duration (30m, 24h, 7d, 2w) nor an RFC 3339 time"
        ) from None
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} needs a time zone, e.g. 2027-01-04T09:00:00Z")
    return moment
