"""CAB approvals: record each review as it arrives, decide from the ledger, audit.

The judge every PR evaluation calls (``PullRequestContext.approvals``):

* a review is recorded in the review ledger with the commit it was given on and the hash of the
  intent/policy/config content there, as the webhook says at that moment;
* deciding reads the base revision's ``eucora.yaml`` (CAB teams, quorum, whether approvals
  survive a push that changes no intent), the tier's count from the PR's evidence pack, the
  reviews from the ledger (reviews the ledger never saw arrive are recorded from the API; a
  dismissal the API reports is recorded too, never an approval the ledger lacks a dismissal
  of), every commit of the PR (from the mirror, each address tied to a GitHub account:
  ``pull_commits.read_pull_commits``) and the CAB teams' active members (``team_directory``),
  and calls the pure ``bot.core.approvals.decide_approvals``;
* every counted and refused approval is an audit event (once per review, verdict and head), the
  whole decision with its review ids is an ``approval.decided`` event (the evidence), and a PR
  that waits for CAB approval gets a review request to the CAB team, once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.core.approvals import (
    ApprovalDecision,
    ApprovalPolicy,
    Outcome,
    PullRequestFacts,
    ReviewState,
    Team,
    decide_approvals,
    pack_approval_policy,
)
from bot.core.audit_events import AuditEventType
from bot.core.github_model import (
    APPROVAL_CHECK,
    CheckConclusion,
    CheckRunOutput,
    CheckStatus,
    PullRequest,
    PullRequestReview,
    review_of,
    review_state,
)
from bot.core.github_model import CheckRun as GitHubCheckRun
from bot.core.pr_report import (
    approval_headline,
    approvals_markdown,
    decided_approval_run,
)
from bot.core.records import LedgerEntry
from bot.core.render.formatting import escape_markdown
from bot.core.repo_config import RepoConfig
from bot.errors import GitHubError
from bot.flows.config_at_revision import read_config
from bot.flows.pull_commits import read_pull_commits
from bot.flows.pull_request import (
    ApprovalView,
    PullRequestContext,
    StoredPack,
)
from bot.flows.team_directory import TeamDirectory
from bot.ports import GitHub, ReviewLedger, Revisions

log = logging.getLogger("eucora.approvals")


def _unresolved_note(decision: ApprovalDecision, not_looked_up: int) -> str | None:
    if not decision.unresolved:
        return None
    shown = ", ".join(decision.unresolved[:10])
    more = f" and {len(decision.unresolved) - 10} more" if len(decision.unresolved) > 10 else ""
    skipped = (
        f" ({not_looked_up} of them not looked up: a decision looks up only so many)"
        if not_looked_up
        else ""
    )
    return (
        f"E-mail addresses in the pull request's commits are tied to no GitHub account: "
        f"{shown}{more}{skipped}. No CAB approval counts while they may be a CAB member's: "
        "commit with an address verified on GitHub, or drop the Co-authored-by trailer."
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class _Snapshot:
    """Everything one decision was made from, and the decision."""

    policy: ApprovalPolicy
    decision: ApprovalDecision
    notes: tuple[str, ...]
    config: Mapping[str, Any] = field(default_factory=dict)
    """The base revision's ``eucora.yaml`` the decision read."""
    content_hash: str | None = None
    """The hash of the head's intents, policies and config the approvals were bound to."""


class CabApprovals:
    """The approvals judge and the ledger's writer (see the module docstring)."""

    def __init__(
        self,
        ledger: ReviewLedger,
        teams: TeamDirectory,
        *,
        clock: Callable[[], datetime],
    ) -> None:
        self.ledger = ledger
        self.teams = teams
        self._clock = clock

    # --- reading the change --------------------------------------------------------------------

    def _config(self, mirror: Revisions, base_sha: str) -> Mapping[str, Any]:
        return read_config(mirror, base_sha)

    @staticmethod
    def _folders(config: Mapping[str, Any]) -> tuple[str, str]:
        view = RepoConfig.of(config)
        return view.intents, view.policies

    def _hash(self, mirror: Revisions, sha: str, config: Mapping[str, Any]) -> str:
        # A mirror that cannot be read raises (GitError): the delivery is retried, and a merge is
        # never refused for good because git failed once.
        return mirror.content_hash(sha, self._folders(config))

    def config_at(self, mirror: Revisions, sha: str) -> Mapping[str, Any]:
        """``eucora.yaml`` at ``sha`` (empty when missing or invalid: the defaults apply)."""
        return self._config(mirror, sha)

    def content_hash_at(self, mirror: Revisions, sha: str, config: Mapping[str, Any]) -> str:
        """The hash of the intents, policies and config at ``sha`` (what approvals are bound to)."""
        return self._hash(mirror, sha, config)

    # --- the ledger ----------------------------------------------------------------------------

    def record(  # noqa: PLR0913 - one arrival's facts
        self,
        context: PullRequestContext,
        repository: str,
        number: int,
        review: PullRequestReview,
        *,
        action: str,
        pr_head_sha: str | None,
        installation_id: int | None,
        source: str = "webhook",
        config: Mapping[str, Any] | None = None,
        base_sha: str | None = None,
    ) -> bool:
        """Append one arrival of ``review`` to the ledger, with the content hash at its commit.

        The hash covers the folders the base revision's ``eucora.yaml`` names (``config``, or
        read at ``base_sha``), as the decision's hash of the head does.
        """
        if review_state(review) is None:
            return False
        chash = None
        try:
            wanted = [review.commit_id, *([base_sha] if base_sha and config is None else [])]
            mirror = context.github.fetch_revisions(repository, wanted)
            if config is None:
                config = self._config(mirror, base_sha) if base_sha else {}
            chash = self._hash(mirror, review.commit_id, config)
        except GitHubError as error:  # a commit GitHub no longer serves: no hash, stays strict
            log.warning("cannot fetch %s for review %s: %s", review.commit_id, review.id, error)
        now = self._clock()
        arrived = review_of(review, now=now, content_hash=chash)
        if arrived is None:  # review_state said it counts; review_of agrees
            return False
        return self.ledger.record(
            LedgerEntry(
                installation_id=installation_id,
                repository=repository,
                pr=number,
                review=arrived,
                action=action,
                pr_head_sha=pr_head_sha,
                recorded_at=now,
                source=source,
            )
        )

    def _catch_up(
        self,
        context: PullRequestContext,
        pr: PullRequest,
        config: Mapping[str, Any],
    ) -> None:
        """Record reviews the ledger never saw arrive, and dismissals it missed (from the API).

        A review unknown to the ledger is recorded with the commit GitHub reports now (without
        it, a review whose webhook was lost, or given before EUCORA was installed, would never
        count); a dismissal only narrows. Nothing else is taken from a later read: a review the
        ledger holds keeps the commit and content hash of its first arrival.
        """
        known = {r.id: r for r in self.ledger.reviews(pr.repository, pr.number)}
        for review in context.github.reviews(pr.repository, pr.number):
            mine = known.get(review.id)
            dismissed = review.state == ReviewState.DISMISSED.value
            if mine is not None and not (dismissed and mine.state is not ReviewState.DISMISSED):
                continue
            self.record(
                context,
                pr.repository,
                pr.number,
                review,
                action="dismissed" if mine is not None else "listed",
                pr_head_sha=pr.head_sha,
                installation_id=context.installation_id,
                source="api",
                config=config,
            )

    # --- the decision --------------------------------------------------------------------------

    def _team_map(
        self, github: GitHub, cab_teams: Sequence[str], *, strict: bool
    ) -> tuple[dict[str, Team], list[str]]:
        """The CAB teams' members; a team GitHub will not show is a note, or raises if ``strict``.

        ``strict`` is for decisions that last (a merge, a deployment, a merge group): they are
        never made on a team read that failed, and the delivery is retried instead. A read that
        failed for a passing reason (5xx, 429, a timeout) is never taken as "nobody": it raises
        whatever ``strict`` says, so the PR's check is decided again when GitHub answers.
        """
        teams: dict[str, Team] = {}
        notes: list[str] = []
        for team in cab_teams:
            try:
                teams[team] = Team(members=self.teams.members(github, team))
            except GitHubError as error:
                if strict or not error.refused:
                    raise
                notes.append(
                    f"CAB team {team} could not be read ({error}); its members do not count. "
                    "The GitHub App needs the organization permission members: read."
                )
        return teams, notes

    def decide(
        self,
        context: PullRequestContext,
        pr: PullRequest,
        pack: Mapping[str, Any],
        *,
        strict: bool = False,
    ) -> _Snapshot:
        """Decide ``pr``'s approval at its head from the ledger (recording what it missed).

        ``strict``: a CAB team that cannot be read raises instead of counting nobody.
        """
        github = context.github
        mirror = github.fetch_revisions(pr.repository, [pr.base_sha, pr.head_sha])
        config = self._config(mirror, pr.base_sha)
        policy = pack_approval_policy(config, pack)
        self._catch_up(context, pr, config)
        reviews = self.ledger.reviews(pr.repository, pr.number)
        # With no review at all, who is a member cannot change the outcome (nothing counts or
        # blocks): a team that cannot be read is then only a note, even for a lasting decision.
        # Every team of the change: cab.teams and the teams of each route the change matched.
        teams, notes = self._team_map(github, policy.teams, strict=strict and bool(reviews))
        if not policy.cab_teams and policy.required:
            notes.append(
                "eucora.yaml at the base names no CAB team (cab.teams): nobody can approve."
            )
        pulled = read_pull_commits(github, mirror, pr)
        head_hash = self._hash(mirror, pr.head_sha, config)
        facts = PullRequestFacts(
            author=pr.author,
            head_sha=pr.head_sha,
            labels=pr.labels,
            content_hash=head_hash,
        )
        decision = decide_approvals(
            facts,
            reviews,
            pulled.commits,
            teams,
            policy,
            emails=pulled.emails,
        )
        note = _unresolved_note(decision, pulled.not_looked_up)
        if note is not None:
            notes.append(note)
        return _Snapshot(
            policy=policy,
            decision=decision,
            notes=tuple(notes),
            config=config,
            content_hash=head_hash,
        )

    def judge(
        self,
        context: PullRequestContext,
        pr: PullRequest,
        stored: StoredPack,
        *,
        correlation_id: str,
    ) -> ApprovalView:
        """Decide, audit, request the CAB's review once, and say what the PR shows."""
        snapshot = self.decide(context, pr, stored.pack)
        decision, policy = snapshot.decision, snapshot.policy
        blocked_by_policy = stored.view.blocked
        seen = context.evidence.audit_events(pr.repository, pr.number)
        _audit_decision(context, pr, decision, stored.digest, seen, correlation_id=correlation_id)
        needed = policy.required or decision.unmet
        if decision.outcome is Outcome.WAITING and needed and not blocked_by_policy:
            _request_review_once(context, pr, policy.teams, seen, correlation_id=correlation_id)
        run = decided_approval_run(
            stored.pack,
            decision,
            digest=stored.digest,
            cab_teams=policy.cab_teams,
            notes=snapshot.notes,
        )
        return ApprovalView(
            run=run,
            block=approvals_markdown(decision, policy.cab_teams),
            outcome=decision.outcome.value,
        )

    def judge_group(
        self,
        context: PullRequestContext,
        repository: str,
        head_sha: str,
        numbers: tuple[int, ...],
    ) -> GitHubCheckRun:
        """A merge group's CAB approval run: ``success`` when each queued PR is approved.

        Each PR is decided at its head (with a passing policy check there); ``failure`` names
        what is missing otherwise.
        """
        lines: list[str] = []
        approved = True
        for number in numbers:
            pr = context.github.pull_request(repository, number)
            stored = context.evidence.latest_pack(repository, number, pr.head_sha)
            if stored is None or stored.view.blocked:
                approved = False
                lines.append(f"#{number}: not evaluated, or blocked by policy, at its head")
                continue
            snapshot = self.decide(context, pr, stored.pack, strict=True)
            decision = snapshot.decision
            approved = approved and decision.outcome is Outcome.APPROVED
            ids = ", ".join(str(v.review_id) for v in decision.counted)
            headline = approval_headline(decision, snapshot.policy.cab_teams)
            lines.append(f"#{number}: {headline}" + (f" (reviews {ids})" if ids else ""))
        title = "Every queued pull request is approved" if approved else "Not approved by the CAB"
        return GitHubCheckRun(
            name=APPROVAL_CHECK,
            head_sha=head_sha,
            status=CheckStatus.COMPLETED,
            conclusion=CheckConclusion.SUCCESS if approved else CheckConclusion.FAILURE,
            output=CheckRunOutput(
                title=title,
                summary="\n".join(f"- {escape_markdown(line)}" for line in lines)
                or "The merge group names no pull request.",
            ),
        )


# --- audit ----------------------------------------------------------------------------------------


def _audit_decision(  # noqa: PLR0913 - the decision and what the log holds
    context: PullRequestContext,
    pr: PullRequest,
    decision: ApprovalDecision,
    digest: str,
    seen: Sequence[tuple[str, str | None, dict[str, Any]]],
    *,
    correlation_id: str,
) -> None:
    """Audit each approval's verdict once (per review, verdict and head) and changed decisions.

    ``seen`` are the PR's audit events so far.
    """
    verdicts_seen = {
        (kind, head, payload.get("reviewId"), payload.get("reason"))
        for kind, head, payload in seen
        if kind in {AuditEventType.APPROVAL_COUNTED, AuditEventType.APPROVAL_REFUSED}
    }
    for verdict in decision.verdicts:
        if verdict.state is not ReviewState.APPROVED:
            continue
        kind = (
            AuditEventType.APPROVAL_COUNTED if verdict.counted else AuditEventType.APPROVAL_REFUSED
        )
        reason = verdict.reason.value if verdict.reason else None
        if (kind, pr.head_sha, verdict.review_id, reason) in verdicts_seen:
            continue
        context.evidence.audit(
            kind,
            correlation_id=correlation_id,
            repository=pr.repository,
            pr=pr.number,
            head_sha=pr.head_sha,
            payload=verdict.as_dict(),
        )
    payload = {**decision.as_dict(), "checkDigest": digest}
    last = next(
        (
            p
            for kind, head, p in reversed(seen)
            if kind == AuditEventType.APPROVAL_DECIDED and head == pr.head_sha
        ),
        None,
    )
    if last != payload:
        context.evidence.audit(
            AuditEventType.APPROVAL_DECIDED,
            correlation_id=correlation_id,
            repository=pr.repository,
            pr=pr.number,
            head_sha=pr.head_sha,
            payload=payload,
        )


def _request_review_once(
    context: PullRequestContext,
    pr: PullRequest,
    cab_teams: Sequence[str],
    seen: Sequence[tuple[str, str | None, dict[str, Any]]],
    *,
    correlation_id: str,
) -> None:
    """Ask the CAB teams of the repository's organisation to review, once per PR."""
    if any(kind == AuditEventType.APPROVAL_REVIEW_REQUESTED for kind, _, _ in seen):
        return
    owner = pr.repository.split("/", 1)[0].casefold()
    slugs = [t.split("/", 1)[1] for t in cab_teams if t.split("/", 1)[0].casefold() == owner]
    if not slugs:
        return
    context.github.request_team_review(pr.repository, pr.number, slugs)
    context.evidence.audit(
        AuditEventType.APPROVAL_REVIEW_REQUESTED,
        correlation_id=correlation_id,
        repository=pr.repository,
        pr=pr.number,
        head_sha=pr.head_sha,
        payload={"teams": slugs},
    )
