"""The App manifest asks for exactly the permissions and events EUCORA needs, and its flow's pure parts."""

from __future__ import annotations

import json

import pytest

from bot.core.app_manifest import (
    ManifestError,
    complete_manifest,
    conversion_path,
    done_page,
    parse_conversion,
    registration_url,
    start_page,
)
from bot.flows.github_app import shipped_manifest
from tests.conftest import ROOT

# The allow-list (issue 9). merge_queues: read is added because GitHub delivers merge_group only to
# an App holding it (docs: "To subscribe to this event, a GitHub App must have at least read-level
# access for the Merge queues repository permission"); without it the App cannot check a merge queue.
ALLOWED_PERMISSIONS = {
    "checks": "write",
    "pull_requests": "write",
    "contents": "read",
    "issues": "write",
    "deployments": "write",
    "actions": "read",
    "members": "read",
    "metadata": "read",
    "merge_queues": "read",
}
ALLOWED_EVENTS = {
    "pull_request",
    "pull_request_review",
    "issue_comment",
    "check_run",
    "check_suite",
    "merge_group",
    "membership",
    "deployment_protection_rule",
    "installation",
}
# GitHub sends these to every App and refuses a subscription to them ("You cannot manually
# subscribe to this event"), so the manifest leaves them out.
ALWAYS_DELIVERED = {"installation"}
# The permission each event needs before GitHub will deliver it (GitHub's webhook docs).
EVENT_NEEDS = {
    "pull_request": "pull_requests",
    "pull_request_review": "pull_requests",
    "issue_comment": "issues",
    "check_run": "checks",
    "check_suite": "checks",
    "merge_group": "merge_queues",
    "membership": "members",
    "deployment_protection_rule": "deployments",
}
SECRETS = {"pem": "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----\n"}


def conversion(**changes) -> dict:
    body = {
        "id": 1234,
        "slug": "eucora-contoso",
        "name": "EUCORA Contoso",
        "owner": {"login": "contoso"},
        "html_url": "https://github.com/apps/eucora-contoso",
        "client_id": "Iv1.abc",
        "client_secret": "client-secret-value",
        "webhook_secret": "webhook-secret-value",
        **SECRETS,
    }
    body.update(changes)
    return body


def test_the_manifest_permissions_equal_the_allow_list_exactly() -> None:
    assert shipped_manifest()["default_permissions"] == ALLOWED_PERMISSIONS


def test_the_manifest_events_are_the_allow_list_less_what_github_always_sends() -> None:
    events = shipped_manifest()["default_events"]
    assert len(events) == len(set(events))
    assert set(events) == ALLOWED_EVENTS - ALWAYS_DELIVERED
    for event in events:
        assert EVENT_NEEDS[event] in ALLOWED_PERMISSIONS, event


def test_the_manifest_is_private_with_an_active_webhook_and_no_oauth() -> None:
    manifest = shipped_manifest()
    assert manifest["public"] is False
    assert manifest["request_oauth_on_install"] is False
    assert manifest["hook_attributes"]["active"] is True


def test_the_shipped_file_is_the_one_in_the_repository() -> None:
    text = (ROOT / "github-app" / "manifest.json").read_text(encoding="utf-8")
    assert json.loads(text) == shipped_manifest()


def test_completing_the_manifest() -> None:
    manifest = complete_manifest(
        shipped_manifest(),
        name="EUCORA Contoso",
        public_url="https://eucora.contoso.com/",
        redirect_url="http://127.0.0.1:8123/callback",
    )
    assert manifest["name"] == "EUCORA Contoso"
    assert manifest["hook_attributes"] == {
        "url": "https://eucora.contoso.com/webhook",
        "active": True,
    }
    assert manifest["redirect_url"] == "http://127.0.0.1:8123/callback"
    assert manifest["default_permissions"] == ALLOWED_PERMISSIONS
    assert shipped_manifest()["name"] == "EUCORA"  # the template is not changed


@pytest.mark.parametrize(
    ("name", "url", "message"),
    [
        ("", "https://x.example", "1 to 34 characters"),
        ("x" * 35, "https://x.example", "1 to 34 characters"),
        ("EUCORA", "http://x.example", "must use https"),
        ("EUCORA", "ftp://x.example", r"not an http\(s\) URL"),
        ("EUCORA", "eucora.contoso.com", r"not an http\(s\) URL"),
        ("EUCORA", "https://", r"not an http\(s\) URL"),
        ("EUCORA", "http://localhost.evil.example", "must use https"),
    ],
)
def test_bad_names_and_urls(name: str, url: str, message: str) -> None:
    with pytest.raises(ManifestError, match=message):
        complete_manifest(shipped_manifest(), name=name, public_url=url, redirect_url="x")


def test_registration_urls() -> None:
    state = "AbC_-" * 5
    assert (
        registration_url("https://github.com", state)
        == f"https://github.com/settings/apps/new?state={state}"
    )
    assert (
        registration_url("https://ghes.contoso.com/", state, "contoso-it")
        == f"https://ghes.contoso.com/organizations/contoso-it/settings/apps/new?state={state}"
    )
    with pytest.raises(ManifestError, match="organization name"):
        registration_url("https://github.com", state, "../evil")
    for bad in ("short", "s t" * 10, "x" * 129):
        with pytest.raises(ManifestError, match="URL-safe"):
            registration_url("https://github.com", bad)
    assert registration_url("http://[::1]:8080", state).startswith("http://[::1]:8080/settings")


def test_conversion_codes_are_checked_before_they_reach_a_url() -> None:
    assert conversion_path("a1b2_c3") == "/app-manifests/a1b2_c3/conversions"
    for bad in ("", "../../user", "a/b", "a?b", "x" * 300):
        with pytest.raises(ManifestError, match="not a manifest code"):
            conversion_path(bad)


def test_parsing_github_answer_keeps_secrets_out_of_repr() -> None:
    app = parse_conversion(conversion())
    assert (app.app_id, app.slug, app.owner) == (1234, "eucora-contoso", "contoso")
    assert app.webhook_secret == "webhook-secret-value"  # noqa: S105
    shown = repr(app) + json.dumps(app.public_facts())
    for secret in ("client-secret-value", "webhook-secret-value", "MIIEow"):
        assert secret not in shown
    assert parse_conversion(conversion(webhook_secret=None, owner=None)).webhook_secret is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([], "not a JSON object"),
        (conversion(id="1234"), "no usable 'id'"),
        (conversion(id=True), "no usable 'id'"),
        (conversion(pem="not a key"), "no PEM private key"),
        (conversion(client_secret=""), "no usable 'client_secret'"),
    ],
)
def test_unusable_answers(body: object, message: str) -> None:
    with pytest.raises(ManifestError, match=message):
        parse_conversion(body)


def test_pages_escape_what_they_show() -> None:
    manifest = {"name": 'EUCORA "<b>"', "x": "</script>"}
    page = start_page("https://github.com/settings/apps/new?state=a&b", manifest)
    assert "<b>" not in page
    assert 'action="https://github.com/settings/apps/new?state=a&amp;b"' in page
    assert "&quot;&lt;/script&gt;&quot;" in page
    done = done_page(parse_conversion(conversion(name="<i>x</i>")))
    assert "<i>" not in done
    assert "https://github.com/apps/eucora-contoso/installations/new" in done
