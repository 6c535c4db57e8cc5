"""Plane settings in intents (issue 20): schema shape and the plane-aware checks."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from bot.core.documents import DocumentKind, DocumentValidator
from tests.conftest import EXAMPLES

INTENTS = EXAMPLES / "intents-repo" / "intents"
CHROME = INTENTS / "windows" / "google-chrome.yaml"
ZOOM = INTENTS / "macos" / "zoom.yaml"


def load(path: Any) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return data


def findings(validator: DocumentValidator, intent: dict[str, Any]) -> list[tuple[str, str]]:
    raw = yaml.safe_dump(intent, sort_keys=False).encode()
    doc = validator.validate(raw, "intents/x.yaml", DocumentKind.INTENT)
    return [(f.code, f.message) for f in doc.findings if f.severity.value == "error"]


def test_the_example_intents_stay_valid(validator: DocumentValidator) -> None:
    for path in sorted(INTENTS.rglob("*.yaml")):
        assert findings(validator, load(path)) == [], path


def test_settings_for_another_plane_name_both_planes(validator: DocumentValidator) -> None:
    intent = load(CHROME)
    intent["jamf"] = {"frequency": "Ongoing"}
    intent["rings"][0]["jamf"] = {"excludeGroups": ["Kiosks"]}
    found = findings(validator, intent)
    assert [code for code, _ in found] == ["intent.plane-settings", "intent.plane-settings"]
    for _, message in found:
        assert message.startswith("`jamf:` holds Jamf Pro settings")
        assert "publishes through Microsoft Intune (plane: intune)" in message


def test_a_setting_the_plane_section_does_not_have_is_a_schema_error(
    validator: DocumentValidator,
) -> None:
    intent = load(ZOOM)
    intent["jamf"] = {"selfService": {"category": "Productivity", "featured": True}}
    [(code, message)] = findings(validator, intent)
    assert code == "schema.additionalProperties"
    assert "featured" in message


def test_intune_win32_mistakes_say_how_to_fix(validator: DocumentValidator) -> None:
    intent = load(CHROME)
    ring = intent["rings"][1]
    intent["intune"] = {
        "returnCodes": [{"code": 1603, "type": "failed"}, {"code": 1603, "type": "retry"}],
        "bundles": [{"bundleId": "com.google.Chrome"}],
    }
    ring["intune"] = {
        "excludeGroups": [ring["target"], "EUC-Kiosks", intent["rings"][0]["target"]],
    }
    found = dict(findings(validator, intent))
    assert set(found) == {
        "intune.platform-setting",
        "intune.return-codes",
        "intune.exclude-own-group",
        "intune.group-id",
    }
    assert "return code 1603 is listed twice" in found["intune.return-codes"]
    assert "Object ID" in found["intune.group-id"]


def test_intune_win32_needs_uninstall_and_a_win32_detection(validator: DocumentValidator) -> None:
    intent = load(CHROME)
    intent["package"]["type"] = "exe"
    intent["package"]["installCommand"] = "setup.exe /S"
    intent["package"]["detection"] = {"type": "bundleId", "bundleId": "com.google.Chrome"}
    found = dict(findings(validator, intent))
    assert "package.uninstallCommand" in found["intune.win32-uninstall"]
    assert "msiProductCode, file, registry or script" in found["intune.win32-detection"]


@pytest.mark.parametrize(("trigger", "hint"), [("checkin", "recurringCheckin"), ("boot", None)])
def test_a_jamf_trigger_that_does_not_exist(
    validator: DocumentValidator, trigger: str, hint: str | None
) -> None:
    intent = load(ZOOM)
    intent["jamf"] = {"triggers": ["login", trigger]}
    [(code, message)] = findings(validator, intent)
    assert code == "jamf.trigger"
    assert f"no policy trigger {trigger!r}" in message
    assert "jamf.customEvent" in message
    assert (f"did you mean {hint!r}" in message) == (hint is not None)


def test_a_jamf_ring_excluding_its_own_group(validator: DocumentValidator) -> None:
    zoom = load(ZOOM)
    zoom["rings"][0]["jamf"] = {"excludeGroups": [zoom["rings"][0]["target"]]}
    assert [c for c, _ in findings(validator, zoom)] == ["jamf.exclude-own-group"]
