"""Run one publication from the outbox, report it on the PR, close the change when all are final.

The merge flow (``bot.flows.merge``) records the publications before anything is called; this
module is the task body the queue runs for a publication id (a Celery task in ``eucora worker``,
or :class:`~bot.adapters.publish_queue.InProcessPublisher` threads without a broker):

1. claim the row (a lease; a duplicate or late message finds it final or leased and stops);
2. make sure the publication has its GitHub Deployment (environment ``<plane>/<ring>``) and say
   ``in_progress``;
3. call the plane's connector with the row as its journal (find-or-create by the idempotency
   key, launch ids saved before anything else); a ``retire`` row (the merge deleted the intent)
   calls ``Connector.retire`` instead, which is idempotent (what is gone stays gone);
4. report the outcome as the deployment's status, then record it on the row: transient errors
   are retried later with backoff (``bot.core.publishing.retry_decision``), permanent ones fail
   at once with the vendor's message;
5. when every publication of the change is final: store the ``ChangePack`` (with the results),
   edit the sticky comment's publication table, and mark the change final.

A crash anywhere leaves the row ``in_progress`` with a lease; the sweeper (:meth:`Publisher.sweep`)
sends it again when the lease has expired, and the connector finds what the lost attempt created.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from bot.core.audit_events import AuditEventType
from bot.core.github_model import DEPLOYMENT_DESCRIPTION_MAX, EVIDENCE_MARKER, one_line
from bot.core.publishing import (
    MAX_ATTEMPTS,
    PublicationAction,
    PublicationState,
    PublicationView,
    build_change_pack,
    deployment_status,
    retry_decision,
)
from bot.core.records import ChangeRow, PublicationClaim, PublicationRow
from bot.core.render.publications import publication_table
from bot.core.render.rollout_section import rollout_section
from bot.core.rollout_model import RolloutRecord
from bot.errors import (
    GitHubError,
    LeaseLostError,
    PermanentConnectorError,
    TransientConnectorError,
)
from bot.ports import (
    ConnectorSet,
    GitHub,
    GitHubConnector,
    Outbox,
    PackRecorder,
    PublicationQueue,
)
from connectors.base import Connector, Publication, Ring

log = logging.getLogger("eucora.publish")

STARTED = AuditEventType.PUBLICATION_STARTED
SUCCEEDED = AuditEventType.PUBLICATION_SUCCEEDED
RETRYING = AuditEventType.PUBLICATION_RETRY_SCHEDULED
FAILED = AuditEventType.PUBLICATION_FAILED
REPORT_DELAYED = AuditEventType.PUBLICATION_REPORT_DELAYED
CHANGE_PUBLISHED = AuditEventType.CHANGE_PUBLISHED
CRASH_LOOP_ATTEMPTS = 2 * MAX_ATTEMPTS
"""Claims after which a publication that never recorded an outcome fails (its task kills its
worker every time: an out-of-memory installer, a segfaulting library). Twice the retry budget,
because waiting for GitHub to take a final status also costs claims."""
REPORT_RETRY = timedelta(seconds=30)
"""How long to wait before reporting again when GitHub refused a deployment status."""

RolloutsOfPr = Callable[[str, int], Sequence[RolloutRecord]]
"""A merged PR's rollouts (``RolloutStore.of_pr``), for the comment's rollout section."""


def publication_of(row: PublicationRow) -> Publication:
    """The connector's view of an outbox row."""
    return Publication(
        intent=row.intent,
        ring=_ring(row.intent, row.ring, row.target),
        idempotency_key=row.idempotency_key,
        evidence_digest=row.evidence_digest,
    )


def publication_fields(row: PublicationRow) -> dict[str, Any]:
    """What every audit event about a publication names: which one, where, what.

    A retirement also says ``"action": "retire"`` (a publication's events keep their bytes).
    """
    retire = {"action": row.action} if row.action == PublicationAction.RETIRE else {}
    return retire | {
        "publication": row.id,
        "plane": row.plane,
        "ring": row.ring,
        "intent": row.intent_name,
        "version": row.version,
        "idempotencyKey": row.idempotency_key,
    }


def _ring(intent: Mapping[str, Any], name: str, target: str) -> Ring:
    for ring in intent.get("rings") or ():
        if isinstance(ring, Mapping) and ring.get("name") == name:
            return Ring(
                name=name,
                target=str(ring.get("target", target)),
                devices=int(ring.get("devices", 0)),
                assignment=str(ring.get("assignment", "required")),
            )
    return Ring(name=name, target=target, devices=0, assignment="required")


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return text[:500]


class Publisher:
    """Runs publications and closes changes (see the module docstring).

    ``queue`` is where runs are sent (``bot.bootstrap`` builds it first, bound to :meth:`run`
    through a relay); ``None`` sends nothing, and the sweeper does the sending.
    """

    def __init__(  # noqa: PLR0913 - the services a publication touches
        self,
        *,
        outbox: Outbox,
        queue: PublicationQueue | None,
        connectors: ConnectorSet,
        github: GitHubConnector,
        evidence: PackRecorder,
        clock: Callable[[], datetime],
        public_url: str | None = None,
        jitter: Callable[[], float] = random.random,
        resend_after: timedelta = timedelta(seconds=15),
        rollouts: RolloutsOfPr | None = None,
    ) -> None:
        self.outbox = outbox
        self._rollouts = rollouts
        self.connectors = connectors
        self.queue = queue
        self._github = github
        self._evidence = evidence
        self._clock = clock
        self._public_url = public_url
        self._jitter = jitter
        self._resend_after = resend_after

    # --- sending ---------------------------------------------------------------------------

    def enqueue(self, ids: Sequence[int], *, delay: float = 0.0) -> None:
        """Send each publication id to the queue; a failed send is left to the sweeper."""
        if self.queue is None:
            return
        for publication_id in ids:
            try:
                self.queue.send(publication_id, delay=delay)
            except Exception:  # noqa: BLE001 - the outbox row stays due; the sweeper re-sends
                log.warning("could not queue publication %s; the sweeper will", publication_id)

    def sweep(self, *, now: datetime | None = None) -> int:
        """Re-send due and abandoned publications; close changes whose publications are final.

        Only rows due (or whose lease expired) at least ``resend_after`` ago: a row that just
        became due still has its message on the way, and re-sending it would only add messages
        that find nothing to do.
        """
        moment = now or self._clock()
        due = self.outbox.due(now=moment - self._resend_after)
        self.enqueue(due)
        for change in self.outbox.unfinished_changes():
            try:
                self.finalize(change.id)  # nothing when some publication is not final yet
            except GitHubError as error:
                log.warning("change %s: cannot report yet (%s)", change.id, error)
        return len(due)

    def evidence_url(self, digest: str | None) -> str | None:
        """The evidence page of a pack, when ``EUCORA_PUBLIC_URL`` says where it is served."""
        if not digest or not self._public_url:
            return None
        return f"{self._public_url.rstrip('/')}/evidence/{digest}"

    # --- one publication -------------------------------------------------------------------

    def run(self, publication_id: int) -> str:
        """Claim and run one publication; return what happened (for logs and tests)."""
        claim = self.outbox.claim(publication_id, now=self._clock())
        if claim is None:
            return "skipped"
        row = claim.row
        change = self.outbox.change(row.change_id)
        if change is None:  # pragma: no cover - a foreign key guarantees it
            return "skipped"
        github = self._github.for_installation(change.installation_id)
        self._audit(STARTED, change, row, {"attempt": row.attempts})
        deployment = self._deployment(github, change, row)
        if row.attempts > CRASH_LOOP_ATTEMPTS:
            # Claimed this often without an outcome recorded: each attempt killed its worker.
            lost = PermanentConnectorError(
                f"gave up after {row.attempts - 1} attempts that ended without an outcome"
                " (the worker was lost each time)"
            )
            return self._settle(github, claim, change, deployment, lost)
        self._status(github, row, deployment, row.view())
        try:
            outcome = self._publish(claim)
        except LeaseLostError:
            log.warning("publication %s: lease lost to another worker", row.id)
            return "lease-lost"
        return self._settle(github, claim, change, deployment, outcome)

    def _publish(self, claim: PublicationClaim) -> BaseException | Mapping[str, Any]:
        row = claim.row
        connector = self.connectors.get(row.plane)
        if connector is None:
            name = row.plane.upper()
            return PermanentConnectorError(
                f"{row.plane} is not configured on this EUCORA installation"
                f" (set EUCORA_{'AWX' if name == 'ANSIBLE' else name}_URL and its credentials)"
            )
        try:
            if row.action == PublicationAction.RETIRE:
                return self._retire(connector, claim)
            result = connector.publish(publication_of(row), self.outbox.journal(claim))
        except LeaseLostError:
            raise
        except (TransientConnectorError, PermanentConnectorError) as error:
            return error
        except Exception as error:  # an unexpected failure is retried, bounded by the attempts
            log.exception("publication %s: unexpected failure", row.id)
            return TransientConnectorError(f"unexpected {type(error).__name__}: {error}")
        return {  # PublishResult's fields by name (PublicationRow.view reads them)
            "object_id": result.object_id,
            "created": result.created,
            "url": result.url,
            "details": dict(result.details),
        }

    def _retire(self, connector: Connector, claim: PublicationClaim) -> Mapping[str, Any]:
        """Remove a deleted intent from its plane; the result lists what the plane recorded."""
        row = claim.row
        connector.retire(row.intent_name, self.outbox.journal(claim))
        fresh = self.outbox.get(row.id)
        notes = fresh.journal if fresh is not None else {}
        return {
            "object_id": None,
            "created": False,
            "url": None,
            "details": {"retired": row.intent_name, **notes},
        }

    def _settle(
        self,
        github: GitHub,
        claim: PublicationClaim,
        change: ChangeRow,
        deployment: int | None,
        outcome: BaseException | Mapping[str, Any],
    ) -> str:
        row = claim.row
        now = self._clock()
        if isinstance(outcome, Mapping):
            view = _with(row.view(), state=PublicationState.SUCCEEDED, result=outcome)
            if not self._report(github, claim, deployment, view):
                return "report-delayed"
            if self.outbox.succeed(claim, outcome, now=now):
                self._audit(SUCCEEDED, change, row, {"result": dict(outcome)})
            word = "succeeded"
        else:
            transient = isinstance(outcome, TransientConnectorError)
            decision = retry_decision(
                attempts=row.attempts,
                transient=transient,
                retry_after=(
                    outcome.retry_after if isinstance(outcome, TransientConnectorError) else None
                ),
                jitter=self._jitter(),
            )
            error = _one_line(outcome)
            if decision.retry:
                not_before = now + timedelta(seconds=decision.delay_seconds)
                if self.outbox.retry_later(claim, error=error, not_before=not_before, now=now):
                    self._audit(RETRYING, change, row, {"error": error, "why": decision.reason})
                    self.enqueue([row.id], delay=decision.delay_seconds)
                return "retrying"
            view = _with(row.view(), state=PublicationState.FAILED, error=error)
            if not self._report(github, claim, deployment, view):
                return "report-delayed"
            if self.outbox.fail(claim, error=error, now=now):
                self._audit(FAILED, change, row, {"error": error, "why": decision.reason})
            word = "failed"
        try:
            self.finalize(change.id)  # the last publication of the change closes it
        except GitHubError as error:
            log.warning("change %s: cannot report yet (%s); the sweeper will", change.id, error)
        return word

    def _report(
        self, github: GitHub, claim: PublicationClaim, deployment: int | None, view: Any
    ) -> bool:
        """Post the final deployment status; when GitHub refuses, try again later."""
        if deployment is None or self._status(github, claim.row, deployment, view):
            return True
        now = self._clock()
        if self.outbox.retry_later(
            claim,
            error="the plane is done; reporting to GitHub failed, will report again",
            not_before=now + REPORT_RETRY,
            now=now,
        ):
            self.enqueue([claim.row.id], delay=REPORT_RETRY.total_seconds())
        return False

    # --- GitHub -----------------------------------------------------------------------------

    def _deployment(self, github: GitHub, change: ChangeRow, row: PublicationRow) -> int | None:
        if row.deployment_id is not None:
            return row.deployment_id
        environment = f"{row.plane}/{row.ring}"
        description = (
            f"retire {row.intent_name} {row.version} from {row.plane} (deleted)"
            if row.action == PublicationAction.RETIRE
            else f"{row.intent_name} {row.version} to {row.ring} ({row.target})"
        )[:140]
        try:
            deployment = self._earlier_deployment(github, change, row, environment)
            if deployment is None:
                deployment = github.create_deployment(
                    change.repository,
                    ref=change.merge_sha,
                    environment=environment,
                    description=description,
                    payload={
                        "publication": row.id,
                        "idempotencyKey": row.idempotency_key,
                        "evidence": row.evidence_digest,
                    },
                )
        except GitHubError as error:
            log.warning("publication %s: no deployment on GitHub (%s)", row.id, error)
            return None
        self.outbox.set_deployment(row.id, deployment)
        return deployment

    @staticmethod
    def _earlier_deployment(
        github: GitHub, change: ChangeRow, row: PublicationRow, environment: str
    ) -> int | None:
        """The deployment an earlier claim created but died before recording, if any.

        Asked only from the second claim on: a first claim cannot have created one.
        """
        if row.attempts <= 1:
            return None
        return github.find_deployment(
            change.repository,
            sha=change.merge_sha,
            environment=environment,
            payload={"publication": row.id, "idempotencyKey": row.idempotency_key},
        )

    def _status(
        self, github: GitHub, row: PublicationRow, deployment: int | None, view: PublicationView
    ) -> bool:
        if deployment is None:
            return False
        state, description = deployment_status(view)
        try:
            github.create_deployment_status(
                row.repository,
                deployment,
                state=state,
                description=description,
                log_url=self.evidence_url(row.evidence_digest),
                environment_url=view.url,
            )
        except GitHubError as error:
            log.warning("publication %s: status %s not posted (%s)", row.id, state, error)
            return False
        return True

    def fail_deployment(self, publication_id: int, description: str) -> None:
        """Mark a publication's deployment ``failure`` (its ring's gate halted the rollout).

        Raises ``GitHubError`` when GitHub refuses; nothing when the row has no deployment.
        """
        row = self.outbox.get(publication_id)
        change = self.outbox.change(row.change_id) if row is not None else None
        if row is None or change is None or row.deployment_id is None:
            return
        self._github.for_installation(change.installation_id).create_deployment_status(
            row.repository,
            row.deployment_id,
            state="failure",
            description=one_line(description, DEPLOYMENT_DESCRIPTION_MAX),
            log_url=self.evidence_url(row.evidence_digest),
            environment_url=row.view().url,
        )

    # --- the change -------------------------------------------------------------------------

    def views(self, change_id: int) -> tuple[PublicationView, ...]:
        """The change's publications as people see them."""
        return tuple(row.view() for row in self.outbox.publications(change_id))

    def comment(
        self,
        change: ChangeRow,
        *,
        change_digest: str | None = None,
        views: Sequence[PublicationView] | None = None,
    ) -> str:
        """The sticky comment: the PR's report at merge, the publication table, the rollouts.

        ``views`` are the change's publications when the caller has just read them. The rollout
        section is comment text only: the change pack never holds it.
        """
        table = publication_table(
            self.views(change.id) if views is None else views,
            change_url=self.evidence_url(change_digest),
        )
        text = f"{change.comment_head.rstrip()}\n\n{table}\n"
        if self._rollouts is not None:
            section = rollout_section(
                self._rollouts(change.repository, change.pr), now=self._clock()
            )
            text += f"\n{section}" if section else ""
        return text

    def refresh_comment(self, change_id: int) -> None:
        """Edit the sticky comment in place (a rollout moved): same head, table and digest.

        Raises ``GitHubError`` when GitHub refuses; the next move or the change's close edits
        it again.
        """
        change = self.outbox.change(change_id)
        if change is None:
            return
        self._github.for_installation(change.installation_id).upsert_comment(
            change.repository,
            change.pr,
            EVIDENCE_MARKER,
            self.comment(change, change_digest=change.final_digest),
        )

    def finalize(self, change_id: int) -> str | None:
        """Store the change pack with every result, edit the comment, mark the change final.

        Runs when the last publication is final (and again from the sweeper if reporting
        failed). The pack is a function of the rows, so two workers racing here store the
        same bytes under the same digest.
        """
        change = self.outbox.change(change_id)
        if change is None or not self.outbox.all_final(change_id):
            return None
        facts = change.facts
        views = self.views(change_id)  # final: the pack, the comment and the event share them
        pack = build_change_pack(
            repository=change.repository,
            pr=change.pr,
            head_sha=change.head_sha,
            merge_sha=change.merge_sha,
            check_digest=change.check_digest or "",
            merged_at=str(facts.get("mergedAt", "")),
            approvals=list(facts.get("approvals", [])),
            decision=dict(facts.get("decision", {})),
            emergency=change.emergency,
            post_implementation_review=_review(facts, change.followup_issue),
            publications=views,
        )
        digest = self._evidence.record_pack(
            pack,
            correlation_id=change.correlation_id,
            repository=change.repository,
            pr=change.pr,
            head_sha=change.merge_sha,
        )
        github = self._github.for_installation(change.installation_id)
        github.upsert_comment(
            change.repository,
            change.pr,
            EVIDENCE_MARKER,
            self.comment(change, change_digest=digest, views=views),
        )
        if self.outbox.finalize_change(change_id, final_digest=digest, now=self._clock()):
            self._evidence.audit(
                CHANGE_PUBLISHED,
                correlation_id=change.correlation_id,
                repository=change.repository,
                pr=change.pr,
                head_sha=change.merge_sha,
                payload={
                    "changeDigest": digest,
                    "succeeded": sum(v.state == PublicationState.SUCCEEDED for v in views),
                    "failed": sum(v.state == PublicationState.FAILED for v in views),
                },
            )
        return digest

    def _audit(
        self, type_: str, change: ChangeRow, row: PublicationRow, extra: Mapping[str, Any]
    ) -> None:
        self._evidence.audit(
            type_,
            correlation_id=change.correlation_id,
            repository=change.repository,
            pr=change.pr,
            head_sha=change.merge_sha,
            payload={**publication_fields(row), **extra},
        )


def _review(facts: Mapping[str, Any], issue: int | None) -> dict[str, Any] | None:
    review = facts.get("postImplementationReview")
    if not isinstance(review, Mapping):
        return None
    return {**review, "issue": issue}


def _with(
    view: PublicationView,
    *,
    state: PublicationState,
    result: Mapping[str, Any] | None = None,
    error: str | None = None,
) -> PublicationView:
    """The view of a row as it is about to be recorded (for the status posted before)."""
    result = result or {}
    return replace(
        view,
        state=state.value,
        object_id=result.get("object_id", view.object_id),
        url=result.get("url", view.url),
        created=result.get("created", view.created),
        error=error,
    )
