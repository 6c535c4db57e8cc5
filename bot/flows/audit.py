"""What ``eucora audit`` does: verify the log, export it, tell one change's story, sign checkpoints.

The flows work on an ``AuditStore`` (``bot.adapters.storage.AuditLog`` in production) and take
the time and the keys from their caller; the decisions come from ``bot.core.audit_chain``
and ``bot.core.audit_export``, the texts from ``bot.core.render.audit``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import IO

from bot.core.audit_chain import ChainReport
from bot.core.audit_events import format_event_time
from bot.core.audit_export import ExportFilters, verify_export
from bot.core.records import ExportSummary
from bot.core.render.audit import render_report, render_story
from bot.core.tlog import Ed25519Signer
from bot.ports import AuditStore


def verify_log(store: AuditStore, verifier_keys: Sequence[str]) -> tuple[ChainReport, str]:
    """Verify the database's log; signatures are checked when verifier keys are given."""
    report = store.verify(list(verifier_keys) or None)
    return report, render_report(report, source="audit log")


def verify_file(path: Path, verifier_keys: Sequence[str]) -> tuple[ChainReport, str]:
    """Verify an export offline with the log's verifier key(s), without any database.

    Raises ``OSError`` when the file cannot be read.
    """
    with path.open("rb") as stream:
        report = verify_export(stream, verifier_keys)
    return report, render_report(report, source=str(path))


def sign_checkpoint(store: AuditStore, signer: Ed25519Signer, *, now: datetime) -> str | None:
    """Sign a checkpoint of the log as it is now (``None`` for an empty log).

    Raises ``AuditIntegrityError`` when the log does not verify: it is never signed then.
    """
    return store.checkpoint(signer, time=now)


def export_log(
    store: AuditStore,
    stream: IO[bytes],
    filters: ExportFilters,
    signer: Ed25519Signer,
    *,
    now: datetime,
) -> ExportSummary:
    """Sign a checkpoint of the whole log, then export it (or the events the filters keep).

    Signing first makes every event so far provable offline. Raises ``AuditIntegrityError``
    when the log does not verify, before anything is written.
    """
    store.checkpoint(signer, time=now)
    return store.export_jsonl(stream, filters)


def latest_checkpoint(store: AuditStore) -> str | None:
    """The newest signed checkpoint (a C2SP signed note), or ``None`` before the first.

    Publish it where the operator cannot rewrite it (the PR's evidence comment and the check
    run summary; ``bot.core.evidence_proof.checkpoint_markdown`` renders it): every later
    checkpoint must then be consistent with this copy.
    """
    return store.latest_checkpoint()


def pr_story(store: AuditStore, pr: int, repository: str | None = None) -> tuple[int, str]:
    """The events of one pull request in log order, rendered; and how many there are."""
    events = store.events(repository=repository, pr=pr)
    return len(events), render_story(events, pr=pr, repository=repository)


def export_filters(
    *, since: datetime | None, repository: str | None, pr: int | None
) -> ExportFilters:
    """The filters of an export, the time in event-time text."""
    return ExportFilters(
        since=format_event_time(since) if since else None, repository=repository, pr=pr
    )


__all__ = [
    "AuditStore",
    "export_filters",
    "export_log",
    "latest_checkpoint",
    "pr_story",
    "sign_checkpoint",
    "verify_file",
    "verify_log",
]
