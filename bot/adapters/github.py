"""The GitHub port over PyGithub: App or token authentication, check runs, the sticky comment.

``GITHUB_API_URL`` picks the server (api.github.com, GHES's ``/api/v3``, or the test double).
As a GitHub App, a JWT signed with ``GITHUB_PRIVATE_KEY`` buys installation tokens, cached per
installation until five minutes before they expire (and replaced at once when GitHub refuses
one early with a 401); with ``GITHUB_TOKEN`` that token is used.

Limits are honoured inside (https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api):
a 403/429 carrying ``Retry-After`` or an exhausted ``x-ratelimit-remaining`` is waited out when
the wait is within ``max_wait`` seconds, and a POST is never replayed after a server error or a
dropped connection (it may have been done). Content-creating requests keep one pace per
installation (``bot.adapters.pacer``: shared through Redis across processes when a broker is
configured), and a limit GitHub announces to one process holds every process. Lists read again
and again (team members, a PR's commits) are read conditionally: an ``ETag`` remembered per URL,
``If-None-Match``, and a 304 (which GitHub does not count against the rate limit) reuses the
remembered items. Every
failure becomes a one-line :class:`bot.errors.GitHubError` that names the call and GitHub's
answer, with anything shaped like a token, a JWT or a key removed.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, Protocol, TypeVar
from urllib.parse import parse_qs, quote, urlsplit

import requests
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from github import Auth, Github, GithubException, GithubIntegration, GithubRetry
from github.CheckRun import CheckRun as GhCheckRun

from bot.adapters.mirror import MirrorStore
from bot.adapters.pacer import LocalPacer, Pace, Pacer, pacer_for
from bot.adapters.revisions import GitRevisions
from bot.core.github_model import (
    ANNOTATIONS_PER_REQUEST,
    DEPLOYMENT_DESCRIPTION_MAX,
    Annotation,
    CheckRun,
    CheckRunOutput,
    DeploymentReviewState,
    Permission,
    PullRequest,
    PullRequestCommit,
    PullRequestReview,
    one_line,
)
from bot.core.redact import Redactor
from bot.errors import ConfigError, GitHubError
from bot.settings import Settings

TOKEN_REFRESH_MARGIN = timedelta(minutes=5)
DEFAULT_MAX_WAIT = 60.0
ACTIONS_BOT = "github-actions[bot]"
# GitHub's own size limits for check run text and comments.
MAX_OUTPUT_TEXT = 65_535
MAX_ANNOTATION_MESSAGE = 64 * 1024
MAX_ANNOTATION_TITLE = 255
MAX_COMMENT_BODY = 65_536
MAX_ISSUE_TITLE = 256
MAX_DELIVERY_PAGES = 100
"""App webhook deliveries read back at most (10,000 attempts)."""
MAX_TEAM_PAGES = 50
"""Team members read at most (5,000)."""
MAX_DEPLOYMENT_PAGES = 10
"""A merge's deployments to one environment read back at most (1,000: one per intent)."""
MAX_ISSUE_PAGES = 10
"""Open issues read when looking for the app's issue by its marker (1,000, newest first)."""
MAX_CHECK_RUN_PAGES = 10
"""A commit's in-progress runs of one name read at most (1,000)."""
LABEL_COLOUR = "d93f0b"
"""The colour of a label the app creates (``eucora:halted``...)."""
_TRUNCATED = "\n\n… (truncated)"

_REDACT = Redactor()


def scrub(text: str) -> str:
    """``text`` on one line, with anything shaped like a credential replaced by ``[redacted]``."""
    return " ".join(_REDACT(text).split())[:500]


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _reason(error: BaseException) -> str:
    """GitHub's own message for a failed call, or the transport's, in a few words."""
    if isinstance(error, GithubException):
        data = error.data
        message = data.get("message") if isinstance(data, dict) else None
        errors = data.get("errors") if isinstance(data, dict) else None
        detail = (
            f" ({errors[0].get('message') or errors[0].get('code')})"
            if errors and isinstance(errors, list) and isinstance(errors[0], dict)
            else ""
        )
        return f"GitHub answered {error.status}: {message or 'no message'}{detail}"
    if isinstance(error, requests.exceptions.RetryError):
        return "GitHub kept failing after retries"
    if isinstance(error, requests.exceptions.Timeout):
        return "GitHub did not answer in time"
    if isinstance(error, requests.exceptions.ConnectionError):
        return "connection to GitHub failed or was dropped"
    return type(error).__name__


@contextmanager
def _calling(what: str) -> Iterator[None]:
    """Turn whatever PyGithub or the transport raises into a one-line, secret-free GitHubError."""
    try:
        yield
    except GitHubError:
        raise
    except (GithubException, requests.exceptions.RequestException) as error:
        status = error.status if isinstance(error, GithubException) else None
        raise GitHubError(scrub(f"{what}: {_reason(error)}"), status=status) from None


class _Retry(GithubRetry):
    """PyGithub's retry policy, bounded, and never replaying a POST that may have been done.

    GithubRetry waits out 403s that are rate limits (``Retry-After``, or the primary limit's
    reset time) and retries 5xx. Here a 429 is retried too, any single wait beyond
    ``max_rate_limit_wait`` ends the call instead of sleeping, and a POST (which creates
    something) is not sent again after a 5xx or a dropped connection.
    """

    def __init__(
        self,
        max_wait: float = DEFAULT_MAX_WAIT,
        on_limit: Callable[[float], None] | None = None,
        **kwargs: Any,
    ) -> None:
        # urllib3's Retry.new() calls the class again with every parameter: accept them all.
        self._on_limit = on_limit
        kwargs.setdefault("max_rate_limit_wait", max_wait)
        kwargs.setdefault("secondary_rate_wait", min(60.0, max_wait))
        kwargs.setdefault("total", 5)
        kwargs.setdefault("backoff_factor", 0.5)
        kwargs.setdefault("status_forcelist", [429, *range(500, 600)])
        super().__init__(**kwargs)

    def new(self, **kw: Any) -> Any:
        retry = super().new(**kw)
        retry._on_limit = self._on_limit  # noqa: SLF001 - the same class
        return retry

    def _announce(self, response: Any) -> None:
        """Tell the shared pace about a limit GitHub announced (every process then waits)."""
        if self._on_limit is None or response.status not in {403, 429}:
            return
        headers = response.headers
        if headers.get("Retry-After"):
            self._on_limit(float(self.parse_retry_after(headers["Retry-After"])))
        elif headers.get("x-ratelimit-remaining") == "0" and headers.get("x-ratelimit-reset"):
            self._on_limit(float(headers["x-ratelimit-reset"]) - time.time())

    def is_retry(self, method: str, status_code: int, has_retry_after: bool = False) -> bool:
        if method.upper() == "POST" and status_code >= 500:
            return False
        return super().is_retry(method, status_code, has_retry_after)

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: Any = None,
        error: Exception | None = None,
        _pool: Any = None,
        _stacktrace: Any = None,
    ) -> Any:
        if error is not None and (method or "").upper() == "POST" and self._is_read_error(error):
            raise error
        if response is not None:
            self._announce(response)
        if response is not None and response.headers.get("Retry-After"):
            wait = self.parse_retry_after(response.headers["Retry-After"])
            if self.max_rate_limit_wait is not None and wait > self.max_rate_limit_wait:
                bound = self.max_rate_limit_wait
                message = f"rate limited for {wait:.0f}s, more than the {bound:.0f}s EUCORA waits"
                raise GithubException(response.status, {"message": message}, None)
        return super().increment(method, url, response, error, _pool, _stacktrace)


class _RateLimitSeen:
    """The last ``x-ratelimit-remaining`` seen on any client (for the metrics)."""

    def __init__(self) -> None:
        self.remaining: int | None = None

    def note(self, client: Github) -> None:
        remaining, _ = client.requester.rate_limiting
        if remaining >= 0:
            self.remaining = remaining


class _InstallationToken(Auth.Auth):
    """Asks the connector for the installation's current token on every request."""

    def __init__(self, current: Callable[[], str]) -> None:
        self._current = current

    @property
    def token_type(self) -> str:
        return "token"

    @property
    def token(self) -> str:
        return self._current()

    @property
    def _masked_token(self) -> str:
        return "(masked)"


def _annotation(annotation: Annotation) -> dict[str, Any]:
    body: dict[str, Any] = {
        "path": annotation.path,
        "start_line": annotation.start_line,
        "end_line": annotation.end_line,
        "annotation_level": str(annotation.level),
        "message": _cap(annotation.message, MAX_ANNOTATION_MESSAGE),
    }
    if annotation.title:
        body["title"] = annotation.title[:MAX_ANNOTATION_TITLE]
    # GitHub takes columns only on a single line.
    if annotation.start_line == annotation.end_line and annotation.start_column is not None:
        body["start_column"] = annotation.start_column
        if annotation.end_column is not None:
            body["end_column"] = annotation.end_column
    return body


def _cap(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - len(_TRUNCATED)] + _TRUNCATED


def _output(output: CheckRunOutput, batch: Sequence[Annotation]) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": output.title,
        "summary": _cap(output.summary, MAX_OUTPUT_TEXT),
        "annotations": [_annotation(a) for a in batch],
    }
    if output.text is not None:
        body["text"] = _cap(output.text, MAX_OUTPUT_TEXT)
    return body


def _batches(output: CheckRunOutput | None) -> list[tuple[Annotation, ...]]:
    if output is None:
        return []
    notes = output.annotations
    return [
        notes[i : i + ANNOTATIONS_PER_REQUEST]
        for i in range(0, len(notes), ANNOTATIONS_PER_REQUEST)
    ]


def _run_fields(run: CheckRun, first: Sequence[Annotation]) -> dict[str, Any]:
    fields: dict[str, Any] = {"status": str(run.status)}
    if run.conclusion is not None:
        fields["conclusion"] = str(run.conclusion)
    if run.output is not None:
        fields["output"] = _output(run.output, first)
    if run.external_id is not None:
        fields["external_id"] = run.external_id
    if run.details_url is not None:
        fields["details_url"] = run.details_url
    return fields


def _pull_commit(item: dict[str, Any]) -> PullRequestCommit:
    git = item.get("commit") or {}
    author, committer = item.get("author") or {}, item.get("committer") or {}
    return PullRequestCommit(
        sha=str(item["sha"]),
        author_login=author.get("login"),
        author_email=(git.get("author") or {}).get("email"),
        committer_login=committer.get("login"),
        committer_email=(git.get("committer") or {}).get("email"),
        message=str(git.get("message") or ""),
    )


_ROLE_PERMISSIONS = {p.value: p for p in Permission}
_T = TypeVar("_T")

Observer = Callable[[str, str], None]
"""Told ``(operation, "ok" | "error")`` after each port call: the hook for API call metrics."""


def _ignore(operation: str, outcome: str) -> None:
    """The default observer: nobody is counting."""


class PaceStep(Protocol):
    """Waits until one request of this client may go (``write``: a content-creating one)."""

    def __call__(self, *, write: bool) -> None:
        """Return when the request may go."""


def _unpaced(*, write: bool) -> None:
    """The default pace: none (tests that build an adapter by hand)."""


class ConditionalCache:
    """``ETag`` and items per URL (with its query), for conditional reads; thread-safe, bounded."""

    def __init__(self, limit: int = 2048) -> None:
        self._limit = limit
        self._items: dict[str, tuple[str, list[Any]]] = {}
        self._lock = threading.Lock()

    def get(self, url: str) -> tuple[str, list[Any]] | None:
        """The remembered ``(etag, items)`` of ``url``."""
        with self._lock:
            return self._items.get(url)

    def put(self, url: str, etag: str, items: list[Any]) -> None:
        """Remember ``url``'s items under its ``etag`` (the oldest goes beyond the limit)."""
        with self._lock:
            self._items.pop(url, None)
            if len(self._items) >= self._limit:
                self._items.pop(next(iter(self._items)))
            self._items[url] = (etag, items)


class GitHubAdapter:
    """The :class:`bot.ports.GitHub` port for one installation (or one token)."""

    def __init__(  # noqa: PLR0913
        self,
        client: Github,
        *,
        identity: Callable[[], str],
        token: Callable[[], str],
        mirrors: MirrorStore,
        rate_limit: _RateLimitSeen,
        clone_urls: dict[str, str],
        observe: Observer | None = None,
        renew: Callable[[], None] | None = None,
        pace: PaceStep = _unpaced,
        conditional: ConditionalCache | None = None,
        app_id: int | None = None,
    ) -> None:
        self._gh = client
        self._app_id = app_id
        self._pace = pace
        self._conditional = conditional or ConditionalCache()
        self._renew = renew
        self._observe: Observer = observe or _ignore
        self._identity = identity
        self._token = token
        self._mirrors = mirrors
        self._rate_limit = rate_limit
        self._clone_urls = clone_urls

    @contextmanager
    def _call(self, operation: str, what: str) -> Iterator[None]:
        outcome = "error"
        try:
            with _calling(what):
                self._pace(write=False)  # a limit GitHub announced holds reads too
                yield
            outcome = "ok"
        finally:
            self._rate_limit.note(self._gh)
            self._observe(operation, outcome)

    def _renewing(self, action: Callable[[], _T], *, write: bool = False) -> _T:
        """Run one step; on a 401 drop the cached token (revoked early) and run it once more.

        A 401 means GitHub did nothing, so even a POST may be sent again. ``write``: the step is
        one content-creating request, sent at the installation's pace.
        """
        try:
            if write:
                self._pace(write=True)
            return action()
        except GithubException as error:
            if error.status != 401 or self._renew is None:
                raise
            self._renew()
            if write:
                self._pace(write=True)
            return action()

    def _repo(self, repository: str) -> Any:
        return self._gh.get_repo(repository)  # the client is lazy: no request until needed

    def pull_request(self, repository: str, number: int) -> PullRequest:
        """The pull request as it is now (``GET .../pulls/{number}``)."""
        with self._call("pull_request", f"reading pull request {repository}#{number}"):
            return self._renewing(lambda: self._read_pull(repository, number))

    def _read_pull(self, repository: str, number: int) -> PullRequest:
        pr = self._repo(repository).get_pull(number)  # lazy: the first attribute reads it
        return PullRequest(
            repository=repository,
            number=pr.number,
            head_sha=pr.head.sha,
            base_sha=pr.base.sha,
            base_ref=pr.base.ref,
            head_ref=pr.head.ref,
            author=pr.user.login,
            labels=tuple(label.name for label in pr.labels),
            draft=bool(pr.draft),
            state=pr.state,
            merged=bool(pr.merged),
            merge_commit_sha=pr.merge_commit_sha,
            html_url=pr.html_url,
            title=pr.title,
            head_repository=pr.head.repo.full_name if pr.head.repo is not None else None,
            default_branch=pr.base.repo.default_branch or None,
        )

    def create_check_run(self, repository: str, run: CheckRun) -> int:
        """Create the run with the first 50 annotations, then send the rest 50 at a time."""
        batches = _batches(run.output)
        with self._call("create_check_run", f"creating check run {run.name!r} on {repository}"):
            created = self._renewing(
                lambda: self._repo(repository).create_check_run(
                    name=run.name,
                    head_sha=run.head_sha,
                    **_run_fields(run, batches[0] if batches else ()),
                ),
                write=True,
            )
            self._send_rest(created, run, batches[1:])
            return int(created.id)

    def update_check_run(self, repository: str, check_run_id: int, run: CheckRun) -> None:
        """Update the run in place (``PATCH``), annotations 50 per request."""
        batches = _batches(run.output)
        with self._call("update_check_run", f"updating check run {check_run_id} on {repository}"):
            existing = self._repo(repository).get_check_run(check_run_id)  # lazy: no request
            self._renewing(
                lambda: existing.edit(**_run_fields(run, batches[0] if batches else ())),
                write=True,
            )
            self._send_rest(existing, run, batches[1:])

    def in_progress_check_runs(self, repository: str, head_sha: str, name: str) -> tuple[int, ...]:
        """This app's runs ``name`` on the commit still in progress (``GET .../check-runs``).

        ``filter=all`` (GitHub lists only the newest run of each name by default), ``app_id``
        when the app is known; with a token, the runs whose app writes as the token's user.
        """
        parameters: dict[str, Any] = {"check_name": name, "status": "in_progress", "filter": "all"}
        if self._app_id is not None:
            parameters["app_id"] = self._app_id
        url = f"/repos/{repository}/commits/{head_sha}/check-runs"
        with self._call("in_progress_check_runs", f"listing the {name!r} runs on {repository}"):
            runs = self._renewing(lambda: self._check_run_pages(url, parameters))
            if self._app_id is None:
                me = self._identity()
                runs = [r for r in runs if f"{(r.get('app') or {}).get('slug')}[bot]" == me]
            return tuple(int(r["id"]) for r in runs if r.get("status") == "in_progress")

    def _check_run_pages(self, url: str, parameters: Mapping[str, Any]) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for page in range(1, MAX_CHECK_RUN_PAGES + 1):
            _, data = self._gh.requester.requestJsonAndCheck(
                "GET", url, parameters={**parameters, "per_page": 100, "page": page}
            )
            runs = data.get("check_runs") if isinstance(data, dict) else None
            if not isinstance(runs, list):
                raise GitHubError(f"GitHub answered {url} with no list of check runs")
            found.extend(runs)
            if len(runs) < 100:
                break
        return found

    def _send_rest(
        self, check_run: GhCheckRun, run: CheckRun, batches: Sequence[Sequence[Annotation]]
    ) -> None:
        # Each update repeats title and summary: GitHub requires them with any output.
        output = run.output
        if output is None:
            return
        for batch in batches:
            self._renewing(partial(check_run.edit, output=_output(output, batch)), write=True)

    def upsert_comment(self, repository: str, number: int, marker: str, body: str) -> int:
        """Edit this app's comment holding ``marker`` (if its text changed), or create it."""
        if marker not in body:
            raise ValueError("the comment body must contain its marker")
        if len(body) > MAX_COMMENT_BODY:
            body = _cap(body, MAX_COMMENT_BODY)
            if marker not in body:
                body = _cap(f"{marker}\n{body}", MAX_COMMENT_BODY)
        with self._call("upsert_comment", f"writing the comment on {repository}#{number}"):
            me = self._identity()
            return self._renewing(lambda: self._upsert(repository, number, me, marker, body))

    def _upsert(self, repository: str, number: int, me: str, marker: str, body: str) -> int:
        issue = self._repo(repository).get_issue(number)  # lazy: no request
        for comment in issue.get_comments():
            if comment.user.login == me and marker in (comment.body or ""):
                if comment.body != body:
                    self._pace(write=True)
                    comment.edit(body)
                return int(comment.id)
        self._pace(write=True)
        return int(issue.create_comment(body).id)

    def add_comment(self, repository: str, number: int, body: str) -> int:
        """Post a new comment on the pull request."""
        with self._call("add_comment", f"commenting on {repository}#{number}"):
            issue = self._repo(repository).get_issue(number)  # lazy: no request
            text = _cap(body, MAX_COMMENT_BODY)
            return int(self._renewing(lambda: issue.create_comment(text), write=True).id)

    def permission(self, repository: str, user: str) -> Permission:
        """The user's role on the repository; ``none`` for users GitHub does not know."""
        with self._call("permission", f"reading {user}'s permission on {repository}"):
            try:
                _, data = self._renewing(
                    lambda: self._gh.requester.requestJsonAndCheck(
                        "GET", f"/repos/{repository}/collaborators/{user}/permission"
                    )
                )
            except GithubException as error:
                if error.status == 404:
                    return Permission.NONE
                raise
            role = _ROLE_PERMISSIONS.get(str(data.get("role_name")))
            return role or _ROLE_PERMISSIONS.get(str(data.get("permission")), Permission.NONE)

    def reviews(self, repository: str, number: int) -> tuple[PullRequestReview, ...]:
        """Every review of the PR (``GET .../pulls/{n}/reviews``, all pages)."""
        with self._call("reviews", f"reading the reviews of {repository}#{number}"):
            return self._renewing(lambda: self._read_reviews(repository, number))

    def _read_reviews(self, repository: str, number: int) -> tuple[PullRequestReview, ...]:
        pull = self._repo(repository).get_pull(number)  # lazy: no request
        found = []
        for review in pull.get_reviews():
            user = review.user
            submitted = review.submitted_at
            found.append(
                PullRequestReview(
                    id=int(review.id),
                    reviewer=user.login if user is not None else "ghost",
                    state=str(review.state).upper(),
                    commit_id=str(review.commit_id or ""),
                    submitted_at=submitted.astimezone(UTC).isoformat() if submitted else None,
                    reviewer_is_bot=user is not None and user.type == "Bot",
                )
            )
        return tuple(found)

    def pull_commits(self, repository: str, number: int) -> tuple[PullRequestCommit, ...]:
        """The PR's commits (``GET .../pulls/{n}/commits``: GitHub lists at most 250)."""
        with self._call("pull_commits", f"reading the commits of {repository}#{number}"):
            return self._renewing(lambda: self._read_commits(repository, number))

    def _read_commits(self, repository: str, number: int) -> tuple[PullRequestCommit, ...]:
        # Raw pages: PyGithub's Commit objects would fetch each commit again for raw_data.
        # GitHub lists at most 250 commits: 3 pages of 100.
        items = self._conditional_pages(f"/repos/{repository}/pulls/{number}/commits", pages=3)
        return tuple(_pull_commit(item) for item in items)

    def commit(self, repository: str, sha: str) -> PullRequestCommit:
        """One commit as GitHub attributes it (``GET .../commits/{sha}``).

        Names the accounts its author's and committer's addresses belong to: how a commit
        beyond the PR's list of 250 is tied to people.
        """
        with self._call("commit", f"reading commit {sha[:12]} of {repository}"):
            _, item = self._renewing(
                lambda: self._gh.requester.requestJsonAndCheck(
                    "GET", f"/repos/{repository}/commits/{sha}"
                )
            )
            return _pull_commit(item)

    def commit_authors(self, email: str) -> frozenset[str]:
        """The accounts commit search ties ``email`` to (``GET /search/commits?q=author-email:``).

        GitHub searches the default branches it indexes: an empty answer means "not known",
        not "nobody". The first page of 100 is read (one address, one account).
        """
        query = f"author-email:{email}"
        with self._call("search_commits", f"searching commits by {email}"):
            _, data = self._renewing(
                lambda: self._gh.requester.requestJsonAndCheck(
                    "GET", "/search/commits", parameters={"q": query, "per_page": 100}
                )
            )
            items = data.get("items") if isinstance(data, dict) else None
            return frozenset(
                str(item["author"]["login"])
                for item in items or []
                if isinstance(item.get("author"), dict) and item["author"].get("login")
            )

    def _raw_pages(
        self, url: str, parameters: Mapping[str, Any], *, pages: int
    ) -> Iterator[dict[str, Any]]:
        """The items of up to ``pages`` pages of 100 of a GitHub list, read as they are needed."""
        for page in range(1, pages + 1):
            _, items = self._gh.requester.requestJsonAndCheck(
                "GET", url, parameters={**parameters, "per_page": 100, "page": page}
            )
            yield from items or []
            if len(items or []) < 100:
                return

    def team_members(self, team: str) -> frozenset[str]:
        """Team ``org/slug``'s members (``GET /orgs/{org}/teams/{slug}/members``, all pages).

        GitHub lists active members only (pending invitations are not members) and includes
        the members of child teams.
        """
        org, _, slug = team.partition("/")
        if not org or not slug or "/" in slug:
            raise GitHubError(f"{team!r} is not a team as org/team-slug")
        url = f"/orgs/{org}/teams/{slug}/members"
        with self._call("team_members", f"reading the members of team {team}"):
            items = self._renewing(lambda: self._conditional_pages(url, pages=MAX_TEAM_PAGES))
            return frozenset(str(user["login"]) for user in items)

    def _conditional_pages(self, url: str, *, pages: int) -> list[dict[str, Any]]:
        """Every item of up to ``pages`` pages of 100, each page read with ``If-None-Match``.

        A page GitHub answers 304 (unchanged since its ``ETag``) is taken from the cache.
        """
        found: list[dict[str, Any]] = []
        for page in range(1, pages + 1):
            items = self._conditional_page(f"{url}?per_page=100&page={page}")
            found.extend(items)
            if len(items) < 100:
                break
        return found

    def _conditional_page(self, url: str) -> list[dict[str, Any]]:
        requester = self._gh.requester
        cached = self._conditional.get(url)
        headers = {"If-None-Match": cached[0]} if cached else {}
        status, answer_headers, output = requester.requestJson("GET", url, headers=headers)
        if status == 304 and cached is not None:
            return cached[1]
        try:
            data = json.loads(output) if output else None
        except ValueError:
            data = None
        if status >= 400 or status == 304:
            detail = data if isinstance(data, dict) else {}
            raise requester.createException(status, answer_headers, detail)
        items = data if data is not None else []
        if not isinstance(items, list):
            raise GitHubError(f"GitHub answered {url.partition('?')[0]} with no list")
        etag = answer_headers.get("etag")
        if etag:
            self._conditional.put(url, etag, items)
        return items

    def request_team_review(self, repository: str, number: int, team_slugs: Sequence[str]) -> None:
        """``POST .../pulls/{n}/requested_reviewers`` with ``team_reviewers``."""
        with self._call("request_team_review", f"requesting reviews on {repository}#{number}"):
            pull = self._repo(repository).get_pull(number)  # lazy: no request
            self._renewing(
                lambda: pull.create_review_request(team_reviewers=list(team_slugs)), write=True
            )

    def review_deployment(
        self,
        repository: str,
        run_id: int,
        *,
        environment: str,
        state: DeploymentReviewState,
        comment: str,
    ) -> None:
        """``POST .../actions/runs/{run_id}/deployment_protection_rule`` (the event's callback).

        The URL is built from the configured API and the run id, never taken from the payload:
        the installation token goes only to GitHub.
        """
        body = {"environment_name": environment, "state": str(state), "comment": comment[:1024]}
        url = f"/repos/{repository}/actions/runs/{run_id}/deployment_protection_rule"
        with self._call("review_deployment", f"answering the deployment of run {run_id}"):
            self._post(url, body)

    def _post(self, url: str, body: dict[str, Any]) -> dict[str, Any]:
        """One POST through PyGithub's requester (write spacing, limits, never replayed)."""
        _, data = self._renewing(
            lambda: self._gh.requester.requestJsonAndCheck("POST", url, input=body), write=True
        )
        return data if isinstance(data, dict) else {}

    def create_deployment(
        self,
        repository: str,
        *,
        ref: str,
        environment: str,
        description: str,
        payload: Mapping[str, Any],
    ) -> int:
        """``POST .../deployments`` for ``ref`` with no auto-merge and no required contexts.

        EUCORA's checks already gated the merge: ``required_contexts: []`` stops GitHub refusing
        the deployment over other contexts, ``auto_merge: false`` stops it merging the default
        branch into ``ref``. Neither transient nor production (one ring of many).
        """
        body = {
            "ref": ref,
            "environment": environment,
            "description": description,
            "payload": dict(payload),
            "auto_merge": False,
            "required_contexts": [],
            "transient_environment": False,
            "production_environment": False,
        }
        what = f"creating a deployment of {ref[:12]} to {environment} on {repository}"
        with self._call("create_deployment", what):
            data = self._post(f"/repos/{repository}/deployments", body)
            if not isinstance(data.get("id"), int):  # a 202 "auto-merged" answer has no id
                raise GitHubError(
                    scrub(f"{what}: GitHub made no deployment: {data.get('message')}")
                )
            return int(data["id"])

    def find_deployment(
        self, repository: str, *, sha: str, environment: str, payload: Mapping[str, Any]
    ) -> int | None:
        """``GET .../deployments?sha=&environment=`` (newest first), matched on the payload."""
        what = f"looking for a deployment of {sha[:12]} to {environment} on {repository}"
        with self._call("find_deployment", what):
            return self._renewing(
                lambda: self._find_deployment(repository, sha, environment, payload)
            )

    def _find_deployment(
        self, repository: str, sha: str, environment: str, payload: Mapping[str, Any]
    ) -> int | None:
        items = self._raw_pages(
            f"/repos/{repository}/deployments",
            {"sha": sha, "environment": environment},
            pages=MAX_DEPLOYMENT_PAGES,
        )
        for item in items:  # newest first: stops reading at the first match
            held = item.get("payload")
            if isinstance(held, dict) and all(held.get(k) == v for k, v in payload.items()):
                return int(item["id"])
        return None

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
        """``POST .../deployments/{id}/statuses``, the description clipped to 140 characters.

        ``auto_inactive: false``: one environment holds many intents, and a newer deployment of
        another intent does not make this one inactive.
        """
        body: dict[str, Any] = {
            "state": state,
            "description": one_line(description, DEPLOYMENT_DESCRIPTION_MAX),
            "auto_inactive": False,
        }
        if log_url:
            body["log_url"] = log_url
        if environment_url:
            body["environment_url"] = environment_url
        what = f"setting deployment {deployment_id} on {repository} to {state}"
        with self._call("create_deployment_status", what):
            self._post(f"/repos/{repository}/deployments/{deployment_id}/statuses", body)

    def create_issue(
        self, repository: str, *, title: str, body: str, labels: Sequence[str] = ()
    ) -> int:
        """``POST .../issues`` (title and body cut to GitHub's limits); the issue's number."""
        fields = {
            "title": one_line(title, MAX_ISSUE_TITLE),
            "body": _cap(body, MAX_COMMENT_BODY),
            "labels": list(labels),
        }
        with self._call("create_issue", f"opening an issue on {repository}"):
            data = self._post(f"/repos/{repository}/issues", fields)
            return int(data["number"])

    # -- issues the app keeps (found again by a marker) and change pull requests ---------------

    def _get(self, url: str) -> dict[str, Any]:
        """One GET through PyGithub's requester."""
        _, data = self._renewing(lambda: self._gh.requester.requestJsonAndCheck("GET", url))
        return data if isinstance(data, dict) else {}

    def _patch(self, url: str, body: dict[str, Any]) -> dict[str, Any]:
        """One PATCH through PyGithub's requester (write spacing, limits)."""
        _, data = self._renewing(
            lambda: self._gh.requester.requestJsonAndCheck("PATCH", url, input=body), write=True
        )
        return data if isinstance(data, dict) else {}

    def _own_issue(self, repository: str, marker: str) -> dict[str, Any] | None:
        """The app's open issue whose body holds ``marker`` (PRs skipped), newest first."""
        me = self._identity()
        items = self._raw_pages(
            f"/repos/{repository}/issues",
            {"state": "open", "sort": "created", "direction": "desc"},
            pages=MAX_ISSUE_PAGES,
        )
        for item in items:
            user = item.get("user") or {}
            if (
                "pull_request" not in item
                and user.get("login") == me
                and marker in (item.get("body") or "")
            ):
                return item
        return None

    def _ensure_labels(self, repository: str, labels: Sequence[str]) -> None:
        """Create each label the repository lacks (``GET``, then ``POST .../labels``)."""
        for name in labels:
            try:
                self._get(f"/repos/{repository}/labels/{quote(name, safe='')}")
            except GithubException as error:
                if error.status != 404:
                    raise
                self._post(f"/repos/{repository}/labels", {"name": name, "color": LABEL_COLOUR})

    def find_issue(self, repository: str, marker: str) -> int | None:
        """The app's open issue holding ``marker`` (``GET .../issues``, up to 1,000 open issues)."""
        with self._call("find_issue", f"looking for the issue {marker} on {repository}"):
            found = self._own_issue(repository, marker)
            return None if found is None else int(found["number"])

    def upsert_issue(
        self, repository: str, *, marker: str, title: str, body: str, labels: Sequence[str]
    ) -> int:
        """Edit the app's open issue holding ``marker`` (if it changed), or open it; its number."""
        if marker not in body:
            raise ValueError("the issue body must contain its marker")
        if len(body) > MAX_COMMENT_BODY:
            body = _cap(f"{marker}\n{body}", MAX_COMMENT_BODY)
        fields = {"title": one_line(title, MAX_ISSUE_TITLE), "body": body, "labels": list(labels)}
        with self._call("upsert_issue", f"writing the issue {marker} on {repository}"):
            found = self._own_issue(repository, marker)
            self._ensure_labels(repository, labels)
            if found is None:
                return int(self._post(f"/repos/{repository}/issues", fields)["number"])
            number = int(found["number"])
            held = {
                "title": found.get("title"),
                "body": found.get("body"),
                "labels": sorted(lb.get("name") for lb in found.get("labels") or []),
            }
            if held != {**fields, "labels": sorted(labels)}:
                self._patch(f"/repos/{repository}/issues/{number}", fields)
            return number

    def close_issue(self, repository: str, number: int, *, comment: str) -> None:
        """Comment on issue ``number``, then close it as completed."""
        with self._call("close_issue", f"closing issue {repository}#{number}"):
            self._post(
                f"/repos/{repository}/issues/{number}/comments",
                {"body": _cap(comment, MAX_COMMENT_BODY)},
            )
            self._patch(
                f"/repos/{repository}/issues/{number}",
                {"state": "closed", "state_reason": "completed"},
            )

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
        """Commit ``files`` on a new ``branch`` from ``base``'s head and open a PR into ``base``.

        Git data API: blobs, one tree over the base's, one commit, the ref; then ``POST .../pulls``
        and the labels. An open PR from ``branch`` already there is returned as it is (its labels
        made whole), so a retry after a failure part-way makes no second commit or PR.
        """
        what = f"opening a pull request from {branch} on {repository}"
        with self._call("open_change_pull_request", what):
            pull = self._open_pull_from(repository, branch)
            if pull is None:
                pull = self._commit_and_open(
                    repository, base=base, branch=branch, title=title, body=body, files=files
                )
            number = int(pull["number"])
            held = {lb.get("name") for lb in pull.get("labels") or []}
            if not set(labels) <= held:
                self._ensure_labels(repository, labels)
                self._patch(
                    f"/repos/{repository}/issues/{number}", {"labels": sorted(held | set(labels))}
                )
            return number

    def _open_pull_from(self, repository: str, branch: str) -> dict[str, Any] | None:
        owner = repository.split("/", 1)[0]
        items = self._raw_pages(
            f"/repos/{repository}/pulls", {"state": "open", "head": f"{owner}:{branch}"}, pages=1
        )
        return next(iter(items), None)

    def _commit_and_open(  # noqa: PLR0913 - the pull request's parts
        self,
        repository: str,
        *,
        base: str,
        branch: str,
        title: str,
        body: str,
        files: Mapping[str, bytes],
    ) -> dict[str, Any]:
        git = f"/repos/{repository}/git"
        base_sha = str(self._get(f"{git}/ref/heads/{base}")["object"]["sha"])
        base_tree = str(self._get(f"{git}/commits/{base_sha}")["tree"]["sha"])
        entries = []
        for path in sorted(files):
            content = base64.b64encode(files[path]).decode("ascii")
            blob = self._post(f"{git}/blobs", {"content": content, "encoding": "base64"})
            entries.append({"path": path, "mode": "100644", "type": "blob", "sha": blob["sha"]})
        tree = self._post(f"{git}/trees", {"base_tree": base_tree, "tree": entries})["sha"]
        message = {"message": title, "tree": tree, "parents": [base_sha]}
        commit = str(self._post(f"{git}/commits", message)["sha"])
        try:
            self._post(f"{git}/refs", {"ref": f"refs/heads/{branch}", "sha": commit})
        except GithubException as error:
            if error.status != 422:  # 422: the branch is left from an earlier attempt
                raise
            self._patch(f"{git}/refs/heads/{branch}", {"sha": commit, "force": True})
        fields = {"title": one_line(title, MAX_ISSUE_TITLE), "body": _cap(body, MAX_COMMENT_BODY)}
        return self._post(f"/repos/{repository}/pulls", {**fields, "head": branch, "base": base})

    def clone_url(self, repository: str) -> str:
        """The repository's HTTPS clone URL (``GET /repos/...``, remembered)."""
        if repository not in self._clone_urls:
            with self._call("repository", f"reading repository {repository}"):
                self._clone_urls[repository] = self._renewing(
                    lambda: self._repo(repository).clone_url
                )
        return self._clone_urls[repository]

    def fetch_revisions(self, repository: str, shas: Sequence[str]) -> GitRevisions:
        """A bare mirror of ``repository`` that holds every commit in ``shas``, read by SHA."""
        url = self.clone_url(repository)
        with _calling(f"fetching {repository}"):
            token = self._token()
        try:
            path = self._mirrors.ensure(repository, url, shas, token)
        except GitHubError as error:
            self._observe("fetch_revisions", "error")
            raise GitHubError(scrub(str(error))) from None
        self._observe("fetch_revisions", "ok")
        return GitRevisions(path)

    def branch_head(self, repository: str, branch: str) -> str:
        """The commit ``branch`` points at now (``git ls-remote``): an error when unreadable."""
        url = self.clone_url(repository)
        with _calling(f"reading branch {branch} of {repository}"):
            token = self._token()
        try:
            sha = self._mirrors.branch_head(repository, url, branch, token)
        except GitHubError as error:
            self._observe("branch_head", "error")
            raise GitHubError(scrub(str(error))) from None
        self._observe("branch_head", "ok")
        return sha


APP_PACE_KEY = "app"
"""The pace of the app's own requests (JWT: deliveries, redeliveries)."""
TOKEN_PACE_KEY = "token"  # noqa: S105 - a name, not a secret
"""The pace of the one token (``GITHUB_TOKEN``)."""


def _pace(seconds_between_writes: float | None, max_wait: float) -> Pace:
    return Pace.spaced(seconds_between_writes, max_wait=max_wait)


def next_cursor(link: str) -> str | None:
    """The ``cursor`` of the ``rel="next"`` URL in a ``Link`` header, if there is one."""
    for part in link.split(","):
        url, _, rel = part.partition(";")
        if 'rel="next"' in rel:
            query = parse_qs(urlsplit(url.strip().strip("<>")).query)
            values = query.get("cursor")
            return values[0] if values else None
    return None


def _older(item: Any, since: datetime) -> bool:
    """Whether a delivery list item was delivered before ``since`` (unknown: not older)."""
    text = item.get("delivered_at") if isinstance(item, dict) else None
    try:
        moment = datetime.fromisoformat(str(text))
    except ValueError:
        return False
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)) < since


class _TokenCache:
    """Installation tokens by installation, refreshed five minutes before they expire."""

    def __init__(
        self, mint: Callable[[int], tuple[str, datetime]], clock: Callable[[], datetime]
    ) -> None:
        self._mint = mint
        self._clock = clock
        self._tokens: dict[int, tuple[str, datetime]] = {}
        self._locks: dict[int, threading.Lock] = {}
        self._guard = threading.Lock()

    def token(self, installation_id: int) -> str:
        with self._guard:
            lock = self._locks.setdefault(installation_id, threading.Lock())
        with lock:
            cached = self._tokens.get(installation_id)
            if cached is None or cached[1] - TOKEN_REFRESH_MARGIN <= self._clock():
                cached = self._mint(installation_id)
                self._tokens[installation_id] = cached
            return cached[0]

    def invalidate(self, installation_id: int) -> None:
        """Forget the installation's token (GitHub refused it before its time)."""
        with self._guard:
            self._tokens.pop(installation_id, None)


def _load_private_key(pem: str) -> str:
    text = pem.strip()
    if "\\n" in text and "\n" not in text:  # a PEM pasted into one line of a .env file
        text = text.replace("\\n", "\n")
    try:
        load_pem_private_key(text.encode(), password=None)
    except (ValueError, TypeError):
        raise ConfigError("GITHUB_PRIVATE_KEY is not an unencrypted PEM private key") from None
    return text + "\n"


class GitHubAppConnector:
    """:class:`bot.ports.GitHubConnector` as a GitHub App: JWT, then installation tokens."""

    def __init__(  # noqa: PLR0913
        self,
        *,
        api_url: str,
        app_id: str,
        private_key: str,
        mirrors_dir: Path,
        clock: Callable[[], datetime] = _utcnow,
        max_wait: float = DEFAULT_MAX_WAIT,
        backoff_factor: float = 0.5,
        seconds_between_writes: float | None = 1.0,
        timeout: int = 15,
        on_call: Observer | None = None,
        pacer: Pacer | None = None,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self._on_call = on_call
        self._max_wait = max_wait
        self._backoff = backoff_factor
        # The pace replaces PyGithub's own spacing (one process's): shared, per installation.
        self.pacer: Pacer = pacer or LocalPacer(_pace(seconds_between_writes, max_wait))
        self._options: dict[str, Any] = {
            "base_url": self.api_url,
            "timeout": timeout,
            "per_page": 100,
            "seconds_between_requests": None,
            "seconds_between_writes": None,
        }
        self._integration = GithubIntegration(
            auth=Auth.AppAuth(app_id, _load_private_key(private_key)),
            base_url=self.api_url,
            timeout=timeout,
            retry=_Retry(
                max_wait,
                on_limit=partial(self.pacer.hold, APP_PACE_KEY),
                backoff_factor=backoff_factor,
            ),
        )
        self._conditional = ConditionalCache()
        self._tokens = _TokenCache(self._mint, clock)
        self._mirrors = MirrorStore(mirrors_dir)
        self._rate_limit = _RateLimitSeen()
        self._clone_urls: dict[str, str] = {}
        self._clients: dict[int, GitHubAdapter] = {}
        self._guard = threading.Lock()
        self._bot_login: str | None = None
        # A client ID (``Iv1.…``) also signs the JWT; then the runs are told apart by the slug.
        self._app_id = int(app_id) if app_id.strip().isdigit() else None

    @property
    def rate_limit_remaining(self) -> int | None:
        """The last ``x-ratelimit-remaining`` GitHub sent (None before any call)."""
        return self._rate_limit.remaining

    def _mint(self, installation_id: int) -> tuple[str, datetime]:
        with _calling(f"getting a token for installation {installation_id}"):
            grant = self._integration.get_access_token(installation_id)
            return grant.token, grant.expires_at

    def installation_token(self, installation_id: int) -> str:
        """The installation's token, from the cache while it has five minutes left."""
        return self._tokens.token(installation_id)

    def bot_login(self) -> str:
        """The app's user, ``<slug>[bot]`` (``GET /app``, once)."""
        if self._bot_login is None:
            with _calling("reading the app"):
                self._bot_login = f"{self._integration.get_app().slug}[bot]"
        return self._bot_login

    def for_installation(self, installation_id: int | None) -> GitHubAdapter:
        """The client acting as installation ``installation_id`` (one per installation)."""
        if installation_id is None:
            raise GitHubError("a GitHub App needs the installation id of the event")
        with self._guard:
            if installation_id not in self._clients:
                current = lambda: self.installation_token(installation_id)  # noqa: E731
                key = f"installation:{installation_id}"
                retry = _Retry(
                    self._max_wait,
                    on_limit=partial(self.pacer.hold, key),
                    backoff_factor=self._backoff,
                )
                client = Github(
                    auth=_InstallationToken(current), lazy=True, retry=retry, **self._options
                )
                self._clients[installation_id] = GitHubAdapter(
                    client,
                    identity=self.bot_login,
                    token=current,
                    mirrors=self._mirrors,
                    rate_limit=self._rate_limit,
                    clone_urls=self._clone_urls,
                    observe=self._on_call,
                    renew=lambda: self._tokens.invalidate(installation_id),
                    pace=partial(self.pacer.acquire, key),
                    conditional=self._conditional,
                    app_id=self._app_id,
                )
            return self._clients[installation_id]

    def hook_deliveries(self, *, since: datetime) -> list[dict[str, Any]]:
        """The app's webhook delivery attempts since ``since`` (``GET /app/hook/deliveries``).

        Newest first, 100 a page, following the ``cursor`` of the ``Link`` header's ``next``
        until a page reaches back past ``since`` (at most :data:`MAX_DELIVERY_PAGES` pages).
        A failed page is a :class:`GitHubError`, never an empty list.
        """
        found: list[dict[str, Any]] = []
        cursor: str | None = None
        requester = self._integration.requester
        with _calling("listing the app's webhook deliveries"):
            for _ in range(MAX_DELIVERY_PAGES):
                self.pacer.acquire(APP_PACE_KEY, write=False)
                parameters: dict[str, Any] = {"per_page": 100}
                if cursor:
                    parameters["cursor"] = cursor
                headers, items = requester.requestJsonAndCheck(
                    "GET", "/app/hook/deliveries", parameters=parameters
                )
                if not isinstance(items, list):
                    raise GitHubError("GitHub answered the delivery list with no list")
                found.extend(items)
                cursor = next_cursor(headers.get("link", ""))
                if cursor is None or not items or _older(items[-1], since):
                    break
        return found

    def redeliver(self, delivery_id: int) -> None:
        """Ask GitHub to deliver attempt ``delivery_id`` again (``POST .../attempts``, 202)."""
        url = f"/app/hook/deliveries/{int(delivery_id)}/attempts"
        with _calling(f"asking GitHub to redeliver delivery {delivery_id}"):
            self.pacer.acquire(APP_PACE_KEY, write=True)
            self._integration.requester.requestJsonAndCheck("POST", url)


class GitHubTokenConnector:
    """:class:`bot.ports.GitHubConnector` with one token (``GITHUB_TOKEN``: Actions, or a PAT)."""

    def __init__(  # noqa: PLR0913
        self,
        *,
        api_url: str,
        token: str,
        mirrors_dir: Path,
        max_wait: float = DEFAULT_MAX_WAIT,
        backoff_factor: float = 0.5,
        seconds_between_writes: float | None = 1.0,
        timeout: int = 15,
        on_call: Observer | None = None,
        pacer: Pacer | None = None,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self._token = token
        self._rate_limit = _RateLimitSeen()
        self.pacer: Pacer = pacer or LocalPacer(_pace(seconds_between_writes, max_wait))
        self._client = Github(
            auth=Auth.Token(token),
            base_url=self.api_url,
            timeout=timeout,
            per_page=100,
            seconds_between_requests=None,
            seconds_between_writes=None,
            retry=_Retry(
                max_wait,
                on_limit=partial(self.pacer.hold, TOKEN_PACE_KEY),
                backoff_factor=backoff_factor,
            ),
            lazy=True,
        )
        self._login: str | None = None
        self._adapter = GitHubAdapter(
            self._client,
            identity=self.login,
            token=lambda: self._token,
            mirrors=MirrorStore(mirrors_dir),
            rate_limit=self._rate_limit,
            clone_urls={},
            observe=on_call,
            pace=partial(self.pacer.acquire, TOKEN_PACE_KEY),
        )

    @property
    def rate_limit_remaining(self) -> int | None:
        """The last ``x-ratelimit-remaining`` GitHub sent (None before any call)."""
        return self._rate_limit.remaining

    def login(self) -> str:
        """Who the token writes as: its user, or ``github-actions[bot]`` for Actions' token."""
        if self._login is None:
            with _calling("reading the token's user"):
                try:
                    self._login = self._client.get_user().login
                except GithubException as error:
                    if error.status != 403:  # Actions' token may not read /user
                        raise
                    self._login = ACTIONS_BOT
        return self._login

    def for_installation(self, installation_id: int | None) -> GitHubAdapter:  # noqa: ARG002 (one token serves all)
        """The one client (the token acts the same for every installation)."""
        return self._adapter


def connector_from_settings(
    settings: Settings, **options: Any
) -> GitHubAppConnector | GitHubTokenConnector:
    """The connector the settings ask for: the App when its id and key are set, else the token."""
    mirrors = settings.home / "mirrors"
    options.setdefault("seconds_between_writes", settings.github_write_interval or None)
    if "pacer" not in options:
        max_wait = float(options.get("max_wait", DEFAULT_MAX_WAIT))
        pace = _pace(options["seconds_between_writes"], max_wait)
        options["pacer"] = pacer_for(settings.broker_url, pace)
    if settings.github_app_id and settings.github_private_key:
        return GitHubAppConnector(
            api_url=settings.github_api_url,
            app_id=settings.github_app_id,
            private_key=settings.github_private_key,
            mirrors_dir=mirrors,
            **options,
        )
    if settings.github_token:
        return GitHubTokenConnector(
            api_url=settings.github_api_url,
            token=settings.github_token,
            mirrors_dir=mirrors,
            **options,
        )
    raise ConfigError(
        "GitHub is not configured: set GITHUB_APP_ID and GITHUB_PRIVATE_KEY, or GITHUB_TOKEN"
    )
