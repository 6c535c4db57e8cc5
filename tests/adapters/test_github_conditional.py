"""Reads that repeat (team members, a PR's commits) are conditional: 304s reuse what was read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.adapters.github_connectors import next_cursor
from tests.support.github_double_fixtures import app_connector
from tests.support.gitrepo import GitRepo
from tests.support.webhooks import pr_payload

EXAMPLES_REPO = "acme/intents"


@pytest.fixture
def github(github_double, tmp_path):
    installation = github_double.add_installation("acme")
    github_double.add_repository(EXAMPLES_REPO, installation=installation)
    return app_connector(github_double, tmp_path).for_installation(installation.id)


def test_team_members_read_again_are_a_304_that_reuses_the_members(github, github_double):
    github_double.add_team("acme", "cab", ["carol", "cy"])
    assert github.team_members("acme/cab") == frozenset({"carol", "cy"})
    remaining = github_double.rate_remaining
    assert github.team_members("acme/cab") == frozenset({"carol", "cy"})
    assert github_double.not_modified == 1
    assert github_double.rate_remaining == remaining  # a 304 is free
    github_double.add_team("acme", "cab", ["carol", "cy", "dan"])  # changed: read in full
    assert github.team_members("acme/cab") == frozenset({"carol", "cy", "dan"})
    assert github_double.not_modified == 1
    sent = github_double.requests_to("GET", r"/teams/cab/members$")
    assert len(sent) == 3


def test_pull_commits_read_again_are_conditional(github_double, tmp_path):
    repo = GitRepo.create(tmp_path / "src")
    repo.write("a.txt", "a\n")
    repo.commit("first")
    repo.branch("feature")
    repo.write("b.txt", "b\n")
    repo.commit("second")
    installation = github_double.add_installation("acme")
    github_double.add_repository("acme/c", installation=installation, source=repo.path)
    pr = github_double.open_pull_request("acme/c", head="feature", base="main", author="dave")
    github = app_connector(github_double, tmp_path).for_installation(installation.id)
    first = github.pull_commits("acme/c", pr.number)
    assert github.pull_commits("acme/c", pr.number) == first
    assert github_double.not_modified == 1


def test_the_next_cursor_is_read_from_the_link_header():
    link = (
        '<https://api.github.com/app/hook/deliveries?per_page=100&cursor=v1_99>; rel="next", '
        '<https://api.github.com/app/hook/deliveries?per_page=100>; rel="first"'
    )
    assert next_cursor(link) == "v1_99"
    assert next_cursor('<https://x/y?page=1>; rel="first"') is None
    assert next_cursor("") is None


def test_the_delivery_list_follows_the_cursor_across_pages(github_double, tmp_path):
    for number in range(205):
        github_double.hookshot.fail_next(1)
        github_double.send_webhook("pull_request", pr_payload(pr=number + 1))
    connector = app_connector(github_double, tmp_path)
    items = connector.hook_deliveries(since=datetime.now(UTC) - timedelta(hours=1))
    assert len(items) == 205
    assert len({item["guid"] for item in items}) == 205
    pages = github_double.requests_to("GET", r"/app/hook/deliveries$")
    assert len(pages) == 3
    assert "cursor=v1_" in pages[1].query
