"""The audit trail for people: one change's story, and what a verification found."""

from __future__ import annotations

import json
from collections.abc import Sequence

from bot.core.audit_chain import ChainReport
from bot.core.audit_events import AuditEvent

_SUMMARY_WIDTH = 100


def render_story(events: Sequence[AuditEvent], *, pr: int, repository: str | None = None) -> str:
    """The events of one pull request, in log order, one line each, for people.

    ``#seq  time  type  by actor  @sha  payload`` with the payload as compact JSON, cut at
    100 characters; the repository is shown on each line when the events span several.
    """
    where = f"{repository}#{pr}" if repository else f"pull request #{pr}"
    if not events:
        return f"{where}: no audit events\n"
    repositories = sorted({e.repository for e in events})
    several = len(repositories) > 1
    plural = "s" if len(events) != 1 else ""
    lines = [f"{where}: {len(events)} event{plural}, {events[0].time} to {events[-1].time}"]
    for event in events:
        summary = json.dumps(event.payload, sort_keys=True, separators=(",", ":"))
        if len(summary) > _SUMMARY_WIDTH:
            summary = summary[: _SUMMARY_WIDTH - 1] + "…"
        sha = f"  @{event.head_sha[:7]}" if event.head_sha else ""
        place = f"  {event.repository}" if several else ""
        lines.append(
            f"  #{event.seq:<6} {event.time}  {event.type}  by {event.actor}{sha}{place}"
            f"  [{event.correlation_id}]  {summary}"
        )
    return "\n".join(lines) + "\n"


_OTHER_KEY = "a key not given"


def render_report(report: ChainReport, *, source: str = "audit log") -> str:
    """The outcome of a verification, for people.

    OK with the counts, or FAIL naming the first bad event and every bad checkpoint.
    """
    checked = "signatures checked" if report.signatures_checked else "signatures NOT checked"
    latest = f", latest at size {report.checkpoints[-1]}" if report.checkpoints else ""
    lines: list[str] = []
    if report.ok:
        lines.append(
            f"OK: {source}: {report.size} event{'s' if report.size != 1 else ''}, chain intact;"
            f" {len(report.checkpoints)} checkpoint{'s' if len(report.checkpoints) != 1 else ''}"
            f" verified ({checked}){latest}"
        )
        return "\n".join(lines) + "\n"
    lines.append(f"FAIL: {source}")
    if report.fault is not None:
        name = f"event {report.fault.seq}" if report.fault.seq is not None else "export"
        lines.append(f"  first bad event: {name} ({report.fault.problem}): {report.fault.message}")
    else:
        lines.append(f"  the chain of {report.size} events is intact")
    other_key = [f for f in report.checkpoint_faults if _OTHER_KEY in f.message]
    lines.extend(
        f"  bad checkpoint at size {fault.size}: {fault.message}"
        for fault in report.checkpoint_faults
        if fault not in other_key
    )
    if other_key:
        signers = sorted({f.message.split("signed by ", 1)[-1].split(",", 1)[0] for f in other_key})
        sizes = ", ".join(str(f.size) for f in other_key)
        lines.append(
            f"  checkpoint(s) at size {sizes} signed by a different key ({', '.join(signers)})"
            " than the keys given: if the log's key changed after them, give the earlier key"
            " too (--public-key, e.g. keys/audit.pub.previous); otherwise this log did not sign"
            " them"
        )
    if report.checkpoints:
        lines.append(
            f"  checkpoints that held ({checked}): {', '.join(map(str, report.checkpoints))}"
        )
    return "\n".join(lines) + "\n"
