"""Console settings EUCORA cannot send (issue 20): the finding says why and where to set them."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from bot.core.documents import DocumentKind, DocumentValidator
from tests.conftest import EXAMPLES

INTENTS = EXAMPLES / "intents-repo" / "intents"
FILTER_ID = "8f2b9d3e-4c1a-4e5b-9a7d-2c6e1f0b3a94"


def load(relative: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((INTENTS / relative).read_text(encoding="utf-8"))
    return data


def errors(validator: DocumentValidator, intent: dict[str, Any]) -> dict[str, list[str]]:
    raw = yaml.safe_dump(intent, sort_keys=False).encode()
    doc = validator.validate(raw, "intents/x.yaml", DocumentKind.INTENT)
    found: dict[str, list[str]] = {}
    for finding in doc.findings:
        if finding.severity.value == "error":
            found.setdefault(finding.code, []).append(finding.message)
    return found


@pytest.mark.parametrize(
    ("ring", "key", "value", "words"),
    [
        (True, "filter", {"id": FILTER_ID, "mode": "include"}, "assignment filter"),
        (False, "dependencies", [{"intent": "vc-redist", "autoInstall": True}], "Dependencies"),
        (False, "supersedes", {"version": "130.0.6723.117"}, "Supersedence"),
        (False, "maxRunTimeMinutes", 90, "60 minutes"),
    ],
    ids=["filter", "dependencies", "supersedes", "max-run-time"],
)
def test_an_intune_setting_only_graph_beta_has_is_refused_with_the_console_path(
    validator: DocumentValidator, ring: bool, key: str, value: object, words: str
) -> None:
    intent = load("windows/google-chrome.yaml")
    holder = intent["rings"][0] if ring else intent
    holder.setdefault("intune", {})[key] = value
    found = errors(validator, intent)
    assert set(found) == {"schema.additionalProperties", "intune.not-in-api"}
    [message] = found["intune.not-in-api"]
    assert message.startswith("Microsoft Intune: ")
    assert "Graph beta" in message
    assert words in message


def test_sccm_custom_requirements_and_dependencies_say_to_use_the_console(
    validator: DocumentValidator,
) -> None:
    intent = load("windows/7-zip.yaml")
    intent["sccm"] = {
        "requirements": {"rules": [{"type": "file", "path": "C:\\x", "check": "exists"}]},
        "dependencies": [{"intent": "vc-redist"}],
    }
    found = errors(validator, intent)
    assert set(found) == {"schema.additionalProperties", "sccm.not-in-api"}
    [dependencies] = [m for m in found["sccm.not-in-api"] if "Dependencies" in m]
    [rules] = [m for m in found["sccm.not-in-api"] if "requirements" in m]
    assert "Deployment Type > Dependencies" in dependencies
    assert "SMS_GlobalCondition" in rules
    assert "operatingSystems" in rules


def test_the_supported_settings_raise_no_such_finding(validator: DocumentValidator) -> None:
    intent = load("windows/7-zip.yaml")
    intent["sccm"] = {
        "requirements": {"operatingSystems": ["windows11-x64"], "minimumMemoryMB": 4096},
        "supersedes": {"version": "24.07"},
    }
    intent["rings"][0]["sccm"] = {"updateSupersedence": True}
    assert errors(validator, intent) == {}
