"""``eucora serve``'s periodic reconcile: a ring promoted with nobody running ``eucora reconcile``.

The served app of ``test_publish_e2e`` (GitHub double, plane doubles, SQLite, a test clock for
the bot and the planes) built with ``EUCORA_RECONCILE_INTERVAL`` short: the thread that
``serve`` starts in each worker process in the embedded mode (no broker) does the passes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from bot.adapters.storage import create_database_engine, upgrade_schema
from bot.adapters.storage.publications import Outbox
from bot.adapters.storage.rollouts import RolloutStore
from bot.bootstrap import pull_request_handler_factory
from bot.core.rollout_model import RingPhase
from bot.doubles.github.server import GitHubDouble
from bot.doubles.planes import PlaneDoubles, StandInArtifacts
from bot.entrypoints.serve import build_server
from bot.settings import Settings, SettingsError
from connectors._polling import Follow
from connectors.registry import build_connectors
from tests.entrypoints import test_rollouts_e2e
from tests.entrypoints.test_github_app import App
from tests.entrypoints.test_publish_e2e import CAB, ShiftedClock
from tests.entrypoints.test_rollouts_e2e import CHROME_RINGS, at

clock = test_rollouts_e2e.clock
merged = test_rollouts_e2e.merged
planes = test_rollouts_e2e.planes
source = test_rollouts_e2e.source  # the shared fixtures

START = datetime(2027, 3, 1, 10, 0, tzinfo=UTC)
LAB_GROUP, LAB_DEVICES = CHROME_RINGS["lab"]
INTERVAL = 0.2


@pytest.fixture
def app(
    tmp_path: Path,
    github_double: GitHubDouble,
    github_env: dict[str, str],
    planes: PlaneDoubles,
    clock: ShiftedClock,
) -> Iterator[App]:
    """As ``test_publish_e2e.app``, with a short reconcile interval and the whole server on
    the test clock."""
    environ = {
        **github_env,
        **planes.environ(),
        "EUCORA_HOME": str(tmp_path / "home"),
        "EUCORA_PUBLIC_URL": "https://eucora.example",
        "EUCORA_GITHUB_WRITE_INTERVAL": "0",
        "EUCORA_RECONCILE_INTERVAL": str(INTERVAL),
    }
    settings = Settings.from_environ(environ)
    engine = create_database_engine(settings.database_url)
    upgrade_schema(engine)
    engine.dispose()
    connectors = build_connectors(
        settings.planes, artifacts=StandInArtifacts(), follow=Follow(interval=0.01, timeout=20.0)
    )
    server = build_server(
        settings,
        partial(pull_request_handler_factory, planes=connectors, clock=clock),
        metrics_dir=False,
        clock=clock,
    )
    assert server.intake.publications is not None
    server.intake.publications.start()
    installation = github_double.add_installation("acme")
    github_double.add_team("acme", "cab", CAB)
    yield App(server, github_double, installation.id)
    if server.reconcile is not None:
        server.reconcile.stop(timeout=30)
    server.intake.publications.stop()
    connectors.close()
    server.intake.services.engine.dispose()


def test_the_served_app_promotes_a_ring_by_itself(
    app: App, planes: PlaneDoubles, clock: ShiftedClock, merged: Any
) -> None:
    """Nobody runs ``eucora reconcile``: serve's periodic reconcile moves the rollout."""
    server = app.server
    assert server.reconcile is not None
    assert server.reconcile.interval == INTERVAL
    store = RolloutStore(server.intake.services.engine)
    outbox = Outbox(server.intake.services.engine)

    def chrome() -> Any:
        found = [r for r in store.recent() if r.state.intent == "google-chrome"]
        return found[0] if found else None

    def wait_for(what: str, condition: Callable[[], bool]) -> None:
        deadline = time.monotonic() + 60
        while not condition():
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            time.sleep(0.05)

    at(clock, planes, START)
    server.reconcile.start()
    wait_for("the rollout to start", lambda: chrome() is not None)
    planes.intune.set_outcomes(LAB_GROUP, installed=LAB_DEVICES)
    wait_for("lab's soak to start", lambda: chrome().state.ring("lab").reporting_since is not None)
    at(clock, planes, START + timedelta(days=6))
    planes.intune.set_outcomes(LAB_GROUP, installed=LAB_DEVICES)
    wait_for("pilot to start", lambda: chrome().state.ring("pilot").phase is RingPhase.ACTIVE)
    record = chrome()
    publication = store.step_publication(record, 1)
    assert publication is not None
    wait_for("pilot to be published", lambda: outbox.get(publication).state == "succeeded")
    [deployment] = [d for d in app.double.deployments.values() if d.environment == "intune/pilot"]
    wait_for("pilot's deployment", lambda: deployment.statuses[-1]["state"] == "success")


def test_the_interval_is_read_from_the_environment() -> None:
    """Default 300 s, 0 turns it off, and a bad value is one line naming the variable."""
    assert Settings.from_environ({}).reconcile_interval == 300.0
    assert Settings.from_environ({"EUCORA_RECONCILE_INTERVAL": "0"}).reconcile_interval == 0.0
    assert Settings.from_environ({"EUCORA_RECONCILE_INTERVAL": "2.5"}).reconcile_interval == 2.5
    for bad in ("soon", "-1", "100000"):
        with pytest.raises(SettingsError, match=r"^EUCORA_RECONCILE_INTERVAL: "):
            Settings.from_environ({"EUCORA_RECONCILE_INTERVAL": bad})


def test_an_interval_of_zero_runs_no_periodic_reconcile(
    tmp_path: Path, github_env: dict[str, str], planes: PlaneDoubles
) -> None:
    environ = {
        **github_env,
        **planes.environ(),
        "EUCORA_HOME": str(tmp_path / "home"),
        "EUCORA_RECONCILE_INTERVAL": "0",
    }
    settings = Settings.from_environ(environ)
    engine = create_database_engine(settings.database_url)
    upgrade_schema(engine)
    engine.dispose()
    server = build_server(settings, pull_request_handler_factory, metrics_dir=False)
    try:
        assert server.intake.publisher is not None  # publishing is on
        assert server.reconcile is None
    finally:
        server.intake.services.engine.dispose()
