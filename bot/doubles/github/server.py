"""The GitHub double: a local HTTP server that behaves like the parts of GitHub the bot uses.

It runs a Werkzeug app in a thread on 127.0.0.1, holds state (see ``state.py``), enforces
GitHub's authentication, checks every request and response against GitHub's OpenAPI
description, serves real bare git repositories over smart HTTP, and injects faults on demand.
Start it with the ``github_double`` fixture (``bot/doubles/github/fixtures.py``).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from bot.doubles.github import auth, deliveries, events, git_http, merging, responses, validation
from bot.doubles.github import state as st
from bot.doubles.github.routes import ROUTES, Handlers

GIT_ENV = {
    "GIT_AUTHOR_NAME": "GitHub Double",
    "GIT_AUTHOR_EMAIL": "double@example.com",
    "GIT_COMMITTER_NAME": "GitHub Double",
    "GIT_COMMITTER_EMAIL": "double@example.com",
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_CONFIG_NOSYSTEM": "1",
    "PATH": "/usr/local/bin:/usr/bin:/bin",
}
_NOREPLY = re.compile(r"^(?:\d+\+)?([a-z0-9-]+)@users\.noreply\.github\.com$")
WEB_FLOW = "web-flow"
"""The account GitHub names as committer of what it commits itself (``noreply@github.com``)."""
SECONDARY_RATE_LIMIT = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
)


class _QuietHandler(WSGIRequestHandler):
    """No access log on stderr: the double records requests itself (``double.requests``)."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass

    def log_error(self, format: str, *args: Any) -> None:  # noqa: A002 (the base class's name)
        pass


class ApiError(Exception):
    """An error answer: GitHub's ``{"message", "documentation_url", "status"}`` body."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(status, message)
        self.status = status
        self.message = message
        self.headers = headers or {}


@dataclass
class Fault:
    """Answer the next ``count`` matching requests with ``status`` (None: drop the connection)."""

    status: int | None
    count: int
    message: str
    method: str | None = None
    path: re.Pattern[str] | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def matches(self, request: Request) -> bool:
        if self.count <= 0:
            return False
        if self.method and request.method != self.method.upper():
            return False
        return not (self.path and not self.path.search(request.path))


@dataclass
class Recorded:
    """One request the double answered."""

    method: str
    path: str
    query: str
    status: int
    caller: str
    body: Any
    at: float = field(default_factory=time.monotonic)
    """When it arrived (``time.monotonic``): for tests that count requests per window."""


class GitHubDouble:
    """A running double: state, helpers to set a scene, and what it saw."""

    def __init__(  # noqa: PLR0913
        self,
        root: Path,
        *,
        private_key_pem: str,
        public_key_pem: str,
        app_id: int = 4242,
        slug: str = "eucora-test",
        api_prefix: str = "",
    ) -> None:
        self.root = root
        self.api_prefix = api_prefix.rstrip("/")  # "/api/v3" serves the API as GHES does
        self.git_root = root / "git"
        self.git_root.mkdir(parents=True, exist_ok=True)
        self.app = st.App(
            id=app_id,
            slug=slug,
            name="EUCORA (test)",
            private_key_pem=private_key_pem,
            public_key_pem=public_key_pem,
            webhook_secret="whsec-" + secrets.token_hex(16),
            client_id="Iv1." + secrets.token_hex(8),
            client_secret=secrets.token_hex(20),
        )
        self.lock = threading.RLock()
        self.clock: Callable[[], datetime] = st.now
        self.token_lifetime = timedelta(hours=1)
        self.installations: dict[int, st.Installation] = {}
        self.tokens: dict[str, st.Token] = {}
        self.repositories: dict[str, st.Repository] = {}
        self.pulls: dict[tuple[str, int], st.StoredPullRequest] = {}
        self.issues: dict[tuple[str, int], st.Issue] = {}
        self.labels: dict[tuple[str, str], str] = {}
        """(repository, name) → name: the repositories' labels."""
        self.runs: dict[int, st.StoredCheckRun] = {}
        self.comment_store: dict[int, st.Comment] = {}
        self.reviews: dict[int, st.Review] = {}
        self.permissions: dict[tuple[str, str], str] = {}
        self.teams: dict[tuple[str, str], st.Team] = {}
        self.deployments: dict[int, st.Deployment] = {}
        self.email_logins: dict[str, str | None] = {}
        """E-mail (case-folded) → the account GitHub ties it to, ``None`` for none (see
        :meth:`link_email`); an address not listed is tied to its local part's login."""
        self.protection_rule_reviews: list[dict[str, Any]] = []
        self.manifest_codes: dict[str, st.ManifestCode] = {}
        self.webhook_url = ""
        """The app's webhook URL: where :meth:`send_webhook` and redeliveries POST."""
        self.hookshot = deliveries.Hookshot(self)
        self.faults: list[Fault] = []
        self.revocations: list[Fault] = []
        self.requests: list[Recorded] = []
        self.violations: list[str] = []
        self.tokens_issued = 0
        self.not_modified = 0
        """Conditional GETs answered 304 (``If-None-Match`` matched the ``ETag``)."""
        self.rate_limit = 5000
        self.rate_remaining = 5000
        self._ids = iter(range(1000, 10**9))
        self._numbers: dict[str, int] = {}
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self.url = ""
        self.web_url = ""
        self.urls = responses.Urls("", "")
        self._map = Map(
            [Rule(pattern, endpoint=name, methods=[m]) for name, m, pattern, _, _ in ROUTES]
        )
        self._routes = {name: (path, kind) for name, _, _, path, kind in ROUTES}
        self._handlers = Handlers(self)

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> GitHubDouble:
        self._server = make_server(
            "127.0.0.1", 0, self._wsgi, threaded=True, request_handler=_QuietHandler
        )
        self.web_url = f"http://127.0.0.1:{self._server.server_port}"
        self.url = self.web_url + self.api_prefix
        self.urls = responses.Urls(self.url, self.web_url)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    # -- scene setting -----------------------------------------------------------------------

    def next_id(self) -> int:
        return next(self._ids)

    def add_installation(
        self,
        account: str,
        repositories: Iterable[str] = (),
        *,
        permissions: dict[str, str] | None = None,
    ) -> st.Installation:
        """An installation of the app on ``account``; ``permissions`` replace the default
        (``{"members": "read"}``): ``{}`` is an app that cannot read team membership, as the
        ``github-actions`` app behind a workflow's ``GITHUB_TOKEN``.
        """
        with self.lock:
            installation = st.Installation(id=self.next_id(), account=account)
            if permissions is not None:
                installation.permissions = dict(permissions)
            installation.repositories.update(repositories)
            self.installations[installation.id] = installation
            return installation

    def add_repository(
        self,
        full_name: str,
        *,
        installation: st.Installation | None = None,
        source: Path | None = None,
        default_branch: str = "main",
    ) -> st.Repository:
        """A repository with a bare git repo behind it; ``source`` (a working repo) is pushed in."""
        owner, name = full_name.split("/", 1)
        bare = self.git_root / owner / f"{name}.git"
        bare.parent.mkdir(parents=True, exist_ok=True)
        self._git(None, "init", "-q", "--bare", "-b", default_branch, str(bare))
        self._git(bare, "config", "uploadpack.allowAnySHA1InWant", "true")
        self._git(bare, "config", "http.receivepack", "false")
        with self.lock:
            repo = st.Repository(
                id=self.next_id(),
                full_name=full_name,
                installation_id=installation.id if installation else None,
                bare_path=bare,
                default_branch=default_branch,
            )
            self.repositories[full_name] = repo
            if installation is not None:
                installation.repositories.add(full_name)
        if source is not None:
            self.push(full_name, source)
        return repo

    def push(self, full_name: str, source: Path, *branches: str) -> list[st.StoredPullRequest]:
        """Force-push ``branches`` (default: all) of a working repo; update PRs on them.

        Returns the open pull requests whose head moved (GitHub would send ``synchronize``).
        """
        repo = self.repositories[full_name]
        specs = [f"+refs/heads/{b}:refs/heads/{b}" for b in branches] or [
            "+refs/heads/*:refs/heads/*"
        ]
        self._git(Path(source), "push", "-q", str(repo.bare_path), *specs)
        return self._sync_pulls(full_name)

    def _sync_pulls(self, full_name: str) -> list[st.StoredPullRequest]:
        """Point open PRs at their branches' current commits; the PRs whose head or base moved."""
        repo = self.repositories[full_name]
        moved = []
        with self.lock:
            for (name, _), pr in self.pulls.items():
                if name != full_name or pr.state != "open":
                    continue
                head = self.rev_parse(full_name, pr.head_ref)
                base = self.rev_parse(full_name, pr.base_ref)
                if head != pr.head_sha or base != pr.base_sha:
                    pr.head_sha, pr.base_sha = head, base
                    pr.commits = self._commits(repo, base, head)
                    pr.updated_at = self.clock()
                    self._git(repo.bare_path, "update-ref", f"refs/pull/{pr.number}/head", head)
                    moved.append(pr)
        return moved

    def commit_to_branch(
        self,
        full_name: str,
        branch: str,
        files: Mapping[str, str | None],
        *,
        message: str = "Change the branch",
        author: str = "erin",
    ) -> str:
        """A commit on ``branch`` writing ``files`` (path → text, None deletes); its SHA.

        As someone editing on github.com (or pushing) would: open PRs on the branch move, so a
        commit on the base after a PR's head makes a later merge's tree differ from that head's.
        """
        repo = self.repositories[full_name]
        with self.lock:
            sha = merging.commit_files(
                repo.bare_path,
                GIT_ENV,
                branch=branch,
                files=files,
                message=message,
                author=merging.user_identity(author),
            )
            self._sync_pulls(full_name)
        return sha

    def merge_pull_request(  # noqa: PLR0913
        self,
        full_name: str,
        number: int,
        *,
        by: str = "maintainer",
        method: str = "merge",
        sha: str | None = None,
        commit_title: str | None = None,
        commit_message: str | None = None,
    ) -> str:
        """Merge the PR as ``by`` would with the button (or ``PUT .../merge``); the merge SHA.

        A real commit on the base branch (two parents for ``merge``, one for ``squash``); the PR
        becomes closed and merged with ``merge_commit_sha`` and ``merged_by``. Refusals are
        GitHub's: 405 when the PR is not open, not mergeable or the method is ``rebase`` (not
        performed by the double), 409 when ``sha`` is not the head.
        """
        repo = self.repositories[full_name]
        with self.lock:
            pr = self.pulls.get((full_name, number))
            if pr is None:
                raise ApiError(404, "Not Found")
            if pr.state != "open" or pr.draft:
                raise ApiError(405, "Pull Request is not mergeable")
            if method not in {"merge", "squash"}:
                raise ApiError(
                    405, f"{method.capitalize()} merges are not allowed on this repository."
                )
            if sha is not None and sha != pr.head_sha:
                raise ApiError(409, "Head branch was modified. Review and try the merge again.")
            title, body = merging.default_message(
                method=method,
                number=number,
                title=pr.title,
                head_label=f"{repo.owner}/{pr.head_ref}",
                commits=[c.message.splitlines()[0] if c.message else "" for c in pr.commits],
            )
            text = f"{commit_title or title}\n\n{commit_message if commit_message is not None else body}"
            try:
                merged = merging.merge(
                    repo.bare_path,
                    GIT_ENV,
                    base_ref=pr.base_ref,
                    head_sha=pr.head_sha,
                    method=method,
                    author=merging.user_identity(by),
                    message=text.rstrip() + "\n",
                )
            except merging.MergeConflictError:
                raise ApiError(405, "Pull Request is not mergeable") from None
            moment = self.clock()
            pr.state, pr.merged, pr.merge_commit_sha, pr.merged_by = "closed", True, merged, by
            pr.merged_at = pr.closed_at = pr.updated_at = moment
            self._sync_pulls(full_name)  # other PRs on this base see it move
        return merged

    def pull_request_event(
        self, full_name: str, number: int, action: str = "closed", *, sender: str | None = None
    ) -> dict[str, Any]:
        """The ``pull_request`` webhook payload GitHub sends for the PR as it is now.

        Built like every body of the double (GitHub's own shapes, filled from state), so after
        :meth:`merge_pull_request` it is the ``closed`` delivery with ``merged: true``, the
        merge SHA and who merged; ``installation`` is the repository's.
        """
        return events.pull_request_event(self, full_name, number, action, sender=sender)

    def signed_delivery(
        self, event: str, payload: Mapping[str, Any]
    ) -> tuple[bytes, dict[str, str]]:
        """The body and headers GitHub would POST for ``payload`` (signed with the app's secret)."""
        return events.signed(event, payload, self.app.webhook_secret)

    def send_webhook(self, event: str, payload: Mapping[str, Any]) -> deliveries.SentDelivery:
        """Deliver ``payload`` to ``webhook_url`` as GitHub does, recorded failed or not.

        ``hookshot.fail_next(n)`` fails the next attempts; ``hookshot.sent`` is the log that
        ``GET /app/hook/deliveries`` lists; a redelivery re-sends with the same guid.
        """
        return self.hookshot.send(event, payload)

    def rev_parse(self, full_name: str, rev: str) -> str:
        return self._git(
            self.repositories[full_name].bare_path, "rev-parse", "--verify", f"{rev}^{{commit}}"
        )

    def open_pull_request(  # noqa: PLR0913
        self,
        full_name: str,
        *,
        head: str,
        base: str = "main",
        author: str = "dave",
        title: str = "Change intents",
        body: str = "",
        labels: Iterable[str] = (),
        draft: bool = False,
        fork: str | None = None,
    ) -> st.StoredPullRequest:
        """A pull request from branch ``head`` into ``base`` (both already pushed).

        ``fork`` (``owner/name``) says the head branch comes from a fork, as GitHub shows it in
        the PR's ``head.repo``; the branch itself is served from this repository.
        """
        repo = self.repositories[full_name]
        head_sha = self.rev_parse(full_name, head)
        base_sha = self.rev_parse(full_name, base)
        with self.lock:
            number = self._next_number(full_name)
            pr = st.StoredPullRequest(
                id=self.next_id(),
                repository=full_name,
                number=number,
                title=title,
                body=body,
                author=author,
                head_ref=head,
                base_ref=base,
                head_sha=head_sha,
                base_sha=base_sha,
                labels=list(labels),
                draft=draft,
                commits=self._commits(repo, base_sha, head_sha),
                fork=fork,
            )
            self.pulls[(full_name, number)] = pr
        self._git(repo.bare_path, "update-ref", f"refs/pull/{number}/head", head_sha)
        return pr

    def pull_request(self, full_name: str, number: int) -> st.StoredPullRequest:
        return self.pulls[(full_name, number)]

    def set_permission(self, full_name: str, user: str, permission: str) -> None:
        with self.lock:
            self.permissions[(full_name, user)] = permission

    def add_team(
        self, org: str, slug: str, members: Iterable[str] = (), *, parent: str | None = None
    ) -> st.Team:
        with self.lock:
            team = st.Team(
                id=self.next_id(),
                org=org,
                slug=slug,
                name=slug,
                members=list(members),
                parent=parent,
            )
            self.teams[(org, slug)] = team
            return team

    def add_review(  # noqa: PLR0913
        self,
        full_name: str,
        number: int,
        user: str,
        state: str,
        *,
        commit_id: str | None = None,
        body: str = "",
    ) -> st.Review:
        pr = self.pulls[(full_name, number)]
        with self.lock:
            review = st.Review(
                id=self.next_id(),
                repository=full_name,
                number=number,
                user=user,
                state=state,
                body=body,
                commit_id=commit_id or pr.head_sha,
                submitted_at=self.clock(),
            )
            self.reviews[review.id] = review
            return review

    def add_comment(self, full_name: str, number: int, author: str, body: str) -> st.Comment:
        """A comment written by someone (a user, or ``<slug>[bot]`` for the app)."""
        with self.lock:
            comment = st.Comment(
                id=self.next_id(),
                repository=full_name,
                issue_number=number,
                author=author,
                author_type="Bot" if author.endswith("[bot]") else "User",
                body=body,
                created_at=self.clock(),
                updated_at=self.clock(),
            )
            self.comment_store[comment.id] = comment
            return comment

    def add_user_token(self, login: str) -> str:
        """A personal token (token mode, ``GITHUB_TOKEN``) acting as ``login``."""
        value = auth.new_user_token()
        with self.lock:
            self.tokens[value] = st.Token(
                value=value,
                expires_at=datetime.max.replace(tzinfo=UTC),
                login=login,
            )
        return value

    def installation_token(self, installation_id: int) -> str:
        """Mint a token as ``POST /app/installations/{id}/access_tokens`` would."""
        with self.lock:
            value = auth.new_installation_token()
            self.tokens[value] = st.Token(
                value=value,
                expires_at=self.clock() + self.token_lifetime,
                installation_id=installation_id,
            )
            self.tokens_issued += 1
            return value

    def register_manifest_code(self, code: str, *, slug: str | None = None) -> dict[str, Any]:
        """Make ``code`` convertible by ``POST /app-manifests/{code}/conversions`` (once)."""
        conversion = {
            "id": self.app.id,
            "slug": slug or self.app.slug,
            "name": self.app.name,
            "pem": self.app.private_key_pem,
            "webhook_secret": self.app.webhook_secret,
            "client_id": self.app.client_id,
            "client_secret": self.app.client_secret,
        }
        with self.lock:
            self.manifest_codes[code] = st.ManifestCode(code=code, conversion=conversion)
        return conversion

    def clone_url(self, full_name: str) -> str:
        return f"{self.web_url}/{full_name}.git"

    # -- what the bot did --------------------------------------------------------------------

    def check_runs(self, full_name: str, *, name: str | None = None) -> list[st.StoredCheckRun]:
        with self.lock:
            return [
                r
                for r in self.runs.values()
                if r.repository == full_name and (name is None or r.name == name)
            ]

    def comments(self, full_name: str, number: int) -> list[st.Comment]:
        with self.lock:
            return sorted(
                (
                    c
                    for c in self.comment_store.values()
                    if c.repository == full_name and c.issue_number == number
                ),
                key=lambda c: c.id,
            )

    def requests_to(self, method: str, pattern: str) -> list[Recorded]:
        regex = re.compile(pattern)
        return [r for r in self.requests if r.method == method and regex.search(r.path)]

    # -- faults ------------------------------------------------------------------------------

    def fail(  # noqa: PLR0913
        self,
        status: int,
        count: int = 1,
        *,
        method: str | None = None,
        path: str | None = None,
        message: str = "Server Error",
        headers: dict[str, str] | None = None,
    ) -> None:
        """Answer the next ``count`` matching API requests with ``status``."""
        with self.lock:
            self.faults.append(
                Fault(
                    status,
                    count,
                    message,
                    method,
                    re.compile(path) if path else None,
                    dict(headers or {}),
                )
            )

    def secondary_rate_limit(
        self, count: int = 1, *, retry_after: int = 1, status: int = 403, **match: Any
    ) -> None:
        """GitHub's secondary (abuse) limit: 403 or 429 with ``Retry-After``."""
        self.fail(
            status,
            count,
            message=SECONDARY_RATE_LIMIT,
            headers={"Retry-After": str(retry_after)},
            **match,
        )

    def primary_rate_limit(self, count: int = 1, *, reset_in: int = 1, **match: Any) -> None:
        """The hourly limit spent: 403, ``x-ratelimit-remaining: 0`` and the reset time."""
        reset = int(self.clock().timestamp()) + reset_in
        headers = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset)}
        self.fail(
            403,
            count,
            message="API rate limit exceeded for installation ID 1.",
            headers=headers,
            **match,
        )

    def drop_connections(
        self, count: int = 1, *, method: str | None = None, path: str | None = None
    ) -> None:
        """Close the connection without answering the next ``count`` matching API requests."""
        with self.lock:
            self.faults.append(Fault(None, count, "", method, re.compile(path) if path else None))

    def revoke_token_after(
        self, count: int = 1, *, method: str | None = None, path: str | None = None
    ) -> None:
        """After answering the next ``count`` matching requests, forget the token they used.

        As GitHub does when a token is revoked before it expires: the next request is a 401.
        """
        with self.lock:
            self.revocations.append(Fault(0, count, "", method, re.compile(path) if path else None))

    @contextmanager
    def expecting_violations(self) -> Iterator[list[str]]:
        """For tests that send GitHub bad requests on purpose: yields and clears the violations."""
        start = len(self.violations)
        seen: list[str] = []
        yield seen
        with self.lock:
            seen.extend(self.violations[start:])
            del self.violations[start:]

    # -- plumbing ----------------------------------------------------------------------------

    def _git(self, cwd: Path | None, *args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=cwd, env=GIT_ENV, check=True, capture_output=True, text=True
        ).stdout.strip()

    def _next_number(self, full_name: str) -> int:
        self._numbers[full_name] = self._numbers.get(full_name, 0) + 1
        return self._numbers[full_name]

    def _commits(self, repo: st.Repository, base: str, head: str) -> list[st.Commit]:
        return self.log(repo.full_name, f"{base}..{head}")

    def log(self, full_name: str, *revs: str) -> list[st.Commit]:
        """The commits ``git log --reverse revs`` lists, each author and committer tied to a login."""
        fmt = "%H%x1f%an%x1f%ae%x1f%cn%x1f%ce%x1f%P%x1f%cI%x1f%B%x1e"  # full message, as GitHub
        repo = self.repositories[full_name]
        out = self._git(repo.bare_path, "log", "--reverse", f"--format={fmt}", *revs, "--")
        commits = []
        for record in filter(None, (r.strip() for r in out.split("\x1e"))):
            sha, an, ae, cn, ce, parents, date, subject = record.split("\x1f")
            commits.append(
                st.Commit(
                    sha=sha,
                    message=subject.strip(),
                    author_name=an,
                    author_email=ae,
                    author_login=self.login_for(ae),
                    committer_name=cn,
                    committer_email=ce,
                    committer_login=self.login_for(ce),
                    parents=parents.split(),
                    date=date,
                )
            )
        return commits

    def link_email(self, email: str, login: str | None) -> None:
        """Tie ``email`` to ``login`` as a verified address of that account (``None``: to nobody).

        GitHub names a commit's author and committer by the account holding their address; set
        this before the commits are pushed (the double ties them when it reads them).
        """
        with self.lock:
            self.email_logins[email.casefold()] = login

    def login_for(self, email: str) -> str | None:
        """The account GitHub ties ``email`` to.

        A no-reply address's login, a linked address's account, else (the double's default)
        the address's local part.
        """
        key = email.casefold()
        noreply = _NOREPLY.fullmatch(key)
        if noreply:
            return noreply.group(1)
        if key in self.email_logins:
            return self.email_logins[key]
        if key == merging.GITHUB_COMMITTER[1]:
            return WEB_FLOW
        return email.split("@", 1)[0] or None

    def git(self, full_name: str, *args: str) -> str:
        """Run git in a repository's bare repo (for handlers that read trees)."""
        return self._git(self.repositories[full_name].bare_path, *args)

    def _wsgi(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        path = request.path
        if re.match(r"^/[^/]+/[^/]+\.git(/|$)", path):
            response = self._git_http(request)
        elif self.api_prefix and not path.startswith(f"{self.api_prefix}/"):
            self.violations.append(
                f"{request.method} {path}: outside the API prefix {self.api_prefix}"
            )
            response = self._json_error(ApiError(404, "Not Found"))
        else:
            if self.api_prefix:  # the API lives under the prefix, as a WSGI app mounted there
                environ = {
                    **environ,
                    "SCRIPT_NAME": self.api_prefix,
                    "PATH_INFO": environ["PATH_INFO"][len(self.api_prefix) :],
                }
            response = self._api(Request(environ), environ)
        return response(environ, start_response)

    def _git_http(self, request: Request) -> Response:
        match = re.match(r"^/([^/]+)/([^/]+)\.git(/.*)?$", request.path)
        assert match is not None
        full_name = f"{match[1]}/{match[2]}"
        token = auth.basic_token(request.headers.get("Authorization"))
        challenge = {"WWW-Authenticate": 'Basic realm="GitHub"'}
        with self.lock:
            record = self.tokens.get(token or "")
            repo = self.repositories.get(full_name)
            allowed = (
                record is not None
                and record.expires_at > self.clock()
                and repo is not None
                and (
                    record.login is not None
                    or (
                        record.installation_id is not None
                        and full_name in self.installations[record.installation_id].repositories
                    )
                )
            )
            recorded = Recorded(
                request.method, request.path, request.query_string.decode(), 0, "git", None
            )
            self.requests.append(recorded)
        if not allowed:
            recorded.status = 401
            return Response("Invalid username or token.\n", status=401, headers=challenge)
        response = git_http.serve(
            request, self.git_root, f"/{match[1]}/{match[2]}.git{match[3] or ''}"
        )
        recorded.status = response.status_code
        return response

    def _api(self, request: Request, environ: dict[str, Any]) -> Response:  # noqa: C901
        body = request.get_json(silent=True) if request.data else None
        with self.lock:
            recorded = Recorded(
                request.method,
                request.root_path + request.path,  # with the API prefix, as the client sent it
                request.query_string.decode(),
                0,
                "",
                body,
            )
            self.requests.append(recorded)
            fault = next((f for f in self.faults if f.matches(request)), None)
            if fault is not None:
                fault.count -= 1
        if fault is not None and fault.status is None:
            self._drop(environ)
            recorded.status = 0
            return Response(b"", status=500)
        if fault is not None:
            assert fault.status is not None
            response = self._json_error(ApiError(fault.status, fault.message, fault.headers))
            recorded.status = response.status_code
            return response
        adapter = self._map.bind_to_environ(environ)
        try:
            endpoint, args = adapter.match()
        except HTTPException:
            self.violations.append(
                f"{request.method} {request.path}: not an operation of the OpenAPI subset"
            )
            recorded.status = 404
            return self._json_error(ApiError(404, "Not Found"))
        path_pattern, auth_kind = self._routes[endpoint]
        problem = validation.check_request(request)
        if problem is not None:
            self.violations.append(problem)
            recorded.status = 422
            return self._json_error(ApiError(422, "Validation Failed"))
        try:
            caller = self._authenticate(request, auth_kind)
            recorded.caller = caller.kind
            with self.lock:
                status, payload, headers = getattr(self._handlers, endpoint)(
                    request, caller, **args
                )
        except ApiError as error:
            response = self._json_error(error)
        except NotFound:
            response = self._json_error(ApiError(404, "Not Found"))
        else:
            response = self._json(status, payload, headers)
            response = self._conditional(request, response, caller)
            self._maybe_revoke(request, caller)
        recorded.status = response.status_code
        if validation.operation_declares(request.method, path_pattern, response.status_code):
            problem = validation.check_response(request, response)
            if problem is not None:
                self.violations.append(problem)
        return response

    def _conditional(self, request: Request, response: Response, caller: auth.Caller) -> Response:
        """A GET answered 200 carries an ``ETag``; ``If-None-Match`` with it gets a bodiless 304.

        As on GitHub, a 304 is not counted against the rate limit.
        """
        if request.method != "GET" or response.status_code != 200:
            return response
        etag = '"' + hashlib.sha256(response.get_data()).hexdigest()[:40] + '"'
        response.headers["ETag"] = etag
        if request.headers.get("If-None-Match") not in {etag, f"W/{etag}"}:
            return response
        with self.lock:
            self.not_modified += 1
            if caller.token is not None:
                self.rate_remaining = min(self.rate_limit, self.rate_remaining + 1)
        headers = {**self._rate_headers(), "ETag": etag}
        return Response(status=304, headers=headers)

    def _maybe_revoke(self, request: Request, caller: auth.Caller) -> None:
        with self.lock:
            revocation = next((r for r in self.revocations if r.matches(request)), None)
            if revocation is not None and caller.token is not None:
                revocation.count -= 1
                self.tokens.pop(caller.token, None)

    def _drop(self, environ: dict[str, Any]) -> None:
        sock = environ.get("werkzeug.socket")
        if isinstance(sock, socket.socket):
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def _authenticate(self, request: Request, kind: str) -> auth.Caller:
        if kind == "none":
            return auth.Caller("anonymous")
        parsed = auth.bearer(request.headers.get("Authorization"))
        if parsed is None:
            raise ApiError(401, "Requires authentication")
        scheme, credential = parsed
        if kind == "jwt":
            if scheme != "bearer" or credential.count(".") != 2:
                raise ApiError(401, "A JSON web token could not be decoded")
            try:
                auth.verify_jwt(credential, self.app, self.clock())
            except auth.UnauthorizedError as error:
                raise ApiError(401, str(error)) from None
            return auth.Caller("app")
        if scheme not in {"token", "bearer"}:
            raise ApiError(401, "Bad credentials")
        if credential.count(".") == 2:
            raise ApiError(401, "A JSON web token cannot be used here: use an installation token")
        with self.lock:
            record = self.tokens.get(credential)
            if record is None or record.expires_at <= self.clock():
                raise ApiError(401, "Bad credentials")
            if record.login is not None:
                self._spend()
                return auth.Caller("user", login=record.login, token=credential)
            self._spend()
            return auth.Caller(
                "installation",
                installation_id=record.installation_id,
                login=self.app.bot_login,
                token=credential,
            )

    def _spend(self) -> None:
        self.rate_remaining = max(0, self.rate_remaining - 1)

    def _rate_headers(self) -> dict[str, str]:
        reset = int(self.clock().timestamp()) + 3600
        return {
            "x-ratelimit-limit": str(self.rate_limit),
            "x-ratelimit-remaining": str(self.rate_remaining),
            "x-ratelimit-used": str(self.rate_limit - self.rate_remaining),
            "x-ratelimit-reset": str(reset),
            "x-ratelimit-resource": "core",
        }

    def _json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
        merged = {**self._rate_headers(), **(headers or {})}
        if status == 204:
            return Response(status=204, headers=merged)
        return Response(
            _dumps(payload),
            status=status,
            headers=merged,
            content_type="application/json; charset=utf-8",
        )

    def _json_error(self, error: ApiError) -> Response:
        body = {
            "message": error.message,
            "documentation_url": "https://docs.github.com/rest",
            "status": str(error.status),
        }
        return self._json(error.status, body, error.headers)

    def page(self, request: Request, items: list[Any]) -> tuple[list[Any], dict[str, str]]:
        """One page of ``items`` (``per_page``/``page`` as GitHub reads them) and its Link header."""
        per_page = min(int(request.args.get("per_page", 30)), 100)
        page = max(int(request.args.get("page", 1)), 1)
        last = max((len(items) + per_page - 1) // per_page, 1)
        links = []
        for rel, number in (("next", page + 1), ("last", last)):
            if page < last:
                query = {**request.args.to_dict(), "per_page": per_page, "page": number}
                links.append(f'<{self.url}{request.path}?{urlencode(query)}>; rel="{rel}"')
        headers = {"Link": ", ".join(links)} if links else {}
        return items[(page - 1) * per_page : page * per_page], headers


def _dumps(payload: Any) -> bytes:
    import json

    return json.dumps(payload).encode()
