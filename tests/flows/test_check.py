"""``eucora check`` end to end on real git repositories built from the example repository."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.adapters.git import GitError
from bot.adapters.revisions import GitRevisions
from bot.entrypoints.cli import cli
from bot.flows.check import CheckedChange, check_fetched
from tests.conftest import EXAMPLES, ROOT
from tests.support.gitrepo import GitRepo

WEDNESDAY = datetime.fromisoformat("2027-02-17T10:00:00+01:00")
YEAR_END = datetime.fromisoformat("2026-12-28T10:00:00+01:00")
CHROME = "intents/windows/google-chrome.yaml"


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    repo = GitRepo.create(tmp_path / "repo", template=EXAMPLES / "intents-repo")
    repo.branch("change")
    return repo


def check(
    repo: GitRepo, *, now: datetime = WEDNESDAY, labels: tuple[str, ...] = ()
) -> CheckedChange:
    return check_fetched(GitRevisions(repo.path), "main", "change", now=now, labels=labels)


def codes(run: CheckedChange) -> set[str]:
    return {f.code for f in run.result.findings}


def test_a_version_upgrade_passes_with_its_field_diff(repo: GitRepo) -> None:
    repo.edit(CHROME, 'version: "131.0.6778.86"', 'version: "131.0.6778.109"')
    repo.commit("Chrome 131.0.6778.109")
    run = check(repo)
    assert run.result.conclusion == "pass", run.result.findings
    [change] = run.pack["changes"]
    assert change["kind"] == "modified"
    assert change["intent"] == "google-chrome"
    diff = next(d for d in change["fieldDiffs"] if d["path"] == "/app/version")
    assert (diff["old"], diff["new"]) == ("131.0.6778.86", "131.0.6778.109")
    assert (
        diff["line"]
        == repo.read(CHROME)
        .splitlines()
        .index(next(line for line in repo.read(CHROME).splitlines() if "131.0.6778.109" in line))
        + 1
    )
    assert change["baseBlob"] != change["headBlob"]
    assert run.digest.startswith("sha256:")


def test_an_added_intent(repo: GitRepo) -> None:
    text = repo.read("intents/linux/osquery.yaml").replace(
        "name: osquery-linux", "name: osquery-linux-servers", 1
    )
    repo.write("intents/linux/osquery-servers.yaml", text)
    repo.commit("add osquery for servers")
    run = check(repo)
    [change] = run.pack["changes"]
    assert change["kind"] == "added"
    assert change["baseBlob"] is None
    assert all(d["old"] is None for d in change["fieldDiffs"])


def test_a_renamed_intent(repo: GitRepo) -> None:
    repo.git("mv", "intents/linux/osquery.yaml", "intents/linux/osquery-agent.yaml")
    repo.commit("rename")
    run = check(repo)
    [change] = run.pack["changes"]
    assert change["kind"] == "renamed"
    assert change["basePath"] == "intents/linux/osquery.yaml"
    assert change["path"] == "intents/linux/osquery-agent.yaml"
    assert change["fieldDiffs"] == []


def test_a_deleted_intent_needs_an_approval(repo: GitRepo) -> None:
    repo.git("rm", "-q", "intents/windows/7-zip.yaml")
    repo.commit("retire 7-zip")
    run = check(repo)
    [change] = run.pack["changes"]
    assert change["kind"] == "deleted"
    assert change["headBlob"] is None
    assert run.result.required_approvals >= 1


def test_a_schema_error_blocks_at_its_line(repo: GitRepo) -> None:
    repo.edit(CHROME, "  signed: true", "  signed: maybe")
    repo.commit("oops")
    run = check(repo)
    assert run.result.blocked
    [finding] = [f for f in run.result.findings if f.code == "schema.type"]
    assert finding.path == CHROME
    assert repo.read(CHROME).splitlines()[finding.line - 1].strip() == "signed: maybe"


def test_policies_are_read_from_base_so_a_pr_cannot_weaken_them(repo: GitRepo) -> None:
    """Deleting the ticket rule and dropping the ticket in one PR is still denied by the base rule."""
    policy = "policies/contoso.yaml"
    text = repo.read(policy)
    start = text.index("  - id: contoso.broad-ring-needs-ticket")
    end = text.index("  - id: contoso.macos-requires-team-id")
    repo.write(policy, text[:start] + text[end:])
    zoom = "intents/macos/zoom.yaml"
    repo.write(zoom, repo.read(zoom).split("\nchange:")[0] + "\n")
    repo.commit("weaken the rules")
    run = check(repo)
    assert "rule.contoso.broad-ring-needs-ticket" in codes(run)
    assert run.result.blocked
    assert run.result.tier in {"high", "critical"}
    assert run.result.required_approvals >= 2
    # The new rules are previewed: without the ticket rule they would not deny.
    [change] = run.pack["changes"]
    preview = {r["rule"] for r in change.get("previewRuleResults", [])}
    assert "contoso.broad-ring-needs-ticket" not in preview
    # Over every intent at head, the preview names what the new rules would judge differently.
    [entry] = [e for e in run.pack["policyPreview"] if e["intent"] == "zoom-macos"]
    assert "contoso.broad-ring-needs-ticket" in entry["noLongerMatches"]
    from bot.core.render.check_markdown import render_check_markdown
    from bot.core.render.check_text import render_check_text

    assert "### Policy preview" in render_check_markdown(run.pack)
    assert "no longer matches contoso.broad-ring-needs-ticket" in render_check_text(run.pack)


def test_a_config_edit_is_at_least_high_risk_and_base_config_judges(repo: GitRepo) -> None:
    repo.edit("eucora.yaml", "    high: 2\n", "    high: 0\n")
    repo.commit("fewer approvals please")
    run = check(repo)
    assert run.result.tier in {"high", "critical"}
    assert run.result.required_approvals == 2  # from the base eucora.yaml, not the edited one
    assert any("eucora.yaml" in reason for reason in run.result.approval_reasons)


def test_a_broken_config_at_head_blocks(repo: GitRepo) -> None:
    repo.edit("eucora.yaml", "    medium: 25\n", "    medium: lots\n")
    repo.commit("broken config")
    run = check(repo)
    assert run.result.blocked
    assert "schema.type" in codes(run)


def test_freeze_window_blocks_unless_emergency(repo: GitRepo) -> None:
    repo.edit(CHROME, 'version: "131.0.6778.86"', 'version: "131.0.6778.109"')
    repo.commit("Chrome update during the year-end freeze")
    frozen = check(repo, now=YEAR_END)
    assert frozen.result.blocked
    assert any("freeze" in code for code in codes(frozen))
    emergency = check(repo, now=YEAR_END, labels=("eucora:emergency",))
    assert not any(
        "freeze" in f.code and f.severity.value == "error" for f in emergency.result.findings
    )
    assert emergency.result.required_approvals >= 2


def test_same_inputs_give_the_same_pack_bytes_under_any_hash_seed(repo: GitRepo) -> None:
    repo.edit(CHROME, 'version: "131.0.6778.86"', 'version: "131.0.6778.109"')
    repo.commit("Chrome update")
    digests = set()
    for seed in ("0", "1", "12345"):
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "bot",
                "check",
                "--repo",
                str(repo.path),
                "--base",
                "main",
                "--head",
                "change",
                "--now",
                WEDNESDAY.isoformat(),
                "--format",
                "json",
            ],
            env={**os.environ, "PYTHONHASHSEED": seed},
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        from bot.core.evidence import digest_of

        digests.add(digest_of(json.loads(result.stdout)))
    assert digests == {check(repo).digest}


def test_cli_exit_codes_and_formats(repo: GitRepo) -> None:
    repo.edit(CHROME, "  signed: true", "  signed: maybe")
    repo.commit("oops")
    runner = CliRunner()
    args = [
        "check",
        "--repo",
        str(repo.path),
        "--base",
        "main",
        "--head",
        "change",
        "--now",
        "2027-02-17T10:00:00+01:00",
    ]
    text = runner.invoke(cli, args)
    assert text.exit_code == 1
    assert "evidence digest: sha256:" in text.stdout
    markdown = runner.invoke(cli, [*args, "--format", "markdown"])
    assert markdown.stdout.startswith("<!-- eucora:evidence -->")
    github = runner.invoke(cli, [*args, "--format", "github"])
    assert "::error file=intents/windows/google-chrome.yaml" in github.stdout
    unknown = runner.invoke(cli, ["check", "--repo", str(repo.path), "--base", "nope"])
    assert unknown.exit_code == 2
    assert "nope" in unknown.stderr
    assert "Traceback" not in unknown.output
    bad_time = runner.invoke(cli, [*args[:7], "--now", "tuesday"])
    assert bad_time.exit_code == 2


def test_not_a_repository_is_a_git_error(tmp_path: Path) -> None:
    with pytest.raises(GitError):
        check_fetched(GitRevisions(tmp_path), "main", "HEAD", now=WEDNESDAY)


def test_packs_follow_the_evidence_schema(repo: GitRepo) -> None:
    from jsonschema import Draft202012Validator

    schema = json.loads((ROOT / "schemas" / "evidence.schema.json").read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    repo.edit(CHROME, 'version: "131.0.6778.86"', 'version: "131.0.6778.109"')
    repo.git("rm", "-q", "intents/windows/7-zip.yaml")
    repo.commit("two changes")
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    errors = sorted(e.message for e in validator.iter_errors(check(repo).pack))
    assert errors == []


def test_a_waiver_from_base_applies_until_it_expires(repo: GitRepo) -> None:
    """7-Zip's MSI is unsigned; the example repository waives that rule until 2027-03-31."""
    seven_zip = "intents/windows/7-zip.yaml"
    repo.edit(seven_zip, "    devices: 20", "    devices: 25")
    repo.commit("bigger lab ring")
    waived = check(repo)
    assert "rule.package.unsigned-beyond-pilot" not in codes(waived)
    [result] = [
        r
        for r in waived.pack["changes"][0]["ruleResults"]
        if r["rule"] == "package.unsigned-beyond-pilot"
    ]
    assert result["waivedBy"].startswith("RISK-118")
    expired = check(repo, now=datetime.fromisoformat("2027-04-14T10:00:00+02:00"))
    assert "rule.package.unsigned-beyond-pilot" in codes(expired)
    assert "waiver.expired" in codes(expired)
    assert expired.result.blocked


def test_first_deployment_comes_from_the_fleet_index(repo: GitRepo, tmp_path: Path) -> None:
    """An added intent for an app the fleet already has is not a first deployment; the index of
    app names is cached by blob SHA under EUCORA_HOME."""
    osquery = repo.read("intents/linux/osquery.yaml")
    repo.write(
        "intents/linux/osquery-servers.yaml",
        osquery.replace("name: osquery-linux", "name: osquery-linux-servers", 1),
    )
    repo.write(
        "intents/linux/newtool.yaml",
        osquery.replace("name: osquery-linux", "name: newtool-linux", 1).replace(
            "  name: osquery\n", "  name: New Tool\n", 1
        ),
    )
    repo.commit("two added intents")
    home = tmp_path / "home"
    run = check_fetched(GitRevisions(repo.path), "main", "change", now=WEDNESDAY, home=home)
    first = {
        c["intent"]: any(
            r["rule"] == "app.first-deployment" and r["matched"] for r in c["ruleResults"]
        )
        for c in run.pack["changes"]
    }
    assert first == {"osquery-linux-servers": False, "newtool-linux": True}
    index = json.loads((home / "cache" / "app-index.json").read_text(encoding="utf-8"))
    assert "osquery" in index.values()
    again = check_fetched(GitRevisions(repo.path), "main", "change", now=WEDNESDAY, home=home)
    assert again.digest == run.digest


def test_cli_emergency_label_in_a_freeze_window(repo: GitRepo) -> None:
    """``eucora check --label``: the emergency label turns a freeze denial into risk and approvals."""
    repo.edit(CHROME, 'version: "131.0.6778.86"', 'version: "131.0.6778.109"')
    repo.edit(
        CHROME, "  ticket: CHG0031337\n", "  ticket: CHG0031337\n  emergencyReason: CVE fix\n"
    )
    repo.commit("Chrome security fix during the year-end freeze")
    args = ["check", "--repo", str(repo.path), "--base", "main", "--head", "change"]
    args += ["--now", YEAR_END.isoformat(), "--format", "json"]
    runner = CliRunner()
    frozen = runner.invoke(cli, args)
    assert frozen.exit_code == 1
    assert json.loads(frozen.stdout)["decision"]["conclusion"] == "blocked"
    labelled = runner.invoke(cli, [*args, "--label", "eucora:emergency", "--label", "other"])
    assert labelled.exit_code == 0, labelled.output
    pack = json.loads(labelled.stdout)
    assert pack["labels"] == ["eucora:emergency", "other"]
    assert pack["decision"]["conclusion"] == "pass"
    assert pack["approvals"]["required"] >= 2  # the emergency rule's minimum


def test_a_symlinked_intent_is_never_followed_out_of_the_repository(repo: GitRepo) -> None:
    """A symlink in the PR is read as what git stores (the link's text), never its target."""
    secret = repo.path.parent / "outside.yaml"
    secret.write_text("apiVersion: eucora.dev/v1\nkind: DeploymentIntent\nSECRET-MARKER: 1\n")
    (repo.path / "intents" / "linked.yaml").symlink_to(secret)
    repo.commit("a symlinked intent")
    run = check(repo)
    assert run.result.conclusion == "blocked"
    linked = [f for f in run.result.findings if f.path == "intents/linked.yaml"]
    assert linked, run.result.findings
    assert "SECRET-MARKER" not in json.dumps(run.pack)
