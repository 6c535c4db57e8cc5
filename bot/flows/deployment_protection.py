"""The custom deployment protection rule for environments named ``<plane>/<ring>``.

A ``deployment_protection_rule`` delivery is approved when the PR that produced the deployed
commit is approved under the same rules (``publication_judgement.judge_publication``, as the
merge flow asks), and rejected otherwise, saying why.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from bot.core.audit_events import AuditEventType
from bot.core.github_model import (
    DeploymentReviewState,
    PullRequest,
)
from bot.core.pr_report import (
    approval_headline,
)
from bot.flows.cab_approvals import CabApprovals
from bot.flows.publication_judgement import judge_publication
from bot.flows.pull_request import (
    PullRequestContext,
)

_ENVIRONMENT = re.compile(r"^(?P<plane>[A-Za-z0-9_.-]+)/(?P<ring>[A-Za-z0-9_.-]+)$")
_CALLBACK = re.compile(r"/repos/(?P<repo>[^/]+/[^/]+)/actions/runs/(?P<run>\d+)/")


def _dict(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def on_deployment(
    context: PullRequestContext,
    payload: Mapping[str, Any],
    *,
    correlation_id: str,
) -> str:
    """Answer a custom deployment protection rule for an environment ``<plane>/<ring>``.

    Approved when the PR that produced the deployed commit (the event's PR, else a PR known to
    the ledger whose head or merge commit it is) is approved under the same rules, at its
    head, with a policy check that passed; rejected otherwise, saying why.
    """
    gate = context.approvals
    repository = str(_dict(payload.get("repository")).get("full_name") or "")
    environment = str(payload.get("environment") or "")
    callback = _CALLBACK.search(str(payload.get("deployment_callback_url") or ""))
    if gate is None or not repository or callback is None or callback["repo"] != repository:
        return "ignored"
    sha = str(_dict(payload.get("deployment")).get("sha") or "")
    state, why, pr = _deployment_verdict(
        context, gate, repository=repository, environment=environment, sha=sha, payload=payload
    )
    context.github.review_deployment(
        repository, int(callback["run"]), environment=environment, state=state, comment=why
    )
    context.evidence.audit(
        AuditEventType.APPROVAL_DEPLOYMENT_REVIEWED,
        correlation_id=correlation_id,
        repository=repository,
        pr=pr,
        head_sha=sha or None,
        payload={"environment": environment, "state": state.value, "reason": why},
    )
    return f"deployment {state.value}"


def _candidates(
    context: PullRequestContext,
    gate: CabApprovals,
    repository: str,
    sha: str,
    payload: Mapping[str, Any],
) -> Iterable[PullRequest]:
    """The PRs whose head or merge commit is ``sha``: the event's first, then the ledger's.

    The event's ``pull_requests`` are only a hint: a PR is taken only when GitHub says ``sha``
    is its head or its merge commit now.
    """
    numbers = [_dict(item).get("number") for item in payload.get("pull_requests") or []]
    for number in numbers:
        if isinstance(number, int):
            pr = context.github.pull_request(repository, number)
            if sha in {pr.head_sha, pr.merge_commit_sha}:
                yield pr
    for repo, number in gate.ledger.pull_requests(repository=repository):
        pr = context.github.pull_request(repo, number)
        if sha in {pr.head_sha, pr.merge_commit_sha}:
            yield pr


def _deployment_verdict(  # noqa: PLR0913 - the event's facts
    context: PullRequestContext,
    gate: CabApprovals,
    *,
    repository: str,
    environment: str,
    sha: str,
    payload: Mapping[str, Any],
) -> tuple[DeploymentReviewState, str, int | None]:
    rejected = DeploymentReviewState.REJECTED
    if not _ENVIRONMENT.match(environment):
        return (
            rejected,
            f"EUCORA gates environments named <plane>/<ring>, not {environment!r}",
            None,
        )
    pr = next(iter(_candidates(context, gate, repository, sha, payload)), None) if sha else None
    if pr is None:
        return rejected, f"no pull request known to EUCORA produced {sha[:12]}", None
    stored = context.evidence.latest_pack(repository, pr.number, pr.head_sha)
    if stored is None:
        return (
            rejected,
            f"#{pr.number} was not evaluated by EUCORA at {pr.head_sha[:12]}",
            pr.number,
        )
    if stored.view.blocked:
        return rejected, f"#{pr.number} is blocked by the EUCORA policy check", pr.number
    judged = judge_publication(context, pr, stored, sha=sha)
    if judged.verdict.allowed and judged.decision is not None:
        line = approval_headline(judged.decision, judged.cab_teams)
        ids = ", ".join(str(v.review_id) for v in judged.decision.counted) or "none needed"
        return DeploymentReviewState.APPROVED, f"#{pr.number} {line} (reviews {ids})", pr.number
    why = " ".join(text for _, text in judged.verdict.problems) or "not approved"
    return rejected, f"#{pr.number}: {why}", pr.number
