"""The rollout evidence record: why a ring started, halted or was held, in a signed pack.

Every gate decision that moves a rollout (a promotion, a halt, a hold, the completion) is written
down as a ``RolloutPack`` (``schemas/evidence.schema.json``): the outcomes read from the plane, the
gate's inputs, the verdict and its reasons, and the actions taken. It is stored and audited like
the check and change packs, so an auditor can see, per ring, what the plane reported and which
rule let the next ring start. Canonical JSON: no floats (rates are fractions as text).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from bot.core.evidence import EVIDENCE_SCHEMA_ID, PACK_API_VERSION
from bot.core.gates import (
    Action,
    Alert,
    ClearAlert,
    Complete,
    Decision,
    Halt,
    Hold,
    Promote,
    RingGate,
)
from bot.core.rollout_model import GatePolicy, outcomes_to_json

ROLLOUT_PACK_KIND = "RolloutPack"


def action_to_json(action: Action) -> dict[str, Any]:
    """One action as plain data: ``{"action": "promote", "ring": "pilot"}`` and so on."""
    match action:
        case Promote(ring=ring):
            return {"action": "promote", "ring": ring}
        case Halt(ring=ring, reason=reason):
            return {"action": "halt", "ring": ring, "reason": reason}
        case Hold(ring=ring, reason=reason):
            return {"action": "hold", "ring": ring, "reason": reason}
        case Alert(kind=kind, ring=ring, reason=reason):
            return {"action": "alert", "kind": kind, "ring": ring, "reason": reason}
        case ClearAlert(kind=kind, ring=ring):
            return {"action": "clear-alert", "kind": kind, "ring": ring}
        case Complete():
            return {"action": "complete"}
    raise AssertionError(action)  # pragma: no cover - the union is closed


def moves(decision: Decision) -> bool:
    """Whether a decision moves the rollout (and so deserves a rollout evidence record)."""
    return any(isinstance(a, Promote | Halt | Hold | Complete) for a in decision.actions)


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def build_rollout_pack(  # noqa: PLR0913 - keyword-only parts of the pack
    *,
    repository: str,
    pr: int,
    merge_sha: str,
    change_digest: str | None,
    path: str,
    gate: RingGate,
    policy: GatePolicy,
    decision: Decision,
    decided_at: datetime,
    by: str | None = None,
) -> dict[str, Any]:
    """The ``RolloutPack`` of one decision that moved a rollout."""
    state = decision.state
    share = policy.reporting_share
    return {
        "$schema": EVIDENCE_SCHEMA_ID,
        "apiVersion": PACK_API_VERSION,
        "kind": ROLLOUT_PACK_KIND,
        "repository": repository,
        "pullRequest": pr,
        "mergeCommit": merge_sha,
        "changeDigest": change_digest,
        "intent": {
            "name": state.intent,
            "version": state.version,
            "plane": state.plane,
            "path": path,
        },
        "ring": decision.ring,
        "gate": {
            "minSuccessPercent": gate.min_success_percent,
            "soakSeconds": None if gate.soak is None else int(gate.soak.total_seconds()),
            "maxFailures": gate.max_failures,
            "deadline": None if gate.deadline is None else _utc(gate.deadline),
            "reportingShare": f"{share.numerator}/{share.denominator}",
        },
        "outcomes": None if decision.outcomes is None else outcomes_to_json(decision.outcomes),
        "verdict": decision.verdict.value,
        "reasons": list(decision.reasons),
        "actions": [action_to_json(a) for a in decision.actions],
        "decidedAt": _utc(decided_at),
        "decidedBy": by,
    }


def ring_names(actions: Sequence[Action]) -> list[str]:
    """The rings the actions promote, in order (for audit payloads)."""
    return [a.ring for a in actions if isinstance(a, Promote)]
