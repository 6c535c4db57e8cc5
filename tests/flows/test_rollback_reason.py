"""The rollback pull request's intent says why it is an emergency (its label needs a reason)."""

from __future__ import annotations

import yaml

from bot.flows.rollout_issues import with_emergency_reason

INTENT = b"app:\n  version: '1'\nchange:\n  ticket: CHG1\n  window:\n    start: a\n    end: b\n"


def test_the_reason_goes_under_change_and_the_rest_is_kept_byte_for_byte() -> None:
    edited = with_emergency_reason(INTENT, 'halted: 3 "failed"')
    assert yaml.safe_load(edited)["change"] == {
        "emergencyReason": 'halted: 3 "failed"',
        "ticket": "CHG1",
        "window": {"start": "a", "end": b"b".decode()},
    }
    assert edited.replace(b'  emergencyReason: "halted: 3 \\"failed\\""\n', b"") == INTENT


def test_a_file_without_change_gets_one_and_a_reason_already_there_stays() -> None:
    assert yaml.safe_load(with_emergency_reason(b"app: {}\n", "why"))["change"] == {
        "emergencyReason": "why"
    }
    kept = b"change:\n  emergencyReason: CVE-1\n"
    assert with_emergency_reason(kept, "why") == kept
    assert with_emergency_reason(b"[not: a mapping", "why") == b"[not: a mapping"
