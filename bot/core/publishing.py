"""Publishing on merge: publication states and how one publication looks to people.

Placeholder holding only what the outbox (``bot.adapters.storage.publications``) needs; the full
module (specs, merge verdicts, retry decisions, change packs) comes from h/pubcore and replaces
this one when merged. The names and shapes here are those of PUBLISH_CONTRACTS.md, section 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class PublicationState(StrEnum):
    """Where one publication stands."""

    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


FINAL_STATES: frozenset[PublicationState] = frozenset(
    {PublicationState.SUCCEEDED, PublicationState.FAILED}
)


@dataclass(frozen=True, slots=True, kw_only=True)
class PublicationView:
    """One publication as people see it (PR comment, deployment status, change pack)."""

    id: int
    plane: str
    ring: str
    target: str
    intent_name: str
    version: str
    state: str
    attempts: int
    object_id: str | None = None
    url: str | None = None
    created: bool | None = None
    error: str | None = None
    """The last error, already free of secrets."""


def is_final(state: str) -> bool:
    """Whether a publication in ``state`` will change no more (unless retried by a person)."""
    return state in FINAL_STATES
