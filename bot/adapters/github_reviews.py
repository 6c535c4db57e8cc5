"""Who approves: a user's permission, a PR's reviews and commits, commit authors, team members."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC
from typing import Any

from github import GithubException

from bot.adapters.github_calls import GitHubCalls
from bot.core.github_model import Permission, PullRequestCommit, PullRequestReview
from bot.errors import GitHubError

MAX_TEAM_PAGES = 50
"""Team members read at most (5,000)."""


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


class ReviewCalls(GitHubCalls):
    """The review, commit and team calls of :class:`bot.adapters.github.GitHubAdapter`."""

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

    def request_team_review(self, repository: str, number: int, team_slugs: Sequence[str]) -> None:
        """``POST .../pulls/{n}/requested_reviewers`` with ``team_reviewers``."""
        with self._call("request_team_review", f"requesting reviews on {repository}#{number}"):
            pull = self._repo(repository).get_pull(number)  # lazy: no request
            self._renewing(
                lambda: pull.create_review_request(team_reviewers=list(team_slugs)), write=True
            )
