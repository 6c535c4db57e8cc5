"""``eucora action`` in process: exit codes, what it prints, and its one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.entrypoints.cli import cli
from tests.conftest import EXAMPLES
from tests.support import webhooks
from tests.support.gitrepo import GitRepo

SECRET = "webhook-secret-unused-here"  # noqa: S105 - signs the test payloads only
CHROME = "intents/windows/google-chrome.yaml"


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    repo = GitRepo.create(tmp_path / "intents", template=EXAMPLES / "intents-repo")
    config = repo.read("eucora.yaml")
    before, rest = config.split("\nfreezeWindows:\n", 1)
    repo.write("eucora.yaml", before + "\npaths:" + rest.split("\npaths:", 1)[1])
    repo.commit("no freeze windows: the command checks at the real now")
    repo.branch("change")
    return repo


def invoke(tmp_path: Path, repo: GitRepo, payload: dict | str, event: str = "pull_request", **env):
    event_path = tmp_path / "event.json"
    text = payload if isinstance(payload, str) else json.dumps(payload)
    event_path.write_text(text, encoding="utf-8")
    environment = {
        "GITHUB_EVENT_NAME": event,
        "GITHUB_EVENT_PATH": str(event_path),
        "GITHUB_OUTPUT": str(tmp_path / "output"),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
        "RUNNER_TEMP": str(tmp_path / "temp"),
        "EUCORA_HOME": str(tmp_path / "home"),
        "GITHUB_TOKEN": "",
        "GITHUB_APP_ID": "",
        "EUCORA_PUBLIC_URL": "",
        **env,
    }
    return CliRunner().invoke(cli, ["action", "--repo", str(repo.path)], env=environment)


def payload(repo: GitRepo, **changes) -> dict:
    return webhooks.build(
        "pull_request",
        "opened",
        secret=SECRET,
        repository="contoso/intents",
        number=3,
        base_sha=repo.git("rev-parse", "main"),
        head_sha=repo.git("rev-parse", "change"),
        **changes,
    ).payload


def test_a_passing_pull_request_exits_0(tmp_path: Path, repo: GitRepo) -> None:
    repo.edit(CHROME, 'version: "131.0.6778.86"', 'version: "131.0.6778.109"')
    repo.commit("Chrome 131.0.6778.109")
    result = invoke(tmp_path, repo, payload(repo))
    assert result.exit_code == 0, result.output
    assert "EUCORA check of contoso/intents pull request #3" in result.output
    assert "no comment: no GITHUB_TOKEN given" in result.output
    assert "decision<<" in (tmp_path / "output").read_text(encoding="utf-8")


def test_a_blocked_pull_request_exits_1(tmp_path: Path, repo: GitRepo) -> None:
    repo.write(CHROME, repo.read(CHROME).replace("https://", "http://", 1))
    repo.commit("plain http")
    result = invoke(tmp_path, repo, payload(repo))
    assert result.exit_code == 1, result.output
    assert "::error file=intents/windows/google-chrome.yaml" in result.output


def test_a_refused_comment_is_a_warning(tmp_path: Path, repo: GitRepo) -> None:
    repo.edit(CHROME, 'version: "131.0.6778.86"', 'version: "131.0.6778.109"')
    repo.commit("Chrome 131.0.6778.109")
    token = "ghs_" + "x" * 36
    result = invoke(
        tmp_path, repo, payload(repo), GITHUB_TOKEN=token, GITHUB_API_URL="http://127.0.0.1:9"
    )
    assert result.exit_code == 0, result.output
    assert "::warning title=EUCORA::the sticky comment could not be posted" in result.output
    assert token not in result.output


@pytest.mark.parametrize(
    ("event", "text", "message"),
    [
        ("push", "{}", "not 'push'"),
        ("pull_request", "[1", "the event payload is not JSON"),
    ],
)
def test_unusable_events_exit_2(
    tmp_path: Path, repo: GitRepo, event: str, text: str, message: str
) -> None:
    result = invoke(tmp_path, repo, text, event=event)
    assert result.exit_code == 2
    assert message in result.output
    assert result.output.startswith("::error title=EUCORA::")


def test_missing_revisions_and_environment_exit_2(tmp_path: Path, repo: GitRepo) -> None:
    broken = payload(repo)
    broken["pull_request"]["base"]["sha"] = "e" * 40
    result = invoke(tmp_path, repo, broken)
    assert result.exit_code == 2
    assert "fetch-depth: 0" in result.output
    result = invoke(tmp_path, repo, payload(repo), GITHUB_EVENT_PATH="")
    assert result.exit_code == 2
    assert "GITHUB_EVENT_PATH is not set" in result.output
    result = invoke(tmp_path, repo, payload(repo), GITHUB_TOKEN_FILE=str(tmp_path / "none"))
    assert result.exit_code == 2
    assert "GITHUB_TOKEN_FILE: cannot read" in result.output
    result = invoke(
        tmp_path, repo, payload(repo), EUCORA_APPROVALS_TOKEN_FILE=str(tmp_path / "none")
    )
    assert result.exit_code == 2
    assert "EUCORA_APPROVALS_TOKEN_FILE: cannot read" in result.output
    assert "Traceback" not in result.output


# --- the first line tells the truth: the step's verdict, approvals included -----------------------


def _check_output(result) -> list[str]:
    """The check's lines as the step prints them, from its verdict (after "EUCORA check of")."""
    lines = result.output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("EUCORA check of"))
    return lines[start + 1 :]


def test_without_an_approvals_token_the_first_line_says_approvals_are_not_enforced(
    tmp_path: Path, repo: GitRepo
) -> None:
    repo.edit(CHROME, 'version: "131.0.6778.86"', 'version: "131.0.6778.109"')
    repo.commit("Chrome 131.0.6778.109")
    result = invoke(tmp_path, repo, payload(repo))
    assert result.exit_code == 0, result.output
    assert _check_output(result)[0] == (
        "PASS (policy) — CAB approvals not enforced: risk tier medium needs 1 CAB approval;"
        " no approvals-token given"
    )
    assert "PASS — needs 1 CAB approval" not in result.output


def test_with_an_approvals_token_the_first_line_is_the_decided_verdict(
    tmp_path: Path, repo: GitRepo, github_double
) -> None:
    repo.edit(CHROME, 'version: "131.0.6778.86"', 'version: "131.0.6778.109"')
    repo.commit("Chrome 131.0.6778.109")
    installation = github_double.add_installation("contoso")
    github_double.add_repository("contoso/intents", installation=installation, source=repo.path)
    github_double.add_team("contoso", "cab-desktop", ["carol"])
    github_double.add_team("contoso", "security-cab", ["sam"])
    pull = github_double.open_pull_request(
        "contoso/intents", head="change", base="main", author="dave"
    )
    opened = webhooks.pull_request_event(pull, "opened", secret=SECRET, installation_id=None)
    env = {
        "EUCORA_APPROVALS_TOKEN": github_double.installation_token(installation.id),
        "GITHUB_API_URL": github_double.url,
    }
    (tmp_path / "waiting").mkdir()
    result = invoke(tmp_path / "waiting", repo, opened.payload, **env)
    assert result.exit_code == 1, result.output
    assert _check_output(result)[0] == (
        "BLOCKED — waiting for CAB approval: 0 of 1 from contoso/cab-desktop or"
        " contoso/security-cab"
    )
    github_double.add_review("contoso/intents", pull.number, "carol", "APPROVED")
    (tmp_path / "approved").mkdir()
    result = invoke(tmp_path / "approved", repo, opened.payload, **env)
    assert result.exit_code == 0, result.output
    assert _check_output(result)[0] == "PASS — approved by carol (contoso/cab-desktop)"
