"""Risk: a deterministic score from the rules that fired, grouped in families a reviewer knows.

Each rule that matches adds its points to its family; each family is capped at its weight, and the
weights sum to 100, so the score is a capped sum that never decreases when a factor is added and
does not saturate on one kind of risk: a package that is unsigned, unhashed and from an unknown host
still scores at most 15 for supply chain. The score is computed from the intent and its diff only —
never from numbers a caller supplies.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from bot.core.facts import DEFAULT_THRESHOLDS
from bot.core.families import RISK_FAMILIES

TIERS = ("low", "medium", "high", "critical")
DEFAULT_APPROVALS = {"low": 0, "medium": 1, "high": 2, "critical": 2}


@dataclass(frozen=True, slots=True)
class RiskFactor:
    """One reason the score is what it is."""

    intent: str
    rule: str
    family: str
    points: int
    reason: str

    def as_dict(self) -> dict[str, Any]:
        """Plain data for the evidence pack."""
        return {
            "intent": self.intent,
            "rule": self.rule,
            "family": self.family,
            "points": self.points,
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class RiskScore:
    """A score 0 to 100 and the points per family after the caps."""

    score: int
    by_family: Mapping[str, int]


def score_factors(factors: Iterable[RiskFactor]) -> RiskScore:
    """Sum points per family, cap each family at its weight, and add the families up."""
    raw: dict[str, int] = dict.fromkeys(RISK_FAMILIES, 0)
    for factor in factors:
        raw[factor.family] = raw.get(factor.family, 0) + factor.points
    capped = {family: min(points, RISK_FAMILIES.get(family, 0)) for family, points in raw.items()}
    return RiskScore(score=min(100, sum(capped.values())), by_family=capped)


def _section(config: Mapping[str, Any], *keys: str) -> Mapping[str, Any]:
    node: Any = config
    for key in keys:
        node = node.get(key) if isinstance(node, dict) else None
    return node if isinstance(node, dict) else {}


def tier_for(score: int, config: Mapping[str, Any]) -> str:
    """The tier a score falls in, by the repository's thresholds (defaults 25/50/75)."""
    thresholds = {**DEFAULT_THRESHOLDS, **_section(config, "risk", "thresholds")}
    tier = "low"
    for name in ("medium", "high", "critical"):
        if score >= int(thresholds[name]):
            tier = name
    return tier


def approvals_for(tier: str, config: Mapping[str, Any]) -> int:
    """CAB approvals a tier needs, by the repository's settings (defaults 0/1/2/2)."""
    configured = {**DEFAULT_APPROVALS, **_section(config, "risk", "approvals")}
    return int(configured[tier])


def higher_tier(a: str, b: str) -> str:
    """The more severe of two tiers."""
    return a if TIERS.index(a) >= TIERS.index(b) else b
