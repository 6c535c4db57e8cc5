"""What the drift pass remembers of one (repository, plane, intent) between passes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class DriftRow:
    """One (repository, plane, intent) as the drift pass left it."""

    repository: str
    plane: str
    intent: str
    rollout_id: int
    items: tuple[Mapping[str, str], ...] = ()
    since: Mapping[str, str] = field(default_factory=dict)
    """Drift field → when the pass first saw it (ISO 8601, UTC)."""
    open: bool = False
    issue_number: int | None = None
    remediations: int = 0
    """Remediations since git and the plane last agreed (the backoff's exponent)."""
    next_remediation: datetime | None = None
    error: str | None = None
