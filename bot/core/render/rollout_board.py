"""The rollout board: every recent rollout as one self-contained HTML5 page (``GET /rollouts``).

What a change manager opens to see where every rollout stands: per rollout its plane, version and
phase (with why it is held, halted or superseded, and its alerts), and per ring its state, the
success rate against the gate, the devices last read and the soak left, with links to the pull
request, each ring's GitHub deployments and the evidence (the approved change's check pack and
every rollout evidence record), and the open drift of its (intent, plane): what the plane holds
against git, field by field. Built from the same view as ``eucora rollout status`` and the
JSON form (:func:`bot.core.render.rollouts.rollout_view`), so the three agree.

Like the evidence page (whose styles and helpers it shares): no JavaScript, no external assets,
every value escaped for HTML, state written in words (never colour alone), captioned tables with
scoped header cells.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from bot.core.render.evidence_html import (
    _CSS,
    _code,
    _link,
    _quote_path,
    _table,
    escape_html,
)
from bot.core.render.rollout_section import gate_text, installed_text, soak_text
from bot.core.render.rollouts import DriftItems, rollout_view
from bot.core.rollout_model import RolloutPhase, RolloutRecord

FOOTER = (
    '<footer><div class="wrap">Read from the rollouts store; '
    "<code>eucora rollout status</code> prints the same.</div></footer>"
)
EMPTY = "No rollouts yet: one starts when a merge's first ring is published."
SHORT_SHA = 12
SHORT_DIGEST = 19  # "sha256:" and 12 hex digits
_PHASE_WORD = {
    "active": "ROLLING OUT",
    "held": "HELD",
    "halted": "HALTED",
    "complete": "COMPLETE",
    "superseded": "SUPERSEDED",
}
_RING_WORD = {
    "waiting": "waiting",
    "active": "active",
    "passed": "passed",
    "failed": "failed",
    "held": "held",
}
_BOARD_CSS = """
.banner.board{background:var(--soft);color:var(--fg);border-color:var(--line)}
.rollout{margin:1.5rem 0;padding:0 0 .5rem;border-bottom:1px solid var(--line)}
.rollout h2{display:flex;flex-wrap:wrap;align-items:baseline;gap:.25rem .6rem;border:0}
.phase{display:inline-block;padding:0 .45em;border:1px solid;border-radius:4px;font-weight:700;
font-size:.8125rem;letter-spacing:.03em;white-space:nowrap}
.phase-active{background:var(--note-bg);color:var(--note-fg)}
.phase-held,.ring-held{background:var(--warn-bg);color:var(--warn-fg)}
.phase-halted,.ring-failed{background:var(--block-bg);color:var(--block-fg)}
.phase-complete,.ring-passed{background:var(--pass-bg);color:var(--pass-fg)}
.phase-superseded,.ring-waiting{background:var(--soft);color:var(--muted)}
.ring-active{background:var(--note-bg);color:var(--note-fg)}
.why{margin:.25rem 0;padding:.5rem .75rem;border-left:6px solid var(--warn-line);
background:var(--warn-bg);color:var(--warn-fg);overflow-wrap:anywhere}
.why.halted{border-left-color:var(--block-line);background:var(--block-bg);color:var(--block-fg)}
.alerts{margin:.25rem 0;padding-left:1.25rem;color:var(--block-fg)}
.links{margin:.25rem 0;padding:0;list-style:none;font-size:.9375rem}
.links li{display:inline;margin-right:1rem}
"""


def github_web_url(api_url: str) -> str:
    """GitHub's web address for its REST API address (github.com, GHES ``/api/v3``, a double)."""
    base = api_url.rstrip("/")
    if base == "https://api.github.com":
        return "https://github.com"
    return base.removesuffix("/api/v3")


def _environment_url(repository_url: str, plane: str, ring: str) -> str:
    """The deployments of environment ``<plane>/<ring>`` on GitHub (its name %-encoded)."""
    name = _quote_path(f"{plane}/{ring}").replace("/", "%2F")
    return f"{repository_url}/deployments/{name}"


def _ring_row(view: Mapping[str, Any], ring: Mapping[str, Any], repository_url: str) -> str:
    phase = str(ring["phase"])
    word = _RING_WORD.get(phase, phase)
    deployment = "—"
    if phase != "waiting":
        url = _environment_url(repository_url, str(view["plane"]), str(ring["name"]))
        deployment = _link(f"{view['plane']}/{ring['name']}", url)
    errors = f", {ring['readErrors']} failed reads" if ring.get("readErrors") else ""
    return (
        f'<tr><th scope="row">{_code(ring["name"])}</th>'
        f'<td><span class="phase ring-{escape_html(phase)}">{escape_html(word)}</span></td>'
        f'<td class="num">{escape_html(ring.get("successRate") or "n/a")}</td>'
        f"<td>{escape_html(gate_text(ring))}</td>"
        f"<td>{escape_html(installed_text(ring) + errors)}</td>"
        f'<td class="num">{escape_html(soak_text(ring.get("soakLeftSeconds")))}</td>'
        f"<td>{deployment}</td></tr>"
    )


def _evidence_links(record: RolloutRecord, packs: Sequence[str]) -> str:
    items = [
        f"<li>approved change: {_link(record.evidence_digest[:SHORT_DIGEST], _evidence(record.evidence_digest))}</li>"  # noqa: E501
    ]
    items += [
        f"<li>ring decision {i}: {_link(digest[:SHORT_DIGEST], _evidence(digest))}</li>"
        for i, digest in enumerate(packs, start=1)
    ]
    return f'<ul class="links" aria-label="Evidence">{"".join(items)}</ul>'


def _evidence(digest: str) -> str:
    """The evidence page of a digest on this server (``sha256:`` kept, anything odd encoded)."""
    return f"/evidence/{_quote_path(digest).replace('%3A', ':')}"


def _drift(view: Mapping[str, Any]) -> str:
    """The drift column: each field the plane holds otherwise than git (none: nothing shown)."""
    items = view["drift"]
    if not items:
        return ""
    rows = [
        f'<tr><th scope="row">{_code(item["field"] or "/")}</th>'
        f"<td>{escape_html(item['kind'])}</td>"
        f"<td>{escape_html(item['git'])}</td>"
        f"<td>{escape_html(item['plane'])}</td></tr>"
        for item in items
    ]
    return _table(
        f"Drift of {escape_html(view['intent'])} on {escape_html(view['plane'])}: "
        f"{len(items)} {'field differs' if len(items) == 1 else 'fields differ'} from git",
        [("Field", ""), ("Drift", ""), ("Git", ""), ("Plane", "")],
        rows,
    )


def _rollout(
    record: RolloutRecord,
    *,
    now: datetime,
    web_url: str,
    packs: Sequence[str],
    drift: DriftItems = (),
) -> str:
    view = rollout_view(record, now=now, drift=drift)
    phase = str(view["phase"])
    repository_url = f"{web_url}/{_quote_path(record.repository)}"
    pr_url = f"{repository_url}/pull/{int(record.pr)}"
    anchor = f"rollout-{int(record.id)}"
    heading = (
        f'<h2 id="{anchor}-h"><span>{_code(view["intent"])} {escape_html(view["version"])}</span> '
        f'<span class="muted">on {escape_html(view["plane"])}</span> '
        f'<span class="phase phase-{escape_html(phase)}">'
        f"{escape_html(_PHASE_WORD.get(phase, phase.upper()))}</span></h2>"
    )
    facts = (
        '<ul class="links">'
        f"<li>{_link(f'{record.repository}#{record.pr}', pr_url)}</li>"
        f"<li>merge {_code(record.merge_sha[:SHORT_SHA])}</li>"
        f"<li>{_code(record.path)}</li>"
        + (f"<li>watching {_code(view['watching'])}</li>" if phase == "active" else "")
        + "</ul>"
    )
    why = ""
    if view["reason"]:
        css = "why halted" if phase == RolloutPhase.HALTED.value else "why"
        why = f'<p class="{css}">{escape_html(view["reason"])}</p>'
    alerts = ""
    if view["alerts"]:
        items = "".join(f"<li>alert: {escape_html(alert)}</li>" for alert in view["alerts"])
        alerts = f'<ul class="alerts">{items}</ul>'
    rings = _table(
        f"Rings of {escape_html(view['intent'])} {escape_html(view['version'])}",
        [
            ("Ring", ""),
            ("State", ""),
            ("Success rate", "num"),
            ("Gate", ""),
            ("Devices", ""),
            ("Soak left", "num"),
            ("Deployments", ""),
        ],
        [_ring_row(view, ring, repository_url) for ring in view["rings"]],
    )
    return (
        f'<section id="{anchor}" class="rollout" aria-labelledby="{anchor}-h">'
        f"{heading}{facts}{why}{alerts}{rings}{_drift(view)}{_evidence_links(record, packs)}"
        "</section>"
    )


def _summary(records: Sequence[RolloutRecord]) -> str:
    counts = Counter(record.state.phase.value for record in records)
    parts = [
        f"{counts[phase.value]} {_PHASE_WORD[phase.value].lower()}"
        for phase in RolloutPhase
        if counts[phase.value]
    ]
    return ", ".join(parts)


def render_rollout_board(
    records: Sequence[RolloutRecord],
    *,
    now: datetime,
    web_url: str = "https://github.com",
    evidence: Mapping[int, Sequence[str]] | None = None,
    drift: Mapping[int, DriftItems] | None = None,
) -> str:
    """The board for ``records`` (newest first) as of ``now``.

    ``web_url`` is GitHub's web address (:func:`github_web_url`); ``evidence`` maps a rollout's
    id to the digests of its rollout evidence records, oldest first; ``drift`` maps it to the
    open drift of its (intent, plane), as the drift store holds it.
    """
    packs = evidence or {}
    drifting = drift or {}
    base = web_url.rstrip("/")
    stamp = now.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    summary = _summary(records)
    banner = (
        '<header class="banner board"><div class="wrap">'
        '<p class="kicker">EUCORA</p><h1>Rollouts</h1>'
        f"<p>{escape_html(summary or EMPTY)}</p>"
        f'<p class="muted">As of {escape_html(stamp)}; the {len(records)} newest rollouts.</p>'
        "</div></header>"
    )
    body = "".join(
        _rollout(
            record,
            now=now,
            web_url=base,
            packs=packs.get(record.id, ()),
            drift=drifting.get(record.id, ()),
        )
        for record in records
    )
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="color-scheme" content="light">',
        '<meta name="referrer" content="no-referrer">',
        "<title>Rollouts · EUCORA</title>",
        f"<style>{_CSS.strip()}{_BOARD_CSS.strip()}</style>",
        "</head>",
        "<body>",
        '<a class="skip" href="#main">Skip to the rollouts</a>',
        banner,
        f'<main id="main" class="wrap">{body}</main>',
        FOOTER,
        "</body>",
        "</html>",
    ]
    return "\n".join(parts) + "\n"
