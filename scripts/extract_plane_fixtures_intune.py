"""Cut the Microsoft Graph v1.0 CSDL down to what the Intune double validates against.

Usage: python scripts/extract_plane_fixtures_intune.py [SOURCE_DIR]
(SOURCE_DIR defaults to ../shared/fixtures/planes/graph: msgraph-metadata schemas/v1.0-Prod.csdl
at commit f54f11b60956ea7b185ca0447b2b80805836ec7b, MIT, with its LICENSE.)

Kept, unchanged apart from dropping ``<Annotation>`` children: the entity, complex and enum types
planes.md §7 lists (the mobile app family, content versions and files, assignments and their
targets and settings, file encryption info, the Win32 rule, detection, return-code and
install-experience types, the reports ``deviceManagementExportJob`` with its enums, and the
``managedDevice`` and Entra ``device`` read back to join report rows with a ring's group),
every type those reach through ``BaseType`` or a property's ``Type``,
every derived type of the assignment target, Win32 rule and detection families, and the bound
actions ``assign`` (on ``mobileApp``), ``commit`` and ``renewUpload`` (on ``mobileAppContentFile``).
"""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path
from xml.etree.ElementTree import Element, SubElement, register_namespace, tostring

from defusedxml import ElementTree

ROOT = Path(__file__).resolve().parents[1]
TARGET = ROOT / "bot" / "doubles" / "data" / "intune"
EDM = "http://docs.oasis-open.org/odata/ns/edm"
EDMX = "http://docs.oasis-open.org/odata/ns/edmx"
SEEDS = [
    "mobileApp",
    "mobileLobApp",
    "win32LobApp",
    "macOSLobApp",
    "macOSDmgApp",
    "mobileAppContent",
    "mobileAppContentFile",
    "mobileAppAssignment",
    "deviceAndAppManagementAssignmentTarget",
    "exclusionGroupAssignmentTarget",
    "mobileAppAssignmentSettings",
    "win32LobAppAssignmentSettings",
    "macOsLobAppAssignmentSettings",
    "fileEncryptionInfo",
    "mimeContent",
    "installIntent",
    "mobileAppContentFileUploadState",
    "mobileAppPublishingState",
    "windowsArchitecture",
    "deviceManagementExportJob",
    "managedDevice",
    "device",
]
FAMILIES = ("deviceAndAppManagementAssignmentTarget", "win32LobAppRule", "win32LobAppDetection")
ACTIONS = {("assign", "graph.mobileApp"), ("commit", "graph.mobileAppContentFile"),
           ("renewUpload", "graph.mobileAppContentFile")}  # fmt: skip
TYPE_REF = re.compile(r"graph\.([A-Za-z0-9_]+)")


def subset(source: Path) -> Element:  # noqa: C901 -- one pass over the schema, kept readable
    """The kept part of the CSDL as a new EDMX document."""
    schema = ElementTree.parse(source).getroot().find(f"{{{EDMX}}}DataServices/{{{EDM}}}Schema")
    kinds = {f"{{{EDM}}}{kind}" for kind in ("EntityType", "ComplexType", "EnumType")}
    types = {e.get("Name"): e for e in schema if e.tag in kinds}
    wanted = set(SEEDS)
    for element in types.values():
        base = (element.get("BaseType") or "").removeprefix("graph.")
        if base in FAMILIES or (element.get("Name") or "").startswith("win32LobApp"):
            wanted.add(element.get("Name") or "")
    todo = list(wanted)
    while todo:
        element = types[todo.pop()]
        refs = [element.get("BaseType") or ""]
        refs += [p.get("Type") or "" for p in element.iter(f"{{{EDM}}}Property")]
        for name in (m for ref in refs for m in TYPE_REF.findall(ref)):
            if name not in wanted and name in types:
                wanted.add(name)
                todo.append(name)
    register_namespace("edmx", EDMX)
    register_namespace("", EDM)
    root = Element(f"{{{EDMX}}}Edmx", {"Version": "4.0"})
    out = SubElement(
        SubElement(root, f"{{{EDMX}}}DataServices"),
        f"{{{EDM}}}Schema",
        {"Namespace": "microsoft.graph", "Alias": "graph"},
    )
    for element in schema:
        keep = element.get("Name") in wanted and element.tag in kinds
        if element.tag == f"{{{EDM}}}Action":
            binding = element.find(f"{{{EDM}}}Parameter")
            bound = binding.get("Type") if binding is not None else None
            keep = (element.get("Name"), bound) in ACTIONS
        if keep:
            for annotation in element.findall(f".//{{{EDM}}}Annotation"):
                for parent in element.iter():
                    if annotation in list(parent):
                        parent.remove(annotation)
            out.append(element)
    return root


def main(argv: list[str]) -> int:
    """Write the subset and the licence; print sizes."""
    source = Path(argv[1]) if len(argv) > 1 else ROOT.parent / "shared/fixtures/planes/graph"
    if not source.is_dir():
        source = Path("/work/shared/fixtures/planes/graph")
    TARGET.mkdir(parents=True, exist_ok=True)
    document = subset(source / "v1.0-Prod.csdl")
    text = tostring(document, encoding="unicode")
    (TARGET / "graph-v1.0-intune-apps.csdl").write_text(
        '<?xml version="1.0" encoding="utf-8"?>\n' + text + "\n", encoding="utf-8"
    )
    shutil.copyfile(source / "LICENSE", TARGET / "LICENSE")
    for path in sorted(TARGET.iterdir()):
        print(f"{path.relative_to(ROOT)}\t{path.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
