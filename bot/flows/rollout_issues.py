"""What a rollout tells people on GitHub: halted / held / stuck issues and the rollback PR.

Called by the reconciler (``bot.flows.rollouts.Reconciler._act``) after the decision is saved:
a GitHub failure here is logged and never undoes the decision. Each issue is found again by its
marker (one per rollout and kind), so a second pass edits it instead of opening another.

The rollback pull request (``rollback.strategy: previous-version``) sets the intent file back to
the file as it was at the last commit of the default branch (the merge's history) whose
``app.version`` was ``rollback.previousVersion``: the previous package fields come from there.
When no commit holds that version, the halt issue says so and no PR is opened.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import yaml

from bot.core.errors import GitError
from bot.core.gates import Alert, ClearAlert, Decision, Halt, Hold, Verdict, ring_gates
from bot.core.render import rollout_issues as render
from bot.core.rollout_model import RingOutcomes, RingPhase, RingState, RolloutRecord
from bot.errors import GitHubError
from bot.ports import GitHub, Revisions

log = logging.getLogger("eucora.rollouts")

MAX_HISTORY = 200
"""Commits of the intent file's history searched for the previous version."""


@dataclass(frozen=True, slots=True)
class PreviousIntent:
    """The intent file at the last commit with the previous version."""

    sha: str
    content: bytes


class RolloutIssues:
    """Opens, edits and closes a rollout's issues; opens its rollback pull request."""

    def __init__(
        self,
        *,
        github_for: Callable[[int | None], GitHub],
        emergency_label_of: Callable[[RolloutRecord], str],
        public_url: str | None = None,
    ) -> None:
        self._github_for = github_for
        self._emergency_label_of = emergency_label_of
        self._public_url = (public_url or "").rstrip("/") or None

    def _facts(
        self, record: RolloutRecord, decision: Decision, digest: str | None
    ) -> render.RolloutFacts:
        gates = ring_gates(record.intent)
        step = next((i for i, r in enumerate(decision.state.rings) if r.name == decision.ring), 0)
        gate = gates[step] if step < len(gates) else None
        evidence = (
            f"{self._public_url}/evidence/{digest}" if digest and self._public_url else digest
        )
        return render.RolloutFacts(
            rollout_id=record.id,
            repository=record.repository,
            pr=record.pr,
            intent=record.state.intent,
            version=record.state.version,
            plane=record.state.plane,
            ring=decision.ring,
            reasons=decision.reasons,
            outcomes=decision.outcomes,
            gate=_gate_fields(gate),
            evidence_url=evidence,
        )

    def act(self, record: RolloutRecord, decision: Decision, digest: str | None) -> frozenset[str]:
        """Tell GitHub about each of the decision's actions that people must see.

        Returns the kinds of issue (:func:`owed_kinds`) GitHub did not take: still owed.
        """
        unsent: set[str] = set()
        for action in decision.actions:
            match action:
                case Halt():
                    sent = self.halted(record, decision, digest)
                case Hold():
                    sent = self.held(record, decision, digest)
                case Alert(kind="stuck", reason=reason):
                    said = replace(decision, reasons=(reason, *decision.reasons))
                    sent = self.stuck(record, said, digest)
                case ClearAlert(kind="stuck"):
                    sent = self.cleared(record, "stuck", decision.reasons)
                case _:
                    sent = True
            if not sent and (kind := _KINDS.get(type(action))) is not None:
                unsent.add(kind)
        return frozenset(unsent & owed_kinds(decision))

    def settle(self, record: RolloutRecord, kinds: frozenset[str]) -> frozenset[str]:
        """Send the issues a failed GitHub call left owed, from the stored state; the unsent.

        The outcomes shown are the counts the rollout remembers (the error sample stays in the
        rollout evidence of the decision). A stuck issue whose alert has cleared meanwhile is no
        longer owed.
        """
        unsent: set[str] = set()
        for kind in kinds:
            decision = _from_state(record, kind)
            if kind == "halted":
                sent = self.halted(record, decision, None)
            elif kind == "held":
                sent = self.held(record, decision, None)
            elif kind == "stuck" and f"stuck:{decision.ring}" in record.state.alerts:
                sent = self.stuck(record, decision, None)
            else:
                sent = True
            if not sent:
                unsent.add(kind)
        return frozenset(unsent)

    def halted(self, record: RolloutRecord, decision: Decision, digest: str | None) -> bool:
        """The ``eucora:halted`` issue and, when the intent asks for it, the rollback PR."""
        facts = self._facts(record, decision, digest)
        try:
            github = self._github_for(record.installation_id)
            rollback = _rollback(record.intent)
            previous = None
            note = "The intent names no automatic rollback: change it with a new pull request."
            if rollback is not None:
                previous = self._previous(github, record, rollback)
                note = (
                    f"No commit of the default branch has version {rollback}: no rollback pull"
                    " request was opened; open one by hand."
                    if previous is None
                    else f"A rollback pull request to {rollback} is open for review."
                )
            title, body = render.halted_issue(facts, rollback=note)
            marker = render.issue_marker("halted", record.repository, record.id)
            issue = github.upsert_issue(
                record.repository,
                marker=marker,
                title=title,
                body=body,
                labels=[render.HALTED_LABEL],
            )
            if rollback is not None and previous is not None:
                pr_title, pr_body = render.rollback_pull(
                    facts, previous=rollback, source_sha=previous.sha, issue=issue
                )
                github.open_change_pull_request(
                    record.repository,
                    base=_default_branch(github, record),
                    branch=render.rollback_branch(record.state.intent, record.state.version),
                    title=pr_title,
                    body=pr_body,
                    files={record.path: with_emergency_reason(previous.content, _why(decision))},
                    labels=[self._emergency_label_of(record)],
                )
        except GitHubError as error:
            log.warning("rollout %s: halt issue or rollback not sent (%s)", record.id, error)
            return False
        return True

    def held(self, record: RolloutRecord, decision: Decision, digest: str | None) -> bool:
        """The issue asking the CAB to promote or halt an inconclusive ring."""
        title, body = render.held_issue(self._facts(record, decision, digest))
        return self._upsert(record, "held", title, body, render.HELD_LABEL)

    def stuck(self, record: RolloutRecord, decision: Decision, digest: str | None) -> bool:
        """The one ``eucora:stuck`` issue of this rollout, opened or brought up to date."""
        title, body = render.stuck_issue(self._facts(record, decision, digest))
        return self._upsert(record, "stuck", title, body, render.STUCK_LABEL)

    def cleared(self, record: RolloutRecord, kind: str, reasons: tuple[str, ...]) -> bool:
        """Close the rollout's ``kind`` issue, if one is open."""
        marker = render.issue_marker(kind, record.repository, record.id)
        try:
            github = self._github_for(record.installation_id)
            number = github.find_issue(record.repository, marker)
            if number is not None:
                github.close_issue(
                    record.repository, number, comment=render.closing_comment(reasons)
                )
        except GitHubError as error:
            log.warning("rollout %s: %s issue not closed (%s)", record.id, kind, error)
            return False
        return True

    def _upsert(self, record: RolloutRecord, kind: str, title: str, body: str, label: str) -> bool:
        marker = render.issue_marker(kind, record.repository, record.id)
        try:
            self._github_for(record.installation_id).upsert_issue(
                record.repository, marker=marker, title=title, body=body, labels=[label]
            )
        except GitHubError as error:
            log.warning("rollout %s: %s issue not sent (%s)", record.id, kind, error)
            return False
        return True

    @staticmethod
    def _previous(github: GitHub, record: RolloutRecord, version: str) -> PreviousIntent | None:
        mirror = github.fetch_revisions(record.repository, [record.merge_sha])
        return previous_intent(mirror, record.merge_sha, record.path, version)


_KINDS: Mapping[type, str] = {Halt: "halted", Hold: "held", Alert: "stuck"}


def owed_kinds(decision: Decision) -> frozenset[str]:
    """The issues a decision must open (owed until GitHub took them): halted, held, stuck."""
    return frozenset(
        kind
        for action in decision.actions
        if (kind := _KINDS.get(type(action))) is not None
        and (not isinstance(action, Alert) or action.kind == "stuck")
    )


def _from_state(record: RolloutRecord, kind: str) -> Decision:
    """The decision an owed issue tells of, as the stored state remembers it."""
    state = record.state
    wanted = {"halted": RingPhase.FAILED, "held": RingPhase.HELD}.get(kind)
    ring = next((r for r in state.rings if r.phase == wanted), None)
    if ring is None:
        ring = state.rings[state.current] if state.rings else RingState(name="")
    outcomes = None
    if ring.counts is not None:
        targeted, installed, failed, pending, not_applicable = ring.counts
        outcomes = RingOutcomes(
            targeted=targeted,
            installed=installed,
            failed=failed,
            pending=pending,
            not_applicable=not_applicable,
            as_of=ring.counts_since or record.updated_at,
        )
    reason = state.reason.removeprefix(f"{ring.name}: ")
    if kind == "stuck" and ring.counts_since is not None:
        reason = f"{ring.name}: no count has moved since {ring.counts_since.isoformat()}"
    verdict = Verdict(ring.last_verdict) if ring.last_verdict else Verdict.PENDING
    return Decision(
        verdict=verdict,
        ring=ring.name,
        reasons=(reason or "see the rollout evidence",),
        actions=(),
        state=state,
        outcomes=outcomes,
    )


def _gate_fields(gate: Any) -> Mapping[str, Any]:
    if gate is None:
        return {}
    soak = getattr(gate, "soak", None)
    fields = {
        "minSuccessPercent": getattr(gate, "min_success_percent", None),
        "maxFailures": getattr(gate, "max_failures", None),
        "soak": _hours(soak) if isinstance(soak, timedelta) else None,
    }
    return {key: value for key, value in fields.items() if value is not None}  # else: n/a


def _hours(soak: timedelta) -> str:
    hours = int(soak.total_seconds()) // 3600
    return f"{hours // 24} d" if hours and hours % 24 == 0 else f"{hours} h"


def _why(decision: Decision) -> str:
    state = decision.state
    return (
        f"Rollback of {state.intent} {state.version}: its rollout halted at ring {decision.ring}"
        f" ({'; '.join(decision.reasons)})."
    )


_CHANGE = re.compile(rb"^change:[ \t]*$", re.MULTILINE)


def with_emergency_reason(content: bytes, reason: str) -> bytes:
    """The intent file with ``change.emergencyReason`` saying why (the emergency label needs it).

    The rollback PR carries the emergency label; policy ``change.emergency-needs-reason`` denies
    an emergency change whose intent does not say why. A reason already there is kept; a file
    this cannot edit safely is returned as it was (its check then says what is missing).
    """
    try:
        document = yaml.safe_load(content)
    except yaml.YAMLError:
        return content
    change = document.get("change") if isinstance(document, dict) else None
    if not isinstance(document, dict) or (
        isinstance(change, dict) and change.get("emergencyReason")
    ):
        return content
    line = json.dumps(reason[:2000]).encode()
    found = _CHANGE.search(content)
    if found is None and change is None:
        edited = content.rstrip(b"\n") + b"\nchange:\n  emergencyReason: " + line + b"\n"
    elif found is not None:
        rest = content[found.end() + 1 :]
        indent = re.match(rb"[ \t]*", rest)
        pad = indent.group() if indent and indent.group() else b"  "
        edited = (
            content[: found.end()]
            + b"\n"
            + pad
            + b"emergencyReason: "
            + line
            + content[found.end() :]
        )
    else:
        return content
    try:
        check = yaml.safe_load(edited)
    except yaml.YAMLError:
        return content
    ok = isinstance(check, dict) and check.get("change", {}).get("emergencyReason") == reason[:2000]
    return edited if ok else content


def _rollback(intent: Mapping[str, Any]) -> str | None:
    rollback = intent.get("rollback")
    if not isinstance(rollback, Mapping) or rollback.get("strategy") != "previous-version":
        return None
    previous = rollback.get("previousVersion")
    return str(previous) if previous is not None else None


def _default_branch(github: GitHub, record: RolloutRecord) -> str:
    return github.pull_request(record.repository, record.pr).default_branch or "main"


def previous_intent(mirror: Revisions, head: str, path: str, version: str) -> PreviousIntent | None:
    """The intent file at the newest commit from ``head`` whose ``app.version`` is ``version``."""
    try:
        for sha, content in mirror.file_history(head, path, limit=MAX_HISTORY):
            found = _version_at(sha, content, version)
            if found is not None:
                return found
    except GitError as error:
        raise GitHubError(f"reading the history of {path}: {error}") from None
    return None


def _version_at(sha: str, content: bytes | None, version: str) -> PreviousIntent | None:
    if content is None:
        return None  # deleted or unreadable at that commit
    try:
        document = yaml.safe_load(content)
    except yaml.YAMLError:
        return None
    app = document.get("app") if isinstance(document, dict) else None
    if isinstance(app, dict) and str(app.get("version")) == version:
        return PreviousIntent(sha=sha, content=content)
    return None
