"""Checks JSON request bodies against an OData CSDL (the Graph v1.0 metadata subset we vendor).

Graph publishes no OpenAPI document small enough to ship, but its CSDL names every type, its base
type, properties, enums and bound actions. That is enough to catch what breaks against the real
service: a property name that does not exist on the type, an ``@odata.type`` that is unknown or
not derived from what the URL expects, an abstract type without ``@odata.type``, a value of the
wrong JSON kind, an enum member that does not exist, an action parameter the action lacks.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from defusedxml import ElementTree

EDM = "{http://docs.oasis-open.org/odata/ns/edm}"
_COLLECTION = re.compile(r"^Collection\((.+)\)$")
_INTEGER = frozenset({"Edm.Int16", "Edm.Int32", "Edm.Int64", "Edm.Byte"})


@dataclass(slots=True)
class StructuredType:
    """An entity or complex type: base type, abstractness, declared properties."""

    base: str | None
    abstract: bool
    properties: dict[str, str] = field(default_factory=dict)
    navigation: dict[str, str] = field(default_factory=dict)


class CsdlModel:
    """The types and bound actions of one CSDL schema (namespace alias ``graph``)."""

    label = "v1.0"
    """Which Graph version the description is of (named in problems)."""

    def __init__(self, path: Path) -> None:
        self.types: dict[str, StructuredType] = {}
        self.enums: dict[str, tuple[frozenset[str], bool]] = {}
        self.actions: dict[tuple[str, str], dict[str, str]] = {}
        root = ElementTree.parse(path).getroot()
        schema = next(root.iter(f"{EDM}Schema"))
        for element in schema:
            name = element.get("Name") or ""
            tag = element.tag.removeprefix(EDM)
            if tag in {"EntityType", "ComplexType"}:
                self.types[name] = StructuredType(
                    base=_local(element.get("BaseType")),
                    abstract=element.get("Abstract") == "true",
                    properties={
                        p.get("Name") or "": p.get("Type") or ""
                        for p in element.iter(f"{EDM}Property")
                    },
                    navigation={
                        p.get("Name") or "": p.get("Type") or ""
                        for p in element.iter(f"{EDM}NavigationProperty")
                    },
                )
            elif tag == "EnumType":
                members = frozenset(m.get("Name") or "" for m in element.iter(f"{EDM}Member"))
                self.enums[name] = (members, element.get("IsFlags") == "true")
            elif tag == "Action":
                parameters = [(p.get("Name") or "", p.get("Type") or "") for p in element]
                parameters = [p for p in parameters if p[0]]
                bound = _local(parameters[0][1]) or ""
                self.actions[(name, bound)] = dict(parameters[1:])

    @classmethod
    def from_subset(cls, path: Path) -> CsdlModel:
        """A model from the JSON subset ``scripts/extract_plane_fixtures_intune_beta.py`` writes.

        Graph beta publishes its description as TypeScript typings, not a small CSDL: the
        script turns the kept interfaces into the same types, enums and bound actions.
        """
        data = json.loads(path.read_text(encoding="utf-8"))
        model = cls.__new__(cls)
        model.label = "beta"
        model.types = {
            name: StructuredType(
                base=shape["base"], abstract=shape["abstract"], properties=shape["properties"]
            )
            for name, shape in data["types"].items()
        }
        model.enums = {
            name: (frozenset(enum["members"]), enum["flags"])
            for name, enum in data["enums"].items()
        }
        model.actions = {
            (name, action["bound"]): action["parameters"]
            for name, action in data["actions"].items()
        }
        return model

    def project(self, value: Any, expected: str, other: CsdlModel) -> Any:
        """``value`` without the properties this model has and ``other`` lacks, at any depth.

        What a v1.0 read shows of an object that beta calls wrote: beta-only properties are not
        in the v1.0 answer.
        """
        if isinstance(value, list):
            return [self.project(v, expected, other) for v in value]
        if not isinstance(value, dict):
            return value
        actual = str(value.get("@odata.type") or "").removeprefix("#microsoft.graph.") or expected
        mine, theirs = self.all_properties(actual), other.all_properties(actual)
        kept = {}
        for key, item in value.items():
            if key in mine and key not in theirs and actual in other.types:
                continue
            inner = _COLLECTION.sub(r"\1", mine.get(key, ""))
            local = _local(inner) or ""
            kept[key] = self.project(item, local, other) if local in self.types else item
        return kept

    def derives(self, name: str, base: str) -> bool:
        """Whether type ``name`` is ``base`` or derives from it."""
        current: str | None = name
        while current is not None:
            if current == base:
                return True
            current = self.types[current].base if current in self.types else None
        return False

    def all_properties(self, name: str) -> dict[str, str]:
        """Declared properties of ``name`` and its base types."""
        found: dict[str, str] = {}
        current: str | None = name
        while current is not None and current in self.types:
            found = self.types[current].properties | found
            current = self.types[current].base
        return found

    def navigation(self, name: str) -> dict[str, str]:
        """Navigation properties of ``name`` and its base types."""
        found: dict[str, str] = {}
        current: str | None = name
        while current is not None and current in self.types:
            found = self.types[current].navigation | found
            current = self.types[current].base
        return found

    def check(self, value: Any, expected: str, where: str) -> list[str]:
        """Problems of a JSON object sent as type ``expected`` (or a type derived from it)."""
        if not isinstance(value, dict):
            return [f"{where}: expected an object of type {expected}"]
        actual = expected
        odata_type = value.get("@odata.type")
        if odata_type is not None:
            name = str(odata_type).removeprefix("#microsoft.graph.")
            if name == odata_type or name not in self.types:
                return [f"{where}: @odata.type {odata_type!r} is not a known {self.label} type"]
            if not self.derives(name, expected):
                return [f"{where}: @odata.type {odata_type!r} is not a {expected}"]
            actual = name
        if self.types[actual].abstract:
            return [f"{where}: {expected} is abstract: @odata.type must name a concrete type"]
        problems: list[str] = []
        properties = self.all_properties(actual)
        for key, item in value.items():
            if key.startswith("@odata.") or "@odata." in key:
                continue
            if key not in properties:
                problems.append(f"{where}: {actual} has no property {key!r}")
                continue
            problems += self.check_value(item, properties[key], f"{where}.{key}")
        return problems

    def check_value(self, value: Any, type_name: str, where: str) -> list[str]:
        """Problems of one property value of the declared CSDL type."""
        if value is None:
            return []
        collection = _COLLECTION.match(type_name)
        if collection:
            if not isinstance(value, list):
                return [f"{where}: expected a JSON array ({type_name})"]
            inner = collection.group(1)
            return [
                p for i, v in enumerate(value) for p in self.check_value(v, inner, f"{where}[{i}]")
            ]
        if type_name == "Edm.Boolean":
            return [] if isinstance(value, bool) else [f"{where}: expected a boolean"]
        if type_name == "Edm.Untyped":
            return []
        if type_name == "Edm.Number":  # the beta typings' ``number``: integer or double
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            return [] if ok else [f"{where}: expected a number"]
        if type_name in _INTEGER:
            ok = isinstance(value, int) and not isinstance(value, bool)
            return [] if ok else [f"{where}: expected an integer ({type_name})"]
        if type_name.startswith("Edm."):
            return [] if isinstance(value, str) else [f"{where}: expected a string ({type_name})"]
        local = _local(type_name) or type_name
        if local in self.enums:
            return self._check_enum(value, local, where)
        return self.check(value, local, where)

    def _check_enum(self, value: Any, enum: str, where: str) -> list[str]:
        members, flags = self.enums[enum]
        if not isinstance(value, str):
            return [f"{where}: expected a member of {enum}"]
        given = [v.strip() for v in value.split(",")] if flags else [value]
        unknown = [v for v in given if v not in members]
        return [f"{where}: {unknown} not in {enum} {sorted(members)}"] if unknown else []

    def check_action(self, action: str, bound: str, body: Any, where: str) -> list[str]:
        """Problems of the JSON body of a bound action call."""
        parameters = next(
            (
                p
                for (name, b), p in self.actions.items()
                if name == action and self.derives(bound, b)
            ),
            None,
        )
        if parameters is None:
            return [f"{where}: no action {action} bound to {bound}"]
        if not isinstance(body, dict):
            return [f"{where}: action body must be a JSON object"]
        problems = []
        for key, value in body.items():
            if key not in parameters:
                problems.append(f"{where}: action {action} has no parameter {key!r}")
            else:
                problems += self.check_value(value, parameters[key], f"{where}.{key}")
        return problems


def _local(type_name: str | None) -> str | None:
    if not type_name:
        return None
    return type_name.removeprefix("graph.").removeprefix("microsoft.graph.")
