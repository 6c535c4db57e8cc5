"""Cut Graph **beta**'s published typings down to what the Intune double checks beta calls by.

Usage: python scripts/extract_plane_fixtures_intune_beta.py SOURCE
(SOURCE: the ``microsoft-graph.d.ts`` of the npm package ``@microsoft/microsoft-graph-types-beta``,
or the unpacked package directory, or its ``.tgz``; version 0.44.0-preview was used. MIT, with
its LICENSE. Fetch it with ``npm pack @microsoft/microsoft-graph-types-beta``.)

The typings are TypeScript interfaces generated from Graph beta's metadata: one ``interface`` a
type (``extends`` its base type), one ``type X = "a" | "b"`` an enum. Kept: the types EUCORA sends
through beta (the relationship family, ``win32LobApp`` and its bases, its install experience, the
assignment, its settings and the whole assignment-target family with its filter properties), every
type those reach through a base or a property, and the enums they name. Written as JSON in the
shape ``bot/doubles/_csdl.py`` reads (``types``: base and properties with OData type names;
``enums``), with the bound actions EUCORA calls, which the typings do not carry, copied from their
documentation pages (``actions``).
"""

from __future__ import annotations

import json
import re
import shutil
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET = ROOT / "bot" / "doubles" / "data" / "intune"
OUT = TARGET / "graph-beta-intune-subset.json"
SEEDS = (
    "mobileAppRelationship",
    "mobileAppDependency",
    "mobileAppSupersedence",
    "win32LobApp",
    "win32LobAppInstallExperience",
    "mobileAppAssignment",
    "win32LobAppAssignmentSettings",
    "deviceAndAppManagementAssignmentTarget",
)
FAMILIES = ("deviceAndAppManagementAssignmentTarget", "mobileAppRelationship")
STOP = frozenset({"mobileAppContent", "mobileAppCategory", "mobileAppScriptReference"})
"""Navigation targets EUCORA never sends through beta: the closure does not follow them."""
ABSTRACT = frozenset(
    {"entity", "mobileApp", "mobileLobApp", "mobileAppAssignmentSettings",
     "deviceAndAppManagementAssignmentTarget", "mobileAppRelationship"}
)  # fmt: skip
"""Abstract types (a body must name a derived ``@odata.type``): the typings do not say; Graph's
v1.0 CSDL marks these abstract (``mobileAppRelationship`` included, bare there)."""
FLAGS = frozenset({"windowsArchitecture"})
"""Flag enums (a comma-separated set of members): the typings do not say, v1.0's CSDL does."""
ACTIONS = {
    "updateRelationships": {
        "bound": "mobileApp",
        "parameters": {"relationships": "Collection(graph.mobileAppRelationship)"},
        "documented": "https://learn.microsoft.com/graph/api/intune-shared-mobileapp-updaterelationships?view=graph-rest-beta",
    },
    "assign": {
        "bound": "mobileApp",
        "parameters": {"mobileAppAssignments": "Collection(graph.mobileAppAssignment)"},
        "documented": "https://learn.microsoft.com/graph/api/intune-apps-mobileapp-assign?view=graph-rest-beta",
    },
}
_INTERFACE = re.compile(
    r"^export interface (\w+)(?: extends (\w+))? \{(?:\}|(.*?)^\})", re.DOTALL | re.MULTILINE
)
_ENUM = re.compile(r'^export type (\w+) = ((?:\s*\|?\s*"[^"]*")+);', re.MULTILINE)
_PROPERTY = re.compile(r"^\s{4}(\w+)\?: (.+);$", re.MULTILINE)
_SCALARS = {"string": "Edm.String", "boolean": "Edm.Boolean", "number": "Edm.Number",
            "any": "Edm.Untyped"}  # fmt: skip


def graph_name(ts_name: str) -> str:
    """``MobileAppDependency`` → ``mobileAppDependency`` (Graph's own spelling)."""
    return ts_name[:1].lower() + ts_name[1:]


def odata_type(ts_type: str) -> str:
    """A TypeScript property type as an OData type name (``Collection(...)`` for arrays)."""
    text = ts_type.strip()
    nullable = re.fullmatch(r"NullableOption<(.+)>", text)
    if nullable:
        text = nullable.group(1).strip()
    if text.endswith("[]"):
        return f"Collection({odata_type(text[:-2])})"
    return _SCALARS.get(text, f"graph.{graph_name(text)}")


def read_typings(source: Path) -> str:
    """The text of ``microsoft-graph.d.ts`` from a file, a package directory or its tarball."""
    if source.is_dir():
        source = source / "microsoft-graph.d.ts"
    if source.suffix in {".tgz", ".gz"}:
        with tarfile.open(source) as archive:
            member = archive.extractfile("package/microsoft-graph.d.ts")
            if member is None:
                raise SystemExit(f"{source}: no package/microsoft-graph.d.ts")
            return member.read().decode("utf-8")
    return source.read_text(encoding="utf-8")


def subset(text: str) -> dict[str, object]:
    """The kept types and enums, and the documented actions."""
    types: dict[str, dict[str, object]] = {}
    for match in _INTERFACE.finditer(text):
        properties = {p: odata_type(t) for p, t in _PROPERTY.findall(match.group(3) or "")}
        base = graph_name(match.group(2)) if match.group(2) else None
        name = graph_name(match.group(1))
        types[name] = {"base": base, "abstract": name in ABSTRACT, "properties": properties}
    enums = {
        graph_name(m.group(1)): sorted(re.findall(r'"([^"]*)"', m.group(2)))
        for m in _ENUM.finditer(text)
    }
    wanted = set(SEEDS)
    for name in types:
        base: object = name
        while base is not None and base not in FAMILIES:
            base = types[str(base)]["base"] if base in types else None
        if base is not None:
            wanted.add(name)
    todo = list(wanted)
    kept_enums: set[str] = set()
    while todo:
        shape = types[todo.pop()]
        refs = [f"graph.{shape['base']}"] if shape["base"] else []
        refs += list(shape["properties"].values())  # type: ignore[attr-defined]
        for ref in refs:
            for name in re.findall(r"graph\.(\w+)", ref):
                if name in enums:
                    kept_enums.add(name)
                elif name in types and name not in wanted and name not in STOP:
                    wanted.add(name)
                    todo.append(name)
    return {
        "types": {name: types[name] for name in sorted(wanted)},
        "enums": {
            name: {"members": enums[name], "flags": name in FLAGS} for name in sorted(kept_enums)
        },
        "actions": ACTIONS,
    }


def main(argv: list[str]) -> int:
    """Write the subset and the licence; print sizes."""
    if len(argv) != 2:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    source = Path(argv[1])
    text = read_typings(source)
    package = source if source.is_dir() else source.parent
    document = {
        "source": "npm @microsoft/microsoft-graph-types-beta, microsoft-graph.d.ts (MIT)",
        **subset(text),
    }
    TARGET.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(document, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    if (package / "LICENSE").is_file():
        shutil.copyfile(package / "LICENSE", TARGET / "LICENSE-graph-beta-typings")
    for path in (OUT, TARGET / "LICENSE-graph-beta-typings"):
        print(f"{path.relative_to(ROOT)}\t{path.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
