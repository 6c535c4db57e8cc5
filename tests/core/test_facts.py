"""Facts are defined once (``bot.core.facts.Facts``): the dict rules see, CEL's declarations and
the documented table all follow it, and the values computed for a change are pinned."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import fields
from datetime import UTC, datetime
from pathlib import Path
from typing import get_type_hints

import jsonschema
import pytest
import yaml
from google.protobuf.descriptor import FieldDescriptor

from bot.core.cel_types import declare_messages
from bot.core.changes import ChangeKind
from bot.core.facts import (
    FACT_NAMES,
    FACTS_SCHEMA,
    FactInputs,
    Facts,
    compute_facts,
    derive_facts,
    with_tier,
)
from tests.support.corpus import generate_intent_text

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2027, 2, 20, 9, tzinfo=UTC)  # a Saturday


def scenario() -> FactInputs:
    intent = yaml.safe_load(generate_intent_text(3))
    base = yaml.safe_load(generate_intent_text(3))
    base["app"]["version"] = "0.9.1"
    weekend = {"name": "weekend", "days": ["sat", "sun"], "from": "00:00", "to": "23:59"}
    return FactInputs(
        change=ChangeKind.MODIFIED,
        path="intents/x.yaml",
        intent=intent,
        base=base,
        config={
            "freezeWindows": [weekend],
            "packageHosts": ["*.example.com"],
            "limits": {"firstRingMaxDevices": 10},
        },
        now=NOW,
        labels=("eucora:emergency", "b-label"),
        other_paths=("README.md",),
        config_changed=True,
        known_apps=frozenset({"x"}),
    )


def test_the_facts_rules_see_are_the_declared_ones_in_order() -> None:
    facts = derive_facts(scenario())
    assert list(facts) == [f.name for f in fields(Facts)] == list(FACTS_SCHEMA["properties"])
    assert set(facts) == FACT_NAMES


@pytest.mark.parametrize("tier", [None, "high"])
def test_every_fact_value_has_its_declared_type(tier: str | None) -> None:
    inputs = scenario()
    facts = derive_facts(inputs)
    if tier is not None:
        facts = with_tier(facts, tier, inputs.config)
    schema = {**FACTS_SCHEMA, "required": sorted(FACT_NAMES), "additionalProperties": False}
    jsonschema.validate(facts, schema)


def _declared(field: FieldDescriptor) -> str:
    if field.message_type is not None and field.message_type.GetOptions().map_entry:
        return "map(string, " + _declared(field.message_type.fields_by_name["value"]) + ")"
    if field.message_type is not None:
        return field.message_type.full_name
    return ("list " if field.is_repeated else "") + {3: "int", 9: "string"}[field.type]


_CEL_TYPES = {
    str: "google.protobuf.StringValue",
    int: "google.protobuf.Int64Value",
    bool: "google.protobuf.BoolValue",
    tuple[str, ...]: "list string",
    Mapping[str, int]: "map(string, int)",
}


def test_cel_declares_exactly_the_facts_with_their_python_types() -> None:
    message = declare_messages({"Facts": FACTS_SCHEMA}).FindMessageTypeByName("eucora.Facts")
    hints = get_type_hints(Facts)
    declared = [(f.name, _declared(f)) for f in message.fields]
    assert declared == [(f.name, _CEL_TYPES[hints[f.name]]) for f in fields(Facts)]


def test_the_pinned_facts_of_a_change_are_unchanged() -> None:
    """The values the rules saw before facts were a dataclass (order and JSON types included)."""
    inputs = scenario()
    facts = derive_facts(inputs)
    assert facts == PINNED
    assert all(type(facts[k]) is type(v) for k, v in PINNED.items())
    assert with_tier(facts, "high", inputs.config)["tier_min_soak_hours"] == 48
    assert compute_facts(inputs).as_dict() == facts


_ROW = re.compile(r"^\| (`[a-z_]+`(?:, `[a-z_]+`)*) \| ([a-z, ]+) \|", re.MULTILINE)
_DOC_TYPES = {
    "string": "string",
    "int": "integer",
    "bool": "boolean",
    "list": "array",
    "map": "object",
}


def test_docs_facts_table_lists_every_fact_once_with_its_type() -> None:
    text = (ROOT / "docs" / "policies.md").read_text(encoding="utf-8")
    table = text.split("### Facts", 1)[1].split("\n## ", 1)[0]
    documented: dict[str, str] = {}
    for names_cell, types_cell in _ROW.findall(table):
        names = re.findall(r"`([a-z_]+)`", names_cell)
        kinds = [k.strip() for k in types_cell.split(",")]
        if len(kinds) == 1:
            kinds *= len(names)
        assert len(kinds) == len(names), names_cell
        for name, kind in zip(names, kinds, strict=True):
            assert name not in documented, f"{name} documented twice"
            documented[name] = _DOC_TYPES[kind]
    declared = {name: schema["type"] for name, schema in FACTS_SCHEMA["properties"].items()}
    assert documented == declared


# derive_facts(scenario()) as computed before Facts existed (git 68fdb22); only "tier" and
# "tier_min_soak_hours" have moved, to where CEL's declarations always had them.
PINNED = {
    "change": "modified",
    "path": "intents/x.yaml",
    "total_devices": 270,
    "previous_total_devices": 270,
    "ring_count": 2,
    "ring_devices": {"lab": 30, "pilot": 240},
    "first_ring": "lab",
    "first_ring_devices": 30,
    "first_ring_percent": 12,
    "first_ring_max_devices": 10,
    "first_ring_max_percent": 5,
    "version_change": "upgrade",
    "major_delta": 61,
    "previous_version": "0.9.1",
    "package_host": "packages.contoso.com",
    "package_host_allowed": False,
    "required_rings_all_devices": [],
    "min_gate_soak_hours": 24,
    "rings_without_soak": [],
    "freeze_windows": ["weekend"],
    "in_freeze_window": True,
    "emergency": True,
    "labels": ["b-label", "eucora:emergency"],
    "config_changed": True,
    "policies_changed": False,
    "other_paths": ["README.md"],
    "first_deployment": False,
    "now": "2027-02-20T09:00:00Z",
    "commands_fetch_code": False,
    "placeholder_hashes": [
        *(c * 64 for c in "0123456789abcdef"),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    ],
    "tier": "",
    "tier_min_soak_hours": -1,
}
