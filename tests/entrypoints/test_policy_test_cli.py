"""``eucora policy test``: suites of sample intents and expected outcomes."""

from __future__ import annotations

import shutil
from pathlib import Path

from click.testing import CliRunner

from bot.entrypoints.cli import cli
from tests.conftest import EXAMPLES

POLICIES = EXAMPLES / "intents-repo" / "policies"


def run(*args: str):
    return CliRunner().invoke(cli, ["policy", "test", *args])


def test_the_example_suite_passes() -> None:
    result = run(str(POLICIES))
    assert result.exit_code == 0, result.output
    assert result.stdout.count("PASS") == 3
    assert result.stdout.strip().endswith("3 passed, 0 failed")


def test_a_wrong_expectation_fails_with_the_reason(tmp_path: Path) -> None:
    shutil.copytree(EXAMPLES / "intents-repo", tmp_path, dirs_exist_ok=True)
    suite = tmp_path / "policies" / "tests" / "contoso.test.yaml"
    text = suite.read_text(encoding="utf-8")
    text = text.replace(
        "      allowed: false\n", "      allowed: true\n      tier: critical\n      maxScore: 0\n"
    )
    text = text.replace("match: [contoso.macos-requires-team-id]", "match: [contoso.no-such-rule]")
    suite.write_text(text, encoding="utf-8")
    result = run(str(tmp_path / "policies"))
    assert result.exit_code == 1
    out = result.stdout
    assert "FAIL  contoso rules :: four rings without a change ticket are blocked" in out
    assert "expected allowed=true, it was blocked by contoso.broad-ring-needs-ticket" in out
    assert "expected tier critical" in out
    assert "no rule 'contoso.no-such-rule' in the pack" in out
    assert out.strip().endswith("1 passed, 2 failed")


def test_an_invalid_sample_intent_or_suite_is_reported(tmp_path: Path) -> None:
    shutil.copytree(EXAMPLES / "intents-repo", tmp_path, dirs_exist_ok=True)
    case = tmp_path / "policies" / "tests" / "cases" / "zoom.yaml"
    case.write_text(
        case.read_text(encoding="utf-8").replace("plane: jamf", "plane: jamff"), encoding="utf-8"
    )
    (tmp_path / "policies" / "tests" / "broken.test.yaml").write_text(
        "kind: PolicyTest\n", encoding="utf-8"
    )
    result = run(str(tmp_path / "policies"))
    assert result.exit_code == 1
    assert "a sample intent is invalid" in result.stdout
    assert "schema.enum" in result.stdout
    assert "schema.required" in result.stdout


def test_missing_folder_or_no_suites_is_a_usage_error(tmp_path: Path) -> None:
    assert run(str(tmp_path / "missing")).exit_code == 2
    empty = run(str(tmp_path))
    assert empty.exit_code == 2
    assert "no policy test suites" in empty.stderr


def test_a_rule_that_does_not_say_where_is_warned_about(tmp_path: Path) -> None:
    shutil.copytree(EXAMPLES / "intents-repo", tmp_path, dirs_exist_ok=True)
    policy = tmp_path / "policies" / "contoso.yaml"
    text = policy.read_text(encoding="utf-8")
    assert "    at: [/package/signer, /package/signed]\n" in text
    policy.write_text(text.replace("    at: [/package/signer, /package/signed]\n", ""), "utf-8")
    result = run(str(tmp_path / "policies"))
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stdout.splitlines() if "policy.no-location" in line]
    assert len(warnings) == 1
    assert "contoso.macos-requires-team-id" in warnings[0]
    assert "warning[policy.no-location]" in warnings[0]


def test_the_example_policies_all_say_where() -> None:
    assert "policy.no-location" not in run(str(POLICIES)).stdout
