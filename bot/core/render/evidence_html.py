"""The evidence page: one evidence pack as a self-contained HTML5 document.

The page is what a change manager, an auditor or the author opens from the pull request comment,
often on a phone. It has no external assets (inline CSS, no fonts, no images) and no JavaScript, so
it works under a ``default-src 'none'`` Content-Security-Policy, offline, and saved to disk. It
renders a pack *dict* (as ``build_check_pack`` builds it or as read back from the evidence store),
never live check objects, so a stored pack re-renders byte for byte.

Every value from the pack is escaped for HTML text and attributes. Status is written in words
(PASS, BLOCKED, Error, Warning, the tier name), never carried by colour alone, and every table has a
caption and header cells with a scope (WCAG 2.2: 1.3.1 Info and Relationships, 1.4.1 Use of Color).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot.core.audit_events import AuditEvent
from bot.core.evidence_proof import records_pack
from bot.core.families import RISK_FAMILIES
from bot.core.findings import Severity
from bot.core.pack_view import ChangePackView, CheckPackView
from bot.core.render.approval_lines import routing_lines
from bot.core.render.check_reading import (
    _days_left,
    _expiry_text,
    _preview_lines,
    _raw_by_family,
    _riskiest,
    _soon,
)
from bot.core.render.field_diffs import _field, _flat_diffs, _summary
from bot.core.render.formatting import _plural, _scalar, _short, _value
from bot.core.render.pack_findings import GROUPS, _by_severity, _counts, _counts_text

DETAIL_VALUE_WIDTH = 160  # a field value longer than this is cut, with an ellipsis
VERIFY_COMMAND = "eucora evidence verify"
VERIFY_EXPLANATION = "the pack's sha256 of its RFC 8785 canonical JSON is the digest"

_HTML_ESCAPES = str.maketrans(
    {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#x27;"}
)


def escape_html(value: Any) -> str:
    """Text for HTML content or a quoted attribute: exactly ``html.escape(str(value), quote=True)``.

    Written out because the core imports only the modules ``tests/test_architecture.py`` allows;
    ``tests/core/test_evidence_html.py`` checks it against the standard library on any text.
    """
    return str(value).translate(_HTML_ESCAPES)


_URL_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~/")


def _quote_path(path: str) -> str:
    """A repository path as a URL path: unreserved characters and ``/`` kept, the rest %-encoded."""
    return "".join(
        char if char in _URL_SAFE else "".join(f"%{byte:02X}" for byte in char.encode("utf-8"))
        for char in path
    )


def _blob_url(repository_url: str | None, head: str, path: str, line: int | None) -> str | None:
    """GitHub's address of a file line at the head commit, or None without an http(s) base."""
    if repository_url is None or not repository_url.startswith(("https://", "http://")):
        return None
    url = f"{repository_url.rstrip('/')}/blob/{_quote_path(head)}/{_quote_path(path)}"
    return url if line is None else f"{url}#L{int(line)}"


def _link(text: str, url: str | None) -> str:
    """Escaped text, as a link when there is an address."""
    if url is None:
        return escape_html(text)
    return f'<a href="{escape_html(url)}">{escape_html(text)}</a>'


def _code(value: Any) -> str:
    return f"<code>{escape_html(value)}</code>"


def _arrow(before: str, after: str) -> str:
    """Two already-escaped values as ``before → after``, the arrow read as "to"."""
    return (
        f'<span class="before">{before}</span> <span class="arrow" aria-hidden="true">→</span>'
        f'<span class="sr"> to </span> <span class="after">{after}</span>'
    )


# --- what the server knows beside the pack -------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class PullRequestRef:
    """The pull request a pack is about, as the server knows it (the pack holds no title)."""

    number: int
    url: str | None = None
    title: str | None = None
    author: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PageContext:
    """What the evidence page shows beside the pack itself.

    ``related`` are (label, digest) pairs of the packs linked to this one (a check pack's change
    packs, a change pack's check pack). ``key_ids`` are the key ids of the signatures on the
    envelope stored next to the pack (``()``: no envelope, unsigned); ``None`` when unknown.
    """

    pull_request: PullRequestRef | None = None
    related: tuple[tuple[str, str], ...] = ()
    key_ids: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class IndexEntry:
    """One stored pack in the index of ``/evidence/``: what the audit log recorded of it."""

    digest: str
    kind: str
    repository: str
    pull_request: PullRequestRef | None
    stored: str
    key_ids: tuple[str, ...] = ()


KIND_WORDS = {"CheckPack": "check", "ChangePack": "change", "RolloutPack": "rollout"}


_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}\Z")


def pack_href(digest: str) -> str:
    """A pack's page, relative to ``/evidence/`` and to any pack's page (``./sha256:…``).

    A well-formed digest is written as it is (``./`` keeps ``sha256:`` from reading as a
    scheme); anything else is %-encoded, so it stays a path under ``/evidence/``.
    """
    return f"./{digest if _DIGEST.match(digest) else _quote_path(digest).replace('/', '%2F')}"


def _pack_link(digest: str) -> str:
    return f'<a href="{escape_html(pack_href(digest))}"><code>{escape_html(digest)}</code></a>'


def _pull_request_text(ref: PullRequestRef) -> str:
    """``#12 Title by author``, the number a link when there is an address."""
    url = ref.url if ref.url is not None and _http(ref.url) else None
    text = _link(f"#{int(ref.number)}", url)
    if ref.title:
        text += f" {escape_html(ref.title)}"
    if ref.author:
        text += f" by {escape_html(ref.author)}"
    return text


def _context_lines(context: PageContext | None, *, pull_request: bool = True) -> str:
    """The banner's lines naming the pull request and the linked packs."""
    if context is None:
        return ""
    lines = []
    if pull_request and context.pull_request is not None:
        lines.append(f"Pull request {_pull_request_text(context.pull_request)}")
    lines.extend(f"{escape_html(label)}: {_pack_link(digest)}" for label, digest in context.related)
    return "".join(f'<p class="needs">{line}.</p>' for line in lines)


def _pull_request_fact(number: int, context: PageContext | None) -> str:
    """The pack's pull request number, with its link, title and author when the server knows."""
    if context is not None and context.pull_request is not None:
        return _pull_request_text(context.pull_request)
    return f"#{number}"


def _signature(context: PageContext | None) -> str:
    """The signature on the stored pack: its key ids, or that it has none."""
    if context is None or context.key_ids is None:
        return ""
    if not context.key_ids:
        return (
            "<h3>Signature</h3><p><strong>Not signed</strong>: no DSSE envelope is stored with "
            "this pack, so only its digest can be checked.</p>"
        )
    keys = ", ".join(_code(key) for key in context.key_ids)
    return (
        f"<h3>Signature</h3><p>Signed (DSSE, Ed25519) by key {keys}. "
        f"{_code(VERIFY_COMMAND + ' --public-key KEY')} checks it against the key you trust; "
        "this page does not.</p>"
    )


def index_entries(events: Sequence[AuditEvent]) -> list[IndexEntry]:
    """The stored packs the audit log's ``evidence.stored`` events name, newest first, once each."""
    seen: set[str] = set()
    entries = []
    for event in reversed(events):
        payload = event.payload
        if not records_pack(event, str(payload.get("digest")) if isinstance(payload, dict) else ""):
            continue
        digest = str(payload["digest"])
        if digest in seen:
            continue
        seen.add(digest)
        key = payload.get("keyid")
        entries.append(
            IndexEntry(
                digest=digest,
                kind=str(payload.get("kind") or ""),
                repository=event.repository,
                pull_request=PullRequestRef(number=event.pr) if event.pr is not None else None,
                stored=event.time,
                key_ids=(str(key),) if key else (),
            )
        )
    return entries


def render_evidence_index(entries: Sequence[IndexEntry]) -> str:
    """The index of stored packs at ``/evidence/``: newest first as given, one row each."""
    rows = [
        f"<tr><td>{escape_html(_when(e.stored))}</td>"
        f"<td>{escape_html(KIND_WORDS.get(e.kind, e.kind))}</td>"
        f"<td>{_code(e.repository)}</td>"
        f"<td>{_pull_request_text(e.pull_request) if e.pull_request else '—'}</td>"
        f"<td>{'signed' if e.key_ids else 'not signed'}</td>"
        f"<td>{_pack_link(e.digest)}</td></tr>"
        for e in entries
    ]
    body = (
        _table(
            f"Evidence packs ({len(entries):,}), newest first",
            [
                ("Stored", ""),
                ("Kind", ""),
                ("Repository", ""),
                ("Pull request", "text"),
                ("Signature", ""),
                ("Digest", ""),
            ],
            rows,
        )
        if rows
        else "<p>No evidence pack is stored yet.</p>"
    )
    banner = (
        '<header class="banner pass"><div class="wrap">'
        '<p class="kicker">EUCORA evidence</p><h1>Evidence packs</h1>'
        "<p>Every pack the App stored: the checks of pull requests, the changes merged and "
        "published, and the rollout decisions.</p></div></header>"
    )
    footer = (
        '<footer><div class="wrap">This page has no scripts and loads nothing else.</div></footer>'
    )
    return _document(
        "Evidence packs · EUCORA evidence",
        banner,
        [("packs", "Packs", _section("packs", "Packs", body))],
        footer,
    )


# --- the document -----------------------------------------------------------------------------

_CSS = """
:root{--fg:#1b1f24;--muted:#4a5360;--bg:#fff;--soft:#f4f6f8;--line:#d0d7de;--link:#0a4bab;
--pass-bg:#e6f4ea;--pass-fg:#0d4a23;--pass-line:#2b8a4b;--block-bg:#fdeceb;--block-fg:#7f1d1d;
--block-line:#c62828;--warn-bg:#fff4d1;--warn-fg:#5c4300;--warn-line:#b7860b;
--note-bg:#e8f0fe;--note-fg:#17365d;--note-line:#3b6fd4}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%;text-size-adjust:100%}
body{margin:0;background:var(--bg);color:var(--fg);
font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
.wrap{max-width:64rem;margin:0 auto;padding:0 1rem}
a{color:var(--link);text-underline-offset:2px}
a:focus-visible,summary:focus-visible,.scroll:focus-visible{outline:3px solid #1a56db;
outline-offset:2px}
code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,"Liberation Mono",monospace;
font-size:.875em}
code{overflow-wrap:anywhere}
pre{margin:.5rem 0;padding:.75rem;background:var(--soft);border:1px solid var(--line);
border-radius:6px;white-space:pre-wrap;overflow-wrap:anywhere}
.skip{position:absolute;left:-100vw;top:0}
.skip:focus{left:1rem;top:1rem;z-index:1;padding:.5rem 1rem;background:#fff;color:var(--link)}
.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
.banner{padding:1rem 0 1.25rem;border-bottom:6px solid}
.banner.pass{background:var(--pass-bg);color:var(--pass-fg);border-color:var(--pass-line)}
.banner.blocked{background:var(--block-bg);color:var(--block-fg);border-color:var(--block-line)}
.kicker{margin:0;font-size:.875rem;overflow-wrap:anywhere}
h1{margin:.25rem 0 .5rem;font-size:1.75rem;line-height:1.2}
.verdict{display:inline-block;margin-right:.4rem;padding:.05em .45em;border:2px solid;
border-radius:6px;letter-spacing:.04em}
.banner ul{margin:.25rem 0 .5rem;padding-left:1.25rem}
.banner p{margin:.25rem 0}
.facts{display:grid;grid-template-columns:repeat(auto-fit,minmax(9.5rem,1fr));gap:.5rem;
margin:1rem 0 0;padding:0}
.facts div{padding:.5rem .75rem;background:rgba(255,255,255,.75);border:1px solid var(--line);
border-radius:6px;color:var(--fg)}
.facts dt{font-size:.8125rem;color:var(--muted)}
.facts dd{margin:0;font-weight:600;overflow-wrap:anywhere}
nav{border-bottom:1px solid var(--line);background:var(--soft)}
nav ul{display:flex;flex-wrap:wrap;gap:.25rem 1rem;margin:0;padding:.5rem 0;list-style:none;
font-size:.9375rem}
nav a{display:inline-block;padding:.25rem 0}
h2{margin:2rem 0 .5rem;padding-bottom:.25rem;border-bottom:1px solid var(--line);font-size:1.35rem}
h3{margin:1.25rem 0 .5rem;font-size:1.1rem;overflow-wrap:anywhere}
.muted{color:var(--muted)}
.scroll{overflow-x:auto;margin:.5rem 0 1rem;border:1px solid var(--line);border-radius:6px}
table{width:100%;border-collapse:collapse;font-size:.9375rem}
caption{padding:.5rem .75rem;background:var(--soft);font-weight:600;text-align:left}
th,td{padding:.45rem .75rem;border-top:1px solid var(--line);text-align:left;vertical-align:top}
thead th{background:var(--soft);font-size:.8125rem}
tbody th{font-weight:600}
tbody th.text{font-weight:400}
td code,th code{white-space:nowrap;overflow-wrap:normal}
th.text,td.text{min-width:11rem}
td.path{min-width:9rem}
td.pair{min-width:8.5rem}
td.path code{white-space:normal;overflow-wrap:anywhere}
td.value{min-width:10rem}
td.value .before,td.value .after{white-space:normal}
td.value code{white-space:pre-wrap;overflow-wrap:anywhere}
.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.before,.after{white-space:nowrap}
.line{display:block;font-weight:400;font-size:.875rem;color:var(--muted)}
.after{font-weight:700}
.arrow{color:var(--muted);padding:0 .1em}
.tier{display:inline-block;padding:0 .4em;border:1px solid;border-radius:4px;font-weight:600;
white-space:nowrap}
.tier-low{background:var(--pass-bg);color:var(--pass-fg)}
.tier-medium{background:var(--warn-bg);color:var(--warn-fg)}
.tier-high,.tier-critical{background:var(--block-bg);color:var(--block-fg)}
.bar{display:block;width:100%;min-width:4rem;height:.45rem;margin-top:.3rem;background:#e3e7ec;
border-radius:3px}
.bar span{display:block;height:100%;background:var(--muted);border-radius:3px}
.findings{margin:.5rem 0;padding:0;list-style:none}
.finding{margin:.5rem 0;padding:.5rem .75rem;border:1px solid var(--line);border-left-width:6px;
border-radius:6px}
.finding p{margin:.25rem 0 0}
.sev{display:inline-block;margin-right:.35rem;padding:0 .4em;border-radius:4px;font-weight:700;
font-size:.8125rem;text-transform:uppercase;letter-spacing:.03em}
.error{border-left-color:var(--block-line)}
.error .sev{background:var(--block-bg);color:var(--block-fg)}
.warning{border-left-color:var(--warn-line)}
.warning .sev{background:var(--warn-bg);color:var(--warn-fg)}
.note{border-left-color:var(--note-line)}
.note .sev{background:var(--note-bg);color:var(--note-fg)}
details{margin:.5rem 0;padding:.5rem .75rem;border:1px solid var(--line);border-radius:6px}
summary{cursor:pointer;font-weight:600}
details[open]>summary{margin-bottom:.5rem}
.digest{display:block;padding:.5rem .75rem;background:var(--soft);border:1px solid var(--line);
border-radius:6px;font-size:.9375rem}
.meta{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem;margin:.5rem 0}
.meta dt{color:var(--muted)}
.meta dd{margin:0;min-width:0}
footer{margin-top:2.5rem;padding:1rem 0 2rem;border-top:1px solid var(--line);color:var(--muted);
font-size:.875rem}
@media (max-width:40rem){body{font-size:15px}h1{font-size:1.45rem}
th,td{padding:.4rem .5rem}.wrap{padding:0 .75rem}}
@media print{nav,.skip{display:none}.banner{border:2px solid}details{border:0}}
"""


def render_evidence_html(
    pack: Mapping[str, Any],
    *,
    digest: str,
    repository_url: str | None = None,
    context: PageContext | None = None,
) -> str:
    """The evidence page for ``pack``, stored under ``digest``.

    ``repository_url`` (``https://github.com/owner/repo``) turns findings and field lines into links
    to the file at the head commit; without it they are plain text. A ``ChangePack`` (a merged
    change and its publications) gets its own page. ``context`` adds what the server knows beside
    the pack: its pull request, the packs linked to it and its signature.
    """
    if pack.get("kind") == "ChangePack":
        return _change_page(ChangePackView.of(pack), digest, context)
    if pack.get("kind") == "RolloutPack":
        return _rollout_page(pack, digest, context)
    view = CheckPackView.of(pack)  # checked once, read by every section
    blocked = view.blocked
    verdict = "BLOCKED" if blocked else "PASS"
    sections = [
        ("changes", "Changes", _changes(view, repository_url)),
        ("findings", "Findings", _findings(view, repository_url)),
        ("risk", "Risk", _risk(view)),
        ("approvals", "Approvals", _approvals(view)),
        ("waivers", "Waivers", _waivers(view)),
        ("preview", "Policy preview", _preview(view)),
        ("publications", "Publications", _publications(pack)),
        ("rules", "Rule results", _rules(view)),
        ("verify", "Verify", _verify(view, digest, context)),
    ]
    title = f"{verdict} · {view.repository} @ {_short(view.head)} · EUCORA evidence"
    banner = _banner(view, verdict, blocked, _context_lines(context))
    return _document(title, banner, sections, _footer(view))


def _document(
    title: str, banner: str, sections: Sequence[tuple[str, str, str]], footer: str
) -> str:
    shown = [(anchor, label, body) for anchor, label, body in sections if body]
    nav = "".join(f'<li><a href="#{anchor}">{label}</a></li>' for anchor, label, _ in shown)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="color-scheme" content="light">',
        '<meta name="referrer" content="no-referrer">',
        f"<title>{escape_html(title)}</title>",
        f"<style>{_CSS.strip()}</style>",
        "</head>",
        "<body>",
        '<a class="skip" href="#main">Skip to the evidence</a>',
        banner,
        f'<nav aria-label="Sections"><div class="wrap"><ul>{nav}</ul></div></nav>',
        '<main id="main" class="wrap">',
        *(body for _, _, body in shown),
        "</main>",
        footer,
        "</body>",
        "</html>",
    ]
    return "\n".join(parts) + "\n"


def _change_page(view: ChangePackView, digest: str, context: PageContext | None) -> str:
    """A merged change: who approved it, what each plane was asked to do and what it did."""
    publications = view.publications
    failed, done = view.failed, view.succeeded
    verdict = "FAILED" if failed else "PUBLISHED"
    headline = (
        f"{done:,} of {len(publications):,} publications succeeded"
        + (f", {failed:,} failed" if failed else "")
        if publications
        else "Nothing to publish"
    )
    facts = (
        ("Pull request", _pull_request_fact(view.pull_request, context)),
        ("Merge commit", _code(_short(view.merge_commit))),
        ("Approved head", _code(_short(view.head))),
        ("CAB decision", escape_html(view.decision_outcome)),
        ("Merged", escape_html(_when(view.merged_at))),
        ("Emergency", "yes" if view.emergency else "no"),
    )
    items = "".join(f"<div><dt>{name}</dt><dd>{value}</dd></div>" for name, value in facts)
    banner = (
        f'<header class="banner {"blocked" if failed else "pass"}"><div class="wrap">'
        f'<p class="kicker">EUCORA evidence · change of {_code(view.repository)}</p>'
        f'<h1><span class="verdict">{verdict}</span> {escape_html(headline)}</h1>'
        f'<p class="needs">Checked by the pack {_pack_link(view.check_digest)}.</p>'
        f"{_context_lines(context, pull_request=False)}"
        f'<dl class="facts">{items}</dl>'
        "</div></header>"
    )
    approvals = view.approvals
    rows = [
        f"<tr><td>{escape_html(a['reviewId'])}</td><td>{escape_html(a['reviewer'])}</td>"
        f"<td>{escape_html(', '.join(str(t) for t in a['teams']))}</td>"
        f"<td>{_code(_short(a['commit']))}</td></tr>"
        for a in approvals
    ]
    approved = _section(
        "approvals",
        "Approvals that counted",
        _table(
            f"Approvals ({len(approvals):,})",
            [("Review", ""), ("Reviewer", ""), ("CAB teams", ""), ("On commit", "")],
            rows,
        )
        if rows
        else "<p>No CAB approval was required.</p>",
    )
    review = view.post_implementation_review
    owed = ""
    if review is not None:
        issue = review["issue"]
        owed = _section(
            "review",
            "Post-implementation review",
            f"<p>{escape_html(review['reason'])}"
            + (f" (issue #{escape_html(issue)})" if issue is not None else "")
            + "</p>",
        )
    verify = _section(
        "verify",
        "Verify this evidence",
        f'<p>This evidence is stored under its digest:</p><code class="digest">'
        f"{escape_html(digest)}</code>"
        f"<pre><code>{escape_html(VERIFY_COMMAND)} {escape_html(digest)}</code></pre>"
        f"{_signature(context)}",
    )
    footer = (
        '<footer><div class="wrap">'
        f"EUCORA evidence pack {_code(view.kind)}, merged"
        f" {escape_html(_when(view.merged_at))}"
        ". This page has no scripts and loads nothing else: save it and it stays complete."
        "</div></footer>"
    )
    title = f"{verdict} · {view.repository} #{view.pull_request}"
    return _document(
        f"{title} · EUCORA evidence",
        banner,
        [
            ("approvals", "Approvals", approved),
            ("publications", "Publications", _publications(view.pack)),
            ("review", "Review owed", owed),
            ("verify", "Verify", verify),
        ],
        footer,
    )


def _banner(view: CheckPackView, verdict: str, blocked: bool, context: str = "") -> str:
    """The decision first: the verdict in words, why, and what it still needs."""
    required = int(view.approvals_required)
    if blocked:
        headline = "May not merge as it is"
        reasons = "".join(f"<li>{escape_html(r)}</li>" for r in view.decision_reasons)
        why = f"<p><strong>Why it is blocked:</strong></p><ul>{reasons}</ul>" if reasons else ""
        then = "Once fixed, it needs"
    else:
        headline = "May merge once approved" if required else "May merge"
        why = ""
        then = "It needs"
    needs = (
        f"{then} <strong>{escape_html(_plural(required, 'CAB approval'))}</strong>"
        if required
        else f"{then} no CAB approval"
    )
    if view.approval_reasons:
        needs += ": " + "; ".join(escape_html(r) for r in view.approval_reasons)
    icon = "✕" if blocked else "✓"
    counts = _counts(view.findings)
    labels = ", ".join(escape_html(label) for label in view.labels) or "none"
    facts = (
        ("Risk", f"{int(view.risk_score)}/100 {_tier(view.risk_tier)}"),
        ("Findings", escape_html(_counts_text(counts))),
        ("Changed intents", f"{len(view.changes):,}"),
        ("Head commit", _code(_short(view.head))),
        ("Evaluated", escape_html(_when(view.evaluated_at))),
        ("Labels", labels),
    )
    items = "".join(f"<div><dt>{name}</dt><dd>{value}</dd></div>" for name, value in facts)
    return (
        f'<header class="banner {"blocked" if blocked else "pass"}"><div class="wrap">'
        f'<p class="kicker">EUCORA evidence · check of {_code(view.repository)}</p>'
        f'<h1><span class="verdict"><span aria-hidden="true">{icon} </span>{verdict}</span> '
        f"{headline}</h1>"
        f"{context}"
        f"{why}"
        f'<p class="needs">{needs}.</p>'
        f'<dl class="facts">{items}</dl>'
        "</div></header>"
    )


_UTC_TIME = re.compile(r"^([0-9]{4}-[0-9]{2}-[0-9]{2})T([0-9:.]+)Z$")


def _when(timestamp: Any) -> str:
    """An RFC 3339 UTC time for people: ``2027-02-17 09:00:00 UTC``."""
    return _UTC_TIME.sub(r"\1 \2 UTC", str(timestamp))


def _tier(tier: Any) -> str:
    name = escape_html(tier)
    return f'<span class="tier tier-{name}">{name}</span>'


def _section(anchor: str, heading: str, body: str) -> str:
    return (
        f'<section id="{anchor}" aria-labelledby="{anchor}-h">'
        f'<h2 id="{anchor}-h">{heading}</h2>{body}</section>'
    )


def _table(
    caption: str, columns: Sequence[tuple[str, str]], rows: Sequence[str], *, css: str = ""
) -> str:
    """A captioned table in a horizontally scrolling, keyboard-focusable region.

    ``columns`` are (header, class) pairs; ``rows`` are ``<tr>`` strings, already escaped.
    """
    head = "".join(
        f'<th scope="col"{f" class={chr(34)}{cls}{chr(34)}" if cls else ""}>{name}</th>'
        for name, cls in columns
    )
    table_class = f' class="{css}"' if css else ""
    return (
        f'<div class="scroll" role="region" aria-label="{caption}" tabindex="0">'
        f"<table{table_class}><caption>{caption}</caption><thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


# --- risk and approvals -----------------------------------------------------------------------


def _risk(view: CheckPackView) -> str:
    risk = view.risk
    score = int(view.risk_score)
    parts = [
        f'<p><strong class="score">Risk score {score}/100</strong>, tier {_tier(risk["tier"])}.</p>'
    ]
    riskiest = _riskiest(view)
    if riskiest is not None:
        parts.append(f"<p>The score is that of the riskiest intent, {_code(riskiest)}.</p>")
    score_tier = risk.get("scoreTier", risk["tier"])  # as the comment reads it (check_reading)
    if score_tier != risk["tier"]:
        parts.append(
            f"<p>The score alone gives {_tier(score_tier)}; the tier is raised to "
            f"{_tier(risk['tier'])} because the change edits configuration or policies.</p>"
        )
    caps: Mapping[str, Any] = risk.get("caps") or RISK_FAMILIES
    raw = _raw_by_family(view, riskiest)
    by_family = risk["byFamily"]
    rows = []
    # The families in their usual order (the stored pack has its keys sorted), any others after.
    families = [f for f in RISK_FAMILIES if f in caps] + sorted(set(caps) - set(RISK_FAMILIES))
    for family in families:
        cap = int(caps[family])
        points = int(by_family.get(family, 0))
        capped = (
            f' <span class="muted">(capped from {raw[family]})</span>'
            if raw.get(family, 0) > points
            else ""
        )
        width = points * 100 // cap if cap else 0
        rows.append(
            f'<tr><th scope="row">{escape_html(family)}</th>'
            f'<td class="num">{points}{capped}'
            f'<span class="bar" aria-hidden="true"><span style="width:{width}%"></span></span></td>'
            f'<td class="num">{cap}</td></tr>'
        )
    rows.append(
        f'<tr><th scope="row">total</th><td class="num"><strong>{score}</strong></td>'
        f'<td class="num">{sum(int(c) for c in caps.values())}</td></tr>'
    )
    parts.append(
        _table(
            "Points per family, after the family caps",
            (("Family", ""), ("Points", "num"), ("Cap", "num")),
            rows,
        )
    )
    parts.append(_factors(risk["factors"]))
    return _section("risk", f"Risk: {score}/100 · {escape_html(risk['tier'])}", "".join(parts))


def _factors(factors: Sequence[Mapping[str, Any]]) -> str:
    if not factors:
        return "<p>No rule added risk points.</p>"
    rows = [
        f'<tr><td class="num">+{int(f["points"])}</td><td>{escape_html(f["family"])}</td>'
        f'<th scope="row" class="text">{escape_html(f["reason"])}</th>'
        f"<td>{_code(f['rule'])}</td><td>{_code(f['intent'])}</td></tr>"
        for f in factors
    ]
    return _table(
        "Risk factors, before the family caps",
        (("Points", "num"), ("Family", ""), ("Reason", ""), ("Rule", ""), ("Intent", "")),
        rows,
    )


def _approvals(view: CheckPackView) -> str:
    approvals = view.approvals
    required = int(view.approvals_required)
    title = "none required" if required == 0 else f"{_plural(required, 'CAB approval')} required"
    reasons = "".join(f"<li>{escape_html(reason)}</li>" for reason in approvals["reasons"])
    body = (
        f"<p>{_plural(required, 'approval')} from CAB members (not the author or a committer) "
        "on the head commit.</p>"
    )
    if reasons:
        body += f"<p>Why:</p><ul>{reasons}</ul>"
    routing = "".join(f"<li>{escape_html(line)}</li>" for line in routing_lines(approvals))
    if routing:
        body += f"<p>Who can approve (routes of <code>cab.routes</code>):</p><ul>{routing}</ul>"
    return _section("approvals", f"Approvals: {title}", body)


# --- changes ----------------------------------------------------------------------------------


def _version_cell(change: Mapping[str, Any]) -> str:
    version = _field(change["fieldDiffs"], "/app/version")
    if version is None:
        return "unchanged" if change["fieldDiffs"] else "—"
    old, new = version
    return _arrow(escape_html(_scalar(old)), escape_html(_scalar(new)))


def _devices_cell(change: Mapping[str, Any]) -> str:
    """Devices reached at the base and at head, over all rings."""
    base, head = int(change["devices"]["base"]), int(change["devices"]["head"])
    if base == head:
        return f'{head:,} <span class="muted">(unchanged)</span>'
    return _arrow(f"{base:,}", f"{head:,}")


def _kind_cell(change: Mapping[str, Any]) -> str:
    kind = escape_html(change["kind"])
    if change["basePath"] not in (None, change["path"]):
        kind += f" from {_code(change['basePath'])}"
    return kind


def _changes(view: CheckPackView, repository_url: str | None) -> str:
    changes = view.changes
    other = view.other_files
    if not changes:
        body = "<p>No deployment intent changed.</p>"
    else:
        rows = [
            f'<tr><th scope="row">{_code(c["intent"])}</th><td class="pair">{_version_cell(c)}</td>'
            f'<td class="pair">{_devices_cell(c)}</td><td class="num">{int(c["risk"]["score"])} '
            f"{_tier(c['risk']['tier'])}</td><td>{_kind_cell(c)}</td>"
            f'<td class="path">{_code(c["path"])}</td>'
            "</tr>"
            for c in changes
        ]
        body = _table(
            f"Changed intents ({len(changes):,})",
            (
                ("Intent", ""),
                ("Version before → after", ""),
                ("Devices before → after", ""),
                ("Risk", "num"),
                ("Change", ""),
                ("Path", ""),
            ),
            rows,
            css="change",
        )
        body += "".join(_diff(view, change, repository_url) for change in changes)
    if other:
        items = "".join(f"<li>{_code(path)}</li>" for path in other)
        body += (
            f"<h3>Other changed files, not judged as intents ({len(other):,})</h3><ul>{items}</ul>"
        )
    return _section("changes", f"Changes ({len(changes):,})", body)


def _diff(view: CheckPackView, change: Mapping[str, Any], repository_url: str | None) -> str:
    """One intent's field diffs, before → after; an added or deleted one summarised, collapsed."""
    diffs = _flat_diffs(change["fieldDiffs"])
    heading = f"<h3>{_code(change['intent'])}: {escape_html(change['kind'])}</h3>"
    if not diffs:
        return heading + "<p>No field diff (the file does not validate, or only moved).</p>"
    rows = []
    for path, old, new, line in diffs:
        where = ""
        if line is not None:
            url = _line_url(view, change, repository_url, removed=new is None, line=line)
            where = f'<span class="line">line {_link(str(line), url)}</span>'
        before, after = (
            _code(_value(old, DETAIL_VALUE_WIDTH)),
            _code(_value(new, DETAIL_VALUE_WIDTH)),
        )
        rows.append(
            f'<tr><th scope="row">{_code(path or "(whole intent)")}{where}</th>'
            f'<td class="value">{_arrow(before, after)}</td></tr>'
        )
    table = _table(
        f"Fields of {escape_html(change['intent'])}, before → after",
        (("Field", ""), ("Before → after", "")),
        rows,
    )
    whole = [d for d in change["fieldDiffs"] if d["path"] == ""]
    if whole:
        summary = escape_html(_summary(whole[0]["new"] or whole[0]["old"]))
        return (
            f"{heading}<p>{summary}</p><details><summary>Every field "
            f"({_plural(len(diffs), 'field')})</summary>{table}</details>"
        )
    return heading + table


def _line_url(
    view: CheckPackView,
    change: Mapping[str, Any],
    repository_url: str | None,
    *,
    removed: bool,
    line: int,
) -> str | None:
    """A field's line on GitHub: at head, or at the merge base for a removed field or file."""
    at_base = removed or change["kind"] == "deleted"
    commit = view.merge_base if at_base else view.head
    path = change["basePath"] if at_base and change["basePath"] else change["path"]
    return _blob_url(repository_url, str(commit), str(path), int(line))


# --- findings and waivers ---------------------------------------------------------------------


def _findings(view: CheckPackView, repository_url: str | None) -> str:
    findings = _by_severity(view.findings)
    counts = _counts(findings)
    title = f"Findings: {escape_html(_counts_text(counts))}"
    if not findings:
        return _section("findings", title, "<p>None.</p>")
    parts = []
    for severity, group in GROUPS:
        items = [f for f in findings if Severity(f["severity"]) is severity]
        if not items:
            continue
        rows = "".join(_finding(view, f, repository_url) for f in items)
        parts.append(f'<h3>{group} ({len(items):,})</h3><ul class="findings">{rows}</ul>')
    return _section("findings", title, "".join(parts))


def _finding(view: CheckPackView, item: Mapping[str, Any], repository_url: str | None) -> str:
    severity = Severity(item["severity"])
    where = f"{item['path']}:{item['line']}"
    url = _blob_url(repository_url, view.head, str(item["path"]), int(item["line"]))
    return (
        f'<li class="finding {severity.value}"><span class="sev">{severity.value}</span> '
        f"<code>{_link(where, url)}</code> {_code(item['code'])}"
        f"<p>{escape_html(item['message'])}</p></li>"
    )


def _waivers(view: CheckPackView) -> str:
    waivers = view.waivers
    if not waivers:
        return ""
    rows = []
    soon_count = 0
    for waiver in waivers:
        days = _days_left(view, str(waiver["expires"]))
        expires = escape_html(waiver["expires"])
        if _soon(days):
            soon_count += 1
            expires = f"<strong>{expires}</strong> ({escape_html(_expiry_text(days))})"
        rows.append(
            f'<tr><th scope="row">{_code(waiver["rule"])}</th><td>{_code(waiver["intent"])}</td>'
            f"<td>{expires}</td><td>{escape_html(waiver['ticket'])}</td>"
            f"<td>{escape_html(waiver['owner'])}</td>"
            f'<td class="text">{escape_html(waiver["reason"])}</td>'
            f"<td>{_code(waiver['source'])}</td></tr>"
        )
    intro = "<p>Exceptions in force at the base revision, whether or not this change used them.</p>"
    if soon_count:
        intro += (
            f"<p><strong>{_plural(soon_count, 'waiver')} expire{'s' if soon_count == 1 else ''}"
            " soon: renew or fix.</strong></p>"
        )
    table = _table(
        f"Waivers in force ({len(waivers):,})",
        (
            ("Rule", ""),
            ("Intent", ""),
            ("Expires", ""),
            ("Ticket", ""),
            ("Owner", ""),
            ("Reason", ""),
            ("Source", ""),
        ),
        rows,
    )
    return _section("waivers", f"Waivers ({len(waivers):,})", intro + table)


def _preview(view: CheckPackView) -> str:
    if "policyPreview" not in view.pack:
        return ""
    lines = _preview_lines(view, escape_html)
    items = (
        "".join(f"<li>{line}</li>" for line in lines) or "<li>No intent is judged differently.</li>"
    )
    return _section(
        "preview",
        "Policy preview",
        "<p>This pull request changes the policies. The decision above comes from the base "
        "revision's rules; with the new rules, these intents would be judged differently "
        f"(for information only):</p><ul>{items}</ul>",
    )


def _publications(pack: Mapping[str, Any]) -> str:
    """Where a merged change was published (change packs only): one row per publication.

    In the words of the pull request comment's table (``bot.core.render.publications``): plane,
    ring (target), intent, version, state, and the plane's object or the reason it failed.
    """
    if "publications" not in pack:
        return ""
    publications = pack["publications"]
    if not isinstance(publications, list) or not all(isinstance(p, Mapping) for p in publications):
        body = f"<pre>{escape_html(json.dumps(publications, indent=2, sort_keys=True))}</pre>"
        return _section("publications", "Publications", body)
    if not publications:
        return _section("publications", "Publications", "<p>None yet.</p>")
    if all(set(p) >= _PUBLICATION_KEYS for p in publications):
        columns = [(name, "") for name in PUBLICATION_COLUMNS]
        rows = [_publication_row(p) for p in publications]
    else:  # not the change pack's shape: every key as it is
        keys = sorted({str(key) for p in publications for key in p})
        columns = [(escape_html(key), "") for key in keys]
        rows = [
            "<tr>"
            + "".join(
                f"<td>{escape_html(_scalar(p.get(key), DETAIL_VALUE_WIDTH))}</td>" for key in keys
            )
            + "</tr>"
            for p in publications
        ]
    table = _table(f"Publications ({len(publications):,})", columns, rows)
    return _section("publications", f"Publications ({len(publications):,})", table)


PUBLICATION_COLUMNS = (
    "Plane",
    "Ring (target)",
    "Intent",
    "Version",
    "State",
    "Plane object or reason",
)
_PUBLICATION_KEYS = frozenset({"plane", "ring", "target", "intent", "version", "state"})
_PUBLICATION_STATES = {
    "pending": "pending",
    "in_progress": "in progress",
    "succeeded": "published",
    "failed": "failed",
}


def _publication_row(publication: Mapping[str, Any]) -> str:
    raw_state = str(publication.get("state", ""))
    state = escape_html(_PUBLICATION_STATES.get(raw_state, raw_state))
    retires = publication.get("action") == "retire"
    if retires:
        state = "retired" if raw_state == "succeeded" else f"{state} (retire)"
    attempts = publication.get("attempts")
    if isinstance(attempts, int) and attempts > 1:
        state += f" (attempt {attempts:,})"
    cells = (
        escape_html(publication.get("plane", "")),
        f"{escape_html(publication.get('ring', ''))} ({_code(publication.get('target', ''))})",
        escape_html(publication.get("intent", "")),
        escape_html(publication.get("version", "")),
        state,
        _publication_outcome(publication, raw_state, retires=retires),
    )
    return "<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>"


def _publication_outcome(publication: Mapping[str, Any], state: str, *, retires: bool) -> str:
    if retires and state == "succeeded":
        return "removed from its plane (the intent was deleted)"
    if state == "succeeded":
        object_id = publication.get("objectId")
        url = publication.get("url")
        what = _scalar(object_id, DETAIL_VALUE_WIDTH) if object_id else "published"
        link = _link(what, url if isinstance(url, str) and _http(url) else None)
        return link + (" (existing object reused)" if publication.get("created") is False else "")
    if publication.get("error"):
        return escape_html(_scalar(publication["error"], DETAIL_VALUE_WIDTH))
    return "—"


def _http(url: str) -> bool:
    return url.startswith(("https://", "http://"))


# --- rule results and verification -----------------------------------------------------------


def _result_text(result: Mapping[str, Any]) -> str:
    if result.get("error") is not None:
        return f"error: {escape_html(result['error'])}"
    if result.get("waivedBy") is not None:
        return f"waived by {escape_html(result['waivedBy'])}"
    return "matched"


def _results(caption: str, results: Sequence[Mapping[str, Any]]) -> str:
    shown = [r for r in results if r["matched"] or r.get("error") is not None]
    quiet = [r for r in results if not (r["matched"] or r.get("error") is not None)]
    parts = []
    if shown:
        rows = [
            f'<tr><th scope="row">{_code(r["rule"])}</th><td>{_result_text(r)}</td>'
            f"<td>{escape_html(r.get('enforcement', ''))}</td>"
            f'<td class="text">{escape_html(r.get("message", ""))}</td></tr>'
            for r in shown
        ]
        parts.append(
            _table(
                caption, (("Rule", ""), ("Result", ""), ("Enforcement", ""), ("Message", "")), rows
            )
        )
    if quiet:
        names = ", ".join(_code(r["rule"]) for r in quiet)
        parts.append(f'<p class="muted">Not matched: {names}</p>')
    return "".join(parts) or "<p>No rule evaluated.</p>"


def _rules(view: CheckPackView) -> str:
    changes = view.changes
    policy = view.policy
    parts = []
    for change in changes:
        intent = escape_html(change["intent"])
        body = _results(f"Rules that matched {intent}", change["ruleResults"])
        preview = change.get("previewRuleResults")
        if preview:
            body += _results(
                f"The head revision's rules that would match {intent} (not enforced)", preview
            )
        evaluated = len(change["ruleResults"])
        matched = sum(bool(r["matched"]) for r in change["ruleResults"])
        parts.append(
            f"<details><summary>{_code(change['intent'])}: {evaluated:,} evaluated, "
            f"{matched:,} matched</summary>{body}</details>"
        )
    sources = "".join(f"<li>{_code(source)}</li>" for source in policy["sources"])
    parts.append(
        f"<details><summary>Policy pack: {_plural(len(policy['rules']), 'rule')}</summary>"
        f"<p>Digest {_code(policy['digest'])}, from the base revision:</p><ul>{sources}</ul>"
        "</details>"
    )
    return _section("rules", "Rule results", "".join(parts))


def _verify(view: CheckPackView, digest: str, context: PageContext | None) -> str:
    body = (
        f'<p>This evidence is stored under its digest:</p><code class="digest">'
        f"{escape_html(digest)}</code>"
        f"<p>The digest is a content address: {VERIFY_EXPLANATION} "
        "(sorted keys, UTF-8, no insignificant whitespace). Any change to the pack changes it.</p>"
        "<h3>With EUCORA</h3>"
        f"<pre><code>{escape_html(VERIFY_COMMAND)} {escape_html(digest)}</code></pre>"
        "<h3>Offline, by hand</h3>"
        "<p>Download the pack as JSON (this page's address, with "
        "<code>Accept: application/json</code>), then hash the file:</p>"
        "<pre><code>curl -s -H 'Accept: application/json' '&lt;this page&#x27;s address&gt;' "
        "&gt; pack.json\nsha256sum pack.json</code></pre>"
        "<p>The 64 hex digits printed must equal the digest after <code>sha256:</code>. "
        "The pack is stored canonical, so no tool beyond <code>sha256sum</code> is needed; "
        f"a pack that was re-formatted must be canonicalised first, as {_code(VERIFY_COMMAND)} "
        "does.</p>"
        '<h3>What was checked</h3><dl class="meta">'
        f"<dt>Repository</dt><dd>{_code(view.repository)}</dd>"
        f"<dt>Base</dt><dd>{_code(view.base)}</dd>"
        f"<dt>Head</dt><dd>{_code(view.head)}</dd>"
        f"<dt>Merge base</dt><dd>{_code(view.merge_base)}</dd>"
        f"<dt>Policy pack</dt><dd>{_code(view.policy_digest)}</dd>"
        f"<dt>Format</dt><dd>{_code(view.api_version)} {_code(view.kind)}</dd>"
        "</dl>" + _signature(context)
    )
    return _section("verify", "Verify this evidence", body)


def _footer(view: CheckPackView) -> str:
    when = escape_html(_when(view.evaluated_at))
    return (
        '<footer><div class="wrap">'
        f"EUCORA evidence pack {_code(view.kind)}, evaluated {when}"
        ". This page has no scripts and loads nothing else: save it and it stays complete."
        "</div></footer>"
    )


def _rollout_page(pack: Mapping[str, Any], digest: str, context: PageContext | None) -> str:
    """A rollout decision: the ring's outcomes read, its gate, the verdict and what it did."""
    intent = pack.get("intent") or {}
    gate = pack.get("gate") or {}
    outcomes = pack.get("outcomes") or {}
    verdict = str(pack.get("verdict", "")).upper()
    bad = verdict in {"FAIL", "ERROR"}
    facts = (
        ("Intent", _code(intent.get("name", ""))),
        ("Version", escape_html(intent.get("version", ""))),
        ("Plane", escape_html(intent.get("plane", ""))),
        ("Ring", _code(pack.get("ring", ""))),
        ("Pull request", _pull_request_fact(int(pack.get("pullRequest", 0)), context)),
        ("Merge commit", _code(_short(str(pack.get("mergeCommit", ""))))),
        ("Decided", escape_html(_when(pack.get("decidedAt", "")))),
        ("By", escape_html(pack.get("decidedBy") or "the reconciler")),
    )
    items = "".join(f"<div><dt>{name}</dt><dd>{value}</dd></div>" for name, value in facts)
    reasons = "".join(f"<li>{escape_html(r)}</li>" for r in pack.get("reasons") or ())
    banner = (
        f'<header class="banner {"blocked" if bad else "pass"}"><div class="wrap">'
        f'<p class="kicker">EUCORA evidence · rollout of {_code(pack.get("repository", ""))}</p>'
        f'<h1><span class="verdict">{escape_html(verdict)}</span> gate of ring'
        f" {_code(pack.get('ring', ''))}</h1>"
        + (f"<ul>{reasons}</ul>" if reasons else "")
        + f'<dl class="facts">{items}</dl></div></header>'
    )
    counts = ("targeted", "installed", "failed", "pending", "notApplicable", "asOf")
    read = (
        _table(
            "Install outcomes read from the plane",
            [("Count", ""), ("Value", "num")],
            [
                f'<tr><th scope="row">{name}</th><td class="num">'
                f"{escape_html(outcomes.get(name))}</td></tr>"
                for name in counts
            ],
        )
        if outcomes
        else "<p>The plane could not be read.</p>"
    )
    errors = [e for e in outcomes.get("errors") or () if isinstance(e, Mapping)]
    if errors:
        read += _table(
            "Device errors (sample)",
            [("Device", ""), ("Code", ""), ("Message", "text")],
            [
                f"<tr><td>{escape_html(e.get('device'))}</td><td>{_code(e.get('code'))}</td>"
                f'<td class="text">{escape_html(e.get("message"))}</td></tr>'
                for e in errors
            ],
        )
    gate_rows = [
        f'<tr><th scope="row">{escape_html(name)}</th><td>{escape_html(value)}</td></tr>'
        for name, value in sorted(gate.items())
    ]
    actions = "".join(
        f"<li>{_code(json.dumps(a, sort_keys=True))}</li>" for a in pack.get("actions") or ()
    )
    verify = _section(
        "verify",
        "Verify this evidence",
        f'<p>This evidence is stored under its digest:</p><code class="digest">'
        f"{escape_html(digest)}</code>"
        f"<pre><code>{escape_html(VERIFY_COMMAND)} {escape_html(digest)}</code></pre>"
        f"{_signature(context)}",
    )
    footer = (
        '<footer><div class="wrap">'
        f"EUCORA evidence pack {_code(pack.get('kind', ''))}, decided"
        f" {escape_html(_when(pack.get('decidedAt', '')))}"
        ". This page has no scripts and loads nothing else: save it and it stays complete."
        "</div></footer>"
    )
    return _document(
        f"{verdict} · {pack.get('repository', '')} #{pack.get('pullRequest', '')} ring"
        f" {pack.get('ring', '')} · EUCORA evidence",
        banner,
        [
            ("outcomes", "Outcomes", _section("outcomes", "What the plane reported", read)),
            (
                "gate",
                "Gate",
                _section(
                    "gate", "The gate", _table("Gate", [("Input", ""), ("Value", "")], gate_rows)
                ),
            ),
            ("actions", "Actions", _section("actions", "What it did", f"<ul>{actions}</ul>")),
            ("verify", "Verify", verify),
        ],
        footer,
    )
