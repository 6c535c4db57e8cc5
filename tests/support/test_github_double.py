"""The GitHub double itself: GitHub's auth rules, description checks, git over HTTP, faults."""

from __future__ import annotations

import base64
import subprocess
import time

import jwt
import pytest
import requests

from tests.support import webhooks
from tests.support.gitrepo import ENV, GitRepo

REPO = "acme/intents"


@pytest.fixture
def scene(github_double, tmp_path):
    source = GitRepo.create(tmp_path / "source")
    source.write("intents/a.yaml", "a: 1\n")
    base = source.commit("base")
    source.branch("feature")
    source.write("intents/b.yaml", "b: 2\n")
    head = source.commit("add b")
    installation = github_double.add_installation("acme")
    github_double.add_repository(REPO, installation=installation, source=source.path)
    pr = github_double.open_pull_request(REPO, head="feature", author="dave")
    token = github_double.installation_token(installation.id)
    return {
        "source": source,
        "base": base,
        "head": head,
        "installation": installation,
        "pr": pr,
        "token": token,
    }


def app_jwt(double, *, iat_offset=-60, lifetime=540, iss=None, key=None):
    now = int(time.time())
    claims = {
        "iat": now + iat_offset,
        "exp": now + iat_offset + lifetime,
        "iss": str(iss or double.app.id),
    }
    return jwt.encode(claims, key or double.app.private_key_pem, algorithm="RS256")


def api(double, method, path, token=None, scheme="token", **kwargs):
    headers = {"Authorization": f"{scheme} {token}"} if token else {}
    return requests.request(method, double.url + path, headers=headers, timeout=10, **kwargs)


# -- authentication --------------------------------------------------------------------------------


def test_app_endpoints_take_a_valid_jwt(github_double):
    response = api(github_double, "GET", "/app", app_jwt(github_double), scheme="Bearer")
    assert response.status_code == 200
    assert response.json()["slug"] == github_double.app.slug


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"lifetime": 1200}, "too far in the future"),
        ({"iat_offset": -700, "lifetime": 600}, "future time"),
        ({"iat_offset": 300}, "in the past"),
        ({"iss": 999}, "Issuer"),
    ],
)
def test_app_endpoints_refuse_bad_jwts_like_github(github_double, claims, reason):
    response = api(github_double, "GET", "/app", app_jwt(github_double, **claims), scheme="Bearer")
    assert response.status_code == 401
    assert reason in response.json()["message"]


def test_a_jwt_signed_by_another_key_is_refused(github_double):
    from bot.doubles.github import generate_app_key

    other, _ = generate_app_key()
    response = api(github_double, "GET", "/app", app_jwt(github_double, key=other), scheme="Bearer")
    assert response.status_code == 401


def test_installation_tokens_are_minted_with_a_jwt_and_expire(github_double, scene):
    minted = api(
        github_double,
        "POST",
        f"/app/installations/{scene['installation'].id}/access_tokens",
        app_jwt(github_double),
        scheme="Bearer",
    )
    assert minted.status_code == 201
    token = minted.json()["token"]
    assert token.startswith("ghs_")
    assert len(token) == 40
    assert api(github_double, "GET", f"/repos/{REPO}/pulls/1", token).status_code == 200
    github_double.tokens[token].expires_at = github_double.clock()
    assert api(github_double, "GET", f"/repos/{REPO}/pulls/1", token).status_code == 401


def test_repository_endpoints_refuse_a_jwt_missing_or_unknown_tokens(github_double, scene):
    assert api(github_double, "GET", f"/repos/{REPO}/pulls/1").status_code == 401
    assert api(github_double, "GET", f"/repos/{REPO}/pulls/1", "ghs_" + "x" * 36).status_code == 401
    assert (
        api(
            github_double, "GET", f"/repos/{REPO}/pulls/1", app_jwt(github_double), scheme="Bearer"
        ).status_code
        == 401
    )
    assert (
        api(
            github_double, "GET", f"/repos/{REPO}/pulls/1", scene["token"], scheme="Basic"
        ).status_code
        == 401
    )


def test_an_installation_sees_only_its_repositories(github_double, scene):
    github_double.add_repository("other/repo")
    assert api(github_double, "GET", "/repos/other/repo", scene["token"]).status_code == 404
    user = github_double.add_user_token("dave")
    assert api(github_double, "GET", "/repos/other/repo", user).status_code == 200


def test_installation_tokens_cannot_read_user_and_check_runs_need_an_app(github_double, scene):
    assert api(github_double, "GET", "/user", scene["token"]).status_code == 403
    user = github_double.add_user_token("dave")
    assert api(github_double, "GET", "/user", user).json()["login"] == "dave"
    body = {"name": "x", "head_sha": scene["head"]}
    assert (
        api(github_double, "POST", f"/repos/{REPO}/check-runs", user, json=body).status_code == 403
    )


# -- the description -------------------------------------------------------------------------------


def test_a_request_outside_the_description_is_a_violation(github_double, scene):
    too_many = [
        {"path": "a", "start_line": 1, "end_line": 1, "annotation_level": "notice", "message": "m"}
    ] * 51
    body = {
        "name": "x",
        "head_sha": scene["head"],
        "output": {"title": "t", "summary": "s", "annotations": too_many},
    }
    with github_double.expecting_violations() as seen:
        response = api(
            github_double, "POST", f"/repos/{REPO}/check-runs", scene["token"], json=body
        )
        bad_level = {"name": "x", "head_sha": scene["head"], "status": "done"}
        second = api(
            github_double, "POST", f"/repos/{REPO}/check-runs", scene["token"], json=bad_level
        )
        missing = api(
            github_double, "POST", f"/repos/{REPO}/issues/1/comments", scene["token"], json={}
        )
    assert (response.status_code, second.status_code, missing.status_code) == (422, 422, 422)
    assert len(seen) == 3
    assert "output/annotations" in seen[0]
    assert "status" in seen[1]
    assert github_double.runs == {}


def test_an_operation_not_in_the_subset_is_a_violation(github_double, scene):
    with github_double.expecting_violations() as seen:
        response = api(github_double, "DELETE", f"/repos/{REPO}", scene["token"])
    assert response.status_code == 404
    assert "not an operation of the OpenAPI subset" in seen[0]


def test_every_answer_the_bot_reads_conforms(github_double, scene):
    """Walk every operation once; the fixture fails the test if any answer breaks the description."""
    token = scene["token"]
    github_double.set_permission(REPO, "erin", "maintain")
    github_double.add_team("acme", "cab", ["carol", "cy"])
    github_double.add_team("acme", "cab-emea", ["emma"], parent="cab")
    github_double.add_review(REPO, 1, "carol", "APPROVED")
    run = api(
        github_double,
        "POST",
        f"/repos/{REPO}/check-runs",
        token,
        json={"name": "n", "head_sha": scene["head"], "status": "in_progress"},
    ).json()
    statuses = [
        api(github_double, "GET", f"/repos/{REPO}", token).status_code,
        api(github_double, "GET", f"/repos/{REPO}/pulls/1/commits", token).status_code,
        api(github_double, "GET", f"/repos/{REPO}/pulls/1/files", token).status_code,
        api(github_double, "GET", f"/repos/{REPO}/pulls/1/reviews", token).status_code,
        api(
            github_double,
            "POST",
            f"/repos/{REPO}/pulls/1/reviews",
            token,
            json={"event": "COMMENT", "body": "b"},
        ).status_code,
        api(
            github_double,
            "POST",
            f"/repos/{REPO}/pulls/1/requested_reviewers",
            token,
            json={"reviewers": ["carol"]},
        ).status_code,
        api(github_double, "GET", f"/repos/{REPO}/check-runs/{run['id']}", token).status_code,
        api(github_double, "GET", f"/repos/{REPO}/commits/feature/check-runs", token).status_code,
        api(
            github_double, "GET", f"/repos/{REPO}/collaborators/erin/permission", token
        ).status_code,
        api(github_double, "GET", "/orgs/acme/teams/cab/members", token).status_code,
        api(github_double, "GET", "/orgs/acme/teams/cab/teams", token).status_code,
        api(github_double, "GET", "/orgs/acme/teams/cab/memberships/carol", token).status_code,
        api(github_double, "GET", "/rate_limit", token).status_code,
        api(
            github_double,
            "POST",
            f"/repos/{REPO}/issues",
            token,
            json={"title": "drift", "labels": ["eucora:drift"]},
        ).status_code,
        api(
            github_double,
            "GET",
            f"/repos/{REPO}/installation",
            app_jwt(github_double),
            scheme="Bearer",
        ).status_code,
        api(
            github_double,
            "POST",
            f"/repos/{REPO}/actions/runs/7/deployment_protection_rule",
            token,
            json={"environment_name": "intune/pilot", "state": "approved", "comment": "ok"},
        ).status_code,
    ]
    assert statuses == [
        200,
        200,
        200,
        200,
        200,
        201,
        200,
        200,
        200,
        200,
        200,
        200,
        200,
        201,
        200,
        204,
    ]
    assert github_double.pull_request(REPO, 1).requested_reviewers == ["carol"]
    assert github_double.protection_rule_reviews[0]["state"] == "approved"


def test_files_commits_and_permissions_follow_the_repository(github_double, scene):
    token = scene["token"]
    files = api(github_double, "GET", f"/repos/{REPO}/pulls/1/files", token).json()
    assert [(f["filename"], f["status"], f["additions"]) for f in files] == [
        ("intents/b.yaml", "added", 1)
    ]
    commits = api(github_double, "GET", f"/repos/{REPO}/pulls/1/commits", token).json()
    assert [c["sha"] for c in commits] == [scene["head"]]
    assert commits[0]["commit"]["author"]["email"] == "ada@example.com"
    github_double.set_permission(REPO, "tia", "triage")
    body = api(github_double, "GET", f"/repos/{REPO}/collaborators/tia/permission", token).json()
    assert (body["permission"], body["role_name"]) == ("read", "triage")


def test_team_members_include_child_teams(github_double, scene):
    github_double.add_team("acme", "cab", ["carol"])
    github_double.add_team("acme", "cab-emea", ["emma"], parent="cab")
    members = api(github_double, "GET", "/orgs/acme/teams/cab/members", scene["token"]).json()
    assert [m["login"] for m in members] == ["carol", "emma"]
    children = api(github_double, "GET", "/orgs/acme/teams/cab/teams", scene["token"]).json()
    assert [(c["slug"], c["parent"]["slug"]) for c in children] == [("cab-emea", "cab")]
    assert (
        api(
            github_double, "GET", "/orgs/acme/teams/cab/memberships/zed", scene["token"]
        ).status_code
        == 404
    )


def test_lists_are_paginated_with_link_headers(github_double, scene):
    for n in range(5):
        github_double.add_comment(REPO, 1, "chatty", f"c{n}")
    first = api(github_double, "GET", f"/repos/{REPO}/issues/1/comments?per_page=2", scene["token"])
    assert [c["body"] for c in first.json()] == ["c0", "c1"]
    assert first.links["next"]["url"].endswith("page=2")
    assert first.links["last"]["url"].endswith("page=3")
    last = requests.get(
        first.links["last"]["url"], headers={"Authorization": f"token {scene['token']}"}, timeout=10
    )
    assert [c["body"] for c in last.json()] == ["c4"]
    assert "next" not in last.links


def test_check_runs_by_ref_keep_the_latest_per_name(github_double, scene):
    token = scene["token"]
    for conclusion in ("failure", "success"):
        api(
            github_double,
            "POST",
            f"/repos/{REPO}/check-runs",
            token,
            json={"name": "EUCORA policy", "head_sha": scene["head"], "conclusion": conclusion},
        )
    latest = api(
        github_double, "GET", f"/repos/{REPO}/commits/{scene['head']}/check-runs", token
    ).json()
    assert [(r["name"], r["conclusion"]) for r in latest["check_runs"]] == [
        ("EUCORA policy", "success")
    ]
    every = api(
        github_double, "GET", f"/repos/{REPO}/commits/{scene['head']}/check-runs?filter=all", token
    ).json()
    assert every["total_count"] == 2


def test_the_double_refuses_to_edit_someone_elses_comment(github_double, scene):
    theirs = github_double.add_comment(REPO, 1, "mallory", "mine")
    response = api(
        github_double,
        "PATCH",
        f"/repos/{REPO}/issues/comments/{theirs.id}",
        scene["token"],
        json={"body": "x"},
    )
    assert response.status_code == 403
    assert github_double.comment_store[theirs.id].body == "mine"


def test_deployments_and_statuses_are_recorded(github_double, scene):
    token = scene["token"]
    deployment = api(
        github_double,
        "POST",
        f"/repos/{REPO}/deployments",
        token,
        json={
            "ref": "main",
            "environment": "intune/pilot",
            "auto_merge": False,
            "required_contexts": [],
            "payload": {"intent": "a"},
        },
    ).json()
    assert deployment["sha"] == scene["base"]
    status = api(
        github_double,
        "POST",
        f"/repos/{REPO}/deployments/{deployment['id']}/statuses",
        token,
        json={"state": "success", "log_url": "https://eucora.example/log"},
    )
    assert status.status_code == 201
    recorded = github_double.deployments[deployment["id"]]
    assert (recorded.environment, recorded.payload, recorded.statuses[0]["state"]) == (
        "intune/pilot",
        {"intent": "a"},
        "success",
    )


def test_a_manifest_code_converts_once(github_double):
    conversion = github_double.register_manifest_code("code123")
    first = requests.post(f"{github_double.url}/app-manifests/code123/conversions", timeout=10)
    assert first.status_code == 201
    body = first.json()
    for key in ("id", "slug", "pem", "webhook_secret", "client_id", "client_secret"):
        assert body[key] == conversion[key]
    assert (
        requests.post(
            f"{github_double.url}/app-manifests/code123/conversions", timeout=10
        ).status_code
        == 404
    )


# -- faults ----------------------------------------------------------------------------------------


def test_faults_answer_n_matching_requests_then_stop(github_double, scene):
    github_double.secondary_rate_limit(2, retry_after=7, path=r"/pulls/1$")
    answers = [
        api(github_double, "GET", f"/repos/{REPO}/pulls/1", scene["token"]) for _ in range(3)
    ]
    assert [a.status_code for a in answers] == [403, 403, 200]
    assert answers[0].headers["Retry-After"] == "7"
    assert answers[0].json()["message"].startswith("You have exceeded a secondary rate limit")
    github_double.primary_rate_limit(1, reset_in=30)
    limited = api(github_double, "GET", "/rate_limit", scene["token"])
    assert (limited.status_code, limited.headers["x-ratelimit-remaining"]) == (403, "0")


def test_a_dropped_connection_gets_no_answer(github_double, scene):
    github_double.drop_connections(1, path=r"/pulls/1$")
    with pytest.raises(requests.ConnectionError):
        api(github_double, "GET", f"/repos/{REPO}/pulls/1", scene["token"])
    assert api(github_double, "GET", f"/repos/{REPO}/pulls/1", scene["token"]).status_code == 200


# -- git over HTTP ---------------------------------------------------------------------------------


def git(*args, cwd=None, header=None):
    env = {**ENV, "GIT_TERMINAL_PROMPT": "0"}
    if header:
        env.update(
            {
                "GIT_CONFIG_COUNT": "1",
                "GIT_CONFIG_KEY_0": "http.extraHeader",
                "GIT_CONFIG_VALUE_0": header,
            }
        )
    return subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )


def basic(token):
    return "Authorization: Basic " + base64.b64encode(f"x-access-token:{token}".encode()).decode()


def test_clone_url_serves_the_real_repository_to_a_token_holder(github_double, scene, tmp_path):
    clone = tmp_path / "clone"
    done = git(
        "clone",
        "-q",
        "--bare",
        github_double.clone_url(REPO),
        str(clone),
        header=basic(scene["token"]),
    )
    assert done.returncode == 0, done.stderr
    assert git("--git-dir", str(clone), "rev-parse", "feature").stdout.strip() == scene["head"]


def test_a_commit_can_be_fetched_by_sha_and_pull_refs_exist(github_double, scene, tmp_path):
    mirror = tmp_path / "m.git"
    git("init", "-q", "--bare", str(mirror))
    done = git(
        "--git-dir",
        str(mirror),
        "fetch",
        "-q",
        github_double.clone_url(REPO),
        f"{scene['head']}:refs/x",
        header=basic(scene["token"]),
    )
    assert done.returncode == 0, done.stderr
    refs = git("ls-remote", github_double.clone_url(REPO), header=basic(scene["token"])).stdout
    assert f"{scene['head']}\trefs/pull/1/head" in refs


@pytest.mark.parametrize(
    "header",
    [None, "Authorization: Basic " + base64.b64encode(b"x-access-token:ghs_wrong").decode()],
)
def test_git_without_a_valid_token_gets_401(github_double, scene, tmp_path, header):
    done = git("ls-remote", github_double.clone_url(REPO), header=header)
    assert done.returncode != 0
    assert [r.status for r in github_double.requests if r.caller == "git"][-1] == 401


def test_push_moves_open_pull_requests(github_double, scene):
    source = scene["source"]
    source.write("intents/b.yaml", "b: 3\n")
    newer = source.commit("amend")
    moved = github_double.push(REPO, source.path, "feature")
    assert [pr.number for pr in moved] == [1]
    assert github_double.pull_request(REPO, 1).head_sha == newer
    delivery = webhooks.pull_request_event(
        moved[0],
        "synchronize",
        secret="s",  # noqa: S106
        installation_id=scene["installation"].id,
    )
    assert delivery.payload["pull_request"]["head"]["sha"] == newer
    assert delivery.payload["pull_request"]["user"]["login"] == "dave"
    assert delivery.payload["repository"]["full_name"] == REPO
