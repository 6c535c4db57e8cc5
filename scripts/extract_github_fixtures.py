"""Extract the GitHub fixtures the tests need from the shared copies of GitHub's own descriptions.

The tests must run without ``/work/shared``, and the full REST description is 13 MB, so this
copies only what the bot and the GitHub double use:

* ``bot/doubles/data/github/openapi-subset.json``: the operations in :data:`OPERATIONS` from
  ``openapi-api.github.com.json`` (npm ``@octokit/openapi``), with every component they
  reference, followed transitively; ``info``, ``servers`` and ``tags`` are kept as published.
* ``tests/fixtures/github/webhooks/webhook-examples.json``: GitHub's example deliveries for the
  events and actions in :data:`WEBHOOK_ACTIONS` (npm ``@octokit/webhooks-examples``), as a list
  of ``{"event", "action", "index", "payload"}``.
* ``tests/fixtures/github/webhooks/webhook-schemas.json``: the JSON Schema definitions for those
  events and actions (npm ``@octokit/webhooks-schemas``), with the definitions they reference.

Usage: ``python scripts/extract_github_fixtures.py [SOURCE_DIR]`` (default
``../shared/fixtures/github`` next to the project, or ``/work/shared/fixtures/github``). The
output is deterministic (sorted keys, two-space indent), so a re-run shows as no diff.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "fixtures" / "github"
DOUBLE_DATA = ROOT / "bot" / "doubles" / "data" / "github"
"""The OpenAPI subset ships with the GitHub double (``eucora demo`` runs it)."""

OPERATIONS: tuple[tuple[str, str], ...] = (
    ("get", "/app"),
    ("post", "/app/installations/{installation_id}/access_tokens"),
    ("post", "/app-manifests/{code}/conversions"),
    ("get", "/app/hook/deliveries"),
    ("post", "/app/hook/deliveries/{delivery_id}/attempts"),
    ("get", "/rate_limit"),
    ("get", "/user"),
    ("get", "/repos/{owner}/{repo}"),
    ("get", "/repos/{owner}/{repo}/installation"),
    ("get", "/repos/{owner}/{repo}/pulls/{pull_number}"),
    ("get", "/repos/{owner}/{repo}/pulls/{pull_number}/commits"),
    ("get", "/repos/{owner}/{repo}/pulls/{pull_number}/files"),
    ("get", "/repos/{owner}/{repo}/pulls/{pull_number}/reviews"),
    ("post", "/repos/{owner}/{repo}/pulls/{pull_number}/reviews"),
    ("post", "/repos/{owner}/{repo}/pulls/{pull_number}/requested_reviewers"),
    ("put", "/repos/{owner}/{repo}/pulls/{pull_number}/merge"),
    ("post", "/repos/{owner}/{repo}/check-runs"),
    ("get", "/repos/{owner}/{repo}/check-runs/{check_run_id}"),
    ("patch", "/repos/{owner}/{repo}/check-runs/{check_run_id}"),
    ("get", "/repos/{owner}/{repo}/commits/{ref}/check-runs"),
    ("get", "/repos/{owner}/{repo}/issues/{issue_number}/comments"),
    ("post", "/repos/{owner}/{repo}/issues/{issue_number}/comments"),
    ("patch", "/repos/{owner}/{repo}/issues/comments/{comment_id}"),
    ("post", "/repos/{owner}/{repo}/issues"),
    ("get", "/repos/{owner}/{repo}/issues"),
    ("patch", "/repos/{owner}/{repo}/issues/{issue_number}"),
    ("get", "/repos/{owner}/{repo}/labels/{name}"),
    ("post", "/repos/{owner}/{repo}/labels"),
    ("get", "/repos/{owner}/{repo}/git/ref/{ref}"),
    ("get", "/repos/{owner}/{repo}/git/commits/{commit_sha}"),
    ("post", "/repos/{owner}/{repo}/git/blobs"),
    ("post", "/repos/{owner}/{repo}/git/trees"),
    ("post", "/repos/{owner}/{repo}/git/commits"),
    ("post", "/repos/{owner}/{repo}/git/refs"),
    ("patch", "/repos/{owner}/{repo}/git/refs/{ref}"),
    ("get", "/repos/{owner}/{repo}/pulls"),
    ("post", "/repos/{owner}/{repo}/pulls"),
    ("get", "/repos/{owner}/{repo}/collaborators/{username}/permission"),
    ("get", "/orgs/{org}/teams/{team_slug}/members"),
    ("get", "/orgs/{org}/teams/{team_slug}/memberships/{username}"),
    ("get", "/orgs/{org}/teams/{team_slug}/teams"),
    ("get", "/repos/{owner}/{repo}/deployments"),
    ("post", "/repos/{owner}/{repo}/deployments"),
    ("post", "/repos/{owner}/{repo}/deployments/{deployment_id}/statuses"),
    ("get", "/repos/{owner}/{repo}/deployments/{deployment_id}/statuses"),
    ("post", "/repos/{owner}/{repo}/actions/runs/{run_id}/deployment_protection_rule"),
    ("get", "/repos/{owner}/{repo}/commits/{ref}"),
    ("get", "/search/commits"),
)

WEBHOOK_ACTIONS: dict[str, tuple[str | None, ...]] = {
    "ping": (None,),
    "pull_request": (
        "opened",
        "synchronize",
        "reopened",
        "ready_for_review",
        "edited",
        "labeled",
        "unlabeled",
        "closed",
        "assigned",
    ),
    "pull_request_review": ("submitted", "edited", "dismissed"),
    "issue_comment": ("created",),
    "check_run": ("rerequested", "created"),
    "check_suite": ("requested", "rerequested"),
    "merge_group": ("checks_requested",),
    "membership": ("added", "removed"),
    "deployment_protection_rule": ("requested",),
    "installation": ("created", "deleted"),
    # No published example of deployment_protection_rule: the tests derive one from this.
    "deployment": ("created",),
    # Events EUCORA does not act on, for the tests that they are acknowledged and ignored.
    "push": (None,),
}

LICENSE_NOTE = """\
The files in this directory are extracts of GitHub's published API descriptions, distributed by
the Octokit project under the MIT licence below:

- openapi-subset.json: from npm @octokit/openapi (generated/api.github.com.json)
- webhooks/webhook-examples.json: from npm @octokit/webhooks-examples (api.github.com/index.json)
- webhooks/webhook-schemas.json: from npm @octokit/webhooks-schemas (schema.json)

They were extracted with scripts/extract_github_fixtures.py (see README.md here).

"""


def _refs(node: Any) -> set[str]:
    """Every local ``$ref`` string under ``node``."""
    found: set[str] = set()
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            ref = item.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/"):
                found.add(ref)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def _lookup(document: dict[str, Any], ref: str) -> Any:
    node: Any = document
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def _close_over(document: dict[str, Any], roots: Any, prefix: tuple[str, ...]) -> dict[str, Any]:
    """Copy of every object reachable from ``roots`` through ``$ref``, keyed by its path parts."""
    seen: set[str] = set()
    pending = sorted(_refs(roots))
    while pending:
        ref = pending.pop()
        if ref in seen:
            continue
        seen.add(ref)
        pending.extend(sorted(_refs(_lookup(document, ref)) - seen))
    tree: dict[str, Any] = {}
    for ref in sorted(seen):
        parts = ref[2:].split("/")
        if tuple(parts[: len(prefix)]) != prefix:
            raise SystemExit(f"unexpected reference outside {'/'.join(prefix)}: {ref}")
        node = tree
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = _lookup(document, ref)
    return tree


def extract_openapi(source: Path) -> dict[str, Any]:
    """The OpenAPI subset: the listed operations and the components they reach."""
    full = json.loads((source / "openapi-api.github.com.json").read_text(encoding="utf-8"))
    paths: dict[str, Any] = {}
    for method, path in OPERATIONS:
        item = full["paths"][path]
        if method not in item:
            raise SystemExit(f"{method.upper()} {path} is not in the description")
        target = paths.setdefault(path, {k: v for k, v in item.items() if k == "parameters"})
        target[method] = item[method]
    subset = {
        "openapi": full["openapi"],
        "info": full["info"],
        "servers": full["servers"],
        "externalDocs": full["externalDocs"],
        "paths": paths,
    }
    subset.update(_close_over(full, paths, ("components",)))
    return subset


def extract_webhooks(source: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """GitHub's example deliveries and their JSON Schema definitions for the events we handle."""
    events = json.loads((source / "webhook-examples.json").read_text(encoding="utf-8"))
    examples: list[dict[str, Any]] = []
    for entry in events:
        wanted = WEBHOOK_ACTIONS.get(entry["name"])
        if wanted is None:
            continue
        for action in wanted:
            matching = [e for e in entry["examples"] if e.get("action") == action]
            examples.extend(
                {"event": entry["name"], "action": action, "index": index, "payload": payload}
                for index, payload in enumerate(matching)
            )
    schemas = json.loads((source / "webhook-schemas.json").read_text(encoding="utf-8"))
    names = [
        f"{event}$event" if action is None else f"{event}${action}"
        for event, actions in WEBHOOK_ACTIONS.items()
        for action in actions
    ]
    roots = {name: schemas["definitions"][name] for name in names}
    closure = _close_over(schemas, roots, ("definitions",))
    definitions = {**closure.get("definitions", {}), **roots}
    subset = {
        "$schema": schemas["$schema"],
        "definitions": dict(sorted(definitions.items())),
        "oneOf": [{"$ref": f"#/definitions/{name}"} for name in names],
    }
    return examples, subset


def _write(path: Path, value: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(value, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    path.write_text(text, encoding="utf-8")
    print(f"wrote {path.relative_to(ROOT)} ({len(text.encode()) // 1024} KiB)")


def main(argv: list[str]) -> int:
    """Extract from ``argv[0]`` (or the default shared directory) into ``tests/fixtures/github``."""
    candidates = [Path(argv[0])] if argv else [ROOT.parent / "shared" / "fixtures" / "github"]
    candidates.append(Path("/work/shared/fixtures/github"))
    source = next((c for c in candidates if (c / "openapi-api.github.com.json").is_file()), None)
    if source is None:
        print(f"no GitHub fixtures in {', '.join(map(str, candidates))}", file=sys.stderr)
        return 2
    _write(DOUBLE_DATA / "openapi-subset.json", extract_openapi(source))
    examples, schemas = extract_webhooks(source)
    _write(OUT / "webhooks" / "webhook-examples.json", examples)
    _write(OUT / "webhooks" / "webhook-schemas.json", schemas)
    licence = (source / "LICENSE-octokit-openapi").read_text(encoding="utf-8")
    (OUT / "LICENSE").write_text(LICENSE_NOTE + licence, encoding="utf-8")
    shutil.copyfile(OUT / "LICENSE", OUT / "webhooks" / "LICENSE")
    shutil.copyfile(OUT / "LICENSE", DOUBLE_DATA / "LICENSE")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
