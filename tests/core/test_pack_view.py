"""The typed view of a check pack reads the pack's own values and never changes the pack."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from bot.core.evidence import canonical_json
from bot.core.pack_view import CheckPackView
from tests.support.packs import SCHEMA, VALIDATOR, make_pack, passing_pack

PROPERTIES = [name for name, value in vars(CheckPackView).items() if isinstance(value, property)]


def test_every_property_reads_a_schema_valid_pack_without_changing_its_bytes() -> None:
    pack = make_pack()
    VALIDATOR.validate(pack)
    before = canonical_json(copy.deepcopy(pack))
    view = CheckPackView.of(pack)
    read = {name: getattr(view, name) for name in PROPERTIES}
    assert canonical_json(pack) == before
    assert set(read) >= {"repository", "head", "risk_tier", "approvals_required", "findings"}


@pytest.mark.parametrize(
    ("name", "path"),
    [
        ("repository", ("repository",)),
        ("base", ("base",)),
        ("head", ("head",)),
        ("merge_base", ("mergeBase",)),
        ("evaluated_at", ("evaluatedAt",)),
        ("labels", ("labels",)),
        ("changes", ("changes",)),
        ("other_files", ("otherFiles",)),
        ("findings", ("findings",)),
        ("waivers", ("waivers",)),
        ("policy_digest", ("policy", "digest")),
        ("risk", ("risk",)),
        ("risk_score", ("risk", "score")),
        ("risk_tier", ("risk", "tier")),
        ("risk_factors", ("risk", "factors")),
        ("approvals", ("approvals",)),
        ("approvals_required", ("approvals", "required")),
        ("approval_reasons", ("approvals", "reasons")),
        ("decision", ("decision",)),
        ("conclusion", ("decision", "conclusion")),
        ("decision_reasons", ("decision", "reasons")),
    ],
)
def test_a_property_is_the_packs_own_value_at_its_schema_name(
    name: str, path: tuple[str, ...]
) -> None:
    pack = make_pack()
    value = at_schema_name(pack, "checkPack", path)
    assert getattr(CheckPackView.of(pack), name) is value  # the pack's object, not a copy


def at_schema_name(pack: Mapping[str, Any], definition: str, path: Sequence[str]) -> Any:
    """The pack's value at ``path``, each name of which the schema's ``definition`` declares."""
    value: Any = pack
    schema = SCHEMA["$defs"][definition]
    for key in path:
        assert key in schema["properties"], f"{key} is not in the evidence schema"
        schema = schema["properties"][key]
        value = value[key]
    return value


def test_every_property_is_pinned_to_a_schema_name() -> None:
    tested = {
        "repository", "base", "head", "merge_base", "evaluated_at", "labels", "changes",
        "other_files", "findings", "waivers", "policy_digest", "risk", "risk_score", "risk_tier",
        "risk_factors", "approvals", "approvals_required", "approval_reasons", "decision",
        "conclusion", "decision_reasons",
    }  # fmt: skip
    derived = {"blocked", "policy_preview", "approval_routes"}
    assert set(PROPERTIES) == tested | derived


def test_blocked_and_the_optional_parts() -> None:
    blocked = CheckPackView.of(make_pack(decision={"conclusion": "blocked", "reasons": ["r"]}))
    assert blocked.blocked
    assert blocked.decision_reasons == ["r"]
    passing = CheckPackView.of(passing_pack())
    assert not passing.blocked
    bare = {k: v for k, v in make_pack().items() if k not in {"policyPreview", "labels"}}
    assert CheckPackView.of(bare).policy_preview == []
    assert CheckPackView.of(bare).labels == ()
    preview = [
        {"intent": "a", "path": "p", "nowMatches": [], "noLongerMatches": [], "wouldBlock": False}
    ]
    assert CheckPackView.of(make_pack(policyPreview=preview)).policy_preview is preview
