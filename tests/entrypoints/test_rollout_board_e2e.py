"""The rollout board on the served app, the merged PR's rollout section, the periodic reconcile.

Against the GitHub double and the five plane doubles with a test clock, as
``test_rollouts_e2e``: ``GET /rollouts`` (HTML under the evidence page's CSP, JSON for
``Accept: application/json``), the sticky comment's rollout section edited in place when a
rollout moves (and not on a pass that only read new counts).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.adapters.storage.rollouts import RolloutStore
from bot.core.github_model import EVIDENCE_MARKER
from bot.core.render.rollout_board import github_web_url
from bot.core.render.rollout_section import ROLLOUTS_HEADING
from bot.doubles.planes import PlaneDoubles
from bot.entrypoints.web import SECURITY_HEADERS
from tests.entrypoints import test_rollouts_e2e
from tests.entrypoints.test_github_app import App
from tests.entrypoints.test_publish_e2e import REPO, ShiftedClock
from tests.entrypoints.test_rollouts_e2e import CHROME_RINGS, at, reconcile, rollout

app = test_rollouts_e2e.app
clock = test_rollouts_e2e.clock
merged = test_rollouts_e2e.merged
planes = test_rollouts_e2e.planes
rolling = test_rollouts_e2e.rolling
source = test_rollouts_e2e.source  # the shared fixtures

START = datetime(2027, 3, 1, 10, 0, tzinfo=UTC)
LAB_GROUP, LAB_DEVICES = CHROME_RINGS["lab"]


def sticky(app: App, pr: Any) -> Any:
    [comment] = [c for c in app.double.comments(REPO, pr.number) if EVIDENCE_MARKER in c.body]
    return comment


def promote_lab(
    app: App, planes: PlaneDoubles, clock: ShiftedClock, step: Callable[[], Any]
) -> None:
    """Lab reports every device installed, soaks past its gate; the next pass promotes pilot."""
    at(clock, planes, START)
    step()  # the rollouts start
    planes.intune.set_outcomes(LAB_GROUP, installed=LAB_DEVICES)
    step()  # lab reached the reporting share: its soak starts
    at(clock, planes, START + timedelta(days=6))
    planes.intune.set_outcomes(LAB_GROUP, installed=LAB_DEVICES)
    step()  # lab passed: pilot starts


def test_the_board_shows_where_each_rollout_stands(
    app: App, planes: PlaneDoubles, clock: ShiftedClock, merged: Any, rolling: Any
) -> None:
    promote_lab(app, planes, clock, lambda: reconcile(app, *rolling))
    response = app.client.get("/rollouts")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value
    page = response.get_data(as_text=True)
    assert "<script" not in page
    settings = app.server.intake.services.settings
    web = github_web_url(settings.github_api_url)
    hrefs = re.findall(r'href="([^"]+)"', page)
    assert f"{web}/{REPO}/pull/{merged.number}" in hrefs
    assert f"{web}/{REPO}/deployments/intune%2Flab" in hrefs
    assert f"{web}/{REPO}/deployments/intune%2Fpilot" in hrefs
    record = rollout(app, "google-chrome")
    assert f"/evidence/{record.evidence_digest}" in hrefs
    packs = [
        h
        for h in hrefs
        if h.startswith("/evidence/") and h != f"/evidence/{record.evidence_digest}"
    ]
    assert packs, "the promotion's rollout evidence is linked"
    for href in packs[:3]:  # each link opens its stored pack
        assert app.client.get(href).status_code == 200
    assert "google-chrome" in page
    assert "ROLLING OUT" in page


def test_the_board_as_json_is_what_rollout_status_prints(
    app: App, planes: PlaneDoubles, clock: ShiftedClock, merged: Any, rolling: Any
) -> None:
    promote_lab(app, planes, clock, lambda: reconcile(app, *rolling))
    response = app.client.get("/rollouts", headers={"Accept": "application/json"})
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert "Accept" in response.headers["Vary"]
    body = json.loads(response.get_data())
    stored = RolloutStore(app.server.intake.services.engine).recent()
    assert [r["id"] for r in body["rollouts"]] == [r.id for r in stored]
    [chrome] = [r for r in body["rollouts"] if r["intent"] == "google-chrome"]
    assert [ring["phase"] for ring in chrome["rings"]] == ["passed", "active", "waiting", "waiting"]
    assert chrome["rings"][0]["successRate"] == "100 %"


def test_the_comment_gains_a_rollout_section_edited_in_place(
    app: App, planes: PlaneDoubles, clock: ShiftedClock, merged: Any, rolling: Any
) -> None:
    reconciler, publisher = rolling
    at(clock, planes, START)
    before = sticky(app, merged)
    assert ROLLOUTS_HEADING not in before.body  # the merge's comment, before any rollout
    reconcile(app, reconciler, publisher)
    planes.intune.set_outcomes(LAB_GROUP, installed=LAB_DEVICES // 2)
    reconcile(app, reconciler, publisher)
    edits = sticky(app, merged).edits
    planes.intune.set_outcomes(LAB_GROUP, installed=LAB_DEVICES // 2 + 1)
    reconcile(app, reconciler, publisher)  # new counts only: the comment is left alone
    assert sticky(app, merged).edits == edits
    planes.intune.set_outcomes(LAB_GROUP, installed=LAB_DEVICES)
    reconcile(app, reconciler, publisher)
    at(clock, planes, START + timedelta(days=6))
    planes.intune.set_outcomes(LAB_GROUP, installed=LAB_DEVICES)
    reconcile(app, reconciler, publisher)  # lab passes, pilot starts
    comment = sticky(app, merged)
    assert comment.edits > edits
    assert [
        c.id for c in app.double.comments(REPO, merged.number) if EVIDENCE_MARKER in c.body
    ] == [before.id]
    body = comment.body
    assert body.startswith(before.body.split("### Publications")[0].rstrip())  # same head
    assert ROLLOUTS_HEADING in body
    assert "**google-chrome**" in body
    assert re.search(r"\| `lab` \| ✅ passed \| 100 % \| ≥ \d+ %", body), body
    assert "| `pilot` | 🔄 active |" in body
