"""A plane is defined once: the core's profiles, the connectors and the schemas agree on it.

``bot/core/planes.py`` is the table; ``connectors/<name>.py`` declares each plane's connector
(``PLANE``); the schemas list the planes an intent, a policy, the repo config and the evidence may
name. Each check below returns what disagrees, so a failure names the file and the plane to fix
(``docs/contributing.md`` lists them).
"""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from bot.core.planes import PROFILES, Plane, PlaneProfile
from tests.conftest import ROOT

SCHEMAS = ROOT / "schemas"
# connectors/ modules that are not a plane: the interface, settings, the registry and helpers.
NOT_PLANES = frozenset({"base", "settings", "registry", "artifacts", "intunewin", "msi"})


def load_schemas() -> dict[str, Any]:
    return {
        path.name: json.loads(path.read_text(encoding="utf-8"))
        for path in sorted(SCHEMAS.glob("*.schema.json"))
    }


def table_disagreements(profiles: Mapping[Plane, PlaneProfile]) -> list[str]:
    """The table holds one profile per :class:`Plane`, in enum order, each under its own key."""
    problems = []
    if tuple(profiles) != tuple(Plane):
        problems.append(f"bot/core/planes.py: PROFILES {list(profiles)} != Plane {list(Plane)}")
    problems += [
        f"bot/core/planes.py: PROFILES[{key}] is the profile of {profile.plane}"
        for key, profile in profiles.items()
        if profile.plane is not key
    ]
    return problems


def _backticked(text: str) -> list[str]:
    return re.findall(r"`([a-z]+)`", text)


def schema_disagreements(schemas: Mapping[str, Any], profiles: Iterator[PlaneProfile]) -> list[str]:
    """Every schema that lists the planes lists the profiles' names, platforms and targets."""
    table = list(profiles)
    names = [profile.name for profile in table]
    intent = schemas["deployment-intent.schema.json"]
    plane_def = intent["$defs"]["plane"]
    lists = {
        "deployment-intent.schema.json $defs.plane.enum": plane_def["enum"],
        "policy.schema.json $defs.plane.enum": schemas["policy.schema.json"]["$defs"]["plane"][
            "enum"
        ],
        "eucora-config.schema.json properties.planes": list(
            schemas["eucora-config.schema.json"]["properties"]["planes"]["properties"]
        ),
        "evidence.schema.json publication plane description": _backticked(
            schemas["evidence.schema.json"]["$defs"]["changePack"]["properties"]["publications"][
                "items"
            ]["properties"]["plane"]["description"]
        ),
        "deployment-intent.schema.json $defs.plane.description": _backticked(
            plane_def["description"]
        ),
    }
    problems = [
        f"schemas/{where} lists {listed}, the profiles {names}"
        for where, listed in lists.items()
        if listed != names
    ]
    problems += [
        f"schemas/deployment-intent.schema.json $defs.plane.description: no "
        f"`{profile.name}`: {profile.display_name}"
        for profile in table
        if f"`{profile.name}`: {profile.display_name}" not in plane_def["description"]
    ]
    platforms = frozenset(intent["$defs"]["platform"]["enum"])
    # The description ends with each plane's platforms in brackets, "ansible: any" for all.
    said = re.search(r"\(([a-z]+: [^()]+)\)\.$", intent["properties"]["platform"]["description"])
    supported = {
        plane: platforms if listed == "any" else frozenset(listed.split(", "))
        for plane, listed in (pair.split(": ") for pair in said.group(1).split("; "))
    } if said else {}  # fmt: skip
    problems += [
        f"schemas/deployment-intent.schema.json properties.platform.description: {profile.name}"
        f" manages {sorted(supported.get(profile.name, ()))}, the profile {sorted(profile.platforms)}"
        for profile in table
        if supported.get(profile.name) != profile.platforms or not profile.platforms <= platforms
    ]
    patterns = {
        rule["if"]["properties"]["plane"]["const"]: rule["then"]["properties"]["rings"]["items"][
            "properties"
        ]["target"]["pattern"]
        for rule in intent.get("allOf", [])
        if "plane" in rule.get("if", {}).get("properties", {})
    }
    problems += [
        f"schemas/deployment-intent.schema.json allOf: {profile.name}'s ring targets must match"
        f" {patterns.get(profile.name)!r}, the profile's target_pattern is"
        f" {profile.target_pattern!r}"
        for profile in table
        if patterns.get(profile.name) != profile.target_pattern
    ]
    problems += [
        f"schemas/deployment-intent.schema.json allOf: a target pattern for {name}, not a plane"
        for name in sorted(set(patterns) - set(names))
    ]
    return problems


def connector_disagreements(profiles: Mapping[Plane, PlaneProfile]) -> list[str]:
    """Each plane has ``connectors/<name>.py`` declaring it, and every plane module is a plane."""
    modules = {
        path.stem
        for path in (ROOT / "connectors").glob("*.py")
        if not path.stem.startswith("_") and path.stem not in NOT_PLANES
    }
    problems = [
        f"connectors/{name}.py: a module beside the planes, but no profile in bot/core/planes.py"
        for name in sorted(modules - {profile.name for profile in profiles.values()})
    ]
    for profile in profiles.values():
        if profile.name not in modules:
            problems.append(f"connectors/{profile.name}.py: missing for plane {profile.name}")
            continue
        declared = getattr(importlib.import_module(f"connectors.{profile.name}"), "PLANE", None)
        if declared is None or declared.profile is not profile:
            problems.append(f"connectors/{profile.name}.py: PLANE does not declare its profile")
    return problems


def test_the_table_has_one_profile_per_plane_in_plane_order() -> None:
    assert table_disagreements(PROFILES) == []


def test_the_schemas_list_the_profiles_planes_platforms_and_target_patterns() -> None:
    assert schema_disagreements(load_schemas(), iter(PROFILES.values())) == []


def test_each_plane_has_a_connector_module_declaring_its_profile() -> None:
    assert connector_disagreements(PROFILES) == []


def test_a_plane_missing_from_a_schema_is_named() -> None:
    schemas = load_schemas()
    schemas["policy.schema.json"]["$defs"]["plane"]["enum"].remove("landscape")
    schemas["eucora-config.schema.json"]["properties"]["planes"]["properties"].pop("jamf")
    problems = schema_disagreements(schemas, iter(PROFILES.values()))
    assert [problem.split(" lists ")[0] for problem in problems] == [
        "schemas/policy.schema.json $defs.plane.enum",
        "schemas/eucora-config.schema.json properties.planes",
    ]


def test_a_platform_the_schema_does_not_give_a_plane_is_named() -> None:
    schemas = load_schemas()
    platform = schemas["deployment-intent.schema.json"]["properties"]["platform"]
    platform["description"] = platform["description"].replace("sccm: windows", "sccm: linux")
    problems = schema_disagreements(schemas, iter(PROFILES.values()))
    assert problems == [
        (
            "schemas/deployment-intent.schema.json properties.platform.description: sccm manages"
            " ['linux'], the profile ['windows']"
        )
    ]


def test_a_target_pattern_out_of_step_is_named() -> None:
    schemas = load_schemas()
    rules = schemas["deployment-intent.schema.json"]["allOf"]
    rules[1]["then"]["properties"]["rings"]["items"]["properties"]["target"]["pattern"] = "^.*$"
    problems = schema_disagreements(schemas, iter(PROFILES.values()))
    assert len(problems) == 1
    assert problems[0].startswith("schemas/deployment-intent.schema.json allOf: sccm's")


def test_the_table_out_of_order_or_under_another_key_is_named() -> None:
    swapped = {Plane.JAMF: PROFILES[Plane.INTUNE], Plane.INTUNE: PROFILES[Plane.JAMF]}
    problems = table_disagreements({**swapped, **{p: PROFILES[p] for p in list(Plane)[2:]}})
    assert problems[0].startswith("bot/core/planes.py: PROFILES [")
    assert "PROFILES[jamf] is the profile of intune" in problems[1]


class RecordingEnviron(Mapping[str, str]):
    """Answers every variable a settings reader asks for (secrets inline, not from files)."""

    def __init__(self) -> None:
        self.read: set[str] = set()

    def __getitem__(self, key: str) -> str:
        self.read.add(key)
        if key.endswith("_FILE"):
            raise KeyError(key)
        if key.endswith("_TIMEOUT"):
            return "5"
        if key.endswith("_EXTRA_VARS"):
            return "{}"
        return f"https://{key.lower()}.example.test"

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


@pytest.mark.parametrize("plane", list(Plane), ids=str)
def test_a_planes_settings_read_only_its_own_variables(plane: Plane) -> None:
    """The registry loads a plane's module only when an ``EUCORA_<PREFIX>_*`` is set: sound only
    when the plane's settings read nothing else (``EUCORA_HOME`` aside)."""
    profile = PROFILES[plane]
    declared = importlib.import_module(f"connectors.{profile.name}").PLANE
    environ = RecordingEnviron()
    assert declared.settings(environ) is not None
    prefixes = tuple(f"EUCORA_{prefix}_" for prefix in profile.env_prefixes)
    assert sorted(k for k in environ.read if not k.startswith(prefixes)) in ([], ["EUCORA_HOME"])
    assert profile.url_variable in environ.read
