"""Rollout alerts end to end: stuck rings (one issue, the metric, closed when counts move), an
issue GitHub failed to take sent on a later pass (halted rollouts too), and the rollback pull
request passing its own policy check when its webhook reaches the app.

The fixtures of ``test_rollouts_e2e`` and ``test_rollout_issues_e2e`` (GitHub double, five plane
doubles, SQLite, a test clock; 7-zip rolls back to 24.08).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from bot.core.github_model import POLICY_CHECK
from bot.core.render.rollout_issues import STUCK_LABEL
from bot.core.rollout_model import OWED_PREFIX, RolloutPhase
from tests.entrypoints import test_rollout_issues_e2e, test_rollouts_e2e
from tests.entrypoints.test_publish_e2e import REPO
from tests.entrypoints.test_rollout_issues_e2e import halt_seven_zip, halted_issues
from tests.entrypoints.test_rollouts_e2e import at, reconcile, rollout

app = test_rollouts_e2e.app
planes = test_rollouts_e2e.planes
clock = test_rollouts_e2e.clock
merged = test_rollouts_e2e.merged
rolling = test_rollouts_e2e.rolling
source = test_rollout_issues_e2e.source
ZOOM_LAB = "EUC Lab Macs"  # the Jamf smart group of zoom's lab ring (no deadline)


def stuck_metric(app: Any) -> float:
    text = app.client.get("/metrics").get_data(as_text=True)
    found = re.search(r"^eucora_stuck_rollouts ([0-9.]+)$", text, re.MULTILINE)
    assert found is not None, text
    return float(found.group(1))


def stuck_issues(app: Any, state: str = "open") -> list[Any]:
    return [i for i in app.double.issues.values() if STUCK_LABEL in i.labels and i.state == state]


def test_a_stuck_ring_raises_one_issue_and_the_metric_until_its_counts_move(
    app: Any, planes: Any, clock: Any, merged: Any, rolling: Any
) -> None:
    reconciler, publisher = rolling
    at(clock, planes, datetime(2027, 4, 5, 8, 0, tzinfo=UTC))
    reconcile(app, reconciler, publisher)
    planes.jamf.set_outcomes(ZOOM_LAB, installed=3, pending=3)
    reconcile(app, reconciler, publisher)
    assert stuck_metric(app) == 0
    assert stuck_issues(app) == []

    at(clock, planes, datetime(2027, 4, 6, 9, 0, tzinfo=UTC))  # 25 h, nothing moved
    planes.jamf.set_outcomes(ZOOM_LAB, installed=3, pending=3)
    report = reconcile(app, reconciler, publisher)
    assert any(a.startswith("zoom-macos") for a in report.alerts), report.lines()
    [issue] = stuck_issues(app)
    assert "no count has moved" in (issue.body or ""), issue.body
    assert stuck_metric(app) == 1

    reconcile(app, reconciler, publisher)  # still stuck: no second issue
    assert len(stuck_issues(app)) == 1

    planes.jamf.set_outcomes(ZOOM_LAB, installed=5, pending=1)  # counts move
    reconcile(app, reconciler, publisher)
    assert stuck_issues(app) == []
    assert [i.number for i in stuck_issues(app, "closed")] == [issue.number]
    assert stuck_metric(app) == 0


def test_a_halt_issue_github_refused_is_sent_by_a_later_pass(
    app: Any, planes: Any, clock: Any, merged: Any, rolling: Any
) -> None:
    app.double.fail(422, 1, method="POST", path=r"/issues$")
    report = halt_seven_zip(app, planes, clock, rolling)
    assert any(h.startswith("7-zip") for h in report.halted), report.lines()
    assert halted_issues(app) == []
    record = rollout(app, "7-zip")
    assert record.state.phase is RolloutPhase.HALTED
    assert f"{OWED_PREFIX}halted" in record.state.alerts

    report = reconcile(app, *rolling)  # GitHub answers again
    assert any(s.startswith("7-zip") for s in report.issues_sent), report.lines()
    [issue] = halted_issues(app)
    assert "3 devices failed to install" in (issue.body or "")
    assert "| 20 | 15 | 3 | 2 |" in (issue.body or "")
    assert [p for p in app.double.pulls.values() if p.head_ref.startswith("eucora/rollback/")]
    assert f"{OWED_PREFIX}halted" not in rollout(app, "7-zip").state.alerts

    reconcile(app, *rolling)  # nothing owed any more: nothing sent twice
    assert len(halted_issues(app)) == 1


def test_the_rollback_pull_request_passes_its_own_policy_check(
    app: Any, planes: Any, clock: Any, merged: Any, rolling: Any
) -> None:
    halt_seven_zip(app, planes, clock, rolling)
    [pull] = [p for p in app.double.pulls.values() if p.head_ref.startswith("eucora/rollback/")]
    assert app.post(app.pr_event(pull, "opened")) == 202
    app.drain()
    runs = [
        r for r in app.double.check_runs(REPO, name=POLICY_CHECK) if r.head_sha == pull.head_sha
    ]
    assert runs, "no policy check on the rollback pull request"
    assert runs[-1].status == "completed"
    assert runs[-1].conclusion == "success", runs[-1].summary
