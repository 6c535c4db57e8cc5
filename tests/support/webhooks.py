"""Webhook deliveries for tests: GitHub's own examples, adjusted per test, schema-checked, signed.

Every body starts from a real example in ``tests/fixtures/github/webhooks/webhook-examples.json``
(extracted by ``scripts/extract_github_fixtures.py``); the test changes only the fields it cares
about, and the result must still validate against GitHub's JSON Schema for that event and action,
so a test can never send GitHub something GitHub would not send.

Three deliveries have no published example; they are derived from a sibling and then validated
like the rest (see :data:`DERIVED`): ``pull_request`` ``edited`` (from ``opened`` with ``changes``),
``pull_request_review`` ``edited`` (from ``submitted`` with ``changes.body``) and
``deployment_protection_rule`` ``requested`` (from ``deployment`` ``created``).

Typical use::

    delivery = webhooks.build(
        "pull_request", "opened", secret=SECRET, repository="acme/intents", number=7,
        head_sha=head, base_sha=base, installation_id=42,
    )
    client.post("/webhook", data=delivery.body, headers=delivery.headers)
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "github" / "webhooks"


class WebhookSchemaError(AssertionError):
    """An adjusted body no longer matches GitHub's schema for its event: the test is wrong."""


@dataclass(frozen=True)
class Delivery:
    """A signed delivery, ready to POST: raw body bytes and GitHub's headers."""

    event: str
    action: str | None
    payload: dict[str, Any]
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def delivery_id(self) -> str:
        return self.headers["X-GitHub-Delivery"]


@cache
def _examples() -> list[dict[str, Any]]:
    return json.loads((FIXTURES / "webhook-examples.json").read_text(encoding="utf-8"))


@cache
def _schemas() -> dict[str, Any]:
    return json.loads((FIXTURES / "webhook-schemas.json").read_text(encoding="utf-8"))


def _definition(event: str, action: str | None) -> str:
    return f"{event}$event" if action is None else f"{event}${action}"


@cache
def _validator(event: str, action: str | None) -> jsonschema.Draft7Validator:
    schemas = _schemas()
    name = _definition(event, action)
    if name not in schemas["definitions"]:
        raise KeyError(f"no webhook schema for {name}")
    root = {"$ref": f"#/definitions/{name}", "definitions": schemas["definitions"]}
    return jsonschema.Draft7Validator(
        root, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER
    )


def validate(event: str, action: str | None, payload: Mapping[str, Any]) -> None:
    """Raise :class:`WebhookSchemaError` naming each place ``payload`` breaks GitHub's schema."""
    errors = sorted(_validator(event, action).iter_errors(payload), key=lambda e: list(e.path))
    if errors:
        lines = [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in errors]
        raise WebhookSchemaError(
            f"{_definition(event, action)} does not match GitHub's schema:\n"
            + "\n".join(lines[:20])
        )


_SPACED_TIME = re.compile(r"^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d)$")


def _iso_times(node: Any) -> Any:
    """Rewrite ``2018-04-25 20:42:10`` (in some of GitHub's older examples) as RFC 3339."""
    if isinstance(node, dict):
        return {key: _iso_times(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_iso_times(value) for value in node]
    if isinstance(node, str) and (match := _SPACED_TIME.match(node)):
        return f"{match[1]}T{match[2]}Z"
    return node


def _is_valid(event: str, action: str | None, payload: Mapping[str, Any]) -> bool:
    return next(_validator(event, action).iter_errors(payload), None) is None


@cache
def _first_valid(event: str, action: str | None) -> int:
    """The first published example that matches the (newer) schema as it is, else 0."""
    found = [e for e in _examples() if e["event"] == event and e["action"] == action]
    return next((n for n, e in enumerate(found) if _is_valid(event, action, e["payload"])), 0)


def _published(event: str, action: str | None, index: int | None) -> dict[str, Any] | None:
    found = [e for e in _examples() if e["event"] == event and e["action"] == action]
    if not found:
        return None
    if index is None:
        index = _first_valid(event, action)
    payload = copy.deepcopy(found[index]["payload"])
    if not _is_valid(event, action, payload):
        payload = _iso_times(payload)
    return payload


def _pull_request_edited(index: int | None) -> dict[str, Any]:
    payload = example("pull_request", "opened", index)
    payload["action"] = "edited"
    payload["changes"] = {"title": {"from": payload["pull_request"]["title"] + " (draft title)"}}
    return payload


def _review_edited(index: int | None) -> dict[str, Any]:
    payload = example("pull_request_review", "submitted", index)
    payload["action"] = "edited"
    payload["changes"] = {"body": {"from": "an earlier review body"}}
    return payload


def _protection_rule_requested(index: int | None) -> dict[str, Any]:
    source = example("deployment", "created", index)
    environment = source["deployment"]["environment"]
    return {
        "action": "requested",
        "environment": environment,
        "event": "pull_request",
        "deployment_callback_url": (
            f"{source['repository']['url']}/actions/runs/1/deployment_protection_rule"
        ),
        "deployment": source["deployment"],
        "pull_requests": [],
        "repository": source["repository"],
        "sender": source["sender"],
    }


DERIVED: dict[tuple[str, str | None], Callable[[int | None], dict[str, Any]]] = {
    ("pull_request", "edited"): _pull_request_edited,
    ("pull_request_review", "edited"): _review_edited,
    ("deployment_protection_rule", "requested"): _protection_rule_requested,
}


def example(event: str, action: str | None = None, index: int | None = None) -> dict[str, Any]:
    """A fresh copy of GitHub's example for ``event``/``action`` (or a derived one).

    ``example("pull_request.opened")`` is ``example("pull_request", "opened")``. Some published
    examples predate fields the schema now requires; by default the first one that still
    validates is used (``index`` picks another).
    """
    if action is None and "." in event:
        event, action = event.split(".", 1)
    payload = _published(event, action, index)
    if payload is not None:
        return payload
    derive = DERIVED.get((event, action))
    if derive is None:
        raise KeyError(f"no example for {_definition(event, action)}")
    return derive(index)


def sign(body: bytes, secret: str) -> str:
    """The ``X-Hub-Signature-256`` value GitHub sends for ``body``."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def _set_repository(payload: dict[str, Any], full_name: str) -> None:
    owner, name = full_name.split("/", 1)
    old = payload["repository"]["full_name"]
    old_owner = old.split("/", 1)[0]

    def rewrite(node: Any) -> Any:
        if isinstance(node, dict):
            return {key: rewrite(value) for key, value in node.items()}
        if isinstance(node, list):
            return [rewrite(value) for value in node]
        if isinstance(node, str) and old in node:
            return node.replace(old, full_name)
        return node

    for key in ("repository", "pull_request", "issue", "check_run", "merge_group", "deployment"):
        if key in payload:
            payload[key] = rewrite(payload[key])
    repository = payload["repository"]
    repository["name"] = name
    repository["full_name"] = full_name
    if repository["owner"]["login"] == old_owner:
        repository["owner"]["login"] = owner
    for side in ("head", "base"):
        branch = payload.get("pull_request", {}).get(side)
        if branch and branch.get("repo") and branch["repo"]["full_name"] == full_name:
            branch["repo"]["name"] = name
            branch["repo"]["owner"]["login"] = owner


def _labels(template: Mapping[str, Any] | None, names: Iterable[str]) -> list[dict[str, Any]]:
    base = dict(template or {"color": "ededed", "default": False, "description": None})
    labels = []
    for position, name in enumerate(names):
        label = {**base, "name": name, "id": 9_000_000 + position, "node_id": f"LA_{position}"}
        label["url"] = f"https://api.github.com/labels/{name}"
        labels.append(label)
    return labels


def _adjust_pull_request(pr: dict[str, Any], changes: Mapping[str, Any]) -> None:
    if "number" in changes:
        pr["number"] = changes["number"]
    for side in ("head", "base"):
        if changes.get(f"{side}_sha") is not None:
            pr[side]["sha"] = changes[f"{side}_sha"]
        if changes.get(f"{side}_ref") is not None:
            pr[side]["ref"] = changes[f"{side}_ref"]
            pr[side]["label"] = f"{pr[side]['label'].split(':', 1)[0]}:{changes[f'{side}_ref']}"
    if changes.get("author") is not None:
        pr["user"]["login"] = changes["author"]
    if changes.get("labels") is not None and "labels" in pr:
        template = pr["labels"][0] if pr["labels"] else None
        pr["labels"] = _labels(template, changes["labels"])
    if changes.get("draft") is not None and "draft" in pr:
        pr["draft"] = changes["draft"]


def build(  # noqa: C901, PLR0912, PLR0913, PLR0915 (one knob per field)
    event: str,
    action: str | None = None,
    *,
    secret: str,
    index: int | None = None,
    repository: str | None = None,
    number: int | None = None,
    head_sha: str | None = None,
    base_sha: str | None = None,
    head_ref: str | None = None,
    base_ref: str | None = None,
    labels: Iterable[str] | None = None,
    label: str | None = None,
    author: str | None = None,
    sender: str | None = None,
    draft: bool | None = None,
    merged: bool | None = None,
    comment_body: str | None = None,
    on_pull_request: bool = True,
    review_state: str | None = None,
    installation_id: int | None = None,
    team: str | None = None,
    member: str | None = None,
    changes: Mapping[str, Any] | None = None,
    adjust: Callable[[dict[str, Any]], None] | None = None,
    delivery_id: str | None = None,
) -> Delivery:
    """Build a signed delivery from GitHub's example, with the given fields changed.

    Each argument changes the field of that name wherever the event carries it (the pull
    request, the issue of a comment, a check run's or merge group's SHAs...); ``adjust`` gets
    the payload last for anything else. The result is validated against GitHub's schema.
    """
    payload = example(event, action, index)
    if repository is not None and "repository" in payload:
        _set_repository(payload, repository)
    pr_changes = {
        "number": number,
        "head_sha": head_sha,
        "base_sha": base_sha,
        "head_ref": head_ref,
        "base_ref": base_ref,
        "author": author,
        "labels": None if labels is None else list(labels),
        "draft": draft,
    }
    pr_changes = {key: value for key, value in pr_changes.items() if value is not None}
    if "pull_request" in payload:
        _adjust_pull_request(payload["pull_request"], pr_changes)
        if merged is not None and "merged" in payload["pull_request"]:
            payload["pull_request"]["merged"] = merged
    if number is not None and "number" in payload:
        payload["number"] = number
    if label is not None and "label" in payload:
        payload["label"] = _labels(payload["label"], [label])[0]
    if "issue" in payload:
        issue = payload["issue"]
        if number is not None:
            issue["number"] = number
        if author is not None:
            issue["user"]["login"] = author
        if on_pull_request and event == "issue_comment":
            api = payload["repository"]["url"]
            html = payload["repository"]["html_url"]
            issue["pull_request"] = {
                "url": f"{api}/pulls/{issue['number']}",
                "html_url": f"{html}/pull/{issue['number']}",
                "diff_url": f"{html}/pull/{issue['number']}.diff",
                "patch_url": f"{html}/pull/{issue['number']}.patch",
                "merged_at": None,
            }
    if "comment" in payload:
        if comment_body is not None:
            payload["comment"]["body"] = comment_body
        if sender is not None:
            payload["comment"]["user"]["login"] = sender
    if "review" in payload:
        if review_state is not None:
            payload["review"]["state"] = review_state
        if head_sha is not None:
            payload["review"]["commit_id"] = head_sha
        if sender is not None:
            payload["review"]["user"]["login"] = sender
    for key in ("check_run", "merge_group"):
        if key in payload:
            _adjust_suite(payload[key], head_sha=head_sha, base_sha=base_sha, number=number)
    if "deployment" in payload and head_sha is not None:
        payload["deployment"]["sha"] = head_sha
    if team is not None and "team" in payload:
        payload["team"]["slug"] = team
        payload["team"]["name"] = team
    if member is not None and "member" in payload:
        payload["member"]["login"] = member
    if sender is not None:
        payload["sender"]["login"] = sender
    if installation_id is not None:
        if event == "installation":
            payload["installation"]["id"] = installation_id
        else:
            payload["installation"] = {"id": installation_id, "node_id": f"MDIz{installation_id}"}
    if changes is not None:
        payload["changes"] = dict(changes)
    if adjust is not None:
        adjust(payload)
    validate(event, action, payload)
    return _sign_delivery(event, action, payload, secret, delivery_id)


def _adjust_suite(
    node: dict[str, Any], *, head_sha: str | None, base_sha: str | None, number: int | None
) -> None:
    """Change a check run's or a merge group's SHAs and the PR number it points at."""
    if head_sha is not None:
        node["head_sha"] = head_sha
        if "check_suite" in node:
            node["check_suite"]["head_sha"] = head_sha
    if base_sha is not None and "base_sha" in node:
        node["base_sha"] = base_sha
    if number is not None:
        for pr in node.get("pull_requests", []):
            pr["number"] = number
            pr["url"] = pr["url"].rsplit("/", 1)[0] + f"/{number}"


def _sign_delivery(
    event: str, action: str | None, payload: dict[str, Any], secret: str, delivery_id: str | None
) -> Delivery:
    body = json.dumps(payload, separators=(",", ":")).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "GitHub-Hookshot/eucora-tests",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery_id or str(uuid.uuid4()),
        "X-GitHub-Hook-ID": "123456",
        "X-Hub-Signature-256": sign(body, secret),
    }
    installation = payload.get("installation")
    if isinstance(installation, dict):
        headers["X-GitHub-Hook-Installation-Target-Type"] = "integration"
        headers["X-GitHub-Hook-Installation-Target-ID"] = str(installation.get("id"))
    return Delivery(event=event, action=action, payload=payload, body=body, headers=headers)


def signed(event: str, payload: Mapping[str, Any], *, secret: str) -> Delivery:
    """Sign an already built payload (validated first) without changing it."""
    action = payload.get("action") if event != "ping" else None
    validate(event, action, payload)
    return _sign_delivery(event, action, dict(payload), secret, None)


def pull_request_event(
    pr: Any,
    action: str,
    *,
    secret: str,
    installation_id: int | None,
    sender: str | None = None,
    **changes: Any,
) -> Delivery:
    """A ``pull_request`` delivery for a pull request of the GitHub double (its SHAs, refs, labels).

    ``pr`` is ``bot.doubles.github.state.StoredPullRequest`` (or anything with its fields).
    """
    fields: dict[str, Any] = {
        "repository": pr.repository,
        "number": pr.number,
        "head_sha": pr.head_sha,
        "base_sha": pr.base_sha,
        "head_ref": pr.head_ref,
        "base_ref": pr.base_ref,
        "labels": list(pr.labels),
        "author": pr.author,
        "draft": pr.draft,
        "installation_id": installation_id,
        "sender": sender or pr.author,
    }
    return build("pull_request", action, secret=secret, **{**fields, **changes})


def review_event(
    pr: Any, review: Any, action: str = "submitted", *, secret: str, installation_id: int | None
) -> Delivery:
    """A ``pull_request_review`` delivery for a review of the GitHub double (its id, commit, time).

    ``review`` is ``bot.doubles.github.state.Review`` (from ``GitHubDouble.add_review``).
    """

    def adjust(payload: dict[str, Any]) -> None:
        payload["review"]["id"] = review.id
        payload["review"]["submitted_at"] = review.submitted_at.isoformat()

    return build(
        "pull_request_review",
        action,
        secret=secret,
        repository=pr.repository,
        number=pr.number,
        head_sha=review.commit_id,
        base_sha=pr.base_sha,
        author=pr.author,
        sender=review.user,
        review_state=review.state.lower(),
        installation_id=installation_id,
        adjust=adjust,
    )


# --- short forms for the intake tests ------------------------------------------------------------

SECRET = "It's a Secret to Everybody"  # noqa: S105 - GitHub's published test vector


def pr_payload(
    action: str = "synchronize", *, repo: str = "acme/intents", pr: int = 7, head: str = "a" * 40
) -> dict[str, Any]:
    """A validated pull_request payload (GitHub's example) for ``repo``#``pr`` at ``head``."""
    return build(
        "pull_request",
        action,
        secret=SECRET,
        repository=repo,
        number=pr,
        head_sha=head,
        installation_id=42,
    ).payload


def comment_payload(
    body: str = "/eucora recheck", *, repo: str = "acme/intents", pr: int = 7
) -> dict[str, Any]:
    """A validated issue_comment.created on pull request ``pr`` (GitHub's example)."""
    return build(
        "issue_comment", "created", secret=SECRET, repository=repo, number=pr, comment_body=body
    ).payload


def encode(payload: Mapping[str, Any]) -> bytes:
    """The compact JSON body GitHub would send."""
    return json.dumps(payload, separators=(",", ":")).encode()


def headers(body: bytes, event: str, delivery: str, *, secret: str = SECRET) -> dict[str, str]:
    """The headers GitHub sends with ``body``."""
    return {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery,
        "X-Hub-Signature-256": sign(body, secret),
        "Content-Type": "application/json",
        "User-Agent": "GitHub-Hookshot/test",
    }
