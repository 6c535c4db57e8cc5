"""The typed view of a check pack reads the pack's own values and never changes the pack."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from bot.core.evidence import canonical_json
from bot.core.pack_view import CheckPackView, PackShapeError
from bot.core.render.check_markdown import render_check_markdown
from bot.core.render.check_text import render_check_text
from bot.core.render.evidence_html import render_evidence_html
from tests.support.packs import (
    DIGEST,
    SCHEMA,
    VALIDATOR,
    big_pack,
    make_pack,
    passing_pack,
    replaced,
    without,
)

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
        ("api_version", ("apiVersion",)),
        ("kind", ("kind",)),
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
        ("policy", ("policy",)),
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
        "api_version", "kind", "policy", "repository", "base", "head", "merge_base",
        "evaluated_at", "labels", "changes", "other_files", "findings", "waivers", "policy_digest", "risk", "risk_score", "risk_tier",
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


ROUTE = {"route": "macos", "teams": ["contoso/mac-cab"], "required": 1, "matched": [], "files": 1}


@pytest.mark.parametrize(
    ("pack", "error"),
    [
        (without(make_pack(), "repository"), "CheckPack: repository is missing"),
        (replaced(make_pack(), 7, "head"), "CheckPack: head is an integer, not a string"),
        (replaced(make_pack(), {}, "changes"), "CheckPack: changes is an object, not an array"),
        (replaced(make_pack(), "ci", "labels"), "CheckPack: labels is a string, not an array"),
        (
            replaced(make_pack(), {}, "policyPreview"),
            "CheckPack: policyPreview is an object, not an array",
        ),
        (without(make_pack(), "policy", "digest"), "CheckPack.policy: digest is missing"),
        (without(make_pack(), "risk", "tier"), "CheckPack.risk: tier is missing"),
        (
            replaced(make_pack(), "35", "risk", "score"),
            "CheckPack.risk: score is a string, not an integer",
        ),
        (
            replaced(make_pack(), [], "risk", "byFamily"),
            "CheckPack.risk: byFamily is an array, not an object",
        ),
        (
            replaced(make_pack(), 3, "risk", "scoreTier"),
            "CheckPack.risk: scoreTier is an integer, not a string",
        ),
        (
            without(make_pack(), "risk", "factors", 0, "points"),
            "CheckPack.risk.factors[0]: points is missing",
        ),
        (
            replaced(make_pack(), True, "approvals", "required"),
            "CheckPack.approvals: required is a boolean, not an integer",
        ),
        (
            replaced(make_pack(), [ROUTE | {"required": None}], "approvals", "routes"),
            "CheckPack.approvals.routes[0]: required is null, not an integer",
        ),
        (
            without(make_pack(), "decision", "conclusion"),
            "CheckPack.decision: conclusion is missing",
        ),
        (
            replaced(make_pack(), "pass", "decision"),
            "CheckPack: decision is a string, not an object",
        ),
        (
            replaced(make_pack(), "modified", "changes", 0),
            "CheckPack.changes[0] is a string, not an object",
        ),
        (without(make_pack(), "changes", 0, "kind"), "CheckPack.changes[0]: kind is missing"),
        (
            replaced(make_pack(), 1, "changes", 0, "basePath"),
            "CheckPack.changes[0]: basePath is an integer, not a string or null",
        ),
        (
            without(make_pack(), "changes", 0, "devices", "head"),
            "CheckPack.changes[0].devices: head is missing",
        ),
        (
            without(make_pack(), "changes", 0, "risk", "score"),
            "CheckPack.changes[0].risk: score is missing",
        ),
        (
            without(make_pack(), "changes", 0, "fieldDiffs", 2, "new"),
            "CheckPack.changes[0].fieldDiffs[2]: new is missing",
        ),
        (
            replaced(make_pack(), "yes", "changes", 0, "ruleResults", 1, "matched"),
            "CheckPack.changes[0].ruleResults[1]: matched is a string, not a boolean",
        ),
        (
            replaced(make_pack(), "1", "findings", 1, "line"),
            "CheckPack.findings[1]: line is a string, not an integer",
        ),
        (
            replaced(make_pack(), "fatal", "findings", 0, "severity"),
            "CheckPack.findings[0]: severity is 'fatal', not error, warning or note",
        ),
        (
            without(make_pack(), "waivers", 1, "expires"),
            "CheckPack.waivers[1]: expires is missing",
        ),
        (
            replaced(
                make_pack(), [{"intent": "a", "path": "p", "nowMatches": []}], "policyPreview"
            ),
            "CheckPack.policyPreview[0]: noLongerMatches is missing",
        ),
        (
            replaced(make_pack(), "ChangePack", "kind"),
            "the pack's kind is 'ChangePack', not 'CheckPack'",
        ),
        (without(make_pack(), "kind"), "the pack's kind is None, not 'CheckPack'"),
        ([make_pack()], "a check pack is an array, not an object"),
    ],
)
def test_a_missing_or_ill_typed_part_is_named_in_one_line(pack: Any, error: str) -> None:
    with pytest.raises(PackShapeError) as raised:
        CheckPackView.of(pack)
    assert str(raised.value) == error
    assert "\n" not in str(raised.value)
    assert isinstance(raised.value, ValueError)


def test_a_view_made_directly_is_checked_too() -> None:
    with pytest.raises(PackShapeError, match="CheckPack: findings is missing"):
        CheckPackView(without(make_pack(), "findings"))


def test_the_parts_a_pack_may_lack_or_have_in_either_type() -> None:
    """What the schema or older packs leave out, and the JSON types a part may hold, are let be."""
    pack = make_pack(approvals={"required": 1, "reasons": ["tier medium"], "routes": [ROUTE]})
    older_route = {"route": "win", "teams": ["contoso/win-cab"], "required": 1}
    pack["approvals"]["routes"].append(older_route)  # as Requirement.from_dict reads it
    for path in (("labels",), ("risk", "scoreTier"), ("risk", "caps")):
        without(pack, *path)
    replaced(pack, None, "changes", 0, "basePath")
    replaced(pack, None, "changes", 0, "fieldDiffs", 0, "line")
    replaced(pack, {"a": [1, None]}, "changes", 0, "fieldDiffs", 0, "old")
    assert CheckPackView.of(pack).approval_routes == [ROUTE, older_route]
    assert CheckPackView.of(big_pack(findings=50, changes=20)).findings
    # what the view lets be, every reader of a check pack reads
    page = render_evidence_html(pack, digest=DIGEST, repository_url="https://github.com/o/r")
    assert "medium" in page
    assert "tier medium" in render_check_markdown(pack, digest=DIGEST)
    assert "tier medium" in render_check_text(pack)
