"""Cut the AWX Swagger subset the AWX double validates against.

Usage: python scripts/extract_plane_fixtures_awx.py [SWAGGER_JSON] [OUT_DIR]

SWAGGER_JSON defaults to shared/fixtures/planes/awx/swagger.json (ansible/awx
docs/docsite/rst/rest_api/_swagger/swagger.json at 2f3497bd6a01eaa1dab5a91a45dda79718a87c08,
Apache-2.0); OUT_DIR to bot/doubles/data/awx. Keeps only the paths listed in PATHS (planes.md §7.5
plus the two the connector also calls), with their parameters and responses, and drops the long
Markdown descriptions, so the copy stays small. The output is written with sorted keys so a
re-run is byte-identical.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SOURCE = next(
    (
        parent / "shared" / "fixtures" / "planes" / "awx" / "swagger.json"
        for parent in ROOT.parents
        if (parent / "shared" / "fixtures" / "planes").is_dir()
    ),
    ROOT.parent / "shared" / "fixtures" / "planes" / "awx" / "swagger.json",
)
SOURCE_COMMIT = "2f3497bd6a01eaa1dab5a91a45dda79718a87c08"
PATHS = (
    "/api/v2/job_templates/",
    "/api/v2/job_templates/{id}/",
    "/api/v2/job_templates/{id}/launch/",
    "/api/v2/job_templates/{id}/jobs/",
    "/api/v2/job_templates/{id}/survey_spec/",
    "/api/v2/credentials/",
    "/api/v2/jobs/{id}/",
    "/api/v2/jobs/{id}/cancel/",
    "/api/v2/jobs/{id}/job_events/",
    "/api/v2/jobs/{id}/job_host_summaries/",
    "/api/v2/tokens/",
)


def main(argv: list[str]) -> int:
    """Write ``swagger-subset.json`` next to the licence."""
    source = Path(argv[1]) if len(argv) > 1 else DEFAULT_SOURCE
    out_dir = Path(argv[2]) if len(argv) > 2 else ROOT / "bot" / "doubles" / "data" / "awx"
    document = json.loads(source.read_text(encoding="utf-8"))
    paths = {}
    for path in PATHS:
        item = document["paths"][path]
        paths[path] = {
            method: {key: value for key, value in op.items() if key != "description"}
            for method, op in item.items()
        }
    subset = {
        "swagger": document["swagger"],
        "info": document["info"],
        "consumes": document["consumes"],
        "securityDefinitions": document["securityDefinitions"],
        "x-source": f"ansible/awx docs/docsite/rst/rest_api/_swagger/swagger.json@{SOURCE_COMMIT}",
        "paths": paths,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / "swagger-subset.json"
    target.write_text(json.dumps(subset, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {target} ({target.stat().st_size} bytes, {len(paths)} paths)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
