"""Deleting an intent retires it, end to end: merged once (published, its rollout started), then
a second pull request deletes two intents, is approved and merged, and the bot retires them from
Intune and Jamf Pro through the outbox (the GitHub double and the five plane doubles, SQLite)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.adapters.evidence_store import EvidenceStore
from bot.adapters.storage import AuditLog
from bot.adapters.storage.rollouts import RolloutStore
from bot.bootstrap import build_reconciler
from bot.core.pack_view import ChangePackView
from bot.core.rollout_model import RolloutPhase
from bot.doubles.planes import PlaneDoubles
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
    _outbox,
    _sticky,
    intents_of,
    patch_day,
)
from tests.support.gitrepo import GitRepo
from tests.support.packs import VALIDATOR

app = test_publish_e2e.app  # the same app fixture: GitHub double, plane doubles, SQLite

DELETED = {"intents/windows/google-chrome.yaml": "intune", "intents/macos/zoom.yaml": "jamf"}


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


def deleting(app: App, source: GitRepo) -> Any:
    """A second pull request, from the merged change, deleting the intents of ``DELETED``."""
    source.git("checkout", "-q", "-b", "retire", "change")
    source.git("rm", "-q", *DELETED)
    source.commit("retire Chrome and Zoom")
    app.double.push(REPO, source.path, "retire")
    pr = app.double.open_pull_request(REPO, head="retire", author="dave")
    assert app.post(app.pr_event(pr, "opened")) == 202
    app.drain()
    return pr


def assert_recorded_as_retirements(app: App, pr: Any, digest: str) -> None:
    """The change pack, the PR's table and the audit log say retirement."""
    services = app.server.intake.services
    pack = json.loads(EvidenceStore(services.settings.evidence_dir).get(digest))
    VALIDATOR.validate(pack)
    assert {p["action"] for p in ChangePackView.of(pack).publications} == {"retire"}
    assert "0 of 0 published, 2 of 2 retired" in _sticky(app, pr)
    events = _audit(app, pr)
    assert events.count("publication.recorded") == 2
    assert events.count("publication.succeeded") == 2
    log = AuditLog(services.engine)
    assert all(
        e.payload.get("action") == "retire"
        for e in log.events(repository=REPO, pr=pr.number)
        if e.type.startswith("publication.")
    )


def redeliver(app: App, pr: Any) -> None:
    """GitHub's ``closed`` delivery again, with a new body (not a replay)."""
    payload = app.double.pull_request_event(REPO, pr.number, "closed", sender="carol")
    payload["pull_request"]["title"] = "edited after the merge"
    body, headers = app.double.signed_delivery("pull_request", payload)
    assert app.client.post("/webhook", data=body, headers=headers).status_code == 202
    app.drain()
    runner = app.server.intake.publications
    assert runner is not None
    assert runner.wait_idle(30.0)


def test_merging_a_deletion_retires_the_intents_once_and_stops_their_rollout(
    app: App, source: GitRepo, planes: PlaneDoubles, clock: ShiftedClock
) -> None:
    first = _open(app, source)
    _approve(app, first, "carol", "sam")
    _merge(app, first)
    [chrome] = planes.intune.apps.values()
    assert chrome.assignments
    [policy] = planes.jamf.policies.values()
    assert policy["scope"]["computer_groups"]
    services = app.server.intake.services
    publisher = app.server.intake.publisher
    assert publisher is not None
    reconciler, _ = build_reconciler(services, clock=clock, planes=publisher.connectors)
    assert reconciler.run_once().started == 5
    store = RolloutStore(services.engine)
    [live] = [r for r in store.live() if r.state.intent == "google-chrome"]

    pr = deleting(app, source)
    plan = _sticky(app, pr)
    assert "google-chrome → lab" in plan
    assert "merging retires it from its plane" in plan
    _approve(app, pr, "carol", "sam")
    deployments_before = set(app.double.deployments)
    _merge(app, pr)

    # retired on the planes: Intune's assignments removed, Jamf's policy disabled and unscoped
    assert chrome.assignments == []
    assert str(policy["general"]["enabled"]).lower() == "false"
    assert not policy["scope"].get("computer_groups")
    outbox = _outbox(app)
    change = outbox.latest_change(REPO, pr.number)
    assert change is not None
    assert change.state == "final"
    rows = outbox.publications(change.id)
    assert sorted((r.plane, r.intent_name, r.action, r.state) for r in rows) == [
        ("intune", "google-chrome", "retire", "succeeded"),
        ("jamf", "zoom-macos", "retire", "succeeded"),
    ]
    assert {r.idempotency_key for r in rows} == {
        "google-chrome@131.0.6778.109#retire",
        "zoom-macos@6.2.12.44000#retire",
    }
    # one deployment per retirement, <plane>/<first ring>, whose last status says "retired"
    new = [d for i, d in app.double.deployments.items() if i not in deployments_before]
    assert sorted(d.environment for d in new) == sorted(f"{r.plane}/{r.ring}" for r in rows)
    for deployment in new:
        assert deployment.statuses[-1]["state"] == "inactive"
        assert deployment.statuses[-1]["description"].startswith("retired: ")
    assert_recorded_as_retirements(app, pr, str(change.final_digest))
    redeliver(app, pr)  # a redelivered merge retires nothing twice
    assert [(r.id, r.attempts, r.state) for r in outbox.publications(change.id)] == [
        (r.id, r.attempts, r.state) for r in rows
    ]
    assert _audit(app, pr).count("publication.started") == 2

    # the live rollout of the deleted intent stops: retired by the merge
    reconciler.run_once()
    stopped = store.get(live.id)
    assert stopped is not None
    assert stopped.state.phase is RolloutPhase.SUPERSEDED
    assert stopped.state.reason == f"retired by the merge of #{pr.number}"
    assert "google-chrome" not in {r.state.intent for r in store.live()}
    assert not any(r.state.intent == "google-chrome" and r.pr == pr.number for r in store.recent())
