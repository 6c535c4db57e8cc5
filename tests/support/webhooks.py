"""Real GitHub webhook payloads (tests/fixtures/webhooks) and signed requests built from them."""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

from bot.core.webhooks import sign

EXAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "webhooks" / "examples.json"
SECRET = "It's a Secret to Everybody"  # noqa: S105 - GitHub's published test vector


@cache
def _examples() -> dict[str, Any]:
    return json.loads(EXAMPLES.read_text())


def example(name: str) -> dict[str, Any]:
    """A fresh copy of the example named ``event.action`` (or ``event``)."""
    return copy.deepcopy(_examples()[name])


def pr_payload(
    action: str = "synchronize", *, repo: str = "acme/intents", pr: int = 7, head: str = "a" * 40
) -> dict[str, Any]:
    """A pull_request payload (GitHub's example) for ``repo``#``pr`` at ``head``."""
    payload = example("pull_request.synchronize")
    payload["action"] = action
    payload["number"] = pr
    payload["pull_request"]["number"] = pr
    payload["pull_request"]["head"]["sha"] = head
    payload["repository"]["full_name"] = repo
    payload["installation"] = {"id": 42, "node_id": "x"}
    return payload


def comment_payload(
    body: str = "/eucora recheck", *, repo: str = "acme/intents", pr: int = 7
) -> dict[str, Any]:
    """An issue_comment.created on a pull request (GitHub's example, linked to a PR)."""
    payload = example("issue_comment.created")
    payload["issue"]["number"] = pr
    payload["issue"]["pull_request"] = {"url": f"https://api.github.com/repos/{repo}/pulls/{pr}"}
    payload["comment"]["body"] = body
    payload["repository"]["full_name"] = repo
    return payload


def encode(payload: dict[str, Any]) -> bytes:
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
