"""Evaluate a pull request (or a merge-queue group) and show the verdict on GitHub.

The flow behind the webhook worker: read the PR, create the ``EUCORA policy`` check run at once,
fetch base and head into the local mirror, run the same check as ``eucora check``, record the
evidence and the audit event, then complete the policy run, set the ``EUCORA CAB approval`` run
and edit the one sticky comment. What to post is decided by ``bot.core.pr_report``; GitHub is
reached only through the ``GitHub`` port.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Protocol

from bot.catalog import build_document_validator
from bot.core.audit_events import AuditEventType
from bot.core.changes import ChangeKind
from bot.core.documents import DocumentKind
from bot.core.errors import GitError
from bot.core.github_model import (
    APPROVAL_CHECK,
    EVIDENCE_MARKER,
    POLICY_CHECK,
    CheckConclusion,
    CheckRunOutput,
    CheckStatus,
    PullRequest,
)
from bot.core.github_model import CheckRun as GitHubCheckRun
from bot.core.pack_view import CheckPackView
from bot.core.pr_report import (
    Command,
    Report,
    explain_reply,
    failed_policy_run,
    refusal_reply,
    report_for,
    started_policy_run,
)
from bot.core.redact import Redactor
from bot.flows.check import CheckedChange, check_fetched
from bot.ports import AuditTrail, Clock, GitHub
from bot.settings import Settings

if TYPE_CHECKING:  # the approvals and rollout-command flows build on this module
    from bot.flows.cab_approvals import CabApprovals
    from bot.flows.drift import DriftPass
    from bot.flows.rollout_commands import RolloutCommands

ACTOR = "eucora"
log = logging.getLogger("eucora.pull_request")


@dataclass(frozen=True, slots=True, kw_only=True)
class Recorded:
    """A check pack stored and audited: its digest and the newest signed checkpoint."""

    digest: str
    checkpoint: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredPack:
    """A check pack read back from the evidence store, with its digest."""

    digest: str
    pack: dict[str, Any]

    @property
    def view(self) -> CheckPackView:
        """The pack, read by name (:mod:`bot.core.pack_view`)."""
        return CheckPackView.of(self.pack)


class EvidenceRecorder(AuditTrail, Protocol):
    """Stores a check's evidence write-once and records it in the audit trail."""

    def record_check(
        self,
        run: CheckedChange,
        *,
        correlation_id: str,
        pr: int | None,
        pull: PullRequest | None = None,
    ) -> Recorded:
        """Store the pack, append the audit event, sign a checkpoint; return what was recorded.

        ``pull``: the pull request checked, whose title, author and address the evidence page
        shows (kept beside the pack, never in it).
        """
        ...

    def latest_pack(self, repository: str, pr: int, head_sha: str) -> StoredPack | None:
        """The newest check pack recorded for this PR at this head, if any."""
        ...

    def latest_checkpoint(self) -> str | None:
        """The newest signed audit checkpoint (for the comment), if any."""
        ...

    def audit_events(
        self, repository: str, pr: int
    ) -> list[tuple[str, str | None, dict[str, Any]]]:
        """The PR's audit events as ``(type, head_sha, payload)``, oldest first."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class ApprovalView:
    """What the approvals flow decided for a PR: its CAB approval run and comment block."""

    run: GitHubCheckRun
    block: str
    outcome: str


class Publishing(Protocol):
    """The publishing side of the PR flows (``bot.flows.merge.MergePublishing``)."""

    def on_merged(
        self, context: PullRequestContext, repository: str, number: int, *, correlation_id: str
    ) -> str:
        """The merge flow: check the merge, record and queue its publications."""
        ...

    def plan_markdown(
        self,
        pack: dict[str, Any],
        documents: dict[str, dict[str, Any]],
        digest: str,
        retired: dict[str, dict[str, Any]] | None = None,
    ) -> str:
        """What merging would do on the configured planes (empty when none is configured).

        ``documents`` are the head's intent documents by path, as the check validated them;
        ``retired`` the intents the PR deletes, as its base has them (merging retires them).
        """
        ...

    def retry_failed(
        self,
        context: PullRequestContext,
        repository: str,
        number: int,
        *,
        user: str,
        correlation_id: str,
    ) -> str:
        """``/eucora retry-publish``: send the failed publications again."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class PullRequestContext:
    """What the PR flows work with: GitHub (for one installation), settings, evidence, the clock.

    ``approvals`` decides the CAB approval run from the reviews; without it the run only says
    what the tier needs. ``redactor`` scrubs the configured secrets from what is shown.
    """

    github: GitHub
    settings: Settings
    evidence: EvidenceRecorder
    clock: Clock
    redactor: Redactor
    approvals: CabApprovals | None = None
    installation_id: int | None = None
    """The GitHub App installation the context acts as (``None``: token mode)."""
    publishing: Publishing | None = None
    """Publishing on merge, the plan and ``/eucora retry-publish`` (``None``: not enabled)."""
    rollouts: RolloutCommands | None = None
    """``/eucora promote|halt|resume`` (``bot.flows.rollout_commands``; ``None``: not enabled)."""
    drift: DriftPass | None = None
    """``/eucora remediate|adopt`` on a drift issue (``bot.flows.drift``; ``None``: not enabled)."""

    def evidence_url(self, digest: str) -> str | None:
        """The evidence page of a pack, when EUCORA_PUBLIC_URL says where the app is served."""
        base = self.settings.public_url
        return f"{base.rstrip('/')}/evidence/{digest}" if base else None


def _check(
    context: PullRequestContext,
    repository: str,
    base_sha: str,
    head_sha: str,
    labels: tuple[str, ...],
) -> CheckedChange:
    mirror = context.github.fetch_revisions(repository, [base_sha, head_sha])
    return check_fetched(
        mirror,
        base_sha,
        head_sha,
        now=context.clock(),
        labels=labels,
        home=context.settings.home,
        repository=repository,
    )


def _judge(  # noqa: PLR0913 - keyword-only context of one evaluation
    context: PullRequestContext,
    repository: str,
    *,
    base_sha: str,
    head_sha: str,
    labels: tuple[str, ...],
    pr: int | None,
    correlation_id: str,
    pull: PullRequest | None = None,
    group: tuple[int, ...] = (),
    may_plan: bool = False,
) -> Report | None:
    """Run the check on a commit and complete both check runs; ``None`` when it can't be read.

    For a pull request (``pull``) with an approvals judge, the CAB approval run and the
    comment's approvals block come from its decision. The plan is added only when ``may_plan``
    (see :func:`_author_may_plan`) and the policy check passed.
    """
    github = context.github
    policy_run = _PolicyRun(github.create_check_run(repository, started_policy_run(head_sha)))
    try:
        _supersede_older_runs(context, repository, head_sha, policy_run.id)
        return _judged(
            context,
            repository,
            policy_run,
            base_sha=base_sha,
            head_sha=head_sha,
            labels=labels,
            pr=pr,
            correlation_id=correlation_id,
            pull=pull,
            group=group,
            may_plan=may_plan,
        )
    except Exception as error:
        if not policy_run.completed:
            _complete_failed(context, repository, policy_run.id, head_sha, error)
        raise


_SUPERSEDED = CheckRunOutput(
    title="Superseded by a later evaluation",
    summary="Superseded by a later evaluation (the worker evaluating it was lost).",
)


_REDECIDED = CheckRunOutput(
    title="Superseded by a later decision",
    summary="Superseded by a later decision of the CAB approval on this commit.",
)


def supersede_replaced_approval_runs(
    context: PullRequestContext, repository: str, head_sha: str, current: int
) -> None:
    """Complete the CAB runs a re-decision (its run: ``current``) replaced, as cancelled.

    A waiting decision's run stays ``in_progress``; the next decision creates a new run, so the
    one it replaces is completed here rather than when the head is evaluated again.
    """
    _supersede_older_runs(
        context, repository, head_sha, current, names=(APPROVAL_CHECK,), output=_REDECIDED
    )


def _supersede_older_runs(  # noqa: PLR0913 - the commit, the run to keep, which runs and why
    context: PullRequestContext,
    repository: str,
    head_sha: str,
    current: int,
    *,
    names: tuple[str, ...] = (POLICY_CHECK, APPROVAL_CHECK),
    output: CheckRunOutput = _SUPERSEDED,
) -> None:
    """Complete this app's older in-progress runs on the commit as ``cancelled``, saying why.

    A worker lost inside an evaluation leaves its runs ``in_progress``; the retry creates new
    ones, so nothing else would complete them. ``cancelled`` (not ``neutral``, which a required
    check counts as passing) and only this app's runs; a failed list read raises (retried).
    """
    github = context.github
    for name in names:
        for run_id in github.in_progress_check_runs(repository, head_sha, name):
            if run_id != current:
                github.update_check_run(
                    repository,
                    run_id,
                    GitHubCheckRun(
                        name=name,
                        head_sha=head_sha,
                        status=CheckStatus.COMPLETED,
                        conclusion=CheckConclusion.CANCELLED,
                        output=output,
                    ),
                )


@dataclass(slots=True)
class _PolicyRun:
    """The ``EUCORA policy`` run of one evaluation, and whether it has its conclusion yet."""

    id: int
    completed: bool = False


def _complete_failed(
    context: PullRequestContext, repository: str, run_id: int, head_sha: str, error: Exception
) -> None:
    """Complete a policy run whose evaluation raised: it never stays ``in_progress``.

    The delivery is retried (a new run then replaces this one); when GitHub itself is failing,
    completing the run may fail too, and the original error is what the worker records.
    """
    text = " ".join(str(error).split()) or "no message"
    reason = context.redactor(f"{type(error).__name__}: {text}")[:500]
    try:
        context.github.update_check_run(
            repository,
            run_id,
            failed_policy_run(head_sha, f"The evaluation failed ({reason}); EUCORA retries it."),
        )
    except Exception:  # the evaluation's own error is the one the worker retries on
        log.warning("could not complete the failed policy run %s", run_id, exc_info=True)


def _judged(  # noqa: PLR0913 - keyword-only context of one evaluation
    context: PullRequestContext,
    repository: str,
    policy_run: _PolicyRun,
    *,
    base_sha: str,
    head_sha: str,
    labels: tuple[str, ...],
    pr: int | None,
    correlation_id: str,
    pull: PullRequest | None,
    group: tuple[int, ...],
    may_plan: bool,
) -> Report | None:
    github, run_id = context.github, policy_run.id
    try:
        run = _check(context, repository, base_sha, head_sha, labels)
    except GitError as error:
        github.update_check_run(repository, run_id, failed_policy_run(head_sha, str(error)))
        policy_run.completed = True
        context.evidence.audit(
            AuditEventType.PULL_REQUEST_EVALUATION_FAILED,
            correlation_id=correlation_id,
            repository=repository,
            pr=pr,
            head_sha=head_sha,
            payload={"reason": str(error)},
        )
        return None
    recorded = context.evidence.record_check(run, correlation_id=correlation_id, pr=pr, pull=pull)
    view = None
    if context.approvals is not None and pull is not None:
        stored = StoredPack(digest=recorded.digest, pack=run.pack)
        view = context.approvals.judge(context, pull, stored, correlation_id=correlation_id)
    approval = view.run if view is not None else None
    if context.approvals is not None and pull is None and group:
        approval = context.approvals.judge_group(context, repository, head_sha, group)
    report = report_for(
        run.pack,
        digest=recorded.digest,
        evidence_url=context.evidence_url(recorded.digest),
        checkpoint=recorded.checkpoint,
        approval=approval,
        approvals=view.block if view is not None else None,
    )
    github.update_check_run(repository, run_id, report.policy)
    policy_run.completed = True
    github.create_check_run(repository, report.approval)
    passed = not CheckPackView.of(run.pack).blocked
    if context.publishing is not None and pull is not None and may_plan and passed:
        documents = {
            i.change.path: i.document.data
            for i in run.result.intents
            if i.document is not None and i.document.ok and isinstance(i.document.data, dict)
        }
        retired = {  # the intents the PR deletes, as the base has them: merging retires them
            i.change.path: base
            for i in run.result.intents
            if i.change.kind is ChangeKind.DELETED and isinstance(base := _base_intent(i), dict)
        }
        plan = context.publishing.plan_markdown(run.pack, documents, recorded.digest, retired)
        if plan:
            return replace(report, comment=f"{report.comment.rstrip()}\n\n{plan}\n")
    return report


def evaluate_pull_request(
    context: PullRequestContext,
    repository: str,
    number: int,
    *,
    correlation_id: str,
    expected_head: str | None = None,
) -> str:
    """Evaluate PR ``number`` at its current head and show the verdict; return the outcome word.

    ``expected_head`` is the head SHA the triggering delivery saw: when the PR has moved on
    since, the newer head's own delivery evaluates it and this one is ``superseded``. A change
    that cannot be read (a revision git cannot resolve) completes the policy run as a failure
    saying why; GitHub failures raise ``GitHubError`` for the worker to retry.
    """
    pr = context.github.pull_request(repository, number)
    if pr.state != "open":
        return "ignored"
    if expected_head is not None and pr.head_sha != expected_head:
        return "superseded"
    may_plan = _author_may_plan(context, pr)  # read before any check run is created
    report = _judge(
        context,
        repository,
        base_sha=pr.base_sha,
        head_sha=pr.head_sha,
        labels=pr.labels,
        pr=number,
        correlation_id=correlation_id,
        pull=pr,
        may_plan=may_plan,
    )
    if report is None:
        return "failed"
    context.github.upsert_comment(repository, number, EVIDENCE_MARKER, report.comment)
    return "evaluated"


def _author_may_plan(context: PullRequestContext, pr: PullRequest) -> bool:
    """Whether the PR may have the plan, which reads the planes and shows what they answer.

    Only a branch of the repository itself (not a fork) by an author with write access; the
    policy check must pass too (:func:`_judge`). A failed permission read raises
    ``GitHubError`` for the worker to retry: it is never taken as "no".
    """
    if context.publishing is None or pr.from_fork:
        return False
    return context.github.permission(pr.repository, pr.author).can_write


def evaluate_merge_group(  # noqa: PLR0913 - keyword-only facts of the group
    context: PullRequestContext,
    repository: str,
    *,
    base_sha: str,
    head_sha: str,
    correlation_id: str,
    pulls: tuple[int, ...] = (),
) -> str:
    """Check a merge queue's group commit: the check runs only (a group has no PR to comment on).

    ``pulls`` are the group's pull requests (from its head ref): with an approvals judge, the
    group's CAB approval run says whether each of them is approved.
    """
    report = _judge(
        context,
        repository,
        base_sha=base_sha,
        head_sha=head_sha,
        labels=(),
        pr=None,
        correlation_id=correlation_id,
        group=pulls,
    )
    return "failed" if report is None else "evaluated"


def run_command(  # noqa: PLR0913 - keyword-only context of one comment
    context: PullRequestContext,
    repository: str,
    number: int,
    command: Command,
    *,
    user: str,
    correlation_id: str,
) -> str:
    """Answer a comment command from ``user``: only people with write access may run one.

    Every command, run or refused, is an audit event.
    """
    github = context.github
    allowed = github.permission(repository, user).can_write
    context.evidence.audit(
        AuditEventType.COMMENT_COMMAND_ACCEPTED
        if allowed
        else AuditEventType.COMMENT_COMMAND_REFUSED,
        correlation_id=correlation_id,
        repository=repository,
        pr=number,
        head_sha=None,
        payload={"command": command.value, "user": user},
    )
    if not allowed:
        github.add_comment(repository, number, refusal_reply(user, command))
        return "refused"
    if command is Command.RECHECK:
        return evaluate_pull_request(context, repository, number, correlation_id=correlation_id)
    if command is Command.EXPLAIN:
        return _explain(context, repository, number, user=user, correlation_id=correlation_id)
    if context.publishing is not None:
        return context.publishing.retry_failed(
            context, repository, number, user=user, correlation_id=correlation_id
        )
    github.add_comment(
        repository,
        number,
        f"@{user} there is nothing to retry: publishing on merge is not enabled on this "
        "EUCORA installation.",
    )
    return "ignored"


def _explain(
    context: PullRequestContext, repository: str, number: int, *, user: str, correlation_id: str
) -> str:
    github = context.github
    pr: PullRequest = github.pull_request(repository, number)
    stored = context.evidence.latest_pack(repository, number, pr.head_sha)
    if stored is None:  # not evaluated at this head yet: evaluate first, then explain
        outcome = evaluate_pull_request(context, repository, number, correlation_id=correlation_id)
        stored = context.evidence.latest_pack(repository, number, pr.head_sha)
        if stored is None:
            return outcome
    reply = explain_reply(stored.pack, digest=stored.digest, requested_by=user)
    github.add_comment(repository, number, reply)
    return "explained"


def _base_intent(intent: Any) -> dict[str, Any] | None:
    """A deleted intent's document as the base has it (valid), or ``None``."""
    base = intent.change.base
    if base is None:
        return None
    document = build_document_validator().validate(base.raw, base.path, DocumentKind.INTENT)
    return document.data if document.ok and isinstance(document.data, dict) else None
