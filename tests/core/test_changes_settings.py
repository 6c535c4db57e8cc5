"""Field diffs of plane settings (issue 20): what a PR changes in a plane's settings is listed."""

from __future__ import annotations

import copy
from typing import Any

import yaml

from bot.core.changes import FieldDiff, diff_values
from bot.core.render.check_markdown import render_check_markdown
from tests.conftest import EXAMPLES
from tests.support.packs import make_change, make_pack

INTENTS = EXAMPLES / "intents-repo" / "intents"


def load(relative: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((INTENTS / relative).read_text(encoding="utf-8"))
    return data


def markdown(old: dict[str, Any], new: dict[str, Any]) -> str:
    diffs = [FieldDiff(p, a, b, 7).as_dict() for p, a, b in diff_values(old, new)]
    return render_check_markdown(make_pack(changes=[make_change(fieldDiffs=diffs)]))


def test_a_jamf_trigger_and_a_ring_deadline_show_in_the_field_diffs() -> None:
    old = load("macos/zoom.yaml")
    old["jamf"] = {"customEvent": "install-zoom", "frequency": "Ongoing"}
    new = copy.deepcopy(old)
    new["jamf"]["customEvent"] = "install-zoom-now"
    new["rings"][-1].setdefault("schedule", {})["deadline"] = "2027-06-30T17:00:00+02:00"
    ring = len(new["rings"]) - 1

    changed = {p: (a, b) for p, a, b in diff_values(old, new)}

    assert changed["/jamf/customEvent"] == ("install-zoom", "install-zoom-now")
    assert changed[f"/rings/{ring}/schedule/deadline"][1] == "2027-06-30T17:00:00+02:00"
    md = markdown(old, new)
    assert "<code>/jamf/customEvent</code>" in md
    assert f"<code>/rings/{ring}/schedule/deadline</code>" in md


def test_a_return_code_added_first_is_one_added_code_not_every_code_shifted() -> None:
    old = load("windows/7-zip.yaml")
    old["intune"] = {"returnCodes": [{"code": 1603, "type": "failed"}]}
    new = copy.deepcopy(old)
    new["intune"]["returnCodes"].insert(0, {"code": 3010, "type": "softReboot"})

    assert diff_values(old, new) == [
        ("/intune/returnCodes/0", None, {"code": 3010, "type": "softReboot"})
    ]


def test_a_changed_return_code_type_is_one_field() -> None:
    old = {
        "sccm": {"returnCodes": [{"code": 1, "type": "failure"}, {"code": 2, "type": "success"}]}
    }
    new = copy.deepcopy(old)
    new["sccm"]["returnCodes"][1]["type"] = "softReboot"

    assert diff_values(old, new) == [("/sccm/returnCodes/1/type", "success", "softReboot")]


def test_lists_without_a_key_are_still_compared_by_position() -> None:
    assert diff_values({"a": [{"x": 1}, {"x": 2}]}, {"a": [{"x": 2}]}) == [
        ("/a/0/x", 1, 2),
        ("/a/1", {"x": 2}, None),
    ]
