"""Cut the Landscape legacy-API schema subset the Landscape double validates against.

Usage: python scripts/extract_plane_fixtures_landscape.py [SCHEMAS_JSON] [OUT_DIR]

SCHEMAS_JSON defaults to shared/fixtures/planes/landscape/schemas.json (JuryA/landscape_api_py3
``landscape_api_py3/schemas.json`` at f84820c205f5a04c3c7738a67ae259a7407d0a7d, MIT, Canonical
2005-2013 and Jiří Altman 2020): the data file the official ``landscape-api`` client loads. OUT_DIR
defaults to bot/doubles/data/landscape. Keeps the actions in ACTIONS, every API version of each,
unchanged; writes them with sorted keys so a re-run is byte-identical.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = next(
    (p / "shared" for p in ROOT.parents if (p / "shared" / "fixtures" / "planes").is_dir()),
    ROOT.parent / "shared",
)
DEFAULT_SOURCE = SHARED / "fixtures" / "planes" / "landscape" / "schemas.json"
SOURCE_COMMIT = "f84820c205f5a04c3c7738a67ae259a7407d0a7d"
ACTIONS = (
    "CreateScript",
    "EditScript",
    "GetScripts",
    "GetScriptCode",
    "RemoveScript",
    "ExecuteScript",
    "InstallPackages",
    "GetActivities",
    "CancelActivities",
    "GetComputers",
    "RebootComputers",
)


def main(argv: list[str]) -> int:
    """Write ``schemas-subset.json`` next to the licence."""
    source = Path(argv[1]) if len(argv) > 1 else DEFAULT_SOURCE
    out_dir = Path(argv[2]) if len(argv) > 2 else ROOT / "bot" / "doubles" / "data" / "landscape"
    schemas = json.loads(source.read_text(encoding="utf-8"))
    subset = {action: schemas[action] for action in ACTIONS}
    subset["x-source"] = f"JuryA/landscape_api_py3 landscape_api_py3/schemas.json@{SOURCE_COMMIT}"
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / "schemas-subset.json"
    target.write_text(json.dumps(subset, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {target} ({target.stat().st_size} bytes, {len(ACTIONS)} actions)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
