"""The check evidence pack as terminal text (``eucora check``, ``eucora action``).

It renders a pack *dict* (as ``build_check_pack`` builds it, or as read back from the evidence
store), never the live check objects, so a stored pack re-renders byte for byte. User text has
its control characters shown, not obeyed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.core.families import RISK_FAMILIES
from bot.core.pack_view import CheckPackView
from bot.core.render.approval_lines import _approvals_text, _routes, approval_rules
from bot.core.render.check_reading import (
    _days_left,
    _expiry_text,
    _preview_lines,
    _soon,
    _tier_raised,
    _verdict,
)
from bot.core.render.field_diffs import _flat_diffs, _summary
from bot.core.render.findings import render_text
from bot.core.render.formatting import _plain, _plural, _short, _value
from bot.core.render.pack_findings import _by_severity, _counts, _counts_text, _finding


def render_check_text(
    pack: Mapping[str, Any],
    *,
    config: Mapping[str, Any] | None = None,
    verdict: str | None = None,
) -> str:
    """The check for a terminal: verdict first, then risk, approvals, changes, findings, waivers.

    ``config`` (the base's ``eucora.yaml``) adds who can approve, the tier thresholds and the
    separation-of-duties rules (:func:`approval_rules`); ``verdict`` replaces the first line
    when more than the check decided it (``eucora action`` with the CAB approvals decided).
    """
    view = CheckPackView.of(pack)
    blocked, why = _verdict(view)
    first = verdict if verdict is not None else f"{'BLOCKED' if blocked else 'PASS'} — {why}"
    lines = [_plain(first)]
    lines.append(
        f"{_plain(view.repository)}  base {_short(view.base)} → head {_short(view.head)}"
        f"  evaluated {view.evaluated_at}"
    )
    if view.labels:
        lines.append("labels: " + ", ".join(_plain(label) for label in view.labels))
    lines.extend(_text_risk(view))
    approvals = view.approvals
    required = int(approvals["required"])
    lines.append(f"Approvals: {_approvals_text(required, _routes(approvals))}")
    lines.extend(f"  - {_plain(reason)}" for reason in approvals["reasons"])
    lines.extend(f"  - {_plain(line)}" for line in approval_rules(approvals, config))
    lines.extend(_text_changes(view))
    counts = _counts(view.findings)
    lines.append(f"Findings: {_counts_text(counts)}")
    text = "".join(f"{line}\n" for line in lines)
    text += render_text([_finding(item, _plain) for item in _by_severity(view.findings)])
    text += "".join(f"{line}\n" for line in _text_waivers(view))
    preview = _preview_lines(view, _plain)
    if preview:
        text += "Policy preview (the PR's own rules; the verdict above is the base's):\n"
        text += "".join(f"  {line}\n" for line in preview)
    return text


def _text_risk(view: CheckPackView) -> list[str]:
    risk = view.risk
    raised = _tier_raised(view)
    lines = [f"Risk: {risk['score']}/100 ({risk['tier']}{': ' + _plain(raised) if raised else ''})"]
    lines.extend(
        f"  +{factor['points']} {factor['family']}  {factor['rule']}"
        f"  [{_plain(factor['intent'])}]  {_plain(factor['reason'])}"
        for factor in risk["factors"]
    )
    by_family = risk["byFamily"]
    lines.append(
        "  by family: "
        + ", ".join(f"{name} {by_family.get(name, 0)}/{cap}" for name, cap in RISK_FAMILIES.items())
    )
    return lines


def _text_changes(view: CheckPackView) -> list[str]:
    lines = [f"Changes: {_plural(len(view.changes), 'intent')}"]
    for change in view.changes:
        moved = (
            f" (from {_plain(change['basePath'])})"
            if change["basePath"] not in (None, change["path"])
            else ""
        )
        lines.append(
            f"  {change['kind']} {_plain(change['path'])}{moved} ({_plain(change['intent'])})"
            f"  risk {change['risk']['score']} {change['risk']['tier']}"
        )
        whole = [d for d in change["fieldDiffs"] if d["path"] == ""]
        if whole:  # an added or deleted intent: a summary, not every field
            lines.append(f"    {_plain(_summary(whole[0]['new'] or whole[0]['old']))}")
            continue
        lines.extend(
            f"    {_plain(path)}: {_plain(_value(old))} → {_plain(_value(new))}"
            for path, old, new, _ in _flat_diffs(change["fieldDiffs"])
        )
    if view.other_files:
        lines.append("Other files: " + ", ".join(_plain(p) for p in view.other_files))
    return lines


def _text_waivers(view: CheckPackView) -> list[str]:
    if not view.waivers:
        return []
    lines = [f"Waivers in force: {len(view.waivers):,}"]
    for waiver in view.waivers:
        days = _days_left(view, str(waiver["expires"]))
        soon = f" — {_expiry_text(days)}" if _soon(days) else ""
        lines.append(
            f"  {_plain(waiver['rule'])} for {_plain(waiver['intent'])}: {_plain(waiver['ticket'])}"
            f" ({_plain(waiver['owner'])}) until {_plain(waiver['expires'])}{soon}"
        )
    return lines
