"""GitHub webhooks, sans I/O: the signature check, the routing facts, and the ``Delivery``.

The web entry point calls :func:`signature_problem` on the raw body before anything parses it,
then :func:`route_delivery` to learn what the delivery is about (repository, pull request, head
SHA, installation) and whether EUCORA acts on it. The inbox stores those facts; the worker hands
a :class:`Delivery` to the evaluation handler.

GitHub's rules: https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries
(HMAC-SHA256 over the body only, ``sha256=`` + lower-case hex, compare in constant time) and
https://docs.github.com/en/webhooks/webhook-events-and-payloads (payload shapes).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from bot.core.drift_commands import parse_drift_command
from bot.core.rollout_commands import parse_rollout_command

MAX_BODY_BYTES = 25 * 1024 * 1024
"""GitHub caps payloads at 25 MB (it does not deliver larger events)."""
SIGNATURE_HEADER = "X-Hub-Signature-256"
SIGNATURE_PREFIX = "sha256="
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
_DIGEST_HEX_LENGTH = 64
COMMAND_PREFIX = "/eucora"


class DeliveryKind(StrEnum):
    """What a delivery asks of EUCORA; decides coalescing and whether it is ever dropped."""

    EVALUATE = "evaluate"
    """Re-evaluate the PR at a head SHA: bursts collapse, a newer head supersedes older."""
    REVIEW = "review"
    """A review was submitted, edited or dismissed: never dropped."""
    COMMAND = "command"
    """A ``/eucora`` comment command on a PR (a rollout command on an issue too): never dropped."""
    MERGE_GROUP = "merge_group"
    """A merge queue asks for checks on its group commit: bursts of one group collapse."""
    MERGED = "merged"
    """A PR was merged: the publish flow runs (never dropped)."""
    DEPLOYMENT = "deployment"
    """A deployment protection rule waits for EUCORA's answer: never dropped."""
    MEMBERSHIP = "membership"
    """A team's members changed (CAB approvals may change)."""
    INSTALLATION = "installation"
    """The app was installed, removed, suspended or given new permissions."""
    PING = "ping"
    """GitHub checks the hook: answered at once, never queued."""
    IGNORED = "ignored"
    """Nothing EUCORA acts on: acknowledged and recorded as ignored."""


EVALUATE_PR_ACTIONS = frozenset(
    {"opened", "reopened", "synchronize", "ready_for_review", "edited", "labeled", "unlabeled"}
)
"""``pull_request`` actions that change the verdict (``edited`` only when the base changed)."""
HANDLED_ACTIONS: Mapping[str, frozenset[str]] = {
    "pull_request": EVALUATE_PR_ACTIONS | {"closed"},
    "pull_request_review": frozenset({"submitted", "edited", "dismissed"}),
    "issue_comment": frozenset({"created"}),
    "check_run": frozenset({"rerequested"}),
    "check_suite": frozenset({"requested", "rerequested"}),
    "merge_group": frozenset({"checks_requested"}),
    "membership": frozenset({"added", "removed"}),
    "deployment_protection_rule": frozenset({"requested"}),
    "installation": frozenset(
        {"created", "deleted", "suspend", "unsuspend", "new_permissions_accepted"}
    ),
}
"""The events and actions EUCORA handles; every other delivery is recorded as ignored."""


class WebhookPayloadError(ValueError):
    """The body is not a JSON object of the shape GitHub sends; the message is one line."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Routing:
    """The facts a delivery is routed by, read from its payload."""

    event: str
    action: str | None
    kind: DeliveryKind
    installation_id: int | None = None
    repository: str | None = None
    """``owner/name``."""
    pr: int | None = None
    head_sha: str | None = None
    reason: str = ""
    """Why the delivery is ignored (empty when handled)."""

    @property
    def serial_key(self) -> str | None:
        """Deliveries with the same key are processed one at a time (one evaluation per PR)."""
        if self.repository is None:
            return None
        if self.pr is not None:
            return f"{self.repository}#{self.pr}"
        if self.kind is DeliveryKind.MERGE_GROUP and self.head_sha:
            return f"{self.repository}@{self.head_sha}"
        return None

    @property
    def coalesce_key(self) -> str | None:
        """Pending deliveries with the same key collapse into one evaluation.

        Only evaluation triggers have one: a review or a comment command is never dropped.
        """
        if self.kind not in {DeliveryKind.EVALUATE, DeliveryKind.MERGE_GROUP}:
            return None
        if self.serial_key is None or not self.head_sha:
            return None
        return f"{self.kind}:{self.serial_key}@{self.head_sha}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Delivery:
    """One stored delivery, as the worker hands it to the evaluation handler."""

    delivery_id: str
    event: str
    action: str | None
    kind: DeliveryKind
    installation_id: int | None
    repository: str | None
    pr: int | None
    head_sha: str | None
    body: bytes
    body_sha256: str
    received_at: datetime
    attempts: int
    folded: tuple[Delivery, ...] = ()
    """Reviews of the same PR that waited behind this one and were collapsed into it (oldest
    first): the handler records each in the review ledger, then decides once."""

    def payload(self) -> dict[str, Any]:
        """The JSON payload (checked to be an object when the delivery was accepted)."""
        return parse_payload(self.body)


# --- signatures ----------------------------------------------------------------------------------


def sign(body: bytes, secret: str | bytes) -> str:
    """The ``X-Hub-Signature-256`` value GitHub would send for ``body`` (tests, redelivery)."""
    key = secret.encode() if isinstance(secret, str) else secret
    return SIGNATURE_PREFIX + hmac.new(key, body, hashlib.sha256).hexdigest()


def signature_problem(
    body: bytes, header: str | None, secrets: Sequence[str | bytes]
) -> str | None:
    """Why ``header`` does not authenticate ``body``, in one line; ``None`` when it does.

    Every non-empty secret in ``secrets`` is tried (old and new during a rotation); digests are
    compared with ``hmac.compare_digest`` only. An empty secret never authenticates anything.
    """
    keys = [s.encode() if isinstance(s, str) else s for s in secrets if s]
    if not keys:
        return "no webhook secret is configured: set GITHUB_WEBHOOK_SECRET"
    if not header:
        return f"missing {SIGNATURE_HEADER} header"
    if header.startswith("sha1="):
        return f"{SIGNATURE_HEADER} must be sha256=<hex>, not a sha1= signature"
    if not header.startswith(SIGNATURE_PREFIX):
        return f"{SIGNATURE_HEADER} must start with {SIGNATURE_PREFIX}"
    digest_hex = header[len(SIGNATURE_PREFIX) :]
    if len(digest_hex) != _DIGEST_HEX_LENGTH:
        return (
            f"{SIGNATURE_HEADER} must hold {_DIGEST_HEX_LENGTH} hex digits,"
            f" not {len(digest_hex)} characters"
        )
    if not set(digest_hex) <= _HEX_DIGITS:
        return f"{SIGNATURE_HEADER} is not hexadecimal"
    given = bytes.fromhex(digest_hex)
    matched = False
    for key in keys:
        expected = hmac.new(key, body, hashlib.sha256).digest()
        matched |= hmac.compare_digest(expected, given)
    if not matched:
        return f"{SIGNATURE_HEADER} does not match the body (wrong secret or altered body)"
    return None


def body_digest(body: bytes) -> str:
    """The body's SHA-256 (hex): the same signed body under a new delivery id may be a replay."""
    return hashlib.sha256(body).hexdigest()


# --- duplicates and replays ----------------------------------------------------------------------

DEFAULT_REPLAY_WINDOW = timedelta(minutes=5)
"""How long the same body under a new delivery id counts as a replay (``EUCORA_REPLAY_WINDOW``).

GitHub signs no timestamp, so a captured body can be sent again under any ``X-GitHub-Delivery``
(the header is not signed). Schemes that sign a timestamp refuse a signature older than five
minutes; without one, the body's own first arrival stands in for it."""
TIMELESS_EVENTS = frozenset({"membership"})
"""Events whose payload carries no time and no id of the occurrence: GitHub sends the same body
again when the state goes back (a member removed, added back, removed again)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class EarlierBody:
    """The newest stored delivery with the same body as a new one, as the inbox found it."""

    received_at: datetime
    changed_since: bool
    """A delivery of the same event and installation with another body was stored after it."""


def is_replay(
    event: str, earlier: EarlierBody | None, *, received_at: datetime, window: timedelta
) -> bool:
    """Whether a delivery under a *new* delivery id is a replay of a body stored before.

    A delivery id seen before is a duplicate whatever its body (GitHub's redelivery keeps the
    id); this decides only for new ids. The same body is a replay when it arrives within
    ``window`` of the newest stored delivery of that body (replays are not stored, so they do
    not extend the window). After the window it is processed again: every handler re-reads
    GitHub's current state, so an old body can trigger a decision but never supply its facts.
    For a :data:`TIMELESS_EVENTS` event, a change of the same event and installation in between
    (removed → added → removed) makes the repeat genuine even within the window; with nothing in
    between, the repeat tells nothing new and is a replay. A zero ``window`` turns the body check
    off.
    """
    if earlier is None or not window or received_at - earlier.received_at >= window:
        return False
    return not (event in TIMELESS_EVENTS and earlier.changed_since)


# --- payloads ------------------------------------------------------------------------------------


def parse_payload(body: bytes) -> dict[str, Any]:
    """The body as a JSON object, or ``WebhookPayloadError`` saying what is wrong in one line."""
    try:
        data = json.loads(body.decode("utf-8"), parse_int=_bounded_int)
    except UnicodeDecodeError as error:
        raise WebhookPayloadError(f"body is not UTF-8 (byte {error.start})") from error
    except json.JSONDecodeError as error:
        message = f"body is not JSON: {error.msg} at line {error.lineno} column {error.colno}"
        raise WebhookPayloadError(message) from error
    except RecursionError as error:
        raise WebhookPayloadError("body is not JSON EUCORA reads: nested too deeply") from error
    if not isinstance(data, dict):
        raise WebhookPayloadError(f"body is JSON but not an object ({type(data).__name__})")
    return data


MAX_INTEGER_DIGITS = 4300
"""Python refuses to read longer decimal integers (``int_max_str_digits``); GitHub sends none."""


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INTEGER_DIGITS:
        message = (
            f"body is not JSON EUCORA reads: an integer of {len(text.lstrip('-')):,} digits "
            f"(at most {MAX_INTEGER_DIGITS:,})"
        )
        raise WebhookPayloadError(message)
    return int(text)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _first_pull_request(items: Any) -> tuple[int | None, str | None]:
    """The lowest-numbered PR of a ``pull_requests`` list (check runs and suites carry them)."""
    numbers = sorted(
        (number, _str(_dict(item.get("head")).get("sha")))
        for item in (items if isinstance(items, list) else [])
        if isinstance(item, dict) and (number := _int(item.get("number"))) is not None
    )
    return numbers[0] if numbers else (None, None)


def route_delivery(event: str, payload: Mapping[str, Any]) -> Routing:
    """Read the routing facts of one delivery and decide whether EUCORA handles it."""
    action = _str(payload.get("action"))
    facts: dict[str, Any] = {
        "event": event,
        "action": action,
        "installation_id": _int(_dict(payload.get("installation")).get("id")),
        "repository": _str(_dict(payload.get("repository")).get("full_name")),
    }
    if event == "ping":
        return Routing(kind=DeliveryKind.PING, **facts)
    handled = HANDLED_ACTIONS.get(event)
    if handled is None:
        return Routing(kind=DeliveryKind.IGNORED, reason=f"EUCORA does not handle {event}", **facts)
    if action not in handled:
        reason = f"EUCORA does not act on {event}.{action or '(no action)'}"
        return Routing(kind=DeliveryKind.IGNORED, reason=reason, **facts)
    return _route_handled(event, action, payload, facts)


def _ignored(facts: dict[str, Any], reason: str, **more: Any) -> Routing:
    return Routing(kind=DeliveryKind.IGNORED, reason=reason, **{**facts, **more})


def _route_handled(  # noqa: C901, PLR0912 - one branch per event kind reads best as a table
    event: str, action: str | None, payload: Mapping[str, Any], facts: dict[str, Any]
) -> Routing:
    if event in {"pull_request", "pull_request_review"}:
        pull = _dict(payload.get("pull_request"))
        facts |= {
            "pr": _int(pull.get("number")) or _int(payload.get("number")),
            "head_sha": _str(_dict(pull.get("head")).get("sha")),
        }
        if facts["repository"] is None or facts["pr"] is None:
            return _ignored(facts, f"{event} without a repository or pull request number")
        if event == "pull_request_review":
            return Routing(kind=DeliveryKind.REVIEW, **facts)
        if action == "edited" and "base" not in _dict(payload.get("changes")):
            return _ignored(facts, "pull_request.edited without a base branch change")
        if action == "closed":
            # Merged: the publish flow runs (never dropped); closed unmerged: nothing to do.
            if pull.get("merged") is True:
                return Routing(kind=DeliveryKind.MERGED, **facts)
            return _ignored(facts, "pull_request.closed without a merge")
        return Routing(kind=DeliveryKind.EVALUATE, **facts)
    if event == "issue_comment":
        issue = _dict(payload.get("issue"))
        facts["pr"] = _int(issue.get("number"))
        body = _str(_dict(payload.get("comment")).get("body")) or ""
        on_issue = (
            "pull_request" not in issue
            and parse_rollout_command(body) is None
            and parse_drift_command(body) is None
        )
        if on_issue or facts["repository"] is None or facts["pr"] is None:
            return _ignored(facts, "issue_comment on an issue, not a pull request")
        if not any(line.strip().startswith(COMMAND_PREFIX) for line in body.splitlines()):
            return _ignored(facts, "issue_comment without a /eucora command")
        return Routing(kind=DeliveryKind.COMMAND, **facts)
    if event in {"check_run", "check_suite"}:
        thing = _dict(payload.get(event))
        pr, _ = _first_pull_request(thing.get("pull_requests"))
        facts |= {"pr": pr, "head_sha": _str(thing.get("head_sha"))}
        if facts["repository"] is None or pr is None:
            return _ignored(facts, f"{event}.{action} for no pull request (a push or a fork)")
        return Routing(kind=DeliveryKind.EVALUATE, **facts)
    if event == "merge_group":
        group = _dict(payload.get("merge_group"))
        facts["head_sha"] = _str(group.get("head_sha"))
        if facts["repository"] is None or facts["head_sha"] is None:
            return _ignored(facts, "merge_group without a repository or head SHA")
        return Routing(kind=DeliveryKind.MERGE_GROUP, **facts)
    if event == "deployment_protection_rule":
        pr, head = _first_pull_request(payload.get("pull_requests"))
        deployment_sha = _str(_dict(payload.get("deployment")).get("sha"))
        facts |= {"pr": pr, "head_sha": deployment_sha or head}
        return Routing(kind=DeliveryKind.DEPLOYMENT, **facts)
    if event == "membership":
        return Routing(kind=DeliveryKind.MEMBERSHIP, **facts)
    return Routing(kind=DeliveryKind.INSTALLATION, **facts)


def retry_delay_seconds(attempts: int, *, base: float = 2.0, cap: float = 300.0) -> float:
    """How long a failed delivery waits before its next attempt: doubling, capped."""
    return float(min(cap, base * 2 ** max(0, attempts - 1)))
