"""Drift end to end: a console edit on each of the five plane doubles, through the reconcile pass.

The rollouts' fixtures (GitHub double, plane doubles, SQLite, a test clock): the merge publishes
each intent's first ring, the reconcile pass starts the rollouts, then a person edits the plane in
its console (``bot.doubles._console``) and the next passes compare the plane with git.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from bot.doubles.planes import PlaneDoubles
from bot.entrypoints.wiring import build_reconciler
from bot.flows.publish import Publisher
from bot.flows.rollouts import Reconciler
from tests.entrypoints import test_publish_e2e, test_rollouts_e2e
from tests.entrypoints.test_github_app import App
from tests.entrypoints.test_publish_e2e import REPO, ShiftedClock
from tests.entrypoints.test_rollouts_e2e import at, clock, merged, planes, source
from tests.support.drift_issues import FakeDriftIssues

app = test_publish_e2e.app
__all__ = ["app", "clock", "merged", "planes", "source"]


@pytest.fixture
def issues() -> FakeDriftIssues:
    return FakeDriftIssues()


@pytest.fixture
def rolling(
    app: App, planes: PlaneDoubles, clock: ShiftedClock, merged: Any, issues: FakeDriftIssues
) -> tuple[Reconciler, Publisher]:
    services = app.server.intake.services
    connectors = services.publisher.connectors if services.publisher is not None else None
    assert connectors is not None
    return build_reconciler(
        services, clock=clock, planes=connectors, drift_issues=lambda record: issues
    )


def reconcile(app: App, rolling: tuple[Reconciler, Publisher]) -> Any:
    return test_rollouts_e2e.reconcile(app, *rolling)


def test_without_a_console_edit_no_plane_drifts(
    app: App, planes: PlaneDoubles, clock: ShiftedClock, rolling: Any, issues: FakeDriftIssues
) -> None:
    at(clock, planes, datetime(2027, 3, 1, 10, 0, tzinfo=UTC))
    report = reconcile(app, rolling)
    assert report.started == 5
    report = reconcile(app, rolling)
    assert issues.open_issues(REPO) == [], [i.body for i in issues.open_issues(REPO)]
    assert "drift: 5 intents compared with their planes" in report.lines()
