"""Waivers: active, expired, expiring soon, too far ahead; applied by rule and intent."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.catalog import build_document_validator
from bot.core.documents import DocumentKind
from bot.core.waivers import load_waivers

NOW = datetime(2027, 2, 17, 9, tzinfo=UTC)


def waiver(expires: str, rule: str = "package.unsigned-beyond-pilot") -> str:
    return (
        f"  - rule: {rule}\n    intent: 7-zip\n    owner: team-a\n    ticket: RISK-1\n"
        f'    expires: "{expires}"\n    reason: upstream is unsigned\n'
    )


def book(*entries: str):
    text = "apiVersion: eucora.dev/v1\nkind: Waivers\nwaivers:\n" + "".join(entries)
    doc = build_document_validator().validate(text.encode(), "waivers/w.yaml", DocumentKind.WAIVERS)
    return load_waivers([doc], NOW)


def test_waivers_are_sorted_by_their_expiry() -> None:
    result = book(
        waiver("2027-04-01"),
        waiver("2027-02-20", "a.soon"),
        waiver("2027-01-01", "a.expired"),
        waiver("2027-12-31", "a.far"),
        waiver("2027-02-30", "a.bad-date"),
    )
    assert set(result.active) == {("package.unsigned-beyond-pilot", "7-zip"), ("a.soon", "7-zip")}
    assert [w.rule for w in result.expiring] == ["a.soon"]
    assert [w.rule for w in result.expired] == ["a.expired"]
    codes = sorted(f.code for f in result.findings)
    assert codes == ["waiver.date", "waiver.expired", "waiver.too-long"]
    assert result.lookup("package.unsigned-beyond-pilot", "7-zip") is not None
    assert result.lookup("package.unsigned-beyond-pilot", "other") is None
    too_long = next(f for f in result.findings if f.code == "waiver.too-long")
    assert too_long.line == 3 + 3 * 6 + 5  # the fourth entry's expires line
    assert result.active[("a.soon", "7-zip")].as_dict()["source"] == "waivers/w.yaml:10"


def test_an_invalid_waiver_file_is_reported_and_ignored() -> None:
    doc = build_document_validator().validate(
        b"apiVersion: eucora.dev/v1\nkind: Waivers\nwaivers: []\n",
        "waivers/x.yaml",
        DocumentKind.WAIVERS,
    )
    result = load_waivers([doc], NOW)
    assert result.active == {}
    assert [f.code for f in result.findings] == ["schema.minItems"]
