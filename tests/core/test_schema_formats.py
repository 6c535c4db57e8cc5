"""Every ``format`` our schemas use is one jsonschema can check here, and it does check it.

jsonschema silently accepts any value for a format whose checker library is not installed; the
project lists the checker libraries one by one in ``pyproject.toml`` (not the ``format-nongpl``
extra, whose ``rfc3987-syntax`` costs 1.4 s at import), so a new format in ``schemas/`` must come
with its library, or this test says which one is missing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"

BAD_VALUE = {
    "date": "2027-02-30",
    "date-time": "next tuesday",
    "uri": "not a uri",
    "json-pointer": "no-leading-slash",
}
"""A value each format must refuse (a checker that is missing accepts it)."""


def _formats(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("format"), str):
            yield node["format"]
        for value in node.values():
            yield from _formats(value)
    elif isinstance(node, list):
        for value in node:
            yield from _formats(value)


def _used_formats() -> set[str]:
    return {
        found
        for path in SCHEMAS.glob("*.json")
        for found in _formats(json.loads(path.read_text(encoding="utf-8")))
    }


def test_the_schemas_use_formats_we_know() -> None:
    used = _used_formats()
    assert used, "no format found: the walk is broken"
    assert used <= set(BAD_VALUE), (
        f"add a bad value (and a checker library) for {used - set(BAD_VALUE)}"
    )


@pytest.mark.parametrize("name", sorted(BAD_VALUE))
def test_each_format_is_really_checked(name: str) -> None:
    checker = jsonschema.Draft202012Validator.FORMAT_CHECKER
    assert name in checker.checkers, f"no checker for {name!r}: its library is not installed"
    assert not checker.conforms(BAD_VALUE[name], name)
