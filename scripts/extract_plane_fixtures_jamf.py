"""Cut the Jamf Pro API descriptions the Jamf double validates against into bot/doubles/data/jamf.

Usage: python scripts/extract_plane_fixtures_jamf.py [SOURCE_DIR]
(SOURCE_DIR defaults to ../shared/fixtures/planes/jamf, the unchanged upstream copies.)

* ``Packages.yaml``, ``Authentication.yaml`` and ``LICENSE`` are copied byte for byte.
* ``_MonolithLibrary.yaml`` is not public; the two YAMLs ``$ref`` names in it, so a minimal stub is
  written with exactly the names they use: ``ApiError`` and ``HrefResponse`` with the fields
  planes.md §2.6 lists, the ``page``/``page-size`` query parameters, and an open object for the
  rest (history, export, site), which the double never validates against.
* ``classic-policy.schema.json`` is ``components.schemas.policy_post`` from ``classic/schemas.json``
  with every ``#/components/schemas/...`` it reaches, plus the resource map entry for policies.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
TARGET = ROOT / "bot" / "doubles" / "data" / "jamf"
COPIED = ("Packages.yaml", "Authentication.yaml", "LICENSE")
REF = re.compile(r"_MonolithLibrary\.yaml#/components/(schemas|parameters)/([A-Za-z0-9_-]+)")

KNOWN_SCHEMAS: dict[str, Any] = {
    "ApiError": {
        "type": "object",
        "properties": {
            "httpStatus": {"type": "integer"},
            "errors": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "code": {"type": "string"},
                        "description": {"type": "string"},
                        "id": {"type": "string", "nullable": True},
                        "field": {"type": "string", "nullable": True},
                    },
                },
            },
        },
    },
    "HrefResponse": {
        "type": "object",
        "properties": {"id": {"type": "string"}, "href": {"type": "string"}},
    },
}
PAGING = {
    "page": {"name": "page", "default": 0, "minimum": 0},
    "page-size": {"name": "page-size", "default": 100, "minimum": 1},
}


def monolith_stub(texts: list[str]) -> dict[str, Any]:
    """The smallest ``_MonolithLibrary.yaml`` that resolves every name the copied files use."""
    schemas: dict[str, Any] = {}
    parameters: dict[str, Any] = {}
    for text in texts:
        for kind, name in REF.findall(text):
            if kind == "schemas":
                schemas[name] = KNOWN_SCHEMAS.get(name, {"type": "object"})
            elif name in PAGING:
                paging = PAGING[name]
                parameters[name] = {
                    "name": paging["name"],
                    "in": "query",
                    "required": False,
                    "schema": {
                        "type": "integer",
                        "default": paging["default"],
                        "minimum": paging["minimum"],
                    },
                }
            else:
                parameters[name] = {
                    "name": name,
                    "in": "query",
                    "required": False,
                    "schema": {"type": "array", "items": {"type": "string"}},
                    "style": "form",
                    "explode": True,
                }
    return {
        "openapi": "3.0.1",
        "info": {"title": "Stub of Jamf's _MonolithLibrary.yaml (names used here)", "version": "0"},
        "paths": {},
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "parameters": dict(sorted(parameters.items())),
        },
    }


def classic_policy(schemas_json: dict[str, Any]) -> dict[str, Any]:
    """``policy_post`` and the schemas it references, in a self-contained document."""
    schemas = schemas_json["components"]["schemas"]
    wanted: dict[str, Any] = {}
    todo = ["policy_post"]
    while todo:
        name = todo.pop()
        if name in wanted:
            continue
        wanted[name] = schemas[name]
        todo.extend(re.findall(r"#/components/schemas/([A-Za-z0-9_]+)", json.dumps(schemas[name])))
    return {
        "x-source": "Jamf-Concepts/jamf-cli specs/classic/schemas.json "
        "(commit 1269d9327646342dde837be402e2a1c89d7fe641), MIT",
        "x-jamf-source": schemas_json.get("x-jamf-source"),
        "x-jamf-classic-resources": {
            "policies": schemas_json["x-jamf-classic-resources"]["policies"]
        },
        "components": {"schemas": dict(sorted(wanted.items()))},
    }


def main(argv: list[str]) -> int:
    """Write the files; print what was written."""
    source = Path(argv[1]) if len(argv) > 1 else ROOT.parent / "shared/fixtures/planes/jamf"
    if not source.is_dir():
        source = Path("/work/shared/fixtures/planes/jamf")
    TARGET.mkdir(parents=True, exist_ok=True)
    for name in COPIED:
        shutil.copyfile(source / name, TARGET / name)
    texts = [(source / name).read_text(encoding="utf-8") for name in COPIED[:2]]
    stub = monolith_stub(texts)
    (TARGET / "_MonolithLibrary.yaml").write_text(
        "# Generated by scripts/extract_plane_fixtures_jamf.py: a stub, not Jamf's file.\n"
        + yaml.safe_dump(stub, sort_keys=False),
        encoding="utf-8",
    )
    policy = classic_policy(json.loads((source / "classic/schemas.json").read_text("utf-8")))
    (TARGET / "classic-policy.schema.json").write_text(
        json.dumps(policy, indent=1, sort_keys=False) + "\n", encoding="utf-8"
    )
    for path in sorted(TARGET.iterdir()):
        print(f"{path.relative_to(ROOT)}\t{path.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
