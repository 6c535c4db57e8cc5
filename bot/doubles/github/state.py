"""What the GitHub double remembers: plain mutable records, one per GitHub object.

Tests read these to assert what the bot did (``double.check_runs("acme/intents")``...) and
write them through the double's helpers to set a scene (a PR, a team, a permission).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def stamp(moment: datetime | None) -> str | None:
    return None if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class App:
    id: int
    slug: str
    name: str
    private_key_pem: str
    public_key_pem: str
    webhook_secret: str
    client_id: str
    client_secret: str

    @property
    def bot_login(self) -> str:
        return f"{self.slug}[bot]"


@dataclass
class Installation:
    id: int
    account: str
    repositories: set[str] = field(default_factory=set)
    permissions: dict[str, str] = field(default_factory=lambda: {"members": "read"})
    """The app's permissions here; only ``members`` (organization Members) is enforced: team
    reads without it are 403, as for the workflow's ``GITHUB_TOKEN``."""


@dataclass
class Token:
    value: str
    expires_at: datetime
    installation_id: int | None = None
    login: str | None = None


@dataclass
class Repository:
    id: int
    full_name: str
    installation_id: int | None
    bare_path: Path
    default_branch: str = "main"
    private: bool = True

    @property
    def owner(self) -> str:
        return self.full_name.split("/", 1)[0]

    @property
    def name(self) -> str:
        return self.full_name.split("/", 1)[1]


@dataclass
class Commit:
    sha: str
    message: str
    author_name: str
    author_email: str
    author_login: str | None
    committer_name: str
    committer_email: str
    committer_login: str | None
    parents: list[str]
    date: str


@dataclass
class StoredPullRequest:
    """A pull request as the double holds it (the core's is ``bot.core.github_model.PullRequest``)."""

    id: int
    repository: str
    number: int
    title: str
    body: str
    author: str
    head_ref: str
    base_ref: str
    head_sha: str
    base_sha: str
    labels: list[str] = field(default_factory=list)
    draft: bool = False
    state: str = "open"
    merged: bool = False
    merge_commit_sha: str | None = None
    merged_by: str | None = None
    merged_at: datetime | None = None
    closed_at: datetime | None = None
    requested_reviewers: list[str] = field(default_factory=list)
    requested_teams: list[str] = field(default_factory=list)
    commits: list[Commit] = field(default_factory=list)
    fork: str | None = None
    """``owner/name`` of the fork the head branch comes from (``None``: the repository itself)."""
    created_at: datetime = field(default_factory=now)
    updated_at: datetime = field(default_factory=now)


@dataclass
class StoredCheckRun:
    """A check run as the double holds it (the core's is ``bot.core.github_model.CheckRun``)."""

    id: int
    repository: str
    name: str
    head_sha: str
    app_id: int
    status: str = "queued"
    conclusion: str | None = None
    title: str | None = None
    summary: str | None = None
    text: str | None = None
    external_id: str | None = None
    details_url: str | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    annotations: list[dict[str, Any]] = field(default_factory=list)
    annotation_batches: list[list[dict[str, Any]]] = field(default_factory=list)
    bodies: list[dict[str, Any]] = field(default_factory=list)
    """Every create/update body received, in order."""


@dataclass
class Comment:
    id: int
    repository: str
    issue_number: int
    author: str
    author_type: str
    body: str
    created_at: datetime = field(default_factory=now)
    updated_at: datetime = field(default_factory=now)
    edits: int = 0


@dataclass
class Review:
    id: int
    repository: str
    number: int
    user: str
    state: str
    body: str
    commit_id: str
    submitted_at: datetime = field(default_factory=now)


@dataclass
class Team:
    id: int
    org: str
    slug: str
    name: str
    members: list[str] = field(default_factory=list)
    parent: str | None = None


@dataclass
class Deployment:
    id: int
    repository: str
    ref: str
    sha: str
    environment: str
    task: str
    payload: Any
    description: str | None
    creator: str
    statuses: list[dict[str, Any]] = field(default_factory=list)
    """Every status created, as GitHub answered it (``state``, ``description``, ``log_url``...)."""
    body: dict[str, Any] = field(default_factory=dict)
    """The request that created it (``auto_merge``, ``required_contexts``... as sent)."""
    created_at: datetime = field(default_factory=now)


@dataclass
class Issue:
    number: int
    repository: str
    title: str
    body: str | None
    labels: list[str]
    author: str
    created_at: datetime = field(default_factory=now)
    state: str = "open"
    closed_at: datetime | None = None
    updated_at: datetime = field(default_factory=now)


@dataclass
class ManifestCode:
    code: str
    conversion: dict[str, Any]
    used: bool = False
