"""What a rollout is made of: the outcomes a plane reports for one ring, and where a rollout stands.

A merge publishes an intent's first ring; the reconciler then reads each ring's install outcomes
back from its plane and asks :mod:`bot.core.gates` whether the next ring may start. These are the
values that travel between the two: plain frozen data, so a decision is a function of them and the
clock, and the same inputs give the same decision on any replica.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from fractions import Fraction
from typing import Any, TypeAlias

from bot.core.facts import duration_hours

ERROR_SAMPLE_MAX = 10
"""Per-device errors kept with a reading: enough to show on an issue, small enough to store."""


@dataclass(frozen=True, slots=True)
class DeviceError:
    """One device's failed install, as the plane reports it."""

    device: str
    code: str
    message: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RingOutcomes:
    """Install outcomes of one intent's version on one ring's target, as of ``as_of``.

    Counts are devices. ``targeted`` is what the plane says the ring's target holds; the others
    need not add up to it (a plane may not have heard from every device yet).
    """

    targeted: int
    installed: int
    failed: int
    pending: int
    not_applicable: int = 0
    as_of: datetime
    errors: tuple[DeviceError, ...] = ()

    def __post_init__(self) -> None:
        counts = (self.targeted, self.installed, self.failed, self.pending, self.not_applicable)
        if any(count < 0 for count in counts):
            raise ValueError(f"install counts cannot be negative: {counts}")

    @property
    def reported(self) -> int:
        """Devices whose outcome is known: installed, failed or not applicable."""
        return self.installed + self.failed + self.not_applicable

    @property
    def success_rate(self) -> Fraction | None:
        """Installed ÷ (installed + failed); None before any device reported either."""
        decided = self.installed + self.failed
        return Fraction(self.installed, decided) if decided else None

    @property
    def counts(self) -> tuple[int, int, int, int, int]:
        """The counts alone, to tell whether anything moved between two readings."""
        return (self.targeted, self.installed, self.failed, self.pending, self.not_applicable)


@dataclass(frozen=True, slots=True)
class ReadFailure:
    """A read of the plane that failed: an error to count, never "nothing installed"."""

    message: str


Reading: TypeAlias = RingOutcomes | ReadFailure


class RingPhase(StrEnum):
    """Where one ring stands."""

    WAITING = "waiting"  # not published yet
    ACTIVE = "active"  # published; its gate is being watched
    PASSED = "passed"  # its gate passed; the next ring may start (or has)
    FAILED = "failed"  # its gate failed: the rollout halted here
    HELD = "held"  # inconclusive: held for the CAB


class RolloutPhase(StrEnum):
    """Where a whole rollout stands."""

    ACTIVE = "active"
    HELD = "held"  # inconclusive gate, or halted by a person: waits for /eucora resume
    HALTED = "halted"  # a gate failed: never promotes again
    COMPLETE = "complete"  # the last ring passed
    SUPERSEDED = "superseded"  # a newer version of the intent was merged


OWED_PREFIX = "issue-owed:"
"""An alert key for an issue GitHub failed to take (``issue-owed:halted``, ``held``, ``stuck``):
saved with the decision that needs it, cleared once sent, so a later pass sends it."""

FINAL_PHASES = frozenset({RolloutPhase.HALTED, RolloutPhase.COMPLETE, RolloutPhase.SUPERSEDED})
"""Phases a rollout never leaves on its own (nothing promotes from them)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RingState:
    """What the reconciler remembers of one ring between passes."""

    name: str
    phase: RingPhase = RingPhase.WAITING
    started_at: datetime | None = None
    """When the ring was published (its publication recorded): the gate's clock starts here."""
    reporting_since: datetime | None = None
    """When the ring first reached the reporting share, continuously since: the soak starts here."""
    counts: tuple[int, int, int, int, int] | None = None
    counts_since: datetime | None = None
    """When the counts last moved: a ring whose counts stand still too long is stuck."""
    read_errors: int = 0
    """Consecutive failed reads of this ring."""
    soak_waived_by: str | None = None
    """The CAB member whose ``/eucora promote`` waived the soak (never a failed gate)."""
    last_verdict: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RolloutState:
    """One rollout: an intent's version on its plane, ring by ring."""

    intent: str
    version: str
    plane: str
    rings: tuple[RingState, ...]
    phase: RolloutPhase = RolloutPhase.ACTIVE
    reason: str = ""
    """Why the rollout is held, halted or superseded (empty while it runs)."""
    alerts: frozenset[str] = field(default_factory=frozenset)
    """Alerts raised and not yet cleared (``stuck:<ring>``, ``read-errors:<ring>``): raised once."""

    @property
    def current(self) -> int:
        """Index of the ring being watched: the last one that has started (0 before any)."""
        started = [i for i, ring in enumerate(self.rings) if ring.phase != RingPhase.WAITING]
        return started[-1] if started else 0

    def ring(self, name: str) -> RingState | None:
        """The ring of that name, if the rollout has one."""
        return next((ring for ring in self.rings if ring.name == name), None)


@dataclass(frozen=True, slots=True, kw_only=True)
class GatePolicy:
    """The repository's settings that every gate decision shares (``eucora.yaml`` ``rollouts``)."""

    reporting_share: Fraction = Fraction(9, 10)
    """Share of the ring's targeted devices that must have reported before a pass."""
    read_error_budget: int = 4
    """Consecutive failed reads that just wait; one more raises an alert."""
    stuck_after: timedelta = timedelta(hours=24)
    """Counts unchanged this long, while the plane's data is fresh, make a ring stuck."""
    fresh_within: timedelta = timedelta(hours=6)
    """Plane data older than this is stale: a ring is not called stuck on stale data."""


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _parse(value: object) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None


def state_to_json(state: RolloutState) -> dict[str, Any]:
    """A rollout's state as plain JSON data (stored between passes; no floats, sorted alerts)."""
    return {
        "intent": state.intent,
        "version": state.version,
        "plane": state.plane,
        "phase": state.phase.value,
        "reason": state.reason,
        "alerts": sorted(state.alerts),
        "rings": [
            {
                "name": ring.name,
                "phase": ring.phase.value,
                "startedAt": _time(ring.started_at),
                "reportingSince": _time(ring.reporting_since),
                "counts": None if ring.counts is None else list(ring.counts),
                "countsSince": _time(ring.counts_since),
                "readErrors": ring.read_errors,
                "soakWaivedBy": ring.soak_waived_by,
                "lastVerdict": ring.last_verdict,
            }
            for ring in state.rings
        ],
    }


def state_from_json(data: Mapping[str, Any]) -> RolloutState:
    """The state :func:`state_to_json` wrote."""
    rings = []
    for ring in data["rings"]:
        counts = ring.get("counts")
        rings.append(
            RingState(
                name=str(ring["name"]),
                phase=RingPhase(ring["phase"]),
                started_at=_parse(ring.get("startedAt")),
                reporting_since=_parse(ring.get("reportingSince")),
                counts=None if counts is None else _five(counts),
                counts_since=_parse(ring.get("countsSince")),
                read_errors=int(ring.get("readErrors", 0)),
                soak_waived_by=ring.get("soakWaivedBy"),
                last_verdict=ring.get("lastVerdict"),
            )
        )
    return RolloutState(
        intent=str(data["intent"]),
        version=str(data["version"]),
        plane=str(data["plane"]),
        rings=tuple(rings),
        phase=RolloutPhase(data["phase"]),
        reason=str(data.get("reason", "")),
        alerts=frozenset(str(a) for a in data.get("alerts", [])),
    )


def _five(values: Sequence[Any]) -> tuple[int, int, int, int, int]:
    a, b, c, d, e = (int(v) for v in values)
    return (a, b, c, d, e)


def outcomes_to_json(outcomes: RingOutcomes) -> dict[str, Any]:
    """Install outcomes as plain JSON data (the rollout evidence records them)."""
    return {
        "targeted": outcomes.targeted,
        "installed": outcomes.installed,
        "failed": outcomes.failed,
        "pending": outcomes.pending,
        "notApplicable": outcomes.not_applicable,
        "asOf": outcomes.as_of.isoformat(),
        "errors": [
            {"device": e.device, "code": e.code, "message": e.message} for e in outcomes.errors
        ],
    }


@dataclass(frozen=True, slots=True, kw_only=True)
class RolloutRecord:
    """A stored rollout: where it came from (the merge) and its state at ``revision``."""

    id: int
    change_id: int
    repository: str
    pr: int
    installation_id: int | None
    merge_sha: str
    path: str
    intent: Mapping[str, Any]
    """The intent document as merged (its rings, gates and schedules)."""
    evidence_digest: str
    """The digest every publication of the change carries (the merge's check pack)."""
    emergency: bool
    """The change carried the emergency label (it lifts freeze windows, as at merge)."""
    state: RolloutState
    revision: int
    updated_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class Promotion:
    """The next ring to publish, recorded in the same transaction as the state that asks for it."""

    ring: str
    step: int
    target: str
    idempotency_key: str
    evidence_digest: str


def gate_policy(config: Mapping[str, Any]) -> GatePolicy:
    """The gate settings of a validated ``eucora.yaml`` (its ``rollouts`` section; defaults)."""
    section = config.get("rollouts")
    if not isinstance(section, Mapping):
        return GatePolicy()
    default = GatePolicy()
    share = section.get("reportingSharePercent")
    hours = duration_hours(section.get("stuckAfter"))
    budget = section.get("readErrorBudget")
    return GatePolicy(
        reporting_share=Fraction(share, 100) if isinstance(share, int) else default.reporting_share,
        read_error_budget=budget if isinstance(budget, int) else default.read_error_budget,
        stuck_after=timedelta(hours=hours) if hours is not None else default.stuck_after,
        fresh_within=default.fresh_within,
    )
