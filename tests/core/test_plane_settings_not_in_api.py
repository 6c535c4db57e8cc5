"""Console settings EUCORA cannot send (issue 20): the finding says why and where to set them."""

from __future__ import annotations

from typing import Any

import yaml

from bot.core.documents import DocumentKind, DocumentValidator
from tests.conftest import EXAMPLES

INTENTS = EXAMPLES / "intents-repo" / "intents"


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
