"""The GitHub App's evaluation handler, built from the intake's services (composition).

``eucora serve`` and ``eucora worker`` hand :func:`pull_request_handler_factory` to the intake's
composition root (``bot.bootstrap.build_intake`` / ``build_worker``): it connects GitHub (the App
or a token, from the settings), the audit log and the evidence store to the PR flows, and
returns the handler the worker calls for each stored delivery.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from bot.adapters.git import GitError
from bot.adapters.github import connector_from_settings
from bot.adapters.keys import audit_signer
from bot.adapters.storage.drift import DriftStore
from bot.adapters.storage.publications import Outbox
from bot.adapters.storage.reviews import ReviewLedger
from bot.adapters.storage.rollouts import RolloutStore
from bot.bootstrap import IntakeServices
from bot.core.approvals import emergency_label
from bot.core.rollout_model import RolloutRecord
from bot.core.webhooks import Delivery
from bot.errors import ConfigError, GitHubError
from bot.flows.approvals import CabApprovals, TeamDirectory, read_config
from bot.flows.check import timezones_of
from bot.flows.deliveries import handle_delivery
from bot.flows.drift import DriftIssues, DriftPass, IssuesFor
from bot.flows.merge import MergePublishing
from bot.flows.publish import Publisher
from bot.flows.pull_request import PullRequestContext
from bot.flows.recording import AuditedEvidence
from bot.flows.rollout_issues import RolloutIssues
from bot.flows.rollouts import Reconciler
from bot.ports import GitHubConnector
from connectors.registry import Connectors, build_connectors


def _now() -> datetime:
    return datetime.now(UTC)


log = logging.getLogger("eucora.wiring")


def _refuse(error: ConfigError) -> Callable[[Delivery], str]:
    def refuse(_delivery: Delivery) -> str:
        raise error

    return refuse


def pull_request_handler_factory(
    services: IntakeServices,
    *,
    connector: GitHubConnector | None = None,
    clock: Callable[[], datetime] = _now,
    planes: Connectors | None = None,
) -> Callable[[Delivery], str]:
    """The handler that evaluates pull requests and answers commands for stored deliveries.

    ``connector`` defaults to the one the settings configure (GitHub App, else token); GitHub
    calls are counted in the intake's metrics (``eucora_github_*``). ``planes`` defaults to the
    planes the ``EUCORA_<PLANE>_*`` settings configure; the publisher it builds is left on
    ``services.publisher`` for the composition root to give a queue.
    """
    settings = services.settings
    metrics = services.metrics
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
            return _refuse(error)
    signer = audit_signer(settings)
    evidence = AuditedEvidence(settings, services.audit, signer=signer, clock=clock)
    github = connector
    approvals = CabApprovals(ReviewLedger(services.engine), TeamDirectory(clock), clock=clock)
    publisher = Publisher(
        outbox=Outbox(services.engine, lease_seconds=settings.publish_lease_seconds),
        connectors=planes if planes is not None else build_connectors(settings.planes),
        github=github,
        evidence=evidence,
        clock=clock,
        public_url=settings.public_url,
        resend_after=timedelta(seconds=settings.sweep_seconds),
    )
    services.publisher = publisher
    publishing = MergePublishing(publisher)

    def context_for(installation_id: int | None) -> PullRequestContext:
        return PullRequestContext(
            github=github.for_installation(installation_id),
            settings=settings,
            evidence=evidence,
            clock=clock,
            approvals=approvals,
            installation_id=installation_id,
            publishing=publishing,
        )

    def handle(delivery: Delivery) -> str:
        try:
            return handle_delivery(delivery, context_for)
        finally:
            remaining = getattr(github, "rate_limit_remaining", None)
            if isinstance(remaining, int):
                metrics.rate_limit("core", remaining)

    return handle


def build_reconciler(
    services: IntakeServices,
    *,
    connector: GitHubConnector | None = None,
    clock: Callable[[], datetime] = _now,
    planes: Connectors | None = None,
    drift_issues: IssuesFor | None = None,
) -> tuple[Reconciler, Publisher]:
    """The reconciler and the publisher its promotions go through (``eucora reconcile``).

    Freeze windows come from ``eucora.yaml`` at the rollout's merge commit (the rules that
    approved it), read through the repository's mirror; the time zones they name from this host.
    """
    settings = services.settings
    github = connector if connector is not None else connector_from_settings(settings)
    signer = audit_signer(settings)
    evidence = AuditedEvidence(settings, services.audit, signer=signer, clock=clock)
    connectors = planes if planes is not None else build_connectors(settings.planes)
    publisher = Publisher(
        outbox=Outbox(services.engine, lease_seconds=settings.publish_lease_seconds),
        connectors=connectors,
        github=github,
        evidence=evidence,
        clock=clock,
        public_url=settings.public_url,
        resend_after=timedelta(seconds=settings.sweep_seconds),
    )

    def config_of(record: RolloutRecord) -> tuple[Mapping[str, Any], Mapping[str, tzinfo]]:
        client = github.for_installation(record.installation_id)
        mirror = client.fetch_revisions(record.repository, [record.merge_sha])
        try:
            config = read_config(mirror, record.merge_sha)
        except GitError as error:
            raise GitHubError(f"reading eucora.yaml of {record.repository}: {error}") from error
        return config, timezones_of(config)

    def issues_for(record: RolloutRecord) -> DriftIssues:
        return github.for_installation(record.installation_id)

    drift = DriftPass(
        store=DriftStore(services.engine),
        planes=connectors,
        issues_for=drift_issues or issues_for,
        queue=publisher,
        audit=evidence,
        config_of=lambda record: config_of(record)[0],
        clock=clock,
    )
    reconciler = Reconciler(
        store=RolloutStore(services.engine),
        planes=connectors,
        publisher=publisher,
        evidence=evidence,
        config_of=config_of,
        clock=clock,
        issues=RolloutIssues(
            github_for=github.for_installation,
            emergency_label_of=lambda record: emergency_label(config_of(record)[0]),
            public_url=settings.public_url,
        ),
        after=drift,
    )
    return reconciler, publisher
