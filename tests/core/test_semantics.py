"""Rules a schema cannot say, on eucora.yaml and policy files (intents: see the broken examples)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.core import semantics
from bot.core.documents import DocumentKind, DocumentValidator
from tests.conftest import EXAMPLES


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


OSQUERY = EXAMPLES / "intents-repo" / "intents" / "linux" / "osquery.yaml"
CIS = EXAMPLES / "intents-repo" / "intents" / "linux" / "cis-hardening.yaml"


def _with_target(path: Path, old: str, new: str) -> tuple[bytes, int]:
    """The intent with one ring's target replaced, and that target's line number."""
    text = path.read_text(encoding="utf-8")
    line = f"    target: {old}\n"
    assert text.count(line) == 1
    number = text[: text.index(line)].count("\n") + 1
    return text.replace(line, f"    target: {new}\n").encode(), number


@pytest.mark.parametrize(
    ("path", "old", "new", "words"),
    [
        (OSQUERY, "euc-pilot-linux", "tag:finance-exec", "a Landscape target is a tag name"),
        (OSQUERY, "euc-pilot-linux", '"euc-pilot-linux OR tag:all"', "read as a query"),
        (OSQUERY, "euc-pilot-linux", "id:1", "read as a query"),
        (CIS, "ws_pilot", "pilot,all", "an Ansible target is one inventory group (or host) name"),
        (CIS, "ws_pilot", "pilot:all", "read as a host pattern"),
        (CIS, "ws_pilot", '"ws_all:!ws_exempt"', "read as a host pattern"),
        (CIS, "ws_pilot", '"ws_all:&ws_pilot"', "read as a host pattern"),
        (CIS, "ws_pilot", '"ws_*"', "read as a host pattern"),
        (CIS, "ws_pilot", '"~ws.*"', "read as a host pattern"),
        (CIS, "ws_pilot", '"@retry"', "read as a host pattern"),
    ],
)
def test_query_or_pattern_targets_are_refused_at_their_line(
    validator: DocumentValidator, path: Path, old: str, new: str, words: str
) -> None:
    raw, line = _with_target(path, old, new)
    doc = validator.validate(raw, f"intents/{path.name}", DocumentKind.INTENT)
    [finding] = [f for f in doc.findings if f.code == "intent.ring-target"]
    assert finding.line == line
    assert words in finding.message
    assert new.strip('"') in finding.message


def test_plain_targets_pass_and_other_planes_keep_their_names(
    validator: DocumentValidator,
) -> None:
    for path in (OSQUERY, CIS, EXAMPLES / "intents-repo" / "intents" / "macos" / "zoom.yaml"):
        doc = validator.validate(path.read_bytes(), f"intents/{path.name}", DocumentKind.INTENT)
        assert [f for f in doc.findings if f.code == "intent.ring-target"] == []
    # Jamf scopes by group name (spaces and colons are part of a name, never a query)
    jamf = {"plane": "jamf", "rings": [{"target": "Finance: Execs"}]}
    assert list(semantics.check_ring_targets(jamf)) == []
    # `all` is a group every inventory has (a broad ring, counted by its declared devices)
    ansible = {"plane": "ansible", "rings": [{"target": "all"}, {"target": 7}, "junk"]}
    assert list(semantics.check_ring_targets(ansible)) == []
