"""The check evidence pack as terminal text, a sticky pull request comment and Actions output.

Every function renders a pack *dict* (as ``build_check_pack`` builds it, or as read back from the
evidence store), never the live check objects, so a stored pack re-renders byte for byte.
User-supplied text (intent values, messages, paths, waiver reasons) is escaped for the target:
control characters are shown, not obeyed, in a terminal; Markdown and HTML are neutralised in a
comment; workflow-command data and properties are percent-encoded for the runner.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from bot.core.approval_routing import Requirement, requirements_of, routing_configured
from bot.core.approvals import SEPARATION_OF_DUTIES, ApprovalPolicy, approval_policy
from bot.core.families import EXPIRING_WITHIN_DAYS, RISK_FAMILIES
from bot.core.findings import SEVERITY_ORDER, Finding, Severity
from bot.core.pack_view import CheckPackView
from bot.core.render.findings import render_github, render_text

MARKER = "<!-- eucora:evidence -->"
COMMENT_MAX_CHARS = 65_536  # GitHub's limit on an issue comment body
STEP_SUMMARY_MAX_BYTES = 1_048_576  # GitHub's limit on one step's job summary
VALUE_WIDTH = 60  # a field value longer than this is cut, with an ellipsis
DETAIL_VALUE_WIDTH = 120  # the same, in the collapsible full diff
SHORT_SHA = 12
MINUS = "\N{MINUS SIGN}"

GROUPS = (
    (Severity.ERROR, "Errors"),
    (Severity.WARNING, "Warnings"),
    (Severity.NOTE, "Notes"),
)

Measure = Callable[[str], int]


# --- small formatting helpers -----------------------------------------------------------------


def _plural(count: int, noun: str, plural: str | None = None) -> str:
    word = noun if count == 1 else (plural or noun + "s")
    return f"{count:,} {word}"


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _json(value: Any) -> str:
    """A field value as compact JSON (so ``null``, ``"1"`` and ``1`` stay distinct)."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(", ", ": "))


def _value(value: Any, width: int = VALUE_WIDTH) -> str:
    return "—" if value is None else _clip(_json(value), width)


def _scalar(value: Any, width: int = VALUE_WIDTH) -> str:
    """A scalar for a summary cell: strings without quotes."""
    if value is None:
        return "—"
    return _clip(value if isinstance(value, str) else _json(value), width)


def _short(sha: Any) -> str:
    return str(sha)[:SHORT_SHA]


_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")


def _plain(text: Any) -> str:
    """User text for a terminal, on one line: control characters shown as escapes, not obeyed."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", str(text))


_MARKDOWN_ESCAPES = {
    "&": "&amp;",
    "<": "&lt;",
    ">": "&gt;",
    "|": "&#124;",  # a cell separator even inside code spans
    "`": "&#96;",
    "$": "&#36;",  # GitHub math
    "\\": "\\\\",
    "*": "\\*",
    "_": "\\_",
    "[": "\\[",
    "]": "\\]",
    "~": "\\~",
    "@": "@&#8203;",  # no mentions (a zero-width space after @)
    "\r": " ",
    "\n": " ",
}
_MARKDOWN_SPECIAL = re.compile("[" + re.escape("".join(_MARKDOWN_ESCAPES)) + "]")


def escape_markdown(text: Any) -> str:
    """User text as inert one-line Markdown: no HTML, links, emphasis, mentions, cell breaks."""
    return _MARKDOWN_SPECIAL.sub(lambda m: _MARKDOWN_ESCAPES[m.group()], str(text))


def _code(text: Any) -> str:
    return f"<code>{escape_markdown(text)}</code>"


def _url(url: str) -> str:
    for char, code in ((" ", "%20"), ("(", "%28"), (")", "%29"), ("<", "%3C"), (">", "%3E")):
        url = url.replace(char, code)
    return url


def _see(evidence_url: str | None) -> str:
    if evidence_url is None:
        return "see the evidence page"
    return f"see the [evidence page]({_url(evidence_url)})"


# --- reading the pack -------------------------------------------------------------------------


def _finding(item: Mapping[str, Any], clean: Callable[[Any], str] = str) -> Finding:
    return Finding(
        path=clean(item["path"]),
        line=int(item["line"]),
        column=int(item["column"]),
        code=clean(item["code"]),
        severity=Severity(item["severity"]),
        message=clean(item["message"]),
        json_path=str(item.get("jsonPath", "$")),
    )


def _by_severity(findings: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Most severe first; the pack's order (file, position) within a severity."""
    return sorted(findings, key=lambda f: SEVERITY_ORDER[Severity(f["severity"])])


def _counts(findings: Sequence[Mapping[str, Any]]) -> dict[Severity, int]:
    counts = dict.fromkeys(Severity, 0)
    for item in findings:
        counts[Severity(item["severity"])] += 1
    return counts


def _counts_text(counts: Mapping[Severity, int]) -> str:
    return ", ".join(
        (
            _plural(counts[Severity.ERROR], "error"),
            _plural(counts[Severity.WARNING], "warning"),
            _plural(counts[Severity.NOTE], "note"),
        )
    )


def _approvals_text(required: int, routes: Sequence[Mapping[str, Any]] = ()) -> str:
    """What the change needs; with routes (``approvals.routes``), each route's count and teams."""
    needed = [_plural(required, "CAB approval")] if required else []
    needed += [
        f"{_plural(int(r['required']), 'approval')} from {' or '.join(r['teams'])} "
        f"(route {r['route']})"
        for r in routes
        if int(r["required"])
    ]
    if not needed:
        return "no CAB approval needed"
    return "needs " + " and ".join(needed)


def _routes(approvals: Mapping[str, Any]) -> Sequence[Mapping[str, Any]]:
    return list(approvals.get("routes") or ())


def routing_lines(approvals: Mapping[str, Any]) -> list[str]:
    """Plain lines explaining a routed pack's approvals (none for a pack without routes).

    Which teams count toward the tier's count, the count each tier needs, each matched route
    (teams, count, which files and why), and the separation-of-duties rules.
    """
    if "routes" not in approvals:
        return []
    tiers = approvals.get("tierApprovals") or {}
    return _rule_lines(
        [str(t) for t in approvals.get("cabTeams") or ()],
        [(str(tier), int(count)) for tier, count in tiers.items()],
        requirements_of(approvals),
        routed=True,
        rules=(SEPARATION_OF_DUTIES,),
    )


def approval_rules(approvals: Mapping[str, Any], config: Mapping[str, Any] | None) -> list[str]:
    """Plain lines: who can approve, the tier thresholds that set the count, the routes, the rules.

    With the ``eucora.yaml`` the change was judged under (``config``, the base's) and CAB teams
    or routes in it, the lines are read from it and the pack (``pack_approval_policy``), so a
    repository without routes is explained as fully as one with them (its pack keeps its bytes);
    without ``config``, only a routed pack's own record (:func:`routing_lines`).
    """
    if config is None or not _configures_cab(config):
        return routing_lines(approvals)
    policy = approval_policy(
        config,
        tier="",
        required=int(approvals["required"]),
        requirements=requirements_of(approvals),
    )
    return policy_rule_lines(policy, routed=routing_configured(config))


def policy_rule_lines(policy: ApprovalPolicy, *, routed: bool | None = None) -> list[str]:
    """Plain lines from approval settings (before any review is judged): as :func:`approval_rules`.

    ``routed``: whether the repository configures routes (to say when none matched); by
    default, whether the change matched any.
    """
    return _rule_lines(
        list(policy.cab_teams),
        list(policy.tier_approvals),
        policy.requirements,
        routed=bool(policy.requirements) if routed is None else routed,
        rules=policy.separation_of_duties(),
    )


def _configures_cab(config: Mapping[str, Any]) -> bool:
    cab = config.get("cab")
    return isinstance(cab, Mapping) and bool(cab.get("teams") or routing_configured(config))


def _rule_lines(
    teams: Sequence[str],
    tiers: Sequence[tuple[str, int]],
    requirements: Sequence[Requirement],
    *,
    routed: bool,
    rules: Sequence[str],
) -> list[str]:
    counts = ", ".join(f"{tier} {count}" for tier, count in tiers)
    who = ", ".join(teams) or "no CAB team configured"
    lines = [f"tier count from members of {who}; approvals per tier: {counts}"]
    for req in requirements:
        more = f" and {req.files - len(req.matched)} more" if req.files > len(req.matched) else ""
        why = f" ({req.description})" if req.description else ""
        lines.append(
            f"route {req.route}{why}: {_plural(req.required, 'approval')} from "
            f"{', '.join(req.teams)}; matched {'; '.join(req.matched)}{more}"
        )
    if routed and not requirements:
        lines.append("no route of cab.routes matches this change")
    lines.append(f"separation of duties: {'; '.join(rules)}")
    return lines


def approvals_needed(approvals: Mapping[str, Any]) -> str:
    """A check pack's approvals part in a few words, e.g. ``no CAB approval needed``.

    With routes: ``needs 1 CAB approval and 1 approval from org/mac-cab (route macos)``.
    """
    return _approvals_text(int(approvals["required"]), _routes(approvals))


def _verdict(view: CheckPackView) -> tuple[bool, str]:
    """Whether the change is blocked, and the short why (blocked) or what it still needs (pass)."""
    decision = view.decision
    if decision["conclusion"] == "blocked":
        return True, "; ".join(str(r) for r in decision["reasons"]) or "blocked"
    approvals = view.approvals
    return False, _approvals_text(int(approvals["required"]), _routes(approvals))


def _resolve(value: Any, tokens: Sequence[str]) -> Any:
    for token in tokens:
        if isinstance(value, dict):
            value = value.get(token)
        elif isinstance(value, list) and token.isdigit() and int(token) < len(value):
            value = value[int(token)]
        else:
            return None
    return value


def _tokens(pointer: str) -> list[str]:
    return [t.replace("~1", "/").replace("~0", "~") for t in pointer.split("/")[1:]]


def _field(diffs: Sequence[Mapping[str, Any]], pointer: str) -> tuple[Any, Any] | None:
    """Old and new value of a field, from its diff or an ancestor's; None when unchanged."""
    wanted = _tokens(pointer)
    for diff in diffs:
        have = _tokens(str(diff["path"]))
        if wanted[: len(have)] == have:
            rest = wanted[len(have) :]
            return _resolve(diff["old"], rest), _resolve(diff["new"], rest)
    return None


_RING = re.compile(r"^/rings/[0-9]+$")
_RING_DEVICES = re.compile(r"^/rings/[0-9]+/devices$")


def _devices(value: Any, pointer: str) -> tuple[int, int]:
    """Devices and rings under a diffed value, by where it sits in the intent."""
    if pointer == "":
        rings = value.get("rings") if isinstance(value, dict) else None
    elif pointer == "/rings":
        rings = value
    elif _RING.match(pointer):
        rings = [value] if value is not None else []
    elif _RING_DEVICES.match(pointer):
        count = value if isinstance(value, int) and not isinstance(value, bool) else 0
        return count, 0
    else:
        return 0, 0
    if not isinstance(rings, list):
        return 0, 0
    devices = [r.get("devices") for r in rings if isinstance(r, dict)]
    total = sum(d for d in devices if isinstance(d, int) and not isinstance(d, bool))
    return total, len(rings)


def _devices_text(change: Mapping[str, Any]) -> str:
    """Devices reached before → after (added, deleted) or the change in devices (modified)."""
    old_devices = new_devices = old_rings = new_rings = 0
    for diff in change["fieldDiffs"]:
        devices, rings = _devices(diff["old"], str(diff["path"]))
        old_devices, old_rings = old_devices + devices, old_rings + rings
        devices, rings = _devices(diff["new"], str(diff["path"]))
        new_devices, new_rings = new_devices + devices, new_rings + rings
    kind = change["kind"]
    if kind == "added" and new_rings:
        return f"0 → {new_devices:,} ({_plural(new_rings, 'ring')})"
    if kind == "deleted" and old_rings:
        return f"{old_devices:,} → 0 ({_plural(old_rings, 'ring')})"
    delta, ring_delta = new_devices - old_devices, new_rings - old_rings
    if delta == 0 and ring_delta == 0:
        return "—"
    text = f"{delta:+,}".replace("-", MINUS)
    if ring_delta:
        text += f" ({ring_delta:+} ring{'s' if abs(ring_delta) != 1 else ''})".replace("-", MINUS)
    return text


def _leaves(value: Any, pointer: str) -> list[tuple[str, Any]]:
    if isinstance(value, dict) and value:
        items: list[tuple[str, Any]] = [
            (str(k).replace("~", "~0").replace("/", "~1"), v) for k, v in sorted(value.items())
        ]
    elif isinstance(value, list) and value:
        items = [(str(i), v) for i, v in enumerate(value)]
    else:
        return [(pointer, value)]
    return [leaf for key, item in items for leaf in _leaves(item, f"{pointer}/{key}")]


def _same(leaf: str, path: str, line: Any) -> Any:
    """The diff's line belongs to its own path only, not to the leaves under it."""
    return line if leaf == path else None


def _flat_diffs(diffs: Sequence[Mapping[str, Any]]) -> list[tuple[str, Any, Any, Any]]:
    """Field diffs at the leaves: an added or removed object shows field by field.

    Its leaves get no line: the pack has the line of the object only.
    """
    out: list[tuple[str, Any, Any, Any]] = []
    for diff in diffs:
        path, old, new, line = str(diff["path"]), diff["old"], diff["new"], diff.get("line")
        if old is None and isinstance(new, dict | list):
            out.extend((p, None, v, _same(p, path, line)) for p, v in _leaves(new, path))
        elif new is None and isinstance(old, dict | list):
            out.extend((p, v, None, _same(p, path, line)) for p, v in _leaves(old, path))
        else:
            out.append((path, old, new, line))
    return out


def _riskiest(view: CheckPackView) -> str | None:
    """The intent whose score is the change's score (the first, if several tie)."""
    score = view.risk_score
    for change in view.changes:
        if change["risk"]["score"] == score and score > 0:
            return str(change["intent"])
    return None


def _raw_by_family(view: CheckPackView, intent: str | None) -> dict[str, int]:
    raw = dict.fromkeys(RISK_FAMILIES, 0)
    for factor in view.risk_factors:
        if factor["intent"] == intent:
            raw[factor["family"]] = raw.get(factor["family"], 0) + int(factor["points"])
    return raw


def _days_left(view: CheckPackView, expires: str) -> int | None:
    try:
        today = datetime.fromisoformat(str(view.evaluated_at)).date()
        return (date.fromisoformat(expires) - today).days
    except ValueError:
        return None


def _expiry_text(days: int | None) -> str:
    if days is None:
        return ""
    if days <= 0:
        return "expires today"
    return f"expires in {_plural(days, 'day')}"


def _soon(days: int | None) -> bool:
    return days is not None and days <= EXPIRING_WITHIN_DAYS


# --- terminal text ----------------------------------------------------------------------------


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


def _tier_raised(view: CheckPackView) -> str:
    """Why the tier is above what the score alone gives ("" when it is not)."""
    risk = view.risk
    score_tier = risk.get("scoreTier", risk["tier"])
    if score_tier == risk["tier"]:
        return ""
    why = [
        str(reason)
        for reason in view.approval_reasons
        if str(reason).startswith("the change edits")
    ]
    return f"the score alone gives {score_tier}; " + ("; ".join(why) or "a rule raised the tier")


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


def _summary(intent: Any) -> str:
    """One line for a whole intent: app, version, platform, plane and rings."""
    if not isinstance(intent, dict):
        return _value(intent)
    app_value, rings_value = intent.get("app"), intent.get("rings")
    app: dict[str, Any] = app_value if isinstance(app_value, dict) else {}
    rings: list[Any] = rings_value if isinstance(rings_value, list) else []
    ring_text = " → ".join(
        f"{r.get('name')} {r.get('devices')}" for r in rings if isinstance(r, dict)
    )
    return (
        f"{app.get('name')} {app.get('version')}, {intent.get('platform')} via "
        f"{intent.get('plane')}: {ring_text}"
    )


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


# --- Markdown: the sticky comment and the step summary ---------------------------------------


@dataclass(frozen=True, slots=True)
class _Listing:
    """A list or table whose rows may be cut to fit, with a line saying how many were left out."""

    head: str
    rows: tuple[tuple[str, str], ...]  # (group heading, row): a heading is written when it changes
    noun: str
    plural: str
    keep: int = 20  # rows kept before any other listing is cut
    tail: str = "\n"

    def render(self, shown: int, evidence_url: str | None) -> str:
        parts = [self.head]
        group = ""
        for heading, row in self.rows[:shown]:
            if heading != group:
                parts.append(heading)
                group = heading
            parts.append(row)
        hidden = len(self.rows) - shown
        if hidden:
            what = self.noun if hidden == 1 else self.plural
            parts.append(f"\n… {hidden:,} more {what} — {_see(evidence_url)}\n")
        parts.append(self.tail)
        return "".join(parts)


Block = str | _Listing


@dataclass(frozen=True, slots=True)
class _Layout:
    """The comment as blocks, and which to drop (details) and cut (listings) to fit, in order."""

    blocks: tuple[Block, ...]
    droppable: tuple[int, ...]
    cuttable: tuple[int, ...]


def _assemble(
    layout: _Layout, dropped: set[int], shown: Mapping[int, int], evidence_url: str | None
) -> str:
    parts = []
    for index, block in enumerate(layout.blocks):
        if index in dropped:
            continue
        if isinstance(block, _Listing):
            parts.append(block.render(shown.get(index, len(block.rows)), evidence_url))
        else:
            parts.append(block)
    return "".join(parts)


def _fit(layout: _Layout, limit: int, measure: Measure, evidence_url: str | None) -> str:
    """Everything if it fits; else without the details; else with listings cut, findings first.

    Listings are cut in two passes: first down to the few rows each keeps (so ten findings are not
    lost to a table of two thousand changes), then, only if that is not enough, further.
    """
    dropped: set[int] = set()
    shown: dict[int, int] = {}
    text = _assemble(layout, dropped, shown, evidence_url)
    for index in layout.droppable:
        if measure(text) <= limit:
            return text
        dropped.add(index)
        text = _assemble(layout, dropped, shown, evidence_url)
    for first_pass in (True, False):
        for index in layout.cuttable:
            if measure(text) <= limit:
                return text
            block = layout.blocks[index]
            if not isinstance(block, _Listing):
                continue
            current = shown.get(index, len(block.rows))
            floor = min(block.keep, current) if first_pass else 0

            def fits(count: int, index: int = index) -> bool:
                attempt = _assemble(layout, dropped, {**shown, index: count}, evidence_url)
                return measure(attempt) <= limit

            shown[index] = _most_rows(floor, current, fits)
            text = _assemble(layout, dropped, shown, evidence_url)
    if measure(text) <= limit:
        return text
    return _hard_cut(text, limit, measure)


def _most_rows(low: int, high: int, fits: Callable[[int], bool]) -> int:
    """The most rows in [low, high] that fit (``low`` when none does)."""
    while low < high:
        middle = (low + high + 1) // 2
        if fits(middle):
            low = middle
        else:
            high = middle - 1
    return low


def _hard_cut(text: str, limit: int, measure: Measure) -> str:
    """Last resort for a tiny limit: the text cut short, still within it."""
    suffix = "\n…\n"
    low, high = 0, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if measure(text[:middle] + suffix) <= limit:
            low = middle
        else:
            high = middle - 1
    return (text[:low] + suffix) if measure(text[:low] + suffix) <= limit else ""


def render_check_markdown(  # noqa: PLR0913 - keyword-only parts of the rendering
    pack: Mapping[str, Any],
    *,
    evidence_url: str | None = None,
    digest: str | None = None,
    max_chars: int = COMMENT_MAX_CHARS,
    config: Mapping[str, Any] | None = None,
    verdict: str | None = None,
) -> str:
    """The sticky pull request comment, within ``max_chars`` (GitHub's limit by default).

    When it is too long, the collapsible details go first, then findings are cut (with a line
    saying how many more, pointing at ``evidence_url``), then the other long listings.
    ``config`` and ``verdict``: as for :func:`render_check_text` (the verdict stands under the
    status line, which then says only the policy passed).
    """
    layout = _layout(CheckPackView.of(pack), evidence_url, digest, config, verdict)
    return _fit(layout, max_chars, len, evidence_url)


def _utf8_length(text: str) -> int:
    return len(text.encode("utf-8"))


def render_check_github(
    pack: Mapping[str, Any],
    *,
    evidence_url: str | None = None,
    digest: str | None = None,
    config: Mapping[str, Any] | None = None,
    verdict: str | None = None,
) -> tuple[str, str]:
    """Workflow commands (one annotation per finding, most severe first) and the step summary.

    GitHub shows only the first 10 error and 10 warning annotations of a step, so all are emitted
    with errors first. The summary is the Markdown rendering within 1 MiB of UTF-8, GitHub's limit.
    """
    view = CheckPackView.of(pack)
    commands = render_github([_finding(item) for item in _by_severity(view.findings)])
    layout = _layout(view, evidence_url, digest, config, verdict)
    summary = _fit(layout, STEP_SUMMARY_MAX_BYTES, _utf8_length, evidence_url)
    return commands, summary


def _layout(
    view: CheckPackView,
    evidence_url: str | None,
    digest: str | None,
    config: Mapping[str, Any] | None = None,
    verdict: str | None = None,
) -> _Layout:
    blocks: list[Block] = [
        _md_header(view, verdict),
        _md_changes(view),
        _md_other_files(view),
        _md_risk(view),
        _md_factors(view),
        _md_approvals(view, config),
        _md_findings(view),
        _md_waivers(view),
        _md_diff_details(view),
        _md_rule_details(view),
        _md_preview(view),
        _md_footer(view, evidence_url, digest),
    ]
    # drop: rule results, diffs, then the preview; cut: findings, changes, factors, waivers, files
    return _Layout(blocks=tuple(blocks), droppable=(9, 8, 10), cuttable=(6, 1, 4, 7, 2))


def _preview_lines(view: CheckPackView, clean: Callable[[Any], str]) -> list[str]:
    return [
        f"{clean(e['intent'])} ({clean(e['path'])}): "
        + "; ".join(
            part
            for part in (
                "now matches " + ", ".join(clean(r) for r in e["nowMatches"])
                if e["nowMatches"]
                else "",
                "no longer matches " + ", ".join(clean(r) for r in e["noLongerMatches"])
                if e["noLongerMatches"]
                else "",
                "would block" if e["wouldBlock"] else "",
            )
            if part
        )
        for e in view.policy_preview
    ]


def _md_preview(view: CheckPackView) -> str:
    """What the pull request's own rules would say: informational, the verdict is the base's."""
    lines = _preview_lines(view, escape_markdown)
    if not lines:
        return ""
    items = "".join(f"- {line}\n" for line in lines)
    return (
        "### Policy preview\n\nThis pull request changes the policies. The verdict above comes "
        "from the base revision's rules; with the new rules, these intents would be judged "
        f"differently:\n\n{items}\n"
    )


def _md_header(view: CheckPackView, verdict: str | None = None) -> str:
    blocked, _ = _verdict(view)
    risk, approvals = view.risk, view.approvals
    counts = _counts(view.findings)
    status = "❌ **Blocked**" if blocked else "✅ **Passed**"
    if verdict is not None and not blocked:
        status = "✅ **Policy passed**"
    required = int(approvals["required"])
    summary = [
        status,
        _plural(counts[Severity.ERROR], "error"),
        _plural(counts[Severity.WARNING], "warning"),
        f"risk **{risk['score']}/100 {risk['tier']}**"
        + (f" ({escape_markdown(raised)})" if (raised := _tier_raised(view)) else ""),
        f"**{required}** CAB approval{'s' if required != 1 else ''} required",
        f"{_plural(len(view.changes), 'intent')} changed",
    ]
    lines = [MARKER, "### EUCORA check", "", " · ".join(summary), ""]
    reasons = view.decision_reasons
    if blocked and reasons:
        lines.append("**Why it is blocked**")
        lines.extend(f"- {escape_markdown(reason)}" for reason in reasons)
        lines.append("")
    elif verdict is not None:
        lines.extend((f"**{escape_markdown(verdict)}**", ""))
    elif not blocked:
        needs = _approvals_text(required, _routes(approvals))
        lines.append(f"May merge once approved: {escape_markdown(needs)}.")
        lines.append("")
    if view.labels:
        labels = ", ".join(_code(label) for label in view.labels)
        lines.extend([f"Labels: {labels}", ""])
    return "\n".join(lines) + "\n"


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


def _md_approvals(view: CheckPackView, config: Mapping[str, Any] | None) -> str:
    approvals = view.approvals
    required = int(approvals["required"])
    title = "none required" if required == 0 else f"{_plural(required, 'CAB approval')} required"
    if any(int(r["required"]) for r in _routes(approvals)):
        title = _approvals_text(required, _routes(approvals)).removeprefix("needs ") + " required"
    lines = [f"#### Approvals: {title}", ""]
    lines.extend(f"- {escape_markdown(reason)}" for reason in approvals["reasons"])
    lines.extend(f"- {escape_markdown(line)}" for line in approval_rules(approvals, config))
    return "\n".join(lines) + "\n\n"


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


def _md_footer(view: CheckPackView, evidence_url: str | None, digest: str | None) -> str:
    if digest is None:
        pack_text = "Evidence pack: not stored yet; verify a stored pack with"
        verify = _code("eucora evidence verify <digest>")
    else:
        pack_text = f"Evidence pack {_code(digest)}; verify with"
        verify = _code(f"eucora evidence verify {digest}")
    parts = [
        f"{pack_text} {verify}",
        f"policy {_code(view.policy_digest)}",
        f"base {_code(_short(view.base))} → head {_code(_short(view.head))}",
        f"evaluated {escape_markdown(view.evaluated_at)}",
    ]
    if evidence_url is not None:
        parts.append(f"[evidence page]({_url(evidence_url)})")
    return "---\n<sub>" + " · ".join(parts) + "</sub>\n"
