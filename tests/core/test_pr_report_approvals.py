"""The CAB approval run and the comment's approvals block, rendered from approval decisions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.core.approval_routing import ChangedIntent, route_approvals
from bot.core.approvals import (
    ApprovalPolicy,
    Commit,
    Person,
    PullRequestFacts,
    Review,
    ReviewState,
    Team,
    approval_policy,
    decide_approvals,
)
from bot.core.github_model import APPROVAL_CHECK, EVIDENCE_MARKER, CheckConclusion, CheckStatus
from bot.core.pr_report import (
    MAX_REVIEW_ROWS,
    approvals_markdown,
    comment_body,
    decided_approval_run,
    report_for,
)
from tests.support.packs import DIGEST, SHA_HEAD, make_pack, passing_pack

T0 = datetime(2027, 2, 17, 9, 0, tzinfo=UTC)
TEAMS = ("acme/cab",)
AUTHOR = Commit(sha="c" * 40, author=Person(login="dave"), committer=Person(login="dave"))


def decide(reviews: list[Review], *, tier: str = "medium", required: int = 1, labels=()):
    pr = PullRequestFacts(author="dave", head_sha=SHA_HEAD, labels=tuple(labels))
    policy = ApprovalPolicy(cab_teams=TEAMS, tier=tier, required=required)
    teams = {"acme/cab": Team(members=frozenset({"carol", "sam"}))}
    return decide_approvals(pr, reviews, [AUTHOR], teams, policy)


def approval(review_id: int, who: str, state: ReviewState = ReviewState.APPROVED) -> Review:
    return Review(
        id=review_id,
        reviewer=who,
        state=state,
        commit_id=SHA_HEAD,
        submitted_at=T0 + timedelta(minutes=review_id),
    )


def test_approved_completes_success_and_lists_the_counted_review() -> None:
    decision = decide([approval(1, "carol")])
    run = decided_approval_run(passing_pack(), decision, digest=DIGEST, cab_teams=TEAMS)
    assert (run.name, run.status, run.conclusion) == (
        APPROVAL_CHECK,
        CheckStatus.COMPLETED,
        CheckConclusion.SUCCESS,
    )
    assert run.output is not None
    assert run.output.title == "Approved by the CAB"
    assert "| 1 | carol | approved |" in run.output.summary
    assert "counted for acme/cab" in run.output.summary
    assert run.external_id == DIGEST


def test_waiting_stays_in_progress_and_names_who_can_approve_and_why_others_did_not_count() -> None:
    decision = decide([approval(1, "dave"), approval(2, "mallory")])
    run = decided_approval_run(
        passing_pack(), decision, digest=DIGEST, cab_teams=TEAMS, notes=["team x unreadable"]
    )
    assert (run.status, run.conclusion) == (CheckStatus.IN_PROGRESS, None)
    assert run.output is not None
    assert run.output.title == "Waiting for 1 more CAB approval"
    summary = run.output.summary
    assert "who can approve: members of acme/cab (carol, sam)" in summary
    assert "the pull request's author cannot approve it" in summary
    assert "not an active member of a CAB team" in summary
    assert "⚠️ team x unreadable" in summary


@pytest.mark.parametrize(
    ("reviews", "tier", "labels", "title"),
    [
        (
            [approval(1, "carol"), approval(2, "sam", ReviewState.CHANGES_REQUESTED)],
            "medium",
            (),
            "Blocked: changes requested by CAB member(s) sam",
        ),
        (
            [approval(1, "carol")],
            "critical",
            (),
            "Blocked: critical risk needs the emergency label",
        ),
    ],
)
def test_blocked_and_critical_without_the_label_complete_as_failure(
    reviews: list[Review], tier: str, labels: tuple[str, ...], title: str
) -> None:
    run = decided_approval_run(
        passing_pack(), decide(reviews, tier=tier, labels=labels), digest=DIGEST, cab_teams=TEAMS
    )
    assert (run.status, run.conclusion) == (CheckStatus.COMPLETED, CheckConclusion.FAILURE)
    assert run.output is not None
    assert run.output.title == title


def test_an_emergency_says_a_post_implementation_review_is_owed() -> None:
    decision = decide(
        [approval(1, "carol"), approval(2, "sam")],
        tier="critical",
        required=2,
        labels=("eucora:emergency",),
    )
    run = decided_approval_run(passing_pack(), decision, digest=DIGEST, cab_teams=TEAMS)
    assert run.conclusion is CheckConclusion.SUCCESS
    assert run.output is not None
    assert "post-implementation review is owed" in run.output.summary


def test_no_approval_needed_and_a_policy_block_keep_their_own_runs() -> None:
    none_needed = decided_approval_run(
        passing_pack(), decide([], required=0), digest=DIGEST, cab_teams=TEAMS
    )
    assert none_needed.conclusion is CheckConclusion.SUCCESS
    assert none_needed.output is not None
    assert none_needed.output.title == "No CAB approval needed"
    blocked = make_pack(decision={"conclusion": "blocked", "reasons": ["schema error"]})
    run = decided_approval_run(
        blocked, decide([approval(1, "carol")]), digest=DIGEST, cab_teams=TEAMS
    )
    assert run.conclusion is CheckConclusion.ACTION_REQUIRED
    assert run.output is not None
    assert run.output.title == "Blocked by policy: fix the findings first"


def test_a_thousand_reviews_are_listed_up_to_the_cap_with_a_note() -> None:
    reviews = [approval(i, f"user{i}") for i in range(1, 1001)]
    run = decided_approval_run(passing_pack(), decide(reviews), digest=DIGEST, cab_teams=TEAMS)
    assert run.output is not None
    assert run.output.summary.count("\n| ") == MAX_REVIEW_ROWS + 1  # and the header
    assert f"{1000 - MAX_REVIEW_ROWS:,} earlier reviews are not listed" in run.output.summary


def test_the_comment_carries_the_approvals_block_before_the_checkpoint() -> None:
    decision = decide([approval(1, "carol")])
    block = approvals_markdown(decision, TEAMS)
    assert block.startswith("\n### CAB approvals\n\n✅ approved: 1 CAB approval of 1")
    assert "<summary>Reviews (1)</summary>" in block
    body = comment_body(passing_pack(), digest=DIGEST, approvals=block)
    assert body.startswith(EVIDENCE_MARKER)
    assert body.endswith(block)
    waiting = approvals_markdown(decide([]), TEAMS)
    assert "⏳ waiting for 1 more CAB approval" in waiting
    assert "No reviews yet." in waiting
    report = report_for(passing_pack(), digest=DIGEST, approvals=block)
    assert block in report.comment


def test_the_run_and_the_comment_say_who_can_approve_what_set_the_count_and_the_rules() -> None:
    config = {"cab": {"teams": list(TEAMS)}, "risk": {"approvals": {"medium": 1, "high": 3}}}
    policy = approval_policy(config, tier="high", required=3)
    pr = PullRequestFacts(author="dave", head_sha=SHA_HEAD)
    teams = {"acme/cab": Team(members=frozenset({"carol", "sam"}))}
    decision = decide_approvals(pr, [approval(1, "carol")], [AUTHOR], teams, policy)
    run = decided_approval_run(passing_pack(), decision, digest=DIGEST, cab_teams=TEAMS)
    assert run.output is not None
    block = approvals_markdown(decision, TEAMS)
    for text in (run.output.summary, block):
        assert (
            "- Risk tier high: 3 approvals from members of acme/cab (1 counted); approvals per "
            "tier (risk.approvals): low 0, medium 1, high 3, critical 2\n"
        ) in text
        assert "the pull request's author cannot approve it" in text
        assert "committers of its commits cannot approve it" in text
        assert "only approvals on the current head count" in text


def test_a_count_raised_by_a_rule_says_so() -> None:
    policy = approval_policy({"cab": {"teams": list(TEAMS)}}, tier="medium", required=2)
    pr = PullRequestFacts(author="dave", head_sha=SHA_HEAD)
    decision = decide_approvals(pr, [], [AUTHOR], {}, policy)
    assert "2 approvals (raised from the tier's 1 by a policy rule or edit)" in approvals_markdown(
        decision, TEAMS
    )


def test_a_routed_decision_names_each_routes_teams_and_who_can_still_approve() -> None:
    routes = {
        "cab": {
            "teams": list(TEAMS),
            "routes": [{"name": "macos", "when": {"platforms": ["macos"]}, "teams": ["acme/mac"]}],
        }
    }
    mac = ChangedIntent(path="intents/mac/slack.yaml", platforms=("macos",))
    policy = approval_policy(
        routes, tier="medium", required=1, requirements=route_approvals(routes, [mac])
    )
    teams = {
        "acme/cab": Team(members=frozenset({"carol", "sam"})),
        "acme/mac": Team(members=frozenset({"mia"})),
    }
    pr = PullRequestFacts(author="dave", head_sha=SHA_HEAD)
    decision = decide_approvals(pr, [approval(1, "carol")], [AUTHOR], teams, policy)
    block = approvals_markdown(decision, TEAMS)
    assert (
        "waiting for 1 more approval from acme/mac (route macos) (who can approve: "
        "route macos: members of acme/mac (mia))"
    ) in block
    assert (
        "- route macos: 0 of 1 approval from acme/mac; matched intents/mac/slack.yaml: "
        "platform macos\n"
    ) in block
