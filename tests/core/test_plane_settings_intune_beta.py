"""Intune's Graph-beta settings in the intent (issue 20): schema entries and plane-aware checks."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.adapters.workspace import read_sources
from bot.core.documents import DocumentValidator
from bot.flows.validate import validate_paths
from tests.conftest import EXAMPLES
from tests.core.test_plane_settings_not_in_api import errors

REPO = EXAMPLES / "intents-repo"
FILTER_ID = "8f2b9d3e-4c1a-4e5b-9a7d-2c6e1f0b3a94"


def chrome() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(
        (REPO / "intents" / "windows" / "google-chrome.yaml").read_text(encoding="utf-8")
    )
    return data


def test_the_beta_settings_are_intent_settings_now(validator: DocumentValidator) -> None:
    intent = chrome()
    intent["intune"] = {
        "maxRunTimeMinutes": 90,
        "dependencies": [
            {"intent": "notepad-plus-plus"},
            {"intent": "vc-redist", "autoInstall": False},
        ],
        "supersedes": {"version": intent["rollback"]["previousVersion"], "uninstall": True},
    }
    intent["rings"][0]["intune"] = {"filter": {"id": FILTER_ID, "mode": "include"}}
    assert errors(validator, intent) == {}


@pytest.mark.parametrize(
    ("filter_", "code", "words"),
    [
        ({"id": "Windows 11 corporate", "mode": "include"}, "intune.filter-id", "Filters"),
        ({"id": FILTER_ID}, "intune.filter-mode", "mode: include"),
    ],
    ids=["not-a-guid", "no-mode"],
)
def test_a_filter_without_a_guid_or_a_mode_is_refused_with_the_fix(
    validator: DocumentValidator, filter_: dict[str, str], code: str, words: str
) -> None:
    intent = chrome()
    intent["rings"][0]["intune"] = {"filter": filter_}
    found = errors(validator, intent)
    assert set(found) == {code}
    assert words in found[code][0]


def test_a_filter_mode_outside_include_and_exclude_is_a_schema_error(
    validator: DocumentValidator,
) -> None:
    intent = chrome()
    intent["rings"][0]["intune"] = {"filter": {"id": FILTER_ID, "mode": "only"}}
    assert set(errors(validator, intent)) == {"schema.enum"}


@pytest.mark.parametrize("minutes", [0, 1441])
def test_max_run_time_outside_intunes_range_is_refused(
    validator: DocumentValidator, minutes: int
) -> None:
    intent = chrome()
    intent["intune"] = {"maxRunTimeMinutes": minutes}
    assert set(errors(validator, intent)) == {"schema.minimum" if minutes < 1 else "schema.maximum"}


@pytest.mark.parametrize("version", ["131.0.6778.86", "132.0"], ids=["same", "newer"])
def test_supersedence_of_a_version_not_older_is_refused(
    validator: DocumentValidator, version: str
) -> None:
    intent = chrome()
    intent["intune"] = {"supersedes": {"version": version}}
    found = errors(validator, intent)
    assert set(found) == {"intune.supersedes"}
    assert "not older than this app's 131.0.6778.86" in found["intune.supersedes"][0]


def test_a_dependency_on_the_intent_itself_is_refused(validator: DocumentValidator) -> None:
    intent = chrome()
    intent["intune"] = {"dependencies": [{"intent": "google-chrome"}]}
    assert set(errors(validator, intent)) == {"intune.dependency"}


def test_the_beta_settings_on_a_macos_app_name_the_platform(validator: DocumentValidator) -> None:
    intent = yaml.safe_load(
        (REPO / "intents/macos/microsoft-teams.yaml").read_text(encoding="utf-8")
    )
    assert intent["plane"] == "intune"
    intent["intune"] = {"maxRunTimeMinutes": 30}
    found = errors(validator, intent)
    assert set(found) == {"intune.platform-setting"}


def copy_repo(tmp_path: Path, dependency: str) -> Path:
    repo = tmp_path / "repo"
    shutil.copytree(REPO, repo)
    path = repo / "intents" / "windows" / "google-chrome.yaml"
    intent = chrome()
    intent["intune"] = {"dependencies": [{"intent": dependency}]}
    path.write_text(yaml.safe_dump(intent, sort_keys=False), encoding="utf-8")
    return repo


def test_validating_the_repository_refuses_a_dependency_on_an_intent_it_lacks(
    tmp_path: Path,
) -> None:
    repo = copy_repo(tmp_path, "notepad-plus-plu")
    found = [
        f
        for f in validate_paths([str(repo)], read_sources).findings
        if f.code == "intune.dependency"
    ]
    [finding] = found
    assert finding.path.endswith("google-chrome.yaml")
    assert finding.line > 1
    assert "'notepad-plus-plu', which is not in this repository" in finding.message
    assert "did you mean 'notepad-plus-plus'?" in finding.message


def test_a_dependency_on_an_intent_of_another_plane_is_refused(tmp_path: Path) -> None:
    repo = copy_repo(tmp_path, "7-zip")
    [finding] = [
        f
        for f in validate_paths([str(repo)], read_sources).findings
        if f.code == "intune.dependency"
    ]
    assert "'7-zip', which publishes through sccm, not Intune" in finding.message


def test_a_dependency_on_an_intent_of_the_repository_is_no_finding(tmp_path: Path) -> None:
    repo = copy_repo(tmp_path, "notepad-plus-plus")
    assert [
        f for f in validate_paths([str(repo)], read_sources).findings if f.severity.value == "error"
    ] == []


def test_validating_one_file_leaves_the_dependency_to_the_plan(tmp_path: Path) -> None:
    repo = copy_repo(tmp_path, "notepad-plus-plu")
    one = repo / "intents" / "windows" / "google-chrome.yaml"
    assert [
        f
        for f in validate_paths([str(one)], read_sources).findings
        if f.code == "intune.dependency"
    ] == []
