"""Ports: the small interfaces the flows and entry points need from the outside world.

Each is a ``typing.Protocol`` (structural, so an adapter or a test fake needs no base class); the
adapters implement them, one module per outside thing, and the composition root picks which.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from bot.core.audit_events import AuditEvent
from bot.core.github_model import (
    CheckRun,
    DeploymentReviewState,
    Permission,
    PullRequest,
    PullRequestCommit,
    PullRequestReview,
)
from bot.core.tlog import Ed25519Signer


class Clock(Protocol):
    """The time now, timezone-aware UTC (injected: the core and the flows never read the clock)."""

    def __call__(self) -> datetime:
        """The current time."""
        ...


class PublicationQueue(Protocol):
    """Runs ``run(publication_id)`` somewhere, after ``delay`` seconds (Celery, or threads here).

    Implemented by ``bot.adapters.publish_queue``; a test records what was sent.
    """

    def send(self, publication_id: int, *, delay: float = 0.0) -> None:
        """Ask for one run of the publication, not before ``delay`` seconds from now."""
        ...


class AuditLog(Protocol):
    """The append-only audit log (``bot.adapters.storage.audit_log.AuditLog``; a test's list)."""

    def append(  # noqa: PLR0913 - one parameter per event field
        self,
        *,
        type: str,  # noqa: A002 - the field is called type
        actor: str,
        correlation_id: str,
        repository: str,
        pr: int | None,
        head_sha: str | None,
        payload: Any,
        time: datetime,
    ) -> AuditEvent:
        """Append one event and return it."""
        ...

    def checkpoint(
        self, signer: Ed25519Signer, origin: str | None = None, *, time: datetime
    ) -> str | None:
        """Sign and store a checkpoint of the whole log; return its note."""
        ...

    def inclusion_proof(
        self, seq: int, size: int | None = None, *, extra: bytes | None = None
    ) -> str:
        """A c2sp.org/tlog-proof@v1 text for event ``seq`` in the latest checkpoint."""
        ...

    def events(
        self,
        *,
        since: datetime | None = None,
        repository: str | None = None,
        pr: int | None = None,
    ) -> list[AuditEvent]:
        """The events matching the filters, in log order."""
        ...

    def latest_checkpoint(self) -> str | None:
        """The newest signed checkpoint note, or ``None`` before the first is signed."""
        ...


class EvidenceSource(Protocol):
    """Where stored evidence packs are read from, by digest (the evidence store, or a test dict)."""

    def get(self, digest: str) -> bytes | None:
        """The canonical JSON bytes of the pack stored under ``digest``, or None when unknown.

        ``digest`` is ``sha256:`` and 64 lower-case hex digits; callers check the form first.
        """
        ...


class GitHub(Protocol):
    """What the flows need from GitHub, for one installation (or one token).

    Implemented by ``bot.adapters.github`` (PyGithub, ``GITHUB_API_URL``) and by fakes in the
    tests. Every method raises ``bot.errors.GitHubError`` when GitHub refuses or fails; rate
    limits (403/429 with ``Retry-After`` or the reset header) are waited out inside, within a
    bound, before that.
    """

    def pull_request(self, repository: str, number: int) -> PullRequest:
        """The pull request as it is now."""
        ...

    def create_check_run(self, repository: str, run: CheckRun) -> int:
        """Create a check run (annotations beyond the first 50 sent by updates); return its id."""
        ...

    def update_check_run(self, repository: str, check_run_id: int, run: CheckRun) -> None:
        """Update a check run in place (annotations in batches of 50)."""
        ...

    def in_progress_check_runs(self, repository: str, head_sha: str, name: str) -> tuple[int, ...]:
        """The ids of this app's (or token's) runs named ``name`` on ``head_sha`` still in progress.

        Every run, not only the newest of the name; other apps' runs are never listed. A failed
        read raises ``GitHubError``: it is never taken as "none".
        """
        ...

    def upsert_comment(self, repository: str, number: int, marker: str, body: str) -> int:
        """Edit the app's own comment holding ``marker`` on the PR, or create it; return its id.

        ``body`` must contain ``marker``; only comments written by this app (or token user) are
        considered, so nobody else's comment is ever edited.
        """
        ...

    def add_comment(self, repository: str, number: int, body: str) -> int:
        """Post a new comment on the PR (replies to comment commands); return its id."""
        ...

    def permission(self, repository: str, user: str) -> Permission:
        """The user's permission on the repository (``none`` for strangers)."""
        ...

    def fetch_revisions(self, repository: str, shas: Sequence[str]) -> Path:
        """A local bare mirror of ``repository`` that holds every commit in ``shas``.

        Cached per repository; fetches only what is missing, authenticating with a token given
        to git in a header for that one command, never written to disk, a URL or a log.
        """
        ...

    def branch_head(self, repository: str, branch: str) -> str:
        """The commit SHA ``branch`` points at now (a branch GitHub does not have is an error)."""
        ...

    def reviews(self, repository: str, number: int) -> tuple[PullRequestReview, ...]:
        """Every submitted review of the PR, oldest first (all pages)."""
        ...

    def pull_commits(self, repository: str, number: int) -> tuple[PullRequestCommit, ...]:
        """The PR's commits (authors, committers, messages), as GitHub lists them (up to 250)."""
        ...

    def commit(self, repository: str, sha: str) -> PullRequestCommit:
        """One commit, its author and committer tied to the accounts their addresses belong to."""
        ...

    def commit_authors(self, email: str) -> frozenset[str]:
        """The accounts commit search ties the author address ``email`` to (empty: unknown)."""
        ...

    def team_members(self, team: str) -> frozenset[str]:
        """The logins of team ``org/slug``'s active members, child teams' members included.

        A team GitHub does not show this installation is an error (the App needs
        ``members: read``), never an empty team.
        """
        ...

    def request_team_review(self, repository: str, number: int, team_slugs: Sequence[str]) -> None:
        """Ask the teams (slugs in the repository's organisation) to review the PR."""
        ...

    def review_deployment(
        self,
        repository: str,
        run_id: int,
        *,
        environment: str,
        state: DeploymentReviewState,
        comment: str,
    ) -> None:
        """Approve or reject a workflow run waiting on this app's deployment protection rule."""
        ...

    def create_deployment(
        self,
        repository: str,
        *,
        ref: str,
        environment: str,
        description: str,
        payload: Mapping[str, Any],
    ) -> int:
        """Record a deployment of ``ref`` (the merge SHA) to ``environment``; return its id.

        Sent with ``auto_merge: false`` and ``required_contexts: []``: EUCORA's own checks gated
        the merge, and GitHub must neither merge the default branch in nor re-check contexts.
        """
        ...

    def find_deployment(
        self, repository: str, *, sha: str, environment: str, payload: Mapping[str, Any]
    ) -> int | None:
        """The newest deployment of ``sha`` to ``environment`` whose payload holds ``payload``.

        How a publication whose worker died between creating its deployment and recording the
        id finds that deployment again, instead of showing the PR a second one.
        """
        ...

    def create_deployment_status(  # noqa: PLR0913 - GitHub's status fields
        self,
        repository: str,
        deployment_id: int,
        *,
        state: str,
        description: str,
        log_url: str | None,
        environment_url: str | None,
    ) -> None:
        """Add a status (``queued``, ``in_progress``, ``success``, ``failure``, ``error``...).

        ``description`` is clipped to GitHub's 140 characters.
        """
        ...

    def create_issue(
        self, repository: str, *, title: str, body: str, labels: Sequence[str] = ()
    ) -> int:
        """Open an issue (e.g. the post-implementation review owed); return its number."""
        ...

    def upsert_issue(
        self, repository: str, *, marker: str, title: str, body: str, labels: Sequence[str]
    ) -> int:
        """Edit the app's own open issue whose body holds ``marker``, or open it; its number.

        ``marker`` is an HTML comment (``<!-- eucora:halted:acme/intents:42 -->``) that ``body``
        must contain: the issue is found again by it, never opened twice. Labels the repository
        lacks are created.
        """
        ...

    def find_issue(self, repository: str, marker: str) -> int | None:
        """The number of the app's own open issue whose body holds ``marker``, or None."""
        ...

    def close_issue(self, repository: str, number: int, *, comment: str) -> None:
        """Comment on issue ``number``, then close it."""
        ...

    def open_change_pull_request(  # noqa: PLR0913 - what a pull request is made of
        self,
        repository: str,
        *,
        base: str,
        branch: str,
        title: str,
        body: str,
        files: Mapping[str, bytes],
        labels: Sequence[str],
    ) -> int:
        """Commit ``files`` on a new ``branch`` from ``base``'s head, open a PR into ``base``.

        The PR is labelled with ``labels``; its number is returned. When an open PR from
        ``branch`` exists, its number is returned and nothing is committed again.
        """
        ...


class GitHubConnector(Protocol):
    """Hands out a :class:`GitHub` for a webhook's installation (cached installation tokens)."""

    def for_installation(self, installation_id: int | None) -> GitHub:
        """The client acting as the app's installation (``None``: token mode, GITHUB_TOKEN)."""
        ...
