"""The rollout board page and the comment's rollout section, rendered by the pure core."""

from __future__ import annotations

import html
import re
from datetime import timedelta

from bot.core.render.rollout_board import EMPTY, github_web_url, render_rollout_board
from bot.core.render.rollout_section import ROLLOUTS_HEADING, rollout_section, soak_text
from bot.core.render.rollouts import rollouts_json
from bot.core.rollout_model import RolloutPhase
from tests.core.test_evidence_html import Page
from tests.core.test_render_rollouts import T0, record

NOW = T0 + timedelta(hours=6)
EVIDENCE = "sha256:" + "e" * 64
PACK = "sha256:" + "a" * 64
HOSTILE = '<script>alert("x")</script> & @team | `tick`'


def board(**changes: object) -> str:
    return render_rollout_board(
        [record(**changes)], now=NOW, web_url="https://github.com", evidence={1: [PACK]}
    )


def test_the_board_shows_each_ring_against_its_gate_with_the_soak_left() -> None:
    text = Page(board()).visible()
    assert "chrome 131.0" in text
    assert "ROLLING OUT" in text
    assert "1 rolling out" in text
    assert "watching lab" in text
    assert "lab active 90 % ≥ 95 %, ≤ 1 failed 9/10 installed, 1 failed, 0 pending" in text
    assert "0 pending 18 h 0 min intune/lab" in text
    assert "pilot waiting n/a — — — —" in text


def test_the_board_links_the_pr_the_started_rings_deployments_and_the_evidence() -> None:
    page = board()
    hrefs = re.findall(r'href="([^"]+)"', page)
    assert "https://github.com/acme/intents/pull/7" in hrefs
    assert "https://github.com/acme/intents/deployments/intune%2Flab" in hrefs
    assert not any("pilot" in href for href in hrefs)  # a waiting ring has no deployment yet
    assert f"/evidence/{EVIDENCE}" in hrefs
    assert f"/evidence/{PACK}" in hrefs
    assert "#main" in hrefs
    assert not [h for h in hrefs if h.startswith(("javascript:", "//"))]


def test_a_halted_rollout_says_why_and_its_alerts() -> None:
    text = Page(
        board(
            phase=RolloutPhase.HALTED,
            reason="lab: 3 devices failed to install",
            alerts=frozenset({"stuck:lab"}),
        )
    ).visible()
    assert "HALTED" in text
    assert "lab: 3 devices failed to install" in text
    assert "alert: stuck:lab" in text
    assert "1 halted" in text


def test_every_string_on_the_board_is_escaped() -> None:
    page = board(phase=RolloutPhase.HELD, reason=HOSTILE, alerts=frozenset({HOSTILE}))
    assert "<script>" not in page
    assert page.count(html.escape(HOSTILE, quote=True)) == 2
    assert HOSTILE in Page(page).visible()


def test_the_board_is_well_formed_with_no_script_and_no_outside_asset() -> None:
    page = board()
    assert Page(page).errors == []
    assert "<script" not in page
    assert not re.search(r"<(link|img|iframe|object)\b", page)
    assert not re.search(r'src="', page)


def test_an_empty_board_says_how_rollouts_start() -> None:
    page = render_rollout_board([], now=NOW)
    assert EMPTY in Page(page).visible()
    assert "<section" not in page


DRIFT = (
    {
        "field": "/rings/0/assignment",
        "kind": "assignment-changed",
        "git": "required",
        "plane": "available",
    },
    {"field": "", "kind": "object-deleted", "git": "chrome 131.0", "plane": HOSTILE},
)


def test_the_board_has_a_drift_column_of_what_the_plane_holds_against_git() -> None:
    page = render_rollout_board([record()], now=NOW, drift={1: DRIFT})
    text = Page(page).visible()
    assert "Drift of chrome on intune: 2 fields differ from git" in text
    assert "/rings/0/assignment assignment-changed required available" in text
    assert "/ object-deleted chrome 131.0" in text
    assert "<script>" not in page  # what the plane holds is escaped like the rest
    assert HOSTILE in text
    assert Page(page).errors == []


def test_a_rollout_without_open_drift_has_no_drift_column() -> None:
    page = render_rollout_board([record()], now=NOW, drift={2: DRIFT})  # another rollout's
    assert "Drift of" not in Page(page).visible()
    assert "Drift of" not in board()


def test_the_json_view_lists_the_open_drift_of_each_rollout() -> None:
    [view] = rollouts_json([record()], now=NOW, drift={1: DRIFT})["rollouts"]
    assert view["drift"] == [dict(item) for item in DRIFT]
    [view] = rollouts_json([record()], now=NOW)["rollouts"]
    assert view["drift"] == []


def test_github_web_url_from_the_api_url() -> None:
    assert github_web_url("https://api.github.com") == "https://github.com"
    assert github_web_url("https://api.github.com/") == "https://github.com"
    assert github_web_url("https://ghe.example/api/v3") == "https://ghe.example"
    assert github_web_url("http://127.0.0.1:8123") == "http://127.0.0.1:8123"


def test_the_comment_section_lists_rings_state_rate_gate_and_soak() -> None:
    section = rollout_section([record()], now=NOW)
    lines = section.splitlines()
    assert lines[0] == ROLLOUTS_HEADING
    assert "**chrome** 131.0 on intune: 🔄 rolling out, watching `lab`" in section
    assert "| `lab` | 🔄 active | 90 % | ≥ 95 %, ≤ 1 failed |" in section
    assert section.count("18 h 0 min") == 1
    assert "| `pilot` | ⏳ waiting | n/a | — | — | — |" in section


def test_the_comment_section_escapes_what_people_and_planes_wrote() -> None:
    section = rollout_section(
        [record(phase=RolloutPhase.HALTED, reason=HOSTILE, alerts=frozenset({HOSTILE}))], now=NOW
    )
    assert "🛑 halted" in section
    assert "<script>" not in section
    assert "@team" not in section  # no mention
    assert "| `tick`" not in section  # no cell break, no code span from the reason


def test_a_pr_without_rollouts_has_no_section() -> None:
    assert rollout_section([], now=NOW) == ""


def test_soak_text() -> None:
    assert soak_text(None) == "—"
    assert soak_text(0) == "done"
    assert soak_text(59) == "1 min"
    assert soak_text(3 * 3600 + 600) == "3 h 10 min"
    assert soak_text(2 * 86400 + 3600) == "2 d 1 h"
