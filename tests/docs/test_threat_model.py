"""docs/security.md's threat model cites tests: each one must exist, so the table cannot lie."""

from __future__ import annotations

import re

from tests.conftest import ROOT

TABLE = (ROOT / "docs" / "security.md").read_text(encoding="utf-8").split("## Threat model", 1)[1]


def cited() -> list[tuple[str, str]]:
    """Every ``file::name`` in the table; ``::name`` alone reuses the file before it."""
    pairs: list[tuple[str, str]] = []
    for cell in re.findall(r"\| ([^|]*tests/[^|]*) \|\s*$", TABLE, flags=re.MULTILINE):
        path = ""
        for item in cell.split(";"):
            file, _, name = item.strip().partition("::")
            path = file or path
            pairs.append((path, name))
    return pairs


def test_the_threat_model_cites_tests() -> None:
    assert len(cited()) >= 30


def test_every_cited_test_exists() -> None:
    missing = [
        f"{path}::{name}"
        for path, name in cited()
        if not (ROOT / path).is_file()
        or f"def {name}(" not in (ROOT / path).read_text(encoding="utf-8")
    ]
    assert missing == []
