"""The base install (``pip install eucora``, what action.yml runs) checks pull requests alone.

Builds the wheel, installs it into a fresh virtual environment without any extra, and runs
``eucora check`` on a git copy of the example repository and ``eucora action`` on a pull request
event there; the server's, the planes' and the demo's libraries must be absent, and a command
that needs them says which extra in one line. pip resolves the base dependencies through its own
configuration (its cache and this machine's local index make it quick; about 30 s here).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, ROOT
from tests.support import webhooks
from tests.support.gitrepo import GitRepo

CHROME = "intents/windows/google-chrome.yaml"
ABSENT = ["flask", "sqlalchemy", "celery", "httpx", "ansible_runner", "openapi_core", "trustme"]


def run(argv: list[str | Path], **kwargs) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(arg) for arg in argv], capture_output=True, text=True, check=False, **kwargs
    )


@pytest.fixture(scope="module")
def base_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv holding the built wheel and its base dependencies, nothing else."""
    folder = tmp_path_factory.mktemp("base-install")
    build = ["wheel", "--no-deps", "--no-build-isolation", "-q", "-w", folder, ROOT]
    built = run([sys.executable, "-m", "pip", *build], timeout=300)
    assert built.returncode == 0, built.stderr
    [wheel] = folder.glob("eucora-*.whl")
    venv = folder / "venv"
    made = run([sys.executable, "-m", "venv", "--without-pip", venv], timeout=120)
    assert made.returncode == 0, made.stderr
    python = venv / "bin" / "python"
    install = ["--python", python, "install", "--disable-pip-version-check", "-q", wheel]
    installed = run([sys.executable, "-m", "pip", *install], timeout=600)
    assert installed.returncode == 0, installed.stderr
    return venv


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    """The example repository in git, without freeze windows (the action checks at the real now)."""
    repo = GitRepo.create(tmp_path / "intents", template=EXAMPLES / "intents-repo")
    config = repo.read("eucora.yaml")
    before, rest = config.split("\nfreezeWindows:\n", 1)
    repo.write("eucora.yaml", before + "\npaths:" + rest.split("\npaths:", 1)[1])
    repo.commit("no freeze windows")
    repo.branch("change")
    repo.edit(CHROME, 'version: "131.0.6778.86"', 'version: "131.0.6778.109"')
    repo.commit("Chrome 131.0.6778.109")
    return repo


def eucora(venv: Path, *args: str | Path, env: dict[str, str], cwd: Path):
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "EUCORA_"))}
    environ.pop("PYTHONPATH", None)
    return run([venv / "bin" / "eucora", *args], env={**environ, **env}, cwd=cwd, timeout=120)


@pytest.mark.slow
def test_the_base_install_lacks_the_extras_libraries(base_venv: Path, tmp_path: Path) -> None:
    probe = "import importlib.util as u, json, sys; print(json.dumps([m for m in sys.argv[1:] if u.find_spec(m)]))"
    found = run([base_venv / "bin" / "python", "-c", probe, *ABSENT], cwd=tmp_path, timeout=60)
    assert found.returncode == 0, found.stderr
    assert json.loads(found.stdout) == []
    found = run([base_venv / "bin" / "python", "-c", probe, "git", "github", "bot"], cwd=tmp_path)
    assert json.loads(found.stdout) == ["git", "github", "bot"]


@pytest.mark.slow
def test_the_base_install_runs_check_and_action(
    base_venv: Path, repo: GitRepo, tmp_path: Path
) -> None:
    home = {"EUCORA_HOME": str(tmp_path / "home")}
    checked = eucora(
        base_venv, "check", "--repo", repo.path, "--base", "main", "--head", "change",
        env=home, cwd=tmp_path,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "evidence digest: sha256:" in checked.stdout

    event = webhooks.build(
        "pull_request",
        "opened",
        secret="unused-here",  # noqa: S106 - the payload is read from a file, not verified
        repository="contoso/intents",
        number=3,
        base_sha=repo.git("rev-parse", "main"),
        head_sha=repo.git("rev-parse", "change"),
    ).payload
    (tmp_path / "event.json").write_text(json.dumps(event), encoding="utf-8")
    actions = {
        **home,
        "GITHUB_EVENT_NAME": "pull_request",
        "GITHUB_EVENT_PATH": str(tmp_path / "event.json"),
        "GITHUB_OUTPUT": str(tmp_path / "output"),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
        "RUNNER_TEMP": str(tmp_path / "temp"),
        # The sticky comment goes through PyGithub (in the base): here to an address that refuses.
        "GITHUB_TOKEN": "ghs_" + "x" * 36,
        "GITHUB_API_URL": "http://127.0.0.1:9",
    }
    acted = eucora(base_venv, "action", "--repo", repo.path, env=actions, cwd=tmp_path)
    assert acted.returncode == 0, acted.stdout + acted.stderr
    assert "EUCORA check of contoso/intents pull request #3" in acted.stdout
    assert "::warning title=EUCORA::the sticky comment could not be posted" in acted.stdout
    assert "decision<<" in (tmp_path / "output").read_text(encoding="utf-8")


@pytest.mark.slow
def test_the_base_install_names_the_missing_extra(base_venv: Path, tmp_path: Path) -> None:
    home = {"EUCORA_HOME": str(tmp_path / "home")}
    for args, extra in ((["serve"], "server"), (["audit", "verify"], "server"), (["demo"], "demo")):
        done = eucora(base_venv, *args, env=home, cwd=tmp_path)
        assert done.returncode == 2
        assert (
            done.stderr
            == f"eucora {args[0]} needs the {extra} extra: pip install 'eucora[{extra}]'\n"
        )
    helped = eucora(base_venv, "--help", env=home, cwd=tmp_path)
    assert helped.returncode == 0, helped.stderr
    assert "serve " in helped.stdout


@pytest.mark.slow
def test_the_base_install_decides_cab_approvals_in_the_action(
    base_venv: Path, repo: GitRepo, tmp_path: Path, github_double
) -> None:
    """With an approvals-token, ``eucora action`` decides the approvals without the server extra."""
    installation = github_double.add_installation("contoso")
    github_double.add_repository("contoso/intents", installation=installation, source=repo.path)
    github_double.add_team("contoso", "cab-desktop", ["carol"])
    github_double.add_team("contoso", "security-cab", [])
    pr = github_double.open_pull_request(
        "contoso/intents", head="change", base="main", author="dave"
    )
    review = github_double.add_review("contoso/intents", pr.number, "carol", "APPROVED")
    event = webhooks.review_event(pr, review, secret="unused-here", installation_id=None).payload  # noqa: S106
    (tmp_path / "event.json").write_text(json.dumps(event), encoding="utf-8")
    actions = {
        "EUCORA_HOME": str(tmp_path / "home"),
        "GITHUB_EVENT_NAME": "pull_request_review",
        "GITHUB_EVENT_PATH": str(tmp_path / "event.json"),
        "GITHUB_OUTPUT": str(tmp_path / "output"),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
        "RUNNER_TEMP": str(tmp_path / "temp"),
        "GITHUB_API_URL": github_double.url,
        "EUCORA_APPROVALS_TOKEN": github_double.installation_token(installation.id),
    }
    acted = eucora(base_venv, "action", "--repo", repo.path, env=actions, cwd=tmp_path)
    assert acted.returncode == 0, acted.stdout + acted.stderr
    assert "CAB approvals: approved: 1 CAB approval of 1" in acted.stdout
    assert "approved" in (tmp_path / "output").read_text(encoding="utf-8")
