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

import logging
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bot.core.gates import Alert, ClearAlert, Decision, Halt, Hold, ring_gates
from bot.core.render import rollout_issues as render
from bot.core.rollout_model import RolloutRecord
from bot.errors import GitHubError
from bot.ports import GitHub

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

    def act(self, record: RolloutRecord, decision: Decision, digest: str | None) -> None:
        """Tell GitHub about each of the decision's actions that people must see."""
        for action in decision.actions:
            match action:
                case Halt():
                    self.halted(record, decision, digest)
                case Hold():
                    self.held(record, decision, digest)
                case Alert(kind="stuck"):
                    self.stuck(record, decision, digest)
                case ClearAlert(kind="stuck"):
                    self.cleared(record, "stuck", decision.reasons)
                case _:
                    pass

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
                    files={record.path: previous.content},
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


def _gate_fields(gate: Any) -> Mapping[str, Any]:
    if gate is None:
        return {}
    return {
        "minSuccessPercent": getattr(gate, "min_success_percent", None),
        "maxFailures": getattr(gate, "max_failures", None),
        "soak": getattr(gate, "soak", None),
    }


def _rollback(intent: Mapping[str, Any]) -> str | None:
    rollback = intent.get("rollback")
    if not isinstance(rollback, Mapping) or rollback.get("strategy") != "previous-version":
        return None
    previous = rollback.get("previousVersion")
    return str(previous) if previous is not None else None


def _default_branch(github: GitHub, record: RolloutRecord) -> str:
    return github.pull_request(record.repository, record.pr).default_branch or "main"


def _git(mirror: Path, *args: str) -> bytes:
    return subprocess.run(  # noqa: S603 - git with fixed verbs on our own mirror
        ["git", "-C", str(mirror), *args],  # noqa: S607
        capture_output=True,
        check=True,
    ).stdout


def previous_intent(mirror: Path, head: str, path: str, version: str) -> PreviousIntent | None:
    """The intent file at the newest commit from ``head`` whose ``app.version`` is ``version``."""
    try:
        shas = _git(mirror, "log", f"-{MAX_HISTORY}", "--format=%H", head, "--", path).split()
    except subprocess.CalledProcessError as error:
        raise GitHubError(
            f"reading the history of {path}: git failed ({error.returncode})"
        ) from None
    for sha in (s.decode() for s in shas):
        try:
            content = _git(mirror, "show", f"{sha}:{path}")
            document = yaml.safe_load(content)
        except (subprocess.CalledProcessError, yaml.YAMLError):
            continue  # deleted or unreadable at that commit
        app = document.get("app") if isinstance(document, dict) else None
        if isinstance(app, dict) and str(app.get("version")) == version:
            return PreviousIntent(sha=sha, content=content)
    return None
