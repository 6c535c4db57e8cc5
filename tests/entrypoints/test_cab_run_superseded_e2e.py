"""A re-decided CAB approval completes the waiting run it replaces (the GitHub double, SQLite).

Each review re-decides the approval at the PR's head and creates a new ``EUCORA CAB approval``
run; the run it replaces, still ``in_progress`` while it waited, is completed as ``cancelled``
("superseded") at once, not left waiting until the head is evaluated again.
"""

from __future__ import annotations

from bot.core.github_model import APPROVAL_CHECK
from tests.entrypoints.test_approvals_e2e import (  # noqa: F401 - app, source: the fixtures
    REPO,
    app,
    opened,
    review,
    source,
)
from tests.entrypoints.test_github_app import App
from tests.support.gitrepo import GitRepo


def _cab_runs(app: App, head_sha: str) -> list[tuple[str, str | None]]:  # noqa: F811 - the fixture's name
    runs = app.double.check_runs(REPO, name=APPROVAL_CHECK)
    return [
        (r.status, r.conclusion) for r in sorted(runs, key=lambda r: r.id) if r.head_sha == head_sha
    ]


def test_each_redecision_completes_the_waiting_cab_run_it_replaces(
    app: App,  # noqa: F811 - the fixture imported above
    source: GitRepo,  # noqa: F811
) -> None:
    pr = opened(app, source)
    assert _cab_runs(app, pr.head_sha) == [("in_progress", None)]

    review(app, pr, "carol", "COMMENTED")  # still waiting: a new waiting run replaces the first
    review(app, pr, "sam", "COMMENTED")
    assert _cab_runs(app, pr.head_sha) == [
        ("completed", "cancelled"),
        ("completed", "cancelled"),
        ("in_progress", None),
    ]
    [replaced, *_] = sorted(app.double.check_runs(REPO, name=APPROVAL_CHECK), key=lambda r: r.id)
    assert replaced.title == "Superseded by a later decision"

    review(app, pr, "carol", "APPROVED")
    assert _cab_runs(app, pr.head_sha)[-2:] == [
        ("completed", "cancelled"),
        ("completed", "success"),
    ]
    assert [s for s, _ in _cab_runs(app, pr.head_sha)].count("in_progress") == 0
