"""The plan lists the plane settings each ring's publication sends (issue 20), for every plane."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from bot.core.publishing import plane_settings_sent
from bot.core.render.publications import PlanView, plan_markdown
from tests.conftest import EXAMPLES

INTENTS = EXAMPLES / "intents-repo" / "intents"


def load(relative: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((INTENTS / relative).read_text(encoding="utf-8"))
    return data


def entry(intent: dict[str, Any], ring_index: int = 0, **extra: Any) -> str:
    ring = intent["rings"][ring_index]
    view = PlanView(
        plane=intent["plane"],
        intent_name=intent["metadata"]["name"],
        ring=ring["name"],
        target=ring["target"],
        steps=(("launch", "do it"),),
        settings=plane_settings_sent(intent, ring["name"]),
        **extra,
    )
    return plan_markdown([view])


@pytest.mark.parametrize(
    ("relative", "section", "ring_section", "expected"),
    [
        (
            "macos/zoom.yaml",
            {"triggers": ["recurringCheckin"], "customEvent": "install-zoom"},
            {"excludeGroups": ["Kiosks"]},
            ["jamf.triggers", "jamf.customEvent", "rings.{ring}.jamf.excludeGroups"],
        ),
        (
            "windows/7-zip.yaml",
            {"returnCodes": [{"code": 1603, "type": "failure"}]},
            {"userNotification": "hideAll"},
            ["sccm.returnCodes", "rings.{ring}.sccm.userNotification", "rings.{ring}.schedule"],
        ),
        (
            "linux/osquery.yaml",
            {"timeLimitSeconds": 900},
            {"reboot": "afterInstall"},
            ["landscape.timeLimitSeconds", "rings.{ring}.landscape.reboot"],
        ),
        (
            "linux/cis-hardening.yaml",
            {"extraVars": {"cis_level": "1"}},
            None,
            ["ansible.extraVars"],
        ),
    ],
)
def test_each_planes_settings_are_listed_under_the_ring_they_are_sent_to(
    relative: str, section: dict[str, Any], ring_section: Any, expected: list[str]
) -> None:
    intent = load(relative)
    plane = intent["plane"]
    intent[plane] = section
    ring = intent["rings"][0]
    if ring_section is not None:
        ring[plane] = ring_section

    text = entry(intent)

    assert "  - settings sent:" in text
    for name in expected:
        assert f"<code>{name.format(ring=ring['name'])}" in text
    assert "<code>cis\\_level</code>" not in text  # values are one compact code span


def test_an_intune_ring_shows_its_deadline_with_its_assignment_settings() -> None:
    intent = load("windows/google-chrome.yaml")
    intent["intune"] = {"returnCodes": [{"code": 1641, "type": "hardReboot"}]}
    ring = next(r for r in intent["rings"] if r.get("schedule", {}).get("deadline"))

    sent = dict(plane_settings_sent(intent, ring["name"]))

    assert sent["intune.returnCodes"] == [{"code": 1641, "type": "hardReboot"}]
    assert sent[f"rings.{ring['name']}.schedule.deadline"] == ring["schedule"]["deadline"]


@pytest.mark.parametrize(
    "relative",
    ["macos/zoom.yaml", "windows/7-zip.yaml", "linux/osquery.yaml", "linux/cis-hardening.yaml"],
)
def test_an_intent_without_settings_plans_as_before(relative: str) -> None:
    intent = load(relative)
    bare = copy.deepcopy(intent)
    for key in ("intune", "jamf", "sccm", "landscape", "ansible"):
        bare.pop(key, None)
        for ring in bare["rings"]:
            ring.pop(key, None)

    assert plane_settings_sent(bare, bare["rings"][0]["name"]) == ()
    assert "settings sent" not in entry(bare)
    assert entry(bare).endswith("  - launch: do it\n")


def test_settings_show_even_when_the_plane_could_not_be_read() -> None:
    intent = load("linux/osquery.yaml")
    intent["landscape"] = {"runAs": "installer"}

    text = entry(intent, error="Landscape answered 503")

    assert "the plane could not be read: Landscape answered 503" in text
    assert "<code>landscape.runAs</code>: <code>installer</code>" in text
