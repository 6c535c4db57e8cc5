"""Webhook signatures and routing, on GitHub's published vector and real example payloads."""

from __future__ import annotations

import ast
import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.core import webhooks
from bot.core.webhooks import (
    DEFAULT_REPLAY_WINDOW,
    DeliveryKind,
    EarlierBody,
    WebhookPayloadError,
    body_digest,
    is_replay,
    parse_payload,
    retry_delay_seconds,
    route_delivery,
    sign,
    signature_problem,
)
from tests.support.webhooks import SECRET, comment_payload, example, pr_payload

VECTOR = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"


def test_githubs_published_vector() -> None:
    assert sign(b"Hello, World!", SECRET) == VECTOR
    assert signature_problem(b"Hello, World!", VECTOR, [SECRET]) is None


def test_rotation_accepts_old_and_new_secret() -> None:
    body = b'{"zen": "x"}'
    assert signature_problem(body, sign(body, "old-secret"), ["new-secret", "old-secret"]) is None
    assert signature_problem(body, sign(body, "new-secret"), ["new-secret", "old-secret"]) is None
    assert signature_problem(body, sign(body, "other"), ["new-secret", "old-secret"]) is not None


BODY = b"Hello, World!"
RIGHT_HEX = VECTOR.removeprefix("sha256=")
WRONG_HEX = hmac.new(b"wrong", BODY, hashlib.sha256).hexdigest()
MALFORMED = {
    "missing": (None, "missing X-Hub-Signature-256"),
    "empty": ("", "missing X-Hub-Signature-256"),
    "sha1 only": ("sha1=" + hashlib.sha1(BODY, usedforsecurity=False).hexdigest(), "sha1="),
    "wrong prefix": ("sha512=" + RIGHT_HEX, "must start with sha256="),
    "no prefix": (RIGHT_HEX, "must start with sha256="),
    "prefix upper-case": ("SHA256=" + RIGHT_HEX, "must start with sha256="),
    "prefix only": ("sha256=", "64 hex digits, not 0"),
    "odd length": ("sha256=" + RIGHT_HEX[:-1], "not 63"),
    "too long": ("sha256=" + RIGHT_HEX + "00", "not 66"),
    "truncated": ("sha256=" + RIGHT_HEX[:40], "not 40"),
    "non-hex": ("sha256=" + "z" * 64, "not hexadecimal"),
    "trailing whitespace": ("sha256=" + RIGHT_HEX[:-1] + " ", "not hexadecimal"),
    "leading whitespace": (" sha256=" + RIGHT_HEX, "must start with sha256="),
    "wrong digest": ("sha256=" + WRONG_HEX, "does not match"),
    "upper-case wrong digest": ("sha256=" + WRONG_HEX.upper(), "does not match"),
    "all zeros": ("sha256=" + "0" * 64, "does not match"),
    "digest of another body": ("sha256=" + hashlib.sha256(BODY).hexdigest(), "does not match"),
    "signed with empty key": (sign(BODY, b""), "does not match"),
    "two signatures": ("sha256=" + RIGHT_HEX + ",sha256=" + RIGHT_HEX, "not 136"),
    "unicode digits": ("sha256=" + "\u0660" * 64, "not hexadecimal"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_signatures_are_refused_with_one_line(case: str) -> None:
    header, expected = MALFORMED[case]
    reason = signature_problem(BODY, header, [SECRET])
    assert reason is not None
    assert expected in reason
    assert "\n" not in reason


def test_altered_or_reserialized_body_is_refused() -> None:
    body = b'{"a": 1, "b": 2}'
    header = sign(body, SECRET)
    assert signature_problem(b'{"a":1,"b":2}', header, [SECRET]) is not None
    assert signature_problem(body + b" ", header, [SECRET]) is not None


def test_empty_secret_never_authenticates() -> None:
    assert "no webhook secret" in (signature_problem(BODY, sign(BODY, ""), [""]) or "")
    assert "no webhook secret" in (signature_problem(BODY, VECTOR, []) or "")


def test_upper_case_hex_of_the_right_digest_is_the_same_digest() -> None:
    # The HMAC is the authority; hex case is presentation (GitHub sends lower case).
    assert signature_problem(BODY, "sha256=" + RIGHT_HEX.upper(), [SECRET]) is None


def test_signatures_are_compared_only_in_constant_time() -> None:
    source = Path(webhooks.__file__).read_text()
    tree = ast.parse(source)
    function = next(
        n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "signature_problem"
    )
    secret_values = {"given", "expected", "digest_hex", "header"}
    for node in ast.walk(function):
        if isinstance(node, ast.Compare) and any(
            isinstance(op, (ast.Eq, ast.NotEq)) for op in node.ops
        ):
            operands = [node.left, *node.comparators]
            direct = {o.id for o in operands if isinstance(o, ast.Name)}
            assert not direct & secret_values, ast.unparse(node)
    assert "compare_digest" in ast.unparse(function)


def test_body_digest() -> None:
    assert body_digest(b"") == hashlib.sha256(b"").hexdigest()


T0 = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)
WINDOW = timedelta(minutes=5)


@pytest.mark.parametrize(
    ("event", "seconds", "changed_since", "replay"),
    [
        ("pull_request", 0, False, True),  # a captured body sent again at once
        ("pull_request", 299.999999, False, True),
        ("pull_request", 300, False, False),  # after the window: a new delivery
        ("pull_request", -5, False, True),  # the clock went back: still within
        ("pull_request_review", 10, True, True),  # a body with its own time never repeats
        ("issue_comment", 10, True, True),
        ("membership", 10, False, True),  # nothing changed since: nothing new to tell
        ("membership", 10, True, False),  # removed → added → removed
        ("membership", 300, False, False),
    ],
)
def test_is_replay(event: str, seconds: float, changed_since: bool, replay: bool) -> None:
    earlier = EarlierBody(received_at=T0, changed_since=changed_since)
    at = T0 + timedelta(seconds=seconds)
    assert is_replay(event, earlier, received_at=at, window=WINDOW) is replay


def test_a_body_never_stored_and_a_zero_window_are_never_replays() -> None:
    assert not is_replay("pull_request", None, received_at=T0, window=WINDOW)
    earlier = EarlierBody(received_at=T0, changed_since=False)
    assert not is_replay("pull_request", earlier, received_at=T0, window=timedelta(0))
    assert DEFAULT_REPLAY_WINDOW == WINDOW


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{", "not JSON"),
        (b"", "not JSON"),
        (b"[1, 2]", r"not an object \(list\)"),
        (b"\xff\xfe{}", "not UTF-8"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b"payload=%7B%7D", "not JSON"),
        # Issue 14, finding 9: ValueError (int max str digits) escaped as an HTTP 500.
        (b'{"n": ' + b"7" * 5000 + b"}", "an integer of 5,000 digits"),
        (b'{"n": [-' + b"7" * 4301 + b"]}", "an integer of 4,301 digits"),
    ],
)
def test_malformed_payloads(body: bytes, reason: str) -> None:
    with pytest.raises(WebhookPayloadError, match=reason) as caught:
        parse_payload(body)
    assert "\n" not in str(caught.value)


def test_pull_request_synchronize_is_an_evaluation() -> None:
    payload = example("pull_request.synchronize")
    routing = route_delivery("pull_request", payload)
    assert routing.kind is DeliveryKind.EVALUATE
    assert routing.repository == "Codertocat/Hello-World"
    assert routing.pr == 2
    assert routing.head_sha == "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
    assert routing.installation_id == 1
    assert routing.serial_key == "Codertocat/Hello-World#2"
    assert routing.coalesce_key == (
        "evaluate:Codertocat/Hello-World#2@ec26c3e57ca3a959ca5aad62de7213c562f8c821"
    )


@pytest.mark.parametrize("action", ["opened", "labeled"])
def test_other_evaluating_pr_actions(action: str) -> None:
    routing = route_delivery("pull_request", example(f"pull_request.{action}"))
    assert routing.kind is DeliveryKind.EVALUATE
    assert routing.pr == 2


def test_edited_counts_only_when_the_base_changed() -> None:
    payload = pr_payload("edited")
    payload["changes"] = {"title": {"from": "old"}}
    assert route_delivery("pull_request", payload).kind is DeliveryKind.IGNORED
    payload["changes"] = {"base": {"ref": {"from": "main"}, "sha": {"from": "b" * 40}}}
    assert route_delivery("pull_request", payload).kind is DeliveryKind.EVALUATE


def test_closed_merged_runs_the_publish_flow_and_closed_unmerged_is_ignored() -> None:
    payload = example("pull_request.closed")
    payload["pull_request"]["merged"] = True
    assert route_delivery("pull_request", payload).kind is DeliveryKind.MERGED
    payload["pull_request"]["merged"] = False
    assert route_delivery("pull_request", payload).kind is DeliveryKind.IGNORED


def test_unhandled_pr_action_is_ignored_with_a_reason() -> None:
    routing = route_delivery("pull_request", example("pull_request.assigned"))
    assert routing.kind is DeliveryKind.IGNORED
    assert routing.reason == "EUCORA does not act on pull_request.assigned"
    assert routing.coalesce_key is None


def test_unhandled_event_is_ignored() -> None:
    routing = route_delivery("push", example("push"))
    assert routing.kind is DeliveryKind.IGNORED
    assert "does not handle push" in routing.reason


def test_review_is_never_coalesced() -> None:
    routing = route_delivery("pull_request_review", example("pull_request_review.submitted"))
    assert routing.kind is DeliveryKind.REVIEW
    assert (routing.pr, routing.serial_key) == (2, "Codertocat/Hello-World#2")
    assert routing.head_sha == "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
    assert routing.coalesce_key is None


def test_comment_command_on_a_pr() -> None:
    routing = route_delivery("issue_comment", comment_payload("Thanks!\n  /eucora explain"))
    assert routing.kind is DeliveryKind.COMMAND
    assert routing.pr == 7
    assert routing.serial_key == "acme/intents#7"
    assert routing.coalesce_key is None


def test_comments_that_are_not_commands_or_not_on_prs_are_ignored() -> None:
    assert route_delivery("issue_comment", comment_payload("LGTM")).kind is DeliveryKind.IGNORED
    issue_comment = example("issue_comment.created")  # GitHub's example is on an issue
    routing = route_delivery("issue_comment", issue_comment)
    assert routing.kind is DeliveryKind.IGNORED
    assert "not a pull request" in routing.reason


def test_check_run_rerequested_and_check_suite() -> None:
    run = example("check_run.rerequested")
    run["check_run"]["pull_requests"] = [
        {"number": 9, "head": {"sha": "c" * 40}},
        {"number": 3, "head": {"sha": "c" * 40}},
    ]
    routing = route_delivery("check_run", run)
    assert (routing.kind, routing.pr, routing.head_sha) == (
        DeliveryKind.EVALUATE,
        3,
        "d6fde92930d4715a2b49857d24b940956b26d2d3",
    )
    assert route_delivery("check_run", example("check_run.created")).kind is DeliveryKind.IGNORED
    suite = route_delivery("check_suite", example("check_suite.rerequested"))
    assert (suite.kind, suite.pr) == (DeliveryKind.EVALUATE, 2)
    # A check suite for a push with no pull request has nothing to evaluate.
    requested = example("check_suite.requested")
    requested["check_suite"]["pull_requests"] = []
    routing = route_delivery("check_suite", requested)
    assert routing.kind is DeliveryKind.IGNORED
    assert "no pull request" in routing.reason


def test_pr_and_suite_for_the_same_head_share_a_coalescing_key() -> None:
    suite = route_delivery("check_suite", example("check_suite.rerequested"))
    pull = route_delivery("pull_request", example("pull_request.synchronize"))
    assert suite.coalesce_key == pull.coalesce_key


def test_merge_group() -> None:
    routing = route_delivery("merge_group", example("merge_group.checks_requested"))
    assert routing.kind is DeliveryKind.MERGE_GROUP
    assert routing.repository == "octo-org/octo-repo"
    assert routing.head_sha == "2ffea6db159f6b6c47a24e778fb9ef40cf6b1c7d"
    assert routing.pr is None
    assert routing.serial_key == "octo-org/octo-repo@2ffea6db159f6b6c47a24e778fb9ef40cf6b1c7d"
    assert routing.coalesce_key is not None
    del_sha = example("merge_group.checks_requested")
    del del_sha["merge_group"]["head_sha"]
    assert route_delivery("merge_group", del_sha).kind is DeliveryKind.IGNORED


def test_membership_installation_ping_and_deployment_rule() -> None:
    membership = route_delivery("membership", example("membership.added"))
    assert (membership.kind, membership.repository, membership.serial_key) == (
        DeliveryKind.MEMBERSHIP,
        None,
        None,
    )
    installation = route_delivery("installation", example("installation.created"))
    assert installation.kind is DeliveryKind.INSTALLATION
    assert route_delivery("ping", example("ping")).kind is DeliveryKind.PING
    rule = {
        "action": "requested",
        "environment": "intune/pilot",
        "event": "deployment",
        "deployment_callback_url": "https://api.github.com/repos/acme/intents/actions/runs/1/deployment_protection_rule",
        "deployment": {"id": 1, "sha": "d" * 40},
        "pull_requests": [{"number": 5, "head": {"sha": "e" * 40}}],
        "repository": {"full_name": "acme/intents"},
        "installation": {"id": 42},
        "sender": {"login": "octocat"},
    }
    routing = route_delivery("deployment_protection_rule", rule)
    assert (routing.kind, routing.pr, routing.head_sha, routing.installation_id) == (
        DeliveryKind.DEPLOYMENT,
        5,
        "d" * 40,
        42,
    )
    assert routing.coalesce_key is None


def test_hostile_shapes_do_not_break_routing() -> None:
    payload = pr_payload()
    payload["pull_request"] = "not an object"
    payload["number"] = True
    routing = route_delivery("pull_request", payload)
    assert routing.kind is DeliveryKind.IGNORED
    assert route_delivery("pull_request", {"action": 5}).kind is DeliveryKind.IGNORED
    run = example("check_run.rerequested")
    run["check_run"]["pull_requests"] = [1, {"number": "2"}, {"number": 4}]
    assert route_delivery("check_run", run).pr == 4


def test_retry_delay_doubles_and_is_capped() -> None:
    assert [retry_delay_seconds(n) for n in (1, 2, 3)] == [2.0, 4.0, 8.0]
    assert retry_delay_seconds(30) == 300.0


def test_the_longest_integer_python_reads_is_still_a_number() -> None:
    assert parse_payload(b'{"n": ' + b"7" * 4300 + b"}") == {"n": int("7" * 4300)}
