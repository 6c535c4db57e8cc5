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
  of), every commit of the PR (from the mirror, each address tied to a GitHub account:
  ``read_pull_commits``) and the CAB teams' active members (cached for a short time,
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
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

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
    decide_approvals,
    emergency_label,
    pack_approval_policy,
)
from bot.core.audit_events import AuditEventType
from bot.core.documents import DocumentKind
from bot.core.errors import GitError
from bot.core.facts import freeze_windows_hit
from bot.core.github_model import (
    APPROVAL_CHECK,
    EVIDENCE_MARKER,
    CheckConclusion,
    CheckRunOutput,
    CheckStatus,
    DeploymentReviewState,
    PullRequest,
    PullRequestCommit,
    PullRequestReview,
    review_of,
    review_state,
)
from bot.core.github_model import CheckRun as GitHubCheckRun
from bot.core.pr_report import (
    approval_headline,
    approvals_markdown,
    comment_body,
    decided_approval_run,
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
from bot.core.records import LedgerEntry
from bot.core.render.check import escape_markdown
from bot.core.repo_config import CONFIG_NAMES, RepoConfig
from bot.errors import GitHubError
from bot.flows.check import timezones_of
from bot.flows.pull_request import (
    ApprovalView,
    PullRequestContext,
    StoredPack,
    evaluate_pull_request,
    supersede_replaced_approval_runs,
)
from bot.ports import GitHub, ReviewLedger, Revisions

log = logging.getLogger("eucora.approvals")

DEFAULT_TEAM_TTL = timedelta(seconds=60)
"""How long a team's member list is trusted without a membership webhook."""
_ENVIRONMENT = re.compile(r"^(?P<plane>[A-Za-z0-9_.-]+)/(?P<ring>[A-Za-z0-9_.-]+)$")
_CALLBACK = re.compile(r"/repos/(?P<repo>[^/]+/[^/]+)/actions/runs/(?P<run>\d+)/")
MAX_COMMIT_LOOKUPS = 50
"""Commits beyond GitHub's list of a PR read per decision, to tie their addresses to accounts."""
MAX_ADDRESS_SEARCHES = 10
"""Addresses looked up by commit search per decision (GitHub allows 30 searches a minute)."""
_SEARCHABLE = re.compile(r"^[^@\s\"'():]+@[^@\s\"'():]+$")


def _dict(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def read_config(mirror: Revisions, sha: str) -> Mapping[str, Any]:
    """``eucora.yaml`` at ``sha`` (empty when missing or invalid: the defaults apply).

    A mirror that cannot be read raises (``GitError``): that is never "no configuration".
    """
    for name in CONFIG_NAMES:
        raw = mirror.read_file(sha, name)
        if raw is not None:
            doc = build_document_validator().validate(raw, name, DocumentKind.CONFIG)
            return doc.data if doc.ok and isinstance(doc.data, dict) else {}
    return {}


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


def _commit(item: PullRequestCommit, tied: Mapping[str, str | None]) -> Commit:
    """A commit for the decision, each address with the login GitHub ties it to (if any)."""

    def person(login: str | None, email: str | None) -> Person:
        return Person(login=login or (tied.get(email.casefold()) if email else None), email=email)

    return Commit(
        sha=item.sha,
        author=person(item.author_login, item.author_email),
        committer=person(item.committer_login, item.committer_email),
        message=item.message,
    )


def _tie(tied: dict[str, str | None], email: str | None, login: str | None) -> None:
    if email and not tied.get(email.casefold()):
        tied[email.casefold()] = login


@dataclass(frozen=True, slots=True, kw_only=True)
class _PullCommits:
    """A PR's commits, every one of them, and the accounts their addresses are tied to."""

    commits: tuple[Commit, ...]
    emails: Mapping[str, frozenset[str]]
    """Login → the addresses commit search tied to it."""
    not_looked_up: int = 0
    """Addresses left untied because a decision looks up only so many."""


def read_pull_commits(github: GitHub, mirror: Revisions, pr: PullRequest) -> _PullCommits:
    """Every commit of ``pr`` (``base..head`` in the mirror), each address tied to an account.

    GitHub lists at most 250 of a PR's commits: the list is used only for GitHub's logins.
    The commits come from the mirror, so a long PR hides none. An address the list does not
    tie is tied by reading one commit that carries it (``GET .../commits/{sha}``, GitHub's own
    attribution); a ``Co-authored-by:`` address, and any address still untied, by commit
    search. What stays untied is left to the decision, which fails closed on it. A failed read
    raises: the decision is never made on a partial list.
    """
    listed = {c.sha: c for c in github.pull_commits(pr.repository, pr.number)}
    try:
        local = mirror.commits(pr.base_sha, pr.head_sha)
    except GitError as error:
        raise GitHubError(f"reading the commits of {pr.repository}#{pr.number}: {error}") from None
    tied: dict[str, str | None] = {}
    for item in listed.values():
        _tie(tied, item.author_email, item.author_login)
        _tie(tied, item.committer_email, item.committer_login)
    skipped: set[str] = set()
    lookups = 0
    for item in local:
        wanted = [e for e in (item.author_email, item.committer_email) if e]
        if item.sha in listed or all(tied.get(e.casefold()) for e in wanted):
            continue
        if lookups == MAX_COMMIT_LOOKUPS:
            skipped.update(e.casefold() for e in wanted if not tied.get(e.casefold()))
            continue
        lookups += 1
        found = github.commit(pr.repository, item.sha)
        _tie(tied, item.author_email, found.author_login)
        _tie(tied, item.committer_email, found.committer_login)
    commits = [_commit(c, tied) for c in local]
    commits += [_commit(c, tied) for sha, c in listed.items() if sha not in {x.sha for x in local}]
    emails, unsearched = _search_untied(github, commits)
    return _PullCommits(
        commits=tuple(commits), emails=emails, not_looked_up=len(skipped | unsearched)
    )


def _search_untied(
    github: GitHub, commits: Sequence[Commit]
) -> tuple[dict[str, frozenset[str]], set[str]]:
    """Commit search for the addresses no login ties (co-authors first met here, mostly)."""
    untied: set[str] = set()
    for commit in commits:
        for person in (commit.author, commit.committer, *commit.co_authors()):
            if person.email and not person.login:
                untied.add(person.email.casefold())
    wanted = sorted(e for e in untied if _SEARCHABLE.match(e) and not _NOREPLY_ADDRESS.match(e))
    found: dict[str, set[str]] = {}
    for email in wanted[:MAX_ADDRESS_SEARCHES]:
        for login in github.commit_authors(email):
            found.setdefault(login, set()).add(email)
    return {k: frozenset(v) for k, v in found.items()}, set(wanted[MAX_ADDRESS_SEARCHES:])


_NOREPLY_ADDRESS = re.compile(r"^(?:[^@]+@users\.noreply\.github\.com|noreply@github\.com)$")


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


# --- the flows ------------------------------------------------------------------------------------


def _gate(context: PullRequestContext) -> CabApprovals | None:
    return context.approvals


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
    gate = _gate(context)
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


# --- may a commit of a PR reach the planes? (the merge flow and the protection rule) -------------


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
    gate = _gate(context)
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
