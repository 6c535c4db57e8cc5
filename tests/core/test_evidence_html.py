"""The evidence page, rendered from plain pack dicts that the evidence schema accepts."""

from __future__ import annotations

import copy
import html
import itertools
import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from bot.core.evidence import canonical_json
from bot.core.families import RISK_FAMILIES
from bot.core.render.evidence_html import (
    VERIFY_COMMAND,
    VERIFY_EXPLANATION,
    escape_html,
    render_evidence_html,
)

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "schemas" / "evidence.schema.json").read_text(encoding="utf-8"))
VALIDATOR = Draft202012Validator(SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER)

SHA_BASE = "1" * 40
SHA_HEAD = "2" * 40
SHA_MERGE = "3" * 40
DIGEST = "sha256:" + "d" * 64
REPO_URL = "https://github.com/contoso/eucora-intents"
CHROME = "intents/windows/google-chrome.yaml"
EVIL = "<script>alert(1)</script>"


def make_change(**overrides: Any) -> dict[str, Any]:
    change: dict[str, Any] = {
        "intent": "google-chrome",
        "kind": "modified",
        "path": CHROME,
        "basePath": CHROME,
        "baseBlob": "4" * 40,
        "headBlob": "5" * 40,
        "fieldDiffs": [
            {"path": "/app/version", "old": "131.0.6778.86", "new": "131.0.6778.109", "line": 11},
            {"path": "/rings/1/devices", "old": 8400, "new": 9000, "line": 30},
            {"path": "/rollback/command", "old": "msiexec /x", "new": None, "line": 40},
        ],
        "risk": {"score": 35, "tier": "medium"},
        "devices": {"base": 8475, "head": 9075},
        "ruleResults": [
            {
                "rule": "package.unsigned-beyond-pilot",
                "matched": True,
                "enforcement": "deny",
                "message": "unsigned package beyond the pilot ring",
            },
            {"rule": "contoso.broad-ring-needs-ticket", "matched": False},
        ],
    }
    change.update(overrides)
    return change


def make_pack(**overrides: Any) -> dict[str, Any]:
    pack: dict[str, Any] = {
        "$schema": "https://eucora.dev/schemas/v1/evidence.schema.json",
        "apiVersion": "eucora.dev/v1",
        "kind": "CheckPack",
        "repository": "contoso/eucora-intents",
        "base": SHA_BASE,
        "head": SHA_HEAD,
        "mergeBase": SHA_MERGE,
        "evaluatedAt": "2027-02-17T09:00:00Z",
        "labels": [],
        "policy": {
            "digest": "sha256:" + "b" * 64,
            "sources": ["eucora:policies/change.yaml", "policies/contoso.yaml"],
            "rules": [
                {
                    "id": "package.unsigned-beyond-pilot",
                    "enforcement": "deny",
                    "source": "eucora:policies/supply-chain.yaml:3",
                },
            ],
        },
        "changes": [make_change()],
        "otherFiles": [],
        "findings": [
            {
                "path": CHROME,
                "line": 17,
                "column": 3,
                "code": "rule.package.unsigned-beyond-pilot",
                "severity": "error",
                "message": "unsigned package beyond the pilot ring",
                "jsonPath": "$.package.signed",
            },
            {
                "path": CHROME,
                "line": 30,
                "column": 5,
                "code": "rule.contoso.broad-ring-needs-ticket",
                "severity": "warning",
                "message": "broad ring without a change ticket",
                "jsonPath": "$.rings[1]",
            },
        ],
        "waivers": [],
        "risk": {
            "score": 35,
            "tier": "medium",
            "intent": "google-chrome",
            "scoreTier": "medium",
            "caps": dict(RISK_FAMILIES),
            "byFamily": {
                "privilege": 0,
                "supply-chain": 15,
                "vulnerabilities": 0,
                "exploitability": 0,
                "data-access": 0,
                "blast-radius": 10,
                "operational": 10,
                "history": 0,
            },
            "factors": [
                {
                    "intent": "google-chrome",
                    "rule": "package.unsigned-beyond-pilot",
                    "family": "supply-chain",
                    "points": 25,
                    "reason": "unsigned package",
                },
                {
                    "intent": "google-chrome",
                    "rule": "rings.broad-fast",
                    "family": "blast-radius",
                    "points": 10,
                    "reason": "9,000 devices within a day",
                },
            ],
        },
        "approvals": {"required": 1, "reasons": ["medium risk (score 35)"]},
        "decision": {"conclusion": "blocked", "reasons": ["1 error finding"]},
    }
    pack.update(overrides)
    VALIDATOR.validate(pack)
    return pack


def passing_pack(**overrides: Any) -> dict[str, Any]:
    return make_pack(
        findings=[],
        decision={"conclusion": "pass", "reasons": []},
        **overrides,
    )


def render(pack: dict[str, Any], repository_url: str | None = REPO_URL) -> str:
    return render_evidence_html(pack, digest=DIGEST, repository_url=repository_url)


# --- a small HTML reader: structure, text and attributes -------------------------------------

BLOCKS = {
    *("p", "div", "li", "ul", "ol", "dl", "dt", "dd", "pre", "br", "table", "caption", "tr"),
    *("td", "th", "details", "summary", "section", "header", "nav", "main", "footer"),
    *("h1", "h2", "h3", "h4", "h5", "h6"),
}
VOID = {"meta", "br", "hr", "img", "input", "link", "wbr", "col", "area", "base", "source"}


class Page(HTMLParser):
    """Reads a rendered page: checks nesting and collects what a reader and a crawler see."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.errors: list[str] = []
        self.feed(text)
        self.close()
        if self.stack:
            self.errors.append(f"unclosed: {self.stack}")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag in BLOCKS:
            self.text.append(" ")  # blocks and cells separate words on screen
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in BLOCKS:
            self.text.append(" ")
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:]}")
            return
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        if self.stack and self.stack[-1] in {"style", "title"}:
            return
        self.text.append(data)

    def visible(self) -> str:
        return re.sub(r"\s+", " ", "".join(self.text))

    def all(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for name, attrs in self.tags if name == tag]


def section_ids(page: str) -> list[str]:
    return re.findall(r'<section id="([a-z]+)"', page)


# --- escaping ---------------------------------------------------------------------------------


class TestEscapeHtml:
    @given(st.text())
    def test_it_is_the_standard_library_escape(self, text: str) -> None:
        """The core's escape is html.escape with quotes, on any text."""
        assert escape_html(text) == html.escape(text, quote=True)

    def test_a_script_in_an_intent_name_is_shown_as_text(self) -> None:
        """A <script> in an intent name, reason or message is text on the page, never markup."""
        change = make_change(intent=EVIL)
        factor = {**make_pack()["risk"]["factors"][0], "intent": EVIL, "reason": EVIL}
        pack = make_pack(changes=[change])
        pack["risk"]["factors"].append(factor)
        pack["findings"][0]["message"] = EVIL
        pack["approvals"]["reasons"].append(EVIL)
        page = render(pack)
        assert "<script" not in page.lower()
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
        parsed = Page(page)
        assert parsed.errors == []
        assert EVIL in parsed.visible()
        assert not parsed.all("script")

    def test_quotes_cannot_leave_an_attribute(self) -> None:
        """A repository address with quotes stays inside its href."""
        page = render(make_pack(), repository_url='https://github.com/o/r" onmouseover="x')
        assert ' onmouseover="x' not in page
        assert all("onmouseover" not in attrs for _, attrs in Page(page).tags)
        assert "/o/r&quot; onmouseover=&quot;x/blob/" in page

    @given(st.text(min_size=1, max_size=40))
    def test_any_user_text_is_inert(self, text: str) -> None:
        """Whatever the intent name and message, the page parses to the same tags and shows the text."""
        pack = make_pack(changes=[make_change(intent=text)])
        pack["findings"][0]["message"] = text
        pack["risk"]["intent"] = text
        for factor in pack["risk"]["factors"]:
            factor["intent"] = text
        baseline = Page(render(make_pack()))
        page = Page(render(pack))
        assert page.errors == []
        assert [t for t, _ in page.tags] == [t for t, _ in baseline.tags]


# --- the document -----------------------------------------------------------------------------


class TestDocument:
    def test_it_is_self_contained_with_no_script(self) -> None:
        """Inline CSS only: no scripts, stylesheets, images, fonts or frames to load."""
        page = render(make_pack())
        parsed = Page(page)
        assert parsed.errors == []
        for tag in ("script", "link", "img", "iframe", "object", "embed", "form"):
            assert not parsed.all(tag), tag
        assert not [attrs for _, attrs in parsed.tags if "src" in attrs]
        assert "@import" not in page
        assert "url(" not in page
        assert not re.search(r"\son[a-z]+=", page)

    def test_it_is_an_accessible_responsive_html5_page(self) -> None:
        """lang, charset, viewport, landmarks, one h1 and headings in order."""
        page = render(make_pack())
        assert page.startswith('<!DOCTYPE html>\n<html lang="en">')
        assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
        assert '<meta charset="utf-8">' in page
        parsed = Page(page)
        names = [t for t, _ in parsed.tags]
        assert names.count("header") == 1
        assert names.count("main") == 1
        assert names.count("h1") == 1
        levels = [int(t[1]) for t in names if re.fullmatch(r"h[1-6]", t)]
        assert levels[0] == 1
        assert all(b - a <= 1 for a, b in itertools.pairwise(levels))
        ids = [attrs["id"] for _, attrs in parsed.tags if "id" in attrs]
        assert len(ids) == len(set(ids))
        targets = {attrs["href"][1:] for attrs in parsed.all("a") if attrs["href"].startswith("#")}
        assert targets <= set(ids)

    def test_every_table_has_a_caption_and_scoped_headers(self) -> None:
        """Tables are captioned, their header cells scoped, and they scroll in a named region."""
        page = render(make_pack(waivers=[waiver()]))
        tables = re.findall(r"<table.*?</table>", page, flags=re.DOTALL)
        assert len(tables) >= 4
        for table in tables:
            assert re.match(r"<table[^>]*><caption>[^<]", table), table[:80]
            assert "<th>" not in table
            assert all('scope="' in th for th in re.findall(r"<th[ >][^>]*", table))
        regions = re.findall(
            r'<div class="scroll" role="region" aria-label="[^"]+" tabindex="0">', page
        )
        assert len(regions) == len(tables)

    def test_it_renders_byte_identically_twice(self) -> None:
        """The same pack gives the same bytes, and so does the pack read back from the store."""
        pack = make_pack(waivers=[waiver()])
        first = render(pack)
        assert render(copy.deepcopy(pack)) == first
        stored = json.loads(canonical_json(pack))
        assert render(stored) == first

    def test_the_rendering_does_not_change_the_pack(self) -> None:
        pack = make_pack()
        before = copy.deepcopy(pack)
        render(pack)
        assert pack == before


# --- the decision, risk, approvals ------------------------------------------------------------


class TestDecision:
    def test_a_blocked_change_says_so_first_with_its_reasons(self) -> None:
        """The banner comes before main, says BLOCKED in words and lists why."""
        page = render(make_pack())
        header = page[page.index("<header") : page.index("</header>")]
        assert page.index("<header") < page.index("<main")
        assert "BLOCKED" in header
        assert "1 error finding" in header
        assert "2 CAB approvals" not in header
        assert "1 CAB approval" in header
        assert 'class="banner blocked"' in header
        assert "<title>BLOCKED" in page

    def test_a_passing_change_says_pass_and_what_it_needs(self) -> None:
        page = render(passing_pack())
        header = Page(page[page.index("<header") : page.index("</header>") + 9]).visible()
        assert "PASS" in header
        assert "May merge once approved" in header
        assert "It needs 1 CAB approval: medium risk (score 35)" in header
        assert "BLOCKED" not in page

    def test_no_approval_needed(self) -> None:
        page = render(passing_pack(approvals={"required": 0, "reasons": ["low risk (score 0)"]}))
        visible = Page(page).visible()
        assert "May merge " in visible
        assert "It needs no CAB approval" in visible
        assert "Approvals: none required" in visible


class TestRisk:
    def test_score_tier_factors_and_family_totals_against_caps(self) -> None:
        page = render(make_pack())
        visible = Page(page).visible()
        assert "Risk: 35/100 · medium" in visible
        assert "Risk score 35/100" in visible
        assert "The score is that of the riskiest intent, google-chrome." in visible
        # supply-chain: 25 raw points capped at 15
        assert re.search(
            r"supply-chain</th><td class=\"num\">15 <span[^>]*>\(capped from 25\)", page
        )
        for family, cap in RISK_FAMILIES.items():
            assert re.search(
                rf">{family}</th><td class=\"num\">\d+.*?<td class=\"num\">{cap}</td>", page
            )
        assert "+25" in visible
        assert "unsigned package" in visible
        assert "9,000 devices within a day" in visible

    def test_families_keep_their_usual_order_from_a_stored_pack(self) -> None:
        page = render(json.loads(canonical_json(make_pack())))
        order = [page.index(f">{family}</th>") for family in RISK_FAMILIES]
        assert order == sorted(order)

    def test_a_raised_tier_is_explained(self) -> None:
        pack = make_pack()
        pack["risk"]["tier"] = "high"
        visible = Page(render(pack)).visible()
        assert "The score alone gives medium; the tier is raised to high" in visible

    def test_no_factor(self) -> None:
        pack = make_pack()
        pack["risk"]["factors"] = []
        assert "No rule added risk points." in render(pack)


# --- changes, findings, waivers, preview, publications -----------------------------------------


class TestChanges:
    def test_a_change_row_shows_version_and_devices_before_and_after(self) -> None:
        """Intent, version before → after, devices base → head, risk, kind and path in one row."""
        page = render(make_pack())
        row = re.search(r'<tr><th scope="row"><code>google-chrome</code></th>.*?</tr>', page)
        assert row is not None
        text = Page(row.group()).visible()
        assert "131.0.6778.86 → to 131.0.6778.109" in text
        assert "8,475 → to 9,075" in text
        assert "35 medium" in text
        assert "modified" in text
        assert CHROME in text

    def test_field_diffs_before_after_with_lines_linked_at_head_or_merge_base(self) -> None:
        """A changed field links to its head line; a removed one to its line at the merge base."""
        page = render(make_pack())
        assert "<code>&quot;131.0.6778.86&quot;</code>" in page
        assert f'<a href="{REPO_URL}/blob/{SHA_HEAD}/{CHROME}#L11">11</a>' in page
        assert f'<a href="{REPO_URL}/blob/{SHA_MERGE}/{CHROME}#L40">40</a>' in page
        assert "/rollback/command" in page

    def test_an_added_intent_is_summarised_and_its_fields_collapsed(self) -> None:
        intent = {
            "app": {"name": "osquery", "version": "5.12.1"},
            "platform": "linux",
            "plane": "landscape",
            "rings": [{"name": "lab", "devices": 10}, {"name": "broad", "devices": 900}],
        }
        change = make_change(
            kind="added",
            basePath=None,
            baseBlob=None,
            fieldDiffs=[{"path": "", "old": None, "new": intent, "line": 1}],
            devices={"base": 0, "head": 910},
        )
        page = render(make_pack(changes=[change]))
        visible = Page(page).visible()
        assert "osquery 5.12.1, linux via landscape: lab 10 → broad 900" in visible
        assert "<details><summary>Every field (" in page
        assert "0 → to 910" in visible

    def test_a_renamed_intent_and_other_files(self) -> None:
        change = make_change(kind="renamed", basePath="intents/windows/chrome.yaml", fieldDiffs=[])
        page = render(make_pack(changes=[change], otherFiles=["README.md"]))
        visible = Page(page).visible()
        assert "renamed from intents/windows/chrome.yaml" in visible
        assert "No field diff" in visible
        assert "Other changed files, not judged as intents (1)" in visible
        assert "README.md" in visible

    def test_no_change(self) -> None:
        page = render(make_pack(changes=[], otherFiles=["docs/x.md"]))
        assert "No deployment intent changed." in page


class TestFindings:
    def test_findings_link_to_their_file_and_line_on_github(self) -> None:
        page = render(make_pack())
        assert f'<a href="{REPO_URL}/blob/{SHA_HEAD}/{CHROME}#L17">{CHROME}:17</a>' in page
        visible = Page(page).visible()
        assert "Findings: 1 error, 1 warning, 0 notes" in visible
        assert visible.index("Errors (1)") < visible.index("Warnings (1)")
        assert f"error {CHROME}:17 rule.package.unsigned-beyond-pilot" in visible

    def test_without_a_repository_address_there_are_no_outside_links(self) -> None:
        page = render(make_pack(), repository_url=None)
        assert f"{CHROME}:17" in page
        hrefs = [attrs["href"] for attrs in Page(page).all("a")]
        assert hrefs
        assert all(href.startswith("#") for href in hrefs)

    def test_only_http_addresses_become_links(self) -> None:
        page = render(make_pack(), repository_url="javascript:alert(1)//")
        assert "javascript:" not in page

    def test_paths_are_percent_encoded_in_links(self) -> None:
        pack = make_pack()
        pack["findings"][0]["path"] = "intents/win dows/a#b?.yaml"
        page = render(pack)
        assert f"{REPO_URL}/blob/{SHA_HEAD}/intents/win%20dows/a%23b%3F.yaml#L17" in page

    def test_no_finding(self) -> None:
        page = render(passing_pack())
        assert "Findings: 0 errors, 0 warnings, 0 notes" in Page(page).visible()
        assert "<p>None.</p>" in page


def waiver(**overrides: Any) -> dict[str, Any]:
    item = {
        "rule": "package.unsigned-beyond-pilot",
        "intent": "7-zip",
        "owner": "contoso/desktop-packaging",
        "ticket": "RISK-118",
        "expires": "2027-02-25",
        "reason": "Upstream MSI is unsigned.",
        "source": "waivers/7-zip.yaml:8",
        "expiringSoon": True,
    }
    item.update(overrides)
    return item


class TestSections:
    def test_the_sections_of_a_check_pack(self) -> None:
        """Without waivers, preview or publications, those sections are left out."""
        page = render(make_pack())
        assert section_ids(page) == ["changes", "findings", "risk", "approvals", "rules", "verify"]
        nav = page[page.index("<nav") : page.index("</nav>")]
        assert re.findall(r'href="#([a-z]+)"', nav) == section_ids(page)

    def test_waivers_in_force_with_expiry(self) -> None:
        page = render(make_pack(waivers=[waiver(), waiver(expires="2027-09-01", ticket="R-2")]))
        assert "waivers" in section_ids(page)
        visible = Page(page).visible()
        assert "Waivers in force (2)" in visible
        assert "2027-02-25 (expires in 8 days)" in visible
        assert "1 waiver expires soon" in visible

    def test_policy_preview_when_present(self) -> None:
        preview = [
            {
                "intent": "google-chrome",
                "path": CHROME,
                "nowMatches": ["contoso.new-rule"],
                "noLongerMatches": [],
                "wouldBlock": True,
            }
        ]
        page = render(make_pack(policyPreview=preview))
        assert "preview" in section_ids(page)
        visible = Page(page).visible()
        assert "now matches contoso.new-rule; would block" in visible

    def test_publications_only_when_the_pack_has_them(self) -> None:
        """Change packs (later) carry publications; a check pack has none and shows no section."""
        pack: dict[str, Any] = make_pack()
        assert "publications" not in section_ids(render(pack))
        pack["publications"] = [
            {"plane": "intune", "ring": "pilot", "status": "published", "intent": EVIL},
            {"plane": "intune", "ring": "broad", "status": "pending"},
        ]
        page = render_evidence_html(pack, digest=DIGEST)
        assert "publications" in section_ids(page)
        visible = Page(page).visible()
        assert "Publications (2)" in visible
        assert "published" in visible
        assert "pending" in visible
        assert "<script" not in page
        pack["publications"] = []
        assert "None yet." in render_evidence_html(pack, digest=DIGEST)

    def test_rule_results_are_collapsed(self) -> None:
        page = render(make_pack())
        details = re.findall(r"<details>.*?</details>", page, flags=re.DOTALL)
        text = Page("".join(details)).visible()
        assert "google-chrome: 2 evaluated, 1 matched" in text
        assert "unsigned package beyond the pilot ring" in text
        assert "Not matched: contoso.broad-ring-needs-ticket" in text
        assert "Policy pack: 1 rule" in text

    def test_how_to_verify_the_digest(self) -> None:
        page = render(make_pack())
        verify = page[page.index('<section id="verify"') :]
        visible = Page(verify[: verify.index("</section>") + 10]).visible()
        assert "Verify this evidence" in visible
        assert DIGEST in visible
        assert f"{VERIFY_COMMAND} {DIGEST}" in visible
        assert VERIFY_COMMAND == "eucora evidence verify"
        assert VERIFY_EXPLANATION in visible
        assert "the pack's sha256 of its RFC 8785 canonical JSON is the digest" in visible
        assert "sha256sum pack.json" in visible


class TestRuleResults:
    def test_errors_waivers_and_preview_results(self) -> None:
        """A failed condition, a waived match and the head's preview rules each say what happened."""
        change = make_change(
            ruleResults=[
                {
                    "rule": "contoso.odd-rule",
                    "matched": True,
                    "enforcement": "deny",
                    "error": "no such field: app.vendor",
                },
                {
                    "rule": "package.unsigned-beyond-pilot",
                    "matched": True,
                    "enforcement": "deny",
                    "message": "unsigned",
                    "waivedBy": "RISK-118 (contoso/desktop-packaging, until 2027-03-31)",
                },
            ],
            previewRuleResults=[
                {
                    "rule": "contoso.new-rule",
                    "matched": True,
                    "enforcement": "warn",
                    "message": "new rule says hi",
                }
            ],
        )
        visible = Page(render(make_pack(changes=[change]))).visible()
        assert "error: no such field: app.vendor" in visible
        assert "waived by RISK-118 (contoso/desktop-packaging, until 2027-03-31)" in visible
        assert "The head revision's rules that would match google-chrome (not enforced)" in visible
        assert "new rule says hi" in visible
        assert "Not matched" not in visible

    def test_an_intent_with_no_rule_evaluated(self) -> None:
        page = render(make_pack(changes=[make_change(ruleResults=[])]))
        assert "No rule evaluated." in page


def test_publications_of_an_unexpected_shape_are_shown_as_json() -> None:
    pack: dict[str, Any] = make_pack()
    pack["publications"] = {"intune": EVIL}
    page = render_evidence_html(pack, digest=DIGEST)
    assert "<pre>{\n  &quot;intune&quot;: &quot;&lt;script&gt;" in page


def test_a_blocked_change_without_reasons_and_no_approval_reasons() -> None:
    pack = make_pack(
        decision={"conclusion": "blocked", "reasons": []},
        approvals={"required": 2, "reasons": []},
    )
    visible = Page(render(pack)).visible()
    assert "BLOCKED May not merge as it is Once fixed, it needs 2 CAB approvals." in visible
    assert "Why it is blocked" not in visible


def test_unchanged_devices_and_waivers_far_from_expiry() -> None:
    change = make_change(devices={"base": 9075, "head": 9075})
    pack = make_pack(changes=[change], waivers=[waiver(expires="2027-12-31", expiringSoon=False)])
    visible = Page(render(pack)).visible()
    assert "9,075 (unchanged)" in visible
    assert "expires soon" not in visible
    assert "2027-12-31" in visible
