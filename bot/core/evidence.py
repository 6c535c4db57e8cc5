"""The evidence pack: what was decided and why, as canonical JSON with a content address.

Canonical JSON is RFC 8785 (JCS) through the ``rfc8785`` package — sorted keys, UTF-8, no
insignificant whitespace — and the pack holds no floats, so the same inputs give byte-identical
bytes and the same sha256 digest on any machine and any Python hash seed.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC
from typing import Any

import rfc8785

from bot.core.check import CheckResult, IntentResult
from bot.core.families import RISK_FAMILIES
from bot.core.risk import TIERS, approvals_for

PACK_API_VERSION = "eucora.dev/v1"
EVIDENCE_SCHEMA_ID = "https://eucora.dev/schemas/v1/evidence.schema.json"


_SAFE_INT = 2**53 - 1


def _plain(value: Any) -> bool:  # noqa: C901 - one walk, one branch per JSON type
    """Tell whether the standard library's sorted, compact JSON is already RFC 8785 for a value.

    It is when there are no floats (JCS number formatting differs), integers stay within I-JSON's
    ±(2**53 - 1), keys are ASCII (JCS sorts by UTF-16 code units, Python by code points) and no
    string holds a lone surrogate. Evidence packs are built float-free, so they always are.
    """
    stack = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is str:
            if not item.isascii() and _SURROGATE.search(item):
                return False
        elif kind is dict:
            for key, child in item.items():
                if type(key) is not str or not key.isascii():
                    return False
                stack.append(child)
        elif kind is list:
            stack.extend(item)
        elif kind is int:
            if not -_SAFE_INT <= item <= _SAFE_INT:
                return False
        elif item is not None and kind is not bool:
            return False
    return True


_SURROGATE = re.compile("[\ud800-\udfff]")


def canonical_json(value: Any) -> bytes:
    """Serialize JSON-like data canonically (RFC 8785).

    The ``rfc8785`` package is the reference and handles everything (and refuses NaN, big integers
    and lone surrogates); on data where the standard library's output is provably identical, that is
    used instead, several times faster (``tests/core/test_evidence.py`` checks the equality).
    """
    if _plain(value):
        return json.dumps(
            value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        ).encode("utf-8")
    return bytes(rfc8785.dumps(value))


def digest_of(value: Any) -> str:
    """The content address of JSON-like data: ``sha256:`` and the digest of its canonical form."""
    return "sha256:" + hashlib.sha256(canonical_json(value)).hexdigest()


def _change_entry(intent: IntentResult) -> dict[str, Any]:
    change = intent.change
    entry: dict[str, Any] = {
        "intent": intent.name,
        "kind": change.kind.value,
        "path": change.path,
        "basePath": change.base.path if change.base is not None else None,
        "baseBlob": change.base.blob_sha if change.base is not None else None,
        "headBlob": change.head.blob_sha if change.head is not None else None,
        "fieldDiffs": [d.as_dict() for d in intent.diffs],
        "risk": {"score": intent.score, "tier": intent.tier},
        "devices": _devices(intent),
        "ruleResults": [r.as_dict() for r in intent.results],
    }
    if intent.preview:
        entry["previewRuleResults"] = [r.as_dict() for r in intent.preview if r.matched]
    return entry


def build_check_pack(result: CheckResult) -> dict[str, Any]:
    """The ``check`` pack for one head SHA (schema: ``schemas/evidence.schema.json``)."""
    inputs = result.inputs
    pair = inputs.pair
    intent_paths = _intent_paths(result)
    return {
        "$schema": EVIDENCE_SCHEMA_ID,
        "apiVersion": PACK_API_VERSION,
        "kind": "CheckPack",
        "repository": pair.repository,
        "base": pair.base_sha,
        "head": pair.head_sha,
        "mergeBase": pair.merge_base_sha,
        "evaluatedAt": inputs.now.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "labels": sorted(inputs.labels),
        "policy": {
            "digest": "sha256:" + inputs.pack.digest,
            "sources": list(inputs.pack.sources),
            "rules": [
                {
                    "id": r.id,
                    "enforcement": r.enforcement.value,
                    "source": f"{r.source}:{r.line}",
                }
                for r in inputs.pack.rules
            ],
        },
        "changes": [_change_entry(i) for i in result.intents],
        "otherFiles": sorted(
            {
                *pair.other_paths,
                *(p for p in result.touched_files if p not in intent_paths),
            }
        ),
        "findings": [f.as_dict() for f in result.findings],
        "waivers": [
            {**w.as_dict(), "expiringSoon": w in inputs.waivers.expiring}
            for w in sorted(inputs.waivers.active.values(), key=lambda w: (w.rule, w.intent))
        ],
        "risk": {
            "score": result.score,
            "intent": result.riskiest,
            "scoreTier": result.score_tier,
            "tier": result.tier,
            "caps": dict(RISK_FAMILIES),
            "byFamily": dict(result.by_family),
            "factors": [f.as_dict() for i in result.intents for f in i.factors],
        },
        "approvals": _approvals(result),
        "decision": {"conclusion": result.conclusion, "reasons": list(result.reasons)},
        **(
            {"policyPreview": [e.as_dict() for e in result.policy_preview]}
            if result.policy_preview
            else {}
        ),
    }


def _approvals(result: CheckResult) -> dict[str, Any]:
    """The pack's approvals part; with ``cab.routes``, also the routes, teams and tier counts.

    A repository without routes keeps the two keys it always had (byte-identical packs).
    """
    found: dict[str, Any] = {
        "required": result.required_approvals,
        "reasons": list(result.approval_reasons),
    }
    if result.routes is not None:
        config = result.inputs.config
        cab = config.get("cab") if isinstance(config.get("cab"), dict) else {}
        found["routes"] = [r.as_dict() for r in result.routes]
        found["cabTeams"] = [str(t) for t in (cab or {}).get("teams") or ()]
        found["tierApprovals"] = {t: approvals_for(t, config) for t in TIERS}
    return found


def _intent_paths(result: CheckResult) -> set[str]:
    return {i.change.path for i in result.intents}


def _devices(intent: IntentResult) -> dict[str, int]:
    """Devices reached before and after the change (a deleted intent reaches none after)."""
    total = int(intent.facts.get("total_devices", 0))
    if intent.change.kind.value == "deleted":
        return {"base": total, "head": 0}
    return {"base": int(intent.facts.get("previous_total_devices", 0)), "head": total}
