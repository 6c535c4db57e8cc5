"""May a commit of a pull request reach the planes? The merge flow and the protection rule ask.

Both answer alike (``judge_publication``): where the PR was merged, the check pack of the head,
the CAB decision at merge time, the content at the commit against the approved head's, the
freeze windows now and the labels since the check.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from bot.core.approvals import (
    ApprovalDecision,
    emergency_label,
)
from bot.core.facts import freeze_windows_hit
from bot.core.github_model import (
    PullRequest,
)
from bot.core.pr_report import (
    approval_headline,
)
from bot.core.publishing import (
    BranchFacts,
    MergeFacts,
    MergeVerdict,
    branch_facts,
    branch_problems,
    judge_merge,
    publishing_branches,
)
from bot.errors import GitHubError
from bot.flows.cab_approvals import CabApprovals
from bot.flows.check import timezones_of
from bot.flows.config_at_revision import read_config
from bot.flows.pull_request import (
    PullRequestContext,
    StoredPack,
)
from bot.ports import Revisions


@dataclass(frozen=True, slots=True, kw_only=True)
class Judgement:
    """Whether commit ``sha`` of a PR may reach the planes, and what that was decided from."""

    facts: MergeFacts
    verdict: MergeVerdict
    decision: ApprovalDecision | None = None
    cab_teams: tuple[str, ...] = ()
    config: Mapping[str, Any] = field(default_factory=dict)
    """The rules the decision read (the default branch's, at the PR's base)."""
    mirror: Revisions | None = None
    """The mirror holding the PR's base, head and ``sha``."""


def judge_publication(
    context: PullRequestContext, pr: PullRequest, stored: StoredPack | None, *, sha: str
) -> Judgement:
    """Judge whether ``sha`` (``pr``'s merge commit, or its head) may be published, now.

    The merge flow and the deployment protection rule both ask this, so they answer alike:
    where the PR was merged (the default branch, or a branch the default branch's
    ``eucora.yaml`` lists under ``publish.branches`` whose rules are the default branch's), the
    check pack of the head, the CAB decision at merge time on the labels that check evaluated
    (team membership read afresh, a failed read raising), the content at ``sha`` against the
    approved head's, the freeze windows now, and the labels since the check. Every outside read
    that fails raises: the delivery is retried, nothing is decided on missing data.
    """
    gate = context.approvals
    target, mirror = _target(context, pr, sha)
    evaluated = tuple(stored.view.labels) if stored is not None else pr.labels
    decision: ApprovalDecision | None = None
    cab_teams: tuple[str, ...] = ()
    if branch_problems(target):  # the rules of a branch that does not publish are not read
        facts = _facts(stored, target=target, head_hash=None, merged_hash=None)
        return Judgement(facts=facts, verdict=judge_merge(facts), mirror=mirror)
    if gate is not None and stored is not None:
        gate.teams.forget()  # membership read afresh: who left the CAB since no longer counts
        snapshot = gate.decide(context, replace(pr, labels=evaluated), stored.pack, strict=True)
        decision, cab_teams = snapshot.decision, snapshot.policy.cab_teams
        config, head_hash = snapshot.config, snapshot.content_hash  # what the decision read
    else:
        config = read_config(mirror, pr.base_sha)
        head_hash = gate.content_hash_at(mirror, pr.head_sha, config) if gate else None
    merged_hash = gate.content_hash_at(mirror, sha, config) if gate is not None else None
    facts = _facts(
        stored,
        target=target,
        head_hash=head_hash,
        merged_hash=merged_hash,
        decision=decision,
        cab_teams=cab_teams,
        freeze_windows=tuple(freeze_windows_hit(config, [context.clock()], timezones_of(config))),
        emergency=emergency_label(config) in evaluated,
        labels_changed=_label_changes(evaluated, pr.labels),
    )
    return Judgement(
        facts=facts,
        verdict=judge_merge(facts),
        decision=decision,
        cab_teams=cab_teams,
        config=config,
        mirror=mirror,
    )


def _target(
    context: PullRequestContext, pr: PullRequest, sha: str
) -> tuple[BranchFacts, Revisions]:
    """Where ``pr`` was merged, judged from the default branch; and the mirror that holds it."""
    default = pr.default_branch
    if not default:
        raise GitHubError(f"GitHub did not say which branch of {pr.repository} is the default")
    github = context.github
    tip = None if pr.base_ref == default else github.branch_head(pr.repository, default)
    wanted = [pr.base_sha, pr.head_sha, *([sha] if sha else []), *([tip] if tip else [])]
    mirror = github.fetch_revisions(pr.repository, wanted)
    if tip is None:
        return branch_facts(
            branch=pr.base_ref, default_branch=default, default_config={}, same_rules=True
        ), mirror
    rules = read_config(mirror, tip)
    listed = pr.base_ref in publishing_branches(rules)
    same = listed and _rules_hash(mirror, pr.base_sha, rules) == _rules_hash(mirror, tip, rules)
    return branch_facts(
        branch=pr.base_ref, default_branch=default, default_config=rules, same_rules=same
    ), mirror


def _rules_hash(mirror: Revisions, sha: str, rules: Mapping[str, Any]) -> str:
    """The hash of ``eucora.yaml`` and the policies folder (``rules`` names it) at ``sha``."""
    return mirror.content_hash(sha, (CabApprovals._folders(rules)[1],))  # noqa: SLF001


def _label_changes(evaluated: Sequence[str], now: Sequence[str]) -> tuple[str, ...]:
    before, after = set(evaluated), set(now)
    return (
        *(f"+{name}" for name in sorted(after - before)),
        *(f"-{name}" for name in sorted(before - after)),
    )


def _facts(  # noqa: PLR0913 - the merge's facts, each named
    stored: StoredPack | None,
    *,
    target: BranchFacts,
    head_hash: str | None,
    merged_hash: str | None,
    decision: ApprovalDecision | None = None,
    cab_teams: Sequence[str] = (),
    freeze_windows: tuple[str, ...] = (),
    emergency: bool = False,
    labels_changed: tuple[str, ...] = (),
) -> MergeFacts:
    return MergeFacts(
        check_digest=stored.digest if stored else None,
        check_conclusion=stored.view.conclusion if stored else None,
        approval_outcome=_outcome(decision, stored),
        approval_headline=approval_headline(decision, cab_teams) if decision else "",
        head_content_hash=head_hash,
        merged_content_hash=merged_hash,
        freeze_windows=freeze_windows,
        emergency=emergency,
        labels_changed=labels_changed,
        target=target,
    )


def _outcome(decision: ApprovalDecision | None, stored: StoredPack | None) -> str:
    if decision is not None:
        return decision.outcome.value
    # No CAB gate on this installation: the tier's count of approvals cannot be checked.
    if stored is not None and stored.view.approvals_required == 0:
        return "approved"
    return "not-decided"
