"""Routed approvals in the check: the pack's ``approvals.routes``, its renderings, the config's
validation; and a repository without routes keeps the pack it always had."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from jsonschema import Draft202012Validator

from bot.adapters.revisions import GitRevisions
from bot.catalog import build_document_validator
from bot.core.documents import DocumentKind
from bot.core.pr_report import approval_check_run
from bot.core.render.check_markdown import render_check_markdown
from bot.core.render.check_text import render_check_text
from bot.core.render.evidence_html import render_evidence_html
from bot.entrypoints.cli import cli
from bot.flows.check import CheckedChange, check_fetched
from tests.conftest import EXAMPLES, ROOT
from tests.support.gitrepo import GitRepo

WEDNESDAY = datetime.fromisoformat("2027-02-17T10:00:00+01:00")
ZOOM = "intents/macos/zoom.yaml"
CHROME = "intents/windows/google-chrome.yaml"
ROUTES = """\
  routes:
    - name: macos
      description: macOS changes need the mac CAB
      when:
        platforms: [macos]
      teams: [contoso/mac-cab]
    - name: broad-ring
      when:
        rings: [broad]
      teams: [contoso/security-cab]
      approvals: 2
    - name: config
      when:
        paths: [eucora.yaml, policies/**, "*.md"]
      teams: [contoso/platform-cab]
"""


def with_routes(repo: GitRepo, routes: str = ROUTES) -> None:
    repo.edit(
        "eucora.yaml", "  approvalsSurviveNonIntentPush", routes + "  approvalsSurviveNonIntentPush"
    )
    repo.commit("approvals routed by what changes")


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    return GitRepo.create(tmp_path / "repo", template=EXAMPLES / "intents-repo")


def check(repo: GitRepo) -> CheckedChange:
    return check_fetched(GitRevisions(repo.path), "main", "change", now=WEDNESDAY)


def test_a_macos_change_reaching_broad_records_both_routes_in_the_pack(repo: GitRepo) -> None:
    with_routes(repo)
    repo.branch("change")
    repo.edit(ZOOM, "6.2.11.43613", "6.2.12.44000")
    repo.commit("zoom")
    run = check(repo)
    approvals = run.pack["approvals"]
    assert approvals["routes"] == [
        {
            "route": "macos",
            "teams": ["contoso/mac-cab"],
            "required": 1,
            "matched": [f"{ZOOM}: platform macos"],
            "files": 1,
            "description": "macOS changes need the mac CAB",
        },
        {
            "route": "broad-ring",
            "teams": ["contoso/security-cab"],
            "required": 2,
            "matched": [f"{ZOOM}: ring broad"],
            "files": 1,
        },
    ]
    assert approvals["cabTeams"] == ["contoso/cab-desktop", "contoso/security-cab"]
    assert approvals["tierApprovals"] == {"low": 0, "medium": 1, "high": 2, "critical": 2}
    schema = json.loads((ROOT / "schemas" / "evidence.schema.json").read_text(encoding="utf-8"))
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    assert sorted(e.message for e in validator.iter_errors(run.pack)) == []

    text = render_check_text(run.pack)
    required = approvals["required"]
    assert (
        f"Approvals: needs {required} CAB approval{'s' if required != 1 else ''} and 1 approval "
        "from contoso/mac-cab (route macos) and 2 approvals from contoso/security-cab "
        "(route broad-ring)"
    ) in text
    assert (
        "route macos (macOS changes need the mac CAB): 1 approval from contoso/mac-cab; "
        f"matched {ZOOM}: platform macos"
    ) in text
    assert "tier count from members of contoso/cab-desktop, contoso/security-cab" in text
    assert "separation of duties: bots, the pull request's author" in text
    markdown = render_check_markdown(run.pack)
    assert "route broad-ring: 2 approvals from contoso/security-cab" in markdown
    page = render_evidence_html(run.pack, digest=run.digest)
    assert "route macos (macOS changes need the mac CAB)" in page


def test_a_config_edit_routes_by_path_and_a_change_routing_nothing_says_so(repo: GitRepo) -> None:
    with_routes(repo)
    repo.branch("change")
    repo.edit("eucora.yaml", "distinctTeams: 1", "distinctTeams: 2")
    repo.commit("quorum of two teams")
    [route] = check(repo).pack["approvals"]["routes"]
    assert (route["route"], route["matched"]) == ("config", ["eucora.yaml: path eucora.yaml"])

    repo.branch("change", "main")
    repo.write("notes/plan.txt", "what we will do next quarter\n")
    repo.commit("notes")
    run = check(repo)
    assert run.pack["approvals"]["routes"] == []
    assert "no route of cab.routes matches this change" in render_check_text(run.pack)


def test_a_change_needing_only_a_routed_approval_waits_for_it(repo: GitRepo) -> None:
    with_routes(repo)
    repo.branch("change")
    repo.edit("README.md", "# Example intents repository", "# The intents repository")
    repo.commit("readme title")
    run = check(repo)
    assert (run.pack["risk"]["tier"], run.pack["approvals"]["required"]) == ("low", 0)
    [route] = run.pack["approvals"]["routes"]
    assert route["matched"] == ["README.md: path README.md"]
    cab = approval_check_run(run.pack, digest=run.digest)
    assert cab.status.value == "in_progress"
    assert cab.output is not None
    assert cab.output.title == "Needs 1 approval from contoso/platform-cab (route config)"
    assert "route config: 1 approval from contoso/platform-cab" in cab.output.summary


def test_a_repository_without_routes_keeps_its_pack_and_its_rendering(repo: GitRepo) -> None:
    repo.branch("change")
    repo.edit(ZOOM, "6.2.11.43613", "6.2.12.44000")
    repo.commit("zoom")
    run = check(repo)
    assert sorted(run.pack["approvals"]) == ["reasons", "required"]
    text = render_check_text(run.pack)
    assert "route" not in text
    assert "separation of duties" not in text


def test_a_bad_route_is_an_error_at_its_line(repo: GitRepo, tmp_path: Path) -> None:
    bad = ROUTES.replace("platforms: [macos]", "platform: [macos]").replace(
        "name: config", "name: macos"
    )
    with_routes(repo, bad)
    doc = build_document_validator().validate(
        (repo.path / "eucora.yaml").read_bytes(), "eucora.yaml", DocumentKind.CONFIG
    )
    lines = repo.read("eucora.yaml").splitlines()
    found = {(f.line, f.code) for f in doc.findings}
    when = next(i for i, line in enumerate(lines, 1) if "platform: [macos]" in line)
    duplicate = [i for i, line in enumerate(lines, 1) if "- name: macos" in line][1]
    assert any(line == when for line, _ in found), doc.findings
    assert (duplicate, "config.route-duplicate") in found
    result = CliRunner().invoke(cli, ["validate", str(repo.path / "eucora.yaml")])
    assert result.exit_code == 1
    assert f"eucora.yaml:{duplicate}:" in result.output
    assert "route name 'macos' is already used by route 1" in result.output


def test_the_documented_routes_and_the_schema_examples_validate() -> None:
    docs = (ROOT / "docs" / "approvals.md").read_text(encoding="utf-8")
    [block] = [b.split("```", 1)[0] for b in docs.split("```yaml\n")[1:] if "routes:" in b]
    header = "apiVersion: eucora.dev/v1\nkind: EucoraConfig\n"
    doc = build_document_validator().validate(
        (header + block).encode(), "eucora.yaml", DocumentKind.CONFIG
    )
    assert doc.findings == ()
    schema = json.loads((ROOT / "schemas" / "eucora-config.schema.json").read_text("utf-8"))
    [example] = schema["properties"]["cab"]["properties"]["routes"]["examples"]
    cab = {"teams": ["contoso/cab"], "routes": example}
    config = {"apiVersion": "eucora.dev/v1", "kind": "EucoraConfig", "cab": cab}
    Draft202012Validator(schema).validate(config)
