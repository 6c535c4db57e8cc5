"""``eucora check``: every output says who can approve, the tier thresholds and the rules.

The text, markdown and github outputs read the base revision's ``eucora.yaml``; the json output
is the evidence pack itself, whose bytes (and digest) stay those of a repository without routes.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.adapters.revisions import GitRevisions
from bot.core.evidence import digest_of
from bot.entrypoints.cli import cli
from bot.flows.check import check_fetched
from tests.conftest import EXAMPLES
from tests.support.gitrepo import GitRepo

WEDNESDAY = "2027-02-17T10:00:00+01:00"
TEAMS = "tier count from members of contoso/cab-desktop, contoso/security-cab"
THRESHOLDS = "approvals per tier: low 0, medium 1, high 2, critical 2"
RULES = (
    "separation of duties: only the reviewer's latest review counts, and only an approval; "
    "bots cannot approve; the pull request's author cannot approve it"
)
HEAD_RULE = "only approvals on the current head count: any push needs fresh approvals"


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    """The example repository (cab.teams, no cab.routes) and a change bumping Zoom."""
    repo = GitRepo.create(tmp_path / "intents", template=EXAMPLES / "intents-repo")
    repo.branch("change")
    repo.edit("intents/macos/zoom.yaml", "6.2.11.43613", "6.2.12.44000")
    repo.commit("zoom 6.2.12")
    return repo


def run(repo: GitRepo, *more: str, env: dict[str, str] | None = None) -> str:
    args = ["check", "--repo", str(repo.path), "--base", "main", "--head", "change"]
    result = CliRunner().invoke(cli, [*args, "--now", WEDNESDAY, *more], env=env)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_text_and_markdown_say_the_teams_thresholds_and_rules_without_routes(
    repo: GitRepo,
) -> None:
    text = run(repo)
    approvals = text[text.index("Approvals: ") :]
    assert f"  - {TEAMS}; {THRESHOLDS}\n" in approvals
    assert RULES in approvals
    assert HEAD_RULE in approvals
    assert "route" not in text  # nothing is routed here, and nothing says so
    markdown = run(repo, "--format", "markdown")
    section = markdown[markdown.index("#### Approvals") :]
    assert f"- {TEAMS}; {THRESHOLDS}\n" in section
    assert RULES in section
    summary_path = repo.path.parent / "summary.md"
    run(repo, "--format", "github", env={"GITHUB_STEP_SUMMARY": str(summary_path)})
    assert f"- {TEAMS}; {THRESHOLDS}\n" in summary_path.read_text(encoding="utf-8")


def test_the_json_output_is_the_pack_with_its_bytes_unchanged(repo: GitRepo) -> None:
    pack = json.loads(run(repo, "--format", "json"))
    assert sorted(pack["approvals"]) == ["reasons", "required"]
    checked = check_fetched(
        GitRevisions(repo.path), "main", "change", now=datetime.fromisoformat(WEDNESDAY)
    )
    assert digest_of(pack) == checked.digest


def test_a_surviving_approval_is_said_as_the_rule_applied(repo: GitRepo) -> None:
    repo.git("checkout", "-q", "main")
    repo.edit(
        "eucora.yaml",
        "approvalsSurviveNonIntentPush: false",
        "approvalsSurviveNonIntentPush: true",
    )
    repo.commit("approvals survive a push that changes no intent")
    repo.git("checkout", "-q", "change")
    repo.git("rebase", "-q", "main")
    text = run(repo)
    assert "or on a head with the same intents, policies and eucora.yaml" in text
    assert HEAD_RULE not in text
