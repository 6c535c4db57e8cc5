"""The check as a GitHub Actions step: the flow behind ``eucora action``.

Reads the event that started the workflow, checks its base and head revisions in the checked-out
repository exactly as ``eucora check`` does, and hands the result to the runner the ways it
listens: annotations (workflow commands on stdout), the job summary, step outputs, the evidence
pack as a file for ``actions/upload-artifact``, and — given a token — the sticky comment.

Given a token that can read team membership (``approvals``: the action's ``approvals-token``),
the step decides the pull request's CAB approvals as the App does: the base revision's
``eucora.yaml`` (CAB teams, quorum), the tier's count and the routed requirements
(``cab.routes``) from the check (``pack_approval_policy``), every review and commit of the pull
request and the active members of every CAB team of the change (``policy.teams``), read from
GitHub with that token, into ``bot.core.approvals.decide_approvals`` (``read_pull_commits``
ties the commits' addresses to accounts as the App does). There is no review ledger here: each
review is taken with the commit GitHub reports for it. A read that fails (after the adapter's
retries) is an error, never "no approvals" or "not a member"; a CAB team GitHub will not show
(403, 404) is an error that says the token cannot see it. Without such a token the approvals are
not decided, and every output says so and how to enforce them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from bot.core.action import (
    ActionApprovals,
    ActionEvent,
    ApprovalsState,
    EventError,
    approvals_block,
    capped_annotations,
    check_outputs,
    evidence_file_name,
    format_outputs,
    parse_event,
    step_verdict,
)
from bot.core.approvals import (
    ApprovalPolicy,
    PullRequestFacts,
    Review,
    Team,
    decide_approvals,
    pack_approval_policy,
)
from bot.core.errors import GitError
from bot.core.evidence import canonical_json
from bot.core.github_model import (
    EVIDENCE_MARKER,
    PullRequest,
    PullRequestReview,
    review_of,
    review_state,
)
from bot.core.pack_view import CheckPackView
from bot.core.pr_report import comment_body
from bot.core.render.check_markdown import render_check_github
from bot.core.repo_config import RepoConfig
from bot.errors import GitHubError
from bot.flows.check import CheckedChange, check_fetched
from bot.flows.config_at_revision import read_config
from bot.flows.pull_commits import read_pull_commits
from bot.ports import GitHub, OpenRevisions, Revisions

ContentHash = Callable[[Path, str, Sequence[str]], str]
"""``bot.adapters.git_content.content_hash``: the hash approvals are bound to, at a commit."""

EVENT_FILE_MAX_BYTES = 25 * 1024 * 1024  # GitHub caps webhook payloads at 25 MB


class ActionError(Exception):
    """The step cannot run: its environment or event is not what a check needs (exit 2)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ActionEnvironment:
    """What the runner tells the step, through its environment variables."""

    event_name: str
    event_path: Path
    repo: Path
    output_path: Path | None = None
    summary_path: Path | None = None
    evidence_dir: Path = Path()

    @classmethod
    def from_environ(
        cls, environ: Mapping[str, str], *, repo: str | None = None, evidence_dir: str | None = None
    ) -> ActionEnvironment:
        """Read ``GITHUB_EVENT_NAME``, ``GITHUB_EVENT_PATH``, ``GITHUB_OUTPUT``... from a mapping.

        The repository defaults to ``GITHUB_WORKSPACE``, the evidence folder to ``RUNNER_TEMP``
        (both the current folder outside a runner).
        """
        event_path = environ.get("GITHUB_EVENT_PATH")
        if not event_path:
            raise ActionError(
                "GITHUB_EVENT_PATH is not set: `eucora action` runs as a GitHub Actions step"
                " (use `eucora check` elsewhere)"
            )
        output = environ.get("GITHUB_OUTPUT")
        summary = environ.get("GITHUB_STEP_SUMMARY")
        return cls(
            event_name=environ.get("GITHUB_EVENT_NAME", ""),
            event_path=Path(event_path),
            repo=Path(repo or environ.get("GITHUB_WORKSPACE") or "."),
            output_path=Path(output) if output else None,
            summary_path=Path(summary) if summary else None,
            evidence_dir=Path(evidence_dir or environ.get("RUNNER_TEMP") or "."),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ActionReport:
    """What the step did: the event, the check, what to print, and what became of the comment."""

    event: ActionEvent
    run: CheckedChange
    annotations: str
    evidence_file: Path
    comment: str
    approvals: ActionApprovals
    comment_failed: bool = False

    @property
    def blocked(self) -> bool:
        """Whether the change is blocked (the step fails, as ``eucora check`` exits 1)."""
        return self.run.result.blocked


def read_event(environment: ActionEnvironment) -> ActionEvent:
    """The event that started the workflow, from the payload file the runner wrote."""
    path = environment.event_path
    try:
        with path.open("rb") as stream:
            raw = stream.read(EVENT_FILE_MAX_BYTES + 1)
    except OSError as error:
        raise ActionError(f"cannot read the event payload {path}: {error.strerror}") from None
    if len(raw) > EVENT_FILE_MAX_BYTES:
        raise ActionError(f"{path}: the event payload is larger than GitHub's 25 MB")
    try:
        payload = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        where = f":{error.lineno}:{error.colno}" if isinstance(error, json.JSONDecodeError) else ""
        raise ActionError(f"{path}{where}: the event payload is not JSON") from None
    try:
        return parse_event(environment.event_name, payload)
    except EventError as error:
        raise ActionError(f"{path}: {error}") from None


def _append(path: Path | None, text: str) -> None:
    if path is None:
        return
    try:
        with path.open("a", encoding="utf-8") as stream:
            stream.write(text)
    except OSError as error:
        raise ActionError(f"cannot write {path}: {error.strerror}") from None


def _comment(  # noqa: PLR0913 - the run and what the comment says
    event: ActionEvent,
    run: CheckedChange,
    connect: Callable[[], GitHub] | None,
    public_url: str | None,
    *,
    approvals: str,
    verdict: str | None,
) -> tuple[str, bool]:
    """Post or update the sticky comment when it can be; say why not otherwise."""
    if event.number is None:
        return "no comment: a merge group has no pull request to comment on", False
    if event.from_fork:
        return "no comment: the pull request comes from a fork (its token is read-only)", False
    if connect is None:
        return "no comment: no GITHUB_TOKEN given", False
    evidence_url = f"{public_url.rstrip('/')}/evidence/{run.digest}" if public_url else None
    body = comment_body(
        run.pack, digest=run.digest, evidence_url=evidence_url, approvals=approvals, verdict=verdict
    )
    try:
        comment_id = connect().upsert_comment(event.repository, event.number, EVIDENCE_MARKER, body)
    except GitHubError as error:
        return f"the sticky comment could not be posted: {error}", True
    return f"sticky comment {comment_id} on pull request #{event.number} is up to date", False


def run_action(  # noqa: PLR0913 - keyword-only context
    environment: ActionEnvironment,
    *,
    open_revisions: OpenRevisions,
    now: datetime,
    connect: Callable[[], GitHub] | None = None,
    home: Path | None = None,
    public_url: str | None = None,
    approvals: Callable[[], GitHub] | None = None,
    content_hash: ContentHash | None = None,
) -> ActionReport:
    """Check the event's revisions and report to the runner (and to the pull request).

    ``open_revisions`` opens the checkout's commits (``GitRevisions``);
    ``connect`` builds the GitHub client for the comment, only when one will be posted;
    ``approvals`` the client that decides the CAB approvals (a token that can read team
    membership), only when they are to be decided; ``content_hash`` hashes the content an
    approval is bound to (when ``eucora.yaml`` lets approvals survive a push that changes no
    intent; without it an approval counts on the head it was given on only).
    Raises :class:`ActionError` (and ``bot.adapters.git.GitError`` for missing revisions)
    before anything is written when the step cannot run.
    """
    event = read_event(environment)
    run = check_fetched(
        open_revisions(environment.repo),
        event.base_sha,
        event.head_sha,
        now=now,
        labels=event.labels,
        home=home,
    )
    decided = decide_approvals_in_step(
        event,
        run,
        environment.repo,
        open_revisions=open_revisions,
        now=now,
        connect=approvals,
        content_hash=content_hash,
    )
    block = approvals_block(decided)
    verdict = step_verdict(run.pack, decided)  # policy and approvals together, not the policy's
    evidence_url = f"{public_url.rstrip('/')}/evidence/{run.digest}" if public_url else None
    _, summary = render_check_github(
        run.pack, evidence_url=evidence_url, digest=run.digest, verdict=verdict
    )
    evidence_file = environment.evidence_dir / evidence_file_name(run.digest)
    try:
        environment.evidence_dir.mkdir(parents=True, exist_ok=True)
        evidence_file.write_bytes(canonical_json(run.pack))
    except OSError as error:
        raise ActionError(f"cannot write {evidence_file}: {error.strerror}") from None
    _append(environment.summary_path, summary + block)
    outputs = check_outputs(
        run.pack, digest=run.digest, evidence_file=str(evidence_file), approvals=decided
    )
    _append(environment.output_path, format_outputs(outputs))
    comment, failed = _comment(event, run, connect, public_url, approvals=block, verdict=verdict)
    return ActionReport(
        event=event,
        run=run,
        annotations=capped_annotations(CheckPackView.of(run.pack).findings),
        evidence_file=evidence_file,
        comment=comment,
        approvals=decided,
        comment_failed=failed,
    )


# --- CAB approvals --------------------------------------------------------------------------------


def decide_approvals_in_step(  # noqa: PLR0913 - the check and how to read GitHub
    event: ActionEvent,
    run: CheckedChange,
    repo: Path,
    *,
    open_revisions: OpenRevisions,
    now: datetime,
    connect: Callable[[], GitHub] | None,
    content_hash: ContentHash | None = None,
) -> ActionApprovals:
    """The CAB approvals of the checked pull request: decided when ``connect`` is given.

    Not decided for a merge group (each pull request's own run decided them) nor for a change
    the policy check blocks (no approval can let it merge). A failed GitHub or git read is
    :attr:`ApprovalsState.ERROR`, saying what failed.
    """
    repo = git_dir(repo)
    revisions = open_revisions(repo)
    config = read_config(revisions, event.base_sha)
    # the tier's count and the routes the change matched (cab.routes), as the App decides them
    policy = pack_approval_policy(config, run.pack)
    base = ActionApprovals(
        state=ApprovalsState.NOT_DECIDED,
        required=policy.required,
        tier=policy.tier,
        cab_teams=policy.cab_teams,
        policy=policy,
    )
    if event.number is None:
        return replace(
            base, why="a merge group's approvals are decided on each pull request's own run"
        )
    if run.result.blocked:
        return replace(base, why="the policy check blocks this change; no approval can pass it")
    if connect is None:
        return replace(base, state=ApprovalsState.NOT_ENFORCED)
    if event.author is None:  # nobody to keep from approving their own change: never guess
        return replace(
            base,
            state=ApprovalsState.ERROR,
            why="the event payload does not name the pull request's author (pull_request.user)",
        )
    try:
        return _decide(
            event,
            repo,
            connect(),
            policy,
            config,
            revisions=revisions,
            now=now,
            content_hash=content_hash,
        )
    except _TeamHiddenError as error:
        return replace(base, state=ApprovalsState.ERROR, why=str(error))
    except GitHubError as error:
        return replace(base, state=ApprovalsState.ERROR, why=f"GitHub failed: {error}")


def git_dir(repo: Path) -> Path:
    """The git directory of a checkout (``.git``, or a worktree's), or ``repo`` (bare) itself."""
    dot = repo / ".git"
    if dot.is_dir():
        return dot
    if dot.is_file():  # a linked worktree: "gitdir: <path>"
        text = dot.read_text(encoding="utf-8", errors="replace").strip()
        if text.startswith("gitdir:"):
            found = Path(text.removeprefix("gitdir:").strip())
            return found if found.is_absolute() else (repo / found).resolve()
    return repo


class _TeamHiddenError(Exception):
    """GitHub will not show a CAB team's members to the approvals token (403, 404)."""


def _decide(  # noqa: PLR0913 - the pull request, GitHub and the rules
    event: ActionEvent,
    repo: Path,
    github: GitHub,
    policy: ApprovalPolicy,
    config: Mapping[str, object],
    *,
    revisions: Revisions,
    now: datetime,
    content_hash: ContentHash | None,
) -> ActionApprovals:
    assert event.number is not None  # noqa: S101 - checked by the caller
    assert event.author is not None  # noqa: S101 - checked by the caller
    pr = PullRequest(
        repository=event.repository,
        number=event.number,
        head_sha=event.head_sha,
        base_sha=event.base_sha,
        base_ref="",
        head_ref="",
        author=event.author,
        labels=event.labels,
    )
    listed = github.reviews(pr.repository, pr.number)
    # every CAB team of the change: cab.teams and the teams of each route it matched
    teams = {team: Team(members=_members(github, team)) for team in policy.teams}
    pulled = read_pull_commits(github, revisions, pr)
    folders = _folders(config)
    hashes = _Hashes(repo, folders, content_hash if policy.survive_non_intent_push else None)
    reviews = [r for item in listed if (r := _review(item, now, hashes)) is not None]
    decision = decide_approvals(
        PullRequestFacts(
            author=pr.author,
            head_sha=pr.head_sha,
            labels=pr.labels,
            content_hash=hashes.at(pr.head_sha),
        ),
        reviews,
        pulled.commits,
        teams,
        policy,
        emails=pulled.emails,
    )
    notes = []
    if not policy.cab_teams and policy.required:
        notes.append("eucora.yaml at the base names no CAB team (cab.teams): nobody can approve.")
    if decision.unresolved:
        shown = ", ".join(decision.unresolved[:10])
        notes.append(
            f"E-mail addresses in the pull request's commits are tied to no GitHub account:"
            f" {shown}. No CAB approval counts while they may be a CAB member's: commit with an"
            " address verified on GitHub, or drop the Co-authored-by trailer."
        )
    return ActionApprovals(
        state=ApprovalsState.DECIDED,
        required=policy.required,
        tier=policy.tier,
        cab_teams=policy.cab_teams,
        decision=decision,
        notes=tuple(notes),
        policy=policy,
    )


def _members(github: GitHub, team: str) -> frozenset[str]:
    """A CAB team's active members; a team GitHub will not show is never "nobody"."""
    try:
        return github.team_members(team)
    except GitHubError as error:
        if not error.refused:
            raise
        raise _TeamHiddenError(
            f"the approvals token cannot see CAB team {team} ({error}). Give the GitHub App"
            " behind it the organization permission Members: read (or use a fine-grained token"
            " with the organization permission Members: read), and check that the team exists"
            " in that organization"
        ) from None


def _folders(config: Mapping[str, object]) -> tuple[str, str]:
    view = RepoConfig.of(config)
    return view.intents, view.policies


class _Hashes:
    """The content hash at a commit of the checkout, when approvals may survive a push."""

    def __init__(self, repo: Path, folders: Sequence[str], hash_at: ContentHash | None) -> None:
        self._repo, self._folders, self._hash_at = repo, folders, hash_at
        self._seen: dict[str, str | None] = {}

    def at(self, sha: str) -> str | None:
        """The hash at ``sha``; ``None`` when not wanted, or the checkout lacks the commit."""
        if self._hash_at is None or not sha:
            return None
        if sha not in self._seen:
            try:
                self._seen[sha] = self._hash_at(self._repo, sha, self._folders)
            except GitError:  # a commit force-pushed away: that approval stays on its head
                self._seen[sha] = None
        return self._seen[sha]


def _review(item: PullRequestReview, now: datetime, hashes: _Hashes) -> Review | None:
    """A review as GitHub lists it, for the decision (pending or unknown states left out)."""
    if review_state(item) is None:
        return None
    return review_of(item, now=now, content_hash=hashes.at(item.commit_id))
