"""The GitHub adapter's issue and change-PR calls against the GitHub double (requests and answers
checked against GitHub's OpenAPI description): the app's issue found again by its marker, edited
in place and closed; a change pull request committed through the git data API, idempotent."""

from __future__ import annotations

import subprocess

import pytest

from bot.errors import GitHubError
from tests.support.github_double_fixtures import app_connector
from tests.support.gitrepo import GitRepo

REPO = "acme/intents"
MARKER = "<!-- eucora:halted:acme/intents:42 -->"


@pytest.fixture
def scene(github_double, tmp_path):
    source = GitRepo.create(tmp_path / "source")
    source.write("intents/app.yaml", "name: app\nversion: '2.0'\n")
    source.write("README.md", "intents\n")
    source.commit("base")
    installation = github_double.add_installation("acme")
    github_double.add_repository(REPO, installation=installation, source=source.path)
    return {"installation": installation}


@pytest.fixture
def github(github_double, scene, tmp_path):
    return app_connector(github_double, tmp_path).for_installation(scene["installation"].id)


def open_issues(github_double):
    return [i for (repo, _), i in github_double.issues.items() if i.state == "open"]


# -- issues found by their marker -----------------------------------------------------------------


def test_an_issue_is_opened_once_then_edited_in_place_by_its_marker(github, github_double):
    first = github.upsert_issue(
        REPO, marker=MARKER, title="Halted: app", body=f"{MARKER}\nfirst", labels=["eucora:halted"]
    )
    second = github.upsert_issue(
        REPO, marker=MARKER, title="Halted: app 2", body=f"{MARKER}\nsecond", labels=["x", "y"]
    )

    assert first == second
    [issue] = open_issues(github_double)
    assert (issue.title, issue.body, issue.labels) == (
        "Halted: app 2",
        f"{MARKER}\nsecond",
        ["x", "y"],
    )
    assert issue.author == github_double.app.bot_login


def test_labels_the_repository_lacks_are_created_first(github, github_double):
    github_double.labels[(REPO, "eucora:halted")] = "eucora:halted"
    github.upsert_issue(
        REPO, marker=MARKER, title="t", body=MARKER, labels=["eucora:halted", "new"]
    )

    created = [r.body["name"] for r in github_double.requests_to("POST", r"/labels$")]
    assert created == ["new"]


def test_an_unchanged_issue_is_not_written_again(github, github_double):
    github.upsert_issue(REPO, marker=MARKER, title="t", body=MARKER, labels=["a"])
    github.upsert_issue(REPO, marker=MARKER, title="t", body=MARKER, labels=["a"])
    assert github_double.requests_to("PATCH", r"/issues/\d+$") == []


def test_someone_elses_issue_with_the_marker_is_never_edited(github, github_double, scene):
    user_token_issue = github_double.add_user_token("mallory")
    del user_token_issue
    from bot.doubles.github.state import Issue

    github_double.issues[(REPO, 90)] = Issue(90, REPO, "bait", MARKER, [], "mallory")
    number = github.upsert_issue(REPO, marker=MARKER, title="t", body=MARKER, labels=[])

    assert number != 90
    assert github_double.issues[(REPO, 90)].title == "bait"


def test_find_issue_names_the_open_issue_or_none(github, github_double):
    assert github.find_issue(REPO, MARKER) is None
    number = github.upsert_issue(REPO, marker=MARKER, title="t", body=MARKER, labels=[])
    assert github.find_issue(REPO, MARKER) == number
    assert github.find_issue(REPO, "<!-- eucora:other -->") is None


def test_a_closed_issue_gets_its_comment_and_a_new_one_is_opened_after(github, github_double):
    number = github.upsert_issue(REPO, marker=MARKER, title="t", body=MARKER, labels=[])
    github.close_issue(REPO, number, comment="The counts moved again.")

    assert github_double.issues[(REPO, number)].state == "closed"
    assert [c.body for c in github_double.comments(REPO, number)] == ["The counts moved again."]
    assert github.find_issue(REPO, MARKER) is None
    assert github.upsert_issue(REPO, marker=MARKER, title="t", body=MARKER, labels=[]) != number


def test_a_failed_listing_is_an_error_never_no_issue(github, github_double):
    github_double.fail(404, 1, method="GET", path=r"/issues$")
    with pytest.raises(GitHubError, match="looking for the issue"):
        github.find_issue(REPO, MARKER)


def test_a_body_without_its_marker_is_refused(github):
    with pytest.raises(ValueError, match="marker"):
        github.upsert_issue(REPO, marker=MARKER, title="t", body="no marker", labels=[])


# -- change pull requests -------------------------------------------------------------------------


def change(github, **overrides):
    fields = {
        "base": "main",
        "branch": "eucora/rollback/app-1.0",
        "title": "Roll app back to 1.0",
        "body": "The rollout halted.",
        "files": {"intents/app.yaml": b"name: app\nversion: '1.0'\n"},
        "labels": ["eucora:emergency"],
    }
    return github.open_change_pull_request(REPO, **{**fields, **overrides})


def test_a_change_pull_request_commits_the_files_on_a_branch_from_the_base(github, github_double):
    base_head = github_double.rev_parse(REPO, "main")
    number = change(github)

    pr = github_double.pull_request(REPO, number)
    assert (pr.head_ref, pr.base_ref, pr.title, pr.labels) == (
        "eucora/rollback/app-1.0",
        "main",
        "Roll app back to 1.0",
        ["eucora:emergency"],
    )
    assert pr.author == github_double.app.bot_login
    assert [c.parents for c in pr.commits] == [[base_head]]
    shown = github_double.git(REPO, "show", f"{pr.head_sha}:intents/app.yaml")
    assert shown == "name: app\nversion: '1.0'"
    assert github_double.git(REPO, "show", f"{pr.head_sha}:README.md") == "intents"
    assert github_double.rev_parse(REPO, "main") == base_head  # the base is untouched


def test_a_second_call_returns_the_open_pull_request_without_a_second_commit(github, github_double):
    first = change(github)
    head = github_double.pull_request(REPO, first).head_sha
    second = change(github, files={"intents/app.yaml": b"other\n"})

    assert second == first
    assert github_double.pull_request(REPO, first).head_sha == head
    assert len(github_double.requests_to("POST", r"/git/commits$")) == 1


def test_a_branch_left_by_a_failed_attempt_is_reused(github, github_double):
    github_double.fail(502, 1, method="POST", path=r"/pulls$")
    with pytest.raises(GitHubError, match=r"opening a pull request from eucora/rollback/app-1\.0"):
        change(github)
    number = change(github)

    pr = github_double.pull_request(REPO, number)
    assert pr.head_sha == github_double.rev_parse(REPO, "eucora/rollback/app-1.0")
    assert pr.labels == ["eucora:emergency"]


def test_a_pull_request_left_unlabelled_gets_its_labels_on_the_retry(github, github_double):
    github_double.fail(502, 1, method="PATCH", path=r"/issues/\d+$")
    with pytest.raises(GitHubError):
        change(github)
    number = change(github)
    assert github_double.pull_request(REPO, number).labels == ["eucora:emergency"]


def test_binary_files_arrive_byte_for_byte(github, github_double, tmp_path):
    data = bytes(range(256))
    number = change(github, files={"blob.bin": data})
    sha = github_double.pull_request(REPO, number).head_sha
    bare = github_double.repositories[REPO].bare_path
    shown = subprocess.run(
        ["git", "-C", str(bare), "show", f"{sha}:blob.bin"], capture_output=True, check=True
    ).stdout
    assert shown == data
