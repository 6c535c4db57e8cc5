"""The periodic reconcile of ``eucora serve`` (embedded mode) and ``eucora worker``.

Every ``EUCORA_RECONCILE_INTERVAL`` seconds (default 300; 0 turns it off) a thread runs one
reconcile pass (:meth:`bot.flows.rollouts.Reconciler.run_once`), so rollouts move without anyone
running ``eucora reconcile``. Several replicas may run it at once: the pass takes the
``reconcile`` database lease (one replica at a time; renewed as the pass goes, so a replica
killed in its pass holds it ``EUCORA_RECONCILE_LEASE_SECONDS`` at most), and a promotion is
recorded with the rollout's new state in one conditional transaction. The promotions it records
go to the same publish queue as the merge's publications (in-process threads, or Celery with a
broker).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from bot.bootstrap import IntakeServices, build_reconciler
from bot.errors import EucoraError
from bot.flows.publish import Publisher
from bot.flows.rollouts import PassReport, Reconciler
from bot.settings import SettingsError

log = logging.getLogger("eucora.reconcile")


def _now() -> datetime:
    return datetime.now(UTC)


class PeriodicReconcile:
    """Every ``interval`` seconds, one reconcile pass on a daemon thread."""

    def __init__(self, reconciler: Reconciler, *, interval: float) -> None:
        self._reconciler = reconciler
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> PassReport:
        """One pass (nothing done when another replica holds the lease)."""
        report = self._reconciler.run_once()
        if report.promoted or report.halted or report.held or report.alerts:
            log.info("reconcile: %s", "; ".join(report.lines()))
        return report

    def start(self) -> None:
        """Run in a daemon thread until :meth:`stop`."""
        self._thread = threading.Thread(target=self._loop, name="eucora-reconcile", daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Stop after the current pass (waiting up to ``timeout`` seconds for it)."""
        self._stop.set()
        if self._thread is not None and timeout is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.run_once()
            except Exception:
                log.exception("the periodic reconcile failed; it runs again next time")


def periodic_reconcile(
    services: IntakeServices,
    publisher: Publisher | None,
    *,
    clock: Callable[[], datetime] = _now,
) -> PeriodicReconcile | None:
    """The periodic reconcile over the intake's services (``None``: off, or nothing to publish).

    Promotions use the planes of the intake's ``publisher`` (built by the handler factory when
    publishing is configured) and the services' publication queue.
    """
    interval = services.settings.reconcile_interval
    if not interval or publisher is None:
        return None
    try:
        reconciler, promoter = build_reconciler(services, clock=clock, planes=publisher.connectors)
    except (EucoraError, SettingsError) as error:
        log.warning("rollouts are not reconciled by this process: %s", error)
        return None
    del promoter  # it sends to the services' queue, as the intake's publisher does
    return PeriodicReconcile(reconciler, interval=interval)
