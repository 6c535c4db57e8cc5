"""The operations the double answers: one handler per GitHub operation, reading and writing state.

Each handler returns ``(status, body, headers)`` or raises ``ApiError``; the server
authenticates before and validates after. ``ROUTES`` ties each handler to its Werkzeug rule,
the OpenAPI path it implements, and the credentials GitHub asks for there.
"""

from __future__ import annotations

import base64
import re
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Request

from bot.doubles.github import merging
from bot.doubles.github import responses as rs
from bot.doubles.github import state as st
from bot.doubles.github.auth import Caller

if TYPE_CHECKING:
    from bot.doubles.github.server import GitHubDouble

R = "/repos/<owner>/<repo>"
P = "/repos/{owner}/{repo}"
ROUTES: list[tuple[str, str, str, str, str]] = [
    # (handler, method, werkzeug rule, OpenAPI path, credentials)
    ("get_app", "GET", "/app", "/app", "jwt"),
    (
        "create_token",
        "POST",
        "/app/installations/<int:installation_id>/access_tokens",
        "/app/installations/{installation_id}/access_tokens",
        "jwt",
    ),
    (
        "convert_manifest",
        "POST",
        "/app-manifests/<code>/conversions",
        "/app-manifests/{code}/conversions",
        "none",
    ),
    ("list_hook_deliveries", "GET", "/app/hook/deliveries", "/app/hook/deliveries", "jwt"),
    (
        "redeliver_hook_delivery",
        "POST",
        "/app/hook/deliveries/<int:delivery_id>/attempts",
        "/app/hook/deliveries/{delivery_id}/attempts",
        "jwt",
    ),
    ("rate_limit", "GET", "/rate_limit", "/rate_limit", "token"),
    ("get_user", "GET", "/user", "/user", "token"),
    ("get_repo", "GET", R, P, "token"),
    ("get_repo_installation", "GET", f"{R}/installation", f"{P}/installation", "jwt"),
    ("get_pull", "GET", f"{R}/pulls/<int:number>", f"{P}/pulls/{{pull_number}}", "token"),
    (
        "list_pull_commits",
        "GET",
        f"{R}/pulls/<int:number>/commits",
        f"{P}/pulls/{{pull_number}}/commits",
        "token",
    ),
    (
        "get_commit",
        "GET",
        f"{R}/commits/<sha>",
        f"{P}/commits/{{ref}}",
        "token",
    ),
    ("search_commits", "GET", "/search/commits", "/search/commits", "token"),
    (
        "list_pull_files",
        "GET",
        f"{R}/pulls/<int:number>/files",
        f"{P}/pulls/{{pull_number}}/files",
        "token",
    ),
    (
        "list_reviews",
        "GET",
        f"{R}/pulls/<int:number>/reviews",
        f"{P}/pulls/{{pull_number}}/reviews",
        "token",
    ),
    (
        "create_review",
        "POST",
        f"{R}/pulls/<int:number>/reviews",
        f"{P}/pulls/{{pull_number}}/reviews",
        "token",
    ),
    (
        "request_reviewers",
        "POST",
        f"{R}/pulls/<int:number>/requested_reviewers",
        f"{P}/pulls/{{pull_number}}/requested_reviewers",
        "token",
    ),
    (
        "merge_pull",
        "PUT",
        f"{R}/pulls/<int:number>/merge",
        f"{P}/pulls/{{pull_number}}/merge",
        "token",
    ),
    ("create_check_run", "POST", f"{R}/check-runs", f"{P}/check-runs", "token"),
    (
        "get_check_run",
        "GET",
        f"{R}/check-runs/<int:run_id>",
        f"{P}/check-runs/{{check_run_id}}",
        "token",
    ),
    (
        "update_check_run",
        "PATCH",
        f"{R}/check-runs/<int:run_id>",
        f"{P}/check-runs/{{check_run_id}}",
        "token",
    ),
    (
        "list_check_runs",
        "GET",
        f"{R}/commits/<path:ref>/check-runs",
        f"{P}/commits/{{ref}}/check-runs",
        "token",
    ),
    (
        "list_comments",
        "GET",
        f"{R}/issues/<int:number>/comments",
        f"{P}/issues/{{issue_number}}/comments",
        "token",
    ),
    (
        "create_comment",
        "POST",
        f"{R}/issues/<int:number>/comments",
        f"{P}/issues/{{issue_number}}/comments",
        "token",
    ),
    (
        "update_comment",
        "PATCH",
        f"{R}/issues/comments/<int:comment_id>",
        f"{P}/issues/comments/{{comment_id}}",
        "token",
    ),
    ("create_issue", "POST", f"{R}/issues", f"{P}/issues", "token"),
    ("list_issues", "GET", f"{R}/issues", f"{P}/issues", "token"),
    (
        "update_issue",
        "PATCH",
        f"{R}/issues/<int:number>",
        f"{P}/issues/{{issue_number}}",
        "token",
    ),
    ("get_label", "GET", f"{R}/labels/<name>", f"{P}/labels/{{name}}", "token"),
    ("create_label", "POST", f"{R}/labels", f"{P}/labels", "token"),
    ("get_git_ref", "GET", f"{R}/git/ref/<path:ref>", f"{P}/git/ref/{{ref}}", "token"),
    (
        "get_git_commit",
        "GET",
        f"{R}/git/commits/<sha>",
        f"{P}/git/commits/{{commit_sha}}",
        "token",
    ),
    ("create_blob", "POST", f"{R}/git/blobs", f"{P}/git/blobs", "token"),
    ("create_tree", "POST", f"{R}/git/trees", f"{P}/git/trees", "token"),
    ("create_git_commit", "POST", f"{R}/git/commits", f"{P}/git/commits", "token"),
    ("create_git_ref", "POST", f"{R}/git/refs", f"{P}/git/refs", "token"),
    ("update_git_ref", "PATCH", f"{R}/git/refs/<path:ref>", f"{P}/git/refs/{{ref}}", "token"),
    ("list_pulls", "GET", f"{R}/pulls", f"{P}/pulls", "token"),
    ("create_pull", "POST", f"{R}/pulls", f"{P}/pulls", "token"),
    (
        "get_permission",
        "GET",
        f"{R}/collaborators/<username>/permission",
        f"{P}/collaborators/{{username}}/permission",
        "token",
    ),
    (
        "list_team_members",
        "GET",
        "/orgs/<org>/teams/<slug>/members",
        "/orgs/{org}/teams/{team_slug}/members",
        "token",
    ),
    (
        "get_team_membership",
        "GET",
        "/orgs/<org>/teams/<slug>/memberships/<username>",
        "/orgs/{org}/teams/{team_slug}/memberships/{username}",
        "token",
    ),
    (
        "list_child_teams",
        "GET",
        "/orgs/<org>/teams/<slug>/teams",
        "/orgs/{org}/teams/{team_slug}/teams",
        "token",
    ),
    ("list_deployments", "GET", f"{R}/deployments", f"{P}/deployments", "token"),
    ("create_deployment", "POST", f"{R}/deployments", f"{P}/deployments", "token"),
    (
        "create_deployment_status",
        "POST",
        f"{R}/deployments/<int:deployment_id>/statuses",
        f"{P}/deployments/{{deployment_id}}/statuses",
        "token",
    ),
    (
        "list_deployment_statuses",
        "GET",
        f"{R}/deployments/<int:deployment_id>/statuses",
        f"{P}/deployments/{{deployment_id}}/statuses",
        "token",
    ),
    (
        "review_protection_rule",
        "POST",
        f"{R}/actions/runs/<int:run_id>/deployment_protection_rule",
        f"{P}/actions/runs/{{run_id}}/deployment_protection_rule",
        "token",
    ),
]

_SHA = re.compile(r"^[0-9a-f]{40}$")
MAX_PULL_COMMITS = 250
"""GitHub lists at most this many of a pull request's commits: the most recent ones."""
_AUTHOR_EMAIL = re.compile(r"(?:^|\s)author-email:(\S+)")
MAX_STATUS_DESCRIPTION = 140
"""GitHub refuses a longer deployment status description."""
_REVIEW_STATES = {
    "APPROVE": "APPROVED",
    "REQUEST_CHANGES": "CHANGES_REQUESTED",
    "COMMENT": "COMMENTED",
}


def _error(status: int, message: str) -> Exception:
    from bot.doubles.github.server import ApiError

    return ApiError(status, message)


def _git_env() -> dict[str, str]:
    from bot.doubles.github.server import GIT_ENV

    return GIT_ENV


class Handlers:
    """GitHub's behaviour for each operation, over the double's state (called under its lock)."""

    def __init__(self, double: GitHubDouble) -> None:
        self.d = double

    # -- helpers -----------------------------------------------------------------------------

    def _repo(self, caller: Caller, owner: str, repo: str) -> st.Repository:
        full_name = f"{owner}/{repo}"
        found = self.d.repositories.get(full_name)
        if found is None:
            raise _error(404, "Not Found")
        if caller.kind == "installation":
            installation = self.d.installations[caller.installation_id or 0]
            if full_name not in installation.repositories:
                raise _error(404, "Not Found")
        return found

    def _repo_body(self, repo: st.Repository) -> dict[str, Any]:
        return rs.repository(repo, self.d.urls, self.d.clone_url(repo.full_name))

    def _pull(self, caller: Caller, owner: str, repo: str, number: int) -> st.StoredPullRequest:
        self._repo(caller, owner, repo)
        pr = self.d.pulls.get((f"{owner}/{repo}", number))
        if pr is None:
            raise _error(404, "Not Found")
        return pr

    def _actor(self, caller: Caller) -> tuple[str, str]:
        if caller.kind == "installation":
            return self.d.app.bot_login, "Bot"
        return caller.login or "ghost", "User"

    def _app_body(self) -> dict[str, Any]:
        return rs.app(self.d.app, self.d.urls)

    def _resolve(self, full_name: str, ref: str) -> str:
        if _SHA.match(ref):
            return ref
        try:
            return self.d.rev_parse(full_name, ref)
        except Exception:  # noqa: BLE001 (git says the ref is unknown)
            raise _error(422, f"No commit found for SHA: {ref}") from None

    # -- apps --------------------------------------------------------------------------------

    def get_app(self, request: Request, caller: Caller) -> tuple[int, Any, dict[str, str]]:
        return 200, self._app_body(), {}

    def list_hook_deliveries(
        self, request: Request, caller: Caller
    ) -> tuple[int, Any, dict[str, str]]:
        items, headers = self.d.hookshot.list_page(request)
        return 200, items, headers

    def redeliver_hook_delivery(
        self, request: Request, caller: Caller, delivery_id: int
    ) -> tuple[int, Any, dict[str, str]]:
        if self.d.hookshot.redeliver(delivery_id) is None:
            raise _error(404, "Not Found")
        return 202, {}, {}

    def create_token(
        self, request: Request, caller: Caller, installation_id: int
    ) -> tuple[int, Any, dict[str, str]]:
        if installation_id not in self.d.installations:
            raise _error(404, "Not Found")
        token = self.d.installation_token(installation_id)
        record = self.d.tokens[token]
        body = rs.template(
            "post", "/app/installations/{installation_id}/access_tokens", "201", self.d.urls
        )
        body.update(
            token=token, expires_at=st.stamp(record.expires_at), repository_selection="selected"
        )
        body.pop("repositories", None)
        return 201, body, {}

    def convert_manifest(
        self, request: Request, caller: Caller, code: str
    ) -> tuple[int, Any, dict[str, str]]:
        found = self.d.manifest_codes.get(code)
        if found is None or found.used:
            raise _error(404, "Not Found")
        found.used = True
        body = rs.template("post", "/app-manifests/{code}/conversions", "201", self.d.urls)
        body.update(found.conversion)
        body["owner"] = rs.simple_user("eucora-org", self.d.urls, kind="Organization")
        body["node_id"] = f"A_{found.conversion['id']}"
        return 201, body, {}

    def rate_limit(self, request: Request, caller: Caller) -> tuple[int, Any, dict[str, str]]:
        body = rs.template("get", "/rate_limit", "200", self.d.urls)
        reset = int(self.d.clock().timestamp()) + 3600
        core = {
            "limit": self.d.rate_limit,
            "remaining": self.d.rate_remaining,
            "reset": reset,
            "used": self.d.rate_limit - self.d.rate_remaining,
        }
        body["rate"] = dict(core)
        body["resources"]["core"] = dict(core)
        return 200, body, {}

    def get_user(self, request: Request, caller: Caller) -> tuple[int, Any, dict[str, str]]:
        if caller.kind != "user":
            raise _error(403, "Resource not accessible by integration")
        body = rs.template("get", "/user", "200", self.d.urls)
        body.update(rs.simple_user(caller.login or "ghost", self.d.urls))
        body.update(
            name=caller.login,
            email=None,
            company=None,
            blog="",
            location=None,
            bio=None,
            hireable=None,
            twitter_username=None,
        )
        for key in (
            "private_gists",
            "total_private_repos",
            "owned_private_repos",
            "disk_usage",
            "collaborators",
            "two_factor_authentication",
            "plan",
            "business_plus",
            "ldap_dn",
        ):
            body.pop(key, None)
        body.pop("notification_email", None)
        body["user_view_type"] = "public"  # the description tells the two user shapes by it
        return 200, body, {}

    # -- repositories and pull requests --------------------------------------------------------

    def get_repo(
        self, request: Request, caller: Caller, owner: str, repo: str
    ) -> tuple[int, Any, dict[str, str]]:
        return 200, self._repo_body(self._repo(caller, owner, repo)), {}

    def get_repo_installation(
        self, request: Request, caller: Caller, owner: str, repo: str
    ) -> tuple[int, Any, dict[str, str]]:
        found = self.d.repositories.get(f"{owner}/{repo}")
        if found is None or found.installation_id is None:
            raise _error(404, "Not Found")
        installation = self.d.installations[found.installation_id]
        body = rs.template("get", "/repos/{owner}/{repo}/installation", "200", self.d.urls)
        body.update(
            id=installation.id,
            app_id=self.d.app.id,
            app_slug=self.d.app.slug,
            account=rs.simple_user(installation.account, self.d.urls, kind="Organization"),
            access_tokens_url=f"{self.d.url}/app/installations/{installation.id}/access_tokens",
        )
        return 200, body, {}

    def get_pull(
        self, request: Request, caller: Caller, owner: str, repo: str, number: int
    ) -> tuple[int, Any, dict[str, str]]:
        pr = self._pull(caller, owner, repo, number)
        count = sum(
            1
            for c in self.d.comment_store.values()
            if c.repository == pr.repository and c.issue_number == number
        )
        return (
            200,
            rs.pull_request(
                pr, self._repo_body(self.d.repositories[pr.repository]), self.d.urls, count
            ),
            {},
        )

    def list_pull_commits(
        self, request: Request, caller: Caller, owner: str, repo: str, number: int
    ) -> tuple[int, Any, dict[str, str]]:
        pr = self._pull(caller, owner, repo, number)
        listed = pr.commits[-MAX_PULL_COMMITS:]
        items, headers = self.d.page(
            request, [rs.commit(c, pr.repository, self.d.urls) for c in listed]
        )
        return 200, items, headers

    def get_commit(
        self, request: Request, caller: Caller, owner: str, repo: str, sha: str
    ) -> tuple[int, Any, dict[str, str]]:
        found = self._repo(caller, owner, repo)
        resolved = self._resolve(found.full_name, sha)
        try:
            [commit] = self.d.log(found.full_name, "-1", resolved)
        except Exception:  # noqa: BLE001 (git knows no such commit)
            raise _error(422, f"No commit found for SHA: {sha}") from None
        return 200, rs.commit(commit, found.full_name, self.d.urls), {}

    def search_commits(self, request: Request, caller: Caller) -> tuple[int, Any, dict[str, str]]:
        """``author-email:`` over the default branches of the repositories the caller can read.

        GitHub indexes default branches only; other qualifiers are not understood.
        """
        wanted = _AUTHOR_EMAIL.search(request.args.get("q", ""))
        if wanted is None:
            raise _error(422, "Validation Failed: the double searches author-email: only")
        email = wanted.group(1).strip('"').casefold()
        items: list[dict[str, Any]] = []
        readable = (
            self.d.installations[caller.installation_id or 0].repositories
            if caller.kind == "installation"
            else set(self.d.repositories)
        )
        for name, repo in sorted(self.d.repositories.items()):
            if name not in readable:
                continue
            items.extend(
                rs.search_commit(commit, self._repo_body(repo), self.d.urls)
                for commit in self.d.log(name, repo.default_branch)
                if commit.author_email.casefold() == email
            )
        page, headers = self.d.page(request, items)
        return 200, {"total_count": len(items), "incomplete_results": False, "items": page}, headers

    def list_pull_files(
        self, request: Request, caller: Caller, owner: str, repo: str, number: int
    ) -> tuple[int, Any, dict[str, str]]:
        pr = self._pull(caller, owner, repo, number)
        out = self.d.git(
            pr.repository, "diff", "--numstat", "--no-renames", f"{pr.base_sha}...{pr.head_sha}"
        )
        names = dict(
            line.split("\t", 1)[::-1]
            for line in self.d.git(
                pr.repository,
                "diff",
                "--name-status",
                "--no-renames",
                f"{pr.base_sha}...{pr.head_sha}",
            ).splitlines()
        )
        files = []
        for line in out.splitlines():
            added, deleted, path = line.split("\t", 2)
            plus = int(added) if added.isdigit() else 0
            minus = int(deleted) if deleted.isdigit() else 0
            status = {"A": "added", "D": "removed", "M": "modified"}.get(
                names.get(path, "M"), "modified"
            )
            api = f"{self.d.url}/repos/{pr.repository}"
            files.append(
                {
                    "sha": None,
                    "filename": path,
                    "status": status,
                    "additions": plus,
                    "deletions": minus,
                    "changes": plus + minus,
                    "blob_url": f"{self.d.url}/{pr.repository}/blob/{pr.head_sha}/{path}",
                    "raw_url": f"{self.d.url}/{pr.repository}/raw/{pr.head_sha}/{path}",
                    "contents_url": f"{api}/contents/{path}?ref={pr.head_sha}",
                }
            )
        items, headers = self.d.page(request, files)
        return 200, items, headers

    def list_reviews(
        self, request: Request, caller: Caller, owner: str, repo: str, number: int
    ) -> tuple[int, Any, dict[str, str]]:
        pr = self._pull(caller, owner, repo, number)
        found = sorted(
            (
                r
                for r in self.d.reviews.values()
                if r.repository == pr.repository and r.number == number
            ),
            key=lambda r: r.id,
        )
        items, headers = self.d.page(request, [rs.review(r, self.d.urls) for r in found])
        return 200, items, headers

    def create_review(
        self, request: Request, caller: Caller, owner: str, repo: str, number: int
    ) -> tuple[int, Any, dict[str, str]]:
        pr = self._pull(caller, owner, repo, number)
        body = request.get_json() or {}
        login, _ = self._actor(caller)
        review = self.d.add_review(
            pr.repository,
            number,
            login,
            _REVIEW_STATES.get(body.get("event", ""), "PENDING"),
            commit_id=body.get("commit_id"),
            body=body.get("body", ""),
        )
        return 200, rs.review(review, self.d.urls), {}

    def request_reviewers(
        self, request: Request, caller: Caller, owner: str, repo: str, number: int
    ) -> tuple[int, Any, dict[str, str]]:
        pr = self._pull(caller, owner, repo, number)
        body = request.get_json() or {}
        for login in body.get("reviewers", []):
            if login == pr.author:
                raise _error(422, "Review cannot be requested from pull request author.")
            if login not in pr.requested_reviewers:
                pr.requested_reviewers.append(login)
        pr.requested_teams.extend(
            t for t in body.get("team_reviewers", []) if t not in pr.requested_teams
        )
        body_out = rs.pull_request(
            pr, self._repo_body(self.d.repositories[pr.repository]), self.d.urls, 0
        )
        return 201, body_out, {}

    def merge_pull(
        self, request: Request, caller: Caller, owner: str, repo: str, number: int
    ) -> tuple[int, Any, dict[str, str]]:
        pr = self._pull(caller, owner, repo, number)
        if caller.kind == "user" and self.d.permissions.get(
            (pr.repository, caller.login or ""), "none"
        ) not in {"write", "maintain", "admin"}:
            raise _error(403, "Resource not accessible by personal access token")
        body = request.get_json(silent=True) or {}
        login, _ = self._actor(caller)
        sha = self.d.merge_pull_request(
            pr.repository,
            number,
            by=login,
            method=body.get("merge_method", "merge"),
            sha=body.get("sha"),
            commit_title=body.get("commit_title"),
            commit_message=body.get("commit_message"),
        )
        return 200, {"sha": sha, "merged": True, "message": "Pull Request successfully merged"}, {}

    # -- checks ------------------------------------------------------------------------------

    def _apply_run(self, run: st.StoredCheckRun, body: dict[str, Any]) -> None:  # noqa: C901
        run.bodies.append(body)
        for key in ("name", "details_url", "external_id"):
            if key in body:
                setattr(run, key, body[key])
        if "status" in body:
            run.status = body["status"]
        if "conclusion" in body:
            run.conclusion = body["conclusion"]
            run.status = "completed"
        if run.status == "completed" and run.conclusion is None:
            raise _error(422, "Conclusion is required when status is completed")
        if run.status == "in_progress" and run.started_at is None:
            run.started_at = self.d.clock()
        if "started_at" in body:
            run.started_at = _parse_time(body["started_at"])
        if run.status == "completed":
            run.completed_at = (
                _parse_time(body["completed_at"]) if "completed_at" in body else self.d.clock()
            )
        output = body.get("output")
        if output is not None:
            run.title = output.get("title", run.title)
            run.summary = output.get("summary", run.summary)
            run.text = output.get("text", run.text)
            batch = list(output.get("annotations", []))
            if len(batch) > 50:
                raise _error(422, "Only 50 annotations are allowed per request")
            if batch:
                run.annotation_batches.append(batch)
                run.annotations.extend(batch)

    def _run(self, caller: Caller, owner: str, repo: str, run_id: int) -> st.StoredCheckRun:
        self._repo(caller, owner, repo)
        run = self.d.runs.get(run_id)
        if run is None or run.repository != f"{owner}/{repo}":
            raise _error(404, "Not Found")
        return run

    def create_check_run(
        self, request: Request, caller: Caller, owner: str, repo: str
    ) -> tuple[int, Any, dict[str, str]]:
        found = self._repo(caller, owner, repo)
        if caller.kind != "installation":
            raise _error(403, "You must authenticate via a GitHub App.")
        body = request.get_json() or {}
        run = st.StoredCheckRun(
            id=self.d.next_id(),
            repository=found.full_name,
            name=body["name"],
            head_sha=self._resolve(found.full_name, body["head_sha"]),
            app_id=self.d.app.id,
            started_at=self.d.clock(),
        )
        self._apply_run(run, body)
        self.d.runs[run.id] = run
        return 201, rs.check_run(run, self._app_body(), self.d.urls), {}

    def get_check_run(
        self, request: Request, caller: Caller, owner: str, repo: str, run_id: int
    ) -> tuple[int, Any, dict[str, str]]:
        return (
            200,
            rs.check_run(self._run(caller, owner, repo, run_id), self._app_body(), self.d.urls),
            {},
        )

    def update_check_run(
        self, request: Request, caller: Caller, owner: str, repo: str, run_id: int
    ) -> tuple[int, Any, dict[str, str]]:
        run = self._run(caller, owner, repo, run_id)
        if caller.kind != "installation":
            raise _error(403, "You must authenticate via a GitHub App.")
        self._apply_run(run, request.get_json() or {})
        return 200, rs.check_run(run, self._app_body(), self.d.urls), {}

    def list_check_runs(
        self, request: Request, caller: Caller, owner: str, repo: str, ref: str
    ) -> tuple[int, Any, dict[str, str]]:
        found = self._repo(caller, owner, repo)
        sha = self._resolve(found.full_name, ref)
        runs = [
            r for r in self.d.runs.values() if r.repository == found.full_name and r.head_sha == sha
        ]
        if "check_name" in request.args:
            runs = [r for r in runs if r.name == request.args["check_name"]]
        if "status" in request.args:
            runs = [r for r in runs if r.status == request.args["status"]]
        if "app_id" in request.args:
            runs = [r for r in runs if str(r.app_id) == request.args["app_id"]]
        if request.args.get("filter", "latest") == "latest":
            latest: dict[str, st.StoredCheckRun] = {}
            for run in sorted(runs, key=lambda r: r.id):
                latest[run.name] = run
            runs = list(latest.values())
        runs.sort(key=lambda r: -r.id)
        items, headers = self.d.page(
            request, [rs.check_run(r, self._app_body(), self.d.urls) for r in runs]
        )
        return 200, {"total_count": len(runs), "check_runs": items}, headers

    # -- issues and comments -----------------------------------------------------------------

    def list_comments(
        self, request: Request, caller: Caller, owner: str, repo: str, number: int
    ) -> tuple[int, Any, dict[str, str]]:
        self._repo(caller, owner, repo)
        found = self.d.comments(f"{owner}/{repo}", number)
        items, headers = self.d.page(request, [rs.comment(c, self.d.urls) for c in found])
        return 200, items, headers

    def create_comment(
        self, request: Request, caller: Caller, owner: str, repo: str, number: int
    ) -> tuple[int, Any, dict[str, str]]:
        self._repo(caller, owner, repo)
        key = (f"{owner}/{repo}", number)
        if key not in self.d.pulls and key not in self.d.issues:
            raise _error(404, "Not Found")
        body = (request.get_json() or {})["body"]
        if len(body) > 65536:
            raise _error(422, "Body is too long (maximum is 65536 characters)")
        login, _ = self._actor(caller)
        comment = self.d.add_comment(f"{owner}/{repo}", number, login, body)
        return (
            201,
            rs.comment(comment, self.d.urls),
            {"Location": f"{self.d.url}/repos/{owner}/{repo}/issues/comments/{comment.id}"},
        )

    def update_comment(
        self, request: Request, caller: Caller, owner: str, repo: str, comment_id: int
    ) -> tuple[int, Any, dict[str, str]]:
        self._repo(caller, owner, repo)
        comment = self.d.comment_store.get(comment_id)
        if comment is None or comment.repository != f"{owner}/{repo}":
            raise _error(404, "Not Found")
        login, _ = self._actor(caller)
        if comment.author != login:
            raise _error(403, "Must have admin rights to Repository.")  # the bot only edits its own
        body = (request.get_json() or {})["body"]
        if len(body) > 65536:
            raise _error(422, "Body is too long (maximum is 65536 characters)")
        comment.body = body
        comment.edits += 1
        comment.updated_at = self.d.clock()
        return 200, rs.comment(comment, self.d.urls), {}

    def create_issue(
        self, request: Request, caller: Caller, owner: str, repo: str
    ) -> tuple[int, Any, dict[str, str]]:
        found = self._repo(caller, owner, repo)
        body = request.get_json() or {}
        login, _ = self._actor(caller)
        issue = st.Issue(
            number=self.d._next_number(found.full_name),
            repository=found.full_name,
            title=str(body["title"]),
            body=body.get("body"),
            labels=[lb if isinstance(lb, str) else lb["name"] for lb in body.get("labels", [])],
            author=login,
        )
        self.d.issues[(found.full_name, issue.number)] = issue
        for name in issue.labels:  # GitHub creates a label it does not know yet
            self.d.labels.setdefault((found.full_name, name), name)
        return 201, rs.issue(issue, self.d.urls), {}

    def list_issues(
        self, request: Request, caller: Caller, owner: str, repo: str
    ) -> tuple[int, Any, dict[str, str]]:
        """Open (or ``state``) issues, newest first, filtered by ``creator`` and ``labels``.

        GitHub lists pull requests here too; the double lists issues only.
        """
        found = self._repo(caller, owner, repo)
        state = request.args.get("state", "open")
        creator = request.args.get("creator")
        wanted = {lb for lb in request.args.get("labels", "").split(",") if lb}
        matching = [
            i
            for (name, _), i in self.d.issues.items()
            if name == found.full_name
            and state in {"all", i.state}
            and (creator is None or i.author == creator)
            and wanted <= set(i.labels)
        ]
        matching.sort(key=lambda i: -i.number)
        items, headers = self.d.page(request, [rs.issue(i, self.d.urls) for i in matching])
        return 200, items, headers

    def update_issue(
        self, request: Request, caller: Caller, owner: str, repo: str, number: int
    ) -> tuple[int, Any, dict[str, str]]:
        """``PATCH .../issues/{n}``: title, body, state, labels (a PR's labels too)."""
        found = self._repo(caller, owner, repo)
        body = request.get_json() or {}
        labels = body.get("labels")
        names = (
            None if labels is None else [lb if isinstance(lb, str) else lb["name"] for lb in labels]
        )
        for name in names or []:
            self.d.labels.setdefault((found.full_name, name), name)
        pr = self.d.pulls.get((found.full_name, number))
        if pr is not None:
            if names is not None:
                pr.labels = names
            pr.title = str(body.get("title", pr.title))
            view = st.Issue(number, found.full_name, pr.title, pr.body, pr.labels, pr.author)
            view.state = pr.state
            return 200, rs.issue(view, self.d.urls), {}
        issue = self.d.issues.get((found.full_name, number))
        if issue is None:
            raise _error(404, "Not Found")
        issue.title = str(body.get("title", issue.title))
        issue.body = body.get("body", issue.body)
        if names is not None:
            issue.labels = names
        if body.get("state") in {"open", "closed"}:
            issue.state = body["state"]
            issue.closed_at = self.d.clock() if issue.state == "closed" else None
        issue.updated_at = self.d.clock()
        return 200, rs.issue(issue, self.d.urls), {}

    def get_label(
        self, request: Request, caller: Caller, owner: str, repo: str, name: str
    ) -> tuple[int, Any, dict[str, str]]:
        found = self._repo(caller, owner, repo)
        if (found.full_name, name) not in self.d.labels:
            raise _error(404, "Not Found")
        return 200, rs.label(name, found.full_name, self.d.urls), {}

    def create_label(
        self, request: Request, caller: Caller, owner: str, repo: str
    ) -> tuple[int, Any, dict[str, str]]:
        found = self._repo(caller, owner, repo)
        name = str((request.get_json() or {})["name"])
        if (found.full_name, name) in self.d.labels:
            raise _error(422, "Validation Failed: name already_exists")
        self.d.labels[(found.full_name, name)] = name
        return 201, rs.label(name, found.full_name, self.d.urls), {}

    # -- git data and pull requests made over the API -----------------------------------------

    def _git_or(self, full_name: str, status: int, message: str, *args: str) -> str:
        try:
            return self.d.git(full_name, *args)
        except Exception:  # noqa: BLE001 (git refused: GitHub's answer instead)
            raise _error(status, message) from None

    def _ref_sha(self, full_name: str, ref: str) -> str:
        return self._git_or(
            full_name,
            404,
            "Not Found",
            "rev-parse",
            "--verify",
            "--quiet",
            f"refs/{ref}^{{commit}}",
        )

    def get_git_ref(
        self, request: Request, caller: Caller, owner: str, repo: str, ref: str
    ) -> tuple[int, Any, dict[str, str]]:
        found = self._repo(caller, owner, repo)
        sha = self._ref_sha(found.full_name, ref)
        return 200, rs.git_ref(found.full_name, f"refs/{ref}", sha, self.d.urls), {}

    def _git_commit_body(self, full_name: str, sha: str) -> dict[str, Any]:
        fmt = "%T%x1f%P%x1f%an%x1f%ae%x1f%aI%x1f%B"
        out = self._git_or(full_name, 404, "Not Found", "show", "-s", f"--format={fmt}", sha)
        tree, parents, name, email, date, message = out.split("\x1f", 5)
        return rs.git_commit(
            full_name,
            sha,
            tree=tree,
            parents=parents.split(),
            message=message,
            author=(name, email, date),
            urls=self.d.urls,
        )

    def get_git_commit(
        self, request: Request, caller: Caller, owner: str, repo: str, sha: str
    ) -> tuple[int, Any, dict[str, str]]:
        found = self._repo(caller, owner, repo)
        self._git_or(found.full_name, 404, "Not Found", "cat-file", "-e", f"{sha}^{{commit}}")
        return 200, self._git_commit_body(found.full_name, sha), {}

    def create_blob(
        self, request: Request, caller: Caller, owner: str, repo: str
    ) -> tuple[int, Any, dict[str, str]]:
        found = self._repo(caller, owner, repo)
        body = request.get_json() or {}
        content = str(body["content"])
        data = (
            base64.b64decode(content)
            if body.get("encoding") == "base64"
            else content.encode("utf-8")
        )
        sha = merging.write_blob(found.bare_path, _git_env(), data)
        url = f"{self.d.url}/repos/{found.full_name}/git/blobs/{sha}"
        return 201, {"url": url, "sha": sha}, {"Location": url}

    def create_tree(
        self, request: Request, caller: Caller, owner: str, repo: str
    ) -> tuple[int, Any, dict[str, str]]:
        found = self._repo(caller, owner, repo)
        body = request.get_json() or {}
        entries: list[tuple[str, str, str | None]] = []
        for entry in body["tree"]:
            sha = entry.get("sha")
            if "content" in entry:
                sha = merging.write_blob(
                    found.bare_path, _git_env(), str(entry["content"]).encode()
                )
            entries.append((str(entry["path"]), str(entry.get("mode", "100644")), sha))
        try:
            tree = merging.write_tree(found.bare_path, _git_env(), body.get("base_tree"), entries)
        except Exception:  # noqa: BLE001 (an unknown base tree or blob)
            raise _error(422, "Invalid tree info") from None
        listing = self.d.git(found.full_name, "ls-tree", "-r", tree)
        api = f"{self.d.url}/repos/{found.full_name}/git"
        items = []
        for line in filter(None, listing.splitlines()):
            meta, path = line.split("\t", 1)
            mode, kind, sha = meta.split()
            items.append(
                {"path": path, "mode": mode, "type": kind, "sha": sha, "url": f"{api}/blobs/{sha}"}
            )
        answer = {"sha": tree, "url": f"{api}/trees/{tree}", "truncated": False, "tree": items}
        return 201, answer, {}

    def create_git_commit(
        self, request: Request, caller: Caller, owner: str, repo: str
    ) -> tuple[int, Any, dict[str, str]]:
        found = self._repo(caller, owner, repo)
        body = request.get_json() or {}
        login, _ = self._actor(caller)
        try:
            sha = merging.write_commit(
                found.bare_path,
                _git_env(),
                tree=str(body["tree"]),
                parents=[str(p) for p in body.get("parents", [])],
                message=str(body["message"]),
                author=merging.user_identity(login),
            )
        except Exception:  # noqa: BLE001 (an unknown tree or parent)
            raise _error(422, "Tree SHA does not exist") from None
        return 201, self._git_commit_body(found.full_name, sha), {}

    def create_git_ref(
        self, request: Request, caller: Caller, owner: str, repo: str
    ) -> tuple[int, Any, dict[str, str]]:
        found = self._repo(caller, owner, repo)
        body = request.get_json() or {}
        ref, sha = str(body["ref"]), str(body["sha"])
        if not ref.startswith("refs/") or ref.count("/") < 2:
            raise _error(422, "Reference name must start with 'refs/' and have two slashes")
        self._git_or(
            found.full_name, 422, "Reference already exists", "update-ref", ref, sha, "0" * 40
        )
        return 201, rs.git_ref(found.full_name, ref, sha, self.d.urls), {}

    def update_git_ref(
        self, request: Request, caller: Caller, owner: str, repo: str, ref: str
    ) -> tuple[int, Any, dict[str, str]]:
        found = self._repo(caller, owner, repo)
        body = request.get_json() or {}
        sha = str(body["sha"])
        current = self._ref_sha(found.full_name, ref)
        if not body.get("force"):
            self._git_or(
                found.full_name,
                422,
                "Update is not a fast forward",
                "merge-base",
                "--is-ancestor",
                current,
                sha,
            )
        self.d.git(found.full_name, "update-ref", f"refs/{ref}", sha, current)
        self.d._sync_pulls(found.full_name)
        return 200, rs.git_ref(found.full_name, f"refs/{ref}", sha, self.d.urls), {}

    def _pull_body(self, pr: st.StoredPullRequest) -> dict[str, Any]:
        count = sum(
            1
            for c in self.d.comment_store.values()
            if c.repository == pr.repository and c.issue_number == pr.number
        )
        repo_body = self._repo_body(self.d.repositories[pr.repository])
        return rs.pull_request(pr, repo_body, self.d.urls, count)

    def list_pulls(
        self, request: Request, caller: Caller, owner: str, repo: str
    ) -> tuple[int, Any, dict[str, str]]:
        """``GET .../pulls`` by ``state`` (default open), ``head`` (``owner:branch``), ``base``."""
        found = self._repo(caller, owner, repo)
        state = request.args.get("state", "open")
        head = request.args.get("head")
        base = request.args.get("base")
        matching = [
            pr
            for (name, _), pr in self.d.pulls.items()
            if name == found.full_name
            and state in {"all", pr.state}
            and (
                head is None
                or head == f"{(pr.fork or found.full_name).split('/')[0]}:{pr.head_ref}"
            )
            and (base is None or base == pr.base_ref)
        ]
        matching.sort(key=lambda pr: -pr.number)
        simple = [rs.pull_request_simple(self._pull_body(pr)) for pr in matching]
        items, headers = self.d.page(request, simple)
        return 200, items, headers

    def create_pull(
        self, request: Request, caller: Caller, owner: str, repo: str
    ) -> tuple[int, Any, dict[str, str]]:
        found = self._repo(caller, owner, repo)
        body = request.get_json() or {}
        head, base = str(body["head"]).split(":")[-1], str(body["base"])
        login, _ = self._actor(caller)
        for name, pr in self.d.pulls.items():
            if name[0] == found.full_name and pr.state == "open" and pr.head_ref == head:
                raise _error(422, f"A pull request already exists for {owner}:{head}.")
        try:
            self.d.rev_parse(found.full_name, head)
        except Exception:  # noqa: BLE001 (no such branch)
            raise _error(422, "Validation Failed: head invalid") from None
        pr = self.d.open_pull_request(
            found.full_name,
            head=head,
            base=base,
            author=login,
            title=str(body["title"]),
            body=str(body.get("body") or ""),
            draft=bool(body.get("draft", False)),
        )
        return 201, self._pull_body(pr), {}

    # -- people ------------------------------------------------------------------------------

    def get_permission(
        self, request: Request, caller: Caller, owner: str, repo: str, username: str
    ) -> tuple[int, Any, dict[str, str]]:
        found = self._repo(caller, owner, repo)
        permission = self.d.permissions.get((found.full_name, username), "none")
        legacy = {"maintain": "write", "triage": "read"}.get(permission, permission)
        user = rs.simple_user(username, self.d.urls)
        collaborator = {
            **user,
            "permissions": _permission_flags(permission),
            "role_name": permission,
        }
        return 200, {"permission": legacy, "role_name": permission, "user": collaborator}, {}

    def _team(self, caller: Caller, org: str, slug: str) -> st.Team:
        if caller.kind == "installation":
            installation = self.d.installations[caller.installation_id or 0]
            if installation.permissions.get("members") not in {"read", "write"}:
                raise _error(403, "Resource not accessible by integration")
        team = self.d.teams.get((org, slug))
        if team is None:
            raise _error(404, "Not Found")
        return team

    def list_team_members(
        self, request: Request, caller: Caller, org: str, slug: str
    ) -> tuple[int, Any, dict[str, str]]:
        team = self._team(caller, org, slug)
        members = list(team.members)
        for child in self.d.teams.values():  # GitHub lists child teams' members too
            if child.org == org and child.parent == slug:
                members.extend(m for m in child.members if m not in members)
        items, headers = self.d.page(request, [rs.simple_user(m, self.d.urls) for m in members])
        return 200, items, headers

    def get_team_membership(
        self, request: Request, caller: Caller, org: str, slug: str, username: str
    ) -> tuple[int, Any, dict[str, str]]:
        team = self._team(caller, org, slug)
        if username not in team.members:
            raise _error(404, "Not Found")
        body = {
            "url": f"{self.d.url}/teams/{team.id}/memberships/{username}",
            "role": "member",
            "state": "active",
        }
        return 200, body, {}

    def list_child_teams(
        self, request: Request, caller: Caller, org: str, slug: str
    ) -> tuple[int, Any, dict[str, str]]:
        team = self._team(caller, org, slug)
        children = [t for t in self.d.teams.values() if t.org == org and t.parent == slug]
        items, headers = self.d.page(request, [rs.team(t, self.d.urls, team) for t in children])
        return 200, items, headers

    # -- deployments -------------------------------------------------------------------------

    def create_deployment(
        self, request: Request, caller: Caller, owner: str, repo: str
    ) -> tuple[int, Any, dict[str, str]]:
        found = self._repo(caller, owner, repo)
        body = request.get_json() or {}
        login, _ = self._actor(caller)
        sha = self._resolve(found.full_name, body["ref"])
        if "required_contexts" not in body:
            # GitHub verifies every check of the commit unless told which (an empty list: none).
            failing = sorted(
                {
                    r.name
                    for r in self.d.runs.values()
                    if r.repository == found.full_name
                    and r.head_sha == sha
                    and r.conclusion not in {"success", "neutral", "skipped"}
                }
            )
            if failing:
                message = f"Conflict: Commit status checks failed for {body['ref']}."
                raise _error(409, message)
        payload = body.get("payload", {})
        deployment = st.Deployment(
            id=self.d.next_id(),
            repository=found.full_name,
            ref=body["ref"],
            sha=sha,
            environment=body.get("environment", "production"),
            task=body.get("task", "deploy"),
            payload=payload if payload != "" else {},
            description=body.get("description"),
            creator=login,
            body=dict(body),
        )
        self.d.deployments[deployment.id] = deployment
        return 201, rs.deployment(deployment, self.d.urls), {}

    def list_deployments(
        self, request: Request, caller: Caller, owner: str, repo: str
    ) -> tuple[int, Any, dict[str, str]]:
        """``GET .../deployments``, filtered by ``sha``, ``ref``, ``task`` and ``environment``, newest first."""
        found = self._repo(caller, owner, repo)
        wanted = {
            k: request.args[k] for k in ("sha", "ref", "task", "environment") if k in request.args
        }
        matching = [
            d
            for d in self.d.deployments.values()
            if d.repository == found.full_name
            and all(getattr(d, key) == value for key, value in wanted.items())
        ]
        matching.sort(key=lambda d: d.id, reverse=True)
        items, headers = self.d.page(request, [rs.deployment(d, self.d.urls) for d in matching])
        return 200, items, headers

    def create_deployment_status(
        self, request: Request, caller: Caller, owner: str, repo: str, deployment_id: int
    ) -> tuple[int, Any, dict[str, str]]:
        deployment = self._deployment(caller, owner, repo, deployment_id)
        body = request.get_json() or {}
        if len(body.get("description") or "") > MAX_STATUS_DESCRIPTION:
            raise _error(
                422, "Validation Failed: description is too long (maximum is 140 characters)"
            )
        login, _ = self._actor(caller)
        status = rs.deployment_status(
            deployment, self.d.next_id(), body["state"], body, login, self.d.urls
        )
        deployment.statuses.append(status)
        return 201, status, {}

    def list_deployment_statuses(
        self, request: Request, caller: Caller, owner: str, repo: str, deployment_id: int
    ) -> tuple[int, Any, dict[str, str]]:
        deployment = self._deployment(caller, owner, repo, deployment_id)
        items, headers = self.d.page(request, list(reversed(deployment.statuses)))  # newest first
        return 200, items, headers

    def _deployment(
        self, caller: Caller, owner: str, repo: str, deployment_id: int
    ) -> st.Deployment:
        """The repository's deployment ``deployment_id``, or GitHub's 404."""
        self._repo(caller, owner, repo)
        deployment = self.d.deployments.get(deployment_id)
        if deployment is None or deployment.repository != f"{owner}/{repo}":
            raise _error(404, "Not Found")
        return deployment

    def review_protection_rule(
        self, request: Request, caller: Caller, owner: str, repo: str, run_id: int
    ) -> tuple[int, Any, dict[str, str]]:
        self._repo(caller, owner, repo)
        self.d.protection_rule_reviews.append(
            {"repository": f"{owner}/{repo}", "run_id": run_id, **(request.get_json() or {})}
        )
        return 204, None, {}


def _permission_flags(permission: str) -> dict[str, bool]:
    order = ["read", "triage", "write", "maintain", "admin"]
    rank = order.index(permission) if permission in order else -1
    return {
        "pull": rank >= 0,
        "triage": rank >= 1,
        "push": rank >= 2,
        "maintain": rank >= 3,
        "admin": rank >= 4,
    }


def _parse_time(value: str) -> Any:
    from datetime import datetime

    return datetime.fromisoformat(value)  # Python 3.11 reads the Z suffix
