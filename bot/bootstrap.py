"""The composition root: the one place that builds the services (the catalog: bot.catalog)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, text

from bot.adapters.inbox_worker import DeliveryProcessor, Handler, ThreadedDrainer, utc_now
from bot.adapters.metrics import Metrics
from bot.adapters.publish_queue import CeleryPublications, InProcessPublisher
from bot.adapters.queue import BackgroundWakeups, CeleryWakeups, create_celery
from bot.adapters.storage.audit_log import AuditLog
from bot.adapters.storage.db import check_schema, open_database
from bot.adapters.storage.inbox import Inbox
from bot.adapters.storage.publications import Outbox
from bot.core.redact import Redactor
from bot.core.webhooks import Delivery
from bot.errors import ConfigError, SchemaVersionError
from bot.settings import Settings

# --- the GitHub App: webhook intake, inbox, worker ------------------------------------------------


@dataclass
class IntakeServices:
    """What the intake and the worker share; handed to the handler factory."""

    settings: Settings
    engine: Engine
    inbox: Inbox
    audit: AuditLog
    metrics: Metrics
    redactor: Redactor
    publisher: Any = None
    """The publications runner (``bot.flows.publish.Publisher``), set by the handler factory
    when publishing on merge is enabled; the intake and the worker give it its queue."""


HandlerFactory = Callable[[IntakeServices], Handler]
"""Builds the evaluation handler from the services (the lead's flow plugs in here)."""

_default_log = logging.getLogger("eucora.worker")


def recording_handler_factory(services: IntakeServices) -> Handler:
    """The handler until the evaluation flow is wired: records the delivery as processed.

    Replace with the PR evaluation flow's factory (``build_server(settings, factory)``).
    """
    del services

    def record(_delivery: Delivery) -> str:
        _default_log.info("no evaluation flow is wired: delivery recorded only")
        return "recorded"

    return record


def build_intake_services(
    settings: Settings, *, lease_seconds: float | None = None
) -> IntakeServices:
    """Open the database (refusing an old schema: ``SchemaVersionError`` names the command).

    ``lease_seconds``: how long a claimed delivery stays with its worker without a heartbeat
    before the sweeper gives it to another (``EUCORA_INBOX_LEASE_SECONDS`` when ``None``).
    """
    engine = open_database(settings.database_url)
    inbox = Inbox(
        engine,
        lease_seconds=settings.inbox_lease_seconds if lease_seconds is None else lease_seconds,
        replay_window=timedelta(seconds=settings.replay_window),
    )
    return IntakeServices(
        settings=settings,
        engine=engine,
        inbox=inbox,
        audit=AuditLog(engine),
        metrics=Metrics(depth=inbox.depth, publications=Outbox(engine).depth),
        redactor=build_redactor(settings),
    )


def build_redactor(settings: Settings) -> Redactor:
    """The redactor for every configured secret value."""
    return Redactor(
        [
            *settings.secret_values,
            settings.github_webhook_secret,
            settings.github_webhook_secret_previous,
            settings.signing_key,
        ]
    )


def readiness_check(engine: Engine, wakeups: CeleryWakeups | None) -> Callable[[], str | None]:
    """``/readyz``: the database answers, its schema is current, the broker answers."""

    def problem() -> str | None:
        try:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except Exception as error:  # noqa: BLE001 - reported as not ready
            return f"database unreachable ({type(error).__name__})"
        try:
            check_schema(engine)
        except SchemaVersionError as error:
            return str(error)
        if wakeups is not None:
            try:
                wakeups.ping()
            except Exception as error:  # noqa: BLE001 - reported as not ready
                return f"broker unreachable ({type(error).__name__})"
        return None

    return problem


@dataclass
class Intake:
    """The intake's parts: services, the processor, and how stored deliveries wake it."""

    services: IntakeServices
    processor: DeliveryProcessor
    drainer: ThreadedDrainer | None
    """The in-process drainer (no broker); start it in each server process after forking."""
    wakeups: CeleryWakeups | None
    """The Celery wake-ups (broker configured); ``eucora worker`` runs the deliveries."""
    background: BackgroundWakeups | None
    secrets: tuple[str, ...]
    ready: Callable[[], str | None]
    clock: Callable[[], datetime]
    publications: InProcessPublisher | None = None
    """Runs publications in this process (no broker, publishing enabled); start it with the
    drainer in each server process."""

    def notify(self, delivery_id: str) -> None:
        """Wake whoever runs deliveries: the Celery worker or the in-process drainer."""
        if self.background is not None:
            self.background(delivery_id)
        elif self.drainer is not None:
            self.drainer.wake(delivery_id)


def build_intake(
    settings: Settings,
    handler_factory: HandlerFactory = recording_handler_factory,
    *,
    drain_threads: int = 2,
    lease_seconds: float | None = None,
    clock: Callable[[], datetime] = utc_now,
) -> Intake:
    """Everything the webhook and its worker need, from the settings and the handler factory.

    Without ``EUCORA_BROKER_URL`` a :class:`ThreadedDrainer` runs the deliveries inside the
    server; with it, stored deliveries are sent to Celery (``eucora worker``). The Flask app is
    built from this by ``bot.entrypoints.serve.build_server`` (the flows import this module, so
    it cannot import the entry points).
    """
    services = build_intake_services(settings, lease_seconds=lease_seconds)
    processor = _processor(services, handler_factory, clock)
    celery = create_celery(settings.broker_url) if settings.broker_url else None
    wakeups = CeleryWakeups(celery) if celery is not None else None
    publications = _publications(services, processor, celery)
    drainer = (
        None
        if wakeups
        else ThreadedDrainer(
            processor,
            threads=drain_threads,
            sweep_seconds=min(settings.sweep_seconds, services.inbox.lease_seconds / 2),
        )
    )
    secrets = tuple(
        s for s in (settings.github_webhook_secret, settings.github_webhook_secret_previous) if s
    )
    return Intake(
        services=services,
        processor=processor,
        drainer=drainer,
        wakeups=wakeups,
        background=BackgroundWakeups(wakeups.send) if wakeups else None,
        secrets=secrets,
        ready=readiness_check(services.engine, wakeups),
        clock=clock,
        publications=publications,
    )


def _publications(
    services: IntakeServices, processor: DeliveryProcessor, celery: Any
) -> InProcessPublisher | None:
    """Give the publisher (when publishing is enabled) its queue and its sweep.

    With a broker, publications are Celery tasks (``eucora worker`` runs them); without one, an
    :class:`InProcessPublisher` runs them on threads of this process.
    """
    publisher = services.publisher
    if publisher is None:
        return None
    processor.also_sweep.append(publisher.sweep)
    if celery is not None:
        publisher.queue = CeleryPublications(celery)
        return None
    runner = InProcessPublisher(publisher.run, threads=2)
    publisher.queue = runner
    return runner


def _processor(
    services: IntakeServices, handler_factory: HandlerFactory, clock: Callable[[], datetime]
) -> DeliveryProcessor:
    return DeliveryProcessor(
        inbox=services.inbox,
        handler=handler_factory(services),
        metrics=services.metrics,
        audit=services.audit,
        redactor=services.redactor,
        clock=clock,
    )


@dataclass
class Worker:
    """What ``eucora worker`` runs: the Celery app whose task drains the inbox."""

    celery: Any
    services: IntakeServices
    processor: DeliveryProcessor
    wakeups: CeleryWakeups


def build_worker(
    settings: Settings,
    handler_factory: HandlerFactory = recording_handler_factory,
    *,
    lease_seconds: float | None = None,
    clock: Callable[[], datetime] = utc_now,
) -> Worker:
    """The Celery worker: its one task runs :meth:`DeliveryProcessor.drain` for a delivery id."""
    if not settings.broker_url:
        raise ConfigError(
            "EUCORA_BROKER_URL is not set: without a broker, `eucora serve` drains the inbox"
        )
    services = build_intake_services(settings, lease_seconds=lease_seconds)
    processor = _processor(services, handler_factory, clock)
    publisher = services.publisher  # set by the handler factory when publishing is enabled
    celery = create_celery(
        settings.broker_url,
        processor.drain,
        publish=publisher.run if publisher is not None else None,
    )
    _publications(services, processor, celery)
    return Worker(
        celery=celery, services=services, processor=processor, wakeups=CeleryWakeups(celery)
    )
