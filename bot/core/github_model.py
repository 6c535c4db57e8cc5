"""GitHub's objects as EUCORA's core sees them: plain, frozen data, free of any client library.

The GitHub adapter (``bot.adapters.github``) turns API responses into these and these into API
requests; the core and the flows never see PyGithub. Names follow GitHub's REST API
(https://docs.github.com/en/rest/checks/runs, https://docs.github.com/en/rest/pulls/pulls).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from bot.core.approvals import Review, ReviewState

POLICY_CHECK = "EUCORA policy"
APPROVAL_CHECK = "EUCORA CAB approval"
EVIDENCE_MARKER = "<!-- eucora:evidence -->"
EMERGENCY_LABEL = "eucora:emergency"

ANNOTATIONS_PER_REQUEST = 50
"""GitHub accepts at most 50 annotations per create/update request; more take further updates."""
DEPLOYMENT_DESCRIPTION_MAX = 140
"""GitHub's limit on a deployment status description."""


def one_line(text: str, limit: int) -> str:
    """``text`` on one line, cut to ``limit`` characters with an ellipsis when longer.

    For GitHub's one-line fields (a deployment status description, an issue title).
    """
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


class AnnotationLevel(StrEnum):
    """A check run annotation's level, as GitHub names it."""

    NOTICE = "notice"
    WARNING = "warning"
    FAILURE = "failure"


class CheckStatus(StrEnum):
    """A check run's status."""

    QUEUED = "queued"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"


class CheckConclusion(StrEnum):
    """A completed check run's conclusion (the ones EUCORA uses)."""

    SUCCESS = "success"
    FAILURE = "failure"
    NEUTRAL = "neutral"
    ACTION_REQUIRED = "action_required"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"


class Permission(StrEnum):
    """A user's permission on a repository (``GET .../collaborators/{user}/permission``)."""

    ADMIN = "admin"
    MAINTAIN = "maintain"
    WRITE = "write"
    TRIAGE = "triage"
    READ = "read"
    NONE = "none"

    @property
    def can_write(self) -> bool:
        """Whether the user may push (and so run EUCORA's comment commands)."""
        return self in {Permission.ADMIN, Permission.MAINTAIN, Permission.WRITE}


@dataclass(frozen=True, slots=True, kw_only=True)
class PullRequest:
    """The facts about one pull request that the flows need."""

    repository: str
    """``owner/name``."""
    number: int
    head_sha: str
    base_sha: str
    base_ref: str
    head_ref: str
    author: str
    labels: tuple[str, ...] = ()
    draft: bool = False
    state: str = "open"
    merged: bool = False
    merge_commit_sha: str | None = None
    html_url: str | None = None
    title: str | None = None
    """As the author wrote it: user-controlled text, escaped wherever it is shown."""
    default_branch: str | None = None
    """The repository's default branch (``base.repo.default_branch``): only merges into it, or
    into a branch its ``eucora.yaml`` lists under ``publish.branches``, publish. ``None`` when
    GitHub did not say (a decision that needs it refuses to guess)."""
    head_repository: str | None = None
    """``owner/name`` of the repository the head branch lives in (``None``: GitHub no longer
    knows it, a deleted fork)."""

    @property
    def from_fork(self) -> bool:
        """Whether the head branch is outside the repository (a fork, or one GitHub lost)."""
        return self.head_repository != self.repository


@dataclass(frozen=True, slots=True, kw_only=True)
class Annotation:
    """One line-precise remark on a file, shown in the pull request's diff."""

    path: str
    start_line: int
    end_line: int
    level: AnnotationLevel
    message: str
    title: str | None = None
    start_column: int | None = None
    end_column: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckRunOutput:
    """A check run's output: title, markdown summary (and text), annotations.

    ``annotations`` may hold more than 50: the adapter sends them in batches of
    :data:`ANNOTATIONS_PER_REQUEST`. The core caps the total (with a note in the summary).
    """

    title: str
    summary: str
    text: str | None = None
    annotations: tuple[Annotation, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckRun:
    """A check run to create or update on a commit."""

    name: str
    head_sha: str
    status: CheckStatus
    conclusion: CheckConclusion | None = None
    output: CheckRunOutput | None = None
    external_id: str | None = None
    details_url: str | None = None


# --- approvals (reviews, commits, teams, deployment protection rules) ----------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class PullRequestReview:
    """A pull request review as GitHub reports it (``GET .../pulls/{n}/reviews``, or a webhook).

    ``state`` is GitHub's upper-case word (APPROVED, CHANGES_REQUESTED, COMMENTED, DISMISSED,
    PENDING); ``submitted_at`` is RFC 3339 text (``None`` for a pending review).
    """

    id: int
    reviewer: str
    state: str
    commit_id: str
    submitted_at: str | None = None
    reviewer_is_bot: bool = False


def review_state(item: PullRequestReview) -> ReviewState | None:
    """The state of a review GitHub reports, if it can count or narrow a decision.

    ``None`` for a pending review, a state EUCORA does not know, or one without a commit.
    """
    try:
        state = ReviewState(item.state.upper())
    except ValueError:
        return None
    return None if state is ReviewState.PENDING or not item.commit_id else state


def review_of(
    item: PullRequestReview, *, now: datetime, content_hash: str | None = None
) -> Review | None:
    """GitHub's review as the core's :class:`Review` (the one conversion; see :func:`review_state`).

    ``now`` stands in for a submission time GitHub left out or that does not parse;
    ``content_hash`` is the hash of the content at the review's commit, when known.
    """
    state = review_state(item)
    if state is None:
        return None
    submitted = now
    if item.submitted_at:
        try:
            submitted = datetime.fromisoformat(item.submitted_at).astimezone(UTC)
        except ValueError:
            submitted = now
    return Review(
        id=item.id,
        reviewer=item.reviewer,
        state=state,
        commit_id=item.commit_id,
        submitted_at=submitted,
        content_hash=content_hash,
        reviewer_is_bot=item.reviewer_is_bot,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class PullRequestCommit:
    """A commit of a pull request: who authored and committed it, and its message (trailers).

    Logins are ``None`` when GitHub could not tie the commit's email to an account.
    """

    sha: str
    author_login: str | None
    author_email: str | None
    committer_login: str | None
    committer_email: str | None
    message: str = ""


class DeploymentReviewState(StrEnum):
    """The answer to a custom deployment protection rule."""

    APPROVED = "approved"
    REJECTED = "rejected"
