"""The ``pull_request_review`` and team ``membership`` deliveries: record, then re-decide.

A review is recorded in the review ledger (``cab_approvals.CabApprovals.record``) and its PR
re-decided: the CAB approval run and the comment, in one edit. A membership change forgets the
team's cached members and re-decides every open PR with recorded reviews.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from bot.core.audit_events import AuditEventType
from bot.core.github_model import (
    EVIDENCE_MARKER,
    PullRequestReview,
)
from bot.core.pr_report import (
    comment_body,
)
from bot.errors import GitHubError
from bot.flows.cab_approvals import CabApprovals
from bot.flows.pull_request import (
    PullRequestContext,
    evaluate_pull_request,
    supersede_replaced_approval_runs,
)

log = logging.getLogger("eucora.approvals")


def _dict(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def redecide(
    context: PullRequestContext, repository: str, number: int, *, correlation_id: str
) -> str:
    """Re-decide an open PR's approval at its head: the CAB run and the comment, in one edit.

    A head not evaluated yet is evaluated (which decides too).
    """
    gate = context.approvals
    github = context.github
    pr = github.pull_request(repository, number)
    if gate is None or pr.state != "open":
        return "ignored"
    stored = context.evidence.latest_pack(repository, number, pr.head_sha)
    if stored is None:
        return evaluate_pull_request(context, repository, number, correlation_id=correlation_id)
    view = gate.judge(context, pr, stored, correlation_id=correlation_id)
    run_id = github.create_check_run(repository, view.run)
    supersede_replaced_approval_runs(context, repository, pr.head_sha, run_id)
    comment = comment_body(
        stored.pack,
        digest=stored.digest,
        evidence_url=context.evidence_url(stored.digest),
        checkpoint=context.evidence.latest_checkpoint(),
        approvals=view.block,
    )
    github.upsert_comment(repository, number, EVIDENCE_MARKER, comment)
    return view.outcome


def on_review(
    context: PullRequestContext,
    payload: Mapping[str, Any],
    *,
    installation_id: int | None,
    correlation_id: str,
    earlier: Sequence[tuple[Mapping[str, Any], str]] = (),
) -> str:
    """A ``pull_request_review`` (submitted, edited, dismissed): record it, then re-decide.

    ``earlier``: the payloads (and delivery ids) of reviews of the same PR collapsed into this
    one by the inbox; each is recorded first, in the order they arrived, then the PR is decided
    once.
    """
    gate = context.approvals
    if gate is None:
        return "ignored"
    for other, other_id in earlier:
        _record_review(
            context, gate, other, installation_id=installation_id, correlation_id=other_id
        )
    where = _record_review(
        context, gate, payload, installation_id=installation_id, correlation_id=correlation_id
    )
    if where is None:
        return "ignored"
    repository, number = where
    return redecide(context, repository, number, correlation_id=correlation_id)


def _record_review(
    context: PullRequestContext,
    gate: CabApprovals,
    payload: Mapping[str, Any],
    *,
    installation_id: int | None,
    correlation_id: str,
) -> tuple[str, int] | None:
    """Record one review delivery in the ledger (audited); its PR, or ``None`` if malformed."""
    repository = str(_dict(payload.get("repository")).get("full_name") or "")
    pull = _dict(payload.get("pull_request"))
    review = _dict(payload.get("review"))
    user = _dict(review.get("user"))
    number, review_id = pull.get("number"), review.get("id")
    if not repository or not isinstance(number, int):
        return None
    if not isinstance(review_id, int) or not isinstance(user.get("login"), str):
        return None
    action = str(payload.get("action") or "submitted")
    state = "DISMISSED" if action == "dismissed" else str(review.get("state") or "").upper()
    arrived = PullRequestReview(
        id=review_id,
        reviewer=str(user["login"]),
        state=state,
        commit_id=str(review.get("commit_id") or ""),
        submitted_at=review.get("submitted_at")
        if isinstance(review.get("submitted_at"), str)
        else None,
        reviewer_is_bot=user.get("type") == "Bot",
    )
    head = _dict(pull.get("head")).get("sha")
    base = _dict(pull.get("base")).get("sha")
    recorded = gate.record(
        context,
        repository,
        number,
        arrived,
        action=action,
        pr_head_sha=head if isinstance(head, str) else None,
        installation_id=installation_id,
        base_sha=base if isinstance(base, str) else None,
    )
    if recorded:
        context.evidence.audit(
            AuditEventType.APPROVAL_REVIEW_RECORDED,
            correlation_id=correlation_id,
            repository=repository,
            pr=number,
            head_sha=head if isinstance(head, str) else None,
            payload={
                "reviewId": review_id,
                "reviewer": arrived.reviewer,
                "state": state,
                "action": action,
                "commit": arrived.commit_id,
            },
        )
    return repository, number


def on_membership(
    context: PullRequestContext,
    payload: Mapping[str, Any],
    *,
    installation_id: int | None,
    correlation_id: str,
) -> str:
    """A team's members changed: forget the team, re-decide every open PR with reviews.

    Only PRs with recorded reviews can change (a member's approval starting or stopping to
    count); the ledger knows them, for this installation.
    """
    gate = context.approvals
    if gate is None:
        return "ignored"
    org = _dict(payload.get("organization")).get("login")
    slug = _dict(payload.get("team")).get("slug")
    gate.teams.forget(f"{org}/{slug}" if org and slug else None)
    count, failed = 0, []
    for repository, number in gate.ledger.pull_requests(installation_id=installation_id):
        try:
            if redecide(context, repository, number, correlation_id=correlation_id) != "ignored":
                count += 1
        except GitHubError as error:  # the others still get decided; the delivery is retried
            log.warning("re-deciding %s#%s failed: %s", repository, number, error)
            failed.append(f"{repository}#{number}")
    if failed:
        raise GitHubError(f"re-deciding after a membership change failed for {', '.join(failed)}")
    return f"redecided {count}"
