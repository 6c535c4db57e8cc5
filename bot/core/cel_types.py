"""Protobuf message types generated from JSON Schemas, so that CEL's checker knows field types.

Rules are evaluated with ``intent``, ``facts`` and ``config`` declared as maps of ``dyn`` (the data
are plain dicts converted lazily; a missing key is an error value, not a default). Against ``dyn``
the checker cannot see that ``intent.package.signed == 'yes'`` compares a boolean with text.
cel-expr-python learns field types only from protobuf descriptors, so this module turns a JSON
Schema into messages — one per object, a field per property — that :mod:`bot.core.cel` uses to
compile every rule a second time, for checking only (the evaluated program is the ``dyn`` one, so
results never change).

How schema shapes become CEL types:

* ``string``, ``integer``, ``boolean`` properties → the protobuf wrappers (``wrapper(string)``...):
  typed, and still comparable with ``null`` like an absent map key;
* an object with ``properties`` → a message (``allOf`` branches merged); with only
  ``additionalProperties`` → ``map(string, V)``; otherwise (open objects, properties whose names
  are not identifiers) → ``google.protobuf.Struct``, a map of ``dyn``;
* ``array`` → a repeated field of the item type (an array of arrays: of ``dyn``);
* anything else (``number``, several types, no type, deep recursion) → ``google.protobuf.Value``,
  which CEL treats as ``dyn``: never a false alarm, no check either.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, struct_pb2, wrappers_pb2

_F = descriptor_pb2.FieldDescriptorProto
PACKAGE = "eucora"
_SCALARS = {"string": _F.TYPE_STRING, "integer": _F.TYPE_INT64, "boolean": _F.TYPE_BOOL}
_WRAPPERS = {
    "string": ".google.protobuf.StringValue",
    "integer": ".google.protobuf.Int64Value",
    "boolean": ".google.protobuf.BoolValue",
}
_DYN = ".google.protobuf.Value"
_OPEN = ".google.protobuf.Struct"
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_MAX_DEPTH = 12


@dataclass(frozen=True, slots=True)
class _Type:
    """A protobuf field type: a scalar kind, or a message name; repeated or not."""

    kind: int
    message: str = ""
    repeated: bool = False


_DYN_TYPE = _Type(_F.TYPE_MESSAGE, _DYN)


@dataclass(frozen=True, slots=True)
class _Scope:
    """A message being built and its full name (nested messages are declared inside it)."""

    message: descriptor_pb2.DescriptorProto
    name: str
    fields: frozenset[str]

    def nested(self, name: str, fields: frozenset[str] = frozenset()) -> _Scope:
        """Declare a nested message; its name must differ from every field and nested type."""
        taken = {m.name for m in self.message.nested_type} | self.fields
        candidate, index = name, 2
        while candidate in taken:
            candidate, index = f"{name}{index}", index + 1
        message = self.message.nested_type.add(name=candidate)
        return _Scope(message, f"{self.name}.{candidate}", fields)


class _Translator:
    """Builds nested messages for one schema inside a file descriptor."""

    def __init__(self, schema: Mapping[str, Any]) -> None:
        self.defs: Mapping[str, Any] = schema.get("$defs", {})

    def resolve(self, node: Any, depth: int) -> Mapping[str, Any] | None:
        while isinstance(node, Mapping) and isinstance(node.get("$ref"), str):
            ref = str(node["$ref"])
            if not ref.startswith("#/$defs/") or depth > _MAX_DEPTH:
                return None
            node = self.defs.get(ref.removeprefix("#/$defs/"))
            depth += 1
        return node if isinstance(node, Mapping) else None

    def json_type(self, node: Mapping[str, Any]) -> str | None:
        kind = node.get("type")
        if isinstance(kind, str):
            return kind
        values = node.get("enum", [node["const"]] if "const" in node else None)
        if isinstance(values, list) and values:
            kinds = {_value_kind(v) for v in values}
            return kinds.pop() if len(kinds) == 1 else None
        if "properties" in node or "additionalProperties" in node:
            return "object"
        return None

    def field_type(self, node: Any, parent: _Scope, name: str, depth: int) -> _Type:
        """The type of a property: nullable scalars (wrappers), messages, maps, lists."""
        resolved = self.resolve(node, depth)
        kind = self.json_type(resolved) if resolved is not None else None
        if resolved is None or kind is None or depth > _MAX_DEPTH:
            return _DYN_TYPE
        if kind in _WRAPPERS:
            return _Type(_F.TYPE_MESSAGE, _WRAPPERS[kind])
        if kind == "array":
            item = self.element_type(resolved.get("items"), parent, name, depth + 1)
            return _Type(item.kind, item.message, repeated=True)
        if kind == "object":
            return self.object_type(resolved, parent, name, depth + 1)
        return _DYN_TYPE

    def element_type(self, node: Any, parent: _Scope, name: str, depth: int) -> _Type:
        """The type of a list item or map value: plain scalars (no nulls), never a nested list."""
        resolved = self.resolve(node, depth)
        kind = self.json_type(resolved) if resolved is not None else None
        if resolved is not None and kind in _SCALARS:
            return _Type(_SCALARS[kind])
        field = self.field_type(node, parent, name, depth)
        return _DYN_TYPE if field.repeated else field

    def object_type(self, node: Mapping[str, Any], parent: _Scope, name: str, depth: int) -> _Type:
        properties = dict(node.get("properties", {}))
        for branch in node.get("allOf", []):
            resolved = self.resolve(branch, depth)
            if resolved is not None:
                for key, value in resolved.get("properties", {}).items():
                    properties.setdefault(key, value)
        extra = node.get("additionalProperties")
        if not properties and isinstance(extra, Mapping):
            return self.map_type(extra, parent, name, depth)
        if not properties or extra not in (None, False) or not all(map(_usable, properties)):
            return _Type(_F.TYPE_MESSAGE, _OPEN)
        scope = parent.nested(_camel(name), frozenset(properties))
        for number, (key, value) in enumerate(properties.items(), start=1):
            _add_field(scope.message, key, number, self.field_type(value, scope, key, depth))
        return _Type(_F.TYPE_MESSAGE, f".{scope.name}")

    def map_type(self, values: Any, parent: _Scope, name: str, depth: int) -> _Type:
        entry = parent.nested(f"{_camel(name)}Entry")
        entry.message.options.map_entry = True
        _add_field(entry.message, "key", 1, _Type(_F.TYPE_STRING))
        value = self.element_type(values, parent, f"{name}Value", depth)
        _add_field(entry.message, "value", 2, value)
        return _Type(_F.TYPE_MESSAGE, f".{entry.name}", repeated=True)


def _value_kind(value: object) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    return "string" if isinstance(value, str) else "other"


def _usable(name: str) -> bool:
    return _IDENTIFIER.match(name) is not None


def _camel(name: str) -> str:
    words = re.split(r"[^A-Za-z0-9]+", name)
    text = "".join(w[:1].upper() + w[1:] for w in words if w) or "Field"
    return text if text[0].isalpha() else f"T{text}"


def _add_field(
    message: descriptor_pb2.DescriptorProto, name: str, number: int, kind: _Type
) -> None:
    field = message.field.add(name=name, number=number, type=kind.kind)
    field.label = _F.LABEL_REPEATED if kind.repeated else _F.LABEL_OPTIONAL
    if kind.message:
        field.type_name = kind.message
    field.json_name = name


def declare_messages(schemas: Mapping[str, Mapping[str, Any]]) -> descriptor_pool.DescriptorPool:
    """Build a descriptor pool with one top-level message per named schema (``eucora.<Name>``)."""
    pool = descriptor_pool.DescriptorPool()
    for module in (struct_pb2, wrappers_pb2):
        file = descriptor_pb2.FileDescriptorProto()
        module.DESCRIPTOR.CopyToProto(file)
        pool.Add(file)
    file = descriptor_pb2.FileDescriptorProto(
        name="eucora/declared.proto",
        package=PACKAGE,
        syntax="proto3",
        dependency=["google/protobuf/struct.proto", "google/protobuf/wrappers.proto"],
    )
    for name, schema in schemas.items():
        translator = _Translator(schema)
        properties = schema.get("properties", {})
        root = _Scope(file.message_type.add(name=name), f"{PACKAGE}.{name}", frozenset(properties))
        for number, (key, value) in enumerate(properties.items(), start=1):
            if _usable(key):
                _add_field(root.message, key, number, translator.field_type(value, root, key, 0))
    pool.Add(file)
    return pool
