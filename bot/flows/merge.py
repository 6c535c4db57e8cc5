"""A pull request was merged: check it is the change the CAB approved, then record its publications.

On ``pull_request`` ``closed`` with ``merged: true`` (``DeliveryKind.MERGED``):

1. read the PR as GitHub has it now (merge SHA, head, labels) and its check pack at the head;
2. re-decide the CAB approval at merge time from the review ledger, with the CAB teams read
   afresh (an approver who left the team since no longer counts);
3. compare the merged tree's intents, policies and ``eucora.yaml`` with the approved head's (a
   stale base or a merge-queue rewrite that changed them publishes nothing), and the merge moment
   with the freeze windows (unless the emergency label is on);
4. record the change and one publication per (intent, plane, first ring) in the outbox, in one
   transaction, **before** any plane is called (an intent the PR deleted, read as the PR's base
   had it, is one ``retire`` publication: ``Connector.retire`` removes it from its plane); then
   open the post-implementation review issue an emergency change owes, show the publication
   table on the PR, and queue the publications.

A refused merge is recorded too (so a duplicate delivery is recognised), audited, and shown on the
PR loudly: the sticky comment says why nothing was published, and a new comment tells the author.
A duplicate delivery of the same merge re-queues the publications that are not final yet.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from bot.catalog import build_document_validator
from bot.core.approvals import ApprovalDecision
from bot.core.audit_events import AuditEventType
from bot.core.changes import ChangeKind
from bot.core.documents import DocumentKind
from bot.core.github_model import EVIDENCE_MARKER, PullRequest
from bot.core.pack_view import CheckPackView
from bot.core.pr_report import approvals_markdown, comment_body
from bot.core.publishing import (
    MergeProblem,
    PublicationAction,
    PublicationSpec,
    is_final,
    plane_settings_sent,
    publication_specs,
)
from bot.core.records import ChangeRow, NewChange, NewPublication
from bot.core.render.formatting import escape_markdown
from bot.core.render.publications import PlanView, merge_refused_markdown, plan_markdown
from bot.errors import ConnectorError
from bot.flows.publication_judgement import Judgement, judge_publication
from bot.flows.publish import Publisher, publication_fields
from bot.flows.pull_request import PullRequestContext, StoredPack
from bot.ports import Revisions
from connectors.base import Publication, Ring

log = logging.getLogger("eucora.merge")


def on_merged(
    context: PullRequestContext,
    publisher: Publisher,
    repository: str,
    number: int,
    *,
    correlation_id: str,
) -> str:
    """Run the merge flow for PR ``number``; return the outcome word the inbox records.

    Every read of GitHub or the mirror that fails raises before anything is recorded: the
    delivery is retried, and a merge is never refused for good on data that could not be read.
    """
    github = context.github
    pr = github.pull_request(repository, number)
    merge_sha = pr.merge_commit_sha
    if not pr.merged or not merge_sha:
        return "ignored"
    known = publisher.outbox.latest_change(repository, number)
    if known is not None and known.merge_sha == merge_sha:
        return _again(publisher, known)
    stored = context.evidence.latest_pack(repository, number, pr.head_sha)
    judged = judge_publication(context, pr, stored, sha=merge_sha)
    decision, cab_teams, facts = judged.decision, judged.cab_teams, judged.facts
    now = context.clock()
    head = _comment_head(context, stored, decision, cab_teams)
    summary = _summary(pr, stored, decision, now)
    if not judged.verdict.allowed:
        return _refuse(context, publisher, pr, judged, head, summary, correlation_id)
    assert stored is not None  # noqa: S101 - judge_merge refuses a merge without a pack
    assert judged.mirror is not None  # noqa: S101 - judged where it was fetched
    view = stored.view
    documents = _documents(judged.mirror, merge_sha, view)
    retired = _deleted(judged.mirror, pr.base_sha, merge_sha, view)
    specs = publication_specs(stored.pack, documents, retired)
    change, rows, created = publisher.outbox.record_change(
        NewChange(
            repository=repository,
            pr=number,
            installation_id=context.installation_id,
            head_sha=pr.head_sha,
            merge_sha=merge_sha,
            check_digest=stored.digest,
            state="publishing",
            emergency=facts.emergency,
            facts=summary,
            comment_head=head,
            correlation_id=correlation_id,
        ),
        [_new(spec, stored.digest) for spec in specs],
        now=now,
    )
    if not created:
        return _again(publisher, change)
    _audit(
        context,
        pr,
        AuditEventType.MERGE_ACCEPTED if specs else AuditEventType.MERGE_NOTHING_TO_PUBLISH,
        correlation_id,
        {**summary},
    )
    for row in rows:
        _audit(
            context,
            pr,
            AuditEventType.PUBLICATION_RECORDED,
            correlation_id,
            publication_fields(row),
        )
    if summary.get("postImplementationReview"):
        _open_followup(context, publisher, change, pr, correlation_id)
        change = publisher.outbox.change(change.id) or change
    if not rows:
        publisher.finalize(change.id)
        return "nothing to publish"
    github.upsert_comment(repository, number, EVIDENCE_MARKER, publisher.comment(change))
    publisher.enqueue([row.id for row in rows])
    return "publishing"


def _again(publisher: Publisher, change: ChangeRow) -> str:
    """A merge already recorded: re-queue what is not final (a lost message, a duplicate)."""
    if change.state == "refused":
        return "refused"
    pending = [r.id for r in publisher.outbox.publications(change.id) if not is_final(r.state)]
    publisher.enqueue(pending)
    if not pending and change.final_digest is None:
        publisher.finalize(change.id)
    return "duplicate"


def _comment_head(
    context: PullRequestContext,
    stored: StoredPack | None,
    decision: ApprovalDecision | None,
    cab_teams: Sequence[str],
) -> str:
    """The PR's report as it stood at merge (check and approvals), above the publication table."""
    if stored is None:
        return f"{EVIDENCE_MARKER}\n## EUCORA\n\nThe merged head was never evaluated."
    return comment_body(
        stored.pack,
        digest=stored.digest,
        evidence_url=context.evidence_url(stored.digest),
        checkpoint=context.evidence.latest_checkpoint(),
        approvals=approvals_markdown(decision, cab_teams) if decision is not None else None,
    )


def _summary(
    pr: PullRequest, stored: StoredPack | None, decision: ApprovalDecision | None, now: datetime
) -> dict[str, Any]:
    """What the change pack records besides the publications (kept on the change row)."""
    counted = [
        {
            "reviewId": v.review_id,
            "reviewer": v.reviewer,
            "teams": list(v.teams),
            "commit": v.commit_id,
        }
        for v in (decision.counted if decision else ())
    ]
    summary: dict[str, Any] = {
        "mergedAt": now.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "head": pr.head_sha,
        "mergeSha": pr.merge_commit_sha,
        "checkDigest": stored.digest if stored else None,
        "approvals": counted,
        "decision": {
            "outcome": decision.outcome.value if decision else "not-decided",
            "required": decision.required if decision else 0,
            "counted": len(counted),
        },
        "tier": stored.view.risk_tier if stored else None,
    }
    if decision is not None and decision.post_implementation_review_owed:
        summary["postImplementationReview"] = {
            "owed": True,
            "reason": (
                f"emergency change at {decision.tier} risk merged under the emergency label:"
                " a post-implementation review is owed"
            ),
        }
    return summary


def _documents(mirror: Revisions, sha: str, pack: CheckPackView) -> dict[str, Mapping[str, Any]]:
    """The merged tree's intent documents, by path, for the pack's added and modified intents."""
    validator = build_document_validator()
    documents: dict[str, Mapping[str, Any]] = {}
    for change in pack.changes:
        path = str(change["path"])
        if change["kind"] == ChangeKind.DELETED:
            continue
        raw = mirror.read_file(sha, path)  # a mirror that cannot be read raises: retried
        if raw is None:
            continue
        document = validator.validate(raw, path, DocumentKind.INTENT)
        if document.ok and isinstance(document.data, Mapping):
            documents[path] = document.data
    return documents


def _deleted(
    mirror: Revisions, base_sha: str, merge_sha: str, pack: CheckPackView
) -> dict[str, Mapping[str, Any]]:
    """The intents the PR deleted, by path, as its base had them (what is retired).

    Only an intent the base branch had (a valid document at the PR's base) and the merged tree
    no longer has at that path.
    """
    paths = [str(c["path"]) for c in pack.changes if c["kind"] == ChangeKind.DELETED]
    return {
        path: document
        for path in paths
        if (document := _intent_at(mirror, base_sha, path)) is not None
        and mirror.read_file(merge_sha, path) is None
    }


def _intent_at(mirror: Revisions, sha: str, path: str) -> Mapping[str, Any] | None:
    """The valid intent at ``path`` in ``sha``, or ``None`` (a failed read of the mirror raises)."""
    raw = mirror.read_file(sha, path)
    if raw is None:
        return None
    document = build_document_validator().validate(raw, path, DocumentKind.INTENT)
    return document.data if document.ok and isinstance(document.data, Mapping) else None


def _new(spec: PublicationSpec, digest: str) -> NewPublication:
    return NewPublication(
        plane=spec.plane,
        intent_name=spec.intent_name,
        version=spec.version,
        ring=spec.ring,
        target=spec.target,
        path=spec.path,
        idempotency_key=spec.idempotency_key,
        intent=spec.intent,
        evidence_digest=digest,
        action=spec.action.value,
    )


def _refuse(  # noqa: PLR0913, PLR0917 - the refusal's facts
    context: PullRequestContext,
    publisher: Publisher,
    pr: PullRequest,
    judged: Judgement,
    head: str,
    summary: dict[str, Any],
    correlation_id: str,
) -> str:
    """Record, audit (once: a duplicate delivery finds the change) and say a refused merge."""
    merge_sha = str(pr.merge_commit_sha)
    problems = [(problem.value, text) for problem, text in judged.verdict.problems]
    listed = [{"problem": p, "text": t} for p, t in problems]
    refusal = merge_refused_markdown(problems, merge_sha=merge_sha)
    _, _, created = publisher.outbox.record_change(
        NewChange(
            repository=pr.repository,
            pr=pr.number,
            installation_id=context.installation_id,
            head_sha=pr.head_sha,
            merge_sha=merge_sha,
            check_digest=summary.get("checkDigest"),
            state="refused",
            emergency=judged.facts.emergency,
            facts={**summary, "problems": listed},
            comment_head=head,
            correlation_id=correlation_id,
        ),
        [],
        now=context.clock(),
    )
    if not created:
        return "refused"
    _audit(
        context,
        pr,
        AuditEventType.MERGE_REFUSED,
        correlation_id,
        {"mergeSha": merge_sha, "problems": listed},
    )
    github = context.github
    github.upsert_comment(
        pr.repository, pr.number, EVIDENCE_MARKER, f"{head.rstrip()}\n\n{refusal}\n"
    )
    target = judged.facts.target
    elsewhere = any(p is MergeProblem.NOT_A_PUBLISHING_BRANCH for p, _ in judged.verdict.problems)
    then = (
        f" The change is published when it reaches {escape_markdown(target.default_branch)}."
        if elsewhere
        else " Open a new pull request for the change, and have it approved again."
    )
    github.add_comment(
        pr.repository,
        pr.number,
        f"@{pr.author} this merge was **not published** to any plane: "
        + escape_markdown(" ".join(text for _, text in problems))
        + then,
    )
    return "refused"


def _open_followup(
    context: PullRequestContext,
    publisher: Publisher,
    change: ChangeRow,
    pr: PullRequest,
    correlation_id: str,
) -> None:
    """Open the post-implementation review issue an emergency change owes (once)."""
    if change.followup_issue is not None:
        return
    link = pr.html_url or f"#{pr.number}"
    number = context.github.create_issue(
        pr.repository,
        title=f"Post-implementation review owed: #{pr.number} (emergency change)",
        body=(
            f"Pull request {link} was merged as an emergency change at"
            f" {change.facts.get('tier')} risk (merge {change.merge_sha}).\n\n"
            "The CAB owes it a post-implementation review: what was changed, why it could not"
            " wait, what happened on the planes, and what follows. Close this issue when the"
            " review is recorded."
        ),
        labels=("eucora:post-implementation-review",),
    )
    publisher.outbox.set_followup_issue(change.id, number)
    _audit(context, pr, AuditEventType.FOLLOWUP_OPENED, correlation_id, {"issue": number})


def _audit(
    context: PullRequestContext,
    pr: PullRequest,
    type_: str,
    correlation_id: str,
    payload: dict[str, Any],
) -> None:
    context.evidence.audit(
        type_,
        correlation_id=correlation_id,
        repository=pr.repository,
        pr=pr.number,
        head_sha=pr.merge_commit_sha,
        payload=payload,
    )


# --- the plan before merge, and /eucora retry-publish ---------------------------------------------

PLAN_LIMIT = 30
"""Publications planned per evaluation at most: each reads a plane; the rest are counted."""


class MergePublishing:
    """The publishing side of the PR flows (``PullRequestContext.publishing``)."""

    def __init__(self, publisher: Publisher) -> None:
        self.publisher = publisher

    def on_merged(
        self, context: PullRequestContext, repository: str, number: int, *, correlation_id: str
    ) -> str:
        """Run the merge flow (:func:`on_merged`)."""
        return on_merged(context, self.publisher, repository, number, correlation_id=correlation_id)

    def plan_markdown(
        self,
        pack: Mapping[str, Any],
        documents: Mapping[str, Mapping[str, Any]],
        digest: str,
        retired: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> str:
        """What merging would do on each configured plane, read-only (the comment's plan).

        ``documents`` are the head's intents by path, as the check validated them; ``retired``
        the intents the PR deletes, as the base has them (merging retires them).
        """
        connectors = self.publisher.connectors
        if not connectors.configured():
            return ""
        specs = publication_specs(pack, documents, retired)
        plans: list[PlanView] = []
        unconfigured: list[str] = []
        for spec in specs[:PLAN_LIMIT]:
            connector = connectors.get(spec.plane)
            if connector is None:
                if spec.plane not in unconfigured:
                    unconfigured.append(spec.plane)
                continue
            plans.append(
                PlanView(
                    plane=spec.plane,
                    intent_name=spec.intent_name,
                    ring=spec.ring,
                    target=spec.target,
                    steps=(),
                    retire=True,
                )
                if spec.action is PublicationAction.RETIRE
                else _plan(connector, spec, digest)
            )
        text = plan_markdown(plans, unconfigured=unconfigured)
        if len(specs) > PLAN_LIMIT and text:
            text += f"\n\n…and {len(specs) - PLAN_LIMIT} more publications, not planned here."
        return text

    def retry_failed(
        self,
        context: PullRequestContext,
        repository: str,
        number: int,
        *,
        user: str,
        correlation_id: str,
    ) -> str:
        """``/eucora retry-publish``: send the merged change's failed publications again."""
        outbox = self.publisher.outbox
        change = outbox.latest_change(repository, number)
        github = context.github
        if change is None or change.state == "refused":
            why = (
                "this pull request has no publications"
                if change is None
                else ("its merge was refused, so nothing was published")
            )
            github.add_comment(repository, number, f"@{user} there is nothing to retry: {why}.")
            return "ignored"
        ids = outbox.reopen_failed(change.id, now=context.clock())
        if not ids:
            github.add_comment(
                repository, number, f"@{user} there is nothing to retry: no publication failed."
            )
            return "ignored"
        context.evidence.audit(
            AuditEventType.PUBLICATION_RETRY_REQUESTED,
            correlation_id=correlation_id,
            repository=repository,
            pr=number,
            head_sha=change.merge_sha,
            payload={"user": user, "publications": list(ids)},
        )
        fresh = outbox.change(change.id) or change
        github.upsert_comment(repository, number, EVIDENCE_MARKER, self.publisher.comment(fresh))
        self.publisher.enqueue(ids)
        plural = "s" if len(ids) != 1 else ""
        github.add_comment(
            repository,
            number,
            f"@{user} retrying {len(ids)} failed publication{plural}; the table above and the"
            " deployments will show how it goes.",
        )
        return "retrying"


def _plan(connector: Any, spec: PublicationSpec, digest: str) -> PlanView:
    publication = Publication(
        intent=spec.intent,
        ring=Ring(
            name=spec.ring, target=spec.target, devices=spec.devices, assignment=spec.assignment
        ),
        idempotency_key=spec.idempotency_key,
        evidence_digest=digest,
    )
    try:
        steps = connector.plan(publication)
    except Exception as error:  # a plan is advice: it never fails the check
        if not isinstance(error, ConnectorError):
            log.exception("planning %s on %s failed", spec.intent_name, spec.plane)
        return PlanView(
            plane=spec.plane,
            intent_name=spec.intent_name,
            ring=spec.ring,
            target=spec.target,
            steps=(),
            error=" ".join(str(error).split())[:300],
            settings=plane_settings_sent(spec.intent, spec.ring),
        )
    return PlanView(
        plane=spec.plane,
        intent_name=spec.intent_name,
        ring=spec.ring,
        target=spec.target,
        steps=tuple((step.kind.value, step.description) for step in steps),
        settings=plane_settings_sent(spec.intent, spec.ring),
    )
