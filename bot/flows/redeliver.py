"""Redelivery: ask GitHub again for the deliveries that failed or never reached the inbox.

GitHub does not retry a failed delivery. :func:`redeliver_since` reads the app's delivery list
(every attempt since a moment), lets :func:`bot.core.redelivery.choose` pick one attempt per
delivery guid to redeliver, asks GitHub for each at most once per run, and audits every request
(``webhook.redelivery_requested``, or ``webhook.redelivery_failed`` with GitHub's answer). The
redelivery arrives with the same ``X-GitHub-Delivery``, so the inbox stores it once whatever
happens twice.

:class:`PeriodicRedelivery` runs the same every ``interval`` seconds on a thread (``eucora
serve`` without a broker, ``eucora worker`` with one), one replica at a time (a database lease).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bot.core.audit_events import AuditEventType
from bot.core.redelivery import Choice, choose, parse_attempt
from bot.errors import GitHubError
from bot.ports import AppDeliveries, AuditLog, KnownDeliveries

log = logging.getLogger("eucora.redeliver")
REQUESTED = AuditEventType.WEBHOOK_REDELIVERY_REQUESTED.value
FAILED = AuditEventType.WEBHOOK_REDELIVERY_FAILED.value
LEASE_NAME = "redeliver"
AUDIT_ACTOR = "eucora"


@dataclass
class RedeliveryReport:
    """What one run saw and did."""

    choices: list[Choice] = field(default_factory=list)
    requested: list[Choice] = field(default_factory=list)
    failed: list[tuple[Choice, str]] = field(default_factory=list)

    def lines(self) -> list[str]:
        """The report for people, one line per delivery acted on and a summary."""
        out = [f"redelivery requested: {c.guid} ({c.event}, {c.reason})" for c in self.requested]
        out += [f"redelivery failed: {c.guid} ({c.event}): {why}" for c, why in self.failed]
        skipped = len(self.choices) - len(self.requested) - len(self.failed)
        out.append(
            f"{len(self.choices)} deliveries seen, {len(self.requested)} redelivery requested, "
            f"{len(self.failed)} failed, {skipped} left alone"
        )
        return out


def redeliver_since(  # noqa: PLR0913 - the run's parts, by keyword
    app: AppDeliveries,
    inbox: KnownDeliveries,
    audit: AuditLog | None,
    *,
    since: datetime,
    now: datetime,
    min_gap: timedelta = timedelta(0),
) -> RedeliveryReport:
    """One run: list, choose, ask GitHub once per chosen delivery, audit each request.

    A failed read of the list raises :class:`GitHubError` (never "nothing failed").
    """
    attempts = [parse_attempt(item) for item in app.hook_deliveries(since=since)]
    stored = inbox.known([a.guid for a in attempts])
    report = RedeliveryReport(
        choices=choose(attempts, stored=stored, now=now, since=since, min_gap=min_gap)
    )
    asked: set[str] = set()
    for choice in report.choices:
        if not choice.redeliver or choice.guid in asked:
            continue
        asked.add(choice.guid)
        facts = {"event": choice.event, "attempt_id": choice.attempt_id, "reason": choice.reason}
        try:
            app.redeliver(choice.attempt_id)
        except GitHubError as error:
            report.failed.append((choice, str(error)))
            _audit(audit, FAILED, choice.guid, {**facts, "error": str(error)}, now)
            continue
        report.requested.append(choice)
        _audit(audit, REQUESTED, choice.guid, facts, now)
    return report


def _audit(
    audit: AuditLog | None, kind: str, guid: str, payload: dict[str, Any], now: datetime
) -> None:
    if audit is None:
        return
    audit.append(
        type=kind,
        actor=AUDIT_ACTOR,
        correlation_id=guid,
        repository="",
        pr=None,
        head_sha=None,
        payload=payload,
        time=now,
    )


class PeriodicRedelivery:
    """Every ``interval`` seconds, a run over the last ``lookback``, one replica at a time.

    ``exclusive(name)`` yields whether this replica holds the named lease for the run
    (``bot.adapters.storage.run_lease.exclusive`` over the database).
    """

    def __init__(
        self,
        *,
        exclusive: Callable[[str], AbstractContextManager[bool]],
        run: Callable[[datetime, timedelta], RedeliveryReport],
        clock: Callable[[], datetime],
        interval: float,
        lookback: timedelta,
    ) -> None:
        self._exclusive = exclusive
        self._run = run
        self._clock = clock
        self.interval = interval
        self.lookback = lookback
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> RedeliveryReport | None:
        """One run if no other replica is running one (``None``: another was)."""
        with self._exclusive(LEASE_NAME) as held:
            if not held:
                return None
            now = self._clock()
            report = self._run(now - self.lookback, timedelta(seconds=self.interval))
        if report.requested or report.failed:
            log.warning("redelivery: %s", report.lines()[-1])
        return report

    def start(self) -> None:
        """Run in a daemon thread until :meth:`stop`."""
        self._thread = threading.Thread(target=self._loop, name="eucora-redeliver", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop after the current run."""
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.run_once()
            except Exception:
                log.exception("the periodic redelivery failed; it runs again next time")
