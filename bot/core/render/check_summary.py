"""The sticky comment's summary parts: the verdict header, approvals, policy preview, footer."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.core.findings import Severity
from bot.core.pack_view import CheckPackView
from bot.core.render.approval_lines import _approvals_text, _routes, approval_rules
from bot.core.render.check_reading import _preview_lines, _tier_raised, _verdict
from bot.core.render.formatting import _code, _plural, _short, _url, escape_markdown
from bot.core.render.pack_findings import _counts

MARKER = "<!-- eucora:evidence -->"


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
