"""Webhook deliveries the double sends to the app, and the app's delivery log (GitHub's hookshot).

``double.webhook_url`` is where the app listens (GitHub's "Webhook URL" of the app). Each
:meth:`Hookshot.send` POSTs a signed delivery there, and records the attempt as GitHub lists it
(``GET /app/hook/deliveries``): ``id`` per attempt, ``guid`` (``X-GitHub-Delivery``) per delivery,
``status_code`` and ``status`` as answered (``failed to connect`` when nobody answered), failed or
not. ``POST /app/hook/deliveries/{id}/attempts`` sends the same body with the same guid again,
as a redelivery, after answering 202 (GitHub redelivers asynchronously).

Faults: ``fail_next(n, status=500)`` answers for the app (as a proxy in front of a dead app
would) without reaching it; an app that is not listening fails by itself.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import requests

from bot.doubles.github import events
from bot.doubles.github import state as st

if TYPE_CHECKING:
    from werkzeug.wrappers import Request

    from bot.doubles.github.server import GitHubDouble

TIMEOUT_SECONDS = 10.0
"""GitHub gives up on a delivery after 10 s (github.com)."""


@dataclass
class SentDelivery:
    """One attempt, as GitHub's delivery list shows it, plus what was sent."""

    id: int
    guid: str
    event: str
    action: str | None
    installation_id: int | None
    repository_id: int | None
    delivered_at: datetime
    redelivery: bool
    status_code: int
    status: str
    duration: float
    body: bytes = field(repr=False)
    headers: dict[str, str] = field(repr=False)

    def item(self) -> dict[str, Any]:
        """The ``hook-delivery-item`` body."""
        return {
            "id": self.id,
            "guid": self.guid,
            "delivered_at": st.stamp(self.delivered_at),
            "redelivery": self.redelivery,
            "duration": self.duration,
            "status": self.status,
            "status_code": self.status_code,
            "event": self.event,
            "action": self.action,
            "installation_id": self.installation_id,
            "repository_id": self.repository_id,
            "throttled_at": None,
        }


class Hookshot:
    """Sends deliveries to ``double.webhook_url`` and keeps the log of every attempt."""

    def __init__(self, double: GitHubDouble) -> None:
        self.d = double
        self.sent: list[SentDelivery] = []
        self._failures: list[int] = []
        self._pending: list[threading.Thread] = []

    def fail_next(self, count: int = 1, *, status: int = 500) -> None:
        """The next ``count`` attempts fail with ``status`` without reaching the app."""
        with self.d.lock:
            self._failures.extend([status] * count)

    def send(self, event: str, payload: Mapping[str, Any]) -> SentDelivery:
        """Sign and POST a new delivery (a fresh guid); the recorded attempt."""
        body, headers = events.signed(event, payload, self.d.app.webhook_secret)
        installation = payload.get("installation")
        repository = payload.get("repository")
        action = payload.get("action")
        return self._attempt(
            body,
            headers,
            event=event,
            action=str(action) if action is not None else None,
            installation_id=_id(installation),
            repository_id=_id(repository),
            redelivery=False,
        )

    def redeliver(self, delivery_id: int) -> SentDelivery | None:
        """Send attempt ``delivery_id`` again in the background (same guid); None if unknown."""
        original = next((d for d in self.sent if d.id == delivery_id), None)
        if original is None:
            return None
        thread = threading.Thread(
            target=self._attempt,
            args=(original.body, original.headers),
            kwargs={
                "event": original.event,
                "action": original.action,
                "installation_id": original.installation_id,
                "repository_id": original.repository_id,
                "redelivery": True,
            },
            daemon=True,
        )
        self._pending.append(thread)
        thread.start()
        return original

    def wait(self, timeout: float = 30.0) -> None:
        """Wait for the redeliveries under way."""
        deadline = time.monotonic() + timeout
        while self._pending:
            self._pending.pop().join(max(0.0, deadline - time.monotonic()))

    def _attempt(  # noqa: PLR0913 - the list item's fields
        self,
        body: bytes,
        headers: dict[str, str],
        *,
        event: str,
        action: str | None,
        installation_id: int | None,
        repository_id: int | None,
        redelivery: bool,
    ) -> SentDelivery:
        with self.d.lock:
            failure = self._failures.pop(0) if self._failures else None
            attempt_id = self.d.next_id()
        started = time.monotonic()
        if failure is not None:
            status_code, status = failure, "Invalid HTTP Response: " + str(failure)
        else:
            status_code, status = self._post(body, headers)
        record = SentDelivery(
            id=attempt_id,
            guid=headers["X-GitHub-Delivery"],
            event=event,
            action=action,
            installation_id=installation_id,
            repository_id=repository_id,
            delivered_at=self.d.clock(),
            redelivery=redelivery,
            status_code=status_code,
            status=status,
            duration=round(time.monotonic() - started, 3),
            body=body,
            headers=dict(headers),
        )
        with self.d.lock:
            self.sent.append(record)
        return record

    def _post(self, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
        if not self.d.webhook_url:
            return 0, "failed to connect to host"
        try:
            answer = requests.post(
                self.d.webhook_url, data=body, headers=headers, timeout=TIMEOUT_SECONDS
            )
        except requests.Timeout:
            return 0, "timed out"
        except requests.RequestException:
            return 0, "failed to connect to host"
        if 200 <= answer.status_code < 300:
            return answer.status_code, "OK"
        return answer.status_code, f"Invalid HTTP Response: {answer.status_code}"

    # -- the REST side -----------------------------------------------------------------------

    def list_page(self, request: Request) -> tuple[list[dict[str, Any]], dict[str, str]]:
        """One page of the log, newest first, from ``cursor``; the ``Link`` to the next."""
        per_page = min(int(request.args.get("per_page", 30)), 100)
        wanted = request.args.get("status")
        items = sorted(self.sent, key=lambda d: d.id, reverse=True)
        if wanted == "success":
            items = [d for d in items if 200 <= d.status_code < 400]
        elif wanted == "failure":
            items = [d for d in items if 400 <= d.status_code < 600]
        cursor = request.args.get("cursor")
        if cursor:
            start = int(cursor.removeprefix("v1_")) if cursor.removeprefix("v1_").isdigit() else -1
            items = [d for d in items if d.id <= start]
        page, rest = items[:per_page], items[per_page:]
        headers = {}
        if rest:
            query = {**request.args.to_dict(), "per_page": per_page, "cursor": f"v1_{rest[0].id}"}
            headers["Link"] = f'<{self.d.url}{request.path}?{urlencode(query)}>; rel="next"'
        return [d.item() for d in page], headers


def _id(holder: Any) -> int | None:
    value = holder.get("id") if isinstance(holder, Mapping) else None
    return int(value) if isinstance(value, int) else None
