"""The publication table, the plan and the merge refusal as the pull request comment shows them."""

from __future__ import annotations

import re
from typing import Any

import pytest
from markdown_it import MarkdownIt

from bot.core.publishing import MergeProblem, PublicationView
from bot.core.render.check_markdown import COMMENT_MAX_CHARS
from bot.core.render.publications import (
    MAX_PLANS,
    MAX_STEPS,
    MAX_TABLE_ROWS,
    PLAN_HEADING,
    PUBLICATIONS_HEADING,
    REFUSED_HEADING,
    RETIRE_PLAN,
    RETRY_HINT,
    SECTION_MAX_CHARS,
    PlanView,
    merge_refused_markdown,
    plan_markdown,
    publication_table,
)

EVIL = "<img src=x onerror=alert(1)> @octocat | `rm -rf` [click](https://evil.example) *bold* $x$\n# heading"
CHANGE_URL = "https://eucora.example/evidence/sha256:" + "c" * 64


def view(id_: int, state: str = "succeeded", **extra: Any) -> PublicationView:
    fields: dict[str, Any] = {
        "id": id_,
        "plane": "intune",
        "ring": "lab",
        "target": "6513270e-269e-4d37-b2a7-4de452e6b438",
        "intent_name": f"app-{id_}",
        "version": "1.0",
        "state": state,
        "attempts": 1,
    }
    fields.update(extra)
    return PublicationView(**fields)


def html(markdown: str) -> str:
    return MarkdownIt("commonmark").enable("table").render(markdown)


def table_rows(markdown: str) -> list[str]:
    return [line for line in markdown.splitlines() if line.startswith("| ") and "---" not in line][
        1:
    ]


def assert_inert(markdown: str) -> None:
    """No raw HTML, link, mention, heading or extra cell comes from user text."""
    rendered = html(markdown)
    assert "<img" not in rendered
    assert not any("evil.example" in href for href in re.findall(r'href="([^"]*)"', rendered))
    assert "<h1>" not in rendered
    assert "@octocat" not in markdown
    assert "<strong>bold" not in rendered


# --- the publication table ------------------------------------------------------------------------


def test_the_table_has_totals_rows_and_a_change_pack_link() -> None:
    views = [
        view(1, object_id="a1b2", url="https://intune.example/apps/a1b2", created=True),
        view(2, "failed", plane="jamf", error="Jamf said 409: duplicate name", attempts=3),
        view(3, "pending", plane="sccm", attempts=0),
        view(4, "in_progress", plane="landscape"),
        view(5, object_id="job-7", created=False, plane="ansible"),
    ]
    text = publication_table(views, change_url=CHANGE_URL)
    assert text.startswith(f"{PUBLICATIONS_HEADING}\n\n")
    assert "2 of 5 published, 1 failed, 1 in progress, 1 pending." in text
    assert "| Plane | Ring (target) | Intent | Version | State | Plane object or reason |" in text
    rows = table_rows(text)
    assert len(rows) == 5
    assert rows[0].startswith("| jamf |")
    assert "❌ failed (attempt 3)" in rows[0]
    assert "Jamf said 409: duplicate name" in rows[0]
    assert rows[1].startswith("| landscape |")
    assert rows[2].startswith("| sccm |")
    assert "[a1b2](https://intune.example/apps/a1b2)" in text
    assert "job-7 (existing object reused)" in text
    assert f"[change pack]({CHANGE_URL})" in text
    assert RETRY_HINT in text
    rendered = html(text)
    assert rendered.count("<tr>") == 6
    assert '<a href="https://intune.example/apps/a1b2">a1b2</a>' in rendered


def test_the_retry_hint_only_when_something_failed() -> None:
    done = publication_table([view(1), view(2, "pending")], change_url=None)
    assert "retry-publish" not in done
    assert "change pack" not in done
    failed = publication_table([view(1), view(2, "failed")], change_url=None)
    assert "`/eucora retry-publish`" in failed
    assert "1 of 2 published, 1 failed." in failed


def test_no_publications() -> None:
    text = publication_table([], change_url=CHANGE_URL)
    assert text.startswith(PUBLICATIONS_HEADING)
    assert "Nothing to publish" in text
    assert "|" not in text
    assert "change pack" in text


def test_hostile_names_errors_and_urls_are_inert() -> None:
    hostile = view(
        1,
        "failed",
        plane=EVIL,
        ring=EVIL,
        target=EVIL,
        intent_name=EVIL,
        version=EVIL,
        error=EVIL,
    )
    linked = view(2, object_id=EVIL, url="javascript:alert(1)")
    odd_url = view(3, object_id="x", url="https://plane.example/a b)(c|d")
    long_url = view(4, object_id="y", url="https://plane.example/" + "a" * 5000)
    text = publication_table([hostile, linked, odd_url, long_url], change_url="javascript:alert(2)")
    assert_inert(text)
    rows = table_rows(text)
    assert len(rows) == 4
    assert all(row.count(" | ") == 5 for row in rows)
    assert rows[3].endswith("| y |")
    assert "change pack" not in text
    assert 'href="javascript' not in html(text)
    assert "(https://plane.example/a%20b%29%28c%7Cd)" in text
    assert html(text).count("<tr>") == 5


def test_an_unknown_state_is_shown_not_trusted() -> None:
    text = publication_table([view(1, "<b>weird</b>")], change_url=None)
    assert "&lt;b&gt;weird&lt;/b&gt;" in text
    assert "1 in an unknown state" in text


def test_a_thousand_publications_stay_bounded_and_say_how_many_more() -> None:
    views = [
        view(
            i,
            "failed" if i % 7 == 0 else "succeeded",
            intent_name="@" * 300,
            target="|" * 300,
            error="<" * 1000,
            object_id="`" * 300,
        )
        for i in range(1, 1001)
    ]
    text = publication_table(views, change_url=CHANGE_URL)
    assert len(text) <= SECTION_MAX_CHARS
    shown = len(table_rows(text))
    assert 0 < shown <= MAX_TABLE_ROWS
    [more] = re.findall(r"…and ([0-9,]+) more publications", text)
    assert shown + int(more.replace(",", "")) == 1000
    assert "858 of 1,000 published, 142 failed." in text
    assert RETRY_HINT in text
    assert CHANGE_URL in text
    assert all("❌ failed" in row for row in table_rows(text))


def test_many_short_rows_are_capped_by_count() -> None:
    text = publication_table([view(i) for i in range(1, 501)], change_url=None)
    assert len(table_rows(text)) == MAX_TABLE_ROWS
    assert "…and 400 more publications" in text


def test_a_small_table_lists_everything() -> None:
    text = publication_table([view(i) for i in range(1, 11)], change_url=None)
    assert len(table_rows(text)) == 10
    assert "more publications" not in text


# --- the plan -------------------------------------------------------------------------------------


def plan(**extra: Any) -> PlanView:
    fields: dict[str, Any] = {
        "plane": "intune",
        "intent_name": "google-chrome",
        "ring": "lab",
        "target": "6513270e",
        "steps": (
            ("create", "create Win32 app 'Google Chrome 131.0.6778.109'"),
            ("upload", "upload googlechromestandaloneenterprise64.msi (113 MiB)"),
            ("assign", "assign to group 6513270e as required"),
        ),
    }
    fields.update(extra)
    return PlanView(**fields)


def test_the_plan_lists_steps_per_plane_intent_and_ring() -> None:
    text = plan_markdown(
        [
            plan(plane="jamf", intent_name="slack", steps=(("nothing", "policy is current"),)),
            plan(),
        ],
        unconfigured=["sccm", "landscape", "sccm"],
    )
    assert text.startswith(f"{PLAN_HEADING}\n\n")
    lines = text.splitlines()
    assert lines[2] == "- not configured: nothing will be published to **landscape**"
    assert lines[3] == "- not configured: nothing will be published to **sccm**"
    assert lines[4].startswith("- **intune**: google-chrome → lab (<code>6513270e</code>)")
    assert lines[5] == "  - create: create Win32 app 'Google Chrome 131.0.6778.109'"
    assert lines[7] == "  - assign: assign to group 6513270e as required"
    assert lines[8].startswith("- **jamf**: slack")
    rendered = html(text)
    assert rendered.count("<li>") == 8


def test_a_plane_that_could_not_be_read_says_why() -> None:
    text = plan_markdown([plan(steps=(), error="Graph answered 503")])
    assert "⚠️ the plane could not be read: Graph answered 503" in text
    assert "nothing to do" in plan_markdown([plan(steps=())])


def test_a_deleted_intent_is_planned_as_a_retirement_from_its_plane() -> None:
    text = plan_markdown([plan(intent_name="7-zip", plane="sccm", steps=(), retire=True)])
    assert f"- **sccm**: 7-zip → lab (<code>6513270e</code>): {RETIRE_PLAN}" in text
    assert "retires it from its plane" in RETIRE_PLAN
    assert "nothing to do" not in text


def test_a_retirement_is_shown_as_one_in_the_table_and_the_totals() -> None:
    views = [view(1), view(2, "succeeded", action="retire"), view(3, "pending", action="retire")]
    text = publication_table(views, change_url=None)
    assert "1 of 1 published, 1 of 2 retired, 1 pending" in text
    rows = table_rows(text)
    assert any("🗑️ retired" in r and "retired: removed from its plane" in r for r in rows)
    assert any("⏳ pending (retire)" in r for r in rows)
    plain = publication_table([view(1), view(2)], change_url=None)
    assert "2 of 2 published." in plain  # without a retirement, the table says what it said
    assert "retire" not in plain


def test_no_plan_is_an_empty_string() -> None:
    assert plan_markdown([]) == ""
    assert plan_markdown([], unconfigured=()) == ""
    assert plan_markdown([], unconfigured=["jamf"]).startswith(PLAN_HEADING)


def test_hostile_plan_text_is_inert() -> None:
    text = plan_markdown(
        [
            plan(
                plane=EVIL,
                intent_name=EVIL,
                ring=EVIL,
                target=EVIL,
                steps=((EVIL, EVIL),),
                error=None,
            ),
            plan(intent_name="b", error=EVIL),
        ],
        unconfigured=[EVIL],
    )
    assert_inert(text)
    assert html(text).count("<li>") == 4


def test_a_huge_plan_stays_bounded() -> None:
    steps = tuple(("upload", "@" * 500) for _ in range(MAX_STEPS + 30))
    plans = [plan(intent_name=f"app-{i:04d}", steps=steps) for i in range(1000)]
    text = plan_markdown(plans, unconfigured=["sccm"])
    assert len(text) <= SECTION_MAX_CHARS
    assert "- not configured: nothing will be published to **sccm**" in text
    [more] = re.findall(r"- …and ([0-9,]+) more, not listed here", text)
    shown = text.count("\n- **intune**")
    assert shown + int(more.replace(",", "")) == 1000
    assert f"  - …and {30:,} more steps" in text


def test_plans_beyond_the_entry_cap_are_counted() -> None:
    plans = [plan(intent_name=f"app-{i:04d}", steps=()) for i in range(MAX_PLANS + 5)]
    text = plan_markdown(plans)
    assert text.count("\n- **intune**") == MAX_PLANS
    assert "- …and 5 more, not listed here." in text


# --- the merge refusal ----------------------------------------------------------------------------


def test_the_refusal_lists_every_problem() -> None:
    text = merge_refused_markdown(
        [
            (MergeProblem.NOT_APPROVED.value, "The CAB had not approved it at merge time."),
            (MergeProblem.FROZEN.value, "It was merged inside the freeze window year-end."),
        ],
        merge_sha="3" * 40,
    )
    assert text.startswith(f"{REFUSED_HEADING}\n\n")
    assert "<code>333333333333</code>" in text
    assert "3" * 13 not in text
    assert "- **not approved**: The CAB had not approved it at merge time." in text
    assert "- **frozen**: It was merged inside the freeze window year-end." in text
    assert html(text).count("<li>") == 2


def test_a_hostile_refusal_is_inert_and_bounded() -> None:
    text = merge_refused_markdown([(EVIL, EVIL * 50)] * 100, merge_sha=EVIL)
    assert_inert(text)
    assert "…and 80 more problems" in text
    assert len(text) < SECTION_MAX_CHARS


def test_all_three_sections_fit_in_one_comment() -> None:
    views = [view(i, error="x" * 5000, intent_name="@" * 400) for i in range(2000)]
    plans = [plan(intent_name=f"a{i}", steps=(("create", "|" * 900),) * 50) for i in range(2000)]
    total = (
        publication_table(views, change_url=CHANGE_URL)
        + plan_markdown(plans, unconfigured=[EVIL] * 50)
        + merge_refused_markdown([(EVIL, EVIL * 100)] * 50, merge_sha="3" * 40)
    )
    assert len(total) < COMMENT_MAX_CHARS


@pytest.mark.parametrize("count", [0, 1, MAX_TABLE_ROWS, MAX_TABLE_ROWS + 1])
def test_row_count_and_more_line_always_add_up(count: int) -> None:
    text = publication_table([view(i) for i in range(1, count + 1)], change_url=None)
    more = re.findall(r"…and ([0-9,]+) more publications", text)
    assert len(table_rows(text)) + sum(int(m.replace(",", "")) for m in more) == count


def test_long_cells_are_cut_between_escapes_and_bounded() -> None:
    huge = "@|<`" * 5000
    text = publication_table(
        [view(1, "failed", plane=huge, ring=huge, target=huge, intent_name=huge, error=huge)],
        change_url=None,
    )
    [row] = table_rows(text)
    assert len(row) < 800
    assert row.count("…") == 5
    assert not re.search(r"&(?!#8203;|#124;|#96;|lt;|gt;)", row)
    assert html(text).count("<tr>") == 2


def test_link_targets_are_percent_encoded_as_utf8() -> None:
    text = publication_table(
        [view(1, object_id="x", url="https://plane.example/é/\ud800/<x>")], change_url=None
    )
    assert "(https://plane.example/%C3%A9/%3F/%3Cx%3E)" in text
