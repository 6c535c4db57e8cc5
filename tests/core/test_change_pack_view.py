"""The typed view of a change pack reads the pack's own values, never changes it, refuses a bad one.

The packs are the real builder's (``build_change_pack``), as the publisher stores them; the
pinned bytes of a stored change pack are in ``tests/core/test_publishing.py``.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from bot.core.evidence import canonical_json, digest_of
from bot.core.pack_view import ChangePackView, PackShapeError
from bot.core.render.evidence_html import render_evidence_html
from tests.core.test_evidence_html_links import make_change_pack
from tests.core.test_pack_view import at_schema_name
from tests.core.test_publishing import HEAD, PINNED_CHANGE_PACK, change_pack
from tests.support.packs import VALIDATOR, make_pack, replaced, without

PROPERTIES = [name for name, value in vars(ChangePackView).items() if isinstance(value, property)]
PATHS = {
    "kind": ("kind",),
    "repository": ("repository",),
    "pull_request": ("pullRequest",),
    "head": ("head",),
    "merge_commit": ("mergeCommit",),
    "check_digest": ("checkDigest",),
    "merged_at": ("mergedAt",),
    "emergency": ("emergency",),
    "approvals": ("approvals",),
    "decision": ("decision",),
    "decision_outcome": ("decision", "outcome"),
    "approvals_required": ("decision", "required"),
    "approvals_counted": ("decision", "counted"),
    "post_implementation_review": ("postImplementationReview",),
    "publications": ("publications",),
}
DERIVED = {"succeeded", "failed"}


def _owed() -> dict[str, Any]:
    return change_pack(
        emergency=True,
        post_implementation_review={"owed": True, "reason": "emergency change", "issue": 77},
    )


def test_every_property_reads_a_built_pack_without_changing_its_bytes_or_digest() -> None:
    retirement = make_change_pack(action="retire")
    retirement["decision"]["outcome"] = "approved"  # the links page's pack says "not_required"
    for pack in (change_pack(), _owed(), retirement):
        VALIDATOR.validate(pack)
        before, digest = canonical_json(copy.deepcopy(pack)), digest_of(pack)
        view = ChangePackView.of(pack)
        read = {name: getattr(view, name) for name in PROPERTIES}
        assert canonical_json(pack) == before
        assert digest_of(pack) == digest
        assert view.pack is pack
        assert set(read) == set(PATHS) | DERIVED


def test_the_pinned_pack_keeps_its_digest_when_read_and_rendered_through_the_view() -> None:
    pack = change_pack()
    view = ChangePackView.of(pack)
    assert [getattr(view, name) for name in PROPERTIES]
    page = render_evidence_html(pack, digest=PINNED_CHANGE_PACK)
    assert "1 of 2 publications succeeded, 1 failed" in page
    assert digest_of(view.pack) == PINNED_CHANGE_PACK


@pytest.mark.parametrize(("name", "path"), sorted(PATHS.items()))
def test_a_property_is_the_packs_own_value_at_its_schema_name(
    name: str, path: tuple[str, ...]
) -> None:
    pack = _owed()
    value = at_schema_name(pack, "changePack", path)
    assert getattr(ChangePackView.of(pack), name) is value  # the pack's object, not a copy


def test_the_values_a_reader_sees() -> None:
    view = ChangePackView.of(change_pack())
    assert (view.repository, view.pull_request, view.head) == ("contoso/eucora-intents", 42, HEAD)
    assert view.check_digest == "sha256:" + "c" * 64
    assert (view.decision_outcome, view.approvals_required, view.approvals_counted) == (
        "approved",
        2,
        2,
    )
    assert [a["reviewer"] for a in view.approvals] == ["bob", "carol"]
    assert [p["state"] for p in view.publications] == ["succeeded", "failed"]
    assert (view.succeeded, view.failed) == (1, 1)
    assert view.post_implementation_review is None
    assert not view.emergency
    owed = ChangePackView.of(_owed()).post_implementation_review
    assert owed == {"owed": True, "reason": "emergency change", "issue": 77}


@pytest.mark.parametrize(
    ("pack", "error"),
    [
        (without(change_pack(), "checkDigest"), "ChangePack: checkDigest is missing"),
        (
            replaced(change_pack(), "42", "pullRequest"),
            "ChangePack: pullRequest is a string, not an integer",
        ),
        (
            replaced(change_pack(), True, "pullRequest"),
            "ChangePack: pullRequest is a boolean, not an integer",
        ),
        (
            replaced(change_pack(), 0, "emergency"),
            "ChangePack: emergency is an integer, not a boolean",
        ),
        (
            replaced(change_pack(), {}, "publications"),
            "ChangePack: publications is an object, not an array",
        ),
        (
            replaced(change_pack(), "yes", "postImplementationReview"),
            "ChangePack: postImplementationReview is a string, not an object or null",
        ),
        (
            without(change_pack(), "decision", "counted"),
            "ChangePack.decision: counted is missing",
        ),
        (
            replaced(change_pack(), 2.0, "decision", "required"),
            "ChangePack.decision: required is a number, not an integer",
        ),
        (
            replaced(change_pack(), "one", "approvals", 1),
            "ChangePack.approvals[1] is a string, not an object",
        ),
        (
            replaced(change_pack(), ["cab", 7], "approvals", 0, "teams"),
            "ChangePack.approvals[0]: teams holds a value that is not a string",
        ),
        (
            without(change_pack(), "publications", 1, "state"),
            "ChangePack.publications[1]: state is missing",
        ),
        (
            replaced(change_pack(), 1, "publications", 0, "objectId"),
            "ChangePack.publications[0]: objectId is an integer, not a string or null",
        ),
        (
            replaced(_owed(), "77", "postImplementationReview", "issue"),
            "ChangePack.postImplementationReview: issue is a string, not an integer or null",
        ),
        (make_pack(), "the pack's kind is 'CheckPack', not 'ChangePack'"),
        ([change_pack()], "a change pack is an array, not an object"),
    ],
)
def test_a_missing_or_ill_typed_part_is_named_in_one_line(pack: Any, error: str) -> None:
    with pytest.raises(PackShapeError) as raised:
        ChangePackView.of(pack)
    assert str(raised.value) == error
    assert "\n" not in str(raised.value)
    assert isinstance(raised.value, ValueError)


def test_a_view_made_directly_is_checked_too() -> None:
    with pytest.raises(PackShapeError, match="checkDigest is missing"):
        ChangePackView(without(change_pack(), "checkDigest"))
