"""Rollouts end to end: merge → first ring → outcomes and soak → every later ring, or a halt.

The GitHub double and the five plane doubles, SQLite, a test clock shared by the bot and the
planes. The merge publishes each intent's first ring (as in ``test_publish_e2e``); then the
reconciler (``bot.flows.rollouts``, built by ``build_reconciler`` as ``eucora reconcile`` builds
it) reads each ring's install outcomes from the plane doubles, and the clock moves on.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.adapters.evidence_store import EvidenceStore
from bot.adapters.storage import AuditLog
from bot.adapters.storage.rollouts import RolloutStore
from bot.bootstrap import Unqueued, build_reconciler
from bot.core.rollout_model import RolloutPhase
from bot.doubles.planes import PlaneDoubles
from bot.flows.drift import DriftPassReport
from bot.flows.publish import Publisher
from bot.flows.rollouts import PassReport, Reconciler
from bot.settings import Settings, SettingsError
from tests.entrypoints import test_publish_e2e
from tests.entrypoints.test_github_app import App
from tests.entrypoints.test_publish_e2e import (
    CHANGED,
    REPO,
    ShiftedClock,
    _approve,
    _audit,
    _merge,
    _open,
    intents_of,
    patch_day,
)
from tests.support.gitrepo import GitRepo
from tests.support.packs import VALIDATOR

app = test_publish_e2e.app  # the same app fixture: GitHub double, plane doubles, SQLite

CHROME_RINGS = {  # the example's Chrome rings: Entra group, devices, schedule start
    "lab": ("6513270e-269e-4d37-b2a7-4de452e6b438", 12),
    "pilot": ("d23f0824-128b-4f33-8c5c-7fd0a6a3a450", 45),
    "early": ("9531985d-5d9d-49f8-9818-e811892f902b", 620),
    "broad": ("36f675cc-81e7-4ef5-a8e2-5d940ed90475", 8400),
}
SEVEN_ZIP_LAB = "PS100012"
SEVEN_ZIP_PILOT = "PS100013"


@pytest.fixture
def source(tmp_path: Path) -> GitRepo:
    return patch_day(tmp_path / "src", CHANGED)


@pytest.fixture
def planes(source: GitRepo) -> Iterator[PlaneDoubles]:
    with PlaneDoubles(intents_of(source, CHANGED)) as doubles:
        yield doubles
    assert doubles.violations == []


@pytest.fixture
def clock() -> ShiftedClock:
    return ShiftedClock()


def at(clock: ShiftedClock, planes: PlaneDoubles, moment: datetime) -> None:
    """Move the bot's clock and every plane's to ``moment``."""
    clock.shift = moment - datetime.now(UTC)
    for double in planes.all:
        double.clock = clock


def reconcile(app: App, reconciler: Reconciler, publisher: Publisher) -> Any:
    report = reconciler.run_once()
    for publication_id in publisher.outbox.due(now=publisher_now(publisher)):
        publisher.run(publication_id)
    # the promotions also went to the app's own publication queue: let it finish
    runner = app.server.intake.publications
    assert runner is None or runner.wait_idle(60.0)
    return report


def publisher_now(publisher: Publisher) -> datetime:
    return publisher._clock()


@pytest.fixture
def merged(app: App, source: GitRepo, planes: PlaneDoubles, clock: ShiftedClock) -> Any:
    pr = _open(app, source)
    _approve(app, pr, "carol", "sam")
    _merge(app, pr)
    return pr


@pytest.fixture
def rolling(
    app: App, planes: PlaneDoubles, clock: ShiftedClock, merged: Any
) -> tuple[Reconciler, Publisher]:
    services = app.server.intake.services
    publisher = app.server.intake.publisher
    connectors = publisher.connectors if publisher is not None else None
    assert connectors is not None
    return build_reconciler(services, clock=clock, planes=connectors)


def promoted_events(app: App, pr: Any) -> list[dict[str, Any]]:
    log = AuditLog(app.server.intake.services.engine)
    return [
        dict(e.payload)
        for e in log.events(repository=REPO, pr=pr.number)
        if e.type == "rollout.promoted"
    ]


def rollout(app: App, intent: str) -> Any:
    store = RolloutStore(app.server.intake.services.engine)
    [record] = [r for r in store.recent() if r.state.intent == intent]
    return record


def test_a_healthy_rollout_promotes_every_ring_in_order_then_completes(
    app: App, planes: PlaneDoubles, clock: ShiftedClock, merged: Any, rolling: Any
) -> None:
    reconciler, publisher = rolling
    start = datetime(2027, 3, 1, 10, 0, tzinfo=UTC)
    moment = start
    at(clock, planes, moment)
    report = reconcile(app, reconciler, publisher)
    assert report.started == 5
    deployments_before = len(app.double.deployments)
    for name, next_ring in (("lab", "pilot"), ("pilot", "early"), ("early", "broad")):
        group, devices = CHROME_RINGS[name]
        planes.intune.set_outcomes(group, installed=devices)
        report = reconcile(app, reconciler, publisher)
        assert rollout(app, "google-chrome").state.ring(name).reporting_since is not None
        assert not any(f"to {next_ring}" in p for p in report.promoted), report.lines()
        moment = moment + timedelta(days=6)  # past the soak and the next ring's start
        at(clock, planes, moment)
        planes.intune.set_outcomes(group, installed=devices)
        report = reconcile(app, reconciler, publisher)
        assert any(
            p.startswith("google-chrome") and p.endswith(f"to {next_ring}") for p in report.promoted
        ), report.lines()
        state = rollout(app, "google-chrome").state
        assert state.rings[state.current].name == next_ring
    # every later ring was published, with its own deployment, green
    intune = [d for d in app.double.deployments.values() if d.environment.startswith("intune/")]
    assert sorted(d.environment for d in intune) == sorted(f"intune/{r}" for r in CHROME_RINGS)
    assert len(app.double.deployments) > deployments_before
    for deployment in intune:
        assert deployment.statuses[-1]["state"] == "success"
    events = _audit(app, merged)
    assert sum(1 for e in promoted_events(app, merged) if e["intent"] == "google-chrome") == 3
    assert events.count("rollout.started") == 5
    # each promotion is backed by a stored, schema-valid RolloutPack
    settings = app.server.intake.services.settings
    store = EvidenceStore(settings.evidence_dir)
    log = AuditLog(app.server.intake.services.engine)
    digests = [
        e["evidence"] for e in promoted_events(app, merged) if e["intent"] == "google-chrome"
    ]
    del log
    assert len(digests) == 3
    for digest in digests:
        pack = json.loads(store.get(digest))
        VALIDATOR.validate(pack)
        assert pack["verdict"] == "pass"
        assert pack["outcomes"]["installed"] == pack["outcomes"]["targeted"]


def test_failures_above_the_gate_halt_the_rollout_and_fail_its_deployment(
    app: App, planes: PlaneDoubles, clock: ShiftedClock, merged: Any, rolling: Any
) -> None:
    reconciler, publisher = rolling
    at(clock, planes, datetime(2027, 1, 11, 12, 0, tzinfo=UTC))
    planes.sccm.set_outcomes(
        SEVEN_ZIP_LAB,
        installed=15,
        failed=3,
        pending=2,
        errors=[("0x80070643", "Fatal error during installation")],
    )
    report = reconcile(app, reconciler, publisher)
    assert any(h.startswith("7-zip") for h in report.halted), report.lines()
    record = rollout(app, "7-zip")
    assert record.state.phase is RolloutPhase.HALTED
    assert "3 devices failed to install; the gate allows 0" in record.state.reason
    [deployment] = [d for d in app.double.deployments.values() if d.environment == "sccm/lab"]
    assert deployment.statuses[-1]["state"] == "failure"
    assert "halted" in deployment.statuses[-1]["description"]
    # a later pass, with the plane healed, never promotes a halted rollout
    at(clock, planes, datetime(2027, 1, 20, 12, 0, tzinfo=UTC))
    planes.sccm.set_outcomes(SEVEN_ZIP_LAB, installed=20)
    report = reconcile(app, reconciler, publisher)
    assert not any(p.startswith("7-zip") for p in report.promoted)
    assert "rollout.halted" in _audit(app, merged)


def test_two_reconcilers_at_once_promote_each_ring_once(
    app: App, planes: PlaneDoubles, clock: ShiftedClock, merged: Any, rolling: Any
) -> None:
    reconciler, publisher = rolling
    other, _ = build_reconciler(
        app.server.intake.services, clock=clock, planes=publisher.connectors
    )
    at(clock, planes, datetime(2027, 3, 1, 10, 0, tzinfo=UTC))
    reconcile(app, reconciler, publisher)
    group, devices = CHROME_RINGS["lab"]
    planes.intune.set_outcomes(group, installed=devices)
    reconcile(app, reconciler, publisher)
    at(clock, planes, datetime(2027, 3, 7, 10, 0, tzinfo=UTC))
    planes.intune.set_outcomes(group, installed=devices)
    # both decide on the same stored state (as two replicas would without the lease): the
    # conditional save lets one move it, and the outbox holds one publication of the ring
    record = rollout(app, "google-chrome")
    first, second = PassReport(), PassReport()
    reconciler._reconcile(record, first)
    other._reconcile(record, second)
    promoted = [p for p in first.promoted + second.promoted if p.startswith("google-chrome")]
    assert len(promoted) == 1
    assert second.lost_races + first.lost_races == 1
    store = RolloutStore(app.server.intake.services.engine)
    assert store.step_publication(rollout(app, "google-chrome"), 1) is not None
    # and the lease keeps a second pass out while the first holds it
    assert store.lease("reconcile", "someone-else", now=clock(), seconds=60)
    assert other.run_once().leased is False
    store.release("reconcile", "someone-else")


def test_the_reporting_share_of_eucora_yaml_holds_a_pass(
    app: App, planes: PlaneDoubles, clock: ShiftedClock, merged: Any, rolling: Any
) -> None:
    """``rollouts.reportingSharePercent: 100``: 11 of 12 reported is not enough to start a soak."""
    reconciler, publisher = rolling
    config_of = reconciler._config_of
    reconciler._config_of = lambda record: (
        {**config_of(record)[0], "rollouts": {"reportingSharePercent": 100}},
        config_of(record)[1],
    )
    at(clock, planes, datetime(2027, 3, 1, 10, 0, tzinfo=UTC))
    group, _devices = CHROME_RINGS["lab"]
    planes.intune.set_outcomes(group, installed=11, pending=1)
    reconcile(app, reconciler, publisher)
    reconcile(app, reconciler, publisher)
    lab = rollout(app, "google-chrome").state.ring("lab")
    assert lab.reporting_since is None
    assert lab.last_verdict == "pending"


class _Stalled:
    """A drift pass (``after``) that stops in the middle, as a replica killed there would."""

    def __init__(self) -> None:
        self.inside = threading.Event()
        self.go_on = threading.Event()

    def run(self) -> Any:
        self.inside.set()
        self.go_on.wait(30)
        return DriftPassReport()


def test_a_replica_that_died_in_its_pass_holds_the_others_off_for_one_short_lease(
    app: App, planes: PlaneDoubles, clock: ShiftedClock, merged: Any, rolling: Any
) -> None:
    """``kill -9`` in a pass leaves the ``reconcile`` lease unreleased: another replica's pass
    runs once it lapses (``EUCORA_RECONCILE_LEASE_SECONDS``, 60 s by default), not minutes
    later; meanwhile it is kept out."""
    reconciler, publisher = rolling
    other, _ = build_reconciler(
        app.server.intake.services, clock=clock, planes=publisher.connectors
    )
    start = datetime(2027, 3, 1, 10, 0, tzinfo=UTC)
    at(clock, planes, start)
    stalled = _Stalled()
    reconciler._after = stalled
    dead = threading.Thread(target=reconciler.run_once, daemon=True)
    dead.start()
    try:
        assert stalled.inside.wait(30)
        assert other.run_once().leased is False
        at(clock, planes, start + timedelta(seconds=61))
        report = other.run_once()
        assert report.leased is True
        assert report.started == 0  # the first pass started them before it stalled
    finally:
        stalled.go_on.set()
        dead.join(30)
    assert Settings.from_environ({}).reconcile_lease_seconds == 60.0
    environ = {"EUCORA_RECONCILE_LEASE_SECONDS": "5"}
    assert Settings.from_environ(environ).reconcile_lease_seconds == 5.0
    with pytest.raises(SettingsError, match=r"^EUCORA_RECONCILE_LEASE_SECONDS: "):
        Settings.from_environ({"EUCORA_RECONCILE_LEASE_SECONDS": "0"})


def test_a_long_pass_renews_its_lease_as_it_goes(
    app: App, planes: PlaneDoubles, clock: ShiftedClock, merged: Any, rolling: Any
) -> None:
    """Five rollouts that take 30 s each to decide: past the 60 s lease, the pass still holds
    it (renewed as it goes), so no other replica's pass runs beside it."""
    reconciler, publisher = rolling
    start = datetime(2027, 3, 1, 10, 0, tzinfo=UTC)
    at(clock, planes, start)
    reconcile(app, reconciler, publisher)  # the five rollouts start
    store = RolloutStore(app.server.intake.services.engine)
    config_of = reconciler._config_of
    others: list[bool] = []

    def slow(record: Any) -> Any:
        at(clock, planes, clock() + timedelta(seconds=30))
        others.append(store.lease("reconcile", "someone-else", now=clock(), seconds=60))
        return config_of(record)

    reconciler._config_of = slow
    report = reconcile(app, reconciler, publisher)
    assert report.looked_at == 5
    assert others == [False] * 5
    assert store.lease("reconcile", "someone-else", now=clock(), seconds=60)  # released


def test_a_ring_is_read_once_its_publication_ran_not_while_it_waits(
    app: App, planes: PlaneDoubles, clock: ShiftedClock, merged: Any, rolling: Any
) -> None:
    """A promotion whose publication waits in the queue (a broker restarted, a plane down): the
    passes meanwhile read nothing of that ring, so its plane's "no such deployment" is never
    counted as a failed read nor raises the read-errors alert; once published, it is read."""
    reconciler, publisher = rolling
    services = app.server.intake.services
    unqueued, _ = build_reconciler(  # its promotions stay due in the outbox: nobody runs them
        dataclasses.replace(services, publication_queue=Unqueued()),
        clock=clock,
        planes=publisher.connectors,
    )
    at(clock, planes, datetime(2027, 1, 11, 12, 0, tzinfo=UTC))
    reconcile(app, reconciler, publisher)
    planes.sccm.set_outcomes(SEVEN_ZIP_LAB, installed=20)
    reconcile(app, reconciler, publisher)  # lab's soak starts
    at(clock, planes, datetime(2027, 1, 15, 12, 0, tzinfo=UTC))
    planes.sccm.set_outcomes(SEVEN_ZIP_LAB, installed=20)
    planes.sccm.set_outcomes(SEVEN_ZIP_PILOT, installed=150)
    report = unqueued.run_once()
    assert "7-zip 24.09 (sccm) to pilot" in report.promoted, report.lines()
    for _ in range(6):
        unqueued.run_once()
    record = rollout(app, "7-zip")
    pilot = record.state.ring("pilot")
    assert pilot is not None
    assert (pilot.read_errors, pilot.counts) == (0, None)
    assert "read-errors:pilot" not in record.state.alerts
    publication = RolloutStore(services.engine).step_publication(record, 1)
    assert publication is not None
    publisher.run(publication)
    unqueued.run_once()
    pilot = rollout(app, "7-zip").state.ring("pilot")
    assert pilot is not None
    assert (pilot.read_errors, pilot.counts) == (0, (150, 150, 0, 0, 0))
