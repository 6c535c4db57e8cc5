"""The GitHub port over PyGithub: one client per installation (or token), its calls split by job.

``GITHUB_API_URL`` picks the server (api.github.com, GHES's ``/api/v3``, or the test double).
:class:`GitHubAdapter` reads the pull request and the repository's git itself and takes the rest
from its parts: check runs (``github_checks``); comments, issues and change pull requests
(``github_issues``); permissions, reviews, commits and teams (``github_reviews``); deployments
(``github_deployments``). Each stands on one way of calling GitHub (``github_calls``), with
GitHub's rate limits honoured inside (``github_rate_limits``). The connectors that build an
adapter per installation, as a GitHub App or with a token, are in ``github_connectors``.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.adapters.github_calls import calling, scrub
from bot.adapters.github_checks import CheckRunCalls
from bot.adapters.github_deployments import DeploymentCalls
from bot.adapters.github_issues import IssueCalls
from bot.adapters.github_reviews import ReviewCalls
from bot.adapters.revisions import GitRevisions
from bot.core.github_model import PullRequest
from bot.errors import GitHubError


class GitHubAdapter(CheckRunCalls, IssueCalls, ReviewCalls, DeploymentCalls):
    """The :class:`bot.ports.GitHub` port for one installation (or one token)."""

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
        with calling(f"fetching {repository}"):
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
        with calling(f"reading branch {branch} of {repository}"):
            token = self._token()
        try:
            sha = self._mirrors.branch_head(repository, url, branch, token)
        except GitHubError as error:
            self._observe("branch_head", "error")
            raise GitHubError(scrub(str(error))) from None
        self._observe("branch_head", "ok")
        return sha
