"""The sticky comment's collapsible details: every field diff and every rule result."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bot.core.pack_view import CheckPackView
from bot.core.render.field_diffs import _flat_diffs
from bot.core.render.formatting import DETAIL_VALUE_WIDTH, _code, _plural, _value, escape_markdown


def _md_diff_details(view: CheckPackView) -> str:
    changes = view.changes
    if not changes:
        return ""
    total = sum(len(_flat_diffs(c["fieldDiffs"])) for c in changes)
    parts = [f"<details><summary>Field diffs ({_plural(total, 'field')})</summary>\n\n"]
    for change in changes:
        moved = (
            f" (from {_code(change['basePath'])})"
            if change["basePath"] not in (None, change["path"])
            else ""
        )
        parts.append(
            f"**{_code(change['intent'])}** {change['kind']} {_code(change['path'])}{moved}\n\n"
        )
        diffs = _flat_diffs(change["fieldDiffs"])
        if not diffs:
            parts.append("No field diff (the file does not validate).\n\n")
            continue
        parts.append("| Field | Before | After | Line |\n|---|---|---|--:|\n")
        parts.extend(
            f"| {_code(path)} | {_code(_value(old, DETAIL_VALUE_WIDTH))} |"
            f" {_code(_value(new, DETAIL_VALUE_WIDTH))} | {line if line is not None else ''} |\n"
            for path, old, new, line in diffs
        )
        parts.append("\n")
    parts.append("</details>\n\n")
    return "".join(parts)


def _result_text(result: Mapping[str, Any]) -> str:
    if result.get("error") is not None:
        return f"error: {escape_markdown(result['error'])}"
    if result.get("waivedBy") is not None:
        return f"waived by {escape_markdown(result['waivedBy'])}"
    return "matched"


def _results_table(results: Sequence[Mapping[str, Any]]) -> str:
    shown = [r for r in results if r["matched"] or r.get("error") is not None]
    quiet = [r for r in results if r not in shown]
    parts = []
    if shown:
        parts.append("| Rule | Result | Enforcement | Message |\n|---|---|---|---|\n")
        parts.extend(
            f"| {_code(r['rule'])} | {_result_text(r)} | {r.get('enforcement', '')} |"
            f" {escape_markdown(r.get('message', ''))} |\n"
            for r in shown
        )
        parts.append("\n")
    if quiet:
        parts.append("Not matched: " + ", ".join(_code(r["rule"]) for r in quiet) + "\n\n")
    return "".join(parts)


def _md_rule_details(view: CheckPackView) -> str:
    changes = view.changes
    if not changes:
        return ""
    evaluated = sum(len(c["ruleResults"]) for c in changes)
    matched = sum(bool(r["matched"]) for c in changes for r in c["ruleResults"])
    summary = f"Rule results ({evaluated:,} evaluated, {matched:,} matched)"
    parts = [f"<details><summary>{summary}</summary>\n\n"]
    for change in changes:
        parts.append(f"**{_code(change['intent'])}**\n\n")
        parts.append(_results_table(change["ruleResults"]) or "No rule evaluated.\n\n")
        preview = change.get("previewRuleResults")
        if preview:
            parts.append("Preview — the head revision's rules would match (not enforced):\n\n")
            parts.append(_results_table(preview))
    parts.append("</details>\n\n")
    return "".join(parts)
