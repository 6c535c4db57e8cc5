"""Workflow files parse, reference only actions and files that exist, and ask for least privilege."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT

WORKFLOWS = sorted(
    [
        *(ROOT / ".github" / "workflows").glob("*.yml"),
        *(ROOT / "examples" / "workflows").glob("*.yml"),
    ]
)
ACTION_FILES = [ROOT / "action.yml"]

# The actions GitHub publishes that our files use: each release's commit SHA and its version,
# which the `uses:` line's comment names (a tag can be moved; a commit cannot).
KNOWN_ACTIONS = {
    "actions/checkout": {"11bd71901bbe5b1630ceea73d27597364c9af683": "v4.2.2"},
    "actions/setup-python": {"a26af69be951a213d495a4c3e4e4022e16d87065": "v5.6.0"},
    "actions/upload-artifact": {"ea165f8d65b6e75b540449e92b4886f43607fa02": "v4.6.2"},
    "actions/create-github-app-token": {"df432ceedc7162793a195dd1713ff69aefc7379e": "v2.0.6"},
}
# How an intents repository refers to this project's action.yml (the repository's own name).
SELF = "eucora/eucora"


def _load(path: Path) -> dict:
    loaded = yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.BaseLoader)  # noqa: S506 - BaseLoader builds no objects
    assert isinstance(loaded, dict), path
    return loaded


def _uses(document: dict) -> list[str]:
    steps = [s for job in document.get("jobs", {}).values() for s in job.get("steps", [])]
    steps += document.get("runs", {}).get("steps", [])
    return [s["uses"] for s in steps if "uses" in s]


def test_there_are_workflows_to_check() -> None:
    names = {p.relative_to(ROOT).as_posix() for p in WORKFLOWS}
    assert {".github/workflows/ci.yml", "examples/workflows/eucora.yml"} <= names


@pytest.mark.parametrize("path", WORKFLOWS + ACTION_FILES, ids=lambda p: p.name)
def test_every_referenced_action_exists(path: Path) -> None:
    for uses in _uses(_load(path)):
        if uses.startswith("./"):
            assert (ROOT / uses / "action.yml").is_file(), uses
            continue
        name, _, ref = uses.partition("@")
        assert ref, f"{path.name}: {uses} is not pinned to a version"
        if name == SELF:
            assert (ROOT / "action.yml").is_file()
        else:
            assert name in KNOWN_ACTIONS, f"{path.name}: unknown action {uses}"
            assert ref in KNOWN_ACTIONS[name], f"{path.name}: {uses}: not a known release's SHA"
            version = KNOWN_ACTIONS[name][ref]
            text = path.read_text(encoding="utf-8")
            assert f"uses: {uses}  # {version}" in text, f"{path.name}: say {version} after {uses}"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_every_workflow_names_its_permissions_and_files_that_exist(path: Path) -> None:
    document = _load(path)
    assert "permissions" in document, f"{path.name}: set the token's permissions explicitly"
    assert "pull_request_target" not in document["on"], "pwn requests: use pull_request"
    for job in document["jobs"].values():
        for step in job.get("steps", []):
            for script in re.findall(r"bash (\S+\.sh)", step.get("run", "")):
                assert (ROOT / script).is_file(), f"{path.name}: {script} does not exist"


def test_the_ci_workflow_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "bash scripts/test.sh" in readme
    runs = [
        s.get("run", "") for s in _load(ROOT / ".github/workflows/ci.yml")["jobs"]["test"]["steps"]
    ]
    assert any(run.endswith("bash scripts/test.sh") for run in runs)


def test_the_example_workflow_asks_for_the_least_it_needs() -> None:
    document = _load(ROOT / "examples" / "workflows" / "eucora.yml")
    assert document["permissions"] == {}
    assert set(document["on"]) == {"pull_request", "pull_request_review", "merge_group"}
    # a CAB review (or its dismissal) decides the approvals again
    assert document["on"]["pull_request_review"]["types"] == ["submitted", "dismissed"]
    [job] = document["jobs"].values()
    assert job["permissions"] == {"contents": "read", "pull-requests": "write"}
    checkout, app_token, eucora, upload = job["steps"]
    assert checkout["with"]["fetch-depth"] == "0"
    assert checkout["with"]["persist-credentials"] == "false"
    # the approvals token: the App's, narrowed to reads, only when the App is configured
    assert app_token["uses"].startswith("actions/create-github-app-token@")
    assert app_token["if"] == "vars.EUCORA_APP_ID != ''"
    assert {k: v for k, v in app_token["with"].items() if k.startswith("permission-")} == {
        "permission-members": "read",
        "permission-pull-requests": "read",
        "permission-contents": "read",
    }
    assert eucora["uses"].startswith(SELF + "@")
    assert eucora["with"]["approvals-token"] == "${{ steps.approvals-token.outputs.token }}"
    assert upload["with"]["path"] == "${{ steps.eucora.outputs.evidence-file }}"
    outputs = _load(ROOT / "action.yml")["outputs"]
    for reference in re.findall(r"steps\.eucora\.outputs\.([\w-]+)", str(job)):
        assert reference in outputs


def test_action_inputs_used_are_declared() -> None:
    action = _load(ROOT / "action.yml")
    used = set(re.findall(r"inputs\.([\w-]+)", (ROOT / "action.yml").read_text(encoding="utf-8")))
    assert used == set(action["inputs"])
    example = _load(ROOT / "examples" / "workflows" / "eucora.yml")
    [job] = example["jobs"].values()
    for step in job["steps"]:
        if step.get("uses", "").startswith(SELF):
            assert set(step.get("with", {})) <= set(action["inputs"])


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_every_workflow_is_hardened(path: Path) -> None:
    """No default token permission; per job the least, a timeout; one run per group; no token
    left in the checkout's git config."""
    document = _load(path)
    assert document["permissions"] == {}, f"{path.name}: permissions: {{}} at the top"
    assert document["concurrency"]["group"], f"{path.name}: a concurrency group"
    assert document["concurrency"]["cancel-in-progress"] == "true"
    for name, job in document["jobs"].items():
        assert job.get("permissions"), f"{path.name}: job {name} names its permissions"
        assert "write-all" not in str(job["permissions"])
        assert 0 < int(job["timeout-minutes"]) <= 60, f"{path.name}: job {name} needs a timeout"
        for step in job["steps"]:
            if step.get("uses", "").startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] == "false", f"{path.name}: {name}"


def test_zizmor_finds_nothing_in_the_workflows() -> None:
    """zizmor (offline audits: unpinned uses, artipacked, excessive permissions, injection...)."""
    zizmor = Path(sys.executable).parent / "zizmor"
    result = subprocess.run(
        [str(zizmor), "--offline", "--no-progress", *map(str, WORKFLOWS)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings to report" in result.stdout
