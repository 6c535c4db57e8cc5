"""Rollout issues end to end: a halted rollout opens one ``eucora:halted`` issue and a rollback
pull request (the intent file as it was at the previous version, from git history).

The fixtures of ``test_rollouts_e2e`` (GitHub double, five plane doubles, SQLite, test clock);
7-zip's change names 24.08 (the version on main before the merge) as its previous version.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.core.render.rollout_issues import HALTED_LABEL
from tests.entrypoints import test_rollouts_e2e
from tests.entrypoints.test_publish_e2e import CHANGED, REPO, patch_day
from tests.entrypoints.test_rollouts_e2e import SEVEN_ZIP_LAB, at, reconcile
from tests.support.gitrepo import GitRepo

app = test_rollouts_e2e.app
planes = test_rollouts_e2e.planes
clock = test_rollouts_e2e.clock
merged = test_rollouts_e2e.merged
rolling = test_rollouts_e2e.rolling
SEVEN_ZIP = "intents/windows/7-zip.yaml"


@pytest.fixture
def source(tmp_path: Path) -> GitRepo:
    repo = patch_day(tmp_path / "src", CHANGED)
    repo.edit(SEVEN_ZIP, 'previousVersion: "24.07"', 'previousVersion: "24.08"')
    repo.commit("7-zip rolls back to 24.08")
    return repo


def halted_issues(app: Any) -> list[Any]:
    return [i for i in app.double.issues.values() if HALTED_LABEL in i.labels and i.state == "open"]


def halt_seven_zip(app: Any, planes: Any, clock: Any, rolling: Any) -> Any:
    reconciler, publisher = rolling
    at(clock, planes, datetime(2027, 1, 11, 12, 0, tzinfo=UTC))
    planes.sccm.set_outcomes(
        SEVEN_ZIP_LAB,
        installed=15,
        failed=3,
        pending=2,
        errors=[("0x80070643", "Fatal <b>error</b> during @installation")],
    )
    return reconcile(app, reconciler, publisher)


def test_a_halt_opens_one_issue_with_the_outcomes_and_a_rollback_pull_request(
    app: Any, planes: Any, clock: Any, merged: Any, rolling: Any
) -> None:
    report = halt_seven_zip(app, planes, clock, rolling)
    assert any(h.startswith("7-zip") for h in report.halted), report.lines()

    [issue] = halted_issues(app)
    assert issue.author == app.double.app.bot_login
    assert "eucora:halted:acme/intents:" in issue.body
    assert "| 20 | 15 | 3 | 2 |" in issue.body  # targeted, installed, failed, pending
    assert "0x80070643" in issue.body
    assert "<b>" not in issue.body  # inert markdown
    assert "@installation" not in issue.body
    assert "3 devices failed to install" in issue.body

    [pull] = [p for p in app.double.pulls.values() if p.head_ref.startswith("eucora/rollback/")]
    assert pull.head_ref == "eucora/rollback/7-zip-24.09"
    assert pull.labels == ["eucora:emergency"]
    rolled = yaml.safe_load(app.double.git(REPO, "show", f"{pull.head_sha}:{SEVEN_ZIP}"))
    assert str(rolled["app"]["version"]) == "24.08"

    # a second pass (still halted) opens no second issue and no second pull request
    reconciler, publisher = rolling
    reconcile(app, reconciler, publisher)
    assert len(halted_issues(app)) == 1
    assert len([p for p in app.double.pulls.values() if p.head_ref.startswith("eucora/")]) == 1


def test_a_github_failure_never_loses_the_halt(
    app: Any, planes: Any, clock: Any, merged: Any, rolling: Any
) -> None:
    app.double.fail(422, 5, method="POST", path=r"/issues$")
    report = halt_seven_zip(app, planes, clock, rolling)
    assert any(h.startswith("7-zip") for h in report.halted), report.lines()
    assert halted_issues(app) == []
    assert test_rollouts_e2e.rollout(app, "7-zip").state.phase.value == "halted"
