"""The shipped schemas are clean under a strict validator (as Ajv's strict mode reads them).

* every name in ``required`` is declared in ``properties`` of the same subschema or of one it is
  applied within (``allOf``/``anyOf``/``oneOf``/``if``/``then``/``else``/``not``);
* a subschema using object, array or string keywords says its ``type`` (``properties`` needs
  ``object``, ``items`` needs ``array``, ``pattern`` needs ``string``...), itself or in such a parent;
* ``type`` is one name, or one name and ``"null"`` (a nullable value): no other union types;
* and, independently, ``check-jsonschema --check-metaschema`` accepts every schema.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = sorted((ROOT / "schemas").glob("*.json"))
APPLICATORS = ("allOf", "anyOf", "oneOf")
SINGLE_APPLICATORS = ("if", "then", "else", "not")
KEYWORDS_OF = {
    "object": ("properties", "additionalProperties", "required", "patternProperties",
               "propertyNames", "minProperties", "maxProperties"),
    "array": ("items", "prefixItems", "minItems", "maxItems", "uniqueItems", "contains"),
    "string": ("pattern", "minLength", "maxLength", "format"),
    "number": ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"),
}  # fmt: skip
NUMERIC = {"number", "integer"}


def _children(node: dict[str, Any]) -> Iterator[tuple[str, Any, bool]]:
    """(where, subschema, applied in place) for every subschema directly under a node."""
    for keyword in ("properties", "patternProperties", "$defs"):
        for name, sub in node.get(keyword, {}).items():
            yield f"{keyword}/{name}", sub, False
    for keyword in ("items", "additionalProperties", "contains", "propertyNames"):
        if isinstance(node.get(keyword), dict):
            yield keyword, node[keyword], False
    for keyword in APPLICATORS:
        for index, sub in enumerate(node.get(keyword, [])):
            yield f"{keyword}/{index}", sub, True
    for keyword in SINGLE_APPLICATORS:
        if isinstance(node.get(keyword), dict):
            yield keyword, node[keyword], True


def _types(node: dict[str, Any], inherited: set[str], found: list[str], where: str) -> set[str]:
    """The types a node's keywords apply to (its own, else its applicator parent's)."""
    own = node.get("type")
    if isinstance(own, list):
        if len(own) != 2 or "null" not in own:  # a nullable value is no needless union
            found.append(f"{where}: union type {own}")
        return set(own)
    if isinstance(own, str):
        return {own}
    return inherited or ({"$ref"} if "$ref" in node else set())


def _node_problems(
    node: dict[str, Any], where: str, declared: set[str], types: set[str]
) -> list[str]:
    found = [
        f"{where}: required {name!r} is not declared in properties"
        for name in node.get("required", [])
        if name not in declared
    ]
    for kind, keywords in KEYWORDS_OF.items():
        wanted = NUMERIC if kind == "number" else {kind}
        used = [k for k in keywords if k in node]
        if used and not (types & wanted):
            found.append(f"{where}: {', '.join(used)} without type {kind}")
    return found


def problems(schema: dict[str, Any]) -> list[str]:
    """Every strict-mode problem of a schema, as 'pointer: what'."""
    found: list[str] = []
    stack: list[tuple[Any, str, set[str], set[str]]] = [(schema, "#", set(), set())]
    while stack:
        node, where, declared, inherited = stack.pop(0)
        if not isinstance(node, dict):
            continue
        declared = declared | set(node.get("properties", {}))
        types = _types(node, inherited, found, where)
        found.extend(_node_problems(node, where, declared, types))
        stack[0:0] = [
            (sub, f"{where}/{key}", declared if in_place else set(), types if in_place else set())
            for key, sub, in_place in _children(node)
        ]
    return found


@pytest.mark.parametrize("path", SCHEMAS, ids=lambda p: p.name)
def test_the_schema_is_strict_clean(path: Path) -> None:
    assert problems(json.loads(path.read_text(encoding="utf-8"))) == []


def test_the_strict_check_sees_each_kind_of_problem() -> None:
    bad = {
        "type": "object",
        "properties": {
            "a": {"type": ["string", "integer"]},
            "n": {"type": ["integer", "null"], "minimum": 0},
            "b": {"pattern": "^x$"},
            "c": {"items": {"type": "string"}},
            "d": {"properties": {"e": {"type": "string"}}},
        },
        "required": ["a", "z"],
        "anyOf": [{"required": ["b"]}, {"required": ["y"]}],
    }
    assert problems(bad) == [
        "#: required 'z' is not declared in properties",
        "#/properties/a: union type ['string', 'integer']",
        "#/properties/b: pattern without type string",
        "#/properties/c: items without type array",
        "#/properties/d: properties without type object",
        "#/anyOf/1: required 'y' is not declared in properties",
    ]


CHECK_JSONSCHEMA = shutil.which("check-jsonschema", path=str(Path(sys.executable).parent))


def test_check_jsonschema_accepts_every_schema() -> None:
    assert CHECK_JSONSCHEMA is not None, (
        "check-jsonschema is in the test extras: pip install -e .[test]"
    )
    done = subprocess.run(
        [CHECK_JSONSCHEMA, "--check-metaschema", *map(str, SCHEMAS)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
