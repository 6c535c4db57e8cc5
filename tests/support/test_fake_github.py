"""The in-memory GitHub fake keeps the port's promises the flow tests rely on."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.errors import GitHubError
from tests.support.fake_github import FakeGitHub

REPO = "acme/intents"


def test_deployments_record_their_statuses_with_the_description_clipped(tmp_path: Path) -> None:
    github = FakeGitHub(tmp_path)
    deployment_id = github.create_deployment(
        REPO, ref="a" * 40, environment="intune/pilot", description="d", payload={"id": 1}
    )
    github.create_deployment_status(
        REPO, deployment_id, state="in_progress", description="x", log_url="u", environment_url=None
    )
    github.create_deployment_status(
        REPO,
        deployment_id,
        state="failure",
        description="y" * 300,
        log_url="u",
        environment_url=None,
    )
    assert github.deployment_states(deployment_id) == ["in_progress", "failure"]
    assert len(github.deployments[deployment_id].statuses[1]["description"]) == 140
    assert github.deployments[deployment_id].environment == "intune/pilot"
    with pytest.raises(GitHubError, match="404"):
        github.create_deployment_status(
            REPO, 999, state="success", description="", log_url=None, environment_url=None
        )


def test_issues_are_recorded_and_failures_can_be_injected(tmp_path: Path) -> None:
    github = FakeGitHub(tmp_path)
    github.fail_next("create_issue")
    with pytest.raises(GitHubError, match="create_issue: GitHub answered 502"):
        github.create_issue(REPO, title="t", body="b")
    number = github.create_issue(REPO, title="PIR owed", body="b", labels=["eucora:pir"])
    [issue] = github.issues
    assert (issue.number, issue.title, issue.labels) == (number, "PIR owed", ("eucora:pir",))
