"""The pure parts of Action mode: event payloads, capped annotations and the outputs file format."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from bot.core.action import (
    ActionApprovals,
    ActionEvent,
    ApprovalsState,
    EventError,
    approvals_annotation,
    approvals_block,
    approvals_lines,
    capped_annotations,
    check_outputs,
    evidence_file_name,
    format_outputs,
    parse_event,
    step_verdict,
)
from bot.core.approval_routing import Requirement
from bot.core.approvals import (
    Commit,
    Person,
    PullRequestFacts,
    Review,
    ReviewState,
    Team,
    approval_policy,
    decide_approvals,
)
from tests.support import webhooks
from tests.support.actions_runner import parse_output_file
from tests.support.packs import make_pack, passing_pack

BASE, HEAD = "a" * 40, "b" * 40

SECRET = "webhook-secret-unused-here"  # noqa: S105 - signs the test payloads only


def _finding(severity: str, n: int) -> dict[str, object]:
    return {
        "path": f"intents/app-{n}.yaml",
        "line": n + 1,
        "column": 1,
        "code": f"code.{severity}",
        "severity": severity,
        "message": f"{severity} number {n}",
        "jsonPath": "$",
    }


def test_a_real_pull_request_opened_payload() -> None:
    payload = webhooks.build(
        "pull_request",
        "opened",
        secret=SECRET,
        repository="contoso/intents",
        number=7,
        base_sha=BASE,
        head_sha=HEAD,
        labels=["eucora:emergency", "documentation"],
        author="dave",
    ).payload
    event = parse_event("pull_request", payload)
    assert event == ActionEvent(
        name="pull_request",
        repository="contoso/intents",
        base_sha=BASE,
        head_sha=HEAD,
        number=7,
        labels=("documentation", "eucora:emergency"),
        from_fork=event.from_fork,
        author="dave",
    )


def test_a_pull_request_from_a_fork_is_recognised() -> None:
    def fork(payload: dict) -> None:
        payload["pull_request"]["head"]["repo"]["full_name"] = "mallory/intents"

    payload = webhooks.build(
        "pull_request", "opened", secret=SECRET, repository="contoso/intents", adjust=fork
    ).payload
    assert parse_event("pull_request", payload).from_fork is True
    payload["pull_request"]["head"]["repo"]["full_name"] = "contoso/intents"
    assert parse_event("pull_request", payload).from_fork is False
    payload["pull_request"]["head"]["repo"] = None  # a deleted fork
    assert parse_event("pull_request", payload).from_fork is True


def test_a_real_merge_group_payload() -> None:
    payload = webhooks.build(
        "merge_group",
        "checks_requested",
        secret=SECRET,
        repository="contoso/intents",
        base_sha=BASE,
        head_sha=HEAD,
    ).payload
    event = parse_event("merge_group", payload)
    assert (event.base_sha, event.head_sha, event.number, event.labels) == (BASE, HEAD, None, ())
    assert event.repository == "contoso/intents"


@pytest.mark.parametrize(
    ("name", "payload", "message"),
    [
        ("push", {}, "not 'push'"),
        ("", {}, "not 'no event'"),
        ("pull_request", [], "not a JSON object"),
        (
            "pull_request",
            {"repository": {"full_name": "a/b"}},
            "the pull_request.number field is missing",
        ),
        (
            "pull_request",
            {
                "repository": {"full_name": "a/b"},
                "pull_request": {"number": 1, "base": {"sha": "main"}, "head": {"sha": HEAD}},
            },
            "pull_request.base.sha in the event payload is not a commit SHA: 'main'",
        ),
        (
            "pull_request",
            {"repository": {"full_name": "a/b"}, "pull_request": {"number": True}},
            "pull_request.number is not a pull request number",
        ),
        ("merge_group", {"repository": {"full_name": ""}}, "repository.full_name"),
        (
            "merge_group",
            {"repository": {"full_name": "a/b"}},
            "the merge_group.base_sha field is missing",
        ),
    ],
)
def test_unusable_events_are_one_line_errors(name: str, payload: object, message: str) -> None:
    with pytest.raises(EventError, match=re.escape(message)) as caught:
        parse_event(name, payload)
    assert "\n" not in str(caught.value)


def _levels(commands: str) -> list[str]:
    return [line.split(" ", 1)[0].split("::")[1] for line in commands.splitlines()]


def test_annotations_are_capped_per_kind_with_a_closing_notice() -> None:
    findings = [_finding("note", n) for n in range(3)]
    findings += [_finding("warning", n) for n in range(12)]
    findings += [_finding("error", n) for n in range(25)]
    commands = capped_annotations(findings)
    levels = _levels(commands)
    assert levels == ["error"] * 10 + ["warning"] * 10 + ["notice"] * 3 + ["notice"]
    assert commands.splitlines()[0].endswith("::error number 0")
    assert "17 more findings not annotated" in commands.splitlines()[-1]


def test_few_annotations_are_all_shown_without_a_notice() -> None:
    findings = [_finding("error", 1), _finding("note", 2)] + [_finding("note", n) for n in range(9)]
    commands = capped_annotations(findings)
    assert _levels(commands) == ["error"] + ["notice"] * 10
    assert "not annotated" not in commands


def test_too_many_notes_leave_room_for_the_closing_notice() -> None:
    commands = capped_annotations([_finding("note", n) for n in range(11)])
    assert _levels(commands) == ["notice"] * 10
    assert "2 more findings not annotated" in commands


def test_annotation_text_cannot_inject_workflow_commands() -> None:
    finding = _finding("error", 1) | {"message": "bad\n::set-output name=decision::pass"}
    commands = capped_annotations([finding])
    assert commands.count("\n") == 1
    assert "%0A::set-output" in commands


def test_outputs_survive_multiline_and_hostile_values() -> None:
    outputs = {
        "decision": "blocked",
        "tricky": "line one\nEOF\nname=value\nx<<EOF",
        "empty": "",
    }
    assert parse_output_file(format_outputs(outputs)) == outputs


def test_output_names_are_checked() -> None:
    with pytest.raises(ValueError, match="not a step output name"):
        format_outputs({"bad\nname": "x"})


def test_check_outputs_and_file_name() -> None:
    pack = passing_pack(risk=make_pack()["risk"] | {"tier": "high", "score": 30})
    digest = "sha256:" + "c" * 64
    assert check_outputs(pack, digest=digest, evidence_file="/tmp/x.json") == {
        "decision": "pass",
        "risk-tier": "high",
        "risk-score": "30",
        "digest": digest,
        "evidence-file": "/tmp/x.json",
    }
    assert evidence_file_name(digest) == f"eucora-evidence-sha256-{'c' * 64}.json"


def test_a_review_payload_is_checked_as_its_pull_request() -> None:
    payload = webhooks.build(
        "pull_request_review",
        "submitted",
        secret=SECRET,
        repository="contoso/intents",
        number=7,
        base_sha=BASE,
        head_sha=HEAD,
        author="dave",
        sender="carol",
        review_state="approved",
    ).payload
    event = parse_event("pull_request_review", payload)
    assert (event.name, event.number, event.base_sha, event.head_sha) == (
        "pull_request_review",
        7,
        BASE,
        HEAD,
    )
    assert event.author == "dave"  # the pull request's author, not the reviewer


def test_approvals_not_enforced_say_so_and_how_everywhere() -> None:
    approvals = ActionApprovals(
        state=ApprovalsState.NOT_ENFORCED, required=1, tier="medium", cab_teams=("contoso/cab",)
    )
    assert approvals.output == "not-enforced"
    assert not approvals.unmet
    block = approvals_block(approvals)
    assert "### CAB approvals: NOT enforced" in block
    assert "`approvals-token`" in block
    assert "actions/create-github-app-token" in block
    text = "\n".join(approvals_lines(approvals))
    assert "CAB approvals: not enforced by this step (risk tier medium needs 1 CAB approval" in text
    assert "CAB teams: contoso/cab" in text
    annotation = approvals_annotation(approvals)
    assert annotation.startswith("::warning title=EUCORA CAB approval::CAB approvals are not")
    assert annotation.count("\n") == 1
    # a tier that needs none: said in the summary, no warning
    none_needed = ActionApprovals(state=ApprovalsState.NOT_ENFORCED, required=0, tier="low")
    assert approvals_annotation(none_needed) == ""
    assert "risk tier low needs no CAB approval" in approvals_block(none_needed)


# --- the step's verdict: the first line says what the step decided --------------------------------

T0 = datetime(2027, 2, 17, 9, 0, tzinfo=UTC)
MAC = Requirement(
    route="macos",
    teams=("contoso/mac-cab",),
    required=1,
    matched=("intents/macos/zoom.yaml: platform macos",),
    files=1,
)
PASSING = passing_pack()


def _decided(reviews: list[Review], *, tier: str, required: int, requirements=()):
    policy = approval_policy(
        {"cab": {"teams": ["contoso/cab"]}}, tier=tier, required=required, requirements=requirements
    )
    teams = {
        "contoso/cab": Team(members=frozenset({"carol"})),
        "contoso/mac-cab": Team(members=frozenset({"mia"})),
    }
    author = Commit(sha="c" * 40, author=Person(login="dave"), committer=Person(login="dave"))
    pr = PullRequestFacts(author="dave", head_sha=HEAD)
    decision = decide_approvals(pr, reviews, [author], teams, policy)
    return ActionApprovals(
        state=ApprovalsState.DECIDED,
        required=required,
        tier=tier,
        cab_teams=policy.cab_teams,
        decision=decision,
        policy=policy,
    )


def _review(review_id: int, who: str, state: ReviewState = ReviewState.APPROVED) -> Review:
    return Review(id=review_id, reviewer=who, state=state, commit_id=HEAD, submitted_at=T0)


def test_the_verdict_of_decided_approvals() -> None:
    waiting = _decided([_review(1, "carol")], tier="medium", required=1, requirements=(MAC,))
    assert step_verdict(PASSING, waiting) == (
        "BLOCKED — waiting for CAB approval: 0 of 1 from contoso/mac-cab (route macos)"
    )
    both = _decided([], tier="high", required=2, requirements=(MAC,))
    assert step_verdict(PASSING, both) == (
        "BLOCKED — waiting for CAB approval: 0 of 2 from contoso/cab;"
        " 0 of 1 from contoso/mac-cab (route macos)"
    )
    approved = _decided(
        [_review(1, "carol"), _review(2, "mia")], tier="medium", required=1, requirements=(MAC,)
    )
    assert step_verdict(PASSING, approved) == (
        "PASS — approved by carol (contoso/cab), mia (contoso/mac-cab)"
    )
    objected = _decided(
        [_review(1, "carol", ReviewState.CHANGES_REQUESTED)], tier="medium", required=1
    )
    assert step_verdict(PASSING, objected) == "BLOCKED — changes requested by CAB member(s) carol"
    none = _decided([], tier="low", required=0)
    assert step_verdict(PASSING, none) == "PASS — no CAB approval needed (risk tier low)"
    # a change the policy blocks keeps the check's own BLOCKED line
    assert (
        step_verdict(make_pack(decision={"conclusion": "blocked", "reasons": ["r"]}), waiting)
        is None
    )


def test_the_verdict_without_a_decision_never_says_a_plain_pass() -> None:
    policy = approval_policy(
        {"cab": {"teams": ["contoso/cab"]}}, tier="low", required=0, requirements=(MAC,)
    )
    routed = ActionApprovals(
        state=ApprovalsState.NOT_ENFORCED, required=0, tier="low", policy=policy
    )
    assert step_verdict(PASSING, routed) == (
        "PASS (policy) — CAB approvals not enforced: risk tier low needs no CAB approval, and"
        " route macos 1 approval from contoso/mac-cab; no approvals-token given"
    )
    # a low tier that a route still needs approving: warned, as a tier needing approvals is
    assert approvals_annotation(routed).startswith("::warning title=EUCORA CAB approval::")
    assert "route macos 1 approval from contoso/mac-cab" in approvals_annotation(routed)
    block = approvals_block(routed)
    assert "route macos: 1 approval from contoso/mac-cab; matched intents/macos/zoom.yaml" in block
    assert "separation of duties: only the reviewer" in block
    failed = ActionApprovals(
        state=ApprovalsState.ERROR, required=1, tier="medium", why="GitHub failed: 502"
    )
    assert step_verdict(PASSING, failed) == (
        "ERROR — the policy passes; CAB approvals could not be decided: GitHub failed: 502"
    )
    group = ActionApprovals(
        state=ApprovalsState.NOT_DECIDED, required=1, tier="medium", why="a merge group"
    )
    assert step_verdict(PASSING, group) == (
        "PASS (policy) — CAB approvals not decided here: a merge group"
    )
