"""Landscape and Ansible settings in intents (issue 20): schema shape and plane-aware checks."""

from __future__ import annotations

from typing import Any

import yaml

from bot.core.documents import DocumentKind, DocumentValidator
from tests.conftest import EXAMPLES

INTENTS = EXAMPLES / "intents-repo" / "intents"
OSQUERY = INTENTS / "linux" / "osquery.yaml"
CIS = INTENTS / "linux" / "cis-hardening.yaml"
CHROME = INTENTS / "windows" / "google-chrome.yaml"


def load(path: Any) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return data


def findings(validator: DocumentValidator, intent: dict[str, Any]) -> list[tuple[str, str]]:
    raw = yaml.safe_dump(intent, sort_keys=False).encode()
    doc = validator.validate(raw, "intents/x.yaml", DocumentKind.INTENT)
    return [(f.code, f.message) for f in doc.findings if f.severity.value == "error"]


def test_every_landscape_and_ansible_setting_validates(validator: DocumentValidator) -> None:
    osquery = load(OSQUERY)
    osquery["landscape"] = {
        "source": "repository",
        "packageName": "osquery",
        "timeLimitSeconds": 900,
        "runAs": "root",
        "reboot": "afterInstall",
        "rebootDelayMinutes": 120,
    }
    osquery["rings"][0]["landscape"] = {"reboot": "never"}
    cis = load(CIS)
    cis["ansible"] = {
        "credentials": ["Linux fleet SSH"],
        "extraVars": {"cis_level": "1", "reboot_window_minutes": 30},
        "jobTags": "hardening,audit",
        "skipTags": "slow",
    }
    assert findings(validator, osquery) == []
    assert findings(validator, cis) == []


def test_landscape_or_ansible_settings_on_another_plane_name_the_plane(
    validator: DocumentValidator,
) -> None:
    chrome = load(CHROME)
    chrome["landscape"] = {"reboot": "afterInstall"}
    chrome["ansible"] = {"jobTags": "x"}
    found = findings(validator, chrome)
    assert [code for code, _ in found] == ["intent.plane-settings", "intent.plane-settings"]
    assert found[0][1].startswith("`landscape:` holds Canonical Landscape settings")
    assert found[1][1].startswith("`ansible:` holds Ansible")
    assert all("publishes through Microsoft Intune (plane: intune)" in m for _, m in found)


def test_a_ring_cannot_hold_ansible_settings(validator: DocumentValidator) -> None:
    cis = load(CIS)
    cis["rings"][0]["ansible"] = {"jobTags": "x"}
    codes = [code for code, _ in findings(validator, cis)]
    assert "schema.additionalProperties" in codes


def test_landscape_mistakes_say_how_to_fix(validator: DocumentValidator) -> None:
    osquery = load(OSQUERY)
    osquery["landscape"] = {"source": "repository", "rebootDelayMinutes": 30}
    osquery["rings"][1]["landscape"] = {"reboot": "never", "rebootDelayMinutes": 10}
    osquery["package"]["type"] = "snap"
    found = findings(validator, osquery)
    by_code: dict[str, list[str]] = {}
    for code, message in found:
        by_code.setdefault(code, []).append(message)
    assert sorted(by_code) == [
        "landscape.package-name",
        "landscape.reboot-delay",
        "landscape.source",
    ]
    assert "landscape.packageName" in by_code["landscape.package-name"][0]
    assert "package.type is 'snap'" in by_code["landscape.source"][0]
    assert len(by_code["landscape.reboot-delay"]) == 2  # the intent's and the pilot ring's
    assert all("set reboot: afterInstall" in m for m in by_code["landscape.reboot-delay"])


def test_a_package_name_without_a_repository_source_is_refused(
    validator: DocumentValidator,
) -> None:
    osquery = load(OSQUERY)
    osquery["landscape"] = {"packageName": "osquery"}
    [(code, message)] = findings(validator, osquery)
    assert code == "landscape.package-name"
    assert "add source: repository" in message


def test_extra_vars_must_be_an_object_of_ansible_names_not_eucoras(
    validator: DocumentValidator,
) -> None:
    cis = load(CIS)
    cis["ansible"] = {"extraVars": {"eucora_ring": "all"}}
    [(code, message)] = findings(validator, cis)
    assert code == "ansible.extra-vars"
    assert "EUCORA's own" in message

    cis["ansible"] = {"extraVars": ["cis_level=1"]}
    assert [code for code, _ in findings(validator, cis)] == ["schema.type"]

    cis["ansible"] = {"extraVars": {"cis level": 1}}
    assert [code for code, _ in findings(validator, cis)] == ["schema.pattern"]
