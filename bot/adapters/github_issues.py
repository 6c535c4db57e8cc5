"""Comments, the issues the app keeps (found again by a marker), and change pull requests."""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from github import GithubException

from bot.adapters.github_calls import GitHubCalls
from bot.adapters.github_check_output import cap
from bot.core.github_model import one_line

MAX_COMMENT_BODY = 65_536
MAX_ISSUE_TITLE = 256
MAX_ISSUE_PAGES = 10
"""Open issues read when looking for the app's issue by its marker (1,000, newest first)."""
LABEL_COLOUR = "d93f0b"
"""The colour of a label the app creates (``eucora:halted``...)."""


class IssueCalls(GitHubCalls):
    """The comment, issue and change PR calls of :class:`bot.adapters.github.GitHubAdapter`."""

    def upsert_comment(self, repository: str, number: int, marker: str, body: str) -> int:
        """Edit this app's comment holding ``marker`` (if its text changed), or create it."""
        if marker not in body:
            raise ValueError("the comment body must contain its marker")
        if len(body) > MAX_COMMENT_BODY:
            body = cap(body, MAX_COMMENT_BODY)
            if marker not in body:
                body = cap(f"{marker}\n{body}", MAX_COMMENT_BODY)
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
            text = cap(body, MAX_COMMENT_BODY)
            return int(self._renewing(lambda: issue.create_comment(text), write=True).id)

    def create_issue(
        self, repository: str, *, title: str, body: str, labels: Sequence[str] = ()
    ) -> int:
        """``POST .../issues`` (title and body cut to GitHub's limits); the issue's number."""
        fields = {
            "title": one_line(title, MAX_ISSUE_TITLE),
            "body": cap(body, MAX_COMMENT_BODY),
            "labels": list(labels),
        }
        with self._call("create_issue", f"opening an issue on {repository}"):
            data = self._post(f"/repos/{repository}/issues", fields)
            return int(data["number"])

    # -- issues the app keeps (found again by a marker) and change pull requests ---------------

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
            body = cap(f"{marker}\n{body}", MAX_COMMENT_BODY)
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
                {"body": cap(comment, MAX_COMMENT_BODY)},
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
        fields = {"title": one_line(title, MAX_ISSUE_TITLE), "body": cap(body, MAX_COMMENT_BODY)}
        return self._post(f"/repos/{repository}/pulls", {**fields, "head": branch, "base": base})
