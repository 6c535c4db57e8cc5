"""CAB approvals: record each review as it arrives, decide from the ledger, show and gate.

The flows behind ``pull_request_review``, team ``membership`` and ``deployment_protection_rule``
deliveries, and the judge every PR evaluation calls (``PullRequestContext.approvals``):

* a review is recorded in the review ledger with the commit it was given on and the hash of the
  intent/policy/config content there, as the webhook says at that moment; then the PR is
  re-decided;
* deciding reads the base revision's ``eucora.yaml`` (CAB teams, quorum, whether approvals
  survive a push that changes no intent), the tier's count from the PR's evidence pack, the
  reviews from the ledger (reviews the ledger never saw arrive are recorded from the API; a
  dismissal the API reports is recorded too, never an approval the ledger lacks a dismissal
  of), the PR's commits and the CAB teams' active members (cached for a short time,
  forgotten when a membership webhook names the team), and calls the pure
  ``bot.core.approvals.decide_approvals``;
* every counted and refused approval is an audit event (once per review, verdict and head), the
  whole decision with its review ids is an ``approval.decided`` event (the evidence), and a PR
  that waits for CAB approval gets a review request to the CAB team, once;
* a deployment protection rule for an environment ``<plane>/<ring>`` is approved when the PR
  that produced the deployed commit is approved under the same rules, and rejected otherwise.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.adapters.git import GitError
from bot.adapters.git_content import content_hash, read_file
from bot.adapters.storage.reviews import LedgerEntry, ReviewLedger
from bot.catalog import build_document_validator
from bot.core.approvals import (
    ApprovalDecision,
    ApprovalPolicy,
    Commit,
    Outcome,
    Person,
    PullRequestFacts,
    ReviewState,
    Team,
    approval_policy,
    decide_approvals,
)
from bot.core.documents import DocumentKind
from bot.core.github_model import (
    APPROVAL_CHECK,
    EVIDENCE_MARKER,
    CheckConclusion,
    CheckRunOutput,
    CheckStatus,
    DeploymentReviewState,
    PullRequest,
    PullRequestReview,
)
from bot.core.github_model import CheckRun as GitHubCheckRun
from bot.core.pr_report import (
    approval_headline,
    approvals_markdown,
    comment_body,
    decided_approval_run,
)
from bot.core.render.check import escape_markdown
from bot.errors import GitHubError
from bot.flows.pull_request import (
    ApprovalView,
    PullRequestContext,
    StoredPack,
    evaluate_pull_request,
)
from bot.ports import GitHub

log = logging.getLogger("eucora.approvals")

DEFAULT_TEAM_TTL = timedelta(seconds=60)
"""How long a team's member list is trusted without a membership webhook."""
REVIEW_REQUESTED = "approval.review_requested"
DECIDED = "approval.decided"
COUNTED = "approval.counted"
REFUSED = "approval.refused"
RECORDED = "approval.review_recorded"
DEPLOYMENT_ANSWERED = "approval.deployment_reviewed"
_ENVIRONMENT = re.compile(r"^(?P<plane>[A-Za-z0-9_.-]+)/(?P<ring>[A-Za-z0-9_.-]+)$")
_CALLBACK = re.compile(r"/repos/(?P<repo>[^/]+/[^/]+)/actions/runs/(?P<run>\d+)/")
_CONFIG_NAMES = ("eucora.yaml", "eucora.yml")


def _dict(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


class TeamDirectory:
    """Active members of CAB teams, from the GitHub API, cached for ``ttl``.

    A ``membership`` webhook forgets the team at once (:meth:`forget`), so a member removed
    from the CAB stops counting on the next decision, not a TTL later.
    """

    def __init__(self, clock: Callable[[], datetime], ttl: timedelta = DEFAULT_TEAM_TTL) -> None:
        self._clock = clock
        self._ttl = ttl
        self._cache: dict[str, tuple[frozenset[str], datetime]] = {}
        self._guard = threading.Lock()

    def members(self, github: GitHub, team: str) -> frozenset[str]:
        """The team's active members (child teams' included), fetched when stale."""
        key = team.casefold()
        now = self._clock()
        with self._guard:
            cached = self._cache.get(key)
        if cached is not None and now - cached[1] < self._ttl:
            return cached[0]
        found = github.team_members(team)
        with self._guard:
            self._cache[key] = (found, now)
        return found

    def forget(self, team: str | None = None) -> None:
        """Drop one team's cached members (all teams when ``team`` is ``None``)."""
        with self._guard:
            if team is None:
                self._cache.clear()
            else:
                self._cache.pop(team.casefold(), None)


def _state(value: Any) -> ReviewState | None:
    try:
        return ReviewState(str(value).upper())
    except ValueError:
        return None


def _time(value: Any, fallback: datetime) -> datetime:
    if not isinstance(value, str) or not value:
        return fallback
    try:
        return datetime.fromisoformat(value).astimezone(UTC)
    except ValueError:
        return fallback


def _commit(item: Any) -> Commit:
    return Commit(
        sha=item.sha,
        author=Person(login=item.author_login, email=item.author_email),
        committer=Person(login=item.committer_login, email=item.committer_email),
        message=item.message,
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

    def _config(self, mirror: Any, base_sha: str) -> Mapping[str, Any]:
        for name in _CONFIG_NAMES:
            raw = read_file(mirror, base_sha, name)
            if raw is not None:
                doc = build_document_validator().validate(raw, name, DocumentKind.CONFIG)
                return doc.data if doc.ok and isinstance(doc.data, dict) else {}
        return {}

    @staticmethod
    def _folders(config: Mapping[str, Any]) -> tuple[str, str]:
        paths = _dict(config.get("paths"))
        intents = paths.get("intents") if isinstance(paths.get("intents"), str) else "intents"
        policies = paths.get("policies") if isinstance(paths.get("policies"), str) else "policies"
        return str(intents), str(policies)

    def _hash(self, mirror: Any, sha: str, config: Mapping[str, Any]) -> str | None:
        try:
            return content_hash(mirror, sha, self._folders(config))
        except GitError as error:
            log.warning("no content hash for %s: %s", sha[:12], error)
            return None

    def config_at(self, mirror: Any, sha: str) -> Mapping[str, Any]:
        """``eucora.yaml`` at ``sha`` (empty when missing or invalid: the defaults apply)."""
        return self._config(mirror, sha)

    def content_hash_at(self, mirror: Any, sha: str, config: Mapping[str, Any]) -> str | None:
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
        state = _state(review.state)
        if state is None or state is ReviewState.PENDING or not review.commit_id:
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
        return self.ledger.record(
            LedgerEntry(
                installation_id=installation_id,
                repository=repository,
                pr=number,
                review_id=review.id,
                reviewer=review.reviewer,
                reviewer_is_bot=review.reviewer_is_bot,
                state=state,
                action=action,
                commit_id=review.commit_id,
                pr_head_sha=pr_head_sha,
                content_hash=chash,
                submitted_at=_time(review.submitted_at, now),
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
        self, github: GitHub, cab_teams: Sequence[str]
    ) -> tuple[dict[str, Team], list[str]]:
        teams: dict[str, Team] = {}
        notes: list[str] = []
        for team in cab_teams:
            try:
                teams[team] = Team(members=self.teams.members(github, team))
            except GitHubError as error:
                notes.append(
                    f"CAB team {team} could not be read ({error}); its members do not count. "
                    "The GitHub App needs the organization permission members: read."
                )
        return teams, notes

    def decide(
        self, context: PullRequestContext, pr: PullRequest, pack: Mapping[str, Any]
    ) -> _Snapshot:
        """Decide ``pr``'s approval at its head from the ledger (recording what it missed)."""
        github = context.github
        mirror = github.fetch_revisions(pr.repository, [pr.base_sha, pr.head_sha])
        config = self._config(mirror, pr.base_sha)
        policy = approval_policy(
            config,
            tier=str(pack["risk"]["tier"]),
            required=int(pack["approvals"]["required"]),
        )
        self._catch_up(context, pr, config)
        teams, notes = self._team_map(github, policy.cab_teams)
        if not policy.cab_teams and policy.required:
            notes.append(
                "eucora.yaml at the base names no CAB team (cab.teams): nobody can approve."
            )
        commits = [_commit(c) for c in github.pull_commits(pr.repository, pr.number)]
        head_hash = self._hash(mirror, pr.head_sha, config)
        facts = PullRequestFacts(
            author=pr.author,
            head_sha=pr.head_sha,
            labels=pr.labels,
            content_hash=head_hash,
        )
        decision = decide_approvals(
            facts, self.ledger.reviews(pr.repository, pr.number), commits, teams, policy
        )
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
        blocked_by_policy = stored.pack["decision"]["conclusion"] == "blocked"
        seen = context.evidence.audit_events(pr.repository, pr.number)
        _audit_decision(context, pr, decision, stored.digest, seen, correlation_id=correlation_id)
        if decision.outcome is Outcome.WAITING and policy.required and not blocked_by_policy:
            _request_review_once(context, pr, policy.cab_teams, seen, correlation_id=correlation_id)
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
            if stored is None or stored.pack["decision"]["conclusion"] == "blocked":
                approved = False
                lines.append(f"#{number}: not evaluated, or blocked by policy, at its head")
                continue
            snapshot = self.decide(context, pr, stored.pack)
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
        if kind in {COUNTED, REFUSED}
    }
    for verdict in decision.verdicts:
        if verdict.state is not ReviewState.APPROVED:
            continue
        kind = COUNTED if verdict.counted else REFUSED
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
        (p for kind, head, p in reversed(seen) if kind == DECIDED and head == pr.head_sha), None
    )
    if last != payload:
        context.evidence.audit(
            DECIDED,
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
    if any(kind == REVIEW_REQUESTED for kind, _, _ in seen):
        return
    owner = pr.repository.split("/", 1)[0].casefold()
    slugs = [t.split("/", 1)[1] for t in cab_teams if t.split("/", 1)[0].casefold() == owner]
    if not slugs:
        return
    context.github.request_team_review(pr.repository, pr.number, slugs)
    context.evidence.audit(
        REVIEW_REQUESTED,
        correlation_id=correlation_id,
        repository=pr.repository,
        pr=pr.number,
        head_sha=pr.head_sha,
        payload={"teams": slugs},
    )


# --- the flows ------------------------------------------------------------------------------------


def _gate(context: PullRequestContext) -> CabApprovals | None:
    gate = context.approvals
    return gate if isinstance(gate, CabApprovals) else None


def redecide(
    context: PullRequestContext, repository: str, number: int, *, correlation_id: str
) -> str:
    """Re-decide an open PR's approval at its head: the CAB run and the comment, in one edit.

    A head not evaluated yet is evaluated (which decides too).
    """
    gate = _gate(context)
    github = context.github
    pr = github.pull_request(repository, number)
    if gate is None or pr.state != "open":
        return "ignored"
    stored = context.evidence.latest_pack(repository, number, pr.head_sha)
    if stored is None:
        return evaluate_pull_request(context, repository, number, correlation_id=correlation_id)
    view = gate.judge(context, pr, stored, correlation_id=correlation_id)
    github.create_check_run(repository, view.run)
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
) -> str:
    """A ``pull_request_review`` (submitted, edited, dismissed): record it, then re-decide."""
    gate = _gate(context)
    repository = str(_dict(payload.get("repository")).get("full_name") or "")
    pull = _dict(payload.get("pull_request"))
    review = _dict(payload.get("review"))
    user = _dict(review.get("user"))
    number, review_id = pull.get("number"), review.get("id")
    if gate is None or not repository or not isinstance(number, int):
        return "ignored"
    if not isinstance(review_id, int) or not isinstance(user.get("login"), str):
        return "ignored"
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
            RECORDED,
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
    return redecide(context, repository, number, correlation_id=correlation_id)


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
    gate = _gate(context)
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
    gate = _gate(context)
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
        DEPLOYMENT_ANSWERED,
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
    for item in payload.get("pull_requests") or []:
        number = _dict(item).get("number")
        if isinstance(number, int):
            yield context.github.pull_request(repository, number)
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
    pr = next(iter(_candidates(context, gate, repository, sha, payload)), None)
    if pr is None:
        return rejected, f"no pull request known to EUCORA produced {sha[:12]}", None
    stored = context.evidence.latest_pack(repository, pr.number, pr.head_sha)
    if stored is None:
        return (
            rejected,
            f"#{pr.number} was not evaluated by EUCORA at {pr.head_sha[:12]}",
            pr.number,
        )
    if stored.pack["decision"]["conclusion"] == "blocked":
        return rejected, f"#{pr.number} is blocked by the EUCORA policy check", pr.number
    snapshot = gate.decide(context, pr, stored.pack)
    decision = snapshot.decision
    line = approval_headline(decision, snapshot.policy.cab_teams)
    if decision.outcome is Outcome.APPROVED:
        ids = ", ".join(str(v.review_id) for v in decision.counted) or "none needed"
        return DeploymentReviewState.APPROVED, f"#{pr.number} {line} (reviews {ids})", pr.number
    return rejected, f"#{pr.number} {line}", pr.number
