"""The issues a rollout opens (halted, held, stuck) and its rollback pull request, as Markdown.

Pure: the flow (``bot.flows.rollout_issues``) gathers the facts and sends what this renders.
Every value that came from a plane or an intent (device names, error messages, reasons) is
escaped into inert Markdown: no HTML, links, mentions or table breaks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot.core.render.formatting import escape_markdown
from bot.core.rollout_model import RingOutcomes

HALTED_LABEL = "eucora:halted"
HELD_LABEL = "eucora:held"
STUCK_LABEL = "eucora:stuck"
MAX_ERRORS_SHOWN = 20


def issue_marker(kind: str, repository: str, rollout_id: int) -> str:
    """The hidden marker an issue of ``kind`` for this rollout is found again by."""
    return f"<!-- eucora:{kind}:{repository}:{rollout_id} -->"


def rollback_branch(intent: str, version: str) -> str:
    """The branch of the rollback pull request of ``intent`` at ``version``."""
    return f"eucora/rollback/{intent}-{version}"


@dataclass(frozen=True, slots=True, kw_only=True)
class RolloutFacts:
    """What an issue says about one rollout."""

    rollout_id: int
    repository: str
    pr: int
    intent: str
    version: str
    plane: str
    ring: str
    reasons: tuple[str, ...]
    outcomes: RingOutcomes | None
    gate: Mapping[str, Any]
    pr_url: str | None = None
    evidence_url: str | None = None


def _links(facts: RolloutFacts) -> list[str]:
    lines = [f"- Change: {facts.repository}#{facts.pr}"]
    if facts.pr_url:
        lines[0] += f" ({facts.pr_url})"
    if facts.evidence_url:
        lines.append(f"- Rollout evidence: {facts.evidence_url}")
    return lines


def _outcomes(facts: RolloutFacts) -> list[str]:
    gate = facts.gate
    out = facts.outcomes
    if out is None:
        return ["No install outcomes could be read for this ring."]
    rate = out.success_rate
    shown = "n/a" if rate is None else f"{float(rate) * 100:.1f} %"
    lines = [
        "| targeted | installed | failed | pending | not applicable | success rate |",
        "|---:|---:|---:|---:|---:|---:|",
        (
            f"| {out.targeted} | {out.installed} | {out.failed} | {out.pending}"
            f" | {out.not_applicable} | {shown} |"
        ),
        "",
        (
            f"Gate: at least {escape_markdown(gate.get('minSuccessPercent', 'n/a'))} % success,"
            f" at most {escape_markdown(gate.get('maxFailures', 'n/a'))} failures,"
            f" soak {escape_markdown(gate.get('soak', 'none'))}."
            f" Data as of {out.as_of.isoformat()}."
        ),
    ]
    if out.errors:
        lines += ["", "| device | code | message |", "|---|---|---|"]
        lines += [
            f"| {escape_markdown(e.device)} | {escape_markdown(e.code)}"
            f" | {escape_markdown(e.message)} |"
            for e in out.errors[:MAX_ERRORS_SHOWN]
        ]
    return lines


def _head(facts: RolloutFacts, kind: str, what: str) -> list[str]:
    name = escape_markdown(f"{facts.intent} {facts.version}")
    return [
        issue_marker(kind, facts.repository, facts.rollout_id),
        (
            f"The rollout of **{name}** ({escape_markdown(facts.plane)}) {what} at ring"
            f" **{escape_markdown(facts.ring)}**."
        ),
        "",
        "Reasons:",
        *[f"- {escape_markdown(reason)}" for reason in facts.reasons],
        "",
    ]


def halted_issue(facts: RolloutFacts, *, rollback: str) -> tuple[str, str]:
    """Title and body of the ``eucora:halted`` issue; ``rollback`` says what became of it."""
    lines = [
        *_head(facts, "halted", "halted"),
        *_outcomes(facts),
        "",
        *_links(facts),
        "",
        "What to do: find the cause from the errors above. " + rollback,
        (f"When it is fixed, a CAB member may comment `/eucora resume {facts.intent}`."),
    ]
    return f"Rollout halted: {facts.intent} {facts.version} at {facts.ring}", "\n".join(lines)


def held_issue(facts: RolloutFacts) -> tuple[str, str]:
    """Title and body of the issue asking the CAB to decide an inconclusive gate."""
    lines = [
        *_head(facts, "held", "is held (the gate is inconclusive)"),
        *_outcomes(facts),
        "",
        *_links(facts),
        "",
        (
            f"CAB: comment `/eucora promote {facts.intent}` to go on, or"
            f" `/eucora halt {facts.intent}` to stop it."
        ),
    ]
    return f"Rollout held: {facts.intent} {facts.version} at {facts.ring}", "\n".join(lines)


def stuck_issue(facts: RolloutFacts) -> tuple[str, str]:
    """Title and body of the ``eucora:stuck`` alert."""
    lines = [
        *_head(facts, "stuck", "is stuck (its counts have not moved)"),
        *_outcomes(facts),
        "",
        *_links(facts),
        "",
        (
            "What to do: check the devices are online and the plane is deploying; this issue"
            " is closed when the counts move again."
        ),
    ]
    return f"Rollout stuck: {facts.intent} {facts.version} at {facts.ring}", "\n".join(lines)


def rollback_pull(
    facts: RolloutFacts, *, previous: str, source_sha: str, issue: int | None
) -> tuple[str, str]:
    """Title and body of the rollback pull request to ``previous``."""
    lines = [
        (
            f"Rolls **{escape_markdown(facts.intent)}** back from"
            f" {escape_markdown(facts.version)} to {escape_markdown(previous)}: the intent as it"
            f" was at {source_sha[:12]}, the last commit of the default branch with that version."
        ),
        "",
        *[f"- {escape_markdown(reason)}" for reason in facts.reasons],
        "",
        *_links(facts),
    ]
    if issue is not None:
        lines.append(f"- Halt issue: #{issue}")
    lines += ["", "This change goes through the same checks and CAB approval as any other."]
    return f"Roll back {facts.intent} to {previous}", "\n".join(lines)


def closing_comment(reasons: Sequence[str]) -> str:
    """The comment an alert's issue is closed with."""
    said = "; ".join(escape_markdown(r) for r in reasons) or "the condition is gone"
    return f"Cleared: {said}."
