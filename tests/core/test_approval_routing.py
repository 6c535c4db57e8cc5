"""Approvals routed by what changes: which routes a change matches, and the decision they make.

The repository of these tests needs the mac CAB for macOS intents and security's CAB for a
change that reaches the broad ring, on top of the tier's count from ``contoso/cab``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.core.approval_routing import (
    ChangedIntent,
    Requirement,
    glob_regex,
    requirements_of,
    route_approvals,
    routing_configured,
    steering_teams,
)
from bot.core.approvals import (
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
    pack_approval_policy,
)
from bot.core.semantics import check_config_routes
from tests.support.packs import make_pack

HEAD = "h" * 40
T0 = datetime(2027, 2, 17, 9, 0, tzinfo=UTC)
CONFIG = {
    "cab": {
        "teams": ["contoso/cab"],
        "routes": [
            {
                "name": "macos",
                "description": "macOS changes need the mac CAB",
                "when": {"platforms": ["macos"]},
                "teams": ["contoso/mac-cab"],
            },
            {
                "name": "broad-ring",
                "when": {"rings": ["broad"]},
                "teams": ["contoso/security-cab"],
                "approvals": 2,
            },
            {"name": "policies", "when": {"paths": ["policies/**"]}, "teams": ["contoso/cab"]},
        ],
    }
}
TEAMS = {
    "contoso/cab": Team(members=frozenset({"carol", "dave"})),
    "contoso/mac-cab": Team(members=frozenset({"mia", "dave"})),
    "contoso/mac-cab-night": Team(members=frozenset({"nate"}), parent="contoso/mac-cab"),
    "contoso/security-cab": Team(members=frozenset({"sam", "sara", "sue"})),
}
MAC_PILOT = ChangedIntent(
    path="intents/mac/slack.yaml", planes=("jamf",), platforms=("macos",), rings=("pilot",)
)
WIN_BROAD = ChangedIntent(
    path="intents/win/chrome.yaml",
    planes=("intune",),
    platforms=("windows",),
    rings=("pilot", "broad"),
)
WIN_PILOT = ChangedIntent(
    path="intents/win/7zip.yaml", planes=("intune",), platforms=("windows",), rings=("pilot",)
)


def rv(id: int, who: str, state: ReviewState = ReviewState.APPROVED) -> Review:  # noqa: A002
    return Review(
        id=id, reviewer=who, state=state, commit_id=HEAD, submitted_at=T0 + timedelta(minutes=id)
    )


AUTHORED_BY_ALICE = (
    Commit(
        sha="c" * 40,
        author=Person(login="alice", email="alice@contoso.com"),
        committer=Person(login="alice", email="alice@contoso.com"),
    ),
)


def decide(
    intents: list[ChangedIntent],
    reviews: list[Review],
    *,
    required: int = 1,
    commits: tuple[Commit, ...] = AUTHORED_BY_ALICE,
    other_files: tuple[str, ...] = (),
):  # type: ignore[no-untyped-def]
    requirements = route_approvals(CONFIG, intents, other_files)
    policy = approval_policy(CONFIG, tier="medium", required=required, requirements=requirements)
    return decide_approvals(
        PullRequestFacts(author="alice", head_sha=HEAD), reviews, commits, TEAMS, policy
    )


# --- which routes match -----------------------------------------------------------------------


def test_a_macos_intent_needs_the_mac_cab_and_says_why() -> None:
    (req,) = route_approvals(CONFIG, [MAC_PILOT, WIN_PILOT])
    assert req == Requirement(
        route="macos",
        teams=("contoso/mac-cab",),
        required=1,
        matched=("intents/mac/slack.yaml: platform macos",),
        files=1,
        description="macOS changes need the mac CAB",
    )


def test_a_change_reaching_the_broad_ring_needs_two_from_security() -> None:
    (req,) = route_approvals(CONFIG, [WIN_BROAD])
    assert (req.route, req.teams, req.required) == ("broad-ring", ("contoso/security-cab",), 2)
    assert req.matched == ("intents/win/chrome.yaml: ring broad",)


def test_each_route_matches_independently_in_the_order_written() -> None:
    found = route_approvals(CONFIG, [WIN_BROAD, MAC_PILOT], ["policies/extra.yaml", "README.md"])
    assert [r.route for r in found] == ["macos", "broad-ring", "policies"]
    assert found[2].matched == ("policies/extra.yaml: path policies/extra.yaml",)


def test_every_key_of_when_must_match_for_one_intent() -> None:
    config = {
        "cab": {
            "teams": ["contoso/cab"],
            "routes": [
                {
                    "name": "jamf-broad",
                    "when": {"planes": ["jamf"], "rings": ["broad"]},
                    "teams": ["contoso/mac-cab"],
                }
            ],
        }
    }
    # jamf on one intent and broad on another is not a jamf change reaching broad
    assert route_approvals(config, [MAC_PILOT, WIN_BROAD]) == ()
    jamf_broad = ChangedIntent(path="intents/mac/a.yaml", planes=("jamf",), rings=("broad",))
    (req,) = route_approvals(config, [jamf_broad])
    assert req.matched == ("intents/mac/a.yaml: plane jamf, ring broad",)


def test_an_intent_moved_off_macos_still_needs_the_mac_cab() -> None:
    base = {"plane": "jamf", "platform": "macos", "rings": [{"name": "pilot"}]}
    head = {"plane": "intune", "platform": "windows", "rings": [{"name": "pilot"}]}
    moved = ChangedIntent.of("intents/x.yaml", documents=[base, head])
    assert moved.platforms == ("macos", "windows")
    assert [r.route for r in route_approvals(CONFIG, [moved])] == ["macos"]


def test_a_deleted_broad_ring_is_still_reaching_broad() -> None:
    base = {"platform": "windows", "rings": [{"name": "pilot"}, {"name": "broad"}]}
    deleted = ChangedIntent.of("intents/x.yaml", documents=[base])
    assert [r.route for r in route_approvals(CONFIG, [deleted])] == ["broad-ring"]


def test_a_route_naming_more_than_paths_never_matches_a_file_that_is_not_an_intent() -> None:
    config = {
        "cab": {
            "teams": ["contoso/cab"],
            "routes": [
                {
                    "name": "mac-policies",
                    "when": {"paths": ["**"], "platforms": ["macos"]},
                    "teams": ["contoso/mac-cab"],
                }
            ],
        }
    }
    assert route_approvals(config, [], ["policies/a.yaml"]) == ()


@pytest.mark.parametrize(
    ("pattern", "path", "hit"),
    [
        ("intents/mac/*.yaml", "intents/mac/slack.yaml", True),
        ("intents/mac/*.yaml", "intents/mac/sub/slack.yaml", False),
        ("intents/**/*.yaml", "intents/slack.yaml", True),
        ("intents/**/*.yaml", "intents/a/b/slack.yaml", True),
        ("intents/**", "intents/a/b", True),
        ("eucora.yaml", "eucora.yaml", True),
        ("eucora.yaml", "eucoraXyaml", False),
        ("intents/?.yaml", "intents/a.yaml", True),
    ],
)
def test_path_globs(pattern: str, path: str, hit: bool) -> None:
    assert bool(glob_regex(pattern).fullmatch(path)) is hit


def test_routing_is_configured_only_by_a_routes_list() -> None:
    assert not routing_configured({"cab": {"teams": ["contoso/cab"]}})
    assert routing_configured({"cab": {"teams": ["contoso/cab"], "routes": []}})


def test_requirements_survive_the_pack_round_trip() -> None:
    found = route_approvals(CONFIG, [MAC_PILOT, WIN_BROAD])
    packed = {"required": 1, "reasons": [], "routes": [r.as_dict() for r in found]}
    assert requirements_of(packed) == found
    assert requirements_of({"required": 1, "reasons": []}) == ()


# --- the decision -----------------------------------------------------------------------------


def test_a_macos_change_waits_for_the_mac_cab_after_the_tier_count_is_met() -> None:
    decision = decide([MAC_PILOT], [rv(1, "carol")])
    assert decision.outcome is Outcome.WAITING
    assert decision.missing == 0
    (mac,) = decision.requirements
    assert (mac.counted, mac.missing, mac.can_approve) == ((), 1, ("dave", "mia", "nate"))
    assert decision.summary() == ("waiting for 1 more approval from contoso/mac-cab (route macos)")


def test_a_mac_cab_member_of_a_child_team_meets_the_route() -> None:
    decision = decide([MAC_PILOT], [rv(1, "carol"), rv(2, "nate")])
    assert decision.outcome is Outcome.APPROVED
    assert decision.requirements[0].counted == ("nate",)
    assert decision.summary() == "approved: 1 CAB approval of 1; routes: macos 1 of 1"


def test_a_route_team_member_does_not_count_toward_the_tier_count() -> None:
    decision = decide([MAC_PILOT], [rv(1, "mia")])
    assert decision.outcome is Outcome.WAITING
    assert decision.missing == 1
    assert decision.requirements[0].met
    assert [v.reviewer for v in decision.tier_counted] == []
    assert decision.counted[0].teams == ("contoso/mac-cab",)


def test_one_approval_by_a_member_of_both_teams_meets_both() -> None:
    decision = decide([MAC_PILOT], [rv(1, "dave")])
    assert decision.outcome is Outcome.APPROVED
    assert decision.counted[0].teams == ("contoso/cab", "contoso/mac-cab")


def test_the_broad_ring_needs_two_distinct_security_approvers() -> None:
    one = decide([WIN_BROAD], [rv(1, "carol"), rv(2, "sam")])
    assert one.outcome is Outcome.WAITING
    assert one.requirements[0].missing == 1
    two = decide([WIN_BROAD], [rv(1, "carol"), rv(2, "sam"), rv(3, "sara")])
    assert two.outcome is Outcome.APPROVED
    assert two.requirements[0].counted == ("sam", "sara")


def test_separation_of_duties_holds_for_routed_teams() -> None:
    mia_committed = (
        Commit(
            sha="c" * 40,
            author=Person(login="alice", email="alice@contoso.com"),
            committer=Person(login="mia", email="mia@contoso.com"),
        ),
    )
    decision = decide([MAC_PILOT], [rv(1, "carol"), rv(2, "mia")], commits=mia_committed)
    assert decision.outcome is Outcome.WAITING
    refused = {v.reviewer: v.reason for v in decision.refused}
    assert refused == {"mia": Reason.COMMITTER}
    assert decision.requirements[0].can_approve == ("dave", "nate")


def test_a_team_of_a_route_the_change_does_not_match_gives_no_approval() -> None:
    decision = decide([WIN_PILOT], [rv(1, "mia")])
    assert decision.refused[0].reason is Reason.NOT_CAB_MEMBER
    assert decision.requirements == ()


def test_a_routed_team_members_change_request_blocks() -> None:
    decision = decide([MAC_PILOT], [rv(1, "carol"), rv(2, "mia", ReviewState.CHANGES_REQUESTED)])
    assert decision.outcome is Outcome.BLOCKED


def test_a_route_applies_even_when_the_tier_needs_no_approval() -> None:
    assert decide([MAC_PILOT], [], required=0).outcome is Outcome.WAITING
    assert decide([WIN_PILOT], [], required=0).outcome is Outcome.APPROVED


def test_the_decision_explains_each_requirement_in_its_evidence() -> None:
    decision = decide([MAC_PILOT, WIN_BROAD], [rv(1, "dave"), rv(2, "sam")])
    found = decision.as_dict()["requirements"]
    assert found == [
        {
            "route": "macos",
            "teams": ["contoso/mac-cab"],
            "required": 1,
            "matched": ["intents/mac/slack.yaml: platform macos"],
            "files": 1,
            "description": "macOS changes need the mac CAB",
            "counted": ["dave"],
            "missing": 0,
            "canApprove": ["mia", "nate"],
        },
        {
            "route": "broad-ring",
            "teams": ["contoso/security-cab"],
            "required": 2,
            "matched": ["intents/win/chrome.yaml: ring broad"],
            "files": 1,
            "counted": ["sam"],
            "missing": 1,
            "canApprove": ["sara", "sue"],
        },
    ]
    assert decision.requirements[1].line() == (
        "route broad-ring: 1 of 2 approvals from contoso/security-cab (sam); "
        "matched intents/win/chrome.yaml: ring broad"
    )


def test_without_routes_the_decision_has_no_requirements_key() -> None:
    policy = approval_policy({"cab": {"teams": ["contoso/cab"]}}, tier="medium", required=1)
    decision = decide_approvals(
        PullRequestFacts(author="alice", head_sha=HEAD),
        [rv(1, "carol")],
        AUTHORED_BY_ALICE,
        TEAMS,
        policy,
    )
    assert "requirements" not in decision.as_dict()
    assert decision.summary() == "approved: 1 CAB approval of 1"


def test_the_policy_lists_tier_counts_and_separation_of_duties() -> None:
    policy = approval_policy(
        {"cab": {"teams": ["contoso/cab"]}, "risk": {"approvals": {"high": 3}}},
        tier="high",
        required=3,
    )
    assert dict(policy.tier_approvals) == {"low": 0, "medium": 1, "high": 3, "critical": 2}
    rules = policy.separation_of_duties()
    assert "the pull request's author cannot approve it" in rules
    assert any("committers" in r for r in rules)


def test_the_policy_of_a_check_pack_carries_its_routes_and_the_teams_to_read() -> None:
    requirements = route_approvals(CONFIG, [MAC_PILOT, WIN_BROAD])
    pack = make_pack(
        risk=make_pack()["risk"] | {"tier": "high"},
        approvals={"required": 2, "reasons": [], "routes": [r.as_dict() for r in requirements]},
    )
    policy = pack_approval_policy(CONFIG, pack)
    assert (policy.tier, policy.required, policy.requirements) == ("high", 2, requirements)
    assert policy.teams == ("contoso/cab", "contoso/mac-cab", "contoso/security-cab")
    unrouted = make_pack(approvals={"required": 0, "reasons": []})  # as before cab.routes
    older = pack_approval_policy(CONFIG, unrouted)
    assert (older.requirements, older.teams) == ((), ("contoso/cab",))


# --- the config's own checks ------------------------------------------------------------------


def test_duplicate_route_names_and_impossible_routes_are_findings() -> None:
    config = {
        "cab": {
            "teams": ["contoso/cab"],
            "routes": [
                {"name": "mac", "when": {"platforms": ["macos"]}, "teams": ["contoso/a"]},
                {
                    "name": "mac",
                    "when": {"planes": ["jamf"], "platforms": ["windows"]},
                    "teams": ["contoso/b"],
                },
            ],
        }
    }
    found = [(f.pointer, f.code, f.severity.value) for f in check_config_routes(config)]
    assert found == [
        ("/cab/routes/1/name", "config.route-duplicate", "error"),
        ("/cab/routes/1/when", "config.route-never-matches", "warning"),
    ]


def test_steering_teams_are_the_cab_teams_then_those_of_the_routes_that_apply_once_each() -> None:
    config = {
        "cab": {
            "teams": ["acme/cab", "acme/security"],
            "routes": [
                {"name": "macos", "when": {"platforms": ["macos"]}, "teams": ["acme/mac-cab"]},
                {"name": "broad", "when": {"rings": ["broad"]}, "teams": ["acme/security"]},
                {"name": "jamf", "when": {"planes": ["jamf"]}, "teams": ["acme/mac-cab", "x/y"]},
                {"name": "docs", "when": {"paths": ["docs/**"]}, "teams": ["acme/writers"]},
            ],
        }
    }
    mac = ChangedIntent.of(
        "intents/mac/slack.yaml",
        documents=[{"plane": "jamf", "platform": "macos", "rings": [{"name": "broad"}]}],
    )
    windows = ChangedIntent.of(
        "intents/win/7zip.yaml", documents=[{"plane": "sccm", "platform": "windows"}]
    )
    assert steering_teams(config, mac) == ("acme/cab", "acme/security", "acme/mac-cab", "x/y")
    assert steering_teams(config, windows) == ("acme/cab", "acme/security")
    assert steering_teams({"cab": {"teams": ["acme/cab"]}}, mac) == ("acme/cab",)
    assert steering_teams({}, mac) == ()
