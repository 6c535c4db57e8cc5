"""A check pack's approvals in words: what the change needs, who may approve, the routes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bot.core.approval_routing import Requirement, requirements_of, routing_configured
from bot.core.approvals import SEPARATION_OF_DUTIES, ApprovalPolicy, approval_policy
from bot.core.render.formatting import _plural


def _approvals_text(required: int, routes: Sequence[Mapping[str, Any]] = ()) -> str:
    """What the change needs; with routes (``approvals.routes``), each route's count and teams."""
    needed = [_plural(required, "CAB approval")] if required else []
    needed += [
        f"{_plural(int(r['required']), 'approval')} from {' or '.join(r['teams'])} "
        f"(route {r['route']})"
        for r in routes
        if int(r["required"])
    ]
    if not needed:
        return "no CAB approval needed"
    return "needs " + " and ".join(needed)


def _routes(approvals: Mapping[str, Any]) -> Sequence[Mapping[str, Any]]:
    return list(approvals.get("routes") or ())


def routing_lines(approvals: Mapping[str, Any]) -> list[str]:
    """Plain lines explaining a routed pack's approvals (none for a pack without routes).

    Which teams count toward the tier's count, the count each tier needs, each matched route
    (teams, count, which files and why), and the separation-of-duties rules.
    """
    if "routes" not in approvals:
        return []
    tiers = approvals.get("tierApprovals") or {}
    return _rule_lines(
        [str(t) for t in approvals.get("cabTeams") or ()],
        [(str(tier), int(count)) for tier, count in tiers.items()],
        requirements_of(approvals),
        routed=True,
        rules=(SEPARATION_OF_DUTIES,),
    )


def approval_rules(approvals: Mapping[str, Any], config: Mapping[str, Any] | None) -> list[str]:
    """Plain lines: who can approve, the tier thresholds that set the count, the routes, the rules.

    With the ``eucora.yaml`` the change was judged under (``config``, the base's) and CAB teams
    or routes in it, the lines are read from it and the pack (``pack_approval_policy``), so a
    repository without routes is explained as fully as one with them (its pack keeps its bytes);
    without ``config``, only a routed pack's own record (:func:`routing_lines`).
    """
    if config is None or not _configures_cab(config):
        return routing_lines(approvals)
    policy = approval_policy(
        config,
        tier="",
        required=int(approvals["required"]),
        requirements=requirements_of(approvals),
    )
    return policy_rule_lines(policy, routed=routing_configured(config))


def policy_rule_lines(policy: ApprovalPolicy, *, routed: bool | None = None) -> list[str]:
    """Plain lines from approval settings (before any review is judged): as :func:`approval_rules`.

    ``routed``: whether the repository configures routes (to say when none matched); by
    default, whether the change matched any.
    """
    return _rule_lines(
        list(policy.cab_teams),
        list(policy.tier_approvals),
        policy.requirements,
        routed=bool(policy.requirements) if routed is None else routed,
        rules=policy.separation_of_duties(),
    )


def _configures_cab(config: Mapping[str, Any]) -> bool:
    cab = config.get("cab")
    return isinstance(cab, Mapping) and bool(cab.get("teams") or routing_configured(config))


def _rule_lines(
    teams: Sequence[str],
    tiers: Sequence[tuple[str, int]],
    requirements: Sequence[Requirement],
    *,
    routed: bool,
    rules: Sequence[str],
) -> list[str]:
    counts = ", ".join(f"{tier} {count}" for tier, count in tiers)
    who = ", ".join(teams) or "no CAB team configured"
    lines = [f"tier count from members of {who}; approvals per tier: {counts}"]
    for req in requirements:
        more = f" and {req.files - len(req.matched)} more" if req.files > len(req.matched) else ""
        why = f" ({req.description})" if req.description else ""
        lines.append(
            f"route {req.route}{why}: {_plural(req.required, 'approval')} from "
            f"{', '.join(req.teams)}; matched {'; '.join(req.matched)}{more}"
        )
    if routed and not requirements:
        lines.append("no route of cab.routes matches this change")
    lines.append(f"separation of duties: {'; '.join(rules)}")
    return lines


def approvals_needed(approvals: Mapping[str, Any]) -> str:
    """A check pack's approvals part in a few words, e.g. ``no CAB approval needed``.

    With routes: ``needs 1 CAB approval and 1 approval from org/mac-cab (route macos)``.
    """
    return _approvals_text(int(approvals["required"]), _routes(approvals))
