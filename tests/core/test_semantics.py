"""Rules a schema cannot say, on eucora.yaml and policy files (intents: see the broken examples)."""

from __future__ import annotations

from bot.core import semantics
from bot.core.documents import DocumentKind, DocumentValidator


def codes(findings: object) -> list[tuple[str, str]]:
    return [(f.pointer, f.code) for f in findings]  # type: ignore[attr-defined]


def test_thresholds_must_rise() -> None:
    config = {"risk": {"thresholds": {"medium": 30, "high": 30, "critical": 20}}}
    assert codes(semantics.check_thresholds(config)) == [
        ("/risk/thresholds/high", "config.thresholds-order"),
        ("/risk/thresholds/critical", "config.thresholds-order"),
    ]
    assert list(semantics.check_thresholds({"risk": {"thresholds": {"high": True}}})) == []


def test_freeze_windows_end_after_they_start() -> None:
    config = {
        "freezeWindows": [
            {"name": "a", "start": "2027-01-02T00:00:00Z", "end": "2027-01-01T00:00:00Z"},
            {"name": "b", "days": ["sat"], "from": "10:00", "to": "10:00"},
            "not a window",
        ]
    }
    assert codes(semantics.check_freeze_windows(config)) == [
        ("/freezeWindows/0/end", "config.window-order"),
        ("/freezeWindows/1/to", "config.window-order"),
    ]
    assert list(semantics.check_freeze_windows({"freezeWindows": "x"})) == []


def test_rule_ids_are_unique() -> None:
    policy = {"rules": [{"id": "a.b"}, {"id": "a.b"}, "junk"]}
    assert codes(semantics.check_rule_ids(policy)) == [("/rules/1/id", "policy.duplicate-id")]
    assert list(semantics.check_rule_ids({"rules": None})) == []


def test_naive_timestamps_and_non_text_are_ignored_by_order_rules() -> None:
    intent = {"change": {"window": {"start": "2027-01-02T00:00:00", "end": 5}}}
    assert list(semantics.check_change_window(intent)) == []


def test_versions_that_cannot_be_ordered_or_are_equal() -> None:
    unorderable = {"app": {"version": "115.0esr"}, "rollback": {"previousVersion": "114.0esr"}}
    same = {"app": {"version": "1.2"}, "rollback": {"previousVersion": "1.2.0"}}
    assert codes(semantics.check_versions(unorderable)) == [
        ("/rollback/previousVersion", "intent.version-order")
    ]
    [finding] = semantics.check_versions(same)
    assert finding.severity.value == "warning"


def test_config_semantics_through_the_validator(validator: DocumentValidator) -> None:
    raw = (
        b"apiVersion: eucora.dev/v1\nkind: EucoraConfig\ncab:\n  teams: [contoso/cab]\n"
        b"risk:\n  thresholds:\n    medium: 40\n    high: 30\n"
    )
    doc = validator.validate(raw, "eucora.yaml", DocumentKind.CONFIG)
    assert [(f.code, f.line) for f in doc.findings] == [("config.thresholds-order", 8)]
