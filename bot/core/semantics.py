"""Rules a JSON Schema cannot express, checked on plain data.

Each check is defensive: it looks only at the parts that have the right shape, so it can run on a
document that also has schema errors and still report everything at once.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import Any

from bot.core.approval_routing import check_routes
from bot.core.findings import Severity
from bot.core.plane_settings import PLANE_SETTINGS_CHECKS
from bot.core.planes import PROFILES
from bot.core.schema import RawFinding
from bot.core.versions import compare_versions

PLANE_PLATFORMS: Mapping[str, frozenset[str]] = {
    profile.name: profile.platforms for profile in PROFILES.values()
}

PACKAGE_PLATFORMS: Mapping[str, frozenset[str]] = {
    "msi": frozenset({"windows"}),
    "exe": frozenset({"windows"}),
    "win32": frozenset({"windows"}),
    "intunewin": frozenset({"windows"}),
    "msix": frozenset({"windows"}),
    "appx": frozenset({"windows"}),
    "pkg": frozenset({"macos"}),
    "dmg": frozenset({"macos"}),
    "deb": frozenset({"linux"}),
    "rpm": frozenset({"linux"}),
    "snap": frozenset({"linux"}),
}

Check = Callable[[Mapping[str, Any]], Iterator[RawFinding]]
_EMPTY: Mapping[str, Any] = {}


def parse_timestamp(value: object) -> datetime | None:
    """An RFC 3339 timestamp with its offset, or ``None`` for anything else (naive times too)."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def _rings(intent: Mapping[str, Any]) -> list[tuple[int, Mapping[str, Any]]]:
    rings = intent.get("rings")
    if not isinstance(rings, list):
        return []
    return [(i, r) for i, r in enumerate(rings) if isinstance(r, dict)]


def check_ring_names(intent: Mapping[str, Any]) -> Iterator[RawFinding]:
    """Ring names are unique within an intent: promotion and evidence refer to rings by name."""
    seen: dict[str, int] = {}
    for index, ring in _rings(intent):
        name = ring.get("name")
        if not isinstance(name, str):
            continue
        if name in seen:
            yield RawFinding(
                f"/rings/{index}/name",
                "intent.ring-names-unique",
                f"ring name {name!r} is used twice (first by ring {seen[name] + 1})",
            )
        else:
            seen[name] = index


def check_ring_sizes(intent: Mapping[str, Any]) -> Iterator[RawFinding]:
    """Rings grow: each ring reaches at least as many devices as the one before it."""
    previous: tuple[int, str, int] | None = None
    for index, ring in _rings(intent):
        devices = ring.get("devices")
        if not isinstance(devices, int) or isinstance(devices, bool):
            continue
        name = str(ring.get("name", f"#{index + 1}"))
        if previous is not None and devices < previous[2]:
            yield RawFinding(
                f"/rings/{index}/devices",
                "intent.ring-sizes-order",
                f"ring {name!r} has {devices} devices, fewer than the {previous[2]} of the ring "
                f"before it ({previous[1]!r}); order rings from smallest to largest",
            )
        previous = (index, name, devices)


def _known_platform(platform: object) -> bool:
    """A platform the schema accepts; for any other, its enum finding says all there is to say."""
    return isinstance(platform, str) and any(platform in p for p in PLANE_PLATFORMS.values())


def check_plane_platform(intent: Mapping[str, Any]) -> Iterator[RawFinding]:
    """The plane can manage the platform (Jamf manages Macs, Landscape manages Linux...)."""
    plane, platform = intent.get("plane"), intent.get("platform")
    supported = PLANE_PLATFORMS.get(plane) if isinstance(plane, str) else None
    if supported is not None and _known_platform(platform) and platform not in supported:
        yield RawFinding(
            "/plane",
            "intent.plane-platform",
            f"{plane} does not manage {platform} devices "
            f"(it manages: {', '.join(sorted(supported))})",
        )


def check_package_platform(intent: Mapping[str, Any]) -> Iterator[RawFinding]:
    """The package format installs on the platform (no MSI on a Mac)."""
    package_type = _mapping(intent.get("package")).get("type")
    platform = intent.get("platform")
    supported = PACKAGE_PLATFORMS.get(package_type) if isinstance(package_type, str) else None
    if supported is not None and _known_platform(platform) and platform not in supported:
        yield RawFinding(
            "/package/type",
            "intent.package-platform",
            f"a {package_type} package does not install on {platform}",
        )


def check_schedules(intent: Mapping[str, Any]) -> Iterator[RawFinding]:
    """A ring's deadline comes after its start."""
    for index, ring in _rings(intent):
        schedule = _mapping(ring.get("schedule"))
        start, deadline = (
            parse_timestamp(schedule.get("start")),
            parse_timestamp(schedule.get("deadline")),
        )
        if start is not None and deadline is not None and deadline <= start:
            yield RawFinding(
                f"/rings/{index}/schedule/deadline",
                "intent.schedule-order",
                f"the deadline {schedule['deadline']} is not after the start {schedule['start']}",
            )


def check_change_window(intent: Mapping[str, Any]) -> Iterator[RawFinding]:
    """A change window ends after it starts."""
    window = _mapping(_mapping(intent.get("change")).get("window"))
    start, end = parse_timestamp(window.get("start")), parse_timestamp(window.get("end"))
    if start is not None and end is not None and end <= start:
        yield RawFinding(
            "/change/window/end",
            "intent.window-order",
            f"the change window ends ({window['end']}) before it starts ({window['start']})",
        )


def check_soak_durations(intent: Mapping[str, Any]) -> Iterator[RawFinding]:
    """A soak time says how long: ``P`` or ``PT`` alone is an empty duration."""
    for index, ring in _rings(intent):
        soak = _mapping(ring.get("gate")).get("soak")
        if isinstance(soak, str) and (soak in {"P", "PT"} or soak.endswith("T")):
            yield RawFinding(
                f"/rings/{index}/gate/soak",
                "intent.duration",
                f"{soak!r} is an empty or unfinished duration; write e.g. P2D or PT48H",
            )


def check_versions(intent: Mapping[str, Any]) -> Iterator[RawFinding]:
    """A rollback's previous version can be ordered against the new version."""
    version = _mapping(intent.get("app")).get("version")
    previous = _mapping(intent.get("rollback")).get("previousVersion")
    if not isinstance(version, str) or not isinstance(previous, str):
        return
    order = compare_versions(previous, version)
    if order is None:
        yield RawFinding(
            "/rollback/previousVersion",
            "intent.version-order",
            f"cannot tell whether {version!r} is newer than {previous!r}; use dotted numbers "
            "such as 124.0.6367.91 or 23.01, optionally with -rc.1 or -1",
        )
    elif order == 0:
        yield RawFinding(
            "/rollback/previousVersion",
            "intent.version-order",
            f"the rollback version {previous!r} is the version being deployed",
            Severity.WARNING,
        )


_LANDSCAPE_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*")
_ANSIBLE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")

PLAIN_TARGETS: Mapping[str, tuple[re.Pattern[str], str]] = {
    "landscape": (
        _LANDSCAPE_TAG,
        (
            "a Landscape target is a tag name: letters, digits, '-' and '_' (not starting with"
            " '-'); EUCORA runs on tag:<target>, and {target!r} would be read as a query"
        ),
    ),
    "ansible": (
        _ANSIBLE_NAME,
        (
            "an Ansible target is one inventory group (or host) name: letters, digits, '_', '-'"
            " and '.'; it is the job's limit, and {target!r} would be read as a host pattern"
            " (',' and ':' add hosts, '!' and '&' combine groups, '*' and '~' match many)"
        ),
    ),
}
"""Planes that read a ring's target as a query or a limit expression, and what a target may be.

Anything but a plain name there makes the plane reach devices other than the declared group
(``pilot,all`` is every host), so the ring's device count would not be what the plane targets.
"""


def ring_target_problem(plane: str, target: str) -> str | None:
    """Why ``target`` is no plain name on ``plane`` (``None``: it is, or the plane takes any)."""
    rule = PLAIN_TARGETS.get(plane)
    if rule is None or rule[0].fullmatch(target):
        return None
    return rule[1].format(target=target)


def check_ring_targets(intent: Mapping[str, Any]) -> Iterator[RawFinding]:
    """On a plane that reads the target as a query or limit, a ring's target is a plain name."""
    plane = intent.get("plane")
    if not isinstance(plane, str):
        return
    for index, ring in _rings(intent):
        target = ring.get("target")
        problem = ring_target_problem(plane, target) if isinstance(target, str) and target else None
        if problem is not None:
            yield RawFinding(f"/rings/{index}/target", "intent.ring-target", problem)


INTENT_CHECKS: tuple[Check, ...] = (
    check_ring_names,
    check_ring_sizes,
    check_ring_targets,
    check_plane_platform,
    check_package_platform,
    check_schedules,
    check_change_window,
    check_soak_durations,
    check_versions,
    *PLANE_SETTINGS_CHECKS,
)


def check_thresholds(config: Mapping[str, Any]) -> Iterator[RawFinding]:
    """Risk tier thresholds rise: medium < high < critical."""
    thresholds = _mapping(_mapping(config.get("risk")).get("thresholds"))
    previous: tuple[str, int] | None = None
    for tier in ("medium", "high", "critical"):
        value = thresholds.get(tier)
        if not isinstance(value, int) or isinstance(value, bool):
            continue
        if previous is not None and value <= previous[1]:
            yield RawFinding(
                f"/risk/thresholds/{tier}",
                "config.thresholds-order",
                f"the {tier} threshold ({value}) must be above "
                f"the {previous[0]} one ({previous[1]})",
            )
        previous = (tier, value)


def check_freeze_windows(config: Mapping[str, Any]) -> Iterator[RawFinding]:
    """A one-off freeze window ends after it starts; a weekly one has different from/to times."""
    windows = config.get("freezeWindows")
    if not isinstance(windows, list):
        return
    for index, window in enumerate(windows):
        if not isinstance(window, dict):
            continue
        start, end = parse_timestamp(window.get("start")), parse_timestamp(window.get("end"))
        if start is not None and end is not None and end <= start:
            yield RawFinding(
                f"/freezeWindows/{index}/end",
                "config.window-order",
                f"freeze window {window.get('name')!r} ends before it starts",
            )
        if "from" in window and window.get("from") == window.get("to"):
            yield RawFinding(
                f"/freezeWindows/{index}/to",
                "config.window-order",
                f"freeze window {window.get('name')!r} starts and ends at the same time",
            )


def check_config_routes(config: Mapping[str, Any]) -> Iterator[RawFinding]:
    """``cab.routes``: unique names, and no route that can never match (approval_routing)."""
    return check_routes(config, PLANE_PLATFORMS)


CONFIG_CHECKS: tuple[Check, ...] = (check_thresholds, check_freeze_windows, check_config_routes)


def check_rule_ids(policy: Mapping[str, Any]) -> Iterator[RawFinding]:
    """Rule ids are unique in a policy file: results and waivers refer to rules by id."""
    rules = policy.get("rules")
    if not isinstance(rules, list):
        return
    seen: set[str] = set()
    for index, rule in enumerate(rules):
        rule_id = rule.get("id") if isinstance(rule, dict) else None
        if isinstance(rule_id, str):
            if rule_id in seen:
                yield RawFinding(
                    f"/rules/{index}/id",
                    "policy.duplicate-id",
                    f"rule id {rule_id!r} is used twice",
                )
            seen.add(rule_id)


POLICY_CHECKS: tuple[Check, ...] = (check_rule_ids,)
