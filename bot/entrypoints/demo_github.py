"""``eucora demo``, the GitHub App step: a pull request judged through the webhook, in-process.

Starts the GitHub double on 127.0.0.1 (it checks every call against GitHub's description), puts
the demo's git repository behind it, opens a pull request, and sends the app the signed
``pull_request`` webhook GitHub would send. The app stores the delivery, the worker evaluates
the PR through PyGithub and git, exactly as ``eucora serve`` does, and the demo prints the check
runs and the sticky comment the PR got, then asks ``/eucora explain`` as a reviewer would.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from bot.core.github_model import APPROVAL_CHECK, EVIDENCE_MARKER, POLICY_CHECK
from bot.doubles.github import GitHubDouble
from bot.entrypoints.serve import build_server
from bot.entrypoints.wiring import pull_request_handler_factory
from bot.settings import Settings

Echo = Callable[[str], None]
REPOSITORY = "contoso/intents"
COMMENT_LINES = 14


def _app_key() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


def signed_delivery(
    event: str, payload: dict[str, Any], secret: str
) -> tuple[bytes, dict[str, str]]:
    """The body and headers GitHub would send (a fresh delivery id, the HMAC signature)."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return body, {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-Hub-Signature-256": f"sha256={signature}",
        "Content-Type": "application/json",
    }


def pull_request_payload(pr: Any, installation: int, action: str = "opened") -> dict[str, Any]:
    """The fields of GitHub's ``pull_request`` webhook that EUCORA reads, for a double's PR."""
    owner, name = pr.repository.split("/")
    return {
        "action": action,
        "number": pr.number,
        "pull_request": {
            "number": pr.number,
            "state": "open",
            "user": {"login": pr.author, "type": "User"},
            "head": {"sha": pr.head_sha, "ref": pr.head_ref},
            "base": {"sha": pr.base_sha, "ref": pr.base_ref},
            "labels": [{"name": label} for label in pr.labels],
            "id": pr.id,
        },
        "repository": {"full_name": pr.repository, "name": name, "owner": {"login": owner}},
        "installation": {"id": installation},
        "sender": {"login": pr.author, "type": "User"},
    }


def _comment_payload(pr: Any, installation: int, comment: Any) -> dict[str, Any]:
    payload = pull_request_payload(pr, installation, "created")
    del payload["pull_request"], payload["number"]
    payload["issue"] = {"number": pr.number, "pull_request": {"url": "pr"}}
    user = comment.author
    payload["comment"] = {
        "id": comment.id,
        "body": comment.body,
        "created_at": comment.created_at.isoformat(),
        "user": {"login": user, "type": "User"},
    }
    payload["sender"] = {"login": user, "type": "User"}
    return payload


def run_github_step(settings: Settings, repo: Path, now: datetime, echo: Echo) -> bool:
    """Run the step; True when the PR got its two check runs and one sticky comment."""
    private, public = _app_key()
    with tempfile.TemporaryDirectory(prefix="eucora-github-double-") as scratch:
        double = GitHubDouble(Path(scratch), private_key_pem=private, public_key_pem=public)
        double.start()
        try:
            return _pull_request(settings, repo, now, echo, double)
        finally:
            double.stop()


def _pull_request(
    settings: Settings, repo: Path, now: datetime, echo: Echo, double: GitHubDouble
) -> bool:
    installation = double.add_installation(REPOSITORY.split("/", maxsplit=1)[0]).id
    double.add_repository(REPOSITORY, installation=double.installations[installation], source=repo)
    pr = double.open_pull_request(REPOSITORY, head="change", author="dave")
    double.set_permission(REPOSITORY, "carol", "write")
    app_settings = replace(
        settings,
        github_api_url=double.url,
        github_app_id=str(double.app.id),
        github_private_key=private_key(double),
        github_webhook_secret=double.app.webhook_secret,
        github_write_interval=0,  # the double has no secondary rate limits to respect
    )
    server = build_server(
        app_settings, partial(pull_request_handler_factory, clock=lambda: now), metrics_dir=False
    )
    client = server.app.test_client()
    try:
        echo(f"   GitHub double at {double.url}; pull request #{pr.number} opened by dave")
        body, headers = signed_delivery(
            "pull_request", pull_request_payload(pr, installation), double.app.webhook_secret
        )
        answer = client.post("/webhook", data=body, headers=headers)
        echo(f"   POST /webhook (pull_request opened, signed) -> {answer.status_code}")
        server.intake.processor.drain()
        runs = sorted(double.check_runs(REPOSITORY), key=lambda r: r.id)
        for run in runs:
            state = run.conclusion or run.status
            echo(f"   check run {run.name!r}: {state} — {run.title}")
            if run.annotations:
                echo(f"     {len(run.annotations)} annotations on the intent files")
        comments = double.comments(REPOSITORY, pr.number)
        sticky = [c for c in comments if c.body.startswith(EVIDENCE_MARKER)]
        if sticky:
            echo(f"   sticky comment by {sticky[0].author} (first lines):")
            for line in sticky[0].body.splitlines()[1 : 1 + COMMENT_LINES]:
                echo(f"   | {line}")
        asked = double.add_comment(REPOSITORY, pr.number, "carol", "/eucora explain")
        comments = double.comments(REPOSITORY, pr.number)
        payload = _comment_payload(pr, installation, asked)
        body, headers = signed_delivery("issue_comment", payload, double.app.webhook_secret)
        client.post("/webhook", data=body, headers=headers)
        server.intake.processor.drain()
        replies = [c for c in double.comments(REPOSITORY, pr.number) if c not in comments]
        if replies:
            echo("   carol asks /eucora explain; the bot replies:")
            for line in replies[-1].body.splitlines()[:6]:
                echo(f"   | {line}")
        names = {r.name for r in runs}
        return (
            {POLICY_CHECK, APPROVAL_CHECK} <= names
            and len(sticky) == 1
            and bool(replies)
            and not double.violations
        )
    finally:
        server.intake.services.engine.dispose()


def private_key(double: GitHubDouble) -> str:
    """The App's private key, as GitHub hands it out when the App is created."""
    return double.app.private_key_pem
