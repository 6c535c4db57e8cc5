"""Facts: what CEL cannot compute well, computed once per changed intent and handed to every rule.

Everything is a function of its arguments: the clock (``now``) and the time zones are inputs, so the
same change evaluated at the same instant gives the same facts on any machine. Facts are plain JSON
data (ints, strings, bools, lists, maps); ``docs/policies.md`` lists them for rule authors.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, time, tzinfo
from typing import Any, get_type_hints

from bot.core.changes import ChangeKind
from bot.core.planes import PROFILES
from bot.core.semantics import parse_timestamp
from bot.core.versions import compare_versions, parse_version

DEFAULT_EMERGENCY_LABEL = "eucora:emergency"
DEFAULT_THRESHOLDS = {"medium": 25, "high": 50, "critical": 75}
DEFAULT_MIN_SOAK = {"low": "PT4H", "medium": "PT24H", "high": "PT48H", "critical": "PT72H"}
DEFAULT_LIMITS = {"firstRingMaxDevices": 50, "firstRingMaxPercent": 5}
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

# Targets that mean "every device" on any plane (each plane's profile names its own).
ALL_DEVICES_TARGETS = frozenset(
    target for profile in PROFILES.values() for target in profile.all_devices_targets
)

# Install or uninstall commands that download or evaluate code at run time: curl/wget piped to a
# shell, Invoke-WebRequest/RestMethod, Invoke-Expression, DownloadString, BITS, or a bypassed
# PowerShell execution policy. What then runs is not the hashed package. (A fact rather than a CEL
# matches(): cel-cpp compiles the pattern on every evaluation, about 200 µs.)
_FETCHES_CODE = re.compile(
    r"(?i)(\bcurl\b|\bwget\b|invoke-webrequest|\biwr\b|invoke-restmethod|\birm\b|downloadstring|"
    r"downloadfile|start-bitstransfer|bitsadmin|invoke-expression|\biex\b|executionpolicy\s+bypass|"
    r"-ep\s+bypass|\|\s*(ba|z)?sh\b)"
)
# Hashes that are not hashes: one repeated hex digit, or the SHA-256 of an empty file.
PLACEHOLDER_HASHES = (
    *(c * 64 for c in "0123456789abcdef"),
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
)

_DURATION = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?)?$")


@dataclass(frozen=True, slots=True, kw_only=True)
class Facts:
    """The facts every rule sees as ``facts.<name>``: the one list of their names and types.

    :meth:`as_dict` is what rules evaluate; :data:`FACTS_SCHEMA` (the name check's "did you mean"
    and CEL's type declarations) is derived from the fields' types, in field order; the facts
    table of ``docs/policies.md`` is checked against the fields by ``tests/core/test_facts.py``.
    """

    change: str
    path: str
    total_devices: int
    previous_total_devices: int
    ring_count: int
    ring_devices: Mapping[str, int]
    first_ring: str
    first_ring_devices: int
    first_ring_percent: int
    first_ring_max_devices: int
    first_ring_max_percent: int
    version_change: str
    major_delta: int
    previous_version: str
    package_host: str
    package_host_allowed: bool
    required_rings_all_devices: tuple[str, ...]
    min_gate_soak_hours: int
    rings_without_soak: tuple[str, ...]
    freeze_windows: tuple[str, ...]
    in_freeze_window: bool
    emergency: bool
    labels: tuple[str, ...]
    config_changed: bool
    policies_changed: bool
    other_paths: tuple[str, ...]
    first_deployment: bool
    now: str
    tier: str = ""
    """Empty in pass 1; set by :func:`with_tier` for the rules that read it."""
    tier_min_soak_hours: int = -1
    commands_fetch_code: bool
    placeholder_hashes: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        """The facts as plain JSON data (lists and maps), the ``facts`` variable of every rule."""
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self)}


def _plain(value: object) -> object:
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, Mapping):
        return dict(value)
    return value


_TEXT: Mapping[str, Any] = {"type": "string"}
_NUMBER: Mapping[str, Any] = {"type": "integer"}
_JSON_SCHEMAS: Mapping[object, Mapping[str, Any]] = {
    str: _TEXT,
    int: _NUMBER,
    bool: {"type": "boolean"},
    tuple[str, ...]: {"type": "array", "items": _TEXT},
    Mapping[str, int]: {"type": "object", "additionalProperties": _NUMBER},
}


def facts_schema() -> Mapping[str, Any]:
    """The facts as a JSON Schema, from :class:`Facts`'s field types, in field order."""
    hints = get_type_hints(Facts)
    return {
        "type": "object",
        "properties": {f.name: _JSON_SCHEMAS[hints[f.name]] for f in fields(Facts)},
    }


# What policy compilation checks rule expressions against (names and CEL types).
FACTS_SCHEMA: Mapping[str, Any] = facts_schema()
FACT_NAMES = frozenset(f.name for f in fields(Facts))


@dataclass(frozen=True, slots=True, kw_only=True)
class FactInputs:
    """What the facts of one changed intent are computed from."""

    change: ChangeKind
    path: str
    intent: Mapping[str, Any]
    base: Mapping[str, Any] | None
    config: Mapping[str, Any]
    now: datetime
    labels: tuple[str, ...] = ()
    timezones: Mapping[str, tzinfo] = field(default_factory=dict)
    other_paths: tuple[str, ...] = ()
    config_changed: bool = False
    policies_changed: bool = False
    known_apps: frozenset[str] = frozenset()


def duration_hours(text: object) -> int | None:
    """Hours in an ISO 8601 duration of days, hours and minutes (minutes round up)."""
    if not isinstance(text, str):
        return None
    match = _DURATION.match(text)
    if match is None or text in {"P", "PT"}:
        return None
    days, hours, minutes = (int(g) if g else 0 for g in match.groups())
    return days * 24 + hours + math.ceil(minutes / 60)


def _rings(intent: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    rings = intent.get("rings")
    return [r for r in rings if isinstance(r, dict)] if isinstance(rings, list) else []


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _section(mapping: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = mapping.get(key)
    return value if isinstance(value, dict) else {}


def _clock(text: object) -> time | None:
    if not isinstance(text, str):
        return None
    try:
        return time.fromisoformat(text)
    except ValueError:
        return None


def window_contains(
    window: Mapping[str, Any], moment: datetime, zones: Mapping[str, tzinfo]
) -> bool:
    """Tell whether a freeze window (one-off or weekly, in its own time zone) contains a moment."""
    start, end = parse_timestamp(window.get("start")), parse_timestamp(window.get("end"))
    if start is not None and end is not None:
        return start <= moment <= end
    days = window.get("days")
    begin, finish = _clock(window.get("from")), _clock(window.get("to"))
    zone_name = str(window.get("timezone", "UTC"))
    zone = zones.get(zone_name, UTC if zone_name == "UTC" else None)
    if not isinstance(days, list) or begin is None or finish is None or zone is None:
        return False
    local = moment.astimezone(zone)
    today = WEEKDAYS[local.weekday()]
    yesterday = WEEKDAYS[(local.weekday() - 1) % 7]
    now = local.time().replace(second=0, microsecond=0)
    if begin <= finish:
        return today in days and begin <= now <= finish
    # The window runs past midnight: it started yesterday evening or starts this evening.
    return (today in days and now >= begin) or (yesterday in days and now <= finish)


def freeze_windows_hit(
    config: Mapping[str, Any], moments: list[datetime], zones: Mapping[str, tzinfo]
) -> list[str]:
    """Names of the freeze windows that contain any of the moments, in configuration order."""
    windows = config.get("freezeWindows")
    if not isinstance(windows, list):
        return []
    return [
        str(w.get("name", f"window {i + 1}"))
        for i, w in enumerate(windows)
        if isinstance(w, dict) and any(window_contains(w, m, zones) for m in moments)
    ]


def _version_facts(
    intent: Mapping[str, Any], base: Mapping[str, Any] | None
) -> tuple[str, int, str]:
    """The version change, the major delta and the version at base."""
    new = _section(intent, "app").get("version")
    old = _section(base, "app").get("version") if base is not None else None
    if not isinstance(new, str):
        return "unknown", 0, ""
    if not isinstance(old, str):
        return "new", 0, ""
    order = compare_versions(old, new)
    direction = {None: "unknown", -1: "downgrade", 0: "same", 1: "upgrade"}[order]
    a, b = parse_version(old), parse_version(new)
    delta = b.major - a.major if a is not None and b is not None else 0
    return direction, delta, old


_URL_HOST = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://(?:[^@/?#]*@)?(\[[^\]]*\]|[^:/?#]*)")


def _host(url: object) -> str:
    """The lower-case host of a URL (RFC 3986 authority, without user info and port)."""
    match = _URL_HOST.match(url) if isinstance(url, str) else None
    return match.group(1).lower() if match is not None else ""


def host_listed(host: str, patterns: Iterable[object]) -> bool:
    """``host`` is one of ``patterns``, or under a ``*.domain`` one (not the bare domain)."""
    for entry in patterns:
        if not isinstance(entry, str):
            continue
        pattern = entry.lower()
        if pattern.startswith("*."):
            if host.endswith(pattern[1:]) and host != pattern[2:]:
                return True
        elif host == pattern:
            return True
    return False


def _host_allowed(host: str, allowed: object) -> bool:
    if not isinstance(allowed, list) or not allowed:
        return True  # no allow-list configured: nothing to enforce
    return host_listed(host, allowed)


def _schedule_moments(intent: Mapping[str, Any]) -> list[datetime]:
    moments = [parse_timestamp(_section(ring, "schedule").get("start")) for ring in _rings(intent)]
    window = _section(_section(intent, "change"), "window")
    moments.append(parse_timestamp(window.get("start")))
    return [m for m in moments if m is not None]


def derive_facts(inputs: FactInputs) -> dict[str, Any]:
    """Compute the facts of one changed intent (pass 1: everything but the risk tier)."""
    return compute_facts(inputs).as_dict()


def compute_facts(inputs: FactInputs) -> Facts:
    """The typed facts of one changed intent (pass 1: the tier is empty, its soak -1)."""
    intent, config = inputs.intent, inputs.config
    rings = _rings(intent)
    devices = {str(r.get("name", i)): _int(r.get("devices")) for i, r in enumerate(rings)}
    total = sum(devices.values())
    first = _int(rings[0].get("devices")) if rings else 0
    soaks = [duration_hours(_section(r, "gate").get("soak")) for r in rings[:-1]]
    url = _section(intent, "package").get("url")
    host = _host(url)
    emergency_label = str(_section(config, "labels").get("emergency", DEFAULT_EMERGENCY_LABEL))
    moments = [inputs.now, *_schedule_moments(intent)]
    frozen = freeze_windows_hit(config, moments, inputs.timezones)
    app_name = _section(intent, "app").get("name")
    package = _section(intent, "package")
    version_change, major_delta, previous_version = _version_facts(intent, inputs.base)
    return Facts(
        change=inputs.change.value,
        path=inputs.path,
        total_devices=total,
        previous_total_devices=(
            sum(_int(r.get("devices")) for r in _rings(inputs.base)) if inputs.base else 0
        ),
        ring_count=len(rings),
        ring_devices=devices,
        first_ring=str(rings[0].get("name", "")) if rings else "",
        first_ring_devices=first,
        first_ring_percent=math.ceil(100 * first / total) if total else 0,
        first_ring_max_devices=limit(config, "firstRingMaxDevices"),
        first_ring_max_percent=limit(config, "firstRingMaxPercent"),
        version_change=version_change,
        major_delta=major_delta,
        previous_version=previous_version,
        package_host=host,
        package_host_allowed=_host_allowed(host, config.get("packageHosts")),
        required_rings_all_devices=tuple(
            str(r.get("name"))
            for r in rings
            if r.get("assignment") == "required"
            and str(r.get("target", "")).strip().lower() in ALL_DEVICES_TARGETS
        ),
        min_gate_soak_hours=min((s for s in soaks if s is not None), default=-1),
        rings_without_soak=tuple(
            str(r.get("name")) for r, s in zip(rings[:-1], soaks, strict=True) if s is None
        ),
        freeze_windows=tuple(frozen),
        in_freeze_window=bool(frozen),
        emergency=emergency_label in inputs.labels,
        labels=tuple(sorted(inputs.labels)),
        config_changed=inputs.config_changed,
        policies_changed=inputs.policies_changed,
        other_paths=inputs.other_paths,
        first_deployment=inputs.change is ChangeKind.ADDED
        and isinstance(app_name, str)
        and app_name not in inputs.known_apps,
        now=inputs.now.isoformat().replace("+00:00", "Z"),
        commands_fetch_code=any(
            isinstance(package.get(key), str) and _FETCHES_CODE.search(package[key]) is not None
            for key in ("installCommand", "uninstallCommand")
        ),
        placeholder_hashes=PLACEHOLDER_HASHES,
    )


def with_tier(facts: Mapping[str, Any], tier: str, config: Mapping[str, Any]) -> dict[str, Any]:
    """Pass 2: add the risk tier and the minimum soak it requires."""
    configured = _section(_section(config, "limits"), "minSoak")
    soak = configured.get(tier, DEFAULT_MIN_SOAK.get(tier))
    return {**facts, "tier": tier, "tier_min_soak_hours": duration_hours(soak) or 0}


def limit(config: Mapping[str, Any], name: str) -> int:
    """A numeric limit from ``eucora.yaml`` with its documented default."""
    value = _section(config, "limits").get(name)
    return value if isinstance(value, int) else DEFAULT_LIMITS[name]
