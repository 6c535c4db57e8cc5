"""Every commit of a pull request, each address tied to a GitHub account.

Read for the CAB decision (``cab_approvals``) and the Action's: the commits come from the mirror
(``base..head``), the logins from GitHub's list, a single commit's attribution, or commit search.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bot.core.approvals import (
    Commit,
    Person,
)
from bot.core.errors import GitError
from bot.core.github_model import (
    PullRequest,
    PullRequestCommit,
)
from bot.errors import GitHubError
from bot.ports import GitHub, Revisions

MAX_COMMIT_LOOKUPS = 50
"""Commits beyond GitHub's list of a PR read per decision, to tie their addresses to accounts."""
MAX_ADDRESS_SEARCHES = 10
"""Addresses looked up by commit search per decision (GitHub allows 30 searches a minute)."""
_SEARCHABLE = re.compile(r"^[^@\s\"'():]+@[^@\s\"'():]+$")


def _commit(item: PullRequestCommit, tied: Mapping[str, str | None]) -> Commit:
    """A commit for the decision, each address with the login GitHub ties it to (if any)."""

    def person(login: str | None, email: str | None) -> Person:
        return Person(login=login or (tied.get(email.casefold()) if email else None), email=email)

    return Commit(
        sha=item.sha,
        author=person(item.author_login, item.author_email),
        committer=person(item.committer_login, item.committer_email),
        message=item.message,
    )


def _tie(tied: dict[str, str | None], email: str | None, login: str | None) -> None:
    if email and not tied.get(email.casefold()):
        tied[email.casefold()] = login


@dataclass(frozen=True, slots=True, kw_only=True)
class _PullCommits:
    """A PR's commits, every one of them, and the accounts their addresses are tied to."""

    commits: tuple[Commit, ...]
    emails: Mapping[str, frozenset[str]]
    """Login → the addresses commit search tied to it."""
    not_looked_up: int = 0
    """Addresses left untied because a decision looks up only so many."""


def read_pull_commits(github: GitHub, mirror: Revisions, pr: PullRequest) -> _PullCommits:
    """Every commit of ``pr`` (``base..head`` in the mirror), each address tied to an account.

    GitHub lists at most 250 of a PR's commits: the list is used only for GitHub's logins.
    The commits come from the mirror, so a long PR hides none. An address the list does not
    tie is tied by reading one commit that carries it (``GET .../commits/{sha}``, GitHub's own
    attribution); a ``Co-authored-by:`` address, and any address still untied, by commit
    search. What stays untied is left to the decision, which fails closed on it. A failed read
    raises: the decision is never made on a partial list.
    """
    listed = {c.sha: c for c in github.pull_commits(pr.repository, pr.number)}
    try:
        local = mirror.commits(pr.base_sha, pr.head_sha)
    except GitError as error:
        raise GitHubError(f"reading the commits of {pr.repository}#{pr.number}: {error}") from None
    tied: dict[str, str | None] = {}
    for item in listed.values():
        _tie(tied, item.author_email, item.author_login)
        _tie(tied, item.committer_email, item.committer_login)
    skipped: set[str] = set()
    lookups = 0
    for item in local:
        wanted = [e for e in (item.author_email, item.committer_email) if e]
        if item.sha in listed or all(tied.get(e.casefold()) for e in wanted):
            continue
        if lookups == MAX_COMMIT_LOOKUPS:
            skipped.update(e.casefold() for e in wanted if not tied.get(e.casefold()))
            continue
        lookups += 1
        found = github.commit(pr.repository, item.sha)
        _tie(tied, item.author_email, found.author_login)
        _tie(tied, item.committer_email, found.committer_login)
    commits = [_commit(c, tied) for c in local]
    commits += [_commit(c, tied) for sha, c in listed.items() if sha not in {x.sha for x in local}]
    emails, unsearched = _search_untied(github, commits)
    return _PullCommits(
        commits=tuple(commits), emails=emails, not_looked_up=len(skipped | unsearched)
    )


def _search_untied(
    github: GitHub, commits: Sequence[Commit]
) -> tuple[dict[str, frozenset[str]], set[str]]:
    """Commit search for the addresses no login ties (co-authors first met here, mostly)."""
    untied: set[str] = set()
    for commit in commits:
        for person in (commit.author, commit.committer, *commit.co_authors()):
            if person.email and not person.login:
                untied.add(person.email.casefold())
    wanted = sorted(e for e in untied if _SEARCHABLE.match(e) and not _NOREPLY_ADDRESS.match(e))
    found: dict[str, set[str]] = {}
    for email in wanted[:MAX_ADDRESS_SEARCHES]:
        for login in github.commit_authors(email):
            found.setdefault(login, set()).add(email)
    return {k: frozenset(v) for k, v in found.items()}, set(wanted[MAX_ADDRESS_SEARCHES:])


_NOREPLY_ADDRESS = re.compile(r"^(?:[^@]+@users\.noreply\.github\.com|noreply@github\.com)$")
