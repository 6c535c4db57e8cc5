"""Check evidence packs as plain dicts that the evidence schema accepts, for rendering tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from bot.core.families import RISK_FAMILIES

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "schemas" / "evidence.schema.json").read_text(encoding="utf-8"))
VALIDATOR = Draft202012Validator(SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER)

SHA_BASE = "1" * 40
SHA_HEAD = "2" * 40
SHA_MERGE = "3" * 40
DIGEST = "sha256:" + "a" * 64
CHROME = "intents/windows/google-chrome.yaml"


def make_change(**overrides: Any) -> dict[str, Any]:
    change: dict[str, Any] = {
        "intent": "google-chrome",
        "kind": "modified",
        "path": CHROME,
        "basePath": CHROME,
        "baseBlob": "4" * 40,
        "headBlob": "5" * 40,
        "fieldDiffs": [
            {"path": "/app/version", "old": "131.0.6778.86", "new": "131.0.6778.109", "line": 11},
            {"path": "/rings/1/devices", "old": 8400, "new": 9000, "line": 30},
            {"path": "/package/signed", "old": True, "new": False, "line": 17},
        ],
        "risk": {"score": 35, "tier": "medium"},
        "devices": {"base": 8475, "head": 9075},
        "ruleResults": [
            {
                "rule": "package.unsigned-beyond-pilot",
                "matched": True,
                "enforcement": "deny",
                "message": "unsigned package beyond the pilot ring",
            },
            {"rule": "contoso.broad-ring-needs-ticket", "matched": False},
            {
                "rule": "contoso.macos-requires-team-id",
                "matched": True,
                "enforcement": "warn",
                "waivedBy": "RISK-42 (team-endpoint, until 2027-02-25)",
            },
        ],
    }
    change.update(overrides)
    return change


def make_finding(index: int = 0, **overrides: Any) -> dict[str, Any]:
    finding: dict[str, Any] = {
        "path": CHROME,
        "line": 1 + index,
        "column": 1,
        "code": "rule.package.unsigned-beyond-pilot",
        "severity": "error",
        "message": "unsigned package beyond the pilot ring",
        "jsonPath": "$",
    }
    finding.update(overrides)
    return finding


def make_pack(**overrides: Any) -> dict[str, Any]:
    pack: dict[str, Any] = {
        "$schema": "https://eucora.dev/schemas/v1/evidence.schema.json",
        "apiVersion": "eucora.dev/v1",
        "kind": "CheckPack",
        "repository": "contoso/eucora-intents",
        "base": SHA_BASE,
        "head": SHA_HEAD,
        "mergeBase": SHA_MERGE,
        "evaluatedAt": "2027-02-17T09:00:00Z",
        "labels": [],
        "policy": {
            "digest": "sha256:" + "b" * 64,
            "sources": ["eucora:default", "policies/contoso.yaml"],
            "rules": [
                {
                    "id": "package.unsigned-beyond-pilot",
                    "enforcement": "deny",
                    "source": "eucora:default/package.yaml:3",
                },
                {
                    "id": "contoso.broad-ring-needs-ticket",
                    "enforcement": "warn",
                    "source": "policies/contoso.yaml:5",
                },
            ],
        },
        "changes": [make_change()],
        "otherFiles": ["README.md"],
        "findings": [
            make_finding(),
            make_finding(
                1,
                code="rule.contoso.broad-ring-needs-ticket",
                severity="warning",
                message="broad ring without a change ticket",
            ),
        ],
        "waivers": [
            {
                "rule": "contoso.macos-requires-team-id",
                "intent": "google-chrome",
                "owner": "team-endpoint",
                "ticket": "RISK-42",
                "expires": "2027-02-25",
                "reason": "vendor signs next release",
                "source": "waivers/chrome.yaml:4",
            },
            {
                "rule": "contoso.broad-ring-needs-ticket",
                "intent": "google-chrome",
                "owner": "team-endpoint",
                "ticket": "CHG0031337",
                "expires": "2027-05-01",
                "reason": "tracked in the quarterly CAB",
                "source": "waivers/chrome.yaml:11",
            },
        ],
        "risk": {
            "score": 35,
            "tier": "medium",
            "intent": "google-chrome",
            "scoreTier": "medium",
            "caps": dict(RISK_FAMILIES),
            "byFamily": {
                "privilege": 0,
                "supply-chain": 15,
                "vulnerabilities": 0,
                "exploitability": 0,
                "data-access": 0,
                "blast-radius": 10,
                "operational": 10,
                "history": 0,
            },
            "factors": [
                {
                    "intent": "google-chrome",
                    "rule": "package.unsigned-beyond-pilot",
                    "family": "supply-chain",
                    "points": 15,
                    "reason": "unsigned package",
                },
                {
                    "intent": "google-chrome",
                    "rule": "package.unhashed",
                    "family": "supply-chain",
                    "points": 10,
                    "reason": "no sha256",
                },
                {
                    "intent": "google-chrome",
                    "rule": "rings.broad-fast",
                    "family": "blast-radius",
                    "points": 10,
                    "reason": "9,000 devices within a day",
                },
                {
                    "intent": "google-chrome",
                    "rule": "change.no-rollback",
                    "family": "operational",
                    "points": 10,
                    "reason": "no rollback plan",
                },
            ],
        },
        "approvals": {"required": 1, "reasons": ["medium risk (score 35)"]},
        "decision": {"conclusion": "blocked", "reasons": ["1 error finding"]},
    }
    pack.update(overrides)
    VALIDATOR.validate(pack)
    return pack


def passing_pack(**overrides: Any) -> dict[str, Any]:
    return make_pack(
        findings=[make_finding(severity="warning", code="rule.x.y", message="heads up")],
        decision={"conclusion": "pass", "reasons": []},
        **overrides,
    )


def big_pack(findings: int = 2000, changes: int = 500, message: str = "") -> dict[str, Any]:
    severities = ("note", "warning", "error")
    return make_pack(
        changes=[
            make_change(
                intent=f"app-{i:04d}",
                path=f"intents/windows/app-{i:04d}.yaml",
                basePath=f"intents/windows/app-{i:04d}.yaml",
            )
            for i in range(changes)
        ],
        findings=[
            make_finding(
                i,
                path=f"intents/windows/app-{i % changes:04d}.yaml",
                severity=severities[i % 3],
                message=message or f"finding number {i} with some words to make it long enough",
            )
            for i in range(findings)
        ],
    )


def without(pack: dict[str, Any], *path: str | int) -> dict[str, Any]:
    """``pack`` with the part at ``path`` deleted (in place), for tests of a malformed pack."""
    *parents, last = path
    node: Any = pack
    for key in parents:
        node = node[key]
    del node[last]
    return pack


def replaced(pack: dict[str, Any], value: object, *path: str | int) -> dict[str, Any]:
    """``pack`` with ``value`` at ``path`` (in place), for tests of a malformed pack."""
    *parents, last = path
    node: Any = pack
    for key in parents:
        node = node[key]
    node[last] = value
    return pack
