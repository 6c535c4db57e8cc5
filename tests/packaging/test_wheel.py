"""An installed wheel carries the schemas, the policies and the demo's example repository."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            str(ROOT),
        ],
        check=True,
        timeout=300,
    )
    [built] = out.glob("eucora-*.whl")
    return built


def test_wheel_contains_shipped_data(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "bot/_data/schemas/deployment-intent.schema.json" in names
    assert "bot/_data/schemas/eucora-config.schema.json" in names
    assert "bot/_data/schemas/policy.schema.json" in names
    assert "bot/_data/examples/intents-repo/eucora.yaml" in names
    assert "bot/_data/examples/workflows/eucora.yml" in names  # what `eucora init` writes
    assert any(n.startswith("bot/_data/policies/") for n in names)
    assert "connectors/__init__.py" in names
    assert "bot/core/py.typed" in names


def test_unpacked_wheel_validates_without_the_checkout(wheel: Path, tmp_path: Path) -> None:
    """Run from the unpacked wheel alone (as site-packages would hold it), not from the checkout."""
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    example = site / "bot" / "_data" / "examples" / "intents-repo"
    env = {**os.environ, "PYTHONPATH": str(site)}
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            (
                "import bot, sys; from bot.entrypoints.cli import main; "
                "assert bot.__file__.startswith(sys.argv[1]), bot.__file__; "
                "sys.argv = ['eucora', 'validate', sys.argv[2]]; main()"
            ),
            str(site),
            str(example),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 errors" in result.stderr
