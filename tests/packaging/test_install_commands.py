"""The install commands the project documents and runs name the extras their commands need."""

from __future__ import annotations

import re
import tomllib

import yaml

from tests.conftest import ROOT


def extras() -> dict[str, list[str]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return project["optional-dependencies"]


def test_the_readmes_two_set_up_commands_install_the_demo_then_the_tests() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    set_up = readme.split("## Set up", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"```sh\n(.*?)\n```", set_up, flags=re.DOTALL)
    assert commands == [
        "python3 -m venv .venv && .venv/bin/pip install -e '.[demo]' && .venv/bin/eucora demo",
        "bash scripts/test.sh",
    ]
    test_sh = (ROOT / "scripts" / "test.sh").read_text(encoding="utf-8")
    assert "pip install -q --disable-pip-version-check -e '.[test]'" in test_sh


def test_the_test_extra_pulls_every_extra_and_the_demo_the_server() -> None:
    declared = extras()
    assert "eucora[all]" in declared["test"]
    everything = {"server", "planes", "ansible", "demo"}
    assert declared["all"] == [f"eucora[{','.join(sorted(everything, key=list(declared).index))}]"]
    assert "eucora[server]" in declared["demo"]
    assert "eucora[planes]" in declared["server"]


def test_the_action_installs_the_base_only() -> None:
    action = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))
    [install] = [s["run"] for s in action["runs"]["steps"] if "pip install" in s.get("run", "")]
    assert install.rstrip().endswith('"${{ github.action_path }}"'), install
