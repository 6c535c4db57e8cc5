"""JSON Schema → protobuf messages for CEL's checker: typed where the schema says, dyn elsewhere."""

from __future__ import annotations

from typing import Any

import pytest

from bot.core.cel import CelCompileError, TypeChecker
from bot.core.cel_types import declare_messages

SCHEMA: dict[str, Any] = {
    "type": "object",
    "$defs": {
        "node": {
            "type": "object",
            "properties": {"name": {"type": "string"}, "child": {"$ref": "#/$defs/node"}},
        },
        "count": {"type": "integer"},
    },
    "properties": {
        "text": {"type": "string"},
        "count": {"$ref": "#/$defs/count"},
        "flag": {"type": "boolean"},
        "ratio": {"type": "number"},
        "either": {"type": ["string", "integer"]},
        "untyped": {},
        "mode": {"enum": ["a", "b"]},
        "level": {"const": 3},
        "mixed": {"enum": ["a", 1]},
        "tags": {"type": "array", "items": {"type": "string"}},
        "matrix": {"type": "array", "items": {"type": "array", "items": {"type": "integer"}}},
        "sizes": {"type": "object", "additionalProperties": {"type": "integer"}},
        "lists": {"type": "object", "additionalProperties": {"type": "array"}},
        "open": {"type": "object"},
        "half": {
            "type": "object",
            "properties": {"a": {"type": "string"}},
            "additionalProperties": {"type": "string"},
        },
        "dashed": {"type": "object", "properties": {"x-y": {"type": "string"}}},
        "merged": {
            "type": "object",
            "properties": {"a": {"type": "string"}},
            "allOf": [{"properties": {"b": {"type": "integer"}}}, {"$ref": "#/$defs/none"}],
        },
        "twins": {
            "type": "object",
            "properties": {
                "inner": {"type": "object", "properties": {"v": {"type": "string"}}},
                "Inner": {"type": "object", "properties": {"v": {"type": "integer"}}},
            },
        },
        "tree": {"$ref": "#/$defs/node"},
        "elsewhere": {"$ref": "other.json#/x"},
        "items": {"type": "array", "items": {"type": "object", "properties": {"n": _INT}}}
        if (_INT := {"type": "integer"})
        else {},
    },
}


@pytest.fixture(scope="module")
def checker() -> TypeChecker:
    return TypeChecker(declare_messages({"Doc": SCHEMA}), {"doc": "eucora.Doc"})


@pytest.mark.parametrize(
    "source",
    [
        "doc.text == 'x' && doc.text.startsWith('x') && doc.text != null",
        "doc.count > 3 && doc.count == null || doc.flag",
        "doc.ratio == 'anything' && doc.either > 3 && doc.untyped.deep == 1",
        "doc.mode == 'a' && doc.level == 3 && doc.mixed == true",
        "doc.tags.exists(t, t.endsWith('x')) && doc.tags.size() > 1",
        "doc.matrix[0][0] == 'dyn inside a list of lists'",
        "doc.sizes['a'] > 1 && doc.sizes.all(k, doc.sizes[k] < 10)",
        "doc.lists['a'] == 'dyn' && doc.open.whatever == 3 && doc.half.zzz == 1",
        "doc.dashed['x-y'] == 1",
        "doc.merged.a == 'x' && doc.merged.b > 1",
        "doc.twins.inner.v == 'x' && doc.twins.Inner.v == 1",
        "doc.tree.child.child.name == 'x'",
        "doc.elsewhere == 1 && doc.items[0].n > 1",
        "timestamp(doc.text) < now",
    ],
)
def test_what_the_schema_allows_compiles(checker: TypeChecker, source: str) -> None:
    checker.check(source)


@pytest.mark.parametrize(
    ("source", "types"),
    [
        ("doc.text == 1", "(string, int)"),
        ("doc.count > 'many'", "(int, string)"),
        ("doc.flag == 'yes'", "(bool, string)"),
        ("doc.mode == 1", "(string, int)"),
        ("doc.level == 'three'", "(int, string)"),
        ("doc.tags.exists(t, t > 1)", "(string, int)"),
        ("doc.sizes['a'] == 'x'", "(int, string)"),
        ("doc.merged.b == 'x'", "(int, string)"),
        ("doc.twins.Inner.v == 'x'", "(int, string)"),
        ("doc.tree.child.name == 1", "(string, int)"),
        ("doc.items[0].n == true", "(int, bool)"),
    ],
)
def test_a_wrong_type_is_refused_with_a_column(
    checker: TypeChecker, source: str, types: str
) -> None:
    with pytest.raises(CelCompileError) as raised:
        checker.check(source)
    assert raised.value.message.startswith("wrong type: ")
    assert types in raised.value.message
    assert "wrapper" not in raised.value.message
    assert raised.value.line == 1
    assert raised.value.column > 1


def test_an_undeclared_field_of_a_closed_object_is_refused(checker: TypeChecker) -> None:
    with pytest.raises(CelCompileError, match="undefined field 'nope'"):
        checker.check("doc.merged.nope == 1")


def test_a_declaration_cel_refuses_is_an_error_at_once_not_a_false_alarm_per_rule() -> None:
    """cel-cpp drops a descriptor it refuses; every rule would then fail: refuse to build instead."""
    from google.protobuf import descriptor_pb2, descriptor_pool

    field = descriptor_pb2.FieldDescriptorProto
    file = descriptor_pb2.FileDescriptorProto(name="bad.proto", package="bad", syntax="proto3")
    message = file.message_type.add(name="Bad")
    message.nested_type.add(name="Inner").field.add(
        name="v", number=1, type=field.TYPE_STRING, label=field.LABEL_OPTIONAL
    )
    message.field.add(name="Inner", number=1, type=field.TYPE_MESSAGE, type_name=".bad.Bad.Inner")
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    with pytest.raises(ValueError, match=r"refused the declared type bad\.Bad"):
        TypeChecker(pool, {"doc": "bad.Bad"})
