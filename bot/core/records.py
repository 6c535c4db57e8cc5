"""The rows the stores hand the flows: plain dataclasses, JSON decoded, no database types.

The storage adapters (``bot.adapters.storage.*``) build and return them; the flows and the ports
(``bot.ports``) name them from here, so a flow needs no adapter to read a row and a test fake
returns the same types as the database does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from bot.core.approvals import Review
from bot.core.publishing import PublicationAction, PublicationView

# --- the publications outbox (``bot.adapters.storage.publications``) -----------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class NewChange:
    """A merged pull request to record (``state``: ``publishing`` or ``refused``)."""

    repository: str
    pr: int
    installation_id: int | None
    head_sha: str
    merge_sha: str
    check_digest: str | None
    state: str
    emergency: bool
    facts: Mapping[str, Any]
    comment_head: str
    correlation_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class NewPublication:
    """One intent to publish to one plane and ring, recorded with its change."""

    plane: str
    intent_name: str
    version: str
    ring: str
    target: str
    path: str
    idempotency_key: str
    intent: Mapping[str, Any]
    evidence_digest: str
    action: str = PublicationAction.PUBLISH.value
    """``retire``: the intent was deleted, and is removed from its plane."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ChangeRow:
    """A stored change, JSON decoded."""

    id: int
    repository: str
    pr: int
    installation_id: int | None
    head_sha: str
    merge_sha: str
    check_digest: str | None
    state: str
    emergency: bool
    facts: dict[str, Any]
    comment_head: str
    followup_issue: int | None
    final_digest: str | None
    correlation_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PublicationRow:
    """A stored publication, JSON decoded."""

    id: int
    change_id: int
    repository: str
    pr: int
    plane: str
    intent_name: str
    version: str
    ring: str
    target: str
    path: str
    idempotency_key: str
    intent: dict[str, Any]
    evidence_digest: str
    state: str
    attempts: int
    not_before: datetime
    last_error: str | None
    result: dict[str, Any] | None
    journal: dict[str, str]
    deployment_id: int | None
    lease_owner: str | None
    step: int = 0
    """0: the merge's own publication (the first ring); n: ring n promoted by the reconciler."""
    action: str = PublicationAction.PUBLISH.value
    """``retire``: a deleted intent to remove from its plane (``Connector.retire``)."""

    def view(self) -> PublicationView:
        """The row as people see it; ``result`` holds ``PublishResult``'s fields by name."""
        result = self.result or {}
        object_id, url, created = result.get("object_id"), result.get("url"), result.get("created")
        return PublicationView(
            id=self.id,
            plane=self.plane,
            ring=self.ring,
            target=self.target,
            intent_name=self.intent_name,
            version=self.version,
            state=self.state,
            attempts=self.attempts,
            object_id=str(object_id) if object_id is not None else None,
            url=str(url) if url is not None else None,
            created=created if isinstance(created, bool) else None,
            error=self.last_error,
            action=self.action,
        )


@dataclass(frozen=True, slots=True)
class PublicationClaim:
    """A publication leased to one worker: ``row`` is already ``in_progress``, attempts counted."""

    row: PublicationRow
    owner: str


# --- the review ledger (``bot.adapters.storage.reviews``) ---------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class LedgerEntry:
    """One arrival of a review: the review as it arrived, and the state of the change then.

    ``review`` is what the arrival said (the commit it was given on, the hash of the
    intent/policy/config content at that commit, its state then); ``pr_head_sha`` is the PR's
    head at that moment, ``action`` GitHub's webhook action (or ``listed``), ``source``
    ``webhook`` or ``api``.
    """

    installation_id: int | None
    repository: str
    pr: int
    review: Review
    action: str
    pr_head_sha: str | None
    recorded_at: datetime
    source: str = "webhook"


def fold_reviews(entries: Sequence[LedgerEntry]) -> list[Review]:
    """Reviews from arrivals: first arrival's commit, hash and time; latest arrival's state."""
    first: dict[int, Review] = {}
    last: dict[int, Review] = {}
    for entry in entries:
        first.setdefault(entry.review.id, entry.review)
        last[entry.review.id] = entry.review
    return [
        replace(origin, state=last[review_id].state) for review_id, origin in sorted(first.items())
    ]


# --- the audit log (``bot.adapters.storage.audit_log``) ------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ExportSummary:
    """What an export wrote: how many events, of a log of ``size`` signed events."""

    events: int
    size: int
    complete: bool
