"""The GitHub double merges pull requests for real, and builds the merged ``pull_request`` delivery.

Every REST call here is checked against GitHub's OpenAPI description by the double (the fixture
fails the test on any violation); the webhook payload against GitHub's webhook JSON Schema.
"""

from __future__ import annotations

import pytest
import requests

from bot.adapters.storage import create_database_engine, upgrade_schema
from bot.adapters.storage.inbox import Inbox
from bot.bootstrap import pull_request_handler_factory
from bot.core.webhooks import DeliveryKind, route_delivery, signature_problem
from bot.doubles.github import ApiError
from bot.entrypoints.serve import build_server
from bot.settings import Settings
from tests.support import webhooks
from tests.support.gitrepo import GitRepo

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
    pr = github_double.open_pull_request(REPO, head="feature", author="dave", title="Add b")
    token = github_double.installation_token(installation.id)
    return {"base": base, "head": head, "pr": pr, "token": token, "installation": installation}


def api(double, method, path, token, **kwargs):
    return requests.request(
        method, double.url + path, headers={"Authorization": f"token {token}"}, timeout=10, **kwargs
    )


def parents(double, sha):
    return double.git(REPO, "rev-list", "--parents", "-n1", sha).split()[1:]


def tree(double, rev):
    return double.git(REPO, "rev-parse", f"{rev}^{{tree}}")


def test_the_merge_endpoint_makes_a_real_merge_commit_and_closes_the_pr(github_double, scene):
    answer = api(github_double, "PUT", f"/repos/{REPO}/pulls/1/merge", scene["token"], json={})
    assert answer.status_code == 200
    body = answer.json()
    assert body["merged"] is True
    sha = body["sha"]
    assert github_double.rev_parse(REPO, "main") == sha
    assert parents(github_double, sha) == [scene["base"], scene["head"]]
    assert github_double.git(REPO, "log", "-1", "--format=%s", sha) == (
        "Merge pull request #1 from acme/feature"
    )
    pr = github_double.pull_request(REPO, 1)
    assert (pr.state, pr.merged, pr.merge_commit_sha) == ("closed", True, sha)
    assert pr.merged_by == github_double.app.bot_login
    read = api(github_double, "GET", f"/repos/{REPO}/pulls/1", scene["token"]).json()
    assert (read["state"], read["merged"], read["merge_commit_sha"]) == ("closed", True, sha)
    assert read["merged_by"]["login"] == github_double.app.bot_login
    assert read["merged_at"] is not None
    assert read["closed_at"] is not None


def test_a_squash_has_one_parent_and_the_heads_tree(github_double, scene):
    answer = api(
        github_double,
        "PUT",
        f"/repos/{REPO}/pulls/1/merge",
        scene["token"],
        json={"merge_method": "squash", "sha": scene["head"], "commit_title": "Squashed"},
    )
    sha = answer.json()["sha"]
    assert parents(github_double, sha) == [scene["base"]]
    assert tree(github_double, sha) == tree(github_double, scene["head"])
    assert github_double.git(REPO, "log", "-1", "--format=%s", sha) == "Squashed"


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"merge_method": "rebase"}, 405, "Rebase merges are not allowed"),
        ({"sha": "0" * 40}, 409, "Head branch was modified"),
    ],
)
def test_merges_github_would_refuse_are_refused(github_double, scene, body, status, message):
    answer = api(github_double, "PUT", f"/repos/{REPO}/pulls/1/merge", scene["token"], json=body)
    assert answer.status_code == status
    assert message in answer.json()["message"]
    assert github_double.pull_request(REPO, 1).state == "open"
    assert github_double.rev_parse(REPO, "main") == scene["base"]


def test_a_merged_pr_cannot_be_merged_again(github_double, scene):
    github_double.merge_pull_request(REPO, 1)
    again = api(github_double, "PUT", f"/repos/{REPO}/pulls/1/merge", scene["token"])
    assert again.status_code == 405
    assert again.json()["message"] == "Pull Request is not mergeable"


def test_a_user_needs_write_access_to_merge(github_double, scene):
    reader = github_double.add_user_token("rita")
    github_double.set_permission(REPO, "rita", "read")
    assert api(github_double, "PUT", f"/repos/{REPO}/pulls/1/merge", reader).status_code == 403
    writer = github_double.add_user_token("wendy")
    github_double.set_permission(REPO, "wendy", "write")
    assert api(github_double, "PUT", f"/repos/{REPO}/pulls/1/merge", writer).status_code == 200
    assert github_double.pull_request(REPO, 1).merged_by == "wendy"


def test_a_conflicting_merge_is_not_mergeable(github_double, scene):
    github_double.commit_to_branch(REPO, "main", {"intents/b.yaml": "b: conflicting\n"})
    with pytest.raises(ApiError) as raised:
        github_double.merge_pull_request(REPO, 1)
    assert (raised.value.status, raised.value.message) == (405, "Pull Request is not mergeable")


def test_a_commit_on_the_base_after_the_head_makes_a_stale_base_merge(github_double, scene):
    late = github_double.commit_to_branch(
        REPO, "main", {"policies/extra.cel": "true\n", "intents/a.yaml": None}, author="mallory"
    )
    pr = github_double.pull_request(REPO, 1)
    assert pr.base_sha == late  # the PR follows its base branch, as on GitHub
    assert pr.head_sha == scene["head"]

    sha = github_double.merge_pull_request(REPO, 1, by="carol")

    assert parents(github_double, sha) == [late, scene["head"]]
    assert tree(github_double, sha) != tree(github_double, scene["head"])
    files = github_double.git(REPO, "ls-tree", "-r", "--name-only", sha).split()
    assert files == ["intents/b.yaml", "policies/extra.cel"]
    author = github_double.git(REPO, "log", "-1", "--format=%an <%ae>", late)
    assert author == "mallory <mallory@users.noreply.github.com>"


def test_the_merged_delivery_matches_githubs_schema_and_routes_to_publishing(github_double, scene):
    merge_sha = github_double.merge_pull_request(REPO, 1, by="carol")

    payload = github_double.pull_request_event(REPO, 1)

    webhooks.validate("pull_request", "closed", payload)
    pull = payload["pull_request"]
    assert (payload["action"], payload["number"]) == ("closed", 1)
    assert (pull["state"], pull["merged"], pull["merge_commit_sha"]) == ("closed", True, merge_sha)
    assert pull["merged_by"]["login"] == "carol"
    assert pull["head"]["sha"] == scene["head"]
    assert payload["sender"]["login"] == "carol"
    assert payload["installation"]["id"] == scene["installation"].id
    routing = route_delivery("pull_request", payload)
    assert routing.kind is DeliveryKind.MERGED
    assert (routing.repository, routing.pr, routing.head_sha) == (REPO, 1, scene["head"])
    assert routing.installation_id == scene["installation"].id

    body, headers = github_double.signed_delivery("pull_request", payload)
    assert headers["X-GitHub-Event"] == "pull_request"
    assert (
        signature_problem(body, headers["X-Hub-Signature-256"], [github_double.app.webhook_secret])
        is None
    )


def test_an_open_pr_builds_an_opened_delivery_that_is_evaluated(github_double, scene):
    payload = github_double.pull_request_event(REPO, 1, "opened")
    webhooks.validate("pull_request", "opened", payload)
    assert route_delivery("pull_request", payload).kind is DeliveryKind.EVALUATE


def test_deployment_statuses_are_listed_newest_first(github_double, scene):
    token = scene["token"]
    made = api(
        github_double,
        "POST",
        f"/repos/{REPO}/deployments",
        token,
        json={"ref": "main", "environment": "intune/pilot", "required_contexts": []},
    ).json()
    for state in ("queued", "in_progress", "success"):
        api(
            github_double,
            "POST",
            f"/repos/{REPO}/deployments/{made['id']}/statuses",
            token,
            json={"state": state, "description": state},
        )
    listed = api(github_double, "GET", f"/repos/{REPO}/deployments/{made['id']}/statuses", token)
    assert [s["state"] for s in listed.json()] == ["success", "in_progress", "queued"]


def test_a_status_description_over_140_characters_is_refused(github_double, scene):
    token = scene["token"]
    made = api(
        github_double, "POST", f"/repos/{REPO}/deployments", token, json={"ref": "main"}
    ).json()
    answer = api(
        github_double,
        "POST",
        f"/repos/{REPO}/deployments/{made['id']}/statuses",
        token,
        json={"state": "failure", "description": "x" * 141},
    )
    assert answer.status_code == 422
    assert github_double.deployments[made["id"]].statuses == []


def test_without_required_contexts_failing_checks_refuse_the_deployment(github_double, scene):
    token = scene["token"]
    run = api(
        github_double,
        "POST",
        f"/repos/{REPO}/check-runs",
        token,
        json={"name": "legacy-ci", "head_sha": scene["base"], "conclusion": "failure"},
    )
    assert run.status_code == 201
    refused = api(github_double, "POST", f"/repos/{REPO}/deployments", token, json={"ref": "main"})
    assert refused.status_code == 409
    allowed = api(
        github_double,
        "POST",
        f"/repos/{REPO}/deployments",
        token,
        json={"ref": "main", "required_contexts": []},
    )
    assert allowed.status_code == 201


def test_the_signed_merged_delivery_is_accepted_by_the_app_as_a_merge(
    github_double, github_env, scene, tmp_path
):
    settings = Settings.from_environ(
        {**github_env, "EUCORA_HOME": str(tmp_path / "home"), "EUCORA_GITHUB_WRITE_INTERVAL": "0"}
    )
    engine = create_database_engine(settings.database_url)
    upgrade_schema(engine)
    server = build_server(settings, pull_request_handler_factory, metrics_dir=False)
    github_double.merge_pull_request(REPO, 1, by="carol")
    body, headers = github_double.signed_delivery(
        "pull_request", github_double.pull_request_event(REPO, 1)
    )

    answer = server.app.test_client().post("/webhook", data=body, headers=headers)

    assert answer.status_code == 202
    stored = Inbox(engine).get(headers["X-GitHub-Delivery"]) or {}
    assert (stored["kind"], stored["repository"], stored["pr"]) == ("merged", REPO, 1)
    assert stored["installation_id"] == scene["installation"].id
    server.intake.services.engine.dispose()
    engine.dispose()
