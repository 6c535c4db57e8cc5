"""The evidence page of a ``RolloutPack``: the ring's outcomes, its gate, the verdict, escaped.

Before, a RolloutPack (linked from the rollout board) made ``/evidence/<digest>`` fail with a 500:
the page read a check pack's ``decision``.
"""

from __future__ import annotations

import html

from bot.core.render.evidence_html import render_evidence_html
from tests.core.test_evidence_html import Page

DIGEST = "sha256:" + "7" * 64
HOSTILE = '<script>alert("x")</script> & @team'


def pack(**changes: object) -> dict[str, object]:
    base: dict[str, object] = {
        "kind": "RolloutPack",
        "apiVersion": "eucora.dev/v1",
        "repository": "acme/intents",
        "pullRequest": 7,
        "mergeCommit": "m" * 40,
        "changeDigest": None,
        "intent": {"name": "7-zip", "version": "24.09", "plane": "sccm", "path": "intents/7z.yaml"},
        "ring": "lab",
        "gate": {"minSuccessPercent": 95, "maxFailures": 0, "soakSeconds": 86400},
        "outcomes": {
            "targeted": 20,
            "installed": 15,
            "failed": 3,
            "pending": 2,
            "notApplicable": 0,
            "asOf": "2027-01-11T12:00:00+00:00",
            "errors": [{"device": "PC-0001", "code": "0x80070643", "message": HOSTILE}],
        },
        "verdict": "fail",
        "reasons": ["3 devices failed to install; the gate allows 0"],
        "actions": [{"action": "halt", "ring": "lab"}],
        "decidedAt": "2027-01-11T12:00:00Z",
        "decidedBy": None,
    }
    return base | changes


def test_a_rollout_decision_shows_its_verdict_outcomes_and_gate() -> None:
    page = render_evidence_html(pack(), digest=DIGEST)
    parsed = Page(page)
    assert parsed.errors == []
    text = parsed.visible()
    assert "FAIL gate of ring lab" in text
    assert "3 devices failed to install; the gate allows 0" in text
    assert "installed 15" in text
    assert "minSuccessPercent 95" in text
    assert "0x80070643" in text
    assert f"eucora evidence verify {DIGEST}" in text
    assert "<script>" not in page
    assert html.escape(HOSTILE, quote=True) in page


def test_a_decision_without_a_reading_says_the_plane_could_not_be_read() -> None:
    text = Page(render_evidence_html(pack(outcomes=None, verdict="pass"), digest=DIGEST)).visible()
    assert "PASS gate of ring lab" in text
    assert "The plane could not be read." in text
