"""The composition root: the one place that builds the services (the catalog: bot.catalog).

Everything below the entry points receives finished dependencies: the flows see ports
(``bot.ports``), never this module. One call builds the whole app from ``Settings``
(:func:`build_intake`, :func:`build_worker`; ``eucora serve`` adds the web app over it), and the
keyword overrides (``connector``, ``planes``, ``clock``) put fakes in for tests.

The order, and the one cycle in it::

    engine -> inbox, audit log, outbox, evidence store, metrics, redactor   (IntakeServices)
    relays (deliveries, publications)          two empty Relay objects, bound once below
    celery app (with a broker)                 its tasks call the relays
    publication queue                          CeleryPublications | InProcessPublisher(relay)
    handler factory(services)  -> Evaluation   the PR flows, and the Publisher over that queue
    publications relay.bind(publisher.run)     the cycle: the queue runs the publisher, which
                                               sends to the queue; the relay breaks it, bound once
    DeliveryProcessor(handler, also_sweep=(publisher.sweep,))
    deliveries relay.bind(queue.delivery_turns(...)) (the worker: Celery drains in short turns)
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from bot.adapters.audit_keys import audit_signer
from bot.adapters.clock import utc_now
from bot.adapters.evidence_keys import SettingsKeys
from bot.adapters.evidence_store import EvidenceStore
from bot.adapters.github_manifest import ManifestRegistrar
from bot.core.approvals import emergency_label
from bot.core.errors import ConfigError, GitError, GitHubError, SchemaVersionError
from bot.core.redact import Redactor
from bot.core.rollout_model import RolloutRecord
from bot.core.tlog import Ed25519Signer
from bot.core.webhooks import Delivery
from bot.flows.audited_evidence import AuditedEvidence
from bot.flows.cab_approvals import CabApprovals
from bot.flows.check import timezones_of
from bot.flows.config_at_revision import read_config
from bot.flows.deliveries import handle_delivery
from bot.flows.drift import DriftPass
from bot.flows.merge import MergePublishing
from bot.flows.publish import Publisher
from bot.flows.pull_request import PullRequestContext
from bot.flows.rollout_commands import RolloutCommands
from bot.flows.rollout_issues import RolloutIssues
from bot.flows.rollouts import Reconciler
from bot.flows.team_directory import TeamDirectory
from bot.ports import (
    Clock,
    ConnectorSet,
    EvidencePorts,
    GitHubConnector,
    PublicationQueue,
)
from bot.settings import Settings
from connectors.registry import build_connectors

if TYPE_CHECKING:
    # The server extra's: imported by the functions that build the server's services, so the
    # base install (the Action, `eucora evidence`, `eucora github-app create`) imports this module.
    from sqlalchemy import Engine

    from bot.adapters.inbox_worker import DeliveryProcessor, Handler, ThreadedDrainer
    from bot.adapters.metrics import Metrics
    from bot.adapters.publish_queue import InProcessPublisher
    from bot.adapters.queue import BackgroundWakeups, CeleryWakeups
    from bot.adapters.storage.audit_log import AuditLog
    from bot.adapters.storage.inbox import Inbox
    from bot.adapters.storage.publications import Outbox
    from connectors.registry import Connectors

log = logging.getLogger("eucora.bootstrap")
T = TypeVar("T")


class Relay(Generic[T]):
    """Forwards calls to a target bound once, later: how the one cycle in the graph is broken.

    Built empty and handed to whoever calls (the queue, the Celery task); bound once to the
    callee when it exists. A call before binding, or a second binding, is a wiring bug.
    """

    def __init__(self, name: str) -> None:
        self._name = name
        self._target: Callable[[T], object] | None = None

    def bind(self, target: Callable[[T], object]) -> None:
        """Bind the callee (once)."""
        if self._target is not None:
            message = f"the {self._name} relay is already bound"
            raise RuntimeError(message)
        self._target = target

    def __call__(self, value: T) -> None:
        """Call the bound target with ``value``."""
        if self._target is None:
            message = f"the {self._name} relay was called before it was bound"
            raise RuntimeError(message)
        self._target(value)


# --- the base install's services: the Action and the commands that need no extra ---------------


def file_evidence(settings: Settings, *, checkpoint: Ed25519Signer | None = None) -> EvidencePorts:
    """The evidence flows' ports of an installation: the file store and the configured keys.

    ``EUCORA_EVIDENCE_DIR``'s store; ``EUCORA_SIGNING_KEY`` and the audit key, each read when a
    flow needs it (``checkpoint``: the audit signer already loaded).
    """
    return EvidencePorts(
        store=EvidenceStore(settings.evidence_dir),
        keys=SettingsKeys(settings, checkpoint=checkpoint),
    )


def app_registrar() -> ManifestRegistrar:
    """What registers a GitHub App from its manifest (``eucora github-app create``)."""
    return ManifestRegistrar()


# --- the GitHub App: webhook intake, inbox, worker ------------------------------------------------


@dataclass(frozen=True)
class IntakeServices:
    """What the intake, the worker and the handler factory share: each built once, here."""

    settings: Settings
    engine: Engine
    inbox: Inbox
    audit: AuditLog
    outbox: Outbox
    evidence_store: EvidenceStore
    metrics: Metrics
    redactor: Redactor
    clock: Clock
    publication_queue: PublicationQueue
    """Where publications are sent (a Celery queue, or this process's threads): the handler
    factory gives it to the publisher it builds."""


@dataclass(frozen=True)
class Evaluation:
    """What a handler factory builds: the delivery handler and, when publishing, the publisher.

    ``publisher`` is run by the publication queue and swept with the inbox (``run``, ``sweep``).
    """

    handle: Handler
    publisher: Publisher | None = None


HandlerFactory = Callable[[IntakeServices], Evaluation]
"""Builds the evaluation handler from the services (:func:`pull_request_handler_factory`)."""


def recording_handler_factory(services: IntakeServices) -> Evaluation:
    """The handler until the evaluation flow is wired: records the delivery as processed.

    Replace with the PR evaluation flow's factory (``build_server(settings, factory)``).
    """
    del services

    def record(_delivery: Delivery) -> str:
        log.info("no evaluation flow is wired: delivery recorded only")
        return "recorded"

    return Evaluation(record)


def _refuse(error: ConfigError) -> Handler:
    def refuse(_delivery: Delivery) -> str:
        raise error

    return refuse


def pull_request_handler_factory(
    services: IntakeServices,
    *,
    connector: GitHubConnector | None = None,
    clock: Clock | None = None,
    planes: Connectors | None = None,
) -> Evaluation:
    """The handler that evaluates pull requests and answers commands for stored deliveries.

    It connects GitHub (the App or a token, from the settings), the audit log and the evidence
    store to the PR flows. The overrides are for tests and the demo: ``connector`` (default: the
    one the settings configure; GitHub calls counted in ``eucora_github_*``), ``clock`` (default:
    the services' clock) and ``planes`` (default: those the ``EUCORA_<PLANE>_*`` settings
    configure, from the connectors' registry).
    """
    from bot.adapters.github_connectors import connector_from_settings
    from bot.adapters.storage.reviews import ReviewLedger
    from bot.adapters.storage.rollouts import RolloutStore

    settings = services.settings
    metrics = services.metrics
    now = clock if clock is not None else services.clock
    if connector is None:
        try:
            connector = connector_from_settings(
                settings,
                on_call=lambda operation, outcome: metrics.github_call(
                    operation, 200 if outcome == "ok" else None
                ),
            )
        except ConfigError as error:
            # Evidence pages still work; each delivery fails with this reason until configured.
            log.warning("%s: webhook deliveries cannot be evaluated", error)
            return Evaluation(_refuse(error))
    github = connector
    evidence, connectors, publisher = _publishing(services, github, planes, now)
    approvals = CabApprovals(ReviewLedger(services.engine), TeamDirectory(now), clock=now)
    rollouts = RolloutCommands(
        store=RolloutStore(services.engine), teams=approvals.teams, clock=now
    )
    publishing = MergePublishing(publisher)
    drift = build_drift(
        services,
        github=github,
        connectors=connectors,
        publisher=publisher,
        evidence=evidence,
        clock=now,
    )

    def context_for(installation_id: int | None) -> PullRequestContext:
        return PullRequestContext(
            github=github.for_installation(installation_id),
            settings=settings,
            evidence=evidence,
            clock=now,
            redactor=services.redactor,
            approvals=approvals,
            installation_id=installation_id,
            publishing=publishing,
            rollouts=rollouts,
            drift=drift,
        )

    def handle(delivery: Delivery) -> str:
        try:
            return handle_delivery(delivery, context_for)
        finally:
            remaining = getattr(github, "rate_limit_remaining", None)
            if isinstance(remaining, int):
                metrics.rate_limit("core", remaining)

    return Evaluation(handle, publisher)


# --- rollouts: the reconcile pass ----------------------------------------------------------------


class Unqueued:
    """A publication queue that sends nothing (``eucora reconcile`` without a broker).

    The caller runs the due publications itself, or a running ``eucora serve``'s sweeper does.
    """

    def send(self, publication_id: int, *, delay: float = 0.0) -> None:
        """Nothing: the row stays due in the outbox."""
        del publication_id, delay


def _config_at_merge(github: GitHubConnector) -> Callable[[RolloutRecord], tuple[Any, Any]]:
    """``eucora.yaml`` at a rollout's merge commit (the rules that approved it), its time zones."""

    def config_of(record: RolloutRecord) -> tuple[Any, Any]:
        client = github.for_installation(record.installation_id)
        mirror = client.fetch_revisions(record.repository, [record.merge_sha])
        try:
            config = read_config(mirror, record.merge_sha)
        except GitError as error:
            raise GitHubError(f"reading eucora.yaml of {record.repository}: {error}") from error
        return config, timezones_of(config)

    return config_of


def build_drift(  # noqa: PLR0913 - the parts a drift pass is built from
    services: IntakeServices,
    *,
    github: GitHubConnector,
    connectors: ConnectorSet,
    publisher: Publisher,
    evidence: AuditedEvidence,
    clock: Clock,
) -> DriftPass:
    """The drift pass: run by the reconciler, and answering the drift issue's commands."""
    from bot.adapters.storage.drift import DriftStore

    config_of = _config_at_merge(github)
    return DriftPass(
        store=DriftStore(services.engine),
        planes=connectors,
        issues_for=lambda record: github.for_installation(record.installation_id),
        queue=publisher,
        audit=evidence,
        config_of=lambda record: config_of(record)[0],
        clock=clock,
    )


def _publishing(
    services: IntakeServices,
    github: GitHubConnector,
    planes: ConnectorSet | None,
    clock: Clock,
) -> tuple[AuditedEvidence, ConnectorSet, Publisher]:
    """The evidence recorder, the planes and the publisher the PR flows and the reconciler share.

    ``planes`` defaults to those the ``EUCORA_<PLANE>_*`` settings configure.
    """
    from bot.adapters.storage.rollouts import RolloutStore

    settings = services.settings
    evidence = AuditedEvidence(
        services.audit,
        evidence=EvidencePorts(
            store=services.evidence_store,
            keys=SettingsKeys(settings, checkpoint=audit_signer(settings)),
        ),
        clock=clock,
    )
    connectors = planes if planes is not None else build_connectors(settings.planes)
    publisher = Publisher(
        outbox=services.outbox,
        queue=services.publication_queue,
        connectors=connectors,
        github=github,
        evidence=evidence,
        clock=clock,
        public_url=settings.public_url,
        resend_after=timedelta(seconds=settings.sweep_seconds),
        rollouts=RolloutStore(services.engine).of_pr,
    )
    return evidence, connectors, publisher


def build_reconciler(
    services: IntakeServices,
    *,
    connector: GitHubConnector | None = None,
    clock: Clock | None = None,
    planes: ConnectorSet | None = None,
) -> tuple[Reconciler, Publisher]:
    """The reconciler and the publisher its promotions go through (``eucora reconcile``).

    Freeze windows come from ``eucora.yaml`` at the rollout's merge commit (the rules that
    approved it), read through the repository's mirror; the time zones they name from this host.
    """
    from bot.adapters.github_connectors import connector_from_settings
    from bot.adapters.storage.rollouts import RolloutStore

    settings = services.settings
    now = clock if clock is not None else services.clock
    github = connector if connector is not None else connector_from_settings(settings)
    evidence, connectors, publisher = _publishing(services, github, planes, now)

    config_of = _config_at_merge(github)
    drift = build_drift(
        services,
        github=github,
        connectors=connectors,
        publisher=publisher,
        evidence=evidence,
        clock=now,
    )
    reconciler = Reconciler(
        store=RolloutStore(services.engine),
        planes=connectors,
        publisher=publisher,
        evidence=evidence,
        config_of=config_of,
        clock=now,
        lease_seconds=settings.reconcile_lease_seconds,
        issues=RolloutIssues(
            github_for=github.for_installation,
            emergency_label_of=lambda record: emergency_label(config_of(record)[0]),
            public_url=settings.public_url,
        ),
        after=drift,
    )
    return reconciler, publisher


def build_reconcile(settings: Settings) -> tuple[Reconciler, Publisher]:
    """What ``eucora reconcile`` runs: the reconciler and its publisher, built from settings.

    With a broker, promotions go to Celery; without, the command runs the due ones itself.
    """
    from bot.adapters.publish_queue import CeleryPublications
    from bot.adapters.queue import create_celery

    celery = create_celery(settings.broker_url) if settings.broker_url else None
    queue: PublicationQueue = CeleryPublications(celery) if celery is not None else Unqueued()
    return build_reconciler(build_intake_services(settings, publication_queue=queue))


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


def build_intake_services(
    settings: Settings,
    *,
    publication_queue: PublicationQueue,
    lease_seconds: float | None = None,
    clock: Clock = utc_now,
) -> IntakeServices:
    """Open the database (refusing an old schema: ``SchemaVersionError`` names the command).

    ``lease_seconds``: how long a claimed delivery stays with its worker without a heartbeat
    before the sweeper gives it to another (``EUCORA_INBOX_LEASE_SECONDS`` when ``None``).
    """
    from bot.adapters.metrics import Metrics
    from bot.adapters.storage.audit_log import AuditLog
    from bot.adapters.storage.db import open_database
    from bot.adapters.storage.drift import DriftStore
    from bot.adapters.storage.inbox import Inbox
    from bot.adapters.storage.publications import Outbox
    from bot.adapters.storage.rollouts import RolloutStore

    engine = open_database(settings.database_url)
    inbox = Inbox(
        engine,
        lease_seconds=settings.inbox_lease_seconds if lease_seconds is None else lease_seconds,
        replay_window=timedelta(seconds=settings.replay_window),
    )
    outbox = Outbox(engine, lease_seconds=settings.publish_lease_seconds)
    return IntakeServices(
        settings=settings,
        engine=engine,
        inbox=inbox,
        audit=AuditLog(engine),
        outbox=outbox,
        evidence_store=EvidenceStore(settings.evidence_dir),
        metrics=Metrics(
            depth=inbox.depth,
            publications=outbox.depth,
            stuck=RolloutStore(engine).stuck_count,
            drift=DriftStore(engine).open_by_plane,
        ),
        redactor=build_redactor(settings),
        clock=clock,
        publication_queue=publication_queue,
    )


def readiness_check(engine: Engine, wakeups: CeleryWakeups | None) -> Callable[[], str | None]:
    """``/readyz``: the database answers, its schema is current, the broker answers."""
    from sqlalchemy import text

    from bot.adapters.storage.db import check_schema

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
    publisher: Publisher | None = None
    """The publications runner, when the handler factory enables publishing on merge."""

    def notify(self, delivery_id: str) -> None:
        """Wake whoever runs deliveries: the Celery worker or the in-process drainer."""
        if self.background is not None:
            self.background(delivery_id)
        elif self.drainer is not None:
            self.drainer.wake(delivery_id)


@dataclass(frozen=True)
class _Built:
    """The parts :func:`build_intake` and :func:`build_worker` share, built in the stated order."""

    services: IntakeServices
    processor: DeliveryProcessor
    publisher: Publisher | None


def _build(  # noqa: PLR0913 - the queue's two shapes and the overrides
    settings: Settings,
    handler_factory: HandlerFactory,
    *,
    queue: PublicationQueue,
    publications: Relay[int],
    lease_seconds: float | None,
    clock: Clock,
) -> _Built:
    """Services, the handler (and publisher), the processor: in the order the module states."""
    from bot.adapters.inbox_worker import DeliveryProcessor

    services = build_intake_services(
        settings, publication_queue=queue, lease_seconds=lease_seconds, clock=clock
    )
    evaluation = handler_factory(services)
    publisher = evaluation.publisher
    if publisher is not None:
        publications.bind(publisher.run)
    processor = DeliveryProcessor(
        inbox=services.inbox,
        handler=evaluation.handle,
        metrics=services.metrics,
        audit=services.audit,
        redactor=services.redactor,
        clock=clock,
        also_sweep=[publisher.sweep] if publisher is not None else [],
    )
    return _Built(services=services, processor=processor, publisher=publisher)


def build_intake(
    settings: Settings,
    handler_factory: HandlerFactory = recording_handler_factory,
    *,
    drain_threads: int = 2,
    lease_seconds: float | None = None,
    clock: Clock = utc_now,
) -> Intake:
    """Everything the webhook and its worker need, from the settings and the handler factory.

    Without ``EUCORA_BROKER_URL`` a :class:`ThreadedDrainer` runs the deliveries inside the
    server, and an :class:`InProcessPublisher` the publications; with it, stored deliveries and
    publications are sent to Celery (``eucora worker``). The Flask app is built over this by
    ``bot.entrypoints.serve.build_server``.
    """
    from bot.adapters.inbox_worker import ThreadedDrainer
    from bot.adapters.publish_queue import CeleryPublications, InProcessPublisher
    from bot.adapters.queue import BackgroundWakeups, CeleryWakeups, create_celery

    celery = create_celery(settings.broker_url) if settings.broker_url else None
    publications: Relay[int] = Relay("publications")
    runner = InProcessPublisher(publications, threads=2) if celery is None else None
    queue: PublicationQueue = runner if runner is not None else CeleryPublications(celery)
    built = _build(
        settings,
        handler_factory,
        queue=queue,
        publications=publications,
        lease_seconds=lease_seconds,
        clock=clock,
    )
    wakeups = CeleryWakeups(celery) if celery is not None else None
    drainer = (
        None
        if wakeups
        else ThreadedDrainer(
            built.processor,
            threads=drain_threads,
            sweep_seconds=min(settings.sweep_seconds, built.services.inbox.lease_seconds / 2),
        )
    )
    secrets = tuple(
        s for s in (settings.github_webhook_secret, settings.github_webhook_secret_previous) if s
    )
    return Intake(
        services=built.services,
        processor=built.processor,
        drainer=drainer,
        wakeups=wakeups,
        background=BackgroundWakeups(wakeups.send) if wakeups else None,
        secrets=secrets,
        ready=readiness_check(built.services.engine, wakeups),
        clock=clock,
        publications=runner if built.publisher is not None else None,
        publisher=built.publisher,
    )


@dataclass
class Worker:
    """What ``eucora worker`` runs: the Celery app whose task drains the inbox."""

    celery: Any
    services: IntakeServices
    processor: DeliveryProcessor
    wakeups: CeleryWakeups
    publisher: Publisher | None = None


def build_worker(
    settings: Settings,
    handler_factory: HandlerFactory = recording_handler_factory,
    *,
    lease_seconds: float | None = None,
    clock: Clock = utc_now,
) -> Worker:
    """The Celery worker: its tasks run :meth:`DeliveryProcessor.drain` and ``Publisher.run``."""
    from bot.adapters.publish_queue import CeleryPublications
    from bot.adapters.queue import CeleryWakeups, create_celery, delivery_turns

    if not settings.broker_url:
        raise ConfigError(
            "EUCORA_BROKER_URL is not set: without a broker, `eucora serve` drains the inbox"
        )
    deliveries: Relay[str] = Relay("deliveries")
    publications: Relay[int] = Relay("publications")
    celery = create_celery(settings.broker_url, deliveries, publish=publications)
    built = _build(
        settings,
        handler_factory,
        queue=CeleryPublications(celery),
        publications=publications,
        lease_seconds=lease_seconds,
        clock=clock,
    )
    wakeups = CeleryWakeups(celery)
    deliveries.bind(delivery_turns(built.processor.drain, wakeups.send))
    return Worker(
        celery=celery,
        services=built.services,
        processor=built.processor,
        wakeups=wakeups,
        publisher=built.publisher,
    )
