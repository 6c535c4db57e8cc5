"""Response bodies built from GitHub's own examples in the OpenAPI subset, filled from state.

Each builder starts from the example GitHub publishes for that operation (so every field GitHub
sends is there, with a realistic value), points its URLs at the double, and overwrites what the
state knows. The result is then validated against the description like every response.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

from bot.doubles.github import state as st

SUBSET = Path(__file__).resolve().parents[1] / "data" / "github" / "openapi-subset.json"


@cache
def description() -> dict[str, Any]:
    return json.loads(SUBSET.read_text(encoding="utf-8"))


def _resolve(node: Any) -> Any:
    spec = description()
    while isinstance(node, dict) and "$ref" in node:
        target: Any = spec
        for part in node["$ref"][2:].split("/"):
            target = target[part]
        node = target
    return node


@cache
def _example(method: str, path: str, status: str) -> Any:
    operation = description()["paths"][path][method]
    response = _resolve(operation["responses"][status])
    examples = response["content"]["application/json"]["examples"]
    return _resolve(next(iter(examples.values())))["value"]


class Urls:
    """Rewrites GitHub's example URLs to the double's API and git URLs."""

    def __init__(self, api_url: str, web_url: str) -> None:
        self.api = api_url
        self.web = web_url  # html_url values point at the double too (never followed by the bot)

    def localise(self, value: Any, full_name: str | None = None) -> Any:
        if isinstance(value, dict):
            return {k: self.localise(v, full_name) for k, v in value.items()}
        if isinstance(value, list):
            return [self.localise(v, full_name) for v in value]
        if isinstance(value, str):
            text = value.replace("https://api.github.com", self.api)
            text = text.replace("https://github.com", self.web)
            if full_name is not None:
                for sample in ("octocat/Hello-World", "octocat/hello-world", "github/hello-world"):
                    text = text.replace(sample, full_name)
            return text
        return value


def template(method: str, path: str, status: str, urls: Urls, full_name: str | None = None) -> Any:
    return urls.localise(copy.deepcopy(_example(method, path, status)), full_name)


def _numeric_id(login: str) -> int:
    return 10_000 + sum(ord(c) * (i + 1) for i, c in enumerate(login)) % 1_000_000


def simple_user(login: str, urls: Urls, *, kind: str | None = None) -> dict[str, Any]:
    kind = kind or ("Bot" if login.endswith("[bot]") else "User")
    quoted = quote(login)  # GitHub writes app users as /users/name%5Bbot%5D
    base = f"{urls.api}/users/{quoted}"
    return {
        "login": login,
        "id": _numeric_id(login),
        "node_id": f"U_{_numeric_id(login)}",
        "avatar_url": f"{urls.web}/avatars/{quoted}",
        "gravatar_id": "",
        "url": base,
        "html_url": f"{urls.web}/{quoted}",
        "followers_url": f"{base}/followers",
        "following_url": f"{base}/following{{/other_user}}",
        "gists_url": f"{base}/gists{{/gist_id}}",
        "starred_url": f"{base}/starred{{/owner}}{{/repo}}",
        "subscriptions_url": f"{base}/subscriptions",
        "organizations_url": f"{base}/orgs",
        "repos_url": f"{base}/repos",
        "events_url": f"{base}/events{{/privacy}}",
        "received_events_url": f"{base}/received_events",
        "type": kind,
        "site_admin": False,
    }


def app(app: st.App, urls: Urls, owner: str = "eucora-org") -> dict[str, Any]:
    body = template("get", "/app", "200", urls)
    body.update(
        id=app.id,
        slug=app.slug,
        name=app.name,
        node_id=f"A_{app.id}",
        client_id=app.client_id,
        owner=simple_user(owner, urls, kind="Organization"),
        html_url=f"{urls.web}/apps/{app.slug}",
    )
    return body


def repository(repo: st.Repository, urls: Urls, clone_url: str) -> dict[str, Any]:
    body = template("get", "/repos/{owner}/{repo}", "200", urls, repo.full_name)
    body.update(
        id=repo.id,
        node_id=f"R_{repo.id}",
        name=repo.name,
        full_name=repo.full_name,
        owner=simple_user(repo.owner, urls),
        private=repo.private,
        clone_url=clone_url,
        default_branch=repo.default_branch,
        language=None,
    )
    body.pop("source", None)
    body.pop("parent", None)
    body.pop("organization", None)
    return body


def _branch(
    repo: dict[str, Any], pr: st.StoredPullRequest, side: str, urls: Urls
) -> dict[str, Any]:
    ref = pr.head_ref if side == "head" else pr.base_ref
    sha = pr.head_sha if side == "head" else pr.base_sha
    owner = pr.repository.split("/", 1)[0]
    if side == "head" and pr.fork is not None:  # the head branch lives in a fork
        owner, name = pr.fork.split("/", 1)
        fork_id = _numeric_id(pr.fork)
        repo = {
            **repo,
            "id": fork_id,
            "node_id": f"R_{fork_id}",
            "name": name,
            "full_name": pr.fork,
            "owner": simple_user(owner, urls),
            "fork": True,
        }
    return {
        "label": f"{owner}:{ref}",
        "ref": ref,
        "sha": sha,
        "user": simple_user(owner, urls),
        "repo": repo,
    }


def _label(name: str, full_name: str, urls: Urls) -> dict[str, Any]:
    return {
        "id": _numeric_id(name),
        "node_id": f"LA_{_numeric_id(name)}",
        "url": f"{urls.api}/repos/{full_name}/labels/{name}",
        "name": name,
        "description": "",  # the pull request's label schema says string, not nullable
        "color": "ededed",
        "default": False,
    }


def pull_request(
    pr: st.StoredPullRequest, repo_body: dict[str, Any], urls: Urls, comments: int
) -> dict[str, Any]:
    body = template("get", "/repos/{owner}/{repo}/pulls/{pull_number}", "200", urls, pr.repository)
    api = f"{urls.api}/repos/{pr.repository}"
    old_number = str(body["number"])
    body = _renumber(body, old_number, str(pr.number))
    body.update(
        id=pr.id,
        node_id=f"PR_{pr.id}",
        number=pr.number,
        state=pr.state,
        title=pr.title,
        body=pr.body,
        user=simple_user(pr.author, urls),
        labels=[_label(name, pr.repository, urls) for name in pr.labels],
        draft=pr.draft,
        merged=pr.merged,
        merge_commit_sha=pr.merge_commit_sha,
        merged_at=st.stamp(pr.merged_at) if pr.merged else None,
        merged_by=simple_user(pr.merged_by, urls) if pr.merged_by else None,
        closed_at=st.stamp(pr.closed_at or pr.updated_at) if pr.state == "closed" else None,
        created_at=st.stamp(pr.created_at),
        updated_at=st.stamp(pr.updated_at),
        head=_branch(repo_body, pr, "head", urls),
        base=_branch(repo_body, pr, "base", urls),
        requested_reviewers=[simple_user(login, urls) for login in pr.requested_reviewers],
        requested_teams=[],
        assignee=None,
        assignees=[],
        milestone=None,
        auto_merge=None,
        comments=comments,
        commits=len(pr.commits),
        url=f"{api}/pulls/{pr.number}",
    )
    return body


def _renumber(value: Any, old: str, new: str) -> Any:
    if isinstance(value, dict):
        return {k: _renumber(v, old, new) for k, v in value.items()}
    if isinstance(value, list):
        return [_renumber(v, old, new) for v in value]
    if isinstance(value, str):
        return (
            value.replace(f"/pulls/{old}", f"/pulls/{new}")
            .replace(f"/issues/{old}", f"/issues/{new}")
            .replace(f"/pull/{old}", f"/pull/{new}")
        )
    return value


@cache
def _minimal_repository_fields() -> frozenset[str]:
    return frozenset(_resolve({"$ref": "#/components/schemas/minimal-repository"})["properties"])


def commit(c: st.Commit, full_name: str, urls: Urls) -> dict[str, Any]:
    api = f"{urls.api}/repos/{full_name}"
    return {
        "url": f"{api}/commits/{c.sha}",
        "sha": c.sha,
        "node_id": f"C_{c.sha[:12]}",
        "html_url": f"{urls.web}/{full_name}/commit/{c.sha}",
        "comments_url": f"{api}/commits/{c.sha}/comments",
        "commit": {
            "url": f"{api}/git/commits/{c.sha}",
            "author": {"name": c.author_name, "email": c.author_email, "date": c.date},
            "committer": {"name": c.committer_name, "email": c.committer_email, "date": c.date},
            "message": c.message,
            "comment_count": 0,
            "tree": {"sha": "0" * 40, "url": f"{api}/git/trees/{'0' * 40}"},
        },
        "author": simple_user(c.author_login, urls) if c.author_login else None,
        "committer": simple_user(c.committer_login, urls) if c.committer_login else None,
        "parents": [{"sha": p, "url": f"{api}/commits/{p}"} for p in c.parents],
    }


def search_commit(c: st.Commit, repository: dict[str, Any], urls: Urls) -> dict[str, Any]:
    """A commit as commit search finds it (``author`` is the account tied to its address)."""
    body = commit(c, repository["full_name"], urls)
    committer = {"name": c.committer_name, "email": c.committer_email, "date": c.date}
    minimal = {k: v for k, v in repository.items() if k in _minimal_repository_fields()}
    return {**body, "committer": committer, "repository": minimal, "score": 1.0}


def check_run(run: st.StoredCheckRun, app_body: dict[str, Any], urls: Urls) -> dict[str, Any]:
    body = template(
        "get", "/repos/{owner}/{repo}/check-runs/{check_run_id}", "200", urls, run.repository
    )
    api = f"{urls.api}/repos/{run.repository}"
    body.update(
        id=run.id,
        node_id=f"CR_{run.id}",
        head_sha=run.head_sha,
        name=run.name,
        url=f"{api}/check-runs/{run.id}",
        html_url=f"{urls.web}/{run.repository}/runs/{run.id}",
        details_url=run.details_url,
        status=run.status,
        conclusion=run.conclusion,
        started_at=st.stamp(run.started_at),
        completed_at=st.stamp(run.completed_at),
        external_id=run.external_id,
        output={
            "title": run.title,
            "summary": run.summary,
            "text": run.text,
            "annotations_count": len(run.annotations),
            "annotations_url": f"{api}/check-runs/{run.id}/annotations",
        },
        app=app_body,
        pull_requests=[],
    )
    body["check_suite"] = {"id": 1000 + run.id}
    return body


def comment(c: st.Comment, urls: Urls) -> dict[str, Any]:
    body = template(
        "get", "/repos/{owner}/{repo}/issues/{issue_number}/comments", "200", urls, c.repository
    )[0]
    api = f"{urls.api}/repos/{c.repository}"
    body.update(
        id=c.id,
        node_id=f"IC_{c.id}",
        url=f"{api}/issues/comments/{c.id}",
        html_url=f"{urls.web}/{c.repository}/pull/{c.issue_number}#issuecomment-{c.id}",
        issue_url=f"{api}/issues/{c.issue_number}",
        body=c.body,
        user=simple_user(c.author, urls, kind=c.author_type),
        created_at=st.stamp(c.created_at),
        updated_at=st.stamp(c.updated_at),
    )
    body.pop("performed_via_github_app", None)
    return body


def review(r: st.Review, urls: Urls) -> dict[str, Any]:
    body = template(
        "get", "/repos/{owner}/{repo}/pulls/{pull_number}/reviews", "200", urls, r.repository
    )[0]
    body = _renumber(body, "12", str(r.number))
    body.update(
        id=r.id,
        node_id=f"PRR_{r.id}",
        user=simple_user(r.user, urls),
        body=r.body,
        state=r.state,
        commit_id=r.commit_id,
        submitted_at=st.stamp(r.submitted_at),
        html_url=f"{urls.web}/{r.repository}/pull/{r.number}#pullrequestreview-{r.id}",
        pull_request_url=f"{urls.api}/repos/{r.repository}/pulls/{r.number}",
    )
    return body


def team(t: st.Team, urls: Urls, parent: st.Team | None) -> dict[str, Any]:
    api = f"{urls.api}/organizations/1/team/{t.id}"
    body: dict[str, Any] = {
        "id": t.id,
        "node_id": f"T_{t.id}",
        "url": api,
        "html_url": f"{urls.web}/orgs/{t.org}/teams/{t.slug}",
        "name": t.name,
        "slug": t.slug,
        "description": None,
        "privacy": "closed",
        "notification_setting": "notifications_enabled",
        "permission": "pull",
        "members_url": f"{api}/members{{/member}}",
        "repositories_url": f"{api}/repos",
        "type": "organization",
    }
    body["parent"] = (
        None
        if parent is None
        else {k: v for k, v in team(parent, urls, None).items() if k != "parent"}
    )
    return body


def deployment(d: st.Deployment, urls: Urls) -> dict[str, Any]:
    api = f"{urls.api}/repos/{d.repository}"
    return {
        "url": f"{api}/deployments/{d.id}",
        "id": d.id,
        "node_id": f"DE_{d.id}",
        "sha": d.sha,
        "ref": d.ref,
        "task": d.task,
        "payload": d.payload,
        "original_environment": d.environment,
        "environment": d.environment,
        "description": d.description,
        "creator": simple_user(d.creator, urls),
        "created_at": st.stamp(d.created_at),
        "updated_at": st.stamp(d.created_at),
        "statuses_url": f"{api}/deployments/{d.id}/statuses",
        "repository_url": api,
        "transient_environment": bool(d.body.get("transient_environment", False)),
        "production_environment": bool(
            d.body.get("production_environment", d.environment == "production")
        ),
    }


def deployment_status(  # noqa: PLR0913, PLR0917
    d: st.Deployment, status_id: int, state: str, fields: dict[str, Any], creator: str, urls: Urls
) -> dict[str, Any]:
    api = f"{urls.api}/repos/{d.repository}"
    moment = st.stamp(st.now())
    return {
        "url": f"{api}/deployments/{d.id}/statuses/{status_id}",
        "id": status_id,
        "node_id": f"DES_{status_id}",
        "state": state,
        "creator": simple_user(creator, urls),
        "description": fields.get("description", ""),
        "environment": fields.get("environment", d.environment),
        # GitHub answers "" for URLs not given, which its own description (format: uri) refuses:
        # the double echoes what was given and falls back on the deployment's URL.
        "target_url": fields.get("target_url")
        or fields.get("log_url")
        or f"{api}/deployments/{d.id}",
        "log_url": fields.get("log_url") or fields.get("target_url") or f"{api}/deployments/{d.id}",
        "environment_url": fields.get("environment_url") or f"{api}/deployments/{d.id}",
        "created_at": moment,
        "updated_at": moment,
        "deployment_url": f"{api}/deployments/{d.id}",
        "repository_url": api,
    }


def issue(i: st.Issue, urls: Urls) -> dict[str, Any]:
    body = template("post", "/repos/{owner}/{repo}/issues", "201", urls, i.repository)
    body = _renumber(body, str(body["number"]), str(i.number))
    body.update(
        id=_numeric_id(f"{i.repository}#{i.number}"),
        number=i.number,
        title=i.title,
        body=i.body,
        user=simple_user(i.author, urls),
        labels=[_label(name, i.repository, urls) for name in i.labels],
        assignee=None,
        assignees=[],
        milestone=None,
        pull_request=None,
        state=i.state,
        closed_at=st.stamp(i.closed_at),
        closed_by=None,
        created_at=st.stamp(i.created_at),
        updated_at=st.stamp(i.updated_at),
    )
    if "state_reason" in body:
        body["state_reason"] = "completed" if i.state == "closed" else None
    body.pop("pull_request")
    return body


def label(name: str, full_name: str, urls: Urls) -> dict[str, Any]:
    """A repository label as ``GET``/``POST .../labels`` answer it."""
    return _label(name, full_name, urls)


@cache
def _simple_pull_fields() -> frozenset[str]:
    return frozenset(_resolve({"$ref": "#/components/schemas/pull-request-simple"})["properties"])


def pull_request_simple(full: dict[str, Any]) -> dict[str, Any]:
    """A pull request as ``GET .../pulls`` lists it (the simple shape: fewer keys)."""
    return {k: v for k, v in full.items() if k in _simple_pull_fields()}


def git_ref(full_name: str, ref: str, sha: str, urls: Urls) -> dict[str, Any]:
    api = f"{urls.api}/repos/{full_name}/git"
    return {
        "ref": ref,
        "node_id": f"REF_{_numeric_id(full_name + ref)}",
        "url": f"{api}/{ref}",
        "object": {"type": "commit", "sha": sha, "url": f"{api}/commits/{sha}"},
    }


def git_commit(  # noqa: PLR0913 - GitHub's fields
    full_name: str,
    sha: str,
    *,
    tree: str,
    parents: list[str],
    message: str,
    author: tuple[str, str, str],
    urls: Urls,
) -> dict[str, Any]:
    """A git commit object (``GET``/``POST .../git/commits``); ``author``: name, email, date."""
    api = f"{urls.api}/repos/{full_name}/git"
    person = {"name": author[0], "email": author[1], "date": author[2]}
    return {
        "sha": sha,
        "node_id": f"C_{sha[:16]}",
        "url": f"{api}/commits/{sha}",
        "html_url": f"{urls.web}/{full_name}/commit/{sha}",
        "author": person,
        "committer": person,
        "tree": {"sha": tree, "url": f"{api}/trees/{tree}"},
        "message": message,
        "parents": [
            {
                "sha": p,
                "url": f"{api}/commits/{p}",
                "html_url": f"{urls.web}/{full_name}/commit/{p}",
            }
            for p in parents
        ],
        "verification": {
            "verified": False,
            "reason": "unsigned",
            "signature": None,
            "payload": None,
            "verified_at": None,
        },
    }


def webhook_pull_request(
    pull: dict[str, Any], pr: st.StoredPullRequest, urls: Urls
) -> dict[str, Any]:
    """The REST pull request as webhooks carry it: who merged, and webhook-shaped repositories."""
    body = dict(pull)
    body["merged_by"] = simple_user(pr.merged_by, urls) if pr.merged_by else None
    body.update(locked=False, active_lock_reason=None)  # the double never locks a conversation
    for side in ("head", "base"):
        body[side] = {**body[side], "repo": webhook_repository(body[side]["repo"])}
    return body


_REST_ONLY_REPOSITORY_FIELDS = (
    "network_count",
    "subscribers_count",
    "temp_clone_token",
    "template_repository",
)


def webhook_repository(repo_body: dict[str, Any]) -> dict[str, Any]:
    """The REST repository as webhooks carry it (GitHub's webhook schema differs by a few keys)."""
    body = {k: v for k, v in repo_body.items() if k not in _REST_ONLY_REPOSITORY_FIELDS}
    body.setdefault("web_commit_signoff_required", False)
    body.setdefault("custom_properties", {})
    return body
