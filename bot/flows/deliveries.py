"""What the bot does with each stored webhook delivery: the handler the worker calls.

The intake has already verified, stored and routed the delivery (``bot.core.webhooks``); this
module turns its kind into one flow: evaluate a PR, check a merge group, answer a comment
command. It returns the outcome word the inbox records; a ``GitHubError`` propagates so the
worker retries the delivery later.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from bot.core.drift_commands import parse_drift_command
from bot.core.github_model import APPROVAL_CHECK, POLICY_CHECK
from bot.core.pr_report import parse_command
from bot.core.rollout_commands import parse_rollout_command
from bot.core.webhooks import Delivery, DeliveryKind
from bot.flows.deployment_protection import on_deployment
from bot.flows.pull_request import (
    PullRequestContext,
    evaluate_merge_group,
    evaluate_pull_request,
    run_command,
)
from bot.flows.review_deliveries import on_membership, on_review

ContextFor = Callable[[int | None], PullRequestContext]
"""Builds the flows' context for a delivery's installation (``None``: token mode)."""

OUR_CHECKS = frozenset({POLICY_CHECK, APPROVAL_CHECK})
_QUEUED_PR = re.compile(r"/pr-(?P<number>\d+)-[0-9a-f]{40}$")
"""A merge group's head ref names the PR it queues: ``gh-readonly-queue/main/pr-104-<sha>``."""


def _dict(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def _rerequested_elsewhere(delivery: Delivery, payload: Mapping[str, Any]) -> bool:
    """A re-run asked of another app's check run is not ours to answer."""
    if delivery.event != "check_run":
        return False
    return _dict(payload.get("check_run")).get("name") not in OUR_CHECKS


def handle_delivery(delivery: Delivery, context_for: ContextFor) -> str:  # noqa: C901 - a table
    """Run the flow a delivery asks for; return the outcome recorded on its inbox row."""
    if delivery.kind is DeliveryKind.MEMBERSHIP:  # an organisation's event: no repository
        return on_membership(
            context_for(delivery.installation_id),
            delivery.payload(),
            installation_id=delivery.installation_id,
            correlation_id=delivery.delivery_id,
        )
    if delivery.repository is None:
        return "ignored"
    payload = delivery.payload()
    if delivery.kind is DeliveryKind.EVALUATE and delivery.pr is not None:
        if _rerequested_elsewhere(delivery, payload):
            return "ignored"
        return evaluate_pull_request(
            context_for(delivery.installation_id),
            delivery.repository,
            delivery.pr,
            correlation_id=delivery.delivery_id,
            expected_head=delivery.head_sha,
        )
    if delivery.kind is DeliveryKind.MERGE_GROUP and delivery.head_sha is not None:
        group = _dict(payload.get("merge_group"))
        queued = _QUEUED_PR.search(str(group.get("head_ref") or ""))
        return evaluate_merge_group(
            context_for(delivery.installation_id),
            delivery.repository,
            base_sha=str(group.get("base_sha", "")),
            head_sha=delivery.head_sha,
            correlation_id=delivery.delivery_id,
            pulls=(int(queued["number"]),) if queued else (),
        )
    if delivery.kind is DeliveryKind.COMMAND and delivery.pr is not None:
        context = context_for(delivery.installation_id)
        return _command(context, delivery.repository, delivery.pr, delivery.delivery_id, payload)
    if delivery.kind is DeliveryKind.REVIEW and delivery.pr is not None:
        return on_review(
            context_for(delivery.installation_id),
            payload,
            installation_id=delivery.installation_id,
            correlation_id=delivery.delivery_id,
            earlier=[(folded.payload(), folded.delivery_id) for folded in delivery.folded],
        )
    if delivery.kind is DeliveryKind.DEPLOYMENT:
        return on_deployment(
            context_for(delivery.installation_id), payload, correlation_id=delivery.delivery_id
        )
    if delivery.kind is DeliveryKind.MERGED and delivery.pr is not None:
        context = context_for(delivery.installation_id)
        if context.publishing is None:
            return "ignored"  # publishing is not enabled: the merge stays audited by the intake
        return context.publishing.on_merged(
            context, delivery.repository, delivery.pr, correlation_id=delivery.delivery_id
        )
    # Installations are stored and audited by the intake, and not acted on.
    return "ignored"


def _command(
    context: PullRequestContext,
    repository: str,
    number: int,
    delivery_id: str,
    payload: Mapping[str, Any],
) -> str:
    comment = _dict(payload.get("comment"))
    user = _dict(comment.get("user"))
    if user.get("type") == "Bot" or _dict(payload.get("sender")).get("type") == "Bot":
        return "ignored"  # never answer a bot (ours included): no comment loops
    login = user.get("login")
    rollout = parse_rollout_command(str(comment.get("body") or ""))
    if rollout is not None and context.rollouts is not None and isinstance(login, str):
        issue = _dict(payload.get("issue"))
        return context.rollouts.run(
            context.github,
            context.evidence,
            repository,
            number,
            rollout,
            user=login,
            issue=issue,
            correlation_id=delivery_id,
        )
    issue = _dict(payload.get("issue"))
    drift = parse_drift_command(str(comment.get("body") or ""))
    if drift is not None and "pull_request" not in issue and isinstance(login, str):
        if context.drift is None:
            return "ignored"  # drift is not enabled on this deployment
        return context.drift.answer(
            context.github,
            repository,
            number,
            drift,
            user=login,
            issue=issue,
            correlation_id=delivery_id,
        )
    if "pull_request" not in issue:
        return "ignored"  # an issue's comment: only rollout and drift commands are answered there
    command = parse_command(str(comment.get("body") or ""))
    if command is None or not isinstance(login, str):
        return "ignored"
    return run_command(context, repository, number, command, user=login, correlation_id=delivery_id)
