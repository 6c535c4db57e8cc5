"""What every connector's ``outcomes`` verb shares: the plane's time, error samples, strict reads.

A ring gate trusts these readings, so a reading is built only from answers the plane gave: a field
that is missing or is not a count raises :class:`TransientConnectorError` (the plane answered
something it should not have; the read is retried and counted as an error), never a zero.
"""

from __future__ import annotations

import email.utils
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import httpx

from bot.core.rollout_model import ERROR_SAMPLE_MAX, DeviceError
from bot.errors import TransientConnectorError


def plane_time(response: httpx.Response, fallback: Callable[[], datetime]) -> datetime:
    """When the plane answered, by its own ``Date`` header (``fallback`` when it sent none).

    Used by the planes whose read is live (Jamf, Landscape, AWX): their data is as of the moment
    they answered, and that moment is the plane's clock, not ours.
    """
    header = response.headers.get("Date")
    if header:
        try:
            return email.utils.parsedate_to_datetime(header).astimezone(UTC)
        except (TypeError, ValueError):
            pass
    return fallback()


def parse_time(value: Any, what: str) -> datetime:
    """An ISO 8601 time from the plane (``Z`` or an offset; naive is taken as UTC)."""
    if not isinstance(value, str) or not value:
        raise TransientConnectorError(f"{what}: the plane gave no time ({value!r})")
    text = value.strip().replace("Z", "+00:00")
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise TransientConnectorError(f"{what}: {value!r} is not a time") from None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def count(row: Mapping[str, Any], name: str, what: str) -> int:
    """A non-negative count from a plane's answer; anything else is the plane's fault."""
    value = row.get(name)
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TransientConnectorError(f"{what}: {name} is missing or not a count ({value!r})")
    try:
        number = int(value)
    except ValueError:
        raise TransientConnectorError(f"{what}: {name} is not a count ({value!r})") from None
    if number < 0:
        raise TransientConnectorError(f"{what}: {name} is negative ({number})")
    return number


def sample(errors: Iterable[DeviceError]) -> tuple[DeviceError, ...]:
    """At most ``ERROR_SAMPLE_MAX`` per-device errors, in the order given."""
    kept: list[DeviceError] = []
    for error in errors:
        if len(kept) >= ERROR_SAMPLE_MAX:
            break
        kept.append(error)
    return tuple(kept)


def hex_code(code: Any) -> str:
    """A Windows error code as ``0x%08X`` (WMI gives it signed, Graph as text)."""
    try:
        number = int(str(code), 0)
    except ValueError:
        return str(code)
    return f"0x{number & 0xFFFFFFFF:08X}"
