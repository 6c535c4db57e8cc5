"""Webhook deliveries for the double's state, built like its REST answers (GitHub's shapes).

The double sends no webhooks itself (tests and the demo post them to the app); these build the
payload GitHub would send for what the double holds, and sign it as GitHub does.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from bot.core.webhooks import sign
from bot.doubles.github import responses as rs

if TYPE_CHECKING:
    from bot.doubles.github.server import GitHubDouble


def pull_request_event(
    double: GitHubDouble, full_name: str, number: int, action: str, *, sender: str | None
) -> dict[str, Any]:
    """``pull_request.<action>`` for the PR as the double holds it now."""
    with double.lock:
        pr = double.pulls[(full_name, number)]
        repo = double.repositories[full_name]
        repo_body = rs.repository(repo, double.urls, double.clone_url(full_name))
        pull = rs.pull_request(pr, repo_body, double.urls, 0)
        who = sender or pr.merged_by or pr.author
        payload: dict[str, Any] = {
            "action": action,
            "number": pr.number,
            "pull_request": rs.webhook_pull_request(pull, pr, double.urls),
            "repository": rs.webhook_repository(repo_body),
            "sender": rs.simple_user(who, double.urls),
        }
        if repo.installation_id is not None:
            payload["installation"] = {
                "id": repo.installation_id,
                "node_id": f"MDIz{repo.installation_id}",
            }
    return payload


def signed(event: str, payload: Mapping[str, Any], secret: str) -> tuple[bytes, dict[str, str]]:
    """The compact body and GitHub's headers (fresh delivery id, ``X-Hub-Signature-256``)."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "GitHub-Hookshot/eucora-double",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-Hub-Signature-256": sign(body, secret),
    }
    installation = payload.get("installation")
    if isinstance(installation, Mapping):
        headers["X-GitHub-Hook-Installation-Target-Type"] = "integration"
        headers["X-GitHub-Hook-Installation-Target-ID"] = str(installation.get("id"))
    return body, headers
