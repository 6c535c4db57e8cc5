"""A fake of the GitHub issue and change-pull-request methods the drift pass uses.

The interface is the GitHub port's (``upsert_issue``, ``find_issue``, ``close_issue``,
``open_change_pull_request``, ``permission``), as another engineer adds it to the port, adapter
and double; until the flows can reach it through the GitHub double, the drift tests use this
fake, which keeps issues like GitHub does: numbered, found by the marker in their body, closed
with a comment, reopened when upserted again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from bot.core.github_model import Permission


@dataclass(slots=True)
class FakeIssue:
    """One issue as the fake keeps it."""

    number: int
    title: str
    body: str
    labels: tuple[str, ...]
    state: str = "open"
    comments: list[str] = field(default_factory=list)
    edits: int = 0


@dataclass(slots=True)
class FakePull:
    """One pull request the fake opened."""

    number: int
    base: str
    branch: str
    title: str
    body: str
    files: Mapping[str, bytes]
    labels: tuple[str, ...]


class FakeDriftIssues:
    """Issues and change pull requests of any number of repositories."""

    def __init__(self, writers: Sequence[str] = ("carol",)) -> None:
        self.issues: dict[str, dict[int, FakeIssue]] = {}
        self.pulls: dict[str, list[FakePull]] = {}
        self.writers = set(writers)
        self._next = 100

    def _number(self) -> int:
        self._next += 1
        return self._next

    def upsert_issue(
        self, repository: str, *, marker: str, title: str, body: str, labels: Sequence[str]
    ) -> int:
        """Edit the issue carrying ``marker`` in place (reopened), or create it."""
        assert marker in body, "the marker must be in the body to find the issue again"
        found = self.find_issue(repository, marker)
        issues = self.issues.setdefault(repository, {})
        if found is not None:
            issue = issues[found]
            issue.title, issue.body, issue.labels = title, body, tuple(labels)
            issue.state = "open"
            issue.edits += 1
            return found
        number = self._number()
        issues[number] = FakeIssue(number=number, title=title, body=body, labels=tuple(labels))
        return number

    def find_issue(self, repository: str, marker: str) -> int | None:
        """The issue whose body carries ``marker`` (open or closed)."""
        for number, issue in self.issues.get(repository, {}).items():
            if marker in issue.body:
                return number
        return None

    def close_issue(self, repository: str, number: int, *, comment: str) -> None:
        """Comment, then close."""
        issue = self.issues[repository][number]
        issue.comments.append(comment)
        issue.state = "closed"

    def open_change_pull_request(  # noqa: PLR0913 - the pull request's fields
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
        """Record the pull request."""
        number = self._number()
        self.pulls.setdefault(repository, []).append(
            FakePull(
                number=number,
                base=base,
                branch=branch,
                title=title,
                body=body,
                files=dict(files),
                labels=tuple(labels),
            )
        )
        return number

    def permission(self, repository: str, user: str) -> Permission:
        """Writers write; everyone else reads."""
        del repository
        return Permission.WRITE if user in self.writers else Permission.READ

    def open_issues(self, repository: str) -> list[FakeIssue]:
        """The open issues of a repository."""
        return [i for i in self.issues.get(repository, {}).values() if i.state == "open"]
