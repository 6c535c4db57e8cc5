"""The drift pass: what each plane holds against what git says, reported, put back or adopted.

Run from the reconcile pass (``Reconciler.run_once``, under its lease) after the rollouts. For
the newest running, held or complete rollout of every (repository, plane, intent) — superseded
and halted ones are not git's wish any more — it:

1. builds :class:`~bot.core.drift.Desired` from the rollout record (the published rings' target
   and assignment, the version, the marker with the evidence digest the publication carried);
2. reads the plane back through the connector's ``observe`` (a failed read is an
   :class:`~bot.core.drift.ObserveFailure`: recorded, counted, never "absent", never drift);
3. compares (:func:`bot.core.drift.compare`, ``drift.ignore`` of ``eucora.yaml`` applied) and,
   by ``drift.mode``: ``warn`` reports, ``remediate`` reports and puts git's state back, ``off``
   does nothing at all (no read either).

Reporting is one GitHub issue per (intent, plane), labelled ``eucora:drift`` and found again by
a hidden marker, with a field-level table; it is edited in place as the drift changes and closed
with a comment when the plane agrees with git again. Remediation reopens the affected rings'
own outbox rows (same idempotency key: the connector finds its object, or creates it again, and
re-assigns) and sends them to the publish queue; each (intent, plane) waits a cooldown that
doubles with every remediation that did not stick (up to a day), so a fight with a console user
or another tool does not loop. Every step is audited.

Commands on the drift issue (writers only): ``/eucora remediate`` puts git's state back now (the
backoff is reset, not skipped for later passes) and ``/eucora adopt`` opens a pull request that
writes the plane's version and assignment intents into the intent, which then goes through the
normal check and CAB approval.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import yaml

from bot.core.audit_events import AuditEventType
from bot.core.drift import (
    Assignment,
    Desired,
    DriftKind,
    DriftMode,
    DriftReport,
    Marker,
    Observed,
    ObserveFailure,
    compare,
    drift_settings,
)
from bot.core.drift_commands import (
    DriftVerb,
    adopted_reply,
    drift_of_issue,
    no_drift_reply,
    not_writer_reply,
    remediated_reply,
)
from bot.core.drift_state import DriftRow
from bot.core.rollout_model import RingPhase, RolloutRecord
from bot.errors import GitHubError
from bot.ports import AuditTrail, DriftState, Enqueue, GitHub, Observers
from connectors.base import Ring

log = logging.getLogger("eucora.drift")

LABEL = "eucora:drift"
DRIFT_DETECTED = AuditEventType.DRIFT_DETECTED.value
DRIFT_RESOLVED = AuditEventType.DRIFT_RESOLVED.value
DRIFT_REMEDIATED = AuditEventType.DRIFT_REMEDIATED.value
DRIFT_ADOPTED = AuditEventType.DRIFT_ADOPTED.value
DRIFT_READ_FAILED = AuditEventType.DRIFT_READ_FAILED.value
DRIFT_REFUSED = AuditEventType.DRIFT_COMMAND_REFUSED.value


ConfigOf = Callable[[RolloutRecord], Mapping[str, Any]]
"""The ``eucora.yaml`` that governs a rollout's drift."""

IssuesFor = Callable[[RolloutRecord], GitHub]
"""The GitHub client of the rollout's installation (issues, change pull requests, permission)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Backoff:
    """How long one (intent, plane) waits between remediations: doubling, up to ``ceiling``."""

    cooldown: timedelta = timedelta(minutes=10)
    ceiling: timedelta = timedelta(days=1)

    def after(self, remediations: int) -> timedelta:
        """The wait after the ``remediations``-th remediation in a row."""
        wait: timedelta = self.cooldown * (2 ** max(remediations - 1, 0))
        return min(wait, self.ceiling)


DEFAULT_BACKOFF = Backoff()
"""Ten minutes after the first remediation, doubling up to a day."""


@dataclass(slots=True)
class DriftPassReport:
    """What one drift pass did."""

    compared: int = 0
    drifted: list[str] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)
    remediated: list[str] = field(default_factory=list)
    read_errors: int = 0

    def lines(self) -> list[str]:
        """The report as people read it."""
        out = [f"drift: {self.compared} intents compared with their planes"]
        out += [f"drift: {name}" for name in self.drifted]
        out += [f"drift resolved: {name}" for name in self.resolved]
        out += [f"drift remediated: {name}" for name in self.remediated]
        if self.read_errors:
            out.append(f"drift: {self.read_errors} plane reads failed (retried next pass)")
        return out


def issue_marker(plane: str, intent: str) -> str:
    """The hidden marker that finds the drift issue of (intent, plane) again."""
    return f"<!-- eucora:drift plane={plane} intent={intent} -->"


def published_steps(record: RolloutRecord, succeeded: Sequence[int] | None = None) -> list[int]:
    """Indexes of the rollout's published rings (started, and succeeded when that is given).

    Started: phase not ``waiting``; ``succeeded``: the steps whose publication succeeded.
    """
    return [
        i
        for i, ring in enumerate(record.state.rings)
        if ring.phase != RingPhase.WAITING and (succeeded is None or i in succeeded)
    ]


def published_rings(record: RolloutRecord, succeeded: Sequence[int] | None = None) -> list[Ring]:
    """The published rings as the connectors take them, from the intent as merged."""
    rings = record.intent.get("rings") or []
    return [
        Ring(
            name=str(rings[i]["name"]),
            target=str(rings[i]["target"]),
            devices=int(rings[i].get("devices", 0)),
            assignment=str(rings[i].get("assignment", "required")),
        )
        for i in published_steps(record, succeeded)
        if i < len(rings)
    ]


def desired_of(record: RolloutRecord, succeeded: Sequence[int] | None = None) -> Desired:
    """What git says the plane holds for the rollout: its published rings, version, marker."""
    return Desired(
        plane=record.state.plane,
        intent=record.state.intent,
        version=record.state.version,
        marker=Marker(
            name=record.state.intent,
            version=record.state.version,
            evidence=record.evidence_digest,
        ),
        rings={
            ring.name: Assignment(group=ring.target, intent=ring.assignment)
            for ring in published_rings(record, succeeded)
        },
    )


def _items_json(report: DriftReport) -> tuple[dict[str, str], ...]:
    return tuple(
        {"field": i.field, "kind": i.kind.value, "git": i.git, "plane": i.plane}
        for i in report.items
    )


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ") or "—"


def issue_body(record: RolloutRecord, row: DriftRow, mode: DriftMode) -> str:
    """The drift issue's text: the table of fields, where it comes from, what to do."""
    state = record.state
    lines = [
        issue_marker(state.plane, state.intent),
        f"**{state.intent}** on **{state.plane}** no longer holds what git says.",
        "",
        "| field | git | plane | since |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| `{_cell(item['field']) if item['field'] else '/'}` ({item['kind']}) |"
        f" {_cell(item['git'])} | {_cell(item['plane'])} | {row.since.get(_key(item), '')} |"
        for item in row.items
    ]
    lines += [
        "",
        (
            f"Rollout {record.id} of {state.intent} {state.version} (`{record.path}`),"
            f" merged by #{record.pr} at {record.merge_sha[:12]};"
            f" evidence `{record.evidence_digest}`."
        ),
        "",
        "What to do:",
        (
            "- the console change was a mistake: undo it on the plane, or comment"
            " `/eucora remediate` to have EUCORA put git's state back;"
        ),
        (
            "- the console change should stay: comment `/eucora adopt` to open a pull request"
            " that writes the plane's state into the intent (checked and approved like any"
            " change);"
        ),
        "- the difference is accepted for good: add a `drift.ignore` entry to `eucora.yaml`.",
        "",
        f"Drift mode of this repository: `{mode.value}`"
        + (
            " (EUCORA puts git's state back, with a backoff)."
            if mode is DriftMode.REMEDIATE
            else "."
        ),
    ]
    return "\n".join(lines) + "\n"


_MODE_NOTE = {DriftMode.REMEDIATE: " (EUCORA puts git's state back, with a backoff)."}


def _key(item: Mapping[str, str]) -> str:
    return f"{item['field']} {item['kind']}"


def _title(record: RolloutRecord) -> str:
    return f"Drift: {record.state.intent} on {record.state.plane}"


class DriftPass:
    """Runs drift passes and the drift issue's commands (see the module docstring)."""

    def __init__(  # noqa: PLR0913 - the services a pass touches
        self,
        *,
        store: DriftState,
        planes: Observers,
        issues_for: IssuesFor,
        queue: Enqueue,
        audit: AuditTrail,
        config_of: ConfigOf,
        clock: Callable[[], datetime],
        backoff: Backoff = DEFAULT_BACKOFF,
    ) -> None:
        self._store = store
        self._planes = planes
        self._issues_for = issues_for
        self._queue = queue
        self._audit_log = audit
        self._config_of = config_of
        self._clock = clock
        self._backoff = backoff

    # --- the pass ---------------------------------------------------------------------------------

    def run(self) -> DriftPassReport:
        """Compare every watched rollout with its plane and act by its repository's mode."""
        report = DriftPassReport()
        for record in self._store.watched():
            try:
                self._check(record, report)
            except GitHubError as error:  # the issue is written next pass; the drift is kept
                log.warning("drift of rollout %s: GitHub refused (%s)", record.id, error)
        return report

    def _check(self, record: RolloutRecord, report: DriftPassReport) -> None:
        settings = drift_settings(self._config_of(record))
        if settings.mode is DriftMode.OFF:
            return
        succeeded = self._store.published(record)
        if succeeded is None or not published_steps(record, succeeded):
            return  # a publication is in flight (a promotion, a remediation): compare next pass
        report.compared += 1
        observed = self._observe(record, succeeded)
        result = compare(desired_of(record, succeeded), observed, settings.ignore)
        now = self._clock()
        state = record.state
        previous = self._store.get(record.repository, state.plane, state.intent)
        row = previous or DriftRow(
            repository=record.repository,
            plane=state.plane,
            intent=state.intent,
            rollout_id=record.id,
        )
        if result.error is not None:
            report.read_errors += 1
            if row.error != result.error:
                self._audit(DRIFT_READ_FAILED, record, {"error": result.error})
            self._store.put(replace(row, error=result.error), now=now)
            return
        name = f"{state.intent} on {state.plane}"
        if not result.drifted:
            if row.open:
                self._resolve(record, row, now)
                report.resolved.append(name)
            elif previous is not None and (row.error or row.remediations):
                self._store.put(replace(row, error=None, remediations=0), now=now)
            return
        report.drifted.append(name)
        row = self._open(record, row, result, settings.mode, now)
        due = row.next_remediation is None or now >= row.next_remediation
        if (
            settings.mode is DriftMode.REMEDIATE
            and due
            and self._remediate(record, row, now, by=None)
        ):
            report.remediated.append(name)

    def _observe(
        self, record: RolloutRecord, succeeded: Sequence[int]
    ) -> Observed | ObserveFailure:
        connector = self._planes.get(record.state.plane)
        if connector is None:
            return ObserveFailure(f"{record.state.plane} is not configured on this installation")
        try:
            return connector.observe(record.intent, published_rings(record, succeeded))
        except Exception as error:  # noqa: BLE001 - every failed read is a failure, never "absent"
            return ObserveFailure(" ".join(str(error).split())[:500] or type(error).__name__)

    def _open(
        self,
        record: RolloutRecord,
        row: DriftRow,
        result: DriftReport,
        mode: DriftMode,
        now: datetime,
    ) -> DriftRow:
        items = _items_json(result)
        since = {
            _key(item): row.since.get(_key(item), now.isoformat(timespec="seconds"))
            for item in items
        }
        changed = items != row.items or not row.open
        updated = replace(
            row,
            rollout_id=record.id,
            items=items,
            since=since,
            open=True,
            error=None,
        )
        if changed or updated.issue_number is None:
            issues = self._issues_for(record)
            number = issues.upsert_issue(
                record.repository,
                marker=issue_marker(record.state.plane, record.state.intent),
                title=_title(record),
                body=issue_body(record, updated, mode),
                labels=[LABEL],
            )
            updated = replace(updated, issue_number=number)
        if changed:
            self._audit(
                DRIFT_DETECTED, record, {"items": list(items), "issue": updated.issue_number}
            )
        self._store.put(updated, now=now)
        return updated

    def _resolve(self, record: RolloutRecord, row: DriftRow, now: datetime) -> None:
        number = row.issue_number
        issues = self._issues_for(record)
        if number is None:
            number = issues.find_issue(
                record.repository, issue_marker(record.state.plane, record.state.intent)
            )
        if number is not None:
            issues.close_issue(
                record.repository,
                number,
                comment=(
                    f"{record.state.plane} holds what git says for {record.state.intent}"
                    f" {record.state.version} again: closing."
                ),
            )
        self._audit(DRIFT_RESOLVED, record, {"issue": number})
        self._store.put(
            replace(
                row,
                items=(),
                since={},
                open=False,
                remediations=0,
                next_remediation=None,
                error=None,
            ),
            now=now,
        )

    def _remediate(
        self, record: RolloutRecord, row: DriftRow, now: datetime, *, by: str | None
    ) -> bool:
        steps = published_steps(record, self._store.published(record) or ())
        ids = self._store.reopen(record, steps, now=now)
        count = row.remediations + 1
        self._store.put(
            replace(row, remediations=count, next_remediation=now + self._backoff.after(count)),
            now=now,
        )
        self._audit(
            DRIFT_REMEDIATED,
            record,
            {
                "publications": ids,
                "remediation": count,
                "next_after": (now + self._backoff.after(count)).isoformat(timespec="seconds"),
                "by": by,
                "items": list(row.items),
            },
        )
        if ids:
            self._queue.enqueue(ids)
        return bool(ids)

    # --- commands on the drift issue -------------------------------------------------------------

    def _drift_on(
        self, repository: str, number: int, where: tuple[str, str] | None = None
    ) -> tuple[RolloutRecord, DriftRow] | None:
        """The watched rollout and drift row whose drift issue is ``number`` of ``repository``.

        ``where`` (intent, plane), from the issue's marker, narrows the search; the drift is
        accepted only when its row names this very issue (a marker copied elsewhere is not).
        """
        for record in self._store.watched():
            if record.repository.casefold() != repository.casefold():
                continue
            if where is not None and where != (record.state.intent, record.state.plane):
                continue
            row = self._store.get(record.repository, record.state.plane, record.state.intent)
            if row is not None and row.issue_number == number:
                return record, row
        return None

    def _commanded(
        self, repository: str, number: int, user: str, command: str
    ) -> tuple[RolloutRecord, DriftRow, GitHub] | None:
        found = self._drift_on(repository, number)
        if found is None:
            return None
        record, row = found
        issues = self._issues_for(record)
        if not issues.permission(repository, user).can_write:
            self._audit(DRIFT_REFUSED, record, {"command": command, "by": user})
            return None
        return record, row, issues

    def remediate_command(self, repository: str, number: int, user: str) -> bool:
        """``/eucora remediate`` on drift issue ``number``: git's state back now (writers only)."""
        found = self._commanded(repository, number, user, "remediate")
        if found is None:
            return False
        record, row, _ = found
        return self._remediate(record, replace(row, remediations=0), self._clock(), by=user)

    def adopt_command(self, repository: str, number: int, user: str, *, base: str) -> int | None:
        """``/eucora adopt``: a pull request writing the plane's state into the intent."""
        found = self._commanded(repository, number, user, "adopt")
        if found is None:
            return None
        record, row, issues = found
        return self._adopt(issues, record, row, number, user, base=base)

    def answer(  # noqa: PLR0913 - keyword-only facts of one comment
        self,
        github: GitHub,
        repository: str,
        number: int,
        verb: DriftVerb,
        *,
        user: str,
        issue: Mapping[str, Any],
        correlation_id: str,
    ) -> str:
        """Answer ``verb`` from ``user`` on issue ``number`` (a webhook's comment); the outcome.

        The issue's marker says which (intent, plane) it is about; the drift is looked up in this
        repository only. ``user`` needs write access (read through ``github``: a failed read
        raises ``GitHubError`` and the delivery is retried, never taken as "no access"). The
        outcome is replied on the issue and audited.
        """
        where = drift_of_issue(str(issue.get("body") or ""))
        found = self._drift_on(repository, number, where) if where is not None else None
        if found is None:
            self._audit_log.audit(
                DRIFT_REFUSED,
                correlation_id=correlation_id,
                repository=repository,
                pr=None,
                head_sha=None,
                payload={"command": verb.value, "by": user, "on": number, "why": "no-drift"},
            )
            github.add_comment(repository, number, no_drift_reply(user, verb))
            return "no-drift"
        record, row = found
        if not github.permission(repository, user).can_write:
            self._audit(DRIFT_REFUSED, record, {"command": verb.value, "by": user, "on": number})
            github.add_comment(repository, number, not_writer_reply(user, verb))
            return "refused"
        state = record.state
        if verb is DriftVerb.REMEDIATE:
            queued = self._remediate(record, replace(row, remediations=0), self._clock(), by=user)
            github.add_comment(
                repository, number, remediated_reply(user, state.intent, state.plane, queued=queued)
            )
            return "remediated" if queued else "not-applied"
        base = github.pull_request(record.repository, record.pr).default_branch or "main"
        pr = self._adopt(github, record, row, number, user, base=base)
        github.add_comment(repository, number, adopted_reply(user, state.intent, state.plane, pr))
        return "adopted"

    def _adopt(  # noqa: PLR0913 - the drift, where it is reported and who asked
        self,
        issues: GitHub,
        record: RolloutRecord,
        row: DriftRow,
        number: int,
        user: str,
        *,
        base: str,
    ) -> int:
        intent, notes = adopted_intent(record, row.items)
        state = record.state
        body = "\n".join(
            [
                (
                    f"Adopts the console change on {state.plane} for {state.intent} (drift issue"
                    f" #{number}), asked by @{user}."
                ),
                "",
                *(f"- {note}" for note in notes),
                "",
                "This pull request is checked and approved like any other change.",
            ]
        )
        pr = issues.open_change_pull_request(
            record.repository,
            base=base,
            branch=f"eucora/adopt-{state.plane}-{state.intent}",
            title=f"Adopt {state.plane}'s state of {state.intent}",
            body=body,
            files={record.path: dump_intent(intent)},
            labels=[LABEL],
        )
        self._audit(DRIFT_ADOPTED, record, {"issue": number, "pull_request": pr, "by": user})
        return pr

    def _audit(self, type_: str, record: RolloutRecord, payload: dict[str, Any]) -> None:
        self._audit_log.audit(
            type_,
            correlation_id=f"drift-{record.state.plane}-{record.state.intent}",
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


def adopted_intent(
    record: RolloutRecord, items: Sequence[Mapping[str, str]]
) -> tuple[dict[str, Any], list[str]]:
    """The intent with the plane's version and assignment intents written in, and notes.

    A removed group, an extra group, a deleted object or a missing marker has no one right
    spelling in the intent: the notes say so, for the author to finish by hand.
    """
    intent = copy.deepcopy(dict(record.intent))
    notes: list[str] = []
    for item in items:
        kind = DriftKind(item["kind"])
        if kind is DriftKind.VERSION_REPLACED and "," not in item["plane"]:
            intent["app"] = {**intent["app"], "version": item["plane"]}
            notes.append(f"`app.version`: {item['git']} → {item['plane']}")
        elif kind is DriftKind.ASSIGNMENT_CHANGED and "," not in item["plane"]:
            index = int(item["field"].split("/")[2])
            rings = list(intent["rings"])
            rings[index] = {**rings[index], "assignment": item["plane"]}
            intent["rings"] = rings
            notes.append(f"`rings[{index}].assignment`: {item['git']} → {item['plane']}")
        else:
            notes.append(
                f"`{item['field'] or '/'}` ({kind.value}: git {item['git']}, plane"
                f" {item['plane']}) is not written for you: edit the intent by hand"
            )
    return intent, notes


def dump_intent(intent: Mapping[str, Any]) -> bytes:
    """An intent document as YAML (keys in the document's order)."""
    return yaml.safe_dump(dict(intent), sort_keys=False, allow_unicode=True).encode("utf-8")
