"""The wheel ships the GitHub App manifest, and an installed EUCORA finds it without the checkout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT


@pytest.mark.slow
def test_the_installed_wheel_finds_its_app_manifest(tmp_path: Path) -> None:
    build = ["wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), str(ROOT)]
    subprocess.run(
        [sys.executable, "-m", "pip", *build],
        check=True,
        timeout=300,
    )
    [wheel] = tmp_path.glob("eucora-*.whl")
    assert "bot/_data/github-app/manifest.json" in zipfile.ZipFile(wheel).namelist()
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    script = (
        "import json, bot.resources as r; from bot.flows.github_app import shipped_manifest;"
        "print(json.dumps([str(r.data_dir('github-app')), shipped_manifest()]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        env={**os.environ, "PYTHONPATH": str(site)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    folder, manifest = json.loads(done.stdout)
    assert Path(folder).is_relative_to(site)
    assert manifest == json.loads(
        (ROOT / "github-app" / "manifest.json").read_text(encoding="utf-8")
    )
