"""The ``eucora`` command line: output formats, exit codes, and no tracebacks."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from bot.entrypoints.cli import cli
from tests.conftest import EXAMPLES

REPO = EXAMPLES / "intents-repo"
BROKEN = EXAMPLES / "broken"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_validate_example_repository_exits_0() -> None:
    code, out, err = run("validate", str(REPO))
    assert code == 0
    assert out == ""
    assert "0 errors, 0 warnings" in err


def test_validate_reports_every_finding_of_every_file_as_text() -> None:
    code, out, _ = run(
        "validate", str(BROKEN / "extra-property-typo.yaml"), str(BROKEN / "bad-sha256.yaml")
    )
    assert code == 1
    lines = out.splitlines()
    assert len(lines) >= 2
    for line in lines:
        path, line_no, col, rest = line.split(":", 3)
        assert path.endswith(".yaml")
        assert int(line_no) >= 1
        assert int(col) >= 1
        assert rest.startswith((" error[", " warning["))
    assert any("extra-property-typo.yaml" in line for line in lines)
    assert any("bad-sha256.yaml" in line for line in lines)


def test_validate_json_format() -> None:
    code, out, _ = run("validate", "--format", "json", str(BROKEN / "bad-sha256.yaml"))
    assert code == 1
    document = json.loads(out)
    assert document["summary"]["errors"] >= 1
    finding = document["findings"][0]
    assert set(finding) == {"path", "line", "column", "code", "severity", "message", "jsonPath"}
    assert finding["code"] == "schema.pattern"


def test_validate_github_format_writes_workflow_commands() -> None:
    code, out, _ = run("validate", "--format", "github", str(BROKEN / "bad-sha256.yaml"))
    assert code == 1
    assert out.startswith("::error file=")
    assert ",line=" in out
    assert ",col=" in out
    assert "title=schema.pattern::" in out


def test_validate_an_integer_python_cannot_read_is_a_finding_not_a_traceback(
    tmp_path: Path,
) -> None:
    """Issue 14, finding 9: 5,000 digits printed a ValueError traceback."""
    text = (REPO / "intents" / "windows" / "google-chrome.yaml").read_text(encoding="utf-8")
    target = tmp_path / "chrome.yaml"
    target.write_text(text.replace("devices: 12", "devices: " + "4" * 5000), encoding="utf-8")
    line = 1 + text.splitlines().index(next(t for t in text.splitlines() if "devices: 12" in t))
    result = CliRunner().invoke(cli, ["validate", str(target)])
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)  # an exit code, no exception escaped
    assert f"chrome.yaml:{line}:" in result.stdout
    assert "error[yaml.integer]: an integer of 5,000 digits" in result.stdout


def test_validate_compiles_the_repository_rules(tmp_path: Path) -> None:
    """Issue 14, finding 12: a rule whose CEL does not compile validated clean."""
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "team.yaml").write_text(
        "apiVersion: eucora.dev/v1\nkind: PolicyPack\nrules:\n"
        "  - id: contoso.signer-team\n    description: d\n"
        "    when: intent.package.signer.teamID == 'X'\n"
        "    deny: {message: wrong team}\n",
        encoding="utf-8",
    )
    code, out, _ = run("validate", str(tmp_path))
    assert code == 1
    assert f"{policies / 'team.yaml'}:6:33: error[policy.unknown-field]" in out
    assert "did you mean 'teamId'" in out


def test_warnings_alone_exit_0_unless_strict(tmp_path: Path) -> None:
    text = (REPO / "intents" / "windows" / "google-chrome.yaml").read_text(encoding="utf-8")
    target = tmp_path / "chrome.yaml"
    target.write_text(text.replace("owner: ", "owner: NO\n  # was: ", 1), encoding="utf-8")
    code, out, _ = run("validate", str(target))
    assert "warning[yaml.ambiguous]" in out
    assert code == 0
    code, _, _ = run("validate", "--strict", str(target))
    assert code == 1


def test_missing_path_is_an_io_error_but_other_files_are_still_checked() -> None:
    code, out, err = run("validate", "does/not/exist.yaml", str(BROKEN / "bad-sha256.yaml"))
    assert code == 2
    assert "does/not/exist.yaml: no such file or folder" in err
    assert "bad-sha256.yaml" in out


def test_unreadable_file_is_an_io_error(tmp_path: Path) -> None:
    """A path that exists but cannot be read (a socket: unreadable even for root) exits 2."""
    target = tmp_path / "not-a-file.yaml"
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(target))
        code, _, err = run("validate", str(target))
    assert code == 2
    assert "cannot read" in err


def test_a_folder_that_is_not_an_intents_repository_is_read_by_kind(tmp_path: Path) -> None:
    shutil.copy(REPO / "eucora.yaml", tmp_path / "config-copy.yaml")
    shutil.copy(REPO / "intents" / "linux" / "osquery.yaml", tmp_path / "osquery.yaml")
    code, _, err = run("validate", str(tmp_path))
    assert code == 0
    assert "2 files checked" in err


def test_duplicate_intent_names_across_files(tmp_path: Path) -> None:
    shutil.copytree(REPO, tmp_path / "repo")
    source = tmp_path / "repo" / "intents" / "linux" / "osquery.yaml"
    shutil.copy(source, source.with_name("osquery-copy.yaml"))
    code, out, _ = run("validate", str(tmp_path / "repo"))
    assert code == 1
    assert "repo.duplicate-name" in out


def test_usage_errors_exit_2() -> None:
    assert run("validate")[0] == 2
    assert run("validate", "--format", "xml", str(REPO))[0] == 2
    assert run("no-such-command")[0] == 2


def test_console_script_never_prints_a_traceback(tmp_path: Path) -> None:
    """The installed ``eucora`` script on hostile input: findings, exit codes, no traceback."""
    bomb = tmp_path / "bomb.yaml"
    bomb.write_bytes(b"a: &a [" + b",".join([b"x"] * 9) + b"]\nb: [*a, *a]\n\xff\x00")
    script = Path(sys.executable).with_name("eucora")
    result = subprocess.run(
        [str(script), "validate", str(bomb), str(tmp_path / "missing")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr + result.stdout
    assert "yaml.encoding" in result.stdout


def test_version_option() -> None:
    code, out, _ = run("--version")
    assert code == 0
    assert "eucora" in out
