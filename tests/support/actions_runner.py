"""Run a composite action's ``run:`` steps here, as the Actions runner would on Linux.

Only what our action and example workflow use is implemented: ``${{ }}`` expressions that name
``inputs.*``, ``github.*``, ``runner.*`` and ``steps.<id>.outputs.*``; ``shell: bash`` (run as
``bash --noprofile --norc -eo pipefail``, the runner's command); step ``env``; the
``$GITHUB_OUTPUT`` file read back into ``steps.<id>.outputs``. An expression it does not know
fails the test rather than being guessed.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z_][A-Za-z0-9_-]*)*$")


def parse_output_file(text: str) -> dict[str, str]:
    """GitHub's reading of an environment file: ``name=value`` lines and ``name<<EOF`` blocks."""
    outputs: dict[str, str] = {}
    lines = iter(text.split("\n"))
    for line in lines:
        if "<<" in line:
            name, delimiter = line.split("<<", 1)
            value: list[str] = []
            for item in lines:
                if item == delimiter:
                    break
                value.append(item)
            else:
                raise AssertionError(f"{name}: no closing {delimiter}")
            outputs[name] = "\n".join(value)
        elif line:
            name, value_text = line.split("=", 1)
            outputs[name] = value_text
    return outputs


@dataclass
class Context:
    """The expression contexts a step sees."""

    inputs: dict[str, str]
    github: dict[str, str]
    runner: dict[str, str]
    steps: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)

    def lookup(self, expression: str) -> str:
        if not NAME.match(expression):
            raise AssertionError(f"expression not supported by the local runner: {expression}")
        head, *rest = expression.split(".")
        tree: Any = {
            "inputs": self.inputs,
            "github": self.github,
            "runner": self.runner,
            "steps": self.steps,
        }.get(head)
        if tree is None:
            raise AssertionError(f"unknown context {head!r} in {expression}")
        for key in rest:
            if not isinstance(tree, Mapping) or key not in tree:
                raise AssertionError(f"{expression}: {key!r} is not defined")
            tree = tree[key]
        return str(tree)

    def evaluate(self, text: str) -> str:
        return EXPRESSION.sub(lambda m: self.lookup(m.group(1)), text)


@dataclass
class StepResult:
    returncode: int
    stdout: str
    stderr: str
    outputs: dict[str, str]


def load_action(path: Path) -> dict[str, Any]:
    loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def default_inputs(action: Mapping[str, Any], context: Context) -> dict[str, str]:
    return {
        name: context.evaluate(str(spec.get("default", "")))
        for name, spec in action.get("inputs", {}).items()
    }


def run_step(
    step: Mapping[str, Any], context: Context, *, base_env: Mapping[str, str], cwd: Path
) -> StepResult:
    """Run one ``run:`` step with its evaluated env and script; record its outputs."""
    assert step.get("shell") == "bash", f"{step.get('name')}: only bash steps are run here"
    script = context.evaluate(str(step["run"]))
    env = {**base_env, **{k: context.evaluate(str(v)) for k, v in step.get("env", {}).items()}}
    output_file = Path(env["RUNNER_TEMP"]) / f"output-{len(context.steps)}"
    output_file.write_text("", encoding="utf-8")
    env["GITHUB_OUTPUT"] = str(output_file)
    done = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    outputs = parse_output_file(output_file.read_text(encoding="utf-8"))
    if "id" in step:
        context.steps[str(step["id"])] = {"outputs": outputs}
    return StepResult(done.returncode, done.stdout, done.stderr, outputs)


def action_outputs(action: Mapping[str, Any], context: Context) -> dict[str, str]:
    """The composite action's declared outputs, evaluated from its steps' outputs."""
    return {
        name: context.evaluate(str(spec["value"]))
        for name, spec in action.get("outputs", {}).items()
    }


def runner_environment(tmp: Path, *, path_dirs: list[Path]) -> dict[str, str]:
    """A clean environment as a hosted runner gives a step (no GitHub credentials of ours)."""
    temp = tmp / "runner-temp"
    temp.mkdir(exist_ok=True)
    # PIP_* : this machine's package index settings (a hosted runner reaches PyPI instead)
    keep = {
        k: v
        for k, v in os.environ.items()
        if k in {"HOME", "LANG", "LC_ALL", "TZ"} or k.startswith("PIP_")
    }
    return {
        **keep,
        "PATH": os.pathsep.join([*map(str, path_dirs), os.environ.get("PATH", "")]),
        "GITHUB_ACTIONS": "true",
        "CI": "true",
        "RUNNER_TEMP": str(temp),
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }
