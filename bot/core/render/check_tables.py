"""The sticky comment's listings: changes, other files, risk, factors, findings, waivers.

Each long listing is a ``_Listing``, so it can be cut to fit (``bot.core.render.fitting``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.core.families import EXPIRING_WITHIN_DAYS, RISK_FAMILIES
from bot.core.findings import Severity
from bot.core.pack_view import CheckPackView
from bot.core.render.check_reading import _days_left, _expiry_text, _raw_by_family, _riskiest, _soon
from bot.core.render.field_diffs import _devices_text, _field
from bot.core.render.fitting import Block, _Listing
from bot.core.render.formatting import _code, _plural, _scalar, escape_markdown
from bot.core.render.pack_findings import GROUPS, _by_severity, _counts, _counts_text


def _md_changes(view: CheckPackView) -> Block:
    changes = view.changes
    if not changes:
        return "#### Changes\n\nNo deployment intent changed.\n\n"
    head = (
        f"#### Changes ({len(changes):,})\n\n"
        "| Intent | Change | Version | Devices | Risk |\n"
        "|---|---|---|--:|---|\n"
    )
    rows = []
    for change in changes:
        version = _field(change["fieldDiffs"], "/app/version")
        if version is None:
            version_text = "unchanged" if change["fieldDiffs"] else "—"
        else:
            old, new = version
            version_text = (
                f"{_code(_scalar(old))} → {_code(_scalar(new))}"
                if change["kind"] not in ("added", "deleted")
                else _code(_scalar(new if old is None else old))
            )
        kind = str(change["kind"])
        if change["basePath"] not in (None, change["path"]):
            kind += f" from {_code(change['basePath'])}"
        risk = change["risk"]
        rows.append(
            (
                "",
                (
                    f"| {_code(change['intent'])} | {kind} | {version_text} |"
                    f" {_devices_text(change)} | {risk['score']} {risk['tier']} |\n"
                ),
            )
        )
    return _Listing(head=head, rows=tuple(rows), noun="change", plural="changes")


def _md_other_files(view: CheckPackView) -> Block:
    files = view.other_files
    if not files:
        return ""
    rows = tuple(("", f"- {_code(path)}\n") for path in files)
    head = f"Other changed files, not judged as intents ({len(files):,}):\n\n"
    return _Listing(head=head, rows=rows, noun="file", plural="files", keep=10)


def _md_risk(view: CheckPackView) -> str:
    risk = view.risk
    lines = [f"#### Risk: {risk['score']}/100 · {risk['tier']}", ""]
    riskiest = _riskiest(view)
    if riskiest is not None:
        lines.extend([f"The score is that of the riskiest intent, {_code(riskiest)}.", ""])
    raw = _raw_by_family(view, riskiest)
    lines.extend(["| Family | Points | Cap |", "|---|--:|--:|"])
    by_family = risk["byFamily"]
    for family, cap in RISK_FAMILIES.items():
        points = int(by_family.get(family, 0))
        cell = f"**{points}**" if points else "0"
        if raw.get(family, 0) > points:
            cell += f" (capped from {raw[family]})"
        lines.append(f"| {family} | {cell} | {cap} |")
    lines.extend([f"| **total** | **{risk['score']}** | 100 |", ""])
    return "\n".join(lines) + "\n"


def _md_factors(view: CheckPackView) -> Block:
    factors = view.risk_factors
    if not factors:
        return "No rule added risk points.\n\n"
    head = (
        "Factors, before the family caps:\n\n"
        "| Intent | Family | Points | Rule | Reason |\n|---|---|--:|---|---|\n"
    )
    rows = tuple(
        (
            "",
            (
                f"| {_code(f['intent'])} | {f['family']} | +{f['points']} | {_code(f['rule'])} |"
                f" {escape_markdown(f['reason'])} |\n"
            ),
        )
        for f in factors
    )
    return _Listing(head=head, rows=rows, noun="factor", plural="factors")


def _md_findings(view: CheckPackView) -> Block:
    findings = _by_severity(view.findings)
    counts = _counts(findings)
    if not findings:
        return "#### Findings\n\nNone.\n\n"
    head = f"#### Findings: {_counts_text(counts)}\n"
    titles = dict(GROUPS)
    rows = tuple(
        (
            f"\n**{titles[Severity(f['severity'])]}**\n\n",
            f"- {_code(_where(f))} {_code(f['code'])}: {escape_markdown(f['message'])}\n",
        )
        for f in findings
    )
    return _Listing(head=head, rows=rows, noun="finding", plural="findings")


def _where(finding: Mapping[str, Any]) -> str:
    return f"{finding['path']}:{finding['line']}"


def _md_waivers(view: CheckPackView) -> Block:
    waivers = view.waivers
    if not waivers:
        return ""
    days = [_days_left(view, str(w["expires"])) for w in waivers]
    soon = sum(_soon(d) for d in days)
    head = f"#### Waivers in force ({len(waivers):,})\n\n"
    if soon:
        head += (
            f"**{_plural(soon, 'waiver')} expire{'s' if soon == 1 else ''} within "
            f"{EXPIRING_WITHIN_DAYS} days.**\n\n"
        )
    head += "| Rule | Intent | Owner | Ticket | Expires | Reason |\n|---|---|---|---|---|---|\n"
    rows = []
    for waiver, left in zip(waivers, days, strict=True):
        expires = escape_markdown(waiver["expires"])
        if _soon(left):
            expires = f"**{expires}** ({_expiry_text(left)})"
        rows.append(
            (
                "",
                (
                    f"| {_code(waiver['rule'])} | {_code(waiver['intent'])} |"
                    f" {escape_markdown(waiver['owner'])} | {escape_markdown(waiver['ticket'])} |"
                    f" {expires} | {escape_markdown(waiver['reason'])} |\n"
                ),
            )
        )
    return _Listing(head=head, rows=tuple(rows), noun="waiver", plural="waivers", keep=10)
