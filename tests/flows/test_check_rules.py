"""The repository's own rules fail closed: a rule that does not compile or that CEL stops blocks.

Issue 14, findings 10 and 12: a broken rule used to turn itself off (dropped with a warning at the
base revision, 0 findings on the PR that added it), and a rule whose cost CEL's iteration budget
stopped raised ``RuntimeError`` through the whole check.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from bot.adapters.revisions import GitRevisions
from bot.core.findings import Severity
from bot.core.pr_report import annotations_for
from bot.core.render.check_markdown import render_check_github, render_check_markdown
from bot.core.render.evidence_html import render_evidence_html
from bot.flows.check import CheckedChange, check_fetched
from tests.conftest import EXAMPLES
from tests.support.gitrepo import GitRepo

WEDNESDAY = datetime.fromisoformat("2027-02-17T10:00:00+01:00")
CHROME = "intents/windows/google-chrome.yaml"
TEAM = "policies/team.yaml"
RULE = """\
apiVersion: eucora.dev/v1
kind: PolicyPack
metadata:
  name: team
rules:
  - id: contoso.signer-team
    description: Our macOS packages are signed by our own team.
    when: intent.platform == 'macos' && has(intent.package.signer) && intent.package.signer.{field} == 'BAD'
    deny:
      message: signed by the wrong team
"""
BROKEN = RULE.format(field="teamID")
REPAIRED = RULE.format(field="teamId")
COSTLY = """\
apiVersion: eucora.dev/v1
kind: PolicyPack
metadata:
  name: cost
rules:
  - id: contoso.word-pairs
    description: Two words of the name that join into "x".
    when: intent.app.name.split(" ").exists(a, intent.app.name.split(" ").exists(b, a + b == "x"))
    risk:
      points: 5
      family: operational
      reason: odd name
"""


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    return GitRepo.create(tmp_path / "repo", template=EXAMPLES / "intents-repo")


def check(repo: GitRepo, head: str = "change") -> CheckedChange:
    return check_fetched(GitRevisions(repo.path), "main", head, now=WEDNESDAY)


def bump_chrome(repo: GitRepo) -> None:
    repo.branch("change")
    repo.edit(CHROME, 'version: "131.0.6778.86"', 'version: "131.0.6778.109"')
    repo.commit("Chrome 131.0.6778.109")


def test_a_pr_adding_a_rule_that_does_not_compile_is_blocked_at_its_file_line_and_column(
    repo: GitRepo,
) -> None:
    repo.branch("change")
    repo.write(TEAM, BROKEN)
    repo.commit("a rule with a typo")

    run = check(repo)

    assert run.result.blocked
    [finding] = [f for f in run.result.findings if f.path == TEAM]
    assert finding.severity is Severity.ERROR
    assert finding.code == "policy.unknown-field"
    line = BROKEN.splitlines()[finding.line - 1]
    assert line.strip().startswith("when:")
    assert line[finding.column - 1 :].startswith("teamID")
    assert "did you mean 'teamId'" in finding.message


def test_a_broken_rule_at_base_blocks_every_later_pr(repo: GitRepo) -> None:
    repo.write(TEAM, BROKEN)
    repo.commit("merged before the check blocked it")
    bump_chrome(repo)

    run = check(repo)

    assert run.result.blocked
    [finding] = [f for f in run.result.findings if f.path == TEAM]
    assert finding.severity is Severity.ERROR
    assert finding.message.startswith("at the base revision ")
    assert "teamID" in finding.message
    assert "blocked until one repairs the rules" in finding.message


def test_the_pr_that_repairs_a_broken_base_rule_passes_with_policy_change_approvals(
    repo: GitRepo,
) -> None:
    repo.write(TEAM, BROKEN)
    repo.commit("merged before the check blocked it")
    repo.branch("change")
    repo.write(TEAM, REPAIRED)
    repo.commit("repair the rule")

    run = check(repo)

    assert not run.result.blocked, run.result.findings
    [finding] = [f for f in run.result.findings if f.path == TEAM]
    assert finding.severity is Severity.WARNING  # reported, not blocking the repair
    assert run.result.tier in {"high", "critical"}
    assert run.result.required_approvals >= 2  # what any policy change needs
    assert any("policies" in reason for reason in run.result.approval_reasons)


def test_a_pr_that_edits_the_broken_rule_without_repairing_it_stays_blocked(
    repo: GitRepo,
) -> None:
    repo.write(TEAM, BROKEN)
    repo.commit("merged before the check blocked it")
    repo.branch("change")
    repo.write(TEAM, BROKEN.replace("'BAD'", "'WORSE'"))
    repo.commit("still broken")

    run = check(repo)

    assert run.result.blocked
    errors = [f for f in run.result.findings if f.path == TEAM and f.severity is Severity.ERROR]
    assert {f.message.startswith("at the base revision ") for f in errors} == {True, False}


def test_a_rule_that_cel_stops_is_a_finding_on_that_rule_not_a_crash(repo: GitRepo) -> None:
    """The static estimate admits the rule (lists of at most 100 items); the data does not."""
    cost = "policies/cost.yaml"
    repo.write(cost, COSTLY)
    repo.commit("a rule over the words of the name")
    repo.branch("change")
    repo.edit(CHROME, "name: Google Chrome", "name: " + " ".join(["x"] * 120))
    repo.commit("a long name")

    run = check(repo)

    assert run.result.blocked
    [finding] = [f for f in run.result.findings if f.code == "rule.contoso.word-pairs"]
    assert finding.severity is Severity.ERROR
    assert finding.path == cost
    assert COSTLY.splitlines()[finding.line - 1].strip() == "- id: contoso.word-pairs"
    assert "Iteration budget exceeded" in finding.message
    assert CHROME in finding.message


def test_a_rule_finding_is_shown_on_the_line_of_the_field_it_judges_everywhere(
    repo: GitRepo,
) -> None:
    """The reused ticket is annotated on change.ticket's line: annotation, text, Markdown,
    workflow commands and evidence page (issue 19: every finding used to land on line 1)."""
    repo.branch("change")
    repo.edit(CHROME, 'version: "131.0.6778.86"', 'version: "132.0.6834.83"')
    repo.commit("Chrome 132")
    run = check(repo)
    head = (repo.path / CHROME).read_text(encoding="utf-8").splitlines()
    line = next(n for n, text in enumerate(head, 1) if text.strip().startswith("ticket:"))
    column = head[line - 1].index("ticket:") + len("ticket: ") + 1
    [finding] = [f for f in run.result.findings if f.code == "rule.change.ticket-reused"]
    assert (finding.path, finding.line, finding.column) == (CHROME, line, column)
    [note] = [a for a in annotations_for(run.pack)[0] if "ticket" in a.message]
    assert (note.path, note.start_line, note.start_column) == (CHROME, line, column)
    assert f"{CHROME}:{line}" in render_check_markdown(run.pack)
    commands, _ = render_check_github(run.pack)
    assert f"file={CHROME},line={line},col={column}" in commands
    page = render_evidence_html(run.pack, digest=run.digest)
    assert f"{CHROME}:{line}" in page
    assert line > 1
