"""docs/intents.md: every minimal intent validates, and there is one per plane and package type."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from bot.adapters.workspace import read_sources
from bot.flows.validate import validate_paths
from tests.conftest import ROOT

SECTION = "## Minimal intents, per plane and package type"
WANTED = {
    ("intune", "msi"),
    ("intune", "exe"),
    ("intune", "intunewin"),
    ("intune", "pkg"),
    ("jamf", "pkg"),
    ("sccm", "msi"),
    ("landscape", "deb"),
    ("ansible", "playbook"),
}


def examples() -> list[str]:
    text = (ROOT / "docs" / "intents.md").read_text(encoding="utf-8")
    start = text.index(SECTION)
    end = text.find("\n## ", start + len(SECTION))
    section = text[start : end if end != -1 else len(text)]
    return re.findall(r"```yaml\n(.*?)```", section, flags=re.DOTALL)


def test_there_is_one_example_per_plane_and_package_type() -> None:
    kinds = [(d["plane"], d["package"]["type"]) for d in map(yaml.safe_load, examples())]
    assert sorted(kinds) == sorted(WANTED)


@pytest.mark.parametrize("block", examples(), ids=lambda b: yaml.safe_load(b)["metadata"]["name"])
def test_each_example_validates_without_findings(block: str, tmp_path: Path) -> None:
    path = tmp_path / "intent.yaml"
    path.write_text(block, encoding="utf-8")
    run = validate_paths([str(path)], read_sources)
    assert run.problems == ()
    assert [f"{f.code}: {f.message}" for f in run.findings] == []
    assert len(run.documents) == 1
