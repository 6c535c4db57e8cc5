"""The plan reads the planes: only writers' passing PRs from the repository itself get one.

End to end through the signed webhook, the inbox and the GitHub double, with all five plane
doubles configured. The plan (the ``### Plan: what merging will do`` block of the sticky
comment) asks each plane what it holds and prints the answer (a Landscape ring printed "on 3
computers"): a PR from a fork, from an author without write access, or one the policy check
blocks gets no plan and sends the planes not a single request. A permission read that fails
is retried, never taken as "no".
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from bot.bootstrap import pull_request_handler_factory
from bot.core.github_model import EVIDENCE_MARKER, POLICY_CHECK
from bot.doubles.github.server import GitHubDouble
from bot.doubles.planes import PlaneDoubles, StandInArtifacts
from connectors.registry import build_connectors
from tests.entrypoints.test_github_app import App, serving
from tests.entrypoints.test_publish_e2e import intents_of, patch_day
from tests.support.gitrepo import GitRepo

REPO = "acme/intents"
PLAN = "### Plan: what merging will do"
CHANGED = {
    "intents/linux/osquery.yaml": ("5.14.1-1", "5.14.2-1"),  # Landscape
    "intents/linux/cis-hardening.yaml": ('"1.3.0"', '"1.3.1"'),  # AWX
}


@pytest.fixture
def source(tmp_path: Path) -> GitRepo:
    return patch_day(tmp_path / "src", CHANGED)


@pytest.fixture
def planes(source: GitRepo) -> Iterator[PlaneDoubles]:
    with PlaneDoubles(intents_of(source, CHANGED)) as doubles:
        yield doubles
    assert doubles.violations == []


@pytest.fixture
def app(
    tmp_path: Path, github_double: GitHubDouble, github_env: dict[str, str], planes: PlaneDoubles
) -> Iterator[App]:
    environ = {
        **github_env,
        **planes.environ(),
        "EUCORA_HOME": str(tmp_path / "home"),
        "EUCORA_GITHUB_WRITE_INTERVAL": "0",
    }
    connectors = build_connectors(environ, artifacts=StandInArtifacts())
    with serving(
        github_double, environ, partial(pull_request_handler_factory, planes=connectors)
    ) as app:
        github_double.add_team("acme", "cab", ["carol", "sam"])
        yield app
    connectors.close()


def _open(app: App, source: GitRepo, **options: Any) -> Any:
    installation = app.double.installations[app.installation]
    app.double.add_repository(REPO, installation=installation, source=source.path)
    pr = app.double.open_pull_request(REPO, head="change", **options)
    assert app.post(app.pr_event(pr, "opened")) == 202
    app.drain()
    return pr


def _sticky(app: App, pr: Any) -> str:
    [comment] = [c for c in app.double.comments(REPO, pr.number) if EVIDENCE_MARKER in c.body]
    return comment.body


def _plane_requests(planes: PlaneDoubles) -> int:
    return sum(len(double.requests) for double in planes.all)


def test_a_writers_passing_pr_from_the_repository_gets_the_plan(
    app: App, source: GitRepo, planes: PlaneDoubles
) -> None:
    app.double.set_permission(REPO, "dave", "write")
    pr = _open(app, source, author="dave")
    sticky = _sticky(app, pr)
    assert PLAN in sticky
    assert "- **landscape**:" in sticky
    assert "- **ansible**:" in sticky
    assert _plane_requests(planes) > 0  # the control: the planes were asked


@pytest.mark.parametrize(
    ("permission", "fork"),
    [
        ("write", "mallory/intents"),  # a writer's branch, but in a fork
        ("read", None),  # a branch here, by someone who may only read
        ("triage", None),
        ("none", None),
    ],
)
def test_a_fork_or_a_non_writer_gets_no_plan_and_the_planes_are_not_asked(
    app: App, source: GitRepo, planes: PlaneDoubles, permission: str, fork: str | None
) -> None:
    app.double.set_permission(REPO, "mallory", permission)
    pr = _open(app, source, author="mallory", fork=fork)
    sticky = _sticky(app, pr)
    assert "EUCORA" in sticky  # the PR was evaluated and commented on
    assert PLAN not in sticky
    assert _plane_requests(planes) == 0
    [policy] = app.double.check_runs(REPO, name=POLICY_CHECK)
    assert (policy.status, policy.conclusion) == ("completed", "success")


def test_a_blocked_pr_gets_no_plan_even_from_a_writer(
    app: App, source: GitRepo, planes: PlaneDoubles
) -> None:
    # the attack of the finding: a Landscape query where a tag belongs, to count a group's
    # computers through the plan; validation blocks it at its line, and no plane is asked
    text = source.read("intents/linux/osquery.yaml")
    source.write(
        "intents/linux/osquery.yaml",
        text.replace("target: euc-pilot-linux", "target: tag:finance-exec"),
    )
    source.commit("pilot on the finance executives")
    app.double.set_permission(REPO, "dave", "admin")
    pr = _open(app, source, author="dave")
    sticky = _sticky(app, pr)
    assert PLAN not in sticky
    assert "finance-exec" in sticky  # the finding names it...
    assert "computers" not in sticky  # ...but no plane answer is shown
    assert _plane_requests(planes) == 0
    [policy] = app.double.check_runs(REPO, name=POLICY_CHECK)
    assert policy.conclusion == "failure"
    [target] = [a for a in policy.annotations if "a Landscape target is a tag name" in a["message"]]
    line = (
        source.read("intents/linux/osquery.yaml").splitlines().index("    target: tag:finance-exec")
    )
    assert (target["path"], target["start_line"]) == ("intents/linux/osquery.yaml", line + 1)


def test_a_failed_permission_read_is_retried_not_taken_as_no(
    app: App, source: GitRepo, planes: PlaneDoubles
) -> None:
    app.double.set_permission(REPO, "dave", "write")
    app.double.fail(403, 1, method="GET", path=r"/collaborators/dave/permission$")
    pr = _open(app, source, author="dave")
    # the first attempt failed before any check run was created: nothing left in progress
    assert app.double.check_runs(REPO, name=POLICY_CHECK) == []
    assert _plane_requests(planes) == 0
    engine = app.server.intake.services.engine
    with engine.connect() as connection:  # the retry is due now rather than after its backoff
        connection.exec_driver_sql("UPDATE inbox SET not_before = received_at")
        connection.commit()
    assert app.drain() == 1
    assert PLAN in _sticky(app, pr)
    assert _plane_requests(planes) > 0
