"""What the check renderings read off a pack, for the terminal, the comment and the page.

The verdict, the riskiest intent, the points before the family caps, a raised tier, how soon a
waiver expires and the policy preview's lines.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from bot.core.families import EXPIRING_WITHIN_DAYS, RISK_FAMILIES
from bot.core.pack_view import CheckPackView
from bot.core.render.approval_lines import _approvals_text, _routes
from bot.core.render.formatting import _plural


def _verdict(view: CheckPackView) -> tuple[bool, str]:
    """Whether the change is blocked, and the short why (blocked) or what it still needs (pass)."""
    decision = view.decision
    if decision["conclusion"] == "blocked":
        return True, "; ".join(str(r) for r in decision["reasons"]) or "blocked"
    approvals = view.approvals
    return False, _approvals_text(int(approvals["required"]), _routes(approvals))


def _riskiest(view: CheckPackView) -> str | None:
    """The intent whose score is the change's score (the first, if several tie)."""
    score = view.risk_score
    for change in view.changes:
        if change["risk"]["score"] == score and score > 0:
            return str(change["intent"])
    return None


def _raw_by_family(view: CheckPackView, intent: str | None) -> dict[str, int]:
    raw = dict.fromkeys(RISK_FAMILIES, 0)
    for factor in view.risk_factors:
        if factor["intent"] == intent:
            raw[factor["family"]] = raw.get(factor["family"], 0) + int(factor["points"])
    return raw


def _days_left(view: CheckPackView, expires: str) -> int | None:
    try:
        today = datetime.fromisoformat(str(view.evaluated_at)).date()
        return (date.fromisoformat(expires) - today).days
    except ValueError:
        return None


def _expiry_text(days: int | None) -> str:
    if days is None:
        return ""
    if days <= 0:
        return "expires today"
    return f"expires in {_plural(days, 'day')}"


def _soon(days: int | None) -> bool:
    return days is not None and days <= EXPIRING_WITHIN_DAYS


def _tier_raised(view: CheckPackView) -> str:
    """Why the tier is above what the score alone gives ("" when it is not)."""
    risk = view.risk
    score_tier = risk.get("scoreTier", risk["tier"])
    if score_tier == risk["tier"]:
        return ""
    why = [
        str(reason)
        for reason in view.approval_reasons
        if str(reason).startswith("the change edits")
    ]
    return f"the score alone gives {score_tier}; " + ("; ".join(why) or "a rule raised the tier")


def _preview_lines(view: CheckPackView, clean: Callable[[Any], str]) -> list[str]:
    return [
        f"{clean(e['intent'])} ({clean(e['path'])}): "
        + "; ".join(
            part
            for part in (
                "now matches " + ", ".join(clean(r) for r in e["nowMatches"])
                if e["nowMatches"]
                else "",
                "no longer matches " + ", ".join(clean(r) for r in e["noLongerMatches"])
                if e["noLongerMatches"]
                else "",
                "would block" if e["wouldBlock"] else "",
            )
            if part
        )
        for e in view.policy_preview
    ]
