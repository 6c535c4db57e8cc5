"""The GitHub adapter's approval calls against the GitHub double (requests checked against
GitHub's OpenAPI description): reviews, PR commits, team members, review requests, and the
answer to a deployment protection rule."""

from __future__ import annotations

import pytest

from bot.core.github_model import DeploymentReviewState
from bot.errors import GitHubError
from tests.support.github_double_fixtures import app_connector
from tests.support.gitrepo import GitRepo

REPO = "acme/intents"


@pytest.fixture
def scene(github_double, tmp_path):
    source = GitRepo.create(tmp_path / "source")
    source.write("intents/app.yaml", "name: app\n")
    source.commit("base")
    source.branch("feature")
    source.write("intents/app.yaml", "name: app\nversion: 2\n")
    source.commit("head\n\nCo-authored-by: Erin <erin@example.com>")
    installation = github_double.add_installation("acme")
    github_double.add_repository(REPO, installation=installation, source=source.path)
    pr = github_double.open_pull_request(REPO, head="feature", author="dave")
    return {"installation": installation, "pr": pr}


@pytest.fixture
def github(github_double, scene, tmp_path):
    return app_connector(github_double, tmp_path).for_installation(scene["installation"].id)


def test_reviews_come_back_oldest_first_with_their_head_and_upper_case_state(
    github, github_double, scene
):
    pr = scene["pr"]
    first = github_double.add_review(REPO, pr.number, "carol", "APPROVED")
    second = github_double.add_review(REPO, pr.number, "renovate[bot]", "COMMENTED")

    reviews = github.reviews(REPO, pr.number)

    assert [(r.id, r.reviewer, r.state, r.commit_id) for r in reviews] == [
        (first.id, "carol", "APPROVED", pr.head_sha),
        (second.id, "renovate[bot]", "COMMENTED", pr.head_sha),
    ]
    assert reviews[0].submitted_at is not None
    assert reviews[0].submitted_at.endswith("+00:00")
    assert not github_double.violations


def test_pull_commits_name_author_committer_and_keep_the_message_trailers(github, scene):
    [commit] = github.pull_commits(REPO, scene["pr"].number)
    assert commit.sha == scene["pr"].head_sha
    assert commit.author_email
    assert commit.committer_email
    assert "Co-authored-by: Erin <erin@example.com>" in commit.message


def test_team_members_include_child_teams_and_an_unknown_team_is_an_error(github, github_double):
    github_double.add_team("acme", "cab", ["carol"])
    github_double.add_team("acme", "cab-security", ["sam"], parent="cab")

    assert github.team_members("acme/cab") == frozenset({"carol", "sam"})
    with pytest.raises(GitHubError, match="members of team acme/nobody: GitHub answered 404"):
        github.team_members("acme/nobody")
    with pytest.raises(GitHubError, match="not a team as org/team-slug"):
        github.team_members("just-a-slug")


def test_a_team_review_request_lands_on_the_pull_request(github, github_double, scene):
    pr = scene["pr"]
    github.request_team_review(REPO, pr.number, ["cab"])
    assert github_double.pull_request(REPO, pr.number).requested_teams == ["cab"]
    assert not github_double.violations


@pytest.mark.parametrize("state", list(DeploymentReviewState))
def test_a_deployment_protection_rule_is_answered_on_the_run(github, github_double, state):
    github.review_deployment(
        REPO, 77, environment="intune/ring1", state=state, comment="CAB approved: review 12"
    )
    assert github_double.protection_rule_reviews == [
        {
            "repository": REPO,
            "run_id": 77,
            "environment_name": "intune/ring1",
            "state": state.value,
            "comment": "CAB approved: review 12",
        }
    ]
    assert not github_double.violations


def test_one_commit_names_the_accounts_github_ties_its_addresses_to(github, github_double, scene):
    pr = scene["pr"]
    commit = github.commit(REPO, pr.head_sha)
    assert (commit.sha, commit.author_login, commit.committer_login) == (pr.head_sha, "ada", "ada")
    assert "Co-authored-by: Erin <erin@example.com>" in commit.message
    assert not github_double.violations


def test_commit_search_ties_an_address_to_its_account_or_to_nobody(github, github_double):
    found = github.commit_authors("ada@example.com")  # ada wrote the base commit on main
    nobody = github.commit_authors("erin@example.com")  # only a trailer on a PR branch names her
    assert (found, nobody) == (frozenset({"ada"}), frozenset())
    [search] = github_double.requests_to("GET", r"^/search/commits$")[:1]
    assert search.status == 200
    assert not github_double.violations


def test_an_address_tied_to_no_account_comes_back_without_a_login(github_double, tmp_path, github):
    github_double.link_email("ghost@nowhere.example", None)
    source = GitRepo.create(tmp_path / "ghost")
    source.write("a.yaml", "a: 1\n")
    source.git("add", "-A")
    source.git("commit", "-q", "--author=G <ghost@nowhere.example>", "-m", "by nobody")
    installation = next(iter(github_double.installations.values()))
    github_double.add_repository("acme/ghost", installation=installation, source=source.path)
    sha = source.git("rev-parse", "HEAD")
    commit = github.commit("acme/ghost", sha)
    assert (commit.author_login, commit.author_email, commit.committer_login) == (
        None,
        "ghost@nowhere.example",
        "ada",
    )
    assert not github_double.violations


def test_the_pull_request_list_holds_only_the_most_recent_250_commits(
    github, github_double, tmp_path
):
    source = GitRepo.create(tmp_path / "long")
    source.write("a.yaml", "a: 1\n")
    source.commit("base")
    source.branch("long")
    for index in range(260):
        source.git("commit", "-q", "--allow-empty", "-m", f"c{index}")
    installation = next(iter(github_double.installations.values()))
    github_double.add_repository("acme/long", installation=installation, source=source.path)
    pr = github_double.open_pull_request("acme/long", head="long")

    listed = github.pull_commits("acme/long", pr.number)

    assert len(listed) == 250
    assert listed[-1].sha == pr.head_sha
    assert listed[0].message == "c10"
