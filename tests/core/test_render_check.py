"""Renderings of the check evidence pack, from plain dicts that the evidence schema accepts."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from bot.core.families import RISK_FAMILIES
from bot.core.render.check_markdown import (
    STEP_SUMMARY_MAX_BYTES,
    render_check_github,
    render_check_markdown,
)
from bot.core.render.check_summary import MARKER
from bot.core.render.check_text import render_check_text
from bot.core.render.formatting import escape_markdown
from tests.support.packs import (
    CHROME,
    DIGEST,
    big_pack,
    make_change,
    make_finding,
    make_pack,
    passing_pack,
)

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "schemas" / "evidence.schema.json").read_text(encoding="utf-8"))
VALIDATOR = Draft202012Validator(SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER)

# --- the schema ---------------------------------------------------------------------------------


def _subschemas(node: Any, where: str = "#") -> list[tuple[str, dict[str, Any]]]:
    found: list[tuple[str, dict[str, Any]]] = []
    if isinstance(node, dict):
        for key, value in node.get("properties", {}).items():
            found.append((f"{where}/properties/{key}", value))
        for key, value in node.items():
            found.extend(_subschemas(value, f"{where}/{key}"))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found.extend(_subschemas(value, f"{where}/{index}"))
    return found


def test_the_schema_is_a_valid_draft_2020_12_schema() -> None:
    Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$id"] == "https://eucora.dev/schemas/v1/evidence.schema.json"


def test_every_property_is_described_and_no_number_type_is_used() -> None:
    undescribed = [where for where, node in _subschemas(SCHEMA) if "description" not in node]
    assert undescribed == []
    assert '"number"' not in json.dumps(SCHEMA)


def test_objects_with_fixed_keys_refuse_unknown_keys() -> None:
    def closed(node: Any) -> list[str]:
        out = []
        if isinstance(node, dict):
            if "properties" in node and node.get("additionalProperties") is not False:
                out.append(str(node.get("description")))
            for value in node.values():
                out.extend(closed(value))
        elif isinstance(node, list):
            for value in node:
                out.extend(closed(value))
        return out

    assert closed(SCHEMA) == []


def test_the_factory_packs_are_valid() -> None:
    VALIDATOR.validate(make_pack())
    VALIDATOR.validate(big_pack(findings=30, changes=10))
    sha256_repo = make_pack(base="c" * 64, head="d" * 64, mergeBase="e" * 64)
    VALIDATOR.validate(sha256_repo)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("kind", "ChangePack"),
        ("base", "abc123"),
        ("evaluatedAt", "2027-02-17T10:00:00+01:00"),
        ("evaluatedAt", "2027-02-30T09:00:00Z"),
        ("labels", ["x", "x"]),
        ("extra", 1),
    ],
)
def test_the_schema_refuses_bad_top_level_values(key: str, value: Any) -> None:
    pack = make_pack()
    pack[key] = value
    assert not VALIDATOR.is_valid(pack)


def test_the_schema_refuses_fractions_bad_enums_and_bad_digests() -> None:
    for mutate in (
        lambda p: p["changes"][0]["fieldDiffs"][0].update(new=1.5),
        lambda p: p["changes"][0]["fieldDiffs"][0].update(new={"a": [0.25]}),
        lambda p: p["changes"][0].update(kind="copied"),
        lambda p: p["risk"].update(tier="severe"),
        lambda p: p["risk"]["byFamily"].update(privilege=21),
        lambda p: p["findings"][0].update(severity="info"),
        lambda p: p["decision"].update(conclusion="fail"),
        lambda p: p["policy"].update(digest="sha256:XYZ"),
        lambda p: p["policy"]["rules"][0].update(enforcement="block"),
        lambda p: p["waivers"][0].update(expires="2027-13-01"),
        lambda p: p["changes"][0]["fieldDiffs"][0].update(path="app/version"),
    ):
        pack = make_pack()
        mutate(pack)
        assert not VALIDATOR.is_valid(pack)


def test_field_diff_values_may_be_any_json_without_fractions() -> None:
    pack = make_pack()
    pack["changes"][0]["fieldDiffs"] = [
        {
            "path": "",
            "old": None,
            "new": {"rings": [{"name": "pilot", "devices": 5}]},
            "line": None,
        },
        {"path": "/a~1b", "old": [1, "x", True, None], "new": {}, "line": 3},
    ]
    VALIDATOR.validate(pack)


# --- terminal text --------------------------------------------------------------------------------


def test_text_starts_with_the_verdict() -> None:
    assert render_check_text(make_pack()).startswith("BLOCKED — 1 error finding\n")
    assert render_check_text(passing_pack()).startswith("PASS — needs 1 CAB approval\n")
    nothing = passing_pack(approvals={"required": 0, "reasons": ["low risk (score 0)"]})
    assert render_check_text(nothing).startswith("PASS — no CAB approval needed\n")


def test_text_shows_risk_factors_approvals_diffs_findings_and_waivers() -> None:
    text = render_check_text(make_pack())
    assert "Risk: 35/100 (medium)" in text
    assert (
        "  +15 supply-chain  package.unsigned-beyond-pilot  [google-chrome]  unsigned package"
        in text
    )
    assert "supply-chain 15/15" in text
    assert "privilege 0/20" in text
    assert "Approvals: needs 1 CAB approval\n  - medium risk (score 35)" in text
    assert f"  modified {CHROME} (google-chrome)  risk 35 medium" in text
    assert '    /app/version: "131.0.6778.86" → "131.0.6778.109"' in text
    assert "    /rings/1/devices: 8400 → 9000" in text
    assert f"{CHROME}:1:1: error[rule.package.unsigned-beyond-pilot]: unsigned package" in text
    assert "Findings: 1 error, 1 warning, 0 notes" in text
    assert "RISK-42 (team-endpoint) until 2027-02-25 — expires in 8 days" in text
    assert "CHG0031337 (team-endpoint) until 2027-05-01\n" in text
    assert "Other files: README.md" in text


def test_text_lists_errors_before_warnings() -> None:
    pack = make_pack(
        findings=[
            make_finding(0, severity="note", code="n.n", message="note"),
            make_finding(1, severity="warning", code="w.w", message="warn"),
            make_finding(2, severity="error", code="e.e", message="err"),
        ]
    )
    lines = [line for line in render_check_text(pack).splitlines() if line.startswith(CHROME)]
    assert [line.split(": ")[1] for line in lines] == ["error[e.e]", "warning[w.w]", "note[n.n]"]


def test_text_truncates_long_values_and_shows_control_characters() -> None:
    change = make_change(
        fieldDiffs=[
            {"path": "/app/notes", "old": None, "new": "x" * 500, "line": 4},
            {"path": "/app/name", "old": "a", "new": "evil\x1b[2Jname\nnext", "line": 5},
        ]
    )
    text = render_check_text(make_pack(changes=[change]))
    [line] = [line for line in text.splitlines() if line.startswith("    /app/notes")]
    assert line.endswith("…")
    assert len(line.split(" → ")[1]) == 60
    assert "\x1b" not in text
    assert '"evil\\u001b[2Jname\\nnext"' in text
    pack = make_pack(findings=[make_finding(message="bad\x1b[31mred\nnext")])
    assert "bad\\x1b[31mred\\x0anext\n" in render_check_text(pack)


def test_text_summarizes_an_added_intent_in_one_line() -> None:
    added = make_change(
        kind="added",
        basePath=None,
        baseBlob=None,
        fieldDiffs=[
            {
                "path": "",
                "old": None,
                "new": {"app": {"version": "1.0"}, "rings": [{"name": "pilot", "devices": 5}]},
                "line": None,
            }
        ],
    )
    text = render_check_text(make_pack(changes=[added]))
    assert "    None 1.0, None via None: pilot 5\n" in text
    assert "/app/version" not in text


# --- Markdown ---------------------------------------------------------------------------------------


def test_markdown_starts_with_the_marker_and_a_status() -> None:
    blocked = render_check_markdown(make_pack())
    assert blocked.splitlines()[0] == MARKER == "<!-- eucora:evidence -->"
    assert "❌ **Blocked** · 1 error · 1 warning · risk **35/100 medium**" in blocked
    assert "**Why it is blocked**\n- 1 error finding" in blocked
    passed = render_check_markdown(passing_pack())
    assert passed.startswith(MARKER + "\n")
    assert "✅ **Passed**" in passed
    assert "May merge once approved: needs 1 CAB approval." in passed


def test_markdown_change_table_shows_version_and_devices() -> None:
    added = make_change(
        intent="osquery",
        kind="added",
        path="intents/linux/osquery.yaml",
        basePath=None,
        baseBlob=None,
        fieldDiffs=[
            {
                "path": "",
                "old": None,
                "new": {
                    "app": {"version": "5.12.1"},
                    "rings": [{"name": "pilot", "devices": 45}, {"name": "broad", "devices": 400}],
                },
                "line": None,
            }
        ],
    )
    grown = make_change(
        fieldDiffs=[
            {"path": "/rings/0/devices", "old": 45, "new": 50, "line": 20},
            {"path": "/rings/2", "old": None, "new": {"name": "late", "devices": 1000}, "line": 40},
        ]
    )
    md = render_check_markdown(make_pack(changes=[make_change(), added, grown]))
    assert "| Intent | Change | Version | Devices | Risk |" in md
    assert (
        "| <code>google-chrome</code> | modified |"
        " <code>131.0.6778.86</code> → <code>131.0.6778.109</code> | +600 | 35 medium |"
    ) in md
    assert "| <code>osquery</code> | added | <code>5.12.1</code> | 0 → 445 (2 rings) |" in md
    assert "| unchanged | +1,005 (+1 ring) |" in md
    assert '| <code>/app/version</code> | <code>—</code> | <code>"5.12.1"</code> |  |' in md
    assert "| <code>/rings/2</code> | <code>—</code> |" not in md
    assert "| <code>/rings/2/devices</code> | <code>—</code> | <code>1000</code> |  |" in md


def test_markdown_risk_factor_table_and_family_totals() -> None:
    md = render_check_markdown(make_pack())
    assert "#### Risk: 35/100 · medium" in md
    assert "The score is that of the riskiest intent, <code>google-chrome</code>." in md
    assert "| Intent | Family | Points | Rule | Reason |" in md
    assert (
        "| <code>google-chrome</code> | supply-chain | +15 |"
        " <code>package.unsigned-beyond-pilot</code> | unsigned package |"
    ) in md
    assert "| supply-chain | **15** (capped from 25) | 15 |" in md
    assert "| privilege | 0 | 20 |" in md
    assert "| **total** | **35** | 100 |" in md
    assert "#### Approvals: 1 CAB approval required\n\n- medium risk (score 35)" in md


def test_markdown_findings_waivers_details_and_footer() -> None:
    md = render_check_markdown(
        make_pack(), digest=DIGEST, evidence_url="https://eucora.example/e/1"
    )
    assert "#### Findings: 1 error, 1 warning, 0 notes" in md
    assert md.index("**Errors**") < md.index("**Warnings**")
    assert (
        f"- <code>{CHROME}:1</code> <code>rule.package.unsigned-beyond-pilot</code>: unsigned" in md
    )
    assert "**1 waiver expires within 14 days.**" in md
    assert "**2027-02-25** (expires in 8 days)" in md
    assert "<details><summary>Field diffs (3 fields)</summary>" in md
    assert "<details><summary>Rule results (3 evaluated, 2 matched)</summary>" in md
    assert "waived by RISK-42 (team-endpoint, until 2027-02-25)" in md
    assert "Not matched: <code>contoso.broad-ring-needs-ticket</code>" in md
    assert f"<code>eucora evidence verify {DIGEST}</code>" in md
    assert "[evidence page](https://eucora.example/e/1)" in md
    assert md.endswith("</sub>\n")
    no_digest = render_check_markdown(make_pack())
    assert "not stored yet" in no_digest
    assert "eucora evidence verify &lt;digest&gt;" in no_digest


def _cells(row: str) -> int:
    return len(re.findall(r"(?<!\\)\|", row))


def test_markdown_escapes_user_text() -> None:
    evil = "<script>alert(1)</script> a|b `tick` *bold* [x](http://e) @team $x$"
    pack = make_pack()
    pack["risk"]["factors"][0]["reason"] = evil
    pack["findings"][0]["message"] = evil + "\nsecond line"
    pack["waivers"][0]["reason"] = evil
    pack["changes"][0]["fieldDiffs"][0]["new"] = evil
    md = render_check_markdown(pack)
    assert "<script>" not in md
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in md
    assert "a|b" not in md
    assert "`" not in md
    assert "@team" not in md
    assert "[x](http" not in md
    for line in md.splitlines():
        if line.startswith("| <code>google-chrome</code> | supply-chain | +15"):
            assert _cells(line) == 6
        if line.startswith("| <code>contoso.macos-requires-team-id</code> | <code>google"):
            assert _cells(line) == 7
        if line.startswith(f"- <code>{CHROME}:1</code>"):
            assert "second line" in line


def test_escape_markdown_is_one_line_and_inert() -> None:
    assert escape_markdown("a|b") == "a&#124;b"
    assert escape_markdown("x\r\ny") == "x  y"
    assert escape_markdown("<b>&") == "&lt;b&gt;&amp;"
    assert escape_markdown("_*~\\") == "\\_\\*\\~\\\\"


def test_markdown_truncates_long_values_in_the_change_table() -> None:
    change = make_change(
        fieldDiffs=[{"path": "/app/version", "old": "1", "new": "9" * 200, "line": 4}]
    )
    md = render_check_markdown(make_pack(changes=[change]))
    assert "<code>1</code> → <code>" + "9" * 59 + "…</code>" in md


def test_markdown_drops_details_before_cutting_findings() -> None:
    change = make_change(
        fieldDiffs=[
            {"path": f"/app/field{i}", "old": "o" * 100, "new": "n" * 100, "line": i + 1}
            for i in range(300)
        ]
    )
    pack = make_pack(changes=[change])
    full = render_check_markdown(pack, max_chars=10**9)
    assert len(full) > 65_536
    assert "<details><summary>Field diffs" in full
    assert "<details><summary>Rule results" in full
    md = render_check_markdown(pack)
    assert len(md) <= 65_536
    small = render_check_markdown(pack, max_chars=len(full) - 1)
    assert "<details><summary>Field diffs" in small
    assert "<details><summary>Rule results" not in small
    tiny = render_check_markdown(pack, max_chars=20_000)
    assert "<details>" not in tiny
    assert "more findings" not in tiny
    assert f"- <code>{CHROME}:1</code>" in tiny


def test_markdown_within_the_comment_limit_with_2000_findings_and_500_changes() -> None:
    pack = big_pack()
    url = "https://eucora.example/evidence/sha256:abc"
    md = render_check_markdown(pack, evidence_url=url, digest=DIGEST)
    assert len(md) <= 65_536
    assert md.startswith(MARKER + "\n")
    assert "<details>" not in md
    match = re.search(r"… ([0-9,]+) more findings — see the \[evidence page\]\((.+?)\)", md)
    assert match is not None
    assert match.group(2) == url
    shown = md.count("- <code>intents/windows/app-")
    assert shown + int(match.group(1).replace(",", "")) == 2000
    assert shown > 0
    assert md.index("**Errors**") < md.index("… ")
    assert f"<code>eucora evidence verify {DIGEST}</code>" in md
    without_url = render_check_markdown(pack)
    assert re.search(r"… [0-9,]+ more findings — see the evidence page\n", without_url)


def test_markdown_cuts_the_changes_table_when_findings_are_not_enough() -> None:
    md = render_check_markdown(big_pack(findings=10, changes=2000))
    assert len(md) <= 65_536
    assert re.search(r"… [0-9,]+ more changes — see the evidence page", md)
    assert "more findings" not in md


@pytest.mark.parametrize("limit", [50, 500, 5_000])
def test_markdown_never_exceeds_a_tiny_limit(limit: int) -> None:
    md = render_check_markdown(big_pack(findings=50, changes=20), max_chars=limit)
    assert len(md) <= limit


def test_markdown_renders_byte_identically() -> None:
    pack = big_pack(findings=40, changes=12)
    first = render_check_markdown(pack, digest=DIGEST)
    again = render_check_markdown(copy.deepcopy(pack), digest=DIGEST)
    stored = render_check_markdown(json.loads(json.dumps(pack, sort_keys=True)), digest=DIGEST)
    assert first.encode() == again.encode() == stored.encode()
    assert render_check_text(pack) == render_check_text(copy.deepcopy(pack))
    assert render_check_github(pack) == render_check_github(copy.deepcopy(pack))


def test_markdown_without_changes_findings_or_waivers() -> None:
    pack = make_pack(
        changes=[],
        findings=[],
        waivers=[],
        otherFiles=[],
        risk={
            "score": 0,
            "tier": "low",
            "intent": None,
            "scoreTier": "low",
            "caps": dict(RISK_FAMILIES),
            "byFamily": dict.fromkeys(
                [
                    "privilege",
                    "supply-chain",
                    "vulnerabilities",
                    "exploitability",
                    "data-access",
                    "blast-radius",
                    "operational",
                    "history",
                ],
                0,
            ),
            "factors": [],
        },
        approvals={"required": 0, "reasons": ["low risk (score 0)"]},
        decision={"conclusion": "pass", "reasons": []},
    )
    md = render_check_markdown(pack)
    assert "No deployment intent changed." in md
    assert "No rule added risk points." in md
    assert "#### Findings\n\nNone." in md
    assert "#### Approvals: none required" in md
    assert "Waivers" not in md
    assert render_check_text(pack).startswith("PASS — no CAB approval needed\n")


# --- GitHub Actions ------------------------------------------------------------------------------


def test_github_commands_are_escaped_and_most_severe_first() -> None:
    pack = make_pack(
        findings=[
            make_finding(0, path="a,b:c.yaml", severity="note", code="n.n", message="100% done"),
            make_finding(1, severity="warning", code="w:w,w", message="line\r\nbreak"),
            make_finding(2, severity="error", code="e.e", message="err"),
        ]
    )
    commands, _ = render_check_github(pack)
    assert commands.splitlines() == [
        f"::error file={CHROME},line=3,col=1,title=e.e::err",
        f"::warning file={CHROME},line=2,col=1,title=w%3Aw%2Cw::line%0D%0Abreak",
        "::notice file=a%2Cb%3Ac.yaml,line=1,col=1,title=n.n::100%25 done",
    ]


def test_github_emits_every_finding_errors_first() -> None:
    commands, summary = render_check_github(big_pack(findings=300, changes=10))
    levels = [line.split(" ", 1)[0] for line in commands.splitlines()]
    assert len(levels) == 300
    assert levels == sorted(levels, key=["::error", "::warning", "::notice"].index)
    assert summary.startswith(MARKER + "\n")
    assert "more findings" not in summary


def test_github_step_summary_is_capped_at_one_mebibyte_of_utf8() -> None:
    pack = big_pack(findings=2000, changes=50, message="é💥" * 200)
    _, summary = render_check_github(pack, evidence_url="https://eucora.example/e")
    assert len(summary) < STEP_SUMMARY_MAX_BYTES
    assert len(summary.encode("utf-8")) <= STEP_SUMMARY_MAX_BYTES
    assert "more findings — see the [evidence page](https://eucora.example/e)" in summary
