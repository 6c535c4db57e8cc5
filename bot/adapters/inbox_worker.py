"""The inbox worker: drains the inbox and hands each delivery to the evaluation handler.

:class:`DeliveryProcessor` is the one piece of code that runs a delivery, whichever way it is
woken up: by :class:`ThreadedDrainer` (a few threads inside ``eucora serve`` when no broker is
configured) or by the Celery task (``eucora worker`` with ``EUCORA_BROKER_URL``).

The handler contract (``Handler = Callable[[Delivery], str]``): it returns one word recorded as
the delivery's outcome (``evaluated``, ``ignored``, ``superseded``...); raising is a retryable
failure: the delivery is tried again after a backoff, at most ``Inbox.max_attempts`` times, then
recorded ``failed`` with a one-line, redacted reason.
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import stamina
from sqlalchemy.exc import DBAPIError

from bot.adapters.clock import utc_now
from bot.adapters.logs import bound_delivery
from bot.adapters.metrics import Metrics
from bot.adapters.storage.audit_log import AuditLog
from bot.adapters.storage.inbox import Claim, Inbox, Status
from bot.core.audit_events import AuditEventType, format_event_time
from bot.core.redact import Redactor
from bot.core.webhooks import Delivery

Handler = Callable[[Delivery], str]
Clock = Callable[[], datetime]
log = logging.getLogger("eucora.worker")
OUTCOME_WORD_LIMIT = 40
AUDIT_ATTEMPTS = 60
AUDIT_RETRY_SECONDS = 60.0
AUDIT_ACTOR = "eucora"


@dataclass
class DeliveryProcessor:
    """Claims a delivery, runs the handler on it, records the outcome (inbox, audit, metrics)."""

    inbox: Inbox
    handler: Handler
    metrics: Metrics
    audit: AuditLog | None = None
    redactor: Redactor = field(default_factory=Redactor)
    clock: Clock = utc_now
    also_sweep: list[Callable[[], object]] = field(default_factory=list)
    """Other sweeps that run with this one (the publications outbox's)."""

    def run_one(self, prefer: str | None = None) -> bool:
        """Process one delivery if one is due; return whether one was."""
        claim = self.inbox.claim(now=self.clock(), prefer=prefer)
        if claim is None:
            return False
        with bound_delivery(claim.delivery.delivery_id):
            self._run(claim)
        return True

    def drain(self, prefer: str | None = None, *, limit: int = 100) -> int:
        """Process due deliveries until none is left (at most ``limit``); return how many."""
        done = 0
        while done < limit and self.run_one(prefer if done == 0 else None):
            done += 1
        return done

    def sweep(self) -> int:
        """Return expired leases to the queue (their workers died); return how many."""
        released = self.inbox.release_expired(now=self.clock())
        if released:
            log.warning("returned %d expired lease(s) to the inbox", released)
        for sweep in self.also_sweep:
            try:
                sweep()
            except Exception:
                log.exception("a sweep failed; it runs again at the next pass")
        return released

    def _run(self, claim: Claim) -> None:
        delivery = claim.delivery
        started = time.perf_counter()
        try:
            with self._heartbeat(claim):
                outcome = self.handler(delivery)
        except Exception as error:  # noqa: BLE001 - every failure is recorded, none escapes
            seconds = time.perf_counter() - started
            reason = self.redactor(_one_line(error))
            status = self.inbox.fail(claim, reason=reason, now=self.clock())
            self.metrics.evaluation(seconds, "error")
            log.warning(
                "handler failed (attempt %d): %s",
                delivery.attempts,
                reason,
                extra={"status": str(status), "event": delivery.event},
            )
            if status is Status.FAILED:
                self.metrics.delivery(delivery.event, "failed")
                self._audit(claim, "failed", reason)
            return
        seconds = time.perf_counter() - started
        word = _outcome_word(outcome)
        # Audited before the ``done`` commit, once per delivery: a worker killed between the two
        # leaves the delivery to be run again, and the retry's events are the ones already there.
        self._audit(claim, word, None)
        if not self.inbox.complete(claim, outcome=word, now=self.clock()):
            log.warning("lease lost before completion; another worker has the delivery")
            return
        self.metrics.evaluation(seconds, word)
        self.metrics.delivery(delivery.event, word)
        log.info(
            "delivery processed",
            extra={
                "event": delivery.event,
                "action": delivery.action,
                "repository": delivery.repository,
                "pr": delivery.pr,
                "outcome": word,
                "seconds": round(seconds, 4),
            },
        )

    def _settled(self, claim: Claim) -> list[dict[str, Any]]:
        """Count the deliveries settled into this one, now that it has ended; their audit events.

        Not before it runs: a worker killed mid-delivery would leave them unaudited, as the
        claim that settled them is committed; the retry's claim hands them over again.
        """
        delivery = claim.delivery
        events = []
        for word, others in (("collapsed", claim.collapsed), ("superseded", claim.superseded)):
            for other in others:
                self.metrics.delivery(delivery.event, word)
                log.info("%s into this delivery", word, extra={word: other})
                events.append(self._settled_event(other, word, delivery))
        return events

    @contextmanager
    def _heartbeat(self, claim: Claim) -> Iterator[None]:
        """Renew the claim's lease every third of it while the handler runs (a daemon thread).

        A worker that dies stops renewing: its lease lapses and the sweeper hands the delivery
        to another worker within one lease. A failed renewal is logged and tried again.
        """
        stop = threading.Event()
        every = self.inbox.lease_seconds / 3

        def beat() -> None:
            while not stop.wait(every):
                try:
                    if not self.inbox.renew(claim, now=self.clock()):
                        log.warning("lease lost while the delivery ran; another worker has it")
                        return
                except Exception:  # a heartbeat that failed is tried again at the next beat
                    log.warning("could not renew the lease; trying again", exc_info=True)

        thread = threading.Thread(target=beat, name="eucora-lease", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join(5.0)  # a renewal after completion changes nothing (owner checked)

    def _settled_event(self, delivery_id: str, outcome: str, runner: Delivery) -> dict[str, Any]:
        """A delivery settled without running (collapsed, superseded): its own audit event."""
        return self._event(
            correlation_id=delivery_id,
            delivery=runner,
            head_sha=runner.head_sha if outcome == "collapsed" else None,
            payload={
                "event": runner.event,
                "kind": runner.kind.value,
                "outcome": outcome,
                "merged_into": runner.delivery_id,
            },
        )

    def _event(
        self,
        *,
        correlation_id: str,
        delivery: Delivery,
        payload: dict[str, Any],
        head_sha: str | None = None,
    ) -> dict[str, Any]:
        return {
            "type": AuditEventType.WEBHOOK_PROCESSED,
            "actor": AUDIT_ACTOR,
            "correlation_id": correlation_id,
            "repository": delivery.repository or "",
            "pr": delivery.pr,
            "head_sha": head_sha,
            "payload": payload,
            "time": format_event_time(self.clock()),
        }

    def _audit(self, claim: Claim, outcome: str, error: str | None) -> None:
        """The delivery's final state, with the head SHA and what it settled.

        The events of the deliveries it settled come first, then its own, all in one
        transaction: one commit however long the burst it folded.
        """
        settled = self._settled(claim)
        delivery = claim.delivery
        payload: dict[str, Any] = {
            "event": delivery.event,
            "action": delivery.action,
            "kind": delivery.kind.value,
            "outcome": outcome,
            "attempts": delivery.attempts,
            "collapsed": list(claim.collapsed),
            "superseded": list(claim.superseded),
        }
        if error:
            payload["error"] = error
        own = self._event(
            correlation_id=delivery.delivery_id,
            delivery=delivery,
            payload=payload,
            head_sha=delivery.head_sha,
        )
        if self.audit is None:
            return
        try:
            for attempt in _audit_retrying():
                with attempt:
                    self.audit.append_all([*settled, own], once=True)
        except Exception:
            log.exception("could not append the audit events")


def _audit_retrying() -> Any:
    """An audit event of a delivery already settled waits out a database outage (bounded)."""
    return stamina.retry_context(
        on=DBAPIError,
        attempts=AUDIT_ATTEMPTS,
        timeout=AUDIT_RETRY_SECONDS,
        wait_initial=0.1,
        wait_max=2.0,
    )


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split()) or "no message"
    return f"{type(error).__name__}: {text}"[:500]


def _outcome_word(outcome: object) -> str:
    word = outcome if isinstance(outcome, str) else ""
    word = "".join(c for c in word if c.isalnum() or c in "-_.")[:OUTCOME_WORD_LIMIT]
    return word or "done"


class IntakeGate:
    """How many webhook requests the server is acknowledging now, across its processes.

    Made before gunicorn forks its workers (a counter in shared memory), so that each worker
    process's drainer sees the requests of all of them. The embedded drainer waits for a quiet
    moment before it claims the next delivery: evaluation yields to intake, the acknowledgement
    does not queue behind the drainer's commits. The wait is bounded (``ThreadedDrainer``'s
    ``yield_seconds``), so a steady stream of requests slows the drainer without stopping it.
    """

    def __init__(self) -> None:
        self._count = multiprocessing.get_context("fork").Value("i", 0)

    @contextmanager
    def receiving(self) -> Iterator[None]:
        """Count one request in flight while the block runs."""
        with self._count.get_lock():
            self._count.value += 1
        try:
            yield
        finally:
            with self._count.get_lock():
                self._count.value -= 1

    @property
    def in_flight(self) -> int:
        """Requests being acknowledged now."""
        return int(self._count.value)

    def wait_quiet(self, most: float, stop: threading.Event) -> None:
        """Return when no request is in flight, after ``most`` seconds, or on ``stop``."""
        deadline = time.monotonic() + most
        while self._count.value > 0 and time.monotonic() < deadline:
            if stop.wait(_GATE_POLL_SECONDS):
                return


_GATE_POLL_SECONDS = 0.02
DEFAULT_YIELD_SECONDS = 1.0
"""How long the embedded drainer waits at most for a moment without requests, per delivery."""


class ThreadedDrainer:
    """A few threads that drain the inbox inside the web process (no broker configured).

    Each thread waits for a wake-up (a delivery stored by this process) or ``poll_seconds``
    (deliveries stored by another process, retries coming due), then drains. One of them also
    runs the sweeper every ``sweep_seconds``. Before each delivery a thread yields to the
    webhook requests in flight (``gate``), for at most ``yield_seconds``.
    """

    def __init__(  # noqa: PLR0913 - keyword-only knobs
        self,
        processor: DeliveryProcessor,
        *,
        threads: int = 2,
        poll_seconds: float = 0.5,
        sweep_seconds: float = 15.0,
        yield_seconds: float = DEFAULT_YIELD_SECONDS,
        gate: IntakeGate | None = None,
    ) -> None:
        self.gate = gate or IntakeGate()
        self._yield = yield_seconds
        self._processor = processor
        self._threads_wanted = threads
        self._poll = poll_seconds
        self._sweep_every = sweep_seconds
        self._wake = threading.Condition()
        self._pending_wakeups = 0
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._last_sweep = 0.0

    def start(self) -> None:
        """Start the threads (idempotent; after a fork, call it in the child)."""
        if self._threads:
            return
        self._stop.clear()
        for n in range(self._threads_wanted):
            thread = threading.Thread(target=self._loop, name=f"eucora-drain-{n}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def wake(self, _delivery_id: str | None = None) -> None:
        """A delivery was stored: wake a thread now rather than at the next poll."""
        with self._wake:
            self._pending_wakeups += 1
            self._wake.notify()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the threads after their current delivery."""
        self._stop.set()
        with self._wake:
            self._wake.notify_all()
        for thread in self._threads:
            thread.join(timeout)
        self._threads = []

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._maybe_sweep()
                self._drain()
            except Exception:
                log.exception("the inbox drainer failed; retrying")
                self._stop.wait(self._poll)
            with self._wake:
                if self._pending_wakeups == 0 and not self._stop.is_set():
                    self._wake.wait(self._poll)
                self._pending_wakeups = max(0, self._pending_wakeups - 1)

    def _drain(self, limit: int = 100) -> int:
        """``DeliveryProcessor.drain``, yielding to the requests in flight before each claim."""
        done = 0
        while done < limit and not self._stop.is_set():
            self.gate.wait_quiet(self._yield, self._stop)
            if not self._processor.run_one():
                break
            done += 1
        return done

    def _maybe_sweep(self) -> None:
        now = time.monotonic()
        if now - self._last_sweep >= self._sweep_every:
            self._last_sweep = now
            self._processor.sweep()
