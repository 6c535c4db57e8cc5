"""Drift: what a plane holds for an intent against what git says it should hold.

After a merge, the default branch is the desired state and the planes hold the actual state. The
reconciler reads each published intent back from its plane (the connector's ``state()``, turned
into :class:`Observed` at the border) and asks :func:`compare` for the differences, field by field.
Both sides are normalised first (group ids compared case-insensitively, lists as sets, no
timestamps), so ordering or id spelling never reads as drift; a failed read is an error, never
"deleted". ``drift.ignore`` entries of ``eucora.yaml`` drop the differences a team accepts.

Pure: the same inputs give the same drift, in the same order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from fnmatch import fnmatchcase
from typing import Any


class DriftKind(StrEnum):
    """What kind of difference a drift item is."""

    OBJECT_DELETED = "object-deleted"
    MARKER_MISSING = "marker-missing"
    VERSION_REPLACED = "version-replaced"
    ASSIGNMENT_CHANGED = "assignment-changed"
    GROUP_REMOVED = "group-removed"
    EXTRA_GROUP = "extra-group"


class DriftMode(StrEnum):
    """``drift.mode`` of ``eucora.yaml``: report, put git's state back, or look away."""

    WARN = "warn"
    REMEDIATE = "remediate"
    OFF = "off"


@dataclass(frozen=True, slots=True, kw_only=True)
class Marker:
    """The note EUCORA leaves on every object it creates: whose it is and which evidence."""

    name: str
    version: str
    evidence: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Assignment:
    """One group assignment of the intent's object, on either side."""

    group: str
    intent: str
    """``required``, ``available`` or ``uninstall``."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Desired:
    """What git says the plane should hold for one intent: the rings published so far."""

    plane: str
    intent: str
    version: str
    marker: Marker
    rings: Mapping[str, Assignment]
    """Published ring name → its target group and assignment intent."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Observed:
    """What the plane holds for one intent, as its connector read it."""

    present: bool
    version: str | None = None
    marker: Marker | None = None
    assignments: tuple[Assignment, ...] = ()


@dataclass(frozen=True, slots=True)
class ObserveFailure:
    """The plane could not be read: an error, never "the object is gone"."""

    message: str


@dataclass(frozen=True, slots=True, kw_only=True)
class DriftItem:
    """One field that differs: where (a JSON pointer into the intent), what git and plane say."""

    field: str
    kind: DriftKind
    git: str
    plane: str


@dataclass(frozen=True, slots=True, kw_only=True)
class IgnoreRule:
    """A difference a team accepts: on a plane, for intents matching a pattern, at a field."""

    plane: str = "*"
    intent: str = "*"
    field: str = ""
    """A JSON pointer; it covers the fields below it too (``/rings`` covers every ring)."""

    def covers(self, plane: str, intent: str, pointer: str) -> bool:
        """Whether this rule drops the difference at ``pointer`` of that intent on that plane."""
        return (
            fnmatchcase(plane, self.plane)
            and fnmatchcase(intent, self.intent)
            and (not self.field or pointer == self.field or pointer.startswith(self.field + "/"))
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class DriftReport:
    """The differences of one (intent, plane), or why they could not be known."""

    plane: str
    intent: str
    items: tuple[DriftItem, ...] = ()
    error: str | None = None

    @property
    def drifted(self) -> bool:
        """Whether git and the plane disagree (a failed read is not drift)."""
        return bool(self.items)


@dataclass(frozen=True, slots=True, kw_only=True)
class DriftSettings:
    """``drift`` of ``eucora.yaml``."""

    mode: DriftMode = DriftMode.WARN
    ignore: tuple[IgnoreRule, ...] = ()


def drift_settings(config: Mapping[str, Any]) -> DriftSettings:
    """The drift settings of a validated ``eucora.yaml`` (defaults: warn, nothing ignored)."""
    section = config.get("drift")
    if not isinstance(section, Mapping):
        return DriftSettings()
    rules = section.get("ignore")
    ignore = tuple(
        IgnoreRule(
            plane=str(rule.get("plane", "*")),
            intent=str(rule.get("intent", "*")),
            field=str(rule.get("field", "")),
        )
        for rule in (rules if isinstance(rules, list) else [])
        if isinstance(rule, Mapping)
    )
    return DriftSettings(mode=DriftMode(str(section.get("mode", "warn"))), ignore=ignore)


def _norm(group: str) -> str:
    """Group ids as the planes compare them: Entra GUIDs and collection ids ignore case."""
    return group.strip().lower()


def compare(
    desired: Desired, observed: Observed | ObserveFailure, ignore: Sequence[IgnoreRule] = ()
) -> DriftReport:
    """Every field where the plane differs from git, sorted by field, ignored ones dropped."""
    if isinstance(observed, ObserveFailure):
        return DriftReport(plane=desired.plane, intent=desired.intent, error=observed.message)
    items = [
        item
        for item in _differences(desired, observed)
        if not any(rule.covers(desired.plane, desired.intent, item.field) for rule in ignore)
    ]
    items.sort(key=lambda item: (item.field, item.kind.value, item.plane))
    return DriftReport(plane=desired.plane, intent=desired.intent, items=tuple(items))


def _differences(desired: Desired, observed: Observed) -> list[DriftItem]:
    if not observed.present:
        return [
            DriftItem(
                field="",
                kind=DriftKind.OBJECT_DELETED,
                git=f"{desired.intent} {desired.version}",
                plane="absent",
            )
        ]
    items: list[DriftItem] = []
    if observed.marker is None or observed.marker.name != desired.marker.name:
        items.append(
            DriftItem(
                field="/metadata/name",
                kind=DriftKind.MARKER_MISSING,
                git=f"marked {desired.marker.name} {desired.marker.version}",
                plane="no EUCORA marker" if observed.marker is None else observed.marker.name,
            )
        )
    if observed.version != desired.version:
        items.append(
            DriftItem(
                field="/app/version",
                kind=DriftKind.VERSION_REPLACED,
                git=desired.version,
                plane=observed.version or "unknown",
            )
        )
    items.extend(_assignment_differences(desired, observed))
    return items


def _assignment_differences(desired: Desired, observed: Observed) -> list[DriftItem]:
    held: dict[str, set[str]] = {}
    for assignment in observed.assignments:
        held.setdefault(_norm(assignment.group), set()).add(assignment.intent)
    wanted = {_norm(a.group) for a in desired.rings.values()}
    items: list[DriftItem] = []
    # Published rings are the first rings of the intent, in order: the index is the intent's.
    for index, ring in enumerate(desired.rings.values()):
        pointer = f"/rings/{index}"
        intents = held.get(_norm(ring.group))
        if not intents:
            items.append(
                DriftItem(
                    field=f"{pointer}/target",
                    kind=DriftKind.GROUP_REMOVED,
                    git=f"{ring.group} ({ring.intent})",
                    plane="not assigned",
                )
            )
        elif intents != {ring.intent}:
            items.append(
                DriftItem(
                    field=f"{pointer}/assignment",
                    kind=DriftKind.ASSIGNMENT_CHANGED,
                    git=ring.intent,
                    plane=", ".join(sorted(intents)),
                )
            )
    items.extend(
        DriftItem(
            field="/rings",
            kind=DriftKind.EXTRA_GROUP,
            git="not assigned",
            plane=f"{group} ({', '.join(sorted(held[group]))})",
        )
        for group in sorted(set(held) - wanted)
    )
    return items
