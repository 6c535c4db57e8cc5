"""Drift end to end: a console edit on each of the five plane doubles, through the reconcile pass.

The rollouts' fixtures (GitHub double, plane doubles, SQLite, a test clock): the merge publishes
each intent's first ring, the reconcile pass starts the rollouts, then a person edits a plane in
its console (``bot.doubles._console``) and the next passes compare the plane with git. Issues and
the adopt pull request go to the GitHub double through the GitHub port.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.adapters.revisions import GitRevisions
from bot.adapters.storage.drift import DriftStore
from bot.bootstrap import build_reconciler
from bot.doubles._console import ConsoleEdit
from bot.doubles.planes import PlaneDoubles
from bot.flows.check import check_fetched
from bot.flows.drift import LABEL, DriftPass
from bot.flows.publish import Publisher
from bot.flows.rollouts import Reconciler
from tests.entrypoints import test_publish_e2e, test_rollouts_e2e
from tests.entrypoints.test_github_app import App
from tests.entrypoints.test_publish_e2e import CHANGED, REPO, ShiftedClock, patch_day
from tests.entrypoints.test_rollouts_e2e import at, clock, merged, planes
from tests.support.gitrepo import GitRepo

app = test_publish_e2e.app
__all__ = ["app", "clock", "merged", "planes"]

START = datetime(2027, 3, 1, 10, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Case:
    """One console edit on one plane and the drift row it must show."""

    plane: str
    intent: str
    path: str
    kind: ConsoleEdit
    group: str
    value: str
    row: tuple[str, str, str, str]
    """(field, kind, git, plane) of the issue's table."""


CHROME_LAB = "6513270e-269e-4d37-b2a7-4de452e6b438"
EDITS = {
    "intune": Case(
        "intune",
        "google-chrome",
        "intents/windows/google-chrome.yaml",
        ConsoleEdit.ASSIGNMENT,
        CHROME_LAB,
        "available",
        ("/rings/0/assignment", "assignment-changed", "required", "available"),
    ),
    "jamf": Case(
        "jamf",
        "zoom-macos",
        "intents/macos/zoom.yaml",
        ConsoleEdit.ADD_GROUP,
        "Finance Macs",
        "required",
        # the core shows groups as it compares them: case-folded
        ("/rings", "extra-group", "not assigned", "finance macs (required)"),
    ),
    "sccm": Case(
        "sccm",
        "7-zip",
        "intents/windows/7-zip.yaml",
        ConsoleEdit.REMOVE_GROUP,
        "PS100012",
        "",
        ("/rings/0/target", "group-removed", "PS100012 (required)", "not assigned"),
    ),
    "landscape": Case(
        "landscape",
        "osquery-linux",
        "intents/linux/osquery.yaml",
        ConsoleEdit.REMOVE_GROUP,
        "euc-lab",
        "",
        # only the lab ring is published: its script was the intent's one object on the plane
        ("", "object-deleted", "osquery-linux 5.14.2-1", "absent"),
    ),
    "ansible": Case(
        "ansible",
        "cis-ubuntu-2404-l1",
        "intents/linux/cis-hardening.yaml",
        ConsoleEdit.ADD_GROUP,
        "ws_finance",
        "required",
        ("/rings", "extra-group", "not assigned", "ws_finance (required)"),
    ),
}
REMEDIABLE = {  # an extra AWX run cannot be undone; a deleted one is launched again
    **EDITS,
    "ansible": Case(
        "ansible",
        "cis-ubuntu-2404-l1",
        "intents/linux/cis-hardening.yaml",
        ConsoleEdit.REMOVE_GROUP,
        "ws_lab",
        "",
        ("/rings/0/target", "group-removed", "ws_lab (required)", "not assigned"),
    ),
}


@pytest.fixture
def drift_section() -> str:
    """The ``drift`` section the merged ``eucora.yaml`` carries (none: warn, nothing ignored)."""
    return ""


@pytest.fixture
def source(tmp_path: Path, drift_section: str) -> GitRepo:
    repo = patch_day(tmp_path / "src", CHANGED)
    if drift_section:
        repo.write("eucora.yaml", repo.read("eucora.yaml") + "\n" + drift_section)
        repo.commit("drift settings")
    return repo


@pytest.fixture
def rolling(
    app: App, planes: PlaneDoubles, clock: ShiftedClock, merged: Any
) -> tuple[Reconciler, Publisher]:
    services = app.server.intake.services
    publisher = app.server.intake.publisher
    connectors = publisher.connectors if publisher is not None else None
    assert connectors is not None
    reconciler, publisher = build_reconciler(services, clock=clock, planes=connectors)
    at(clock, planes, START)
    report = test_rollouts_e2e.reconcile(app, reconciler, publisher)
    assert report.started == 5
    return reconciler, publisher


def reconcile(app: App, rolling: tuple[Reconciler, Publisher]) -> Any:
    return test_rollouts_e2e.reconcile(app, *rolling)


def drift_issues(app: App, state: str = "open") -> list[Any]:
    return [
        issue
        for issue in app.double.issues.values()
        if LABEL in issue.labels and issue.state == state
    ]


def double_of(planes: PlaneDoubles, plane: str) -> Any:
    return planes.awx if plane == "ansible" else getattr(planes, plane)


def table_rows(body: str) -> list[tuple[str, ...]]:
    rows = [line for line in body.splitlines() if line.startswith("| `")]
    return [tuple(cell.strip() for cell in row.strip("|").split("|")) for row in rows]


def expected_row(case: Case) -> tuple[str, str, str]:
    field, kind, git, plane = case.row
    return (f"`{field or '/'}` ({kind})", git, plane)


def drift_pass(reconciler: Reconciler) -> DriftPass:
    after = reconciler._after
    assert isinstance(after, DriftPass)
    return after


@pytest.mark.parametrize("plane", sorted(EDITS))
def test_a_console_edit_opens_one_issue_kept_over_passes_and_closed_when_reverted(
    app: App, planes: PlaneDoubles, clock: ShiftedClock, rolling: Any, plane: str
) -> None:
    case = EDITS[plane]
    assert drift_issues(app) == []
    double = double_of(planes, plane)
    double.console_edit(case.intent, case.kind, group=case.group, value=case.value)
    report = reconcile(app, rolling)
    assert f"drift: {case.intent} on {plane}" in report.lines(), report.lines()
    [issue] = drift_issues(app)
    assert f"<!-- eucora:drift plane={plane} intent={case.intent} -->" in issue.body
    assert issue.title == f"Drift: {case.intent} on {plane}"
    [row] = table_rows(issue.body)
    assert row[:3] == expected_row(case)
    since = datetime.fromisoformat(row[3])  # since when: the pass that first saw it
    assert timedelta(0) <= since - START < timedelta(minutes=1)
    assert "#1" in issue.body
    assert case.path in issue.body
    assert "/eucora remediate" in issue.body
    assert "/eucora adopt" in issue.body
    # a second and a third pass, later: still one issue, the same row, since the first pass
    for days in (1, 2):
        at(clock, planes, START + timedelta(days=days))
        reconcile(app, rolling)
        assert [i.number for i in drift_issues(app)] == [issue.number]
        assert table_rows(drift_issues(app)[0].body) == [row]
    assert DriftStore(app.server.intake.services.engine).open_by_plane() == {plane: 1}
    assert f'eucora_drift_open{{plane="{plane}"}} 1.0' in metrics_text(app)
    # the console edit reverted: the issue closes itself, with a comment
    double.console_revert()
    report = reconcile(app, rolling)
    assert f"drift resolved: {case.intent} on {plane}" in report.lines()
    assert drift_issues(app) == []
    [closed] = drift_issues(app, "closed")
    assert closed.number == issue.number
    assert "again: closing" in app.double.comments(REPO, issue.number)[-1].body
    for type_ in ("drift.detected", "drift.resolved"):
        assert [e["intent"] for e in audit_payloads(app, type_)] == [case.intent]
    assert f'eucora_drift_open{{plane="{plane}"}} 0.0' in metrics_text(app)


def metrics_text(app: App) -> str:
    return app.server.intake.services.metrics.exposition().decode()


@pytest.mark.parametrize("drift_section", ["drift:\n  mode: remediate\n"])
@pytest.mark.parametrize("plane", sorted(REMEDIABLE))
def test_remediate_mode_puts_the_plane_back_and_the_issue_closes(
    app: App, planes: PlaneDoubles, clock: ShiftedClock, rolling: Any, plane: str
) -> None:
    case = REMEDIABLE[plane]
    double = double_of(planes, plane)
    double.console_edit(case.intent, case.kind, group=case.group, value=case.value)
    report = reconcile(app, rolling)  # finds the drift, reopens the ring's publication, runs it
    assert f"drift remediated: {case.intent} on {plane}" in report.lines(), report.lines()
    [issue] = drift_issues(app)
    assert "`remediate`" in issue.body
    report = reconcile(app, rolling)  # the plane holds git's state again
    assert f"drift resolved: {case.intent} on {plane}" in report.lines(), report.lines()
    assert drift_issues(app) == []
    assert [e["intent"] for e in audit_payloads(app, "drift.remediated")] == [case.intent]


@pytest.mark.parametrize("drift_section", ["drift:\n  mode: remediate\n"])
def test_a_fight_with_a_console_user_backs_off(
    app: App, planes: PlaneDoubles, clock: ShiftedClock, rolling: Any
) -> None:
    case = EDITS["intune"]
    for _ in range(3):  # the console user puts their change back after every remediation
        planes.intune.console_edit(case.intent, case.kind, group=case.group, value=case.value)
        reconcile(app, rolling)
    remediated = [e for e in audit_payloads(app, "drift.remediated") if e["intent"] == case.intent]
    assert len(remediated) == 1  # the second and third passes fell inside the cooldown
    at(clock, planes, START + timedelta(minutes=11))
    reconcile(app, rolling)
    at(clock, planes, START + timedelta(minutes=11, seconds=30))
    planes.intune.console_edit(case.intent, case.kind, group=case.group, value=case.value)
    reconcile(app, rolling)
    at(clock, planes, START + timedelta(minutes=25))
    reconcile(app, rolling)  # 10 minutes then 20: the third waits past 11 + 20 minutes
    counts = [
        e["remediation"]
        for e in audit_payloads(app, "drift.remediated")
        if e["intent"] == case.intent
    ]
    assert counts == [1, 2]


def audit_payloads(app: App, type_: str) -> list[dict[str, Any]]:
    from bot.adapters.storage import AuditLog

    log = AuditLog(app.server.intake.services.engine)
    return [dict(e.payload) for e in log.events(repository=REPO) if e.type == type_]


def test_adopt_opens_a_pull_request_whose_check_passes_and_whose_intent_matches_the_plane(
    app: App, planes: PlaneDoubles, clock: ShiftedClock, rolling: Any
) -> None:
    case = EDITS["intune"]
    planes.intune.console_edit(case.intent, case.kind, group=case.group, value=case.value)
    reconcile(app, rolling)
    [issue] = drift_issues(app)
    flow = drift_pass(rolling[0])
    assert flow.adopt_command(REPO, issue.number, "mallory", base="main") is None  # not a writer
    number = flow.adopt_command(REPO, issue.number, "dave", base="main")
    assert number is not None
    pull = next(p for p in app.double.pulls.values() if p.number == number)
    assert pull.head_ref == "eucora/adopt-intune-google-chrome"
    adopted = yaml.safe_load(app.double.git(REPO, "show", f"{pull.head_sha}:{case.path}"))
    assert adopted["rings"][0]["assignment"] == "available"
    observed = planes_view(app, rolling, case)
    assert {(a.group, a.intent) for a in observed.assignments} >= {(CHROME_LAB, "available")}
    base = app.double.git(REPO, "rev-parse", "main").strip()
    bare = app.double.repositories[REPO].bare_path
    run = check_fetched(GitRevisions(bare), base, pull.head_sha, now=START, repository=REPO)
    assert run.result.conclusion == "pass", run.result.findings
    assert [e["by"] for e in audit_payloads(app, "drift.adopted")] == ["dave"]
    assert [e["by"] for e in audit_payloads(app, "drift.command_refused")] == ["mallory"]


def planes_view(app: App, rolling: Any, case: Case) -> Any:
    from bot.flows.drift import published_rings

    record = test_rollouts_e2e.rollout(app, case.intent)
    connector = rolling[1].connectors.get(case.plane)
    return connector.observe(record.intent, published_rings(record))


def test_remediate_command_puts_the_plane_back_in_warn_mode(
    app: App, planes: PlaneDoubles, clock: ShiftedClock, rolling: Any
) -> None:
    case = EDITS["jamf"]
    planes.jamf.console_edit(case.intent, case.kind, group=case.group, value=case.value)
    reconcile(app, rolling)
    [issue] = drift_issues(app)
    reconcile(app, rolling)
    assert not audit_payloads(app, "drift.remediated")  # warn mode: reported only
    assert not drift_pass(rolling[0]).remediate_command(REPO, issue.number, "mallory")
    assert drift_pass(rolling[0]).remediate_command(REPO, issue.number, "dave")
    # the reopened publication went to the publish queue; while it is in flight the intent is
    # not compared, once it ran the plane agrees
    reconcile(app, rolling)
    reconcile(app, rolling)
    assert drift_issues(app) == []
    assert [e["by"] for e in audit_payloads(app, "drift.remediated")] == ["dave"]


@pytest.mark.parametrize(
    "drift_section",
    [
        (
            "drift:\n  ignore:\n    - plane: intune\n      intent: google-*\n"
            "      field: /rings/0/assignment\n"
        )
    ],
)
def test_an_ignored_field_opens_no_issue(
    app: App, planes: PlaneDoubles, clock: ShiftedClock, rolling: Any
) -> None:
    case = EDITS["intune"]
    planes.intune.console_edit(case.intent, case.kind, group=case.group, value=case.value)
    reconcile(app, rolling)
    reconcile(app, rolling)
    assert drift_issues(app) == []
    # what is not ignored still drifts: the lab group removed altogether
    planes.intune.console_edit(case.intent, ConsoleEdit.REMOVE_GROUP, group=CHROME_LAB)
    reconcile(app, rolling)
    [issue] = drift_issues(app)
    assert [row[0] for row in table_rows(issue.body)] == ["`/rings/0/target` (group-removed)"]


@pytest.mark.parametrize("drift_section", ["drift:\n  mode: 'off'\n"])
def test_off_mode_reads_and_reports_nothing(
    app: App, planes: PlaneDoubles, clock: ShiftedClock, rolling: Any
) -> None:
    planes.intune.console_edit("google-chrome", ConsoleEdit.DELETE)
    report = reconcile(app, rolling)
    assert "drift: 0 intents compared with their planes" in report.lines()
    assert drift_issues(app) == []


def test_a_failed_plane_read_is_no_drift_and_no_issue(
    app: App, planes: PlaneDoubles, clock: ShiftedClock, rolling: Any
) -> None:
    planes.sccm.stop()  # the plane does not answer
    report = reconcile(app, rolling)
    assert any("drift:" in line and "plane reads failed" in line for line in report.lines())
    assert drift_issues(app) == []
    assert audit_payloads(app, "drift.read_failed")
