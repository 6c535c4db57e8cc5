"""The references in docs/reference/ are generated from the schemas and must agree with them."""

from __future__ import annotations

import importlib.util
import json

import pytest

from tests.conftest import ROOT

spec = importlib.util.spec_from_file_location(
    "generate_reference", ROOT / "scripts" / "generate_reference.py"
)
assert spec is not None
assert spec.loader is not None
generator = importlib.util.module_from_spec(spec)
spec.loader.exec_module(generator)
PAGES = generator.pages()


@pytest.mark.parametrize("path", sorted(PAGES), ids=lambda p: p.name)
def test_reference_page_matches_its_schema(path) -> None:
    """Run `python scripts/generate_reference.py` after changing a schema."""
    assert path.read_text(encoding="utf-8") == PAGES[path]


def test_every_intent_field_is_documented() -> None:
    schema = json.loads(
        (ROOT / "schemas" / "deployment-intent.schema.json").read_text(encoding="utf-8")
    )
    page = (ROOT / "docs" / "reference" / "intent.md").read_text(encoding="utf-8")
    for name in schema["properties"]:
        assert f"| `{name}` |" in page
    assert "| `rings[].gate.soak` |" in page
    assert "| `package.detection.productCode` |" in page


def test_catalog_names_every_editor_schema_by_its_id() -> None:
    catalog = json.loads((ROOT / "schemas" / "catalog.json").read_text(encoding="utf-8"))
    ids = {
        json.loads(p.read_text(encoding="utf-8"))["$id"]
        for p in (ROOT / "schemas").glob("*.schema.json")
        if p.name != "evidence.schema.json"
    }
    assert {entry["url"] for entry in catalog["schemas"]} == ids


def test_every_example_yaml_names_its_schema_for_editors() -> None:
    for path in sorted((ROOT / "examples" / "intents-repo").rglob("*.yaml")):
        first = path.read_text(encoding="utf-8").splitlines()[0]
        assert first.startswith("# yaml-language-server: $schema="), path
        target = (path.parent / first.split("=", 1)[1]).resolve()
        assert target.is_file(), f"{path}: {target} does not exist"
