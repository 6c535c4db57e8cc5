"""The GitHub adapter's publishing calls against the GitHub double (requests and answers checked
against GitHub's OpenAPI description): deployments and their statuses for a merge, the follow-up
issue, and the merged pull request read back."""

from __future__ import annotations

import subprocess
import time

import pytest

from bot.doubles.github.state import StoredCheckRun
from bot.errors import GitHubError
from tests.support.github_double_fixtures import app_connector
from tests.support.gitrepo import GitRepo

REPO = "acme/intents"
LOG = "https://eucora.example.test/changes/acme/intents/1"


@pytest.fixture
def scene(github_double, tmp_path):
    source = GitRepo.create(tmp_path / "source")
    source.write("intents/app.yaml", "name: app\n")
    source.commit("base")
    source.branch("feature")
    source.write("intents/app.yaml", "name: app\nversion: 2\n")
    source.commit("head")
    installation = github_double.add_installation("acme")
    github_double.add_repository(REPO, installation=installation, source=source.path)
    pr = github_double.open_pull_request(REPO, head="feature", author="dave", title="Bump app")
    merge_sha = github_double.merge_pull_request(REPO, pr.number, by="carol")
    return {"installation": installation, "pr": pr, "merge_sha": merge_sha}


@pytest.fixture
def github(github_double, scene, tmp_path):
    return app_connector(github_double, tmp_path).for_installation(scene["installation"].id)


def deploy(github, scene, **changes):
    fields = {
        "ref": scene["merge_sha"],
        "environment": "intune/pilot",
        "description": "EUCORA: google-chrome 132.0 to ring pilot",
        "payload": {"publication": 7, "intent": "google-chrome", "ring": "pilot"},
    }
    return github.create_deployment(REPO, **{**fields, **changes})


# -- the merged pull request ------------------------------------------------------------------------


def test_the_merged_pull_request_reads_back_merged_with_its_merge_commit(github, scene):
    pr = github.pull_request(REPO, scene["pr"].number)
    assert (pr.state, pr.merged, pr.merge_commit_sha) == ("closed", True, scene["merge_sha"])


def test_the_merge_commit_is_fetched_like_any_revision(github, scene):
    mirror = github.fetch_revisions(REPO, [scene["merge_sha"]]).path
    parents = subprocess.run(
        ["git", "-C", str(mirror), "rev-list", "--parents", "-n1", scene["merge_sha"]],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert parents == [scene["merge_sha"], scene["pr"].base_sha, scene["pr"].head_sha]


# -- deployments ----------------------------------------------------------------------------------


def test_a_deployment_of_the_merge_sha_skips_auto_merge_and_required_contexts(
    github, github_double, scene
):
    deployment_id = deploy(github, scene)

    recorded = github_double.deployments[deployment_id]
    assert (recorded.repository, recorded.ref, recorded.sha) == (
        REPO,
        scene["merge_sha"],
        scene["merge_sha"],
    )
    assert recorded.environment == "intune/pilot"
    assert recorded.payload == {"publication": 7, "intent": "google-chrome", "ring": "pilot"}
    assert recorded.description == "EUCORA: google-chrome 132.0 to ring pilot"
    assert recorded.creator == github_double.app.bot_login
    assert recorded.body["auto_merge"] is False
    assert recorded.body["required_contexts"] == []
    assert recorded.body["transient_environment"] is False
    assert recorded.body["production_environment"] is False


def test_a_failing_check_on_the_merge_does_not_stop_the_deployment(github, github_double, scene):
    # Without required_contexts: [] GitHub would answer 409 over this run (the double does too).
    github_double.runs[1] = _failed_run(github_double, scene["merge_sha"])
    assert deploy(github, scene) in github_double.deployments


def test_statuses_go_in_progress_then_success_with_the_log_url(github, github_double, scene):
    deployment_id = deploy(github, scene)
    github.create_deployment_status(
        REPO,
        deployment_id,
        state="in_progress",
        description="publishing to Intune",
        log_url=LOG,
        environment_url=None,
    )
    github.create_deployment_status(
        REPO,
        deployment_id,
        state="success",
        description="published: 0f3c-app",
        log_url=LOG,
        environment_url="https://intune.microsoft.com/#view/apps/0f3c-app",
    )

    statuses = github_double.deployments[deployment_id].statuses
    assert [(s["state"], s["description"], s["log_url"]) for s in statuses] == [
        ("in_progress", "publishing to Intune", LOG),
        ("success", "published: 0f3c-app", LOG),
    ]
    assert statuses[1]["environment_url"] == "https://intune.microsoft.com/#view/apps/0f3c-app"
    sent = github_double.requests_to("POST", r"/statuses$")
    assert all(r.body["auto_inactive"] is False for r in sent)
    assert "environment_url" not in sent[0].body


def test_a_deployment_is_found_again_by_sha_environment_and_payload(github, github_double, scene):
    first = deploy(github, scene)
    other_ring = deploy(github, scene, environment="intune/broad")
    newest = deploy(github, scene, payload={"publication": 8, "intent": "google-chrome"})
    sha = scene["merge_sha"]

    def find(environment, **payload):
        return github.find_deployment(REPO, sha=sha, environment=environment, payload=payload)

    assert find("intune/pilot", publication=7) == first
    assert find("intune/broad", publication=7) == other_ring
    assert find("intune/pilot", publication=8, intent="google-chrome") == newest
    assert find("intune/pilot") == newest  # no condition: the newest of the environment
    assert find("intune/pilot", publication=9) is None
    assert (
        github.find_deployment(REPO, sha="0" * 40, environment="intune/pilot", payload={}) is None
    )
    assert not github_double.violations


def test_finding_a_deployment_reads_every_page(github, github_double, scene):
    wanted = deploy(github, scene, payload={"publication": 1})
    for number in range(2, 103):  # 101 newer ones push the first to the second page
        deploy(github, scene, payload={"publication": number})
    found = github.find_deployment(
        REPO, sha=scene["merge_sha"], environment="intune/pilot", payload={"publication": 1}
    )
    assert found == wanted
    assert not github_double.violations


def test_a_long_description_is_clipped_to_140_characters(github, github_double, scene):
    deployment_id = deploy(github, scene)
    reason = "Graph answered 400: " + "the content version could not be committed " * 10
    github.create_deployment_status(
        REPO, deployment_id, state="failure", description=reason, log_url=None, environment_url=None
    )
    [status] = github_double.deployments[deployment_id].statuses
    assert len(status["description"]) == 140
    assert status["description"].startswith("Graph answered 400: the content version")
    assert status["description"].endswith("…")


def test_a_status_for_an_unknown_deployment_is_a_one_line_error(github):
    with pytest.raises(
        GitHubError,
        match=r"setting deployment 99 on acme/intents to success: "
        r"GitHub answered 404",
    ) as raised:
        github.create_deployment_status(
            REPO, 99, state="success", description="x", log_url=None, environment_url=None
        )
    assert "\n" not in str(raised.value)


def test_a_refused_deployment_is_a_one_line_error_and_never_replayed(github, github_double, scene):
    github_double.fail(500, 1, method="POST", path=r"/deployments$", message="Server Error")
    with pytest.raises(
        GitHubError,
        match=r"creating a deployment of [0-9a-f]{12} to intune/pilot"
        r" on acme/intents: GitHub answered 500",
    ):
        deploy(github, scene)
    assert len(github_double.requests_to("POST", r"/deployments$")) == 1
    assert github_double.deployments == {}


def test_a_rate_limited_deployment_waits_and_is_made_once(github, github_double, scene):
    github_double.secondary_rate_limit(
        1, retry_after=1, status=429, method="POST", path=r"/deployments$"
    )
    started = time.monotonic()
    deploy(github, scene)
    assert time.monotonic() - started >= 1.0
    assert [r.status for r in github_double.requests_to("POST", r"/deployments$")] == [429, 201]
    assert len(github_double.deployments) == 1


def test_writes_are_spaced_out(github_double, scene, tmp_path):
    github = app_connector(github_double, tmp_path, seconds_between_writes=0.3).for_installation(
        scene["installation"].id
    )
    started = time.monotonic()
    deployment_id = deploy(github, scene)
    github.create_deployment_status(
        REPO, deployment_id, state="queued", description="q", log_url=None, environment_url=None
    )
    github.create_issue(REPO, title="t", body="b")
    assert time.monotonic() - started >= 0.6


def test_calls_are_reported_to_the_observer(github_double, scene, tmp_path):
    seen = []
    github = app_connector(
        github_double, tmp_path, on_call=lambda op, outcome: seen.append((op, outcome))
    ).for_installation(scene["installation"].id)
    deployment_id = deploy(github, scene)
    github.create_deployment_status(
        REPO, deployment_id, state="queued", description="q", log_url=None, environment_url=None
    )
    github.create_issue(REPO, title="t", body="b")
    assert seen == [
        ("create_deployment", "ok"),
        ("create_deployment_status", "ok"),
        ("create_issue", "ok"),
    ]


# -- issues ----------------------------------------------------------------------------------------


def test_an_issue_is_opened_with_its_labels(github, github_double, scene):
    number = github.create_issue(
        REPO,
        title="Post-implementation review owed: acme/intents#1",
        body="The emergency change merged as abc was published; review it within 5 days.",
        labels=["eucora:pir", "eucora:emergency"],
    )
    issue = github_double.issues[(REPO, number)]
    assert number != scene["pr"].number  # issues and PRs share one numbering
    assert issue.title == "Post-implementation review owed: acme/intents#1"
    assert issue.body.startswith("The emergency change")
    assert issue.labels == ["eucora:pir", "eucora:emergency"]
    assert issue.author == github_double.app.bot_login


def test_an_overlong_title_is_cut_to_githubs_limit(github, github_double):
    number = github.create_issue(REPO, title="x" * 300, body="b")
    assert len(github_double.issues[(REPO, number)].title) == 256


def test_a_refused_issue_is_a_one_line_error(github, github_double):
    github_double.fail(410, 1, method="POST", path=r"/issues$", message="Issues are disabled")
    with pytest.raises(
        GitHubError, match="opening an issue on acme/intents: GitHub answered 410: Issues are"
    ):
        github.create_issue(REPO, title="t", body="b", labels=["eucora:pir"])
    assert github_double.issues == {}


def _failed_run(double, sha):
    return StoredCheckRun(
        id=1,
        repository=REPO,
        name="legacy-ci",
        head_sha=sha,
        app_id=double.app.id,
        status="completed",
        conclusion="failure",
    )
