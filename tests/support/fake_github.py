"""An in-memory GitHub that implements the ``GitHub`` port, for flow tests (a fake we own).

It records what the flows post (check runs with their history, comments) and serves pull requests
and permissions that the test sets. ``fetch_revisions`` reads a real local git repository, so
the flow runs the real check on real commits. End-to-end tests use the HTTP double instead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from bot.adapters.revisions import GitRevisions
from bot.core.github_model import (
    DEPLOYMENT_DESCRIPTION_MAX,
    CheckRun,
    CheckStatus,
    Permission,
    PullRequest,
    one_line,
)
from bot.errors import GitHubError
from bot.ports import Revisions


@dataclass
class Comment:
    id: int
    number: int
    author: str
    body: str
    edits: int = 0


@dataclass
class Deployment:
    id: int
    repository: str
    ref: str
    environment: str
    description: str
    payload: dict[str, Any]
    statuses: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Issue:
    number: int
    repository: str
    title: str
    body: str
    labels: tuple[str, ...]
    author: str = "eucora[bot]"
    state: str = "open"
    edits: int = 0
    comments: list[str] = field(default_factory=list)


@dataclass
class ChangePull:
    number: int
    repository: str
    base: str
    branch: str
    title: str
    body: str
    files: dict[str, bytes]
    labels: tuple[str, ...]
    state: str = "open"


@dataclass
class FakeGitHub:
    repo_path: Path
    login: str = "eucora[bot]"
    pulls: dict[tuple[str, int], PullRequest] = field(default_factory=dict)
    permissions: dict[str, Permission] = field(default_factory=dict)
    check_runs: dict[int, list[CheckRun]] = field(default_factory=dict)
    comments: list[Comment] = field(default_factory=list)
    fetched: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)
    fail_fetch: Exception | None = None
    deployments: dict[int, Deployment] = field(default_factory=dict)
    issues: list[Issue] = field(default_factory=list)
    change_pulls: list[ChangePull] = field(default_factory=list)
    failures: dict[str, list[Exception]] = field(default_factory=dict)
    """Port method name → errors raised by its next calls, one per call (GitHub failing)."""
    revisions: Revisions | None = None
    """What ``fetch_revisions`` hands out instead of the repository at ``repo_path`` (e.g. a
    ``tests.support.memory.MemoryRevisions``, for a flow that needs no git)."""
    _next_id: int = 100

    def _id(self) -> int:
        self._next_id += 1
        return self._next_id

    def add_pull(self, pr: PullRequest) -> None:
        self.pulls[(pr.repository, pr.number)] = pr

    def move_head(self, repository: str, number: int, head_sha: str) -> None:
        pr = self.pulls[(repository, number)]
        self.pulls[(repository, number)] = replace(pr, head_sha=head_sha)

    def fail_next(self, method: str, error: Exception | None = None, *, times: int = 1) -> None:
        """Make the next ``times`` calls of port method ``method`` raise ``error``."""
        failure = error or GitHubError(f"{method}: GitHub answered 502: Server Error")
        self.failures.setdefault(method, []).extend([failure] * times)

    def _maybe_fail(self, method: str) -> None:
        pending = self.failures.get(method)
        if pending:
            raise pending.pop(0)

    # --- the port ---------------------------------------------------------------------------

    def pull_request(self, repository: str, number: int) -> PullRequest:
        try:
            return self.pulls[(repository, number)]
        except KeyError:
            raise GitHubError(f"GET /repos/{repository}/pulls/{number}: 404 Not Found") from None

    def create_check_run(self, repository: str, run: CheckRun) -> int:
        del repository
        run_id = self._id()
        self.check_runs[run_id] = [run]
        return run_id

    def update_check_run(self, repository: str, check_run_id: int, run: CheckRun) -> None:
        del repository
        self.check_runs[check_run_id].append(run)

    def in_progress_check_runs(self, repository: str, head_sha: str, name: str) -> tuple[int, ...]:
        del repository
        self._maybe_fail("in_progress_check_runs")
        return tuple(
            run_id
            for run_id, history in self.check_runs.items()
            if history[0].name == name
            and history[0].head_sha == head_sha
            and history[-1].status is CheckStatus.IN_PROGRESS
        )

    def upsert_comment(self, repository: str, number: int, marker: str, body: str) -> int:
        del repository
        assert marker in body
        for comment in self.comments:
            if comment.number == number and comment.author == self.login and marker in comment.body:
                comment.body = body
                comment.edits += 1
                return comment.id
        return self.add_comment("", number, body)

    def add_comment(self, repository: str, number: int, body: str) -> int:
        del repository
        comment = Comment(id=self._id(), number=number, author=self.login, body=body)
        self.comments.append(comment)
        return comment.id

    def permission(self, repository: str, user: str) -> Permission:
        del repository
        return self.permissions.get(user, Permission.NONE)

    def fetch_revisions(self, repository: str, shas: Sequence[str]) -> Revisions:
        if self.fail_fetch is not None:
            raise self.fail_fetch
        self.fetched.append((repository, tuple(shas)))
        return self.revisions if self.revisions is not None else GitRevisions(self.repo_path)

    def create_deployment(
        self,
        repository: str,
        *,
        ref: str,
        environment: str,
        description: str,
        payload: Mapping[str, Any],
    ) -> int:
        self._maybe_fail("create_deployment")
        deployment = Deployment(
            id=self._id(),
            repository=repository,
            ref=ref,
            environment=environment,
            description=description,
            payload=dict(payload),
        )
        self.deployments[deployment.id] = deployment
        return deployment.id

    def find_deployment(
        self, repository: str, *, sha: str, environment: str, payload: Mapping[str, Any]
    ) -> int | None:
        self._maybe_fail("find_deployment")
        for deployment in sorted(self.deployments.values(), key=lambda d: d.id, reverse=True):
            if (deployment.repository, deployment.ref, deployment.environment) == (
                repository,
                sha,
                environment,
            ) and all(deployment.payload.get(k) == v for k, v in payload.items()):
                return deployment.id
        return None

    def create_deployment_status(  # noqa: PLR0913 - the port's signature
        self,
        repository: str,
        deployment_id: int,
        *,
        state: str,
        description: str,
        log_url: str | None,
        environment_url: str | None,
    ) -> None:
        self._maybe_fail("create_deployment_status")
        deployment = self.deployments.get(deployment_id)
        if deployment is None or deployment.repository != repository:
            raise GitHubError(f"deployment {deployment_id} on {repository}: GitHub answered 404")
        deployment.statuses.append(
            {
                "state": state,
                "description": one_line(description, DEPLOYMENT_DESCRIPTION_MAX),
                "log_url": log_url,
                "environment_url": environment_url,
            }
        )

    def create_issue(
        self, repository: str, *, title: str, body: str, labels: Sequence[str] = ()
    ) -> int:
        self._maybe_fail("create_issue")
        issue = Issue(
            number=self._id(),
            repository=repository,
            title=title,
            body=body,
            labels=tuple(labels),
            author=self.login,
        )
        self.issues.append(issue)
        return issue.number

    def find_issue(self, repository: str, marker: str) -> int | None:
        self._maybe_fail("find_issue")
        for issue in reversed(self.issues):
            mine = (issue.repository, issue.state, issue.author) == (repository, "open", self.login)
            if mine and marker in issue.body:
                return issue.number
        return None

    def upsert_issue(
        self, repository: str, *, marker: str, title: str, body: str, labels: Sequence[str]
    ) -> int:
        self._maybe_fail("upsert_issue")
        if marker not in body:
            raise ValueError("the issue body must contain its marker")
        number = self.find_issue(repository, marker)
        if number is None:
            return self.create_issue(repository, title=title, body=body, labels=labels)
        issue = self.issue(number)
        if (issue.title, issue.body, set(issue.labels)) != (title, body, set(labels)):
            issue.title, issue.body, issue.labels = title, body, tuple(labels)
            issue.edits += 1
        return number

    def close_issue(self, repository: str, number: int, *, comment: str) -> None:
        self._maybe_fail("close_issue")
        issue = self.issue(number)
        if issue.repository != repository:
            raise GitHubError(f"issue {repository}#{number}: GitHub answered 404")
        issue.comments.append(comment)
        issue.state = "closed"

    def open_change_pull_request(  # noqa: PLR0913 - the port's signature
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
        self._maybe_fail("open_change_pull_request")
        for pull in self.change_pulls:
            if (pull.repository, pull.branch, pull.state) == (repository, branch, "open"):
                return pull.number
        pull = ChangePull(
            number=self._id(),
            repository=repository,
            base=base,
            branch=branch,
            title=title,
            body=body,
            files=dict(files),
            labels=tuple(labels),
        )
        self.change_pulls.append(pull)
        return pull.number

    # --- reading what was posted ------------------------------------------------------------

    def issue(self, number: int) -> Issue:
        """The issue ``number`` (a KeyError-free lookup for tests: GitHub's 404 otherwise)."""
        for issue in self.issues:
            if issue.number == number:
                return issue
        raise GitHubError(f"issue #{number}: GitHub answered 404")

    def deployment_states(self, deployment_id: int) -> list[str]:
        """The states a deployment went through, in order."""
        return [s["state"] for s in self.deployments[deployment_id].statuses]

    def latest_runs(self, name: str) -> list[CheckRun]:
        """The current state of every check run with this name, oldest first."""
        return [history[-1] for history in self.check_runs.values() if history[0].name == name]
