"""``eucora serve``: the web app under gunicorn (threads), never Flask's development server.

The app serves the GitHub webhook, the evidence pages, ``/healthz``, ``/readyz`` and
``/metrics``. Without a broker each gunicorn worker process also runs a small pool of threads
that drains the inbox (started after the fork: threads do not survive one); with
``EUCORA_BROKER_URL`` the deliveries go to ``eucora worker``. Metrics are counted per process in
``EUCORA_HOME/metrics`` and added up on each scrape.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication

from bot.adapters.evidence_store import EvidenceNotFoundError, EvidenceStore
from bot.adapters.keys import check_signing_key
from bot.adapters.metrics import use_multiprocess_directory
from bot.adapters.storage.inbox import DEFAULT_LEASE_SECONDS
from bot.bootstrap import HandlerFactory, Intake, build_intake, recording_handler_factory
from bot.core.render.rollout_board import github_web_url
from bot.entrypoints.commands_redeliver import periodic_redelivery
from bot.entrypoints.periodic_reconcile import PeriodicReconcile, periodic_reconcile
from bot.entrypoints.rollout_board import rollout_board
from bot.entrypoints.web import WebhookIntake, create_app
from bot.flows.redeliver import PeriodicRedelivery
from bot.settings import Settings

log = logging.getLogger("eucora.serve")


class StoreSource:
    """The evidence store as the web app's ``EvidenceSource``: unknown digests are ``None``."""

    def __init__(self, store: EvidenceStore) -> None:
        self._store = store

    def get(self, digest: str) -> bytes | None:
        """The stored pack's canonical bytes (re-hashed on read), or ``None``."""
        try:
            return self._store.get(digest)
        except EvidenceNotFoundError:
            return None


class GunicornServer(BaseApplication):  # type: ignore[misc]
    """Run a Flask app in gunicorn's threaded workers with explicit settings (no config files)."""

    def __init__(self, app: Flask, options: dict[str, Any]) -> None:
        self._app = app
        self._options = options
        super().__init__()

    def load_config(self) -> None:
        """Apply our options, nothing from the command line or the environment."""
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        """The WSGI application."""
        return self._app


def gunicorn_options(host: str, port: int, workers: int, threads: int) -> dict[str, Any]:
    """Gunicorn settings: the gthread worker (a slow client does not block a worker).

    The access log is off: every delivery already gets one structured, redacted log line.
    """
    return {
        "bind": f"{host}:{port}",
        "workers": workers,
        "threads": threads,
        "worker_class": "gthread",
        "accesslog": None,
        "errorlog": "-",
        "timeout": 60,
        "graceful_timeout": 10,
    }


@dataclass
class Server:
    """The web app and the intake behind it."""

    app: Flask
    intake: Intake
    reconcile: PeriodicReconcile | None = None
    """The periodic reconcile (embedded mode; with a broker ``eucora worker`` runs it)."""


def build_server(  # noqa: PLR0913 - the settings, then test and tuning knobs by keyword
    settings: Settings,
    handler_factory: HandlerFactory = recording_handler_factory,
    *,
    drain_threads: int = 2,
    lease_seconds: float = DEFAULT_LEASE_SECONDS,
    metrics_dir: bool = True,
    clock: Callable[[], datetime] | None = None,
) -> Server:
    """Build the app over the composition root's intake (refuses an old database schema).

    ``metrics_dir`` counts metrics in ``EUCORA_HOME/metrics`` (emptied now, before gunicorn
    forks), so every worker process's counts reach ``/metrics``.
    """
    check_signing_key(settings)  # a key that is not found refuses the start, not each request
    if metrics_dir:
        use_multiprocess_directory(settings.home / "metrics", clear=True)
    intake = build_intake(
        settings,
        handler_factory,
        drain_threads=drain_threads,
        lease_seconds=lease_seconds,
        **({"clock": clock} if clock is not None else {}),
    )
    if not intake.secrets:
        log.warning("GITHUB_WEBHOOK_SECRET is not set: every webhook delivery will be refused")
    webhook = WebhookIntake(
        inbox=intake.services.inbox,
        secrets=intake.secrets,
        metrics=intake.services.metrics,
        clock=intake.clock,
        notify=intake.notify,
        ready=intake.ready,
        audit=intake.services.audit,
        crashpoint=settings.crashpoint,
    )
    board = rollout_board(
        intake.services.engine, clock=intake.clock, web_url=github_web_url(settings.github_api_url)
    )
    app = create_app(
        evidence=StoreSource(intake.services.evidence_store), intake=webhook, rollouts=board
    )
    reconcile = None
    if intake.drainer is not None:  # embedded mode: this process reconciles too (a lease)
        reconcile = periodic_reconcile(intake.services, intake.publisher, clock=intake.clock)
    return Server(app=app, intake=intake, reconcile=reconcile)


def server_options(
    server: Server, host: str, port: int, workers: int, threads: int
) -> dict[str, Any]:
    """Gunicorn settings plus hooks: per worker process, fresh connections and drainer threads."""
    options = gunicorn_options(host, port, workers, threads)
    engine = server.intake.services.engine
    drainer = server.intake.drainer
    publications = server.intake.publications

    def post_fork(_server: Any, _worker: Any) -> None:
        engine.dispose(close=False)  # the parent's pooled connections are not this process's

    periodics: list[PeriodicRedelivery | PeriodicReconcile] = []

    def post_worker_init(_worker: Any) -> None:
        if drainer is not None:
            drainer.start()
            # Embedded mode: the periodic redelivery and reconcile run here (one process at a
            # time each: a database lease).
            redelivery = periodic_redelivery(server.intake.services.settings, engine)
            periodics.extend(p for p in (redelivery, server.reconcile) if p is not None)
            for periodic in periodics:
                periodic.start()
        if publications is not None:
            publications.start()

    def worker_exit(_server: Any, _worker: Any) -> None:
        for periodic in periodics:
            periodic.stop()
        if drainer is not None:
            drainer.stop(timeout=5)
        if publications is not None:
            publications.stop(timeout=5)

    options |= {
        "post_fork": post_fork,
        "post_worker_init": post_worker_init,
        "worker_exit": worker_exit,
    }
    return options


def run_server(server: Server, host: str, port: int, workers: int, threads: int) -> None:
    """Serve until stopped (SIGTERM/SIGINT)."""
    GunicornServer(server.app, server_options(server, host, port, workers, threads)).run()
