"""The CLI imports each command when it runs: the base install's commands need no extra.

The base install is proven for real by tests/packaging/test_base_install.py (a fresh venv, slow);
here each run is a subprocess whose import system refuses the extras' libraries, as a venv that
lacks them would (ModuleNotFoundError), so every run of the suite checks the split.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import click
import pytest

from bot.entrypoints.cli import LAZY_COMMANDS, cli, needs_extra
from tests.conftest import EXAMPLES, ROOT

# The top-level modules each extra brings (pyproject.toml's optional-dependencies).
EXTRA_MODULES = {
    "server": [
        "flask",
        "werkzeug",
        "gunicorn",
        "celery",
        "kombu",
        "redis",
        "sqlalchemy",
        "alembic",
        "psycopg",
        "stamina",
        "prometheus_client",
        "pythonjsonlogger",
    ],
    "planes": ["httpx", "msal", "defusedxml"],
    "ansible": ["ansible_runner", "ansible"],
    "demo": ["openapi_core", "trustme"],
}
REFUSED = sorted({module for modules in EXTRA_MODULES.values() for module in modules})

# Refuses the extras' libraries at import, as a venv that lacks them would.
REFUSE_EXTRAS = """
import importlib.abc, json, sys
refused = set(json.loads(sys.argv[1]))
class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.partition(".")[0] in refused:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, Refuse())
"""

# Runs the CLI with the extras' libraries refused at import; prints the modules it imported.
RUN_WITHOUT_EXTRAS = (
    REFUSE_EXTRAS
    + """
sys.argv = ["eucora", *sys.argv[2:]]
from bot.entrypoints.cli import main
try:
    main()
finally:
    print("IMPORTED " + json.dumps(sorted(sys.modules)), file=sys.stderr)
"""
)


def run_without_extras(*args: str, cwd: Path = ROOT) -> tuple[int, str, str, set[str]]:
    environ = {**os.environ, "PYTHONPATH": str(ROOT), "EUCORA_HOME": str(cwd / "home")}
    done = subprocess.run(
        [sys.executable, "-c", RUN_WITHOUT_EXTRAS, json.dumps(REFUSED), *args],
        cwd=cwd,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    stderr, _, imported = done.stderr.rpartition("IMPORTED ")
    return done.returncode, done.stdout, stderr, set(json.loads(imported))


def test_the_composition_root_imports_in_the_base_install() -> None:
    """``bot.bootstrap`` imported SQLAlchemy, Celery and the storage adapters at its top.

    So the base commands (``eucora evidence``, ``github-app create``) built their services
    outside the one root. Its top now imports what the base install has, and nothing heavy: the
    GitHub client too is imported where the App's connector is built.
    """
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            REFUSE_EXTRAS + "import bot.bootstrap\nprint(json.dumps(sorted(sys.modules)))",
            json.dumps(REFUSED),
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    imported = {module.partition(".")[0] for module in json.loads(done.stdout)}
    assert "bot" in imported
    assert not {"sqlalchemy", "celery", "flask", *REFUSED, "github", "git"} & imported


def test_the_extras_listed_here_are_pyprojects() -> None:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"][
        "optional-dependencies"
    ]
    assert set(EXTRA_MODULES) <= set(extras)
    assert {lazy.extra for lazy in LAZY_COMMANDS.values()} - {None} <= set(extras)


@pytest.mark.parametrize("name", sorted(LAZY_COMMANDS))
def test_each_lazy_summary_is_its_commands_first_help_line(name: str) -> None:
    command = cli.get_command(click.Context(cli), name)
    assert command is not None
    assert command.help is not None
    assert command.help.splitlines()[0] == LAZY_COMMANDS[name].summary


def test_help_lists_every_command_importing_none_of_them() -> None:
    code, stdout, stderr, imported = run_without_extras("--help")
    assert code == 0, stderr
    listed = [line.split()[0] for line in stdout.split("Commands:\n")[1].splitlines()]
    assert listed == sorted([*LAZY_COMMANDS, "demo"])
    assert not {m for m in imported if m.startswith(("bot.flows", "bot.adapters", "bot.core"))}
    assert not {"git", "github", "yaml", "jsonschema", "jsonschema_rs", "connectors"} & imported


def test_validate_and_policy_test_run_without_the_extras() -> None:
    code, stdout, stderr, imported = run_without_extras("validate", str(EXAMPLES / "intents-repo"))
    assert code == 0, stderr
    assert "0 errors" in stderr
    assert "github" not in imported  # validate does not pay for the GitHub client
    code, stdout, stderr, _ = run_without_extras(
        "policy", "test", str(EXAMPLES / "intents-repo" / "policies")
    )
    assert code == 0, stderr
    assert "0 failed" in stdout


def test_base_commands_load_without_the_extras() -> None:
    for args in (["action", "--help"], ["evidence", "verify", "--help"], ["keys", "--help"]):
        code, stdout, stderr, _ = run_without_extras(*args)
        assert code == 0, stderr
        assert stdout.startswith(f"Usage: eucora {args[0]}")
    code, stdout, stderr, _ = run_without_extras("github-app", "create", "--help")
    assert code == 0, stderr


@pytest.mark.parametrize(
    ("args", "extra"),
    [
        (["serve"], "server"),
        (["worker", "--help"], "server"),
        (["db", "upgrade"], "server"),
        (["audit", "verify"], "server"),
        (["demo"], "demo"),
    ],
)
def test_a_command_whose_extra_is_missing_says_so_in_one_line(
    tmp_path: Path, args: list[str], extra: str
) -> None:
    code, stdout, stderr, _ = run_without_extras(*args, cwd=tmp_path)
    assert code == 2
    assert stdout == ""
    assert stderr == f"eucora {args[0]} needs the {extra} extra: pip install 'eucora[{extra}]'\n"


def test_only_a_missing_third_party_library_is_an_extra(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as ended, needs_extra("serve", "server"):
        raise ModuleNotFoundError("No module named 'flask.app'", name="flask.app")
    assert ended.value.code == 2
    assert (
        capsys.readouterr().err
        == "eucora serve needs the server extra: pip install 'eucora[server]'\n"
    )
    # A missing module of EUCORA's own, or one under a base command, is a bug: it propagates.
    with pytest.raises(ModuleNotFoundError), needs_extra("serve", "server"):
        raise ModuleNotFoundError("No module named 'bot.gone'", name="bot.gone")
    with pytest.raises(ModuleNotFoundError), needs_extra("check", None):
        raise ModuleNotFoundError("No module named 'git'", name="git")
