"""CAB approvals: a table of named cases, then properties over generated review histories."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.approval_routing import Requirement
from bot.core.approvals import (
    REASON_TEXT,
    ApprovalPolicy,
    Commit,
    Outcome,
    Person,
    PullRequestFacts,
    Reason,
    Review,
    ReviewState,
    Team,
    approval_policy,
    decide_approvals,
)

HEAD = "h" * 40
OLD = "0" * 40
T0 = datetime(2027, 2, 17, 9, 0, tzinfo=UTC)
A, CR, COM, DIS = (
    ReviewState.APPROVED,
    ReviewState.CHANGES_REQUESTED,
    ReviewState.COMMENTED,
    ReviewState.DISMISSED,
)
TEAMS = {
    "contoso/cab": Team(members=frozenset({"carol", "dave", "erin", "frank"})),
    "contoso/cab-emea": Team(members=frozenset({"gina"}), parent="contoso/cab"),
    "contoso/cab-emea-night": Team(members=frozenset({"nina"}), parent="contoso/cab-emea"),
    "contoso/security": Team(members=frozenset({"sam", "sara", "dave"})),
    "contoso/other": Team(members=frozenset({"olga"})),
}
CAB = ("contoso/cab", "contoso/security")


def rv(  # noqa: PLR0913 - a review in one line of the table
    id: int,  # noqa: A002 - the review's id
    who: str,
    state: ReviewState = A,
    *,
    on: str = HEAD,
    at: int | None = None,
    content: str | None = None,
    bot: bool = False,
) -> Review:
    return Review(
        id=id,
        reviewer=who,
        state=state,
        commit_id=on,
        submitted_at=T0 + timedelta(minutes=id if at is None else at),
        content_hash=content,
        reviewer_is_bot=bot,
    )


def cm(author: str = "alice", committer: str = "alice", message: str = "Change") -> Commit:
    return Commit(
        sha="c" * 40,
        author=Person(login=author, email=f"{author}@contoso.com"),
        committer=Person(login=committer, email=f"{committer}@contoso.com"),
        message=message,
    )


UNTIED = Commit(
    sha="e" * 40,
    author=Person(email="carol.private@home.example"),
    committer=Person(login="alice", email="alice@contoso.com"),
)
"""A commit whose author's address GitHub ties to no account (``author: null``)."""


@dataclass(frozen=True)
class Case:
    name: str
    reviews: tuple[Review, ...]
    outcome: Outcome
    counted: tuple[int, ...] = ()
    reasons: dict[int, Reason] = field(default_factory=dict)
    tier: str = "medium"
    required: int = 1
    labels: tuple[str, ...] = ()
    commits: tuple[Commit, ...] = (cm(),)
    distinct: int = 1
    survive: bool = False
    content: str | None = "content-at-head"
    emails: dict[str, tuple[str, ...]] = field(default_factory=dict)
    missing: int | None = None
    pir: bool = False
    author: str = "alice"


CASES = [
    Case("no reviews yet", (), Outcome.WAITING, missing=1),
    Case("low risk needs none", (), Outcome.APPROVED, tier="low", required=0),
    Case("one CAB approval", (rv(1, "carol"),), Outcome.APPROVED, counted=(1,)),
    Case(
        "self-approval",
        (rv(1, "alice"),),
        Outcome.WAITING,
        reasons={1: Reason.PR_AUTHOR},
        missing=1,
    ),
    Case(
        "approval on an old head",
        (rv(1, "carol", on=OLD),),
        Outcome.WAITING,
        reasons={1: Reason.NOT_ON_HEAD},
    ),
    Case(
        "approval then changes requested by another member",
        (rv(1, "carol"), rv(2, "erin", CR)),
        Outcome.BLOCKED,
        counted=(1,),
        reasons={2: Reason.NOT_AN_APPROVAL},
    ),
    Case(
        "changes requested then approved by the same member",
        (rv(1, "carol", CR), rv(2, "carol")),
        Outcome.APPROVED,
        counted=(2,),
        reasons={1: Reason.SUPERSEDED},
    ),
    Case(
        "approved then changes requested by the same member",
        (rv(1, "carol"), rv(2, "carol", CR)),
        Outcome.BLOCKED,
        reasons={1: Reason.SUPERSEDED, 2: Reason.NOT_AN_APPROVAL},
    ),
    Case(
        "a dismissed review", (rv(1, "carol", DIS),), Outcome.WAITING, reasons={1: Reason.DISMISSED}
    ),
    Case(
        "a reviewer who left the team",
        (rv(1, "mallory"),),
        Outcome.WAITING,
        reasons={1: Reason.NOT_CAB_MEMBER},
    ),
    Case(
        "a co-author who approves (noreply email)",
        (rv(1, "carol"),),
        Outcome.WAITING,
        commits=(cm(message="Fix\n\nCo-authored-by: Carol <123+carol@users.noreply.github.com>"),),
        reasons={1: Reason.CO_AUTHOR},
    ),
    Case(
        "a co-author known by a verified email",
        (rv(1, "dave"),),
        Outcome.WAITING,
        commits=(cm(message="Fix\n\nco-authored-by:   D. Vader <DAVE@home.example> "),),
        emails={"dave": ("dave@home.example",)},
        reasons={1: Reason.CO_AUTHOR},
    ),
    Case(
        "a committer who approves",
        (rv(1, "erin"),),
        Outcome.WAITING,
        commits=(cm(committer="erin"),),
        reasons={1: Reason.COMMITTER},
    ),
    Case(
        "a commit author who did not open the PR",
        (rv(1, "frank"),),
        Outcome.WAITING,
        commits=(cm(), cm(author="frank")),
        reasons={1: Reason.COMMIT_AUTHOR},
    ),
    Case(
        "a bot by its login", (rv(1, "cab-helper[bot]"),), Outcome.WAITING, reasons={1: Reason.BOT}
    ),
    Case(
        "a bot in the CAB team",
        (rv(1, "carol", bot=True),),
        Outcome.WAITING,
        reasons={1: Reason.BOT},
    ),
    Case(
        "two approvals needed and one given",
        (rv(1, "carol"),),
        Outcome.WAITING,
        tier="high",
        required=2,
        counted=(1,),
        missing=1,
    ),
    Case(
        "two approvals needed and given",
        (rv(1, "carol"), rv(2, "erin")),
        Outcome.APPROVED,
        tier="high",
        required=2,
        counted=(1, 2),
    ),
    Case(
        "one person approving twice counts once",
        (rv(1, "carol"), rv(2, "carol")),
        Outcome.WAITING,
        tier="high",
        required=2,
        counted=(2,),
        reasons={1: Reason.SUPERSEDED},
        missing=1,
    ),
    Case(
        "emergency without the label",
        (rv(1, "carol"), rv(2, "erin")),
        Outcome.CRITICAL_WITHOUT_EMERGENCY,
        tier="critical",
        required=2,
        counted=(1, 2),
    ),
    Case(
        "emergency with the label and two approvals",
        (rv(1, "carol"), rv(2, "erin")),
        Outcome.APPROVED,
        tier="critical",
        required=2,
        labels=("eucora:emergency",),
        counted=(1, 2),
        pir=True,
    ),
    Case(
        "emergency with the label and one approval",
        (rv(1, "carol"),),
        Outcome.WAITING,
        tier="critical",
        required=2,
        labels=("eucora:emergency",),
        counted=(1,),
        pir=True,
    ),
    Case(
        "approvals after a push that only touched README (allowed)",
        (rv(1, "carol", on=OLD, content="content-at-head"),),
        Outcome.APPROVED,
        survive=True,
        counted=(1,),
    ),
    Case(
        "approvals after a push that changed an intent (allowed setting)",
        (rv(1, "carol", on=OLD, content="older-content"),),
        Outcome.WAITING,
        survive=True,
        reasons={1: Reason.NOT_ON_HEAD},
    ),
    Case(
        "approvals after a README push (default: no)",
        (rv(1, "carol", on=OLD, content="content-at-head"),),
        Outcome.WAITING,
        reasons={1: Reason.NOT_ON_HEAD},
    ),
    Case(
        "approvals after a push with an unrecorded content hash",
        (rv(1, "carol", on=OLD, content=None),),
        Outcome.WAITING,
        survive=True,
        content=None,
        reasons={1: Reason.NOT_ON_HEAD},
    ),
    Case(
        "a child team member counts for the parent",
        (rv(1, "gina"),),
        Outcome.APPROVED,
        counted=(1,),
    ),
    Case("a grandchild team member counts too", (rv(1, "nina"),), Outcome.APPROVED, counted=(1,)),
    Case(
        "a member of a team that is not the CAB",
        (rv(1, "olga"),),
        Outcome.WAITING,
        reasons={1: Reason.NOT_CAB_MEMBER},
    ),
    Case(
        "quorum of two teams, both approvals from one",
        (rv(1, "carol"), rv(2, "erin")),
        Outcome.WAITING,
        tier="high",
        required=2,
        distinct=2,
        counted=(1, 2),
        missing=0,
    ),
    Case(
        "quorum of two teams met",
        (rv(1, "carol"), rv(2, "sam")),
        Outcome.APPROVED,
        tier="high",
        required=2,
        distinct=2,
        counted=(1, 2),
    ),
    Case(
        "one person in both teams covers one of them",
        (rv(1, "dave"),),
        Outcome.WAITING,
        distinct=2,
        counted=(1,),
        missing=0,
    ),
    Case(
        "quorum met through a person in both teams and another",
        (rv(1, "dave"), rv(2, "carol")),
        Outcome.APPROVED,
        tier="high",
        required=2,
        distinct=2,
        counted=(1, 2),
    ),
    Case(
        "a comment after an approval leaves it standing",
        (rv(1, "carol"), rv(2, "carol", COM)),
        Outcome.APPROVED,
        counted=(1,),
        reasons={2: Reason.NOT_AN_APPROVAL},
    ),
    Case(
        "changes requested by a non-member do not block",
        (rv(1, "carol"), rv(2, "mallory", CR)),
        Outcome.APPROVED,
        counted=(1,),
    ),
    Case(
        "changes requested by a CAB member who committed still block",
        (rv(1, "carol"), rv(2, "erin", CR)),
        Outcome.BLOCKED,
        commits=(cm(), cm(committer="erin")),
        counted=(1,),
    ),
    Case(
        "changes requested on an old head still block",
        (rv(1, "carol"), rv(2, "erin", CR, on=OLD)),
        Outcome.BLOCKED,
        counted=(1,),
    ),
    Case(
        "a dismissed change request no longer blocks",
        (rv(1, "carol"), rv(2, "erin", CR), rv(3, "erin", DIS)),
        Outcome.APPROVED,
        counted=(1,),
        reasons={2: Reason.SUPERSEDED, 3: Reason.DISMISSED},
    ),
    Case(
        "critical without the label outranks a change request",
        (rv(1, "erin", CR),),
        Outcome.CRITICAL_WITHOUT_EMERGENCY,
        tier="critical",
        required=2,
    ),
    Case(
        "logins compare without case",
        (rv(1, "Carol"), rv(2, "ALICE")),
        Outcome.APPROVED,
        counted=(1,),
        reasons={2: Reason.PR_AUTHOR},
    ),
    Case(
        "the author on an old head is refused as the author",
        (rv(1, "alice", on=OLD),),
        Outcome.WAITING,
        reasons={1: Reason.PR_AUTHOR},
    ),
    Case(
        "submission time, not id, says which review is latest",
        (rv(1, "carol", at=50), rv(2, "carol", CR, at=10)),
        Outcome.APPROVED,
        counted=(1,),
        reasons={2: Reason.SUPERSEDED},
    ),
    Case(
        "a non-member's self-approval is refused as the author",
        (rv(1, "alice"),),
        Outcome.WAITING,
        author="alice",
        reasons={1: Reason.PR_AUTHOR},
    ),
    Case(
        "a co-author by a real address that commit search tied to the CAB member",
        (rv(1, "carol"),),
        Outcome.WAITING,
        commits=(cm(message="Fix\n\nCo-authored-by: Carol <carol@corp.example>"),),
        emails={"carol": ("carol@corp.example",)},
        reasons={1: Reason.CO_AUTHOR},
    ),
    Case(
        "a co-author address tied to nobody: no CAB approval counts",
        (rv(1, "carol"),),
        Outcome.WAITING,
        commits=(cm(message="Fix\n\nCo-authored-by: Who <who@elsewhere.example>"),),
        reasons={1: Reason.UNRESOLVED},
        missing=1,
    ),
    Case(
        "a co-author address tied to someone else does not stop the CAB",
        (rv(1, "carol"),),
        Outcome.APPROVED,
        commits=(cm(message="Fix\n\nCo-authored-by: Bo <bo@elsewhere.example>"),),
        emails={"bo": ("bo@elsewhere.example",)},
        counted=(1,),
    ),
    Case(
        "a commit author GitHub ties to no account: no CAB approval counts",
        (rv(1, "carol"), rv(2, "mallory")),
        Outcome.WAITING,
        commits=(UNTIED,),
        reasons={1: Reason.UNRESOLVED, 2: Reason.NOT_CAB_MEMBER},
    ),
    Case(
        "the same address tied by search to the CAB member is a commit author",
        (rv(1, "carol"),),
        Outcome.WAITING,
        commits=(UNTIED,),
        emails={"carol": ("Carol.Private@Home.example",)},
        reasons={1: Reason.COMMIT_AUTHOR},
    ),
    Case(
        "GitHub's own web-flow committer needs no account lookup",
        (rv(1, "carol"),),
        Outcome.APPROVED,
        commits=(
            Commit(
                sha="d" * 40,
                author=Person(login="alice", email="alice@contoso.com"),
                committer=Person(email="noreply@github.com"),
            ),
        ),
        counted=(1,),
    ),
]


def decide(case: Case) -> object:
    return decide_approvals(
        PullRequestFacts(
            author=case.author, head_sha=HEAD, labels=case.labels, content_hash=case.content
        ),
        case.reviews,
        case.commits,
        TEAMS,
        ApprovalPolicy(
            cab_teams=CAB,
            tier=case.tier,
            required=case.required,
            distinct_teams=case.distinct,
            survive_non_intent_push=case.survive,
        ),
        emails=case.emails,
    )


def test_the_table_has_at_least_thirty_named_cases() -> None:
    assert len(CASES) >= 30
    assert len({c.name for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_case(case: Case) -> None:
    decision = decide(case)
    assert decision.outcome is case.outcome, decision.summary()
    assert tuple(v.review_id for v in decision.counted) == case.counted
    for review_id, reason in case.reasons.items():
        verdict = next(v for v in decision.verdicts if v.review_id == review_id)
        assert verdict.reason is reason, (review_id, verdict)
    for verdict in decision.verdicts:
        assert verdict.counted == (verdict.reason is None)
    if case.missing is not None:
        assert decision.missing == case.missing
    assert decision.post_implementation_review_owed is case.pir
    assert len(decision.verdicts) == len(case.reviews)
    json.dumps(decision.as_dict())  # plain data for the evidence pack


def test_the_summary_says_what_is_missing_and_who_can_approve() -> None:
    case = next(c for c in CASES if c.name == "quorum of two teams, both approvals from one")
    decision = decide(case)
    assert decision.summary() == "waiting for approvals from 1 more CAB team"
    assert decision.teams_covered == ("contoso/cab",)
    assert "sam" in decision.can_approve
    assert "carol" not in decision.can_approve
    assert "alice" not in decision.can_approve
    waiting = decide(next(c for c in CASES if c.name == "two approvals needed and one given"))
    assert waiting.summary() == "waiting for 1 more CAB approval"
    blocked = decide(next(c for c in CASES if c.name.startswith("approval then changes")))
    assert blocked.summary() == "blocked: changes requested by CAB member(s) erin"
    assert [v.reviewer for v in blocked.blocking] == ["erin"]
    approved = decide(next(c for c in CASES if c.name == "two approvals needed and given"))
    assert approved.summary() == "approved: 2 CAB approvals of 2"
    critical = decide(next(c for c in CASES if c.name == "emergency without the label"))
    assert critical.summary() == "blocked: critical risk needs the emergency label"
    data = approved.as_dict()
    assert [c["reviewId"] for c in data["counted"]] == [1, 2]
    assert data["outcome"] == "approved"
    assert set(REASON_TEXT) == set(Reason)


def test_unresolved_addresses_are_listed_said_and_leave_nobody_able_to_approve() -> None:
    decision = decide(
        Case(
            "unresolved",
            (rv(1, "carol"),),
            Outcome.WAITING,
            commits=(cm(message="Fix\n\nCo-authored-by: Who <Who@Elsewhere.example>"), UNTIED),
        )
    )
    assert decision.unresolved == ("carol.private@home.example", "who@elsewhere.example")
    assert decision.as_dict()["unresolvedAddresses"] == list(decision.unresolved)
    assert decision.can_approve == ()
    assert decision.summary() == (
        "waiting for 1 more CAB approval and 2 commit e-mail addresses to be tied to a GitHub"
        " account"
    )
    assert REASON_TEXT[Reason.UNRESOLVED].startswith("a commit names an e-mail address")


def test_a_decision_with_every_address_resolved_keeps_its_evidence_shape() -> None:
    decision = decide(Case("resolved", (rv(1, "carol"),), Outcome.APPROVED))
    assert "unresolvedAddresses" not in decision.as_dict()
    assert decision.unresolved == ()


def test_policy_from_eucora_yaml() -> None:
    config = {
        "cab": {
            "teams": ["contoso/cab", "contoso/security"],
            "approvalsSurviveNonIntentPush": True,
            "quorum": {"distinctTeams": 2},
        },
        "labels": {"emergency": "hotfix"},
    }
    policy = approval_policy(config, tier="high", required=2)
    assert policy == ApprovalPolicy(
        cab_teams=CAB,
        tier="high",
        required=2,
        distinct_teams=2,
        survive_non_intent_push=True,
        emergency_label="hotfix",
        tier_approvals=(("low", 0), ("medium", 1), ("high", 2), ("critical", 2)),
    )
    assert approval_policy({}, tier="low", required=0).emergency_label == "eucora:emergency"


def test_a_team_cycle_in_the_data_does_not_hang() -> None:
    teams = {
        "contoso/cab": Team(members=frozenset({"carol"}), parent="contoso/loop"),
        "contoso/loop": Team(members=frozenset({"lou"}), parent="contoso/cab"),
    }
    decision = decide_approvals(
        PullRequestFacts(author="alice", head_sha=HEAD),
        [rv(1, "lou")],
        [cm()],
        teams,
        ApprovalPolicy(cab_teams=("contoso/cab",), tier="medium", required=1),
    )
    assert decision.outcome is Outcome.APPROVED


# --- properties -----------------------------------------------------------------------------------

LOGINS = ["alice", "carol", "dave", "erin", "gina", "sam", "olga", "mallory", "bob[bot]"]


@st.composite
def histories(draw: st.DrawFn) -> tuple[list[Review], ApprovalPolicy, tuple[str, ...]]:
    count = draw(st.integers(0, 12))
    reviews = [
        rv(
            i + 1,
            draw(st.sampled_from(LOGINS)),
            draw(st.sampled_from([A, A, CR, COM, DIS])),
            on=draw(st.sampled_from([HEAD, HEAD, OLD])),
            at=draw(st.integers(0, 30)),
            content=draw(st.sampled_from([None, "content-at-head", "older"])),
        )
        for i in range(count)
    ]
    tier = draw(st.sampled_from(["low", "medium", "high", "critical"]))
    policy = ApprovalPolicy(
        cab_teams=CAB,
        tier=tier,
        required=draw(st.integers(0, 3)),
        distinct_teams=draw(st.integers(1, 2)),
        survive_non_intent_push=draw(st.booleans()),
    )
    labels = draw(st.sampled_from([(), ("eucora:emergency",)]))
    return reviews, policy, labels


def outcome_of(reviews: list[Review], policy: ApprovalPolicy, labels: tuple[str, ...]) -> tuple:
    decision = decide_approvals(
        PullRequestFacts(
            author="alice", head_sha=HEAD, labels=labels, content_hash="content-at-head"
        ),
        reviews,
        [cm(), cm(author="erin", committer="erin")],
        TEAMS,
        policy,
    )
    return (
        decision.outcome,
        decision.missing,
        decision.missing_teams,
        tuple(sorted(v.reviewer for v in decision.counted)),
        tuple(sorted(v.reviewer for v in decision.blocking)),
    )


@settings(max_examples=300, deadline=None)
@given(histories(), st.integers(0, 40), st.sampled_from([HEAD, OLD]))
def test_adding_a_non_member_approval_never_changes_the_outcome(
    history: tuple[list[Review], ApprovalPolicy, tuple[str, ...]], at: int, on: str
) -> None:
    reviews, policy, labels = history
    outsider = rv(1000, "outsider", on=on, at=at)
    assert (
        outcome_of([*reviews, outsider], policy, labels)[:3]
        == outcome_of(reviews, policy, labels)[:3]
    )


@settings(max_examples=300, deadline=None)
@given(histories())
def test_only_each_reviewers_latest_review_matters(
    history: tuple[list[Review], ApprovalPolicy, tuple[str, ...]],
) -> None:
    """Keeping only each reviewer's latest state-setting review gives the same decision."""
    reviews, policy, labels = history
    latest: dict[str, Review] = {}
    for review in sorted(reviews, key=lambda r: (r.submitted_at, r.id)):
        if review.state is not COM:
            latest[review.reviewer] = review
    assert outcome_of(list(latest.values()), policy, labels) == outcome_of(reviews, policy, labels)


@settings(max_examples=200, deadline=None)
@given(histories())
def test_every_refused_review_has_exactly_one_reason(
    history: tuple[list[Review], ApprovalPolicy, tuple[str, ...]],
) -> None:
    reviews, policy, labels = history
    decision = decide_approvals(
        PullRequestFacts(author="alice", head_sha=HEAD, labels=labels),
        reviews,
        [cm()],
        TEAMS,
        policy,
    )
    assert len(decision.counted) + len(decision.refused) == len(reviews)
    assert all(v.reason is not None for v in decision.refused)
    assert all(v.state is A for v in decision.counted)
    assert len({v.reviewer.casefold() for v in decision.counted}) == len(decision.counted)


ROUTED = (
    Requirement(route="emea", teams=("contoso/cab-emea",), required=1, matched=("x",), files=1),
    Requirement(route="other", teams=("contoso/other",), required=1, matched=("y",), files=1),
)


@settings(max_examples=300, deadline=None)
@given(histories(), st.integers(0, 2))
def test_routes_only_add_requirements(
    history: tuple[list[Review], ApprovalPolicy, tuple[str, ...]], routes: int
) -> None:
    """A routed decision is approved only when the same decision without routes is; the tier's
    missing count and missing teams do not change; no approval that counted stops counting."""
    reviews, policy, labels = history
    routed = replace(policy, requirements=ROUTED[:routes])
    plain = outcome_of(reviews, policy, labels)
    with_routes = outcome_of(reviews, routed, labels)
    if with_routes[0] is Outcome.APPROVED:
        assert plain[0] is Outcome.APPROVED
    assert with_routes[1:3] == plain[1:3]  # the tier's missing count and missing teams
    assert set(plain[3]) <= set(with_routes[3])  # routes never refuse an approval that counted
