"""An in-memory GitHub that implements the ``GitHub`` port, for flow tests (a fake we own).

It records what the flows post (check runs with their history, comments) and serves pull requests
and permissions that the test sets. ``fetch_revisions`` hands out a real local git repository, so
the flow runs the real check on real commits. End-to-end tests use the HTTP double instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from bot.core.github_model import CheckRun, Permission, PullRequest
from bot.errors import GitHubError


@dataclass
class Comment:
    id: int
    number: int
    author: str
    body: str
    edits: int = 0


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
    _next_id: int = 100

    def _id(self) -> int:
        self._next_id += 1
        return self._next_id

    def add_pull(self, pr: PullRequest) -> None:
        self.pulls[(pr.repository, pr.number)] = pr

    def move_head(self, repository: str, number: int, head_sha: str) -> None:
        pr = self.pulls[(repository, number)]
        self.pulls[(repository, number)] = replace(pr, head_sha=head_sha)

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

    def fetch_revisions(self, repository: str, shas: Sequence[str]) -> Path:
        if self.fail_fetch is not None:
            raise self.fail_fetch
        self.fetched.append((repository, tuple(shas)))
        return self.repo_path

    # --- reading what was posted ------------------------------------------------------------

    def latest_runs(self, name: str) -> list[CheckRun]:
        """The current state of every check run with this name, oldest first."""
        return [history[-1] for history in self.check_runs.values() if history[0].name == name]
