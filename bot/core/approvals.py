"""CAB approvals with separation of duties: which reviews count, which do not and why, the outcome.

A pull request's reviews are the change advisory board's decision. An approval counts when it is
its reviewer's latest review, its state is APPROVED, it was given on the current head (or, when the
repository allows it, on a head whose intent, policy and config content is the current one), the
reviewer is an active member of a CAB team (members of a child team count for its parent, as on
GitHub), and the reviewer is neither a bot, the PR's author, nor an author, co-author
(``Co-authored-by:``) or committer of a commit in the PR (DESIGN.md, "Risk, approvals, evidence").

Every review gets exactly one verdict, and a review that does not count gets exactly one reason,
the first that applies in this order (``Reason``): what the review *is* (dismissed, superseded, not
an approval), then who gave it (bot, PR author, commit author, co-author, committer, not a CAB
member, an address nobody can be sure is not theirs), then when (not on the current head).
People-reasons come before the head because a fresh approval fixes a stale one but never a
self-approval: the reason says what would help.

Separation of duties fails closed on addresses. A commit names people by e-mail address; each
must be tied to a GitHub account: by GitHub itself (the login GitHub gives a commit's author or
committer), by being a GitHub no-reply address (``123+login@users.noreply.github.com``, and
``noreply@github.com`` for GitHub's own ``web-flow`` commits), or by the ``emails`` the flow
resolved (commit search). While any author, committer or ``Co-authored-by:`` address of the PR
is tied to no account, it might be any CAB member's, so no CAB member's approval counts
(``Reason.UNRESOLVED``) and the decision lists the addresses (``unresolved``).

"Latest review" means the reviewer's latest review that sets a state (APPROVED, CHANGES_REQUESTED
or DISMISSED), by submission time then id: a COMMENTED review leaves an approval standing, as
on GitHub. A CAB member's latest CHANGES_REQUESTED blocks, whatever head it was given on, until
they approve or it is dismissed. Critical risk is refused without the emergency label; with it,
the tier's count applies (default 2) and a post-implementation review is owed.

Routed approvals (``bot.core.approval_routing``): besides the tier's count from ``cab.teams``, a
change may carry requirements from ``cab.routes`` (the mac CAB for macOS intents, security's
CAB for the broad ring), each its own count from its own teams. An approval counts when its
reviewer is a member of a CAB team *of this change* (``cab.teams`` or a matched route's teams)
and passes every rule above; it then counts toward every requirement whose teams hold its
reviewer (one approval can meet the tier's count and a route's). The change is approved only
when the tier's count and every requirement are met. Without routes, nothing differs.

Pure: the flow gathers the reviews (from EUCORA's own ledger, so the head and content hash are
those recorded when each review arrived), the commits, the team memberships and the settings,
and passes them in. No clock, no GitHub.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from bot.core.approval_routing import Requirement, requirements_of
from bot.core.pack_view import CheckPackView
from bot.core.risk import TIERS, approvals_for

DEFAULT_EMERGENCY_LABEL = "eucora:emergency"
CRITICAL = "critical"
_CO_AUTHOR = re.compile(
    r"^co-authored-by:[ \t]*(.*?)[ \t]*<([^<>\s]+)>[ \t]*$", re.IGNORECASE | re.MULTILINE
)
_NOREPLY = re.compile(r"^(?:\d+\+)?([A-Za-z0-9-]+)@users\.noreply\.github\.com$", re.IGNORECASE)
_WEB_FLOW = ("noreply@github.com", "web-flow")
"""GitHub commits what it makes itself (web edits, merges) as ``noreply@github.com``."""


class ReviewState(StrEnum):
    """A GitHub pull request review's state."""

    APPROVED = "APPROVED"
    CHANGES_REQUESTED = "CHANGES_REQUESTED"
    COMMENTED = "COMMENTED"
    DISMISSED = "DISMISSED"
    PENDING = "PENDING"


_STATE_SETTING = frozenset(
    {ReviewState.APPROVED, ReviewState.CHANGES_REQUESTED, ReviewState.DISMISSED}
)


class Reason(StrEnum):
    """Why a review does not count as an approval, in precedence order (the first that applies)."""

    DISMISSED = "dismissed"
    SUPERSEDED = "not-latest"
    NOT_AN_APPROVAL = "not-an-approval"
    BOT = "bot"
    PR_AUTHOR = "pr-author"
    COMMIT_AUTHOR = "commit-author"
    CO_AUTHOR = "co-author"
    COMMITTER = "committer"
    NOT_CAB_MEMBER = "not-cab-member"
    UNRESOLVED = "unresolved-address"
    NOT_ON_HEAD = "not-on-head"


REASON_TEXT: Mapping[Reason, str] = {
    Reason.DISMISSED: "the review was dismissed",
    Reason.SUPERSEDED: "a later review by the same person replaces it",
    Reason.NOT_AN_APPROVAL: "not an approval",
    Reason.BOT: "bots cannot approve changes",
    Reason.PR_AUTHOR: "the pull request's author cannot approve it",
    Reason.COMMIT_AUTHOR: "an author of a commit in the pull request cannot approve it",
    Reason.CO_AUTHOR: "a co-author (Co-authored-by) of a commit cannot approve it",
    Reason.COMMITTER: "a committer of a commit in the pull request cannot approve it",
    Reason.NOT_CAB_MEMBER: "not an active member of a CAB team",
    Reason.UNRESOLVED: (
        "a commit names an e-mail address GitHub ties to no account: it may be this reviewer's"
    ),
    Reason.NOT_ON_HEAD: "given on an earlier head: the pull request changed since",
}
"""One sentence per reason, for the check run summary and the comment."""


SEPARATION_OF_DUTIES = (
    "bots, the pull request's author, and the authors, Co-authored-by co-authors and committers "
    "of its commits cannot approve; only each reviewer's latest approval on the current head counts"
)
"""The rules in one sentence, for renderings that have only the check pack."""


class Outcome(StrEnum):
    """Where the approval of a change stands."""

    APPROVED = "approved"
    WAITING = "waiting"
    BLOCKED = "blocked"
    CRITICAL_WITHOUT_EMERGENCY = "critical-without-emergency"


# --- inputs ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Review:
    """One review as EUCORA's ledger recorded it when it arrived.

    ``commit_id`` is the head the review was given on and ``content_hash`` the hash of the
    intent, policy and config content at that head (``None`` when unknown), both as recorded then:
    GitHub may later move an old approval's ``commit_id`` to a new head.
    """

    id: int
    reviewer: str
    state: ReviewState
    commit_id: str
    submitted_at: datetime
    content_hash: str | None = None
    reviewer_is_bot: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Person:
    """Someone named by a commit: a GitHub login when GitHub resolved it, and an email."""

    login: str | None = None
    email: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Commit:
    """A commit of the pull request: its author, its committer and its message (for trailers)."""

    sha: str
    author: Person
    committer: Person
    message: str = ""

    def co_authors(self) -> tuple[Person, ...]:
        """The people of its ``Co-authored-by: Name <email>`` trailers (git interpret-trailers)."""
        return tuple(Person(email=email) for _, email in _CO_AUTHOR.findall(self.message))


@dataclass(frozen=True, slots=True, kw_only=True)
class PullRequestFacts:
    """What the decision needs to know about the pull request itself.

    ``content_hash`` is the hash of the intent, policy and config content at ``head_sha``.
    """

    author: str
    head_sha: str
    labels: tuple[str, ...] = ()
    content_hash: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Team:
    """A GitHub team: its active direct members and its parent team (``org/slug``), if any."""

    members: frozenset[str] = frozenset()
    parent: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ApprovalPolicy:
    """The repository's approval settings for this pull request (``eucora.yaml`` and the risk tier).

    ``required`` is the tier's approval count (already raised by any policy rule);
    ``requirements`` the routed requirements the change matched (``cab.routes``);
    ``tier_approvals`` the count each tier needs by ``risk.approvals`` (for the explanation).
    """

    cab_teams: tuple[str, ...]
    tier: str
    required: int
    distinct_teams: int = 1
    survive_non_intent_push: bool = False
    emergency_label: str = DEFAULT_EMERGENCY_LABEL
    requirements: tuple[Requirement, ...] = ()
    tier_approvals: tuple[tuple[str, int], ...] = ()

    @property
    def teams(self) -> tuple[str, ...]:
        """Every CAB team of this change: ``cab.teams``, then the matched routes' teams.

        The teams whose members the caller must read (``decide_approvals``'s ``teams``).
        """
        if not self.requirements:
            return self.cab_teams
        seen: dict[str, str] = {}
        for team in (*self.cab_teams, *(t for r in self.requirements for t in r.teams)):
            seen.setdefault(team.casefold(), team)
        return tuple(seen.values())

    def separation_of_duties(self) -> tuple[str, ...]:
        """The rules a review must pass to count, one sentence each (for the explanation)."""
        head = (
            "only approvals on the current head count, or on a head with the same intents, "
            "policies and eucora.yaml (cab.approvalsSurviveNonIntentPush)"
            if self.survive_non_intent_push
            else "only approvals on the current head count: any push needs fresh approvals"
        )
        return (
            "only the reviewer's latest review counts, and only an approval",
            "bots cannot approve",
            "the pull request's author cannot approve it",
            "authors, Co-authored-by co-authors and committers of its commits cannot approve it",
            "while a commit names an e-mail address tied to no GitHub account, no approval counts",
            head,
        )


def emergency_label(config: Mapping[str, Any]) -> str:
    """The emergency label ``eucora.yaml`` configures (``labels.emergency``), or the default."""
    return str(_mapping(config.get("labels")).get("emergency") or DEFAULT_EMERGENCY_LABEL)


def approval_policy(
    config: Mapping[str, Any],
    *,
    tier: str,
    required: int,
    requirements: Sequence[Requirement] = (),
) -> ApprovalPolicy:
    """The approval settings in a validated ``eucora.yaml`` (``cab``, ``labels``) for a tier.

    ``requirements`` are the routed requirements of the change (``route_approvals`` of the
    changed intents, or ``requirements_of`` a check pack's ``approvals``).
    """
    cab = _mapping(config.get("cab"))
    quorum = _mapping(cab.get("quorum"))
    return ApprovalPolicy(
        cab_teams=tuple(cab.get("teams") or ()),
        tier=tier,
        required=required,
        distinct_teams=int(quorum.get("distinctTeams", 1)),
        survive_non_intent_push=bool(cab.get("approvalsSurviveNonIntentPush", False)),
        emergency_label=emergency_label(config),
        requirements=tuple(requirements),
        tier_approvals=tuple((t, approvals_for(t, config)) for t in TIERS),
    )


def pack_approval_policy(config: Mapping[str, Any], pack: Mapping[str, Any]) -> ApprovalPolicy:
    """The approval settings for the change a check pack judged, under ``config`` (the base's).

    The pack gives the tier, the count and the routed requirements (``approvals.routes``).
    """
    view = CheckPackView.of(pack)
    return approval_policy(
        config,
        tier=view.risk_tier,
        required=view.approvals_required,
        requirements=requirements_of(view.approvals),
    )


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


# --- the decision ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ReviewVerdict:
    """One review and whether it counts as a CAB approval; when not, the one reason why.

    ``teams`` are the CAB teams the reviewer counts for (empty for non-members).
    """

    review_id: int
    reviewer: str
    state: ReviewState
    commit_id: str
    counted: bool
    reason: Reason | None = None
    teams: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """Plain data for the evidence pack."""
        return {
            "reviewId": self.review_id,
            "reviewer": self.reviewer,
            "state": self.state.value,
            "commit": self.commit_id,
            "counted": self.counted,
            "reason": self.reason.value if self.reason else None,
            "teams": list(self.teams),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class RequirementResult:
    """Where one routed requirement stands: who counted for it, how many more it needs."""

    requirement: Requirement
    counted: tuple[str, ...]
    missing: int
    can_approve: tuple[str, ...] = ()

    @property
    def met(self) -> bool:
        """Whether enough of its teams' members approved."""
        return not self.missing

    def line(self) -> str:
        """Plain text: the route, its teams, counted of needed, who counted, and why it applies."""
        req = self.requirement
        teams = ", ".join(req.teams) or "no team configured"
        who = f" ({', '.join(self.counted)})" if self.counted else ""
        more = f" and {req.files - len(req.matched)} more" if req.files > len(req.matched) else ""
        return (
            f"route {req.route}: {len(self.counted)} of {req.required} approval"
            f"{'s' if req.required != 1 else ''} from {teams}{who}; "
            f"matched {'; '.join(req.matched)}{more}"
        )

    def as_dict(self) -> dict[str, Any]:
        """Plain data for the evidence and the audit log."""
        return {
            **self.requirement.as_dict(),
            "counted": list(self.counted),
            "missing": self.missing,
            "canApprove": list(self.can_approve),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class ApprovalDecision:
    """The approval state of a change, as data: outcome, every review's verdict, what is missing.

    ``missing`` approvals and ``missing_teams`` (quorum) are what ``waiting`` waits for;
    ``blocking`` are the CAB members' current change requests; ``can_approve`` the CAB members
    who could still give a counted approval; ``unresolved`` the commit addresses tied to no
    GitHub account (while there are any, no approval counts).
    """

    outcome: Outcome
    tier: str
    required: int
    verdicts: tuple[ReviewVerdict, ...]
    blocking: tuple[ReviewVerdict, ...] = ()
    missing: int = 0
    distinct_teams: int = 1
    teams_covered: tuple[str, ...] = ()
    missing_teams: int = 0
    emergency: bool = False
    post_implementation_review_owed: bool = False
    can_approve: tuple[str, ...] = field(default=())
    unresolved: tuple[str, ...] = ()
    requirements: tuple[RequirementResult, ...] = ()
    cab_teams: tuple[str, ...] = ()
    tier_approvals: tuple[tuple[str, int], ...] = ()
    """The count each tier needs (``risk.approvals``): the explanation, not the evidence."""
    rules: tuple[str, ...] = ()
    """The separation-of-duties rules applied, one sentence each (for the explanation)."""

    @property
    def counted(self) -> tuple[ReviewVerdict, ...]:
        """The approvals that count."""
        return tuple(v for v in self.verdicts if v.counted)

    @property
    def tier_counted(self) -> tuple[ReviewVerdict, ...]:
        """The counted approvals from members of ``cab.teams`` (what the tier's count counts)."""
        if not self.requirements:
            return self.counted
        return tuple(v for v in self.counted if _overlap(v.teams, self.cab_teams))

    @property
    def unmet(self) -> tuple[RequirementResult, ...]:
        """The routed requirements still missing approvals."""
        return tuple(r for r in self.requirements if not r.met)

    @property
    def refused(self) -> tuple[ReviewVerdict, ...]:
        """The reviews that do not count, each with its reason."""
        return tuple(v for v in self.verdicts if not v.counted)

    def summary(self) -> str:
        """One line for people: the outcome and what it waits for."""
        if self.outcome is Outcome.CRITICAL_WITHOUT_EMERGENCY:
            return "blocked: critical risk needs the emergency label"
        if self.outcome is Outcome.BLOCKED:
            who = ", ".join(sorted({v.reviewer for v in self.blocking}))
            return f"blocked: changes requested by CAB member(s) {who}"
        if self.outcome is Outcome.APPROVED:
            got = len(self.tier_counted)
            line = f"approved: {got} CAB approval{'s' if got != 1 else ''} of {self.required}"
            routed = ", ".join(
                f"{r.requirement.route} {len(r.counted)} of {r.requirement.required}"
                for r in self.requirements
            )
            return f"{line}; routes: {routed}" if routed else line
        parts = []
        if self.missing:
            parts.append(f"{self.missing} more CAB approval{'s' if self.missing != 1 else ''}")
        if self.missing_teams and (self.distinct_teams > 1 or not self.missing):
            parts.append(
                f"approvals from {self.missing_teams} more CAB"
                f" team{'s' if self.missing_teams != 1 else ''}"
            )
        parts.extend(
            f"{r.missing} more approval{'s' if r.missing != 1 else ''} from "
            f"{' or '.join(r.requirement.teams) or 'no team'} (route {r.requirement.route})"
            for r in self.unmet
        )
        if self.unresolved:
            count = len(self.unresolved)
            parts.append(
                f"{count} commit e-mail address{'es' if count != 1 else ''}"
                " to be tied to a GitHub account"
            )
        return "waiting for " + " and ".join(parts)

    def as_dict(self) -> dict[str, Any]:
        """Plain data for the evidence pack (lists in review-id order, deterministic).

        ``unresolvedAddresses`` and ``requirements`` appear only when there are some (earlier
        decisions' bytes stay).
        """
        found = {
            "outcome": self.outcome.value,
            "summary": self.summary(),
            "tier": self.tier,
            "required": self.required,
            "counted": [v.as_dict() for v in self.counted],
            "refused": [v.as_dict() for v in self.refused],
            "blocking": [v.as_dict() for v in self.blocking],
            "missing": self.missing,
            "distinctTeams": self.distinct_teams,
            "teamsCovered": list(self.teams_covered),
            "missingTeams": self.missing_teams,
            "emergency": self.emergency,
            "postImplementationReviewOwed": self.post_implementation_review_owed,
            "canApprove": list(self.can_approve),
        }
        if self.unresolved:
            found["unresolvedAddresses"] = list(self.unresolved)
        if self.requirements:
            found["requirements"] = [r.as_dict() for r in self.requirements]
        return found


def decide_approvals(  # noqa: PLR0913 - the snapshot the decision is made from
    pr: PullRequestFacts,
    reviews: Iterable[Review],
    commits: Sequence[Commit],
    teams: Mapping[str, Team],
    policy: ApprovalPolicy,
    *,
    emails: Mapping[str, Iterable[str]] | None = None,
) -> ApprovalDecision:
    """Decide the approval state of a pull request (see the module docstring for the rules).

    ``teams`` holds every team GitHub reported (the CAB teams and their descendants);
    ``emails`` maps logins to the addresses known to be theirs (verified, or tied to them by
    GitHub's commit search), to recognise a reviewer named by address only in a commit or a
    ``Co-authored-by:`` trailer (GitHub no-reply addresses are recognised without it). An
    address of the commits that is neither tied to a login nor in ``emails`` is unresolved:
    no approval counts (module docstring). Logins compare case-insensitively, as on GitHub.
    """
    ordered = sorted(reviews, key=lambda r: (r.submitted_at, r.id))
    latest = _latest_state_reviews(ordered)
    cab = _cab_membership(teams, policy.teams)
    known_emails = {
        _key(login): {e.casefold() for e in found} for login, found in (emails or {}).items()
    }
    people = _commit_people(commits, frozenset().union(*known_emails.values()))
    author = _key(pr.author)
    verdicts: list[ReviewVerdict] = []
    blocking: list[ReviewVerdict] = []
    for review in sorted(ordered, key=lambda r: r.id):
        reviewer = _key(review.reviewer)
        member_of = cab.get(reviewer, ())
        reason = _reason(
            review,
            is_latest=latest.get(reviewer) is review,
            author=author,
            people=people,
            reviewer_emails=known_emails.get(reviewer, set()),
            member=bool(member_of),
            pr=pr,
            policy=policy,
        )
        verdict = ReviewVerdict(
            review_id=review.id,
            reviewer=review.reviewer,
            state=review.state,
            commit_id=review.commit_id,
            counted=reason is None,
            reason=reason,
            teams=member_of,
        )
        verdicts.append(verdict)
        if (
            review.state is ReviewState.CHANGES_REQUESTED
            and latest.get(reviewer) is review
            and member_of
            and not _is_bot(review)
        ):
            blocking.append(verdict)
    return _outcome(
        pr=pr,
        policy=policy,
        verdicts=tuple(verdicts),
        blocking=tuple(blocking),
        cab=cab,
        people=people,
        author=author,
        known_emails=known_emails,
    )


def _outcome(  # noqa: PLR0913 - the pieces of the decision
    *,
    pr: PullRequestFacts,
    policy: ApprovalPolicy,
    verdicts: tuple[ReviewVerdict, ...],
    blocking: tuple[ReviewVerdict, ...],
    cab: Mapping[str, tuple[str, ...]],
    people: _People,
    author: str,
    known_emails: Mapping[str, set[str]],
) -> ApprovalDecision:
    emergency = policy.emergency_label in pr.labels
    counted = [v for v in verdicts if v.counted and _overlap(v.teams, policy.cab_teams)]
    missing = max(policy.required - len(counted), 0)
    covered = _matched_teams(counted, policy.cab_teams) if counted else ()
    missing_teams = max(min(policy.distinct_teams, len(policy.cab_teams)) - len(covered), 0)
    if not policy.required:
        missing_teams = 0
    eligible = {
        login: member_of
        for login, member_of in cab.items()
        if login != author
        and not people.excludes(login, known_emails.get(login, set()))
        and not login.endswith("[bot]")
        and not people.unresolved
    }
    routed = tuple(_requirement(r, verdicts, eligible) for r in policy.requirements)
    critical = policy.tier == CRITICAL
    if critical and not emergency:
        outcome = Outcome.CRITICAL_WITHOUT_EMERGENCY
    elif blocking:
        outcome = Outcome.BLOCKED
    elif missing or missing_teams or any(not r.met for r in routed):
        outcome = Outcome.WAITING
    else:
        outcome = Outcome.APPROVED
    approvers = {_key(v.reviewer) for v in counted}
    can_approve = tuple(
        sorted(
            login
            for login, member_of in eligible.items()
            if login not in approvers and _overlap(member_of, policy.cab_teams)
        )
    )
    return ApprovalDecision(
        outcome=outcome,
        tier=policy.tier,
        required=policy.required,
        verdicts=verdicts,
        blocking=blocking,
        missing=missing,
        distinct_teams=policy.distinct_teams,
        teams_covered=covered,
        missing_teams=missing_teams,
        emergency=emergency,
        post_implementation_review_owed=critical and emergency,
        can_approve=can_approve,
        unresolved=tuple(sorted(people.unresolved)),
        requirements=routed,
        cab_teams=policy.cab_teams,
        tier_approvals=policy.tier_approvals,
        rules=policy.separation_of_duties(),
    )


def _requirement(
    requirement: Requirement,
    verdicts: Sequence[ReviewVerdict],
    eligible: Mapping[str, tuple[str, ...]],
) -> RequirementResult:
    """Who counted for one routed requirement (members of its teams), and how many more."""
    counted = tuple(
        v.reviewer for v in verdicts if v.counted and _overlap(v.teams, requirement.teams)
    )
    done = {_key(c) for c in counted}
    return RequirementResult(
        requirement=requirement,
        counted=counted,
        missing=max(requirement.required - len(counted), 0),
        can_approve=tuple(
            sorted(
                login
                for login, member_of in eligible.items()
                if login not in done and _overlap(member_of, requirement.teams)
            )
        ),
    )


def _overlap(teams: Iterable[str], wanted: Iterable[str]) -> bool:
    """Whether two lists of ``org/slug`` teams share one (case-insensitively, as on GitHub)."""
    return bool({t.casefold() for t in teams} & {t.casefold() for t in wanted})


# --- the rules ------------------------------------------------------------------------------------


def _key(login: str) -> str:
    return login.casefold()


def _is_bot(review: Review) -> bool:
    return review.reviewer_is_bot or review.reviewer.casefold().endswith("[bot]")


def _latest_state_reviews(ordered: Sequence[Review]) -> dict[str, Review]:
    """Each reviewer's latest review that sets a state (reviews in submission order)."""
    latest: dict[str, Review] = {}
    for review in ordered:
        if review.state in _STATE_SETTING:
            latest[_key(review.reviewer)] = review
    return latest


@dataclass(frozen=True, slots=True)
class _People:
    """Logins and emails of a PR's commit authors, co-authors and committers.

    ``unresolved``: their addresses tied to no login (neither by GitHub nor by ``emails``).
    """

    authors: frozenset[str]
    co_authors: frozenset[str]
    committers: frozenset[str]
    unresolved: frozenset[str] = frozenset()

    def role(self, login: str, emails: set[str]) -> Reason | None:
        names = {login, *emails}
        if names & self.authors:
            return Reason.COMMIT_AUTHOR
        if names & self.co_authors:
            return Reason.CO_AUTHOR
        if names & self.committers:
            return Reason.COMMITTER
        return None

    def excludes(self, login: str, emails: set[str]) -> bool:
        return self.role(login, emails) is not None


def _identities(person: Person) -> set[str]:
    """The keys a person is known by: login, email, and the login of a GitHub noreply email."""
    found: set[str] = set()
    if person.login:
        found.add(_key(person.login))
    if person.email:
        email = person.email.casefold()
        found.add(email)
        login = _address_login(email)
        if login:
            found.add(login)
    return found


def _address_login(email: str) -> str | None:
    """The login a GitHub no-reply address (or GitHub's own ``noreply@github.com``) names."""
    noreply = _NOREPLY.fullmatch(email)
    if noreply:
        return noreply.group(1).casefold()
    return _WEB_FLOW[1] if email == _WEB_FLOW[0] else None


def _is_unresolved(person: Person, known: frozenset[str]) -> bool:
    """An address of a commit that GitHub tied to no login and that no known address matches."""
    if person.login or not person.email:
        return False
    email = person.email.casefold()
    return _address_login(email) is None and email not in known


def _commit_people(commits: Sequence[Commit], known: frozenset[str] = frozenset()) -> _People:
    """The people the commits name; ``known`` are the addresses tied to logins by ``emails``."""
    authors: set[str] = set()
    co_authors: set[str] = set()
    committers: set[str] = set()
    unresolved: set[str] = set()
    for commit in commits:
        authors |= _identities(commit.author)
        committers |= _identities(commit.committer)
        named = [commit.author, commit.committer]
        for person in commit.co_authors():
            co_authors |= _identities(person)
            named.append(person)
        unresolved.update(p.email.casefold() for p in named if p.email and _is_unresolved(p, known))
    return _People(
        frozenset(authors), frozenset(co_authors), frozenset(committers), frozenset(unresolved)
    )


def _cab_membership(
    teams: Mapping[str, Team], cab_teams: Sequence[str]
) -> dict[str, tuple[str, ...]]:
    """Login → the configured CAB teams they count for (directly or through child teams)."""
    cab = {t.casefold(): t for t in cab_teams}
    found: dict[str, set[str]] = {}
    for name, team in teams.items():
        for ancestor in _ancestors(name, teams):
            configured = cab.get(ancestor.casefold())
            if configured is None:
                continue
            for member in team.members:
                found.setdefault(_key(member), set()).add(configured)
    return {login: tuple(sorted(names)) for login, names in found.items()}


def _ancestors(name: str, teams: Mapping[str, Team]) -> list[str]:
    """The team and its parents up the tree (a cycle in the data stops the walk)."""
    chain: list[str] = []
    current: str | None = name
    while current is not None and current not in chain:
        chain.append(current)
        parent = teams.get(current)
        current = parent.parent if parent is not None else None
    return chain


def _reason(  # noqa: PLR0913 - one return per reason, in precedence order
    review: Review,
    *,
    is_latest: bool,
    author: str,
    people: _People,
    reviewer_emails: set[str],
    member: bool,
    pr: PullRequestFacts,
    policy: ApprovalPolicy,
) -> Reason | None:
    """The one reason a review does not count, or ``None`` when it counts."""
    reviewer = _key(review.reviewer)
    if review.state is ReviewState.DISMISSED:
        return Reason.DISMISSED
    if review.state in _STATE_SETTING and not is_latest:
        return Reason.SUPERSEDED
    if review.state is not ReviewState.APPROVED:
        return Reason.NOT_AN_APPROVAL
    if _is_bot(review):
        return Reason.BOT
    if reviewer == author:
        return Reason.PR_AUTHOR
    role = people.role(reviewer, reviewer_emails)
    if role is not None:
        return role
    if not member:
        return Reason.NOT_CAB_MEMBER
    if people.unresolved:
        return Reason.UNRESOLVED
    if review.commit_id != pr.head_sha and not (
        policy.survive_non_intent_push
        and review.content_hash is not None
        and review.content_hash == pr.content_hash
    ):
        return Reason.NOT_ON_HEAD
    return None


def _matched_teams(counted: Sequence[ReviewVerdict], cab_teams: Sequence[str]) -> tuple[str, ...]:
    """The CAB teams covered by distinct approvers, one team each (a maximum bipartite matching).

    One person in two CAB teams covers one of them, never both: "N distinct teams" means N
    different people from N different teams. Only ``cab_teams`` (``cab.teams``) are covered.
    """
    match: dict[str, str] = {}  # team -> approver

    def assign(approver: str, teams: tuple[str, ...], seen: set[str]) -> bool:
        for team in teams:
            if team in seen:
                continue
            seen.add(team)
            holder = match.get(team)
            if holder is None or assign(holder, by_approver[holder], seen):
                match[team] = approver
                return True
        return False

    wanted = {t.casefold() for t in cab_teams}
    by_approver = {
        _key(v.reviewer): tuple(t for t in v.teams if t.casefold() in wanted) for v in counted
    }
    for approver, teams in sorted(by_approver.items()):
        assign(approver, teams, set())
    return tuple(sorted(match))


__all__ = [
    "CRITICAL",
    "DEFAULT_EMERGENCY_LABEL",
    "REASON_TEXT",
    "SEPARATION_OF_DUTIES",
    "ApprovalDecision",
    "ApprovalPolicy",
    "Commit",
    "Outcome",
    "Person",
    "PullRequestFacts",
    "Reason",
    "RequirementResult",
    "Review",
    "ReviewState",
    "ReviewVerdict",
    "Team",
    "approval_policy",
    "decide_approvals",
    "emergency_label",
    "pack_approval_policy",
]
