"""Write docs/reference/*.md from the JSON Schemas in schemas/ (run after changing a schema)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.core.render.schema_reference import render_schema_reference

PAGES = {
    "deployment-intent.schema.json": "intent.md",
    "eucora-config.schema.json": "eucora-yaml.md",
    "policy.schema.json": "policy.md",
    "waiver.schema.json": "waivers.md",
    "policy-test.schema.json": "policy-test.md",
    "evidence.schema.json": "evidence-pack.md",
}


def pages() -> dict[Path, str]:
    """Every reference page and its expected text."""
    out = {}
    for schema_name, page in PAGES.items():
        schema = json.loads((ROOT / "schemas" / schema_name).read_text(encoding="utf-8"))
        out[ROOT / "docs" / "reference" / page] = render_schema_reference(
            schema, source=f"schemas/{schema_name}"
        )
    return out


if __name__ == "__main__":
    for path, text in pages().items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path.relative_to(ROOT)}")
