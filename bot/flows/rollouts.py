"""The reconcile pass: every live rollout's gate read, decided and acted on, ring by ring.

One pass (``eucora reconcile --once``, or the periodic task) takes the ``reconcile`` lease (one
replica at a time), starts a rollout for each merge publication that succeeded since the last
pass, and for each live rollout:

1. reads the watched ring's install outcomes from its plane (the connector's ``outcomes`` verb;
   a failed read is a :class:`~bot.core.rollout_model.ReadFailure`, never "nothing installed"),
   once its publication ran (a promotion still queued is not on the plane: skipped this pass);
2. asks the pure core (:func:`bot.core.gates.decide`) what the gate says and what to do;
3. writes a rollout evidence pack (``RolloutPack``: outcomes, gate inputs, verdict) when the
   decision moves the rollout, then saves the new state conditionally on the revision it read,
   in the same transaction as the next ring's outbox row (a promotion is recorded exactly once,
   whatever the number of reconcilers);
4. acts: sends the promotion to the publish queue (its GitHub Deployment ``<plane>/<ring>`` and
   statuses come from the publisher, as for the first ring), marks a halted ring's deployment
   failed, and audits every step.

Every outside thing comes in through the constructor; the clock too.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, tzinfo
from typing import Any

from bot.core.audit_events import AuditEventType
from bot.core.gates import (
    Alert,
    ClearAlert,
    Complete,
    Decision,
    Freeze,
    Halt,
    Hold,
    Promote,
    decide,
    ring_gates,
)
from bot.core.publishing import idempotency_key
from bot.core.rollout_evidence import action_to_json, build_rollout_pack, moves
from bot.core.rollout_model import (
    OWED_PREFIX,
    GatePolicy,
    Promotion,
    ReadFailure,
    Reading,
    RingPhase,
    RolloutRecord,
    RolloutState,
    gate_policy,
)
from bot.errors import (
    EucoraError,
    GitHubError,
    PermanentConnectorError,
    TransientConnectorError,
)
from bot.flows.rollout_issues import RolloutIssues, owed_kinds
from bot.ports import (
    AfterRollouts,
    OutcomeReaders,
    PackRecorder,
    PromotionSender,
    RolloutStore,
)
from connectors.base import Publication, Ring

log = logging.getLogger("eucora.rollouts")

LEASE = "reconcile"
ROLLOUT_STARTED = AuditEventType.ROLLOUT_STARTED.value
ROLLOUT_DECIDED = AuditEventType.ROLLOUT_DECIDED.value
ROLLOUT_PROMOTED = AuditEventType.ROLLOUT_PROMOTED.value
ROLLOUT_HALTED = AuditEventType.ROLLOUT_HALTED.value
ROLLOUT_HELD = AuditEventType.ROLLOUT_HELD.value
ROLLOUT_ALERT = AuditEventType.ROLLOUT_ALERT.value
ROLLOUT_COMPLETED = AuditEventType.ROLLOUT_COMPLETED.value


ConfigOf = Callable[[RolloutRecord], tuple[Mapping[str, Any], Mapping[str, tzinfo]]]
"""A rollout's ``eucora.yaml`` (its freeze windows) and the time zones it names."""


@dataclass(slots=True)
class PassReport:
    """What one reconcile pass did (for the CLI, logs and tests)."""

    leased: bool = True
    started: int = 0
    looked_at: int = 0
    promoted: list[str] = field(default_factory=list)
    halted: list[str] = field(default_factory=list)
    held: list[str] = field(default_factory=list)
    completed: list[str] = field(default_factory=list)
    alerts: list[str] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)
    """Rollouts whose gate passed but whose promotion waits (a schedule, a freeze window)."""
    read_errors: int = 0
    failed: list[str] = field(default_factory=list)
    """Rollouts this pass could not reconcile (their configuration could not be read...)."""
    lost_races: int = 0
    plane_reads: int = 0
    issues_sent: list[str] = field(default_factory=list)
    """Issues owed by an earlier pass (GitHub failed then) sent by this one."""
    drift: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """The report as people read it, one fact a line."""
        if not self.leased:
            return ["another reconciler holds the lease: nothing done"]
        out = [f"{self.looked_at} live rollouts looked at, {self.started} started"]
        out += [f"promoted {name}" for name in self.promoted]
        out += [f"halted {name}" for name in self.halted]
        out += [f"held {name}" for name in self.held]
        out += [f"completed {name}" for name in self.completed]
        out += [f"alert: {text}" for text in self.alerts]
        out += [f"waiting {text}" for text in self.waiting]
        out += [f"not reconciled {text}" for text in self.failed]
        out += [f"owed issue sent {text}" for text in self.issues_sent]
        if self.read_errors:
            out.append(f"{self.read_errors} plane reads failed (counted, retried next pass)")
        return out + self.drift


class Reconciler:
    """Runs reconcile passes (see the module docstring)."""

    def __init__(  # noqa: PLR0913 - the services a pass touches
        self,
        *,
        store: RolloutStore,
        planes: OutcomeReaders,
        publisher: PromotionSender,
        evidence: PackRecorder,
        config_of: ConfigOf,
        clock: Callable[[], datetime],
        policy: GatePolicy | None = None,
        lease_seconds: float = 300.0,
        holder: str | None = None,
        issues: RolloutIssues | None = None,
        after: AfterRollouts | None = None,
    ) -> None:
        self._issues = issues  # halted/held/stuck issues and the rollback PR (None: not sent)
        self._store = store
        self._planes = planes
        self._publisher = publisher
        self._evidence = evidence
        self._config_of = config_of
        self._clock = clock
        self._policy = policy  # None: each rollout's eucora.yaml decides (``rollouts``)
        self._lease_seconds = lease_seconds
        self._holder = holder or f"reconciler-{uuid.uuid4().hex[:12]}"
        self._after = after
        self._leased_at: datetime | None = None

    def run_once(self) -> PassReport:
        """One pass over every live rollout, under the ``reconcile`` lease."""
        report = PassReport()
        now = self._clock()
        if not self._store.lease(LEASE, self._holder, now=now, seconds=self._lease_seconds):
            report.leased = False
            return report
        self._leased_at = now
        try:
            for record in self._store.start_published(now=now):
                report.started += 1
                self._audit(ROLLOUT_STARTED, record, {"rings": _ring_names(record.state)})
            self._settle_owed(report)
            for record in self._store.live():
                if not self._keep_lease():
                    return report
                report.looked_at += 1
                try:
                    self._reconcile(record, report)
                except EucoraError as error:  # reported; the rollout is tried again next pass
                    log.warning("rollout %s not reconciled: %s", record.id, error)
                    report.failed.append(f"{_name(record)}: {_one_line(error)}")
            if self._after is not None and self._keep_lease():  # the drift pass
                report.drift = self._after.run().lines()
        finally:
            self._store.release(LEASE, self._holder)
        return report

    def _keep_lease(self) -> bool:
        """Renew the lease once a third of it has gone by; ``False`` once another has it.

        A long pass keeps the lease; a replica that died in its pass loses it within one lease.
        """
        now = self._clock()
        if self._leased_at is not None and now - self._leased_at < timedelta(
            seconds=self._lease_seconds / 3
        ):
            return True
        if self._store.lease(LEASE, self._holder, now=now, seconds=self._lease_seconds):
            self._leased_at = now
            return True
        log.warning("the reconcile lease lapsed during the pass: another reconciler has it")
        return False

    def _reconcile(self, record: RolloutRecord, report: PassReport) -> None:
        now = self._clock()
        gates = ring_gates(record.intent)
        state = record.state
        watched = state.rings[state.current] if state.rings else None
        readings: dict[str, Reading] = {}
        if watched is not None and watched.phase in {RingPhase.ACTIVE, RingPhase.HELD}:
            if self._store.in_flight(record, state.current):
                return  # not on the plane yet: nothing to read (never a failed read), to decide
            readings[watched.name] = self._read(record, state.current, report)
        config, zones = self._config_of(record)
        policy = self._policy or gate_policy(config)
        decision = decide(
            gates=gates,
            state=state,
            readings=readings,
            policy=policy,
            freeze=Freeze(config=config, zones=zones, emergency=record.emergency),
            now=now,
        )
        waits = [r.removeprefix("promotion waits: ") for r in decision.reasons if "waits:" in r]
        if waits:
            report.waiting.append(f"{_name(record)}: {'; '.join(waits)}")
        if decision.state == state and not decision.actions:
            return
        digest = None
        if moves(decision):
            digest = self._evidence.record_pack(
                build_rollout_pack(
                    repository=record.repository,
                    pr=record.pr,
                    merge_sha=record.merge_sha,
                    change_digest=None,
                    path=record.path,
                    gate=gates[state.current],
                    policy=policy,
                    decision=decision,
                    decided_at=now,
                ),
                correlation_id=_correlation(record),
                repository=record.repository,
                pr=record.pr,
                head_sha=record.merge_sha,
            )
        promotion = self._promotion(record, decision)
        owed = owed_kinds(decision) if self._issues is not None else frozenset()
        state = _owing(decision.state, owed)  # until GitHub took them (crash-safe too)
        saved, publication_id = self._store.save(record, state, now=now, promotion=promotion)
        if not saved:
            report.lost_races += 1
            return
        unsent = self._act(record, decision, digest, publication_id, report)
        if owed - unsent:
            after = replace(record, state=state, revision=record.revision + 1)
            self._store.save(after, _owing(state, unsent, clear=owed - unsent), now=now)
        if _face(decision.state) != _face(record.state):
            self._refresh_comment(record)

    def _refresh_comment(self, record: RolloutRecord) -> None:
        try:
            self._publisher.refresh_comment(record.change_id)
        except GitHubError as error:  # the next move, or the change's close, edits it again
            log.warning("rollout %s: comment not updated (%s)", record.id, error)

    def _settle_owed(self, report: PassReport) -> None:
        """Send the issues an earlier pass could not (GitHub failed), halted rollouts' too."""
        if self._issues is None:
            return
        for record in self._store.owing():
            owed = frozenset(
                a.removeprefix(OWED_PREFIX)
                for a in record.state.alerts
                if a.startswith(OWED_PREFIX)
            )
            unsent = self._issues.settle(record, owed)
            if owed - unsent:
                state = _owing(record.state, unsent, clear=owed - unsent)
                if self._store.save(record, state, now=self._clock())[0]:
                    report.issues_sent += [f"{_name(record)}: {k}" for k in sorted(owed - unsent)]

    def _read(self, record: RolloutRecord, step: int, report: PassReport) -> Reading:
        connector = self._planes.get(record.state.plane)
        if connector is None:
            report.read_errors += 1
            return ReadFailure(f"{record.state.plane} is not configured on this installation")
        report.plane_reads += 1
        try:
            return connector.outcomes(ring_publication(record, step))
        except (TransientConnectorError, PermanentConnectorError) as error:
            report.read_errors += 1
            return ReadFailure(_one_line(error))
        except Exception as error:  # an unexpected failure is a failed read, counted and audited
            log.exception("rollout %s: reading outcomes failed", record.id)
            report.read_errors += 1
            return ReadFailure(f"unexpected {type(error).__name__}: {_one_line(error)}")

    @staticmethod
    def _promotion(record: RolloutRecord, decision: Decision) -> Promotion | None:
        for action in decision.actions:
            if isinstance(action, Promote):
                ring = _intent_ring(record.intent, action.ring)
                return Promotion(
                    ring=action.ring,
                    step=action.index,
                    target=str(ring.get("target", "")),
                    idempotency_key=idempotency_key(
                        record.state.intent, record.state.version, action.ring
                    ),
                    evidence_digest=record.evidence_digest,
                )
        return None

    def _act(
        self,
        record: RolloutRecord,
        decision: Decision,
        digest: str | None,
        publication_id: int | None,
        report: PassReport,
    ) -> frozenset[str]:
        name = _name(record)
        common = {
            "verdict": decision.verdict.value,
            "ring": decision.ring,
            "reasons": list(decision.reasons),
            "evidence": digest,
        }
        self._audit(ROLLOUT_DECIDED, record, {**common, "actions": _actions(decision)})
        for action in decision.actions:
            match action:
                case Promote(ring=ring):
                    report.promoted.append(f"{name} to {ring}")
                    self._audit(ROLLOUT_PROMOTED, record, {**common, "to": ring})
                    if publication_id is not None:
                        self._publisher.enqueue([publication_id])
                case Halt(ring=ring, reason=reason):
                    report.halted.append(f"{name} at {ring}: {reason}")
                    self._audit(ROLLOUT_HALTED, record, common)
                    self._fail_deployment(record, decision, reason)
                case Hold(ring=ring, reason=reason):
                    report.held.append(f"{name} at {ring}: {reason}")
                    self._audit(ROLLOUT_HELD, record, common)
                case Alert(kind=kind, reason=reason):
                    report.alerts.append(f"{name}: {reason}")
                    self._audit(ROLLOUT_ALERT, record, {**common, "kind": kind})
                case Complete():
                    report.completed.append(name)
                    self._audit(ROLLOUT_COMPLETED, record, common)
                case ClearAlert():
                    pass
        if self._issues is not None:  # after the save: a GitHub failure never loses the decision
            return self._issues.act(record, decision, digest)
        return frozenset()

    def _fail_deployment(self, record: RolloutRecord, decision: Decision, reason: str) -> None:
        step = next(
            (i for i, ring in enumerate(decision.state.rings) if ring.name == decision.ring), 0
        )
        publication_id = self._store.step_publication(record, step)
        if publication_id is None:
            return
        try:
            self._publisher.fail_deployment(publication_id, f"halted: {reason}")
        except GitHubError as error:  # the halt stands; the PR's deployment shows it later
            log.warning("rollout %s: deployment not marked failed (%s)", record.id, error)

    def _audit(self, type_: str, record: RolloutRecord, payload: dict[str, Any]) -> None:
        self._evidence.audit(
            type_,
            correlation_id=_correlation(record),
            repository=record.repository,
            pr=record.pr,
            head_sha=record.merge_sha,
            payload={
                "rollout": record.id,
                "intent": record.state.intent,
                "version": record.state.version,
                "plane": record.state.plane,
                **payload,
            },
        )


def _owing(
    state: RolloutState, owed: frozenset[str], *, clear: frozenset[str] = frozenset()
) -> RolloutState:
    """``state`` with the issues of ``owed`` marked owed and those of ``clear`` no longer."""
    marks = {f"{OWED_PREFIX}{kind}" for kind in owed}
    gone = {f"{OWED_PREFIX}{kind}" for kind in clear}
    alerts = (state.alerts | marks) - gone
    return state if alerts == state.alerts else replace(state, alerts=alerts)


def _name(record: RolloutRecord) -> str:
    return f"{record.state.intent} {record.state.version} ({record.state.plane})"


def _correlation(record: RolloutRecord) -> str:
    return f"rollout-{record.id}"


def _face(state: RolloutState) -> tuple[Any, ...]:
    """What the comment's rollout section shows of a state, less counts and the soak left.

    The comment is edited when this changes (a ring started, passed, failed or was held; the
    rollout halted, completed; an alert), not on every pass that read new counts.
    """
    rings = tuple((ring.phase, ring.reporting_since is None) for ring in state.rings)
    return (state.phase, state.reason, state.alerts, rings)


def _ring_names(state: RolloutState) -> list[str]:
    return [ring.name for ring in state.rings]


def _actions(decision: Decision) -> list[dict[str, Any]]:
    return [action_to_json(a) for a in decision.actions]


def _intent_ring(intent: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    for ring in intent.get("rings", []):
        if isinstance(ring, Mapping) and ring.get("name") == name:
            return ring
    return {}


def ring_publication(record: RolloutRecord, step: int) -> Publication:
    """The connector's view of the rollout's ring ``step`` (what the pass reads outcomes of)."""
    ring = record.intent["rings"][step]
    return Publication(
        intent=record.intent,
        ring=Ring(
            name=str(ring["name"]),
            target=str(ring["target"]),
            devices=int(ring.get("devices", 0)),
            assignment=str(ring.get("assignment", "required")),
        ),
        idempotency_key=idempotency_key(
            record.state.intent, record.state.version, str(ring["name"])
        ),
        evidence_digest=record.evidence_digest,
    )


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())[:500] or type(error).__name__


def every(interval: timedelta, clock: Callable[[], datetime]) -> Callable[[], bool]:
    """A gate for a periodic caller: true at most once per ``interval`` (the first call: true)."""
    last: list[datetime] = []

    def due() -> bool:
        now = clock()
        if last and now - last[0] < interval:
            return False
        last[:] = [now]
        return True

    return due
