"""The webhook helper: every delivery the bot handles builds from GitHub's examples and validates."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from tests.support import webhooks

SECRET = "It's a Secret to Everybody"  # noqa: S105 (GitHub's published test vector)
HEAD = "a" * 40
BASE = "b" * 40

HANDLED = [
    ("ping", None),
    *[
        ("pull_request", action)
        for action in (
            "opened",
            "synchronize",
            "reopened",
            "ready_for_review",
            "edited",
            "labeled",
            "unlabeled",
            "closed",
        )
    ],
    ("pull_request_review", "submitted"),
    ("pull_request_review", "edited"),
    ("pull_request_review", "dismissed"),
    ("issue_comment", "created"),
    ("check_run", "rerequested"),
    ("merge_group", "checks_requested"),
    ("membership", "added"),
    ("membership", "removed"),
    ("deployment_protection_rule", "requested"),
    ("installation", "created"),
]


@pytest.mark.parametrize(("event", "action"), HANDLED)
def test_every_handled_delivery_builds_valid_and_signed(event, action):
    delivery = webhooks.build(
        event,
        action,
        secret=SECRET,
        repository="acme/intents",
        number=7,
        head_sha=HEAD,
        base_sha=BASE,
        sender="carol",
        installation_id=None if event == "ping" else 42,  # GitHub's ping carries no installation
    )
    assert json.loads(delivery.body) == delivery.payload
    expected = "sha256=" + hmac.new(SECRET.encode(), delivery.body, hashlib.sha256).hexdigest()
    assert delivery.headers["X-Hub-Signature-256"] == expected
    assert delivery.headers["X-GitHub-Event"] == event
    assert delivery.payload.get("action") == action
    assert delivery.payload["sender"]["login"] == "carol"
    if event not in {"installation", "ping"}:
        assert delivery.payload["installation"]["id"] == 42
    if "repository" in delivery.payload:
        assert delivery.payload["repository"]["full_name"] == "acme/intents"


def test_pull_request_fields_are_adjusted_everywhere():
    delivery = webhooks.build(
        "pull_request",
        "labeled",
        secret=SECRET,
        repository="acme/intents",
        number=12,
        head_sha=HEAD,
        base_sha=BASE,
        head_ref="feature/x",
        base_ref="release",
        labels=["eucora:emergency", "other"],
        label="eucora:emergency",
        author="dave",
    )
    pr = delivery.payload["pull_request"]
    assert delivery.payload["number"] == pr["number"] == 12
    assert (pr["head"]["sha"], pr["base"]["sha"]) == (HEAD, BASE)
    assert (pr["head"]["ref"], pr["base"]["ref"]) == ("feature/x", "release")
    assert [label["name"] for label in pr["labels"]] == ["eucora:emergency", "other"]
    assert delivery.payload["label"]["name"] == "eucora:emergency"
    assert pr["user"]["login"] == "dave"
    assert pr["base"]["repo"]["full_name"] == "acme/intents"
    assert "Codertocat/Hello-World" not in json.dumps(pr["base"])


def test_comment_on_a_pull_request_carries_the_command_and_author():
    delivery = webhooks.build(
        "issue_comment",
        "created",
        secret=SECRET,
        number=3,
        comment_body="/eucora recheck",
        sender="erin",
    )
    payload = delivery.payload
    assert payload["comment"]["body"] == "/eucora recheck"
    assert payload["comment"]["user"]["login"] == "erin"
    assert payload["issue"]["number"] == 3
    assert payload["issue"]["pull_request"]["url"].endswith("/pulls/3")


def test_a_review_points_at_the_head_commit():
    delivery = webhooks.build(
        "pull_request_review",
        "submitted",
        secret=SECRET,
        head_sha=HEAD,
        review_state="approved",
        sender="cab1",
    )
    review = delivery.payload["review"]
    assert (review["commit_id"], review["state"], review["user"]["login"]) == (
        HEAD,
        "approved",
        "cab1",
    )


def test_an_edit_that_breaks_the_schema_is_refused_with_the_place():
    with pytest.raises(webhooks.WebhookSchemaError, match="pull_request/number"):
        webhooks.build(
            "pull_request",
            "opened",
            secret=SECRET,
            adjust=lambda p: p["pull_request"].update(number="7"),
        )


def test_unknown_event_or_action_is_refused():
    with pytest.raises(KeyError, match="no example"):
        webhooks.example("pull_request", "teleported")


def test_github_published_signature_vector():
    # https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries#testing-the-webhook-payload-validation
    assert webhooks.sign(b"Hello, World!", SECRET) == (
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    )


def test_signed_keeps_a_payload_as_given():
    payload = webhooks.example("ping")
    delivery = webhooks.signed("ping", payload, secret="s")  # noqa: S106
    assert delivery.payload == payload
    assert delivery.delivery_id
