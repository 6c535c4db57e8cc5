"""``eucora rollout status`` and ``eucora reconcile`` from the command line."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from bot.entrypoints.cli import cli


def run(home: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), env={"EUCORA_HOME": str(home)})
    return result.exit_code, result.output


def test_status_on_a_new_home_says_there_are_none_yet(tmp_path: Path) -> None:
    assert run(tmp_path, "db", "upgrade")[0] == 0
    code, text = run(tmp_path, "rollout", "status")
    assert (code, text) == (
        0,
        "No rollouts yet: one starts when a merge's first ring is published.\n",
    )
    code, text = run(tmp_path, "rollout", "status", "--format", "json")
    assert code == 0
    assert json.loads(text) == {"rollouts": []}


def test_reconcile_without_github_is_one_line_and_exit_2(tmp_path: Path) -> None:
    assert run(tmp_path, "db", "upgrade")[0] == 0
    code, text = run(tmp_path, "reconcile", "--once")
    assert code == 2
    assert text.startswith("eucora: error: ")
    assert len(text.strip().splitlines()) == 1
