"""Drift: named cases for each kind, and properties of the comparison."""

from __future__ import annotations

import dataclasses

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.drift import (
    Assignment,
    Desired,
    DriftKind,
    DriftMode,
    IgnoreRule,
    Marker,
    Observed,
    ObserveFailure,
    compare,
    drift_settings,
)

MARKER = Marker(name="chrome", version="131.0", evidence="sha256:" + "a" * 64)
DESIRED = Desired(
    plane="intune",
    intent="chrome",
    version="131.0",
    marker=MARKER,
    rings={
        "lab": Assignment(group="3F2C9A51-8A4E-4B7D-9C1E-0D5B6A7F8E21", intent="required"),
        "pilot": Assignment(group="9b0c7f3e-1d2a-4c5b-8e6f-7a8b9c0d1e2f", intent="available"),
    },
)


def matching() -> Observed:
    return Observed(
        present=True,
        version="131.0",
        marker=MARKER,
        assignments=(
            Assignment(group="9b0c7f3e-1d2a-4c5b-8e6f-7a8b9c0d1e2f", intent="available"),
            Assignment(group="3f2c9a51-8a4e-4b7d-9c1e-0d5b6a7f8e21", intent="required"),
        ),
    )


def kinds(observed: Observed, ignore: tuple[IgnoreRule, ...] = ()) -> list[tuple[str, str]]:
    return [(i.field, i.kind.value) for i in compare(DESIRED, observed, ignore).items]


def test_the_same_state_in_another_order_and_case_is_no_drift() -> None:
    report = compare(DESIRED, matching())
    assert not report.drifted
    assert report.error is None


def test_a_deleted_object_is_one_item() -> None:
    report = compare(DESIRED, Observed(present=False))
    assert [(i.kind, i.git, i.plane) for i in report.items] == [
        (DriftKind.OBJECT_DELETED, "chrome 131.0", "absent")
    ]


def test_a_failed_read_is_an_error_never_drift() -> None:
    report = compare(DESIRED, ObserveFailure("HTTP 503 from Graph"))
    assert not report.drifted
    assert report.error == "HTTP 503 from Graph"


def test_version_replaced_in_the_console() -> None:
    observed = dataclasses.replace(matching(), version="130.0")
    items = compare(DESIRED, observed).items
    assert [(i.field, i.kind, i.git, i.plane) for i in items] == [
        ("/app/version", DriftKind.VERSION_REPLACED, "131.0", "130.0")
    ]


def test_assignment_intent_changed_group_removed_and_an_extra_group() -> None:
    observed = dataclasses.replace(
        matching(),
        assignments=(
            Assignment(group="3f2c9a51-8a4e-4b7d-9c1e-0d5b6a7f8e21", intent="available"),
            Assignment(group="00000000-0000-4000-8000-000000000001", intent="required"),
        ),
    )
    assert kinds(observed) == [
        ("/rings", "extra-group"),
        ("/rings/0/assignment", "assignment-changed"),
        ("/rings/1/target", "group-removed"),
    ]


def test_an_object_without_our_marker() -> None:
    observed = dataclasses.replace(matching(), marker=None)
    assert kinds(observed) == [("/metadata/name", "marker-missing")]


def test_ignore_rules_drop_what_a_team_accepts() -> None:
    observed = dataclasses.replace(matching(), version="130.0", marker=None)
    assert kinds(observed, (IgnoreRule(plane="intune", intent="chr*", field="/app/version"),)) == [
        ("/metadata/name", "marker-missing")
    ]
    assert kinds(observed, (IgnoreRule(plane="jamf", field="/app/version"),)) == [
        ("/app/version", "version-replaced"),
        ("/metadata/name", "marker-missing"),
    ]
    extra = dataclasses.replace(
        matching(),
        assignments=(*matching().assignments, Assignment(group="other", intent="required")),
    )
    assert kinds(extra, (IgnoreRule(field="/rings"),)) == []


def test_drift_settings_from_the_config() -> None:
    settings_ = drift_settings(
        {"drift": {"mode": "remediate", "ignore": [{"plane": "jamf", "field": "/rings"}]}}
    )
    assert settings_.mode is DriftMode.REMEDIATE
    assert settings_.ignore == (IgnoreRule(plane="jamf", intent="*", field="/rings"),)
    assert drift_settings({}).mode is DriftMode.WARN


groups = st.lists(
    st.from_regex(r"[0-9a-f]{8}-[0-9a-f]{4}", fullmatch=True), min_size=1, max_size=5, unique=True
)
intents_ = st.sampled_from(["required", "available", "uninstall"])


@st.composite
def worlds(draw: st.DrawFn) -> tuple[Desired, Observed]:
    chosen = draw(groups)
    wanted = {f"r{i}": Assignment(group=g, intent=draw(intents_)) for i, g in enumerate(chosen)}
    desired = dataclasses.replace(DESIRED, rings=wanted)
    held = [Assignment(group=a.group.upper(), intent=a.intent) for a in wanted.values()]
    held = draw(st.permutations(held))
    observed = Observed(
        present=True, version=desired.version, marker=MARKER, assignments=tuple(held)
    )
    return desired, observed


@settings(max_examples=200, deadline=None)
@given(worlds())
def test_desired_equal_to_actual_is_no_drift_whatever_the_order_or_case(
    world: tuple[Desired, Observed],
) -> None:
    desired, observed = world
    assert compare(desired, observed).items == ()


@settings(max_examples=200, deadline=None)
@given(worlds(), st.lists(st.tuples(st.sampled_from(["drop", "flip", "add"]), st.integers(0, 4))))
def test_the_same_inputs_give_the_same_drift(
    world: tuple[Desired, Observed], edits: list[tuple[str, int]]
) -> None:
    desired, observed = world
    held = list(observed.assignments)
    for edit, index in edits:
        if edit == "drop" and held:
            held.pop(index % len(held))
        elif edit == "flip" and held:
            at = index % len(held)
            held[at] = Assignment(group=held[at].group, intent="uninstall")
        elif edit == "add":
            held.append(Assignment(group=f"extra-{index}", intent="required"))
    edited = dataclasses.replace(observed, assignments=tuple(held))
    first = compare(desired, edited)
    assert first == compare(desired, edited)
    assert first == compare(desired, dataclasses.replace(edited, assignments=tuple(reversed(held))))


@settings(max_examples=100, deadline=None)
@given(worlds(), st.text(min_size=1, max_size=40))
def test_a_failed_read_never_yields_drift(world: tuple[Desired, Observed], message: str) -> None:
    desired, _ = world
    report = compare(desired, ObserveFailure(message))
    assert report.items == ()
    assert report.error == message
