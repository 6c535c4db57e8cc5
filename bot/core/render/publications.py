"""Publishing as the pull request shows it: the plan before merge, the table after, a refusal.

Markdown sections for the sticky comment. Every name, target, version, error and step comes from
an intent, a plane or a person, so every cell is escaped (:func:`escape_markdown`: no HTML, links,
mentions or cell breaks) and clipped, and each section is bounded in size whatever the number of
intents (a PR with a thousand intents lists the first rows and says how many more there are), so
the comment stays far below GitHub's 65,536 characters next to the check report.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot.core.publishing import PublicationState, PublicationView
from bot.core.render.formatting import escape_markdown

PUBLICATIONS_HEADING = "### Publications"
PLAN_HEADING = "### Plan: what merging will do"
REFUSED_HEADING = "### Merge refused: nothing was published"
RETRY_HINT = (
    "Failed publications can be retried: comment `/eucora retry-publish` "
    "(people with write access)."
)

SECTION_MAX_CHARS = 16_000
"""Each section stays below this, so the comment keeps room for the check report."""
MAX_TABLE_ROWS = 100
"""Publications listed in the table; the totals line and the change pack count them all."""
MAX_PLANS = 50
"""Plane/intent/ring entries in the plan."""
MAX_STEPS = 12
"""Steps listed per plan entry."""
MAX_SETTINGS = 20
"""Plane settings listed per plan entry."""
MAX_PROBLEMS = 20
NAME_WIDTH = 80
"""Names, targets and versions are cut to this many characters (escaped), with an ellipsis."""
TEXT_WIDTH = 240
"""Errors, steps and problem sentences are cut to this many characters (escaped)."""
URL_MAX = 2_000
"""A longer URL is not linked (it is no console address, and would bloat the comment)."""
SHORT_SHA = 12

_STATE_TEXT = {
    PublicationState.PENDING.value: "⏳ pending",
    PublicationState.IN_PROGRESS.value: "🔄 in progress",
    PublicationState.SUCCEEDED.value: "✅ published",
    PublicationState.FAILED.value: "❌ failed",
}
_STATE_ORDER = {
    PublicationState.FAILED.value: 0,
    PublicationState.IN_PROGRESS.value: 1,
    PublicationState.PENDING.value: 2,
    PublicationState.SUCCEEDED.value: 3,
}
_URL_KEEP = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789:/?#@!&'*+,;=%~-._"
)
"""Characters kept in a link target; the rest (spaces, parentheses, ``|``, ``<``...) are encoded."""


def _cell(text: object, width: int = NAME_WIDTH) -> str:
    """User text as inert one-line Markdown of at most ``width`` characters *after* escaping.

    Escaping can make a character eight times longer (``@`` becomes ``@&#8203;``), so the text is
    measured escaped, and cut between escapes (never inside one), with an ellipsis.
    """
    flat = " ".join(str(text).split())
    escaped = escape_markdown(flat)
    if len(escaped) <= width:
        return escaped or "—"
    out: list[str] = []
    used = 0
    for char in flat:
        piece = escape_markdown(char)
        if used + len(piece) > width - 1:
            break
        out.append(piece)
        used += len(piece)
    return "".join(out) + "…"


def _code(text: object, width: int = NAME_WIDTH) -> str:
    return f"<code>{_cell(text, width)}</code>"


def _linkable(url: str | None) -> bool:
    return url is not None and len(url) <= URL_MAX and url.startswith(("https://", "http://"))


def _link(text: str, url: str | None) -> str:
    """``text`` (already escaped) linked to ``url`` when it is a sane http(s) URL, else plain."""
    if url is None or not _linkable(url):
        return text
    href = "".join(
        char
        if char in _URL_KEEP
        else "".join(f"%{byte:02X}" for byte in char.encode(errors="replace"))
        for char in url
    )
    return f"[{text}]({href})"


def _fit(head: str, lines: Sequence[str], total: int, more: str, tail: str) -> str:
    """``head``, as many ``lines`` as fit in :data:`SECTION_MAX_CHARS`, ``more``, then ``tail``.

    ``lines`` render the first of ``total`` items; ``more`` (a template with ``{count}``) says how
    many items are not shown, and is left out when all are.
    """
    room = SECTION_MAX_CHARS - len(head) - len(tail) - len(more) - 16
    shown: list[str] = []
    used = 0
    for line in lines:
        if used + len(line) + 1 > room:
            break
        shown.append(line)
        used += len(line) + 1
    cut = total - len(shown)
    note = more.format(count=f"{cut:,}") if cut else ""
    return head + "".join(f"{line}\n" for line in shown) + note + tail


# --- after merge: the publication table -----------------------------------------------------------


def _totals(views: Sequence[PublicationView]) -> str:
    counts = {state.value: 0 for state in PublicationState}
    for view in views:
        counts[view.state] = counts.get(view.state, 0) + 1
    done = PublicationState.SUCCEEDED.value
    retiring = [v for v in views if v.retires]
    published = len(views) - len(retiring)
    retired = sum(v.state == done for v in retiring)
    parts = [f"{counts[done] - retired:,} of {published:,} published"]
    if retiring:
        parts.append(f"{retired:,} of {len(retiring):,} retired")
    for state, word in (
        (PublicationState.FAILED.value, "failed"),
        (PublicationState.IN_PROGRESS.value, "in progress"),
        (PublicationState.PENDING.value, "pending"),
    ):
        if counts[state]:
            parts.append(f"{counts[state]:,} {word}")
    other = sum(n for state, n in counts.items() if state not in _STATE_ORDER)
    if other:
        parts.append(f"{other:,} in an unknown state")
    return ", ".join(parts)


def _outcome(view: PublicationView) -> str:
    if view.retires and view.state == PublicationState.SUCCEEDED.value:
        return "retired: removed from its plane (the intent was deleted)"
    if view.state == PublicationState.SUCCEEDED.value:
        what = _cell(view.object_id) if view.object_id else "published"
        reused = " (existing object reused)" if view.created is False else ""
        return _link(what, view.url) + reused
    if view.error:
        return _cell(view.error, TEXT_WIDTH)
    return "—"


def _row(view: PublicationView) -> str:
    state = _STATE_TEXT.get(view.state, _cell(view.state))
    if view.retires:
        state = (
            "🗑️ retired" if view.state == PublicationState.SUCCEEDED.value else f"{state} (retire)"
        )
    attempts = f" (attempt {view.attempts:,})" if view.attempts > 1 else ""
    return (
        f"| {_cell(view.plane)} | {_cell(view.ring)} ({_code(view.target)}) | "
        f"{_cell(view.intent_name)} | {_cell(view.version)} | {state}{attempts} | "
        f"{_outcome(view)} |"
    )


def publication_table(views: Sequence[PublicationView], *, change_url: str | None) -> str:
    """The comment's publication section: totals, one row per publication, what to do next.

    Failed rows come first, then those in progress, pending and published (by id within each),
    so a cut table still shows what needs attention. The ``/eucora retry-publish`` hint appears
    when any failed; the change pack is linked when ``change_url`` is given.
    """
    link = f"\nEvidence: {_link('change pack', change_url)}.\n" if _linkable(change_url) else ""
    if not views:
        nothing = "Nothing to publish: no intent was added, changed or renamed."
        return f"{PUBLICATIONS_HEADING}\n\n{nothing}\n{link}"
    ordered = sorted(views, key=lambda v: (_STATE_ORDER.get(v.state, -1), v.id))
    rows = [_row(v) for v in ordered[:MAX_TABLE_ROWS]]
    head = (
        f"{PUBLICATIONS_HEADING}\n\n{_totals(views)}.\n\n"
        "| Plane | Ring (target) | Intent | Version | State | Plane object or reason |\n"
        "|---|---|---|---|---|---|\n"
    )
    failed = any(v.state == PublicationState.FAILED.value for v in views)
    tail = (f"\n{RETRY_HINT}\n" if failed else "") + link
    more = "\n…and {count} more publications, not listed here; the change pack lists them all.\n"
    return _fit(head, rows, len(views), more, tail)


# --- before merge: the plan -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class PlanView:
    """What merging would do for one intent on one ring of its plane, read from the plane."""

    plane: str
    intent_name: str
    ring: str
    target: str
    steps: tuple[tuple[str, str], ...]
    """(``connectors.base.StepKind`` value, description) from ``Connector.plan``."""
    error: str | None = None
    """The plane could not be read: why (the plan is then unknown)."""
    retire: bool = False
    """The PR deletes the intent: merging retires it from its plane (``steps`` are empty)."""
    settings: tuple[tuple[str, Any], ...] = ()
    """The plane settings the publication sends (``publishing.plane_settings_sent``)."""


RETIRE_PLAN = (
    "retire: the pull request deletes this intent, so merging retires it from its plane"
    " (its assignments removed, its objects disabled where the plane allows)"
)


def _plan_entry(plan: PlanView) -> str:
    title = (
        f"- **{_cell(plan.plane)}**: {_cell(plan.intent_name)} → {_cell(plan.ring)} "
        f"({_code(plan.target)})"
    )
    if plan.retire:
        return f"{title}: {RETIRE_PLAN}"
    if plan.error is not None:
        return f"{title}: ⚠️ the plane could not be read: {_cell(plan.error, TEXT_WIDTH)}" + (
            _settings_lines(plan.settings)
        )
    if not plan.steps:
        return f"{title}: nothing to do" + _settings_lines(plan.settings)
    steps = [
        f"  - {_cell(kind)}: {_cell(description, TEXT_WIDTH)}"
        for kind, description in plan.steps[:MAX_STEPS]
    ]
    if len(plan.steps) > MAX_STEPS:
        steps.append(f"  - …and {len(plan.steps) - MAX_STEPS:,} more steps")
    return "\n".join([title, *steps]) + _settings_lines(plan.settings)


def _settings_lines(settings: Sequence[tuple[str, Any]]) -> str:
    """The settings sent, one sub-bullet each (empty, so the entry reads as before, if none)."""
    if not settings:
        return ""
    lines = [
        f"    - {_code(name)}: {_code(_compact(value), TEXT_WIDTH)}"
        for name, value in settings[:MAX_SETTINGS]
    ]
    if len(settings) > MAX_SETTINGS:
        lines.append(f"    - …and {len(settings) - MAX_SETTINGS:,} more settings")
    return "\n  - settings sent:\n" + "\n".join(lines)


def _compact(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "), sort_keys=True)


def plan_markdown(plans: Sequence[PlanView], *, unconfigured: Sequence[str] = ()) -> str:
    """The comment's plan section, like ``terraform plan``: per plane, intent and ring, the steps.

    Planes named by intents but not configured on this installation come first, as publishing
    nothing. Empty when there is neither a plan nor an unconfigured plane.
    """
    if not plans and not unconfigured:
        return ""
    ordered = sorted(plans, key=lambda p: (p.plane, p.intent_name, p.ring))
    entries = [
        f"- not configured: nothing will be published to **{_cell(plane)}**"
        for plane in sorted(set(unconfigured))
    ]
    entries.extend(_plan_entry(p) for p in ordered[:MAX_PLANS])
    total = len(entries) + len(ordered) - min(len(ordered), MAX_PLANS)
    return _fit(
        f"{PLAN_HEADING}\n\n", entries, total, "- …and {count} more, not listed here.\n", ""
    )


# --- a merge that may not publish -----------------------------------------------------------------


def merge_refused_markdown(problems: Sequence[tuple[str, str]], *, merge_sha: str) -> str:
    """The comment's section when a merge publishes nothing: one bullet per problem."""
    bullets = [
        f"- **{_cell(problem.replace('_', ' '))}**: {_cell(sentence, TEXT_WIDTH)}"
        for problem, sentence in problems[:MAX_PROBLEMS]
    ]
    if len(problems) > MAX_PROBLEMS:
        bullets.append(f"- …and {len(problems) - MAX_PROBLEMS:,} more problems")
    return (
        f"{REFUSED_HEADING}\n\n"
        f"Merge commit {_code(merge_sha[:SHORT_SHA])} was not published to any plane:\n\n"
        + "".join(f"{b}\n" for b in bullets)
    )
