"""Ring gates: whether a rollout's next ring may start, decided from outcomes read and the clock.

The reconciler reads the watched ring's install outcomes from its plane and calls :func:`decide`
with what it remembers of the rollout. The answer is data: a verdict (pass, fail, inconclusive,
error, or pending while the gate cannot decide yet), the reasons a person reads, the actions to
take (promote the next ring, halt, hold for the CAB, raise or clear an alert, complete) and the
state to remember. Nothing here reads a plane, a clock or a database, so two replicas given the same
inputs decide the same, and deciding again on the same inputs asks for nothing new.

The rules, after Argo Rollouts and Kargo (``docs/rollouts.md``):
- success rate = installed ÷ (installed + failed); ``maxFailures`` and ``minSuccessPercent`` fail
  the gate, and a failed gate halts the rollout for good (``/eucora promote`` never passes it);
- a pass needs a share of the ring to have reported (``GatePolicy.reporting_share``), then the
  ring's ``soak`` measured from the moment that share was first reached, continuously;
- devices still pending past the ring's ``schedule.deadline`` make the gate inconclusive: the
  rollout is held and the CAB asked, never passed by waiting;
- a failed read is an error with its own budget: within it the gate waits, beyond it an alert;
- the next ring's ``schedule.start`` and the freeze windows hold a promotion (the change's
  emergency label lifts the freeze, as at merge);
- a ring without a gate moves on only by ``/eucora promote``, which waives the soak and the wait for
  reports, never a failure;
- the last ring completes the rollout once enough of it reported without a failure past its gate
  (it has no next ring to soak for: the schema says its gate is ignored, but failures still halt).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from enum import StrEnum
from fractions import Fraction
from typing import Any, TypeAlias

from bot.core.facts import duration_hours, freeze_windows_hit
from bot.core.rollout_model import (
    FINAL_PHASES,
    GatePolicy,
    ReadFailure,
    Reading,
    RingOutcomes,
    RingPhase,
    RingState,
    RolloutPhase,
    RolloutState,
)
from bot.core.semantics import parse_timestamp


class Verdict(StrEnum):
    """A gate's answer for the watched ring."""

    PASS = "pass"  # noqa: S105 - a verdict, not a password
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"
    ERROR = "error"
    PENDING = "pending"  # not decidable yet: too few reports, soaking, or no reading yet


@dataclass(frozen=True, slots=True, kw_only=True)
class RingGate:
    """One ring's gate and schedule, as the intent states them."""

    name: str
    has_gate: bool = False
    min_success_percent: int | None = None
    soak: timedelta | None = None
    max_failures: int | None = None
    start: datetime | None = None
    deadline: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Freeze:
    """The freeze windows of ``eucora.yaml`` and whether the change is an emergency."""

    config: Mapping[str, Any] = field(default_factory=dict)
    zones: Mapping[str, tzinfo] = field(default_factory=dict)
    emergency: bool = False

    def hit(self, now: datetime) -> list[str]:
        """Names of the windows that hold a promotion now (none for an emergency)."""
        return [] if self.emergency else freeze_windows_hit(self.config, [now], self.zones)


@dataclass(frozen=True, slots=True)
class Promote:
    """Publish the next ring (through the outbox, with its own deployment and evidence)."""

    ring: str
    index: int


@dataclass(frozen=True, slots=True)
class Halt:
    """Stop the rollout at this ring: deployment failure, a ``eucora:halted`` issue, rollback."""

    ring: str
    reason: str


@dataclass(frozen=True, slots=True)
class Hold:
    """Hold the rollout for the CAB (an inconclusive gate)."""

    ring: str
    reason: str


@dataclass(frozen=True, slots=True)
class Alert:
    """Raise an alert once (``stuck``: counts stand still; ``read-errors``: reads keep failing)."""

    kind: str
    ring: str
    reason: str


@dataclass(frozen=True, slots=True)
class ClearAlert:
    """The condition behind an alert is gone."""

    kind: str
    ring: str


@dataclass(frozen=True, slots=True)
class Complete:
    """The last ring passed: the rollout is done."""


Action: TypeAlias = Promote | Halt | Hold | Alert | ClearAlert | Complete


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    """What one reconcile pass decided for one rollout."""

    verdict: Verdict
    ring: str
    reasons: tuple[str, ...]
    actions: tuple[Action, ...]
    state: RolloutState
    outcomes: RingOutcomes | None = None


def ring_gates(intent: Mapping[str, Any]) -> tuple[RingGate, ...]:
    """Each ring's gate and schedule from a validated intent."""
    rings = intent.get("rings")
    gates: list[RingGate] = []
    for ring in rings if isinstance(rings, list) else []:
        if not isinstance(ring, Mapping):
            continue
        gate = ring.get("gate")
        schedule = ring.get("schedule")
        gate = gate if isinstance(gate, Mapping) else None
        schedule = schedule if isinstance(schedule, Mapping) else {}
        soak_hours = duration_hours(gate.get("soak")) if gate is not None else None
        gates.append(
            RingGate(
                name=str(ring.get("name", "")),
                has_gate=gate is not None,
                min_success_percent=_int(gate.get("minSuccessPercent")) if gate else None,
                soak=timedelta(hours=soak_hours) if soak_hours is not None else None,
                max_failures=_int(gate.get("maxFailures")) if gate else None,
                start=parse_timestamp(schedule.get("start")),
                deadline=parse_timestamp(schedule.get("deadline")),
            )
        )
    return tuple(gates)


def new_rollout(
    *, intent: str, version: str, plane: str, gates: Sequence[RingGate], started_at: datetime
) -> RolloutState:
    """A rollout whose first ring was just published."""
    rings = tuple(
        RingState(name=gate.name, phase=RingPhase.ACTIVE, started_at=started_at)
        if index == 0
        else RingState(name=gate.name)
        for index, gate in enumerate(gates)
    )
    return RolloutState(intent=intent, version=version, plane=plane, rings=rings)


def soak_left(gate: RingGate, ring: RingState, now: datetime) -> timedelta | None:
    """How long the ring still has to soak; None when its soak has not started (or it has none)."""
    if gate.soak is None or ring.reporting_since is None:
        return None
    return max(timedelta(0), ring.reporting_since + gate.soak - now)


def percent(rate: Fraction | None) -> str:
    """A success rate as people read it: ``97.5 %`` (one decimal, rounded down, exact input)."""
    if rate is None:
        return "n/a"
    tenths = (rate * 1000).numerator // (rate * 1000).denominator
    return f"{tenths // 10}.{tenths % 10} %" if tenths % 10 else f"{tenths // 10} %"


def decide(  # noqa: PLR0913 - keyword-only inputs of one decision
    *,
    gates: Sequence[RingGate],
    state: RolloutState,
    readings: Mapping[str, Reading],
    policy: GatePolicy,
    freeze: Freeze,
    now: datetime,
) -> Decision:
    """Decide the watched ring's gate and what to do about it.

    ``readings`` maps ring names to what was read from the plane this pass; the watched ring's is
    used (a ring just promoted has none yet: pending).
    """
    index = state.current
    ring = state.rings[index] if state.rings else RingState(name="")
    if state.phase in FINAL_PHASES or not state.rings or len(gates) != len(state.rings):
        verdict = Verdict(ring.last_verdict) if ring.last_verdict else Verdict.PENDING
        reason = state.reason or "the rollout does not run"
        return Decision(verdict=verdict, ring=ring.name, reasons=(reason,), actions=(), state=state)
    if ring.phase == RingPhase.WAITING:
        return _pending(state, index, ring, ("not published yet",))
    if ring.phase == RingPhase.PASSED:
        return _advance(gates, state, index, ring, freeze, now, ("its gate passed",), None)
    reading = readings.get(ring.name)
    if reading is None:
        return _pending(state, index, ring, ("no install outcomes read yet",))
    if isinstance(reading, ReadFailure):
        return _read_failed(state, index, ring, reading, policy)
    return _judge(gates[index], gates, state, index, ring, reading, policy, freeze, now)


def _judge(  # noqa: PLR0913, PLR0917 - one ring's facts
    gate: RingGate,
    gates: Sequence[RingGate],
    state: RolloutState,
    index: int,
    ring: RingState,
    outcomes: RingOutcomes,
    policy: GatePolicy,
    freeze: Freeze,
    now: datetime,
) -> Decision:
    ring, actions = _observe(ring, outcomes, state.alerts, policy, now)
    alerts = _alerts_after(state.alerts, actions)
    state = dataclasses.replace(state, alerts=alerts)
    failure = _failure(gate, outcomes, policy.reporting_share)
    if failure is not None:
        return _halt(state, index, ring, outcomes, actions, failure)
    waived = ring.soak_waived_by is not None
    reached = _reached(outcomes, policy.reporting_share)
    since = (ring.reporting_since or outcomes.as_of) if reached else None
    ring = dataclasses.replace(ring, reporting_since=since)
    past_deadline = gate.deadline is not None and now > gate.deadline
    if not waived:
        if not reached or (outcomes.pending and past_deadline):
            if past_deadline:
                return _hold(state, index, ring, outcomes, actions, _unreported(outcomes, gate))
            share = _share(outcomes)
            need = percent(policy.reporting_share)
            wait = f"{share} of {outcomes.targeted} devices reported; a pass needs {need}"
            return _pending(state, index, ring, (wait,), outcomes, actions)
        last = index + 1 == len(gates)  # the last ring's gate is ignored: no soak, no person
        if not gate.has_gate and not last:
            reason = f"{ring.name} has no gate: the next ring starts by /eucora promote"
            return _pending(state, index, ring, (reason,), outcomes, actions)
        left = None if last else soak_left(gate, ring, now)
        if left:
            soak = f"soaking: {_duration(left)} left of {_duration(gate.soak or timedelta())}"
            return _pending(state, index, ring, (soak,), outcomes, actions)
    passed = _passed_reasons(gate, outcomes, ring)
    ring = dataclasses.replace(ring, phase=RingPhase.PASSED, last_verdict=Verdict.PASS.value)
    return _advance(gates, state, index, ring, freeze, now, passed, outcomes, actions)


def _observe(
    ring: RingState,
    outcomes: RingOutcomes,
    alerts: frozenset[str],
    policy: GatePolicy,
    now: datetime,
) -> tuple[RingState, list[Action]]:
    """Remember the counts; raise a stuck alert once, clear it (and read errors) when they move."""
    actions: list[Action] = []
    moved = ring.counts != outcomes.counts
    since = now if moved or ring.counts_since is None else ring.counts_since
    ring = dataclasses.replace(ring, counts=outcomes.counts, counts_since=since, read_errors=0)
    if f"read-errors:{ring.name}" in alerts:
        actions.append(ClearAlert("read-errors", ring.name))
    stuck_key = f"stuck:{ring.name}"
    fresh = now - outcomes.as_of <= policy.fresh_within
    stuck = outcomes.pending > 0 and fresh and now - since > policy.stuck_after
    if stuck and stuck_key not in alerts:
        reason = (
            f"{ring.name}: {outcomes.pending} devices pending and no count has moved for "
            f"{_duration(now - since)} (limit {_duration(policy.stuck_after)})"
        )
        actions.append(Alert("stuck", ring.name, reason))
    elif not stuck and stuck_key in alerts:
        actions.append(ClearAlert("stuck", ring.name))
    return ring, actions


def _alerts_after(alerts: frozenset[str], actions: Sequence[Action]) -> frozenset[str]:
    raised = {f"{a.kind}:{a.ring}" for a in actions if isinstance(a, Alert)}
    cleared = {f"{a.kind}:{a.ring}" for a in actions if isinstance(a, ClearAlert)}
    return (alerts | raised) - cleared


def _failure(gate: RingGate, outcomes: RingOutcomes, share: Fraction) -> str | None:
    """Why the gate failed, if it did: too many failures, or a success rate it cannot reach."""
    if gate.max_failures is not None and outcomes.failed > gate.max_failures:
        return f"{outcomes.failed} devices failed to install; the gate allows {gate.max_failures}"
    minimum = gate.min_success_percent
    if minimum is None or not outcomes.failed:
        return None
    rate = outcomes.success_rate
    if rate is not None and rate * 100 < minimum and _reached(outcomes, share):
        return f"success rate {percent(rate)} is below the gate's {minimum} %"
    # Even if every device still to report installed, the rate would stay below the gate.
    unknown = max(outcomes.targeted - outcomes.reported, outcomes.pending)
    best = Fraction(outcomes.installed + unknown, outcomes.installed + unknown + outcomes.failed)
    if best * 100 < minimum:
        return (
            f"{outcomes.failed} failures: the success rate can reach at most {percent(best)}, "
            f"below the gate's {minimum} %"
        )
    return None


def _reached(outcomes: RingOutcomes, share: Fraction) -> bool:
    return outcomes.targeted > 0 and Fraction(outcomes.reported, outcomes.targeted) >= share


def _share(outcomes: RingOutcomes) -> str:
    if not outcomes.targeted:
        return "0 %"
    return percent(Fraction(outcomes.reported, outcomes.targeted))


def _unreported(outcomes: RingOutcomes, gate: RingGate) -> str:
    deadline = gate.deadline.isoformat() if gate.deadline else "the deadline"
    if not outcomes.targeted:
        return f"the plane reports no device in {gate.name}'s target after {deadline}"
    return (
        f"{outcomes.pending or outcomes.targeted - outcomes.reported} of {outcomes.targeted} "
        f"devices have not reported after {deadline} ({_share(outcomes)} reported): the CAB decides"
    )


def _passed_reasons(gate: RingGate, outcomes: RingOutcomes, ring: RingState) -> tuple[str, ...]:
    counts = (
        f"{outcomes.installed} installed, {outcomes.failed} failed, "
        f"{outcomes.pending} pending of {outcomes.targeted}"
    )
    reasons = [f"success rate {percent(outcomes.success_rate)} ({counts})"]
    if ring.soak_waived_by is not None:
        reasons.append(f"promoted by @{ring.soak_waived_by} (soak and reporting waived)")
    elif gate.soak is not None:
        reasons.append(f"soaked {_duration(gate.soak)}")
    return tuple(reasons)


def _advance(  # noqa: PLR0913, PLR0917 - one passed ring's facts
    gates: Sequence[RingGate],
    state: RolloutState,
    index: int,
    ring: RingState,
    freeze: Freeze,
    now: datetime,
    reasons: tuple[str, ...],
    outcomes: RingOutcomes | None,
    actions: Sequence[Action] = (),
) -> Decision:
    """A passed ring: complete the rollout, promote the next ring, or say what holds it."""
    rings = list(state.rings)
    rings[index] = ring
    if index + 1 >= len(rings):
        done = dataclasses.replace(state, rings=tuple(rings), phase=RolloutPhase.COMPLETE)
        return Decision(
            verdict=Verdict.PASS,
            ring=ring.name,
            reasons=(*reasons, "last ring: the rollout is complete"),
            actions=(*actions, Complete()),
            state=done,
            outcomes=outcomes,
        )
    following = gates[index + 1]
    waits: list[str] = []
    if state.phase != RolloutPhase.ACTIVE:
        waits.append(f"the rollout is held: {state.reason}")
    if following.start is not None and now < following.start:
        waits.append(f"{following.name} starts at {following.start.isoformat()}")
    waits.extend(f"freeze window '{name}'" for name in freeze.hit(now))
    if waits:
        held = dataclasses.replace(state, rings=tuple(rings))
        return Decision(
            verdict=Verdict.PASS,
            ring=ring.name,
            reasons=(*reasons, *(f"promotion waits: {w}" for w in waits)),
            actions=tuple(actions),
            state=held,
            outcomes=outcomes,
        )
    rings[index + 1] = dataclasses.replace(rings[index + 1], phase=RingPhase.ACTIVE, started_at=now)
    promoted = dataclasses.replace(state, rings=tuple(rings))
    return Decision(
        verdict=Verdict.PASS,
        ring=ring.name,
        reasons=(*reasons, f"promote {following.name}"),
        actions=(*actions, Promote(following.name, index + 1)),
        state=promoted,
        outcomes=outcomes,
    )


def _halt(  # noqa: PLR0913, PLR0917 - one failed ring's facts
    state: RolloutState,
    index: int,
    ring: RingState,
    outcomes: RingOutcomes,
    actions: Sequence[Action],
    reason: str,
) -> Decision:
    ring = dataclasses.replace(ring, phase=RingPhase.FAILED, last_verdict=Verdict.FAIL.value)
    rings = list(state.rings)
    rings[index] = ring
    halted = dataclasses.replace(
        state, rings=tuple(rings), phase=RolloutPhase.HALTED, reason=f"{ring.name}: {reason}"
    )
    return Decision(
        verdict=Verdict.FAIL,
        ring=ring.name,
        reasons=(reason,),
        actions=(*actions, Halt(ring.name, reason)),
        state=halted,
        outcomes=outcomes,
    )


def _hold(  # noqa: PLR0913, PLR0917 - one inconclusive ring's facts
    state: RolloutState,
    index: int,
    ring: RingState,
    outcomes: RingOutcomes,
    actions: Sequence[Action],
    reason: str,
) -> Decision:
    already = state.phase == RolloutPhase.HELD and ring.phase == RingPhase.HELD
    ring = dataclasses.replace(ring, phase=RingPhase.HELD, last_verdict=Verdict.INCONCLUSIVE.value)
    rings = list(state.rings)
    rings[index] = ring
    held = dataclasses.replace(
        state,
        rings=tuple(rings),
        phase=RolloutPhase.HELD,
        reason=state.reason if already else f"{ring.name}: {reason}",
    )
    new = () if already else (Hold(ring.name, reason),)
    return Decision(
        verdict=Verdict.INCONCLUSIVE,
        ring=ring.name,
        reasons=(reason,),
        actions=(*actions, *new),
        state=held,
        outcomes=outcomes,
    )


def _pending(  # noqa: PLR0913, PLR0917 - one undecided ring's facts
    state: RolloutState,
    index: int,
    ring: RingState,
    reasons: tuple[str, ...],
    outcomes: RingOutcomes | None = None,
    actions: Sequence[Action] = (),
) -> Decision:
    ring = dataclasses.replace(ring, last_verdict=Verdict.PENDING.value)
    rings = list(state.rings)
    rings[index] = ring
    return Decision(
        verdict=Verdict.PENDING,
        ring=ring.name,
        reasons=reasons,
        actions=tuple(actions),
        state=dataclasses.replace(state, rings=tuple(rings)),
        outcomes=outcomes,
    )


def _read_failed(
    state: RolloutState, index: int, ring: RingState, failure: ReadFailure, policy: GatePolicy
) -> Decision:
    errors = ring.read_errors + 1
    ring = dataclasses.replace(ring, read_errors=errors, last_verdict=Verdict.ERROR.value)
    rings = list(state.rings)
    rings[index] = ring
    key = f"read-errors:{ring.name}"
    actions: tuple[Action, ...] = ()
    alerts = state.alerts
    reason = f"reading {ring.name}'s install outcomes failed ({errors} in a row): {failure.message}"
    if errors > policy.read_error_budget and key not in alerts:
        actions = (Alert("read-errors", ring.name, reason),)
        alerts = alerts | {key}
    return Decision(
        verdict=Verdict.ERROR,
        ring=ring.name,
        reasons=(reason,),
        actions=actions,
        state=dataclasses.replace(state, rings=tuple(rings), alerts=alerts),
    )


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _duration(delta: timedelta) -> str:
    """A duration as people read it: ``2 d 4 h``, ``3 h 20 min``, ``45 s``."""
    seconds = int(delta.total_seconds())
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{days} d" if days else "", f"{hours} h" if hours else ""]
    parts.append(f"{minutes} min" if minutes and not days else "")
    text = " ".join(p for p in parts if p)
    return text or f"{secs} s"


def promote(state: RolloutState, ring: str | None, by: str) -> RolloutState | str:
    """``/eucora promote``: waive the watched ring's soak and wait for reports, or say why not.

    Never passes a failed gate: a halted rollout stays halted. A held rollout runs again.
    """
    if state.phase in FINAL_PHASES:
        return f"{state.intent} {state.version} is {state.phase.value}: nothing to promote"
    index = state.current
    watched = state.rings[index]
    if ring is not None and ring != watched.name:
        return (
            f"{state.intent} is watching {watched.name}, not {ring}: rings are promoted in "
            "order, never skipped"
        )
    rings = list(state.rings)
    phase = RingPhase.ACTIVE if watched.phase == RingPhase.HELD else watched.phase
    rings[index] = dataclasses.replace(watched, phase=phase, soak_waived_by=by)
    return dataclasses.replace(state, rings=tuple(rings), phase=RolloutPhase.ACTIVE, reason="")


def halt(state: RolloutState, by: str) -> RolloutState | str:
    """``/eucora halt``: hold the rollout until ``/eucora resume`` (nothing more is promoted)."""
    if state.phase in FINAL_PHASES:
        return f"{state.intent} {state.version} is already {state.phase.value}"
    return dataclasses.replace(state, phase=RolloutPhase.HELD, reason=f"halted by @{by}")


def resume(state: RolloutState, by: str) -> RolloutState | str:
    """``/eucora resume``: a held rollout runs again and its gate is decided afresh."""
    if state.phase != RolloutPhase.HELD:
        return f"{state.intent} {state.version} is {state.phase.value}, not held (asked by @{by})"
    rings = tuple(
        dataclasses.replace(r, phase=RingPhase.ACTIVE) if r.phase == RingPhase.HELD else r
        for r in state.rings
    )
    return dataclasses.replace(state, rings=rings, phase=RolloutPhase.ACTIVE, reason="")


def retire(state: RolloutState, pr: int) -> RolloutState:
    """The merge of pull request ``pr`` deleted the intent: this rollout stops promoting."""
    if state.phase in FINAL_PHASES:
        return state
    return dataclasses.replace(
        state, phase=RolloutPhase.SUPERSEDED, reason=f"retired by the merge of #{pr}"
    )


def supersede(state: RolloutState, version: str) -> RolloutState:
    """A newer version of the intent was merged: this rollout stops promoting."""
    if state.phase in FINAL_PHASES:
        return state
    return dataclasses.replace(
        state, phase=RolloutPhase.SUPERSEDED, reason=f"superseded by version {version}"
    )
