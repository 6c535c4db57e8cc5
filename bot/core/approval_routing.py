"""Approvals routed by what changes: which CAB team must approve, for which part of a change.

``eucora.yaml`` may list routes under ``cab.routes``, as policy-bot users write approval rules::

    cab:
      teams: [contoso/cab-desktop]
      routes:
        - name: macos
          when: {platforms: [macos]}
          teams: [contoso/mac-cab]
          approvals: 1
        - name: broad-ring
          when: {rings: [broad]}
          teams: [contoso/security-cab]

A route **matches** a pull request when one of its changed files matches its ``when``: an intent
matches when every key ``when`` names holds for it (``planes``: its plane, ``platforms``: its
platform, ``rings``: one of its rings' names, ``paths``: its path, each at the base or the head, so
a change moving an intent off macOS still needs the mac CAB); any other changed file (a policy,
``eucora.yaml``, a README) matches a route whose ``when`` names only ``paths``. Each matched
route is a :class:`Requirement`: ``approvals`` (default 1) counted approvals from members of its
``teams``, on top of the tier's count from ``cab.teams``. Every requirement must be met.

Pure: the check passes the changed intents in (:class:`ChangedIntent`), the approvals decision
takes the requirements (``bot.core.approvals``). The requirements are stored in the check pack
(``approvals.routes``) only when the repository configures routes, so a repository without routes
keeps byte-identical packs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from bot.core.findings import Severity
from bot.core.schema import RawFinding

WHEN_KEYS = ("planes", "platforms", "rings", "paths")
"""What a route's ``when`` may name, in the order matches are explained."""
_SINGULAR = {"planes": "plane", "platforms": "platform", "rings": "ring", "paths": "path"}
MAX_MATCHES_SHOWN = 20
"""Matched files a requirement lists by name (the rest are counted)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ChangedIntent:
    """One changed intent, as routing sees it: values at the base and the head together.

    ``path`` is the intent's path at the head (at the base when deleted); ``base_path`` its path
    at the base when it was renamed. A value of an intent that did not validate is unknown
    (empty): only ``paths`` can match it.
    """

    path: str
    base_path: str | None = None
    planes: tuple[str, ...] = ()
    platforms: tuple[str, ...] = ()
    rings: tuple[str, ...] = ()

    @classmethod
    def of(
        cls, path: str, *, base_path: str | None = None, documents: Iterable[Any] = ()
    ) -> ChangedIntent:
        """The routing view of an intent from its validated data at the base and/or the head."""
        planes: list[str] = []
        platforms: list[str] = []
        rings: list[str] = []
        for data in documents:
            if not isinstance(data, Mapping):
                continue
            _add(planes, data.get("plane"))
            _add(platforms, data.get("platform"))
            for ring in data.get("rings") or ():
                _add(rings, ring.get("name") if isinstance(ring, Mapping) else None)
        return cls(
            path=path,
            base_path=base_path if base_path != path else None,
            planes=tuple(planes),
            platforms=tuple(platforms),
            rings=tuple(rings),
        )

    def values(self, key: str) -> tuple[str, ...]:
        """What the intent has for a ``when`` key."""
        if key == "paths":
            return (self.path, *((self.base_path,) if self.base_path else ()))
        found: tuple[str, ...] = getattr(self, key)
        return found


def _add(into: list[str], value: Any) -> None:
    if isinstance(value, str) and value and value not in into:
        into.append(value)


@dataclass(frozen=True, slots=True, kw_only=True)
class Route:
    """One ``cab.routes`` entry: when it applies, which teams approve, how many approvals."""

    name: str
    teams: tuple[str, ...]
    approvals: int = 1
    when: Mapping[str, tuple[str, ...]]
    description: str = ""

    def match(self, intent: ChangedIntent) -> str | None:
        """Why the route applies to an intent (``platform macos, ring broad``), or ``None``."""
        why: list[str] = []
        for key in WHEN_KEYS:
            wanted = self.when.get(key)
            if wanted is None:
                continue
            hit = next((v for v in intent.values(key) if _matches(key, wanted, v)), None)
            if hit is None:
                return None
            why.append(f"{_SINGULAR[key]} {hit}")
        return ", ".join(why) if why else None

    def match_file(self, path: str) -> str | None:
        """Why the route applies to a changed file that is not an intent, or ``None``."""
        if set(self.when) != {"paths"}:
            return None
        return f"path {path}" if _matches("paths", self.when["paths"], path) else None


def _matches(key: str, wanted: Sequence[str], value: str) -> bool:
    if key == "paths":
        return any(glob_regex(pattern).fullmatch(value) for pattern in wanted)
    return value in wanted


@lru_cache(maxsize=256)
def glob_regex(pattern: str) -> re.Pattern[str]:
    """A path glob as a regex: ``*`` and ``?`` stay within a folder, ``**`` spans folders."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out))


@dataclass(frozen=True, slots=True, kw_only=True)
class Requirement:
    """A matched route: ``required`` approvals from members of ``teams``, and why it applies.

    ``matched`` are the changed files that made it apply, each with the values that matched
    (``intents/mac/slack.yaml: platform macos``), at most :data:`MAX_MATCHES_SHOWN` of
    ``files`` matched files.
    """

    route: str
    teams: tuple[str, ...]
    required: int
    matched: tuple[str, ...]
    files: int
    description: str = ""

    def as_dict(self) -> dict[str, Any]:
        """Plain data for the evidence pack (``description`` only when the route has one)."""
        found: dict[str, Any] = {
            "route": self.route,
            "teams": list(self.teams),
            "required": self.required,
            "matched": list(self.matched),
            "files": self.files,
        }
        if self.description:
            found["description"] = self.description
        return found

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Requirement:
        """The requirement a check pack recorded (``approvals.routes``)."""
        return cls(
            route=str(data["route"]),
            teams=tuple(str(t) for t in data["teams"]),
            required=int(data["required"]),
            matched=tuple(str(m) for m in data.get("matched") or ()),
            files=int(data.get("files", len(data.get("matched") or ()))),
            description=str(data.get("description") or ""),
        )


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def routing_configured(config: Mapping[str, Any]) -> bool:
    """Whether ``eucora.yaml`` has a ``cab.routes`` list (even an empty one)."""
    return isinstance(_mapping(config.get("cab")).get("routes"), list)


def routes_of(config: Mapping[str, Any]) -> tuple[Route, ...]:
    """The routes of a validated ``eucora.yaml`` (``cab.routes``), in the order written."""
    found: list[Route] = []
    for index, item in enumerate(_mapping(config.get("cab")).get("routes") or ()):
        if not isinstance(item, Mapping):
            continue
        when = _mapping(item.get("when"))
        found.append(
            Route(
                name=str(item.get("name") or f"route-{index + 1}"),
                teams=tuple(str(t) for t in item.get("teams") or ()),
                approvals=int(item.get("approvals", 1)),
                when={k: tuple(str(v) for v in when[k]) for k in WHEN_KEYS if k in when},
                description=str(item.get("description") or ""),
            )
        )
    return tuple(found)


def steering_teams(config: Mapping[str, Any], intent: ChangedIntent) -> tuple[str, ...]:
    """Who may steer an intent's rollout (``/eucora halt``): ``cab.teams``, then routed teams.

    The teams of the routes that apply to the intent follow ``cab.teams``, once each.
    The team a route makes approve a macOS change may halt that change's rollout; a route that
    does not apply to the intent gives its team no say over it.
    """
    teams = [str(t) for t in _mapping(config.get("cab")).get("teams") or ()]
    for route in routes_of(config):
        if route.match(intent) is not None:
            for team in route.teams:
                _add(teams, team)
    return tuple(dict.fromkeys(teams))


def route_approvals(
    config: Mapping[str, Any],
    intents: Sequence[ChangedIntent],
    other_files: Sequence[str] = (),
) -> tuple[Requirement, ...]:
    """The requirements the routes of ``config`` put on a change, in the routes' order.

    ``intents`` are the changed intents, ``other_files`` the other changed paths (policies,
    ``eucora.yaml``, documentation). A route with no approvals to give (``approvals: 0``) or
    no teams is still listed when it matches: the explanation shows it.
    """
    found: list[Requirement] = []
    for route in routes_of(config):
        matched = [
            f"{intent.path}: {why}"
            for intent in sorted(intents, key=lambda i: i.path)
            if (why := route.match(intent)) is not None
        ]
        matched += [
            f"{path}: {why}"
            for path in sorted(set(other_files))
            if (why := route.match_file(path)) is not None
        ]
        if matched:
            found.append(
                Requirement(
                    route=route.name,
                    teams=route.teams,
                    required=route.approvals,
                    matched=tuple(matched[:MAX_MATCHES_SHOWN]),
                    files=len(matched),
                    description=route.description,
                )
            )
    return tuple(found)


def check_routes(
    config: Mapping[str, Any], plane_platforms: Mapping[str, frozenset[str]]
) -> Iterator[RawFinding]:
    """What the schema cannot say about ``cab.routes``: names are unique; a ``when`` can match.

    ``plane_platforms``: the platforms each plane manages (a route asking for ``jamf`` and
    ``windows`` together can never match, and is a warning).
    """
    routes = _mapping(config.get("cab")).get("routes")
    if not isinstance(routes, list):
        return
    seen: dict[str, int] = {}
    for index, item in enumerate(routes):
        if not isinstance(item, Mapping):
            continue
        name = item.get("name")
        if isinstance(name, str):
            if name in seen:
                yield RawFinding(
                    f"/cab/routes/{index}/name",
                    "config.route-duplicate",
                    f"route name {name!r} is already used by route {seen[name] + 1}: "
                    "give each route its own name (the evidence and the CAB check name it)",
                )
            seen.setdefault(name, index)
        when = _mapping(item.get("when"))
        planes, platforms = when.get("planes"), when.get("platforms")
        if not isinstance(planes, list) or not isinstance(platforms, list):
            continue
        managed = {p for plane in planes for p in plane_platforms.get(str(plane), frozenset())}
        if managed and not managed & {str(p) for p in platforms}:
            yield RawFinding(
                f"/cab/routes/{index}/when",
                "config.route-never-matches",
                f"route {name!r} can never match: planes {', '.join(map(str, planes))} manage "
                f"no {' or '.join(map(str, platforms))} devices (use separate routes)",
                severity=Severity.WARNING,
            )


def requirements_of(approvals: Mapping[str, Any]) -> tuple[Requirement, ...]:
    """The requirements a check pack's ``approvals`` part recorded (none for older packs)."""
    return tuple(Requirement.from_dict(r) for r in approvals.get("routes") or ())


__all__ = [
    "MAX_MATCHES_SHOWN",
    "WHEN_KEYS",
    "ChangedIntent",
    "Requirement",
    "Route",
    "check_routes",
    "glob_regex",
    "requirements_of",
    "route_approvals",
    "routes_of",
    "routing_configured",
]
