"""``eucora serve``: the web app under gunicorn (threads), never Flask's development server.

The app serves the GitHub webhook, the evidence pages, ``/healthz``, ``/readyz`` and
``/metrics`` on one listener; with an admin listener (``--admin-listen HOST:PORT`` or
``EUCORA_ADMIN_LISTEN``) the public one serves only ``/webhook`` and the health checks, and the
evidence pages and ``/metrics`` are served on the admin address alone (one gunicorn, two bound
sockets, each request dispatched by the socket it arrived on). Without a broker each gunicorn
worker process also runs a small pool of threads that drains the inbox (started after the
fork: threads do not survive one); with ``EUCORA_BROKER_URL`` the deliveries go to ``eucora
worker``. Metrics are counted per process in ``EUCORA_HOME/metrics`` and added up on each scrape.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication

from bot.adapters.audit_keys import check_signing_key
from bot.adapters.evidence_store import EvidenceNotFoundError, EvidenceStore
from bot.adapters.metrics import use_multiprocess_directory
from bot.bootstrap import HandlerFactory, Intake, build_intake, recording_handler_factory
from bot.core.render.rollout_board import github_web_url
from bot.entrypoints.commands_redeliver import periodic_redelivery
from bot.entrypoints.periodic_reconcile import PeriodicReconcile, periodic_reconcile
from bot.entrypoints.rollout_board import rollout_board
from bot.entrypoints.web import (
    AuditCatalogue,
    ListenerDispatch,
    Surface,
    WebhookIntake,
    create_app,
    github_repository_urls,
)
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

    def __init__(self, app: Any, options: dict[str, Any]) -> None:
        self._app = app
        self._options = options
        super().__init__()

    def load_config(self) -> None:
        """Apply our options, nothing from the command line or the environment."""
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        """The WSGI application."""
        return self._app


def gunicorn_options(
    host: str, port: int, workers: int, threads: int, *, admin: Listen | None = None
) -> dict[str, Any]:
    """Gunicorn settings: the gthread worker (a slow client does not block a worker).

    The access log is off: every delivery already gets one structured, redacted log line.
    """
    return {
        "bind": [f"{host}:{port}", f"{admin.host}:{admin.port}"] if admin else f"{host}:{port}",
        "workers": workers,
        "threads": threads,
        "worker_class": "gthread",
        "accesslog": None,
        "errorlog": "-",
        "timeout": 60,
        "graceful_timeout": 10,
    }


@dataclass(frozen=True)
class Listen:
    """An address to listen on (``HOST:PORT``)."""

    host: str
    port: int

    @classmethod
    def parse(cls, text: str) -> Listen:
        """``HOST:PORT`` (``[::1]:9000`` for IPv6); ``ValueError`` with a one-line reason."""
        host, sep, port = text.strip().rpartition(":")
        host = host.strip("[]")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"expected HOST:PORT (a port 1-65535), got {text!r}")
        return cls(host, int(port))


@dataclass
class Server:
    """The web app and the intake behind it (and the admin app, with an admin listener)."""

    app: Flask
    intake: Intake
    reconcile: PeriodicReconcile | None = None
    """The periodic reconcile (embedded mode; with a broker ``eucora worker`` runs it)."""
    admin: Flask | None = None
    admin_listen: Listen | None = None

    def wsgi(self) -> Any:
        """What gunicorn serves: the app, or both apps dispatched by listener."""
        if self.admin is None or self.admin_listen is None:
            return self.app
        return ListenerDispatch(self.app, self.admin, admin_port=self.admin_listen.port)


def build_server(  # noqa: PLR0913 - the composition's knobs, keyword-only
    settings: Settings,
    handler_factory: HandlerFactory = recording_handler_factory,
    *,
    drain_threads: int = 2,
    lease_seconds: float | None = None,
    metrics_dir: bool = True,
    clock: Callable[[], datetime] | None = None,
    admin_listen: Listen | None = None,
) -> Server:
    """Build the app over the composition root's intake (refuses an old database schema).

    ``admin_listen``: serve the evidence pages and ``/metrics`` there, not on the public app.
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
        gate=intake.drainer.gate if intake.drainer is not None else None,
    )
    board = rollout_board(
        intake.services.engine, clock=intake.clock, web_url=github_web_url(settings.github_api_url)
    )
    evidence = StoreSource(intake.services.evidence_store)
    catalogue = AuditCatalogue(intake.services.audit, intake.services.evidence_store)
    urls = github_repository_urls(github_web_url(settings.github_api_url))
    reconcile = None
    if intake.drainer is not None:  # embedded mode: this process reconciles too (a lease)
        reconcile = periodic_reconcile(intake.services, intake.publisher, clock=intake.clock)
    if admin_listen is None:
        app = create_app(
            evidence=evidence,
            intake=webhook,
            rollouts=board,
            catalogue=catalogue,
            repository_url_for=urls,
        )
        return Server(app=app, intake=intake, reconcile=reconcile)
    return Server(
        app=create_app(evidence=evidence, intake=webhook, surface=Surface.PUBLIC),
        intake=intake,
        reconcile=reconcile,
        admin=create_app(
            evidence=evidence,
            intake=webhook,
            rollouts=board,
            surface=Surface.ADMIN,
            catalogue=catalogue,
            repository_url_for=urls,
        ),
        admin_listen=admin_listen,
    )


def server_options(
    server: Server, host: str, port: int, workers: int, threads: int
) -> dict[str, Any]:
    """Gunicorn settings plus hooks: per worker process, fresh connections and drainer threads."""
    options = gunicorn_options(host, port, workers, threads, admin=server.admin_listen)
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
    GunicornServer(server.wsgi(), server_options(server, host, port, workers, threads)).run()
