"""The rollout board in a real browser: headless Chromium against the app on loopback.

As ``test_evidence_page_browser`` (Debian's ``chromium``): the board of a few rollouts (one
rolling out, one halted, one held, one complete) is loaded at a desktop and a phone width; the
DOM Chromium built is read, the browser's console must stay empty (a Content-Security-Policy
violation would show there), and the screenshots are drawn with the page's own styles.
``EUCORA_REFRESH_SCREENSHOT=1`` copies the desktop one to ``docs/images/rollout-board.png``.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from bot.core.gates import new_rollout, ring_gates
from bot.core.rollout_model import RingPhase, RingState, RolloutPhase, RolloutRecord
from bot.entrypoints.rollout_board import RolloutBoard
from bot.entrypoints.web import create_app
from tests.conftest import ROOT
from tests.core.test_evidence_html import Page
from tests.entrypoints import test_evidence_page_browser
from tests.entrypoints.test_evidence_page_browser import (
    browse,
    console_messages,
    png_pixel,
    png_size,
)

pytestmark = pytest.mark.slow
chromium = test_evidence_page_browser.chromium  # the shared fixture

DESKTOP = (1280, 1400)
PHONE = (412, 2400)
SCREENSHOT = ROOT / "docs" / "images" / "rollout-board.png"
NOW = datetime(2027, 3, 9, 14, 30, tzinfo=UTC)
SOFT = (0xF4, 0xF6, 0xF8)  # the board's banner (--soft)
PACK = "sha256:" + "4c" * 32


def _gate(min_success: int, soak: str, max_failures: int | None = None) -> dict[str, object]:
    gate: dict[str, object] = {"minSuccessPercent": min_success, "soak": soak}
    if max_failures is not None:
        gate["maxFailures"] = max_failures
    return gate


def _intent(name: str, version: str, plane: str, rings: Sequence[tuple[str, int]]) -> dict:  # type: ignore[type-arg]
    return {
        "metadata": {"name": name},
        "app": {"version": version},
        "plane": plane,
        "rings": [
            {
                "name": ring,
                "target": f"{ring}-group",
                "devices": devices,
                "assignment": "required",
                "gate": _gate(95, "P2D", 2),
            }
            for ring, devices in rings
        ],
    }


def _record(  # noqa: PLR0913 - one rollout, by keyword
    rollout_id: int,
    intent: dict,  # type: ignore[type-arg]
    rings: Sequence[RingState],
    *,
    phase: RolloutPhase = RolloutPhase.ACTIVE,
    reason: str = "",
    alerts: frozenset[str] = frozenset(),
    pr: int = 40,
) -> RolloutRecord:
    state = new_rollout(
        intent=intent["metadata"]["name"],
        version=intent["app"]["version"],
        plane=intent["plane"],
        gates=ring_gates(intent),
        started_at=NOW - timedelta(days=9),
    )
    state = dataclasses.replace(
        state, rings=tuple(rings), phase=phase, reason=reason, alerts=alerts
    )
    return RolloutRecord(
        id=rollout_id,
        change_id=rollout_id,
        repository="contoso/eucora-intents",
        pr=pr,
        installation_id=None,
        merge_sha="9f2c4e1a7b3d" + "0" * 28,
        path=f"intents/{intent['metadata']['name']}.yaml",
        intent=intent,
        evidence_digest="sha256:" + f"{rollout_id:02d}" * 32,
        emergency=False,
        state=state,
        revision=3,
        updated_at=NOW,
    )


def _ring(
    name: str, phase: RingPhase, counts: tuple[int, int, int, int, int] | None, **extra: object
) -> RingState:
    return RingState(
        name=name,
        phase=phase,
        started_at=NOW - timedelta(days=3) if phase is not RingPhase.WAITING else None,
        counts=counts,
        **extra,  # type: ignore[arg-type]
    )


def records() -> list[RolloutRecord]:
    chrome = _intent(
        "google-chrome",
        "131.0.6778.109",
        "intune",
        [("lab", 12), ("pilot", 45), ("early", 620), ("broad", 8400)],
    )
    seven = _intent("7-zip", "24.09", "sccm", [("lab", 20), ("pilot", 300)])
    firefox = _intent("firefox-esr", "128.5.1", "jamf", [("lab", 8), ("pilot", 60)])
    slack = _intent("slack", "4.41.105", "landscape", [("lab", 10), ("all", 900)])
    return [
        _record(
            4,
            chrome,
            [
                _ring("lab", RingPhase.PASSED, (12, 12, 0, 0, 0)),
                _ring("pilot", RingPhase.PASSED, (45, 44, 1, 0, 0)),
                _ring(
                    "early",
                    RingPhase.ACTIVE,
                    (620, 598, 3, 19, 0),
                    reporting_since=NOW - timedelta(hours=20),
                ),
                _ring("broad", RingPhase.WAITING, None),
            ],
            pr=42,
        ),
        _record(
            3,
            seven,
            [
                _ring("lab", RingPhase.FAILED, (20, 15, 3, 2, 0)),
                _ring("pilot", RingPhase.WAITING, None),
            ],
            phase=RolloutPhase.HALTED,
            reason="lab: 3 devices failed to install; the gate allows 2 (0x80070643 Fatal error during installation)",
            pr=41,
        ),
        _record(
            2,
            firefox,
            [
                _ring("lab", RingPhase.HELD, (8, 5, 0, 3, 0)),
                _ring("pilot", RingPhase.WAITING, None),
            ],
            phase=RolloutPhase.HELD,
            reason="lab: 3 devices still pending past the ring's deadline; the CAB decides (/eucora promote or halt)",
            alerts=frozenset({"stuck:lab"}),
            pr=39,
        ),
        _record(
            1,
            slack,
            [
                _ring("lab", RingPhase.PASSED, (10, 10, 0, 0, 0)),
                _ring("all", RingPhase.PASSED, (900, 897, 0, 0, 3)),
            ],
            phase=RolloutPhase.COMPLETE,
            pr=37,
        ),
    ]


@pytest.fixture(scope="module")
def board_url() -> Iterator[str]:
    shown = records()
    board = RolloutBoard(
        recent=lambda: shown,
        evidence=lambda rs: {r.id: [PACK] for r in rs if r.state.phase is not RolloutPhase.HELD},
        clock=lambda: NOW,
        web_url="https://github.com",
    )
    app = create_app(evidence={}, rollouts=board)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/rollouts"
    finally:
        server.shutdown()
        thread.join(timeout=60)
        server.server_close()


def test_a_person_sees_every_rollout_and_its_rings(
    chromium: Path, board_url: str, tmp_path: Path
) -> None:
    result = browse(chromium, tmp_path, "--dump-dom", board_url)
    assert console_messages(result.stderr) == []
    text = Page(result.stdout).visible()
    assert "1 rolling out, 1 held, 1 halted, 1 complete" in text
    assert "google-chrome 131.0.6778.109 on intune ROLLING OUT" in text
    assert (
        "early active 99.5 % ≥ 95 %, ≤ 2 failed 598/620 installed, 3 failed, 19 pending 1 d 4 h"
        in text
    )
    assert "7-zip 24.09 on sccm HALTED" in text
    assert "lab: 3 devices failed to install" in text
    assert "alert: stuck:lab" in text
    assert "slack 4.41.105 on landscape COMPLETE" in text


@pytest.mark.parametrize(("width", "height"), [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_the_board_is_drawn_at_desktop_and_phone_widths(
    chromium: Path, board_url: str, tmp_path: Path, width: int, height: int
) -> None:
    shot = tmp_path / "board.png"
    result = browse(
        chromium, tmp_path, f"--screenshot={shot}", f"--window-size={width},{height}", board_url
    )
    assert console_messages(result.stderr) == []
    data = shot.read_bytes()
    assert png_size(data) == (width, height)
    assert len(data) > 20_000, "the screenshot is nearly empty"
    assert png_pixel(data, 4, 4) == SOFT, "the banner is not drawn in the board's colour"
    if (width, height) == DESKTOP and os.environ.get("EUCORA_REFRESH_SCREENSHOT") == "1":
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, SCREENSHOT)
