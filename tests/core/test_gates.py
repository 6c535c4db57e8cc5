"""Ring gates: named cases for each rule, and properties that hold for any inputs."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core import gates
from bot.core.gates import (
    Alert,
    ClearAlert,
    Complete,
    Freeze,
    Halt,
    Hold,
    Promote,
    RingGate,
    Verdict,
    decide,
    new_rollout,
    ring_gates,
)
from bot.core.rollout_model import (
    GatePolicy,
    ReadFailure,
    RingOutcomes,
    RingPhase,
    RolloutPhase,
    RolloutState,
)

T0 = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
POLICY = GatePolicy()


def intent(**ring_overrides: object) -> dict[str, object]:
    rings = [
        {
            "name": "lab",
            "target": "lab-group",
            "devices": 10,
            "assignment": "required",
            "gate": {"minSuccessPercent": 90, "soak": "PT24H", "maxFailures": 1},
        },
        {
            "name": "pilot",
            "target": "pilot-group",
            "devices": 100,
            "assignment": "required",
            "gate": {"minSuccessPercent": 95, "soak": "P2D", "maxFailures": 5},
        },
        {"name": "broad", "target": "broad-group", "devices": 1000, "assignment": "required"},
    ]
    rings[0].update(ring_overrides)
    return {"metadata": {"name": "chrome"}, "app": {"version": "131.0"}, "rings": rings}


GATES = ring_gates(intent())


def start(gates_: tuple[RingGate, ...] = GATES) -> RolloutState:
    return new_rollout(
        intent="chrome", version="131.0", plane="intune", gates=gates_, started_at=T0
    )


def outcomes(
    installed: int, failed: int = 0, pending: int = 0, *, targeted: int = 10, as_of: datetime = T0
) -> RingOutcomes:
    return RingOutcomes(
        targeted=targeted, installed=installed, failed=failed, pending=pending, as_of=as_of
    )


def run(  # noqa: PLR0913
    state: RolloutState,
    reading: object,
    now: datetime,
    *,
    freeze: Freeze | None = None,
    gates_: tuple[RingGate, ...] = GATES,
    policy: GatePolicy = POLICY,
) -> gates.Decision:
    ring = state.rings[state.current].name
    readings = {} if reading is None else {ring: reading}
    return decide(
        gates=gates_,
        state=state,
        readings=readings,  # type: ignore[arg-type]
        policy=policy,
        freeze=freeze or Freeze(),
        now=now,
    )


def test_ring_gates_reads_the_intent() -> None:
    lab, pilot, broad = GATES
    assert (lab.min_success_percent, lab.soak, lab.max_failures) == (90, timedelta(hours=24), 1)
    assert pilot.soak == timedelta(days=2)
    assert broad.has_gate is False
    assert broad.min_success_percent is None


def test_a_healthy_ring_soaks_from_the_moment_enough_devices_reported_then_promotes() -> None:
    state = start()
    first = run(
        state, outcomes(9, pending=1, as_of=T0 + timedelta(hours=2)), T0 + timedelta(hours=2)
    )
    assert first.verdict is Verdict.PENDING
    assert first.state.rings[0].reporting_since == T0 + timedelta(hours=2)
    assert "soaking: 1 d left of 1 d" in first.reasons[0]
    later = T0 + timedelta(hours=26, minutes=1)
    second = run(first.state, outcomes(10, as_of=later), later)
    assert second.verdict is Verdict.PASS
    assert second.actions == (Promote("pilot", 1),)
    assert second.state.current == 1
    assert second.state.rings[1].started_at == later
    assert second.state.rings[0].phase is RingPhase.PASSED


def test_too_few_reports_never_pass_and_the_soak_restarts_when_the_share_drops() -> None:
    state = start()
    low = run(state, outcomes(8, pending=2), T0 + timedelta(days=5))
    assert low.verdict is Verdict.PENDING
    assert "80 % of 10 devices reported" in low.reasons[0]
    reached = run(
        low.state, outcomes(9, pending=1, as_of=T0 + timedelta(days=5)), T0 + timedelta(days=5)
    )
    assert reached.state.rings[0].reporting_since == T0 + timedelta(days=5)
    # The group grew: the share falls below 90 %, the soak starts again when it is back.
    grown = outcomes(9, pending=3, targeted=12, as_of=T0 + timedelta(days=6))
    dropped = run(reached.state, grown, T0 + timedelta(days=6))
    assert dropped.state.rings[0].reporting_since is None


def test_max_failures_fails_the_gate_and_halts() -> None:
    decision = run(start(), outcomes(5, failed=2, pending=3), T0 + timedelta(hours=1))
    assert decision.verdict is Verdict.FAIL
    assert decision.actions == (Halt("lab", "2 devices failed to install; the gate allows 1"),)
    assert decision.state.phase is RolloutPhase.HALTED
    assert decision.state.rings[0].phase is RingPhase.FAILED


def test_a_success_rate_below_the_gate_fails_once_enough_reported() -> None:
    gates_ = ring_gates(intent(gate={"minSuccessPercent": 95}))
    state = start(gates_)
    decision = run(state, outcomes(18, failed=1, pending=1, targeted=20), T0, gates_=gates_)
    assert decision.verdict is Verdict.FAIL
    assert decision.reasons == ("success rate 94.7 % is below the gate's 95 %",)


def test_a_rate_that_can_no_longer_be_reached_fails_before_the_share_is_reached() -> None:
    gates_ = ring_gates(intent(gate={"minSuccessPercent": 90}))
    decision = run(start(gates_), outcomes(1, failed=2, pending=7), T0, gates_=gates_)
    assert decision.verdict is Verdict.FAIL
    assert "can reach at most 80 %" in decision.reasons[0]


def test_pending_devices_past_the_deadline_hold_for_the_cab_instead_of_passing() -> None:
    deadline = T0 + timedelta(hours=12)
    gates_ = ring_gates(intent(schedule={"deadline": deadline.isoformat()}))
    state = start(gates_)
    reached = run(state, outcomes(9, pending=1, as_of=T0), T0, gates_=gates_)
    after = T0 + timedelta(days=3)
    decision = run(reached.state, outcomes(9, pending=1, as_of=after), after, gates_=gates_)
    assert decision.verdict is Verdict.INCONCLUSIVE
    assert isinstance(decision.actions[-1], Hold)
    assert decision.state.phase is RolloutPhase.HELD
    again = run(decision.state, outcomes(9, pending=1, as_of=after), after, gates_=gates_)
    assert again.verdict is Verdict.INCONCLUSIVE
    assert again.actions == ()


def test_a_ring_the_plane_says_is_empty_is_inconclusive_at_its_deadline() -> None:
    deadline = T0 + timedelta(hours=1)
    gates_ = ring_gates(intent(schedule={"deadline": deadline.isoformat()}))
    decision = run(start(gates_), outcomes(0, targeted=0), T0 + timedelta(hours=2), gates_=gates_)
    assert decision.verdict is Verdict.INCONCLUSIVE
    assert "no device in lab's target" in decision.reasons[0]


def test_read_errors_wait_within_the_budget_then_alert_once_and_clear() -> None:
    state = start()
    for count in range(1, 5):
        decision = run(state, ReadFailure("HTTP 503"), T0 + timedelta(minutes=count))
        assert decision.verdict is Verdict.ERROR
        assert decision.actions == ()
        state = decision.state
    fifth = run(state, ReadFailure("HTTP 503"), T0 + timedelta(minutes=5))
    assert [type(a) for a in fifth.actions] == [Alert]
    sixth = run(fifth.state, ReadFailure("HTTP 503"), T0 + timedelta(minutes=6))
    assert sixth.actions == ()
    healed = run(sixth.state, outcomes(1, pending=9), T0 + timedelta(minutes=7))
    assert ClearAlert("read-errors", "lab") in healed.actions
    assert healed.state.rings[0].read_errors == 0
    assert healed.state.alerts == frozenset()


def test_counts_that_stand_still_on_fresh_data_raise_one_stuck_alert() -> None:
    state = run(start(), outcomes(5, pending=5), T0).state
    later = T0 + timedelta(hours=25)
    stuck = run(state, outcomes(5, pending=5, as_of=later), later)
    assert [a.kind for a in stuck.actions if isinstance(a, Alert)] == ["stuck"]
    again = run(stuck.state, outcomes(5, pending=5, as_of=later), later + timedelta(hours=1))
    assert again.actions == ()
    moved = run(again.state, outcomes(6, pending=4, as_of=later), later + timedelta(hours=2))
    assert moved.actions == (ClearAlert("stuck", "lab"),)


def test_stale_plane_data_is_not_called_stuck() -> None:
    state = run(start(), outcomes(5, pending=5), T0).state
    later = T0 + timedelta(hours=30)
    decision = run(state, outcomes(5, pending=5, as_of=T0), later)
    assert decision.actions == ()


def test_the_next_rings_start_and_a_freeze_window_hold_the_promotion() -> None:
    pilot_start = T0 + timedelta(days=3)
    data = intent()
    data["rings"][1]["schedule"] = {"start": pilot_start.isoformat()}  # type: ignore[index]
    gates_ = ring_gates(data)
    state = run(start(gates_), outcomes(10, as_of=T0), T0, gates_=gates_).state
    day2 = T0 + timedelta(days=2)
    waiting = run(state, outcomes(10, as_of=day2), day2, gates_=gates_)
    assert waiting.verdict is Verdict.PASS
    assert waiting.actions == ()
    assert any("pilot starts at" in r for r in waiting.reasons)
    freeze = Freeze(
        config={
            "freezeWindows": [
                {"name": "year end", "start": "2027-03-01T00:00:00Z", "end": "2027-03-31T00:00:00Z"}
            ]
        }
    )
    day4 = T0 + timedelta(days=4)
    frozen = run(waiting.state, None, day4, gates_=gates_, freeze=freeze)
    assert frozen.actions == ()
    assert "promotion waits: freeze window 'year end'" in frozen.reasons
    emergency = dataclasses.replace(freeze, emergency=True)
    go = run(waiting.state, None, day4, gates_=gates_, freeze=emergency)
    assert go.actions == (Promote("pilot", 1),)


def test_a_ring_without_a_gate_waits_for_a_person() -> None:
    data = intent()
    del data["rings"][0]["gate"]  # type: ignore[index]
    gates_ = ring_gates(data)
    state = start(gates_)
    waiting = run(state, outcomes(10), T0 + timedelta(days=9), gates_=gates_)
    assert waiting.verdict is Verdict.PENDING
    assert "lab has no gate: the next ring starts by /eucora promote" in waiting.reasons
    promoted = gates.promote(waiting.state, None, "cab-lead")
    assert isinstance(promoted, RolloutState)
    moved = run(promoted, outcomes(10), T0 + timedelta(days=9), gates_=gates_)
    assert moved.actions == (Promote("pilot", 1),)


def test_the_last_ring_completes_once_enough_reported_without_soak_or_person() -> None:
    state = start()
    rings = (
        dataclasses.replace(state.rings[0], phase=RingPhase.PASSED),
        dataclasses.replace(state.rings[1], phase=RingPhase.PASSED),
        dataclasses.replace(state.rings[2], phase=RingPhase.ACTIVE, started_at=T0),
    )
    state = dataclasses.replace(state, rings=rings)
    broad = lambda n, p: outcomes(n, pending=p, targeted=1000, as_of=T0)  # noqa: E731
    assert run(state, broad(800, 200), T0).verdict is Verdict.PENDING
    done = run(state, broad(950, 50), T0)
    assert done.actions == (Complete(),)
    assert done.state.phase is RolloutPhase.COMPLETE


def test_promote_waives_the_soak_but_never_a_failure_and_never_skips_a_ring() -> None:
    state = start()
    soaking = run(state, outcomes(10), T0 + timedelta(hours=1)).state
    assert gates.promote(soaking, "broad", "cab") == (
        "chrome is watching lab, not broad: rings are promoted in order, never skipped"
    )
    promoted = gates.promote(soaking, "lab", "cab")
    assert isinstance(promoted, RolloutState)
    decision = run(promoted, outcomes(10), T0 + timedelta(hours=1))
    assert decision.actions == (Promote("pilot", 1),)
    assert "promoted by @cab" in decision.reasons[1]
    failed = run(soaking, outcomes(7, failed=3), T0 + timedelta(hours=2))
    assert failed.verdict is Verdict.FAIL
    refused = gates.promote(failed.state, None, "cab")
    assert refused == "chrome 131.0 is halted: nothing to promote"


def test_halt_holds_and_resume_runs_again() -> None:
    state = run(start(), outcomes(10), T0).state
    halted = gates.halt(state, "cab")
    assert isinstance(halted, RolloutState)
    later = T0 + timedelta(days=2)
    held = run(halted, outcomes(10, as_of=later), later)
    assert held.verdict is Verdict.PASS
    assert held.actions == ()
    assert "promotion waits: the rollout is held: halted by @cab" in held.reasons
    assert gates.resume(state, "cab") == "chrome 131.0 is active, not held (asked by @cab)"
    resumed = gates.resume(held.state, "cab")
    assert isinstance(resumed, RolloutState)
    assert run(resumed, outcomes(10, as_of=later), later).actions == (Promote("pilot", 1),)


def test_a_superseded_rollout_does_nothing() -> None:
    state = gates.supersede(start(), "132.0")
    decision = run(state, outcomes(10), T0 + timedelta(days=9))
    assert decision.actions == ()
    assert decision.reasons == ("superseded by version 132.0",)


def test_counts_cannot_be_negative() -> None:
    with pytest.raises(ValueError, match="cannot be negative"):
        outcomes(-1)


def test_percent_is_exact_and_rounds_down() -> None:
    assert gates.percent(Fraction(1, 3)) == "33.3 %"
    assert gates.percent(Fraction(1)) == "100 %"
    assert gates.percent(None) == "n/a"


# Properties -------------------------------------------------------------------------------------

counts = st.integers(min_value=0, max_value=60)
readings = st.one_of(
    st.builds(
        lambda i, f, p, extra, hours: RingOutcomes(
            targeted=i + f + p + extra,
            installed=i,
            failed=f,
            pending=p,
            as_of=T0 + timedelta(hours=hours),
        ),
        counts,
        st.integers(min_value=0, max_value=6),
        counts,
        st.integers(min_value=0, max_value=5),
        st.integers(min_value=0, max_value=200),
    ),
    st.just(ReadFailure("timeout")),
)
steps = st.lists(st.tuples(readings, st.integers(min_value=0, max_value=48)), max_size=25)


def _play(
    steps_: list[tuple[object, int]],
) -> list[tuple[gates.Decision, RolloutState, dict, datetime]]:
    state, now, seen = start(), T0, []
    for reading, advance in steps_:
        now += timedelta(hours=advance)
        decision = run(state, reading, now)
        seen.append((decision, state, {state.rings[state.current].name: reading}, now))
        state = decision.state
    return seen


@settings(max_examples=300, deadline=None)
@given(steps)
def test_deciding_again_on_the_same_inputs_asks_for_nothing_new(
    steps_: list[tuple[object, int]],
) -> None:
    for decision, _before, readings_, now in _play(steps_):
        again = decide(
            gates=GATES,
            state=decision.state,
            readings=readings_,
            policy=POLICY,
            freeze=Freeze(),
            now=now,
        )
        if all(isinstance(r, RingOutcomes) for r in readings_.values()):
            assert again.actions == ()
        else:  # a failed read counts again, but never moves the rollout
            assert not [a for a in again.actions if isinstance(a, Promote | Halt | Hold | Complete)]


@settings(max_examples=300, deadline=None)
@given(steps)
def test_rings_are_promoted_in_order_and_a_halted_rollout_never_promotes(
    steps_: list[tuple[object, int]],
) -> None:
    halted = False
    for decision, before, _reading, _now in _play(steps_):
        for action in decision.actions:
            if isinstance(action, Promote):
                assert not halted
                assert action.index == before.current + 1
        halted = halted or decision.state.phase is RolloutPhase.HALTED


@settings(max_examples=300, deadline=None)
@given(steps)
def test_a_failed_gate_never_passes_by_waiting(steps_: list[tuple[object, int]]) -> None:
    failed_at: str | None = None
    for decision, _before, _reading, _now in _play(steps_):
        if failed_at is not None:
            assert decision.verdict is Verdict.FAIL
            assert decision.actions == ()
        if decision.verdict is Verdict.FAIL:
            failed_at = decision.ring


def test_the_gate_policy_comes_from_eucora_yaml_with_defaults() -> None:
    from bot.core.rollout_model import gate_policy

    assert gate_policy({}) == GatePolicy()
    policy = gate_policy(
        {"rollouts": {"reportingSharePercent": 100, "stuckAfter": "PT12H", "readErrorBudget": 6}}
    )
    assert policy.reporting_share == Fraction(1)
    assert policy.stuck_after == timedelta(hours=12)
    assert policy.read_error_budget == 6
    assert gate_policy({"rollouts": {"stuckAfter": "P2D"}}).reporting_share == Fraction(9, 10)
