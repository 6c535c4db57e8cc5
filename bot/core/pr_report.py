"""What a pull request shows: the check runs, the sticky comment and command replies, as data.

Pure functions from a ``check`` evidence pack (as stored, so a stored pack re-renders the same) to
:class:`~bot.core.github_model.CheckRun` values and comment bodies. The flow posts them through the
``GitHub`` port; nothing here talks to GitHub.

GitHub's limits (https://docs.github.com/en/rest/checks/runs): a check run's summary and text hold
at most 65,535 characters, an annotation's title 255 and message 64 KiB; annotations go 50 per
request (the adapter batches them). EUCORA caps the annotations of one run at
:data:`MAX_ANNOTATIONS` and says how many more the evidence pack holds.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from bot.core.approvals import REASON_TEXT, ApprovalDecision, Outcome, ReviewVerdict
from bot.core.evidence_proof import checkpoint_markdown
from bot.core.findings import SEVERITY_ORDER, Severity
from bot.core.github_model import (
    APPROVAL_CHECK,
    POLICY_CHECK,
    Annotation,
    AnnotationLevel,
    CheckConclusion,
    CheckRun,
    CheckRunOutput,
    CheckStatus,
)
from bot.core.pack_view import CheckPackView
from bot.core.render.approval_lines import approvals_needed, routing_lines
from bot.core.render.check_markdown import render_check_markdown
from bot.core.render.formatting import escape_markdown

CHECK_TEXT_MAX_CHARS = 65_535
"""GitHub's limit on a check run's summary (and on its text)."""
ANNOTATION_TITLE_MAX = 255
ANNOTATION_MESSAGE_MAX = 60_000
"""Below GitHub's 64 KiB per annotation message, leaving room for multi-byte characters."""
MAX_ANNOTATIONS = 500
"""At most this many annotations per check run (10 requests); the rest stay in the pack."""
CHECKPOINT_MAX_CHARS = 4_000
"""A signed checkpoint is a few hundred bytes; anything longer is not one and is not shown."""

_LEVELS = {
    Severity.ERROR: AnnotationLevel.FAILURE,
    Severity.WARNING: AnnotationLevel.WARNING,
    Severity.NOTE: AnnotationLevel.NOTICE,
}


class Command(StrEnum):
    """The comment commands EUCORA answers (DESIGN.md, "Contracts")."""

    RECHECK = "recheck"
    EXPLAIN = "explain"
    RETRY_PUBLISH = "retry-publish"


_COMMAND = re.compile(r"^[ \t]*/eucora[ \t]+([a-z-]+)[ \t]*$", re.MULTILINE)


def parse_command(body: str) -> Command | None:
    """The first EUCORA command on a line of its own in a comment, or ``None``.

    A command must stand alone on its line, so quoting or mentioning one in prose (``> /eucora
    recheck`` or "run /eucora recheck later") does not trigger it; unknown words are ignored.
    """
    for match in _COMMAND.finditer(body):
        try:
            return Command(match.group(1))
        except ValueError:
            continue
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class Report:
    """Everything one evaluation shows on the pull request."""

    policy: CheckRun
    approval: CheckRun
    comment: str


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def annotations_for(
    pack: Mapping[str, Any], limit: int = MAX_ANNOTATIONS
) -> tuple[tuple[Annotation, ...], int]:
    """The pack's findings as line-precise annotations, most severe first, and how many were cut.

    Findings on files of the change (intents, ``eucora.yaml``, policies) are annotated at their
    line and column; findings about the repository as a whole keep their path and line too.
    """
    findings = sorted(
        CheckPackView.of(pack).findings,
        key=lambda f: (
            SEVERITY_ORDER[Severity(f["severity"])],
            f["path"],
            f["line"],
            f["column"],
            f["code"],
        ),
    )
    chosen = findings[: max(limit, 0)]
    result = []
    for item in chosen:
        line, column = int(item["line"]), int(item["column"])  # 1-based (the pack's schema)
        result.append(
            Annotation(
                path=str(item["path"]),
                start_line=line,
                end_line=line,
                # GitHub accepts columns only when the annotation stays on one line.
                start_column=column,
                end_column=column,
                level=_LEVELS[Severity(item["severity"])],
                title=_clip(f"{item['code']}", ANNOTATION_TITLE_MAX),
                message=_clip(str(item["message"]), ANNOTATION_MESSAGE_MAX),
            )
        )
    return tuple(result), len(findings) - len(chosen)


def _checkpoint_block(checkpoint: str | None) -> str:
    """The latest signed audit checkpoint, so GitHub keeps a copy the operator cannot rewrite."""
    if not checkpoint or len(checkpoint) > CHECKPOINT_MAX_CHARS:
        return ""
    return (
        "<details><summary>Audit log checkpoint (signed)</summary>\n\n"
        f"{checkpoint_markdown(checkpoint)}</details>\n"
    )


def _title(view: CheckPackView) -> str:
    changes = len(view.changes)
    counted = f"{changes} intent{'s' if changes != 1 else ''}"
    if view.blocked:
        reasons = [str(r) for r in view.decision_reasons]
        why = reasons[0] if reasons else "blocked"
        more = f" (+{len(reasons) - 1} more)" if len(reasons) > 1 else ""
        return _clip(f"Blocked: {why}{more}", 255)
    return _clip(f"Risk {view.risk_score}/100 ({view.risk_tier}) · {counted} · may proceed", 255)


def policy_check_run(
    pack: Mapping[str, Any],
    *,
    digest: str,
    evidence_url: str | None = None,
    checkpoint: str | None = None,
) -> CheckRun:
    """The completed ``EUCORA policy`` run: conclusion, title, summary and annotations."""
    view = CheckPackView.of(pack)
    blocked = view.blocked
    notes, cut = annotations_for(pack)
    tail = _checkpoint_block(checkpoint)
    more = (
        f"\n> {cut:,} more findings are not annotated here; the evidence pack holds them all.\n"
        if cut
        else ""
    )
    budget = CHECK_TEXT_MAX_CHARS - len(tail) - len(more) - 1
    summary = render_check_markdown(
        pack, evidence_url=evidence_url, digest=digest, max_chars=budget
    )
    return CheckRun(
        name=POLICY_CHECK,
        head_sha=str(view.head),
        status=CheckStatus.COMPLETED,
        conclusion=CheckConclusion.FAILURE if blocked else CheckConclusion.SUCCESS,
        output=CheckRunOutput(title=_title(view), summary=summary + more + tail, annotations=notes),
        external_id=digest,
        details_url=evidence_url,
    )


def started_policy_run(head_sha: str) -> CheckRun:
    """The ``EUCORA policy`` run as created at once, before the evaluation."""
    return CheckRun(
        name=POLICY_CHECK,
        head_sha=head_sha,
        status=CheckStatus.IN_PROGRESS,
        output=CheckRunOutput(
            title="Evaluating the change",
            summary="EUCORA is reading the change and running the policies.",
        ),
    )


def failed_policy_run(head_sha: str, reason: str) -> CheckRun:
    """The ``EUCORA policy`` run when the change could not be evaluated (not a verdict on it)."""
    return CheckRun(
        name=POLICY_CHECK,
        head_sha=head_sha,
        status=CheckStatus.COMPLETED,
        conclusion=CheckConclusion.FAILURE,
        output=CheckRunOutput(
            title="EUCORA could not evaluate this change",
            summary=(
                f"{escape_markdown(_clip(reason, 2_000))}\n\nComment `/eucora recheck` to try "
                "again once this is fixed."
            ),
        ),
    )


def approval_check_run(pack: Mapping[str, Any], *, digest: str) -> CheckRun:
    """The ``EUCORA CAB approval`` run as the check leaves it: pending, or not needed.

    The approvals flow completes it from the CAB's reviews; until then it says how many
    approvals the change's tier needs.
    """
    view = CheckPackView.of(pack)
    approvals = view.approvals
    required = int(view.approvals_required)
    reasons = [escape_markdown(r) for r in (*view.approval_reasons, *routing_lines(approvals))]
    why = "".join(f"- {r}\n" for r in reasons)
    head = str(view.head)
    tier = view.risk_tier
    routed = any(int(r["required"]) for r in approvals.get("routes") or ())
    if view.blocked:
        return CheckRun(
            name=APPROVAL_CHECK,
            head_sha=head,
            status=CheckStatus.COMPLETED,
            conclusion=CheckConclusion.ACTION_REQUIRED,
            output=CheckRunOutput(
                title="Blocked by policy: fix the findings first",
                summary=(
                    "The `EUCORA policy` check blocks this change, so no approval can let it "
                    f"merge yet. Once it passes, the {tier} tier needs "
                    f"{required} CAB approval{'s' if required != 1 else ''}"
                    + (f" ({escape_markdown(approvals_needed(approvals))})" if routed else "")
                    + f".\n\n{why}"
                ),
            ),
            external_id=digest,
        )
    if routed:
        return CheckRun(
            name=APPROVAL_CHECK,
            head_sha=head,
            status=CheckStatus.IN_PROGRESS,
            output=CheckRunOutput(
                title=_clip(_sentence(approvals_needed(approvals)), ANNOTATION_TITLE_MAX),
                summary=_clip(
                    f"Risk tier {tier}, and the routes this change matched: it "
                    f"{escape_markdown(approvals_needed(approvals))}, on commit `{head[:12]}`, "
                    f"by people who did not author it.\n\n{why}",
                    CHECK_TEXT_MAX_CHARS,
                ),
            ),
            external_id=digest,
        )
    if required == 0:
        return CheckRun(
            name=APPROVAL_CHECK,
            head_sha=head,
            status=CheckStatus.COMPLETED,
            conclusion=CheckConclusion.SUCCESS,
            output=CheckRunOutput(
                title="No CAB approval needed",
                summary=f"Risk tier {tier}: no CAB approval is required.\n\n{why}",
            ),
            external_id=digest,
        )
    plural = "s" if required != 1 else ""
    return CheckRun(
        name=APPROVAL_CHECK,
        head_sha=head,
        status=CheckStatus.IN_PROGRESS,
        output=CheckRunOutput(
            title=f"Waiting for {required} CAB approval{plural}",
            summary=(
                f"Risk tier {tier}: this change needs {required} approving review{plural} from "
                f"the CAB on commit `{head[:12]}`, by people who did not author it.\n\n{why}"
            ),
        ),
        external_id=digest,
    )


def comment_body(  # noqa: PLR0913 - keyword-only parts of the comment
    pack: Mapping[str, Any],
    *,
    digest: str,
    evidence_url: str | None = None,
    checkpoint: str | None = None,
    limit: int = 65_536,
    approvals: str | None = None,
    verdict: str | None = None,
) -> str:
    """The sticky comment: the check (marker first), the CAB approvals block, the checkpoint.

    ``approvals`` is the block the approvals flow decided (:func:`approvals_markdown`);
    ``verdict`` the line that says what was decided, policy and approvals together (the Action's).
    """
    tail = (approvals or "") + _checkpoint_block(checkpoint)
    body = render_check_markdown(
        pack,
        evidence_url=evidence_url,
        digest=digest,
        max_chars=limit - len(tail),
        verdict=verdict,
    )
    return body + tail  # the rendering starts with the marker


def report_for(  # noqa: PLR0913 - keyword-only parts of the report
    pack: Mapping[str, Any],
    *,
    digest: str,
    evidence_url: str | None = None,
    checkpoint: str | None = None,
    approval: CheckRun | None = None,
    approvals: str | None = None,
) -> Report:
    """Both check runs and the sticky comment for one evaluated pack.

    ``approval`` and ``approvals`` are the CAB approval run and comment block the approvals
    flow decided (:func:`decided_approval_run`, :func:`approvals_markdown`); without them the
    approval run says what the tier needs.
    """
    return Report(
        policy=policy_check_run(
            pack, digest=digest, evidence_url=evidence_url, checkpoint=checkpoint
        ),
        approval=approval or approval_check_run(pack, digest=digest),
        comment=comment_body(
            pack,
            digest=digest,
            evidence_url=evidence_url,
            checkpoint=checkpoint,
            approvals=approvals,
        ),
    )


def explain_reply(pack: Mapping[str, Any], *, digest: str, requested_by: str) -> str:
    """The answer to ``/eucora explain``: the risk score, factor by factor, with the tier rule."""
    view = CheckPackView.of(pack)
    risk = view.risk
    factors = view.risk_factors
    score = f"**{view.risk_score}/100 ({escape_markdown(view.risk_tier)})**"
    who = escape_markdown(requested_by)
    lines = [f"@{who} here is why the risk is {score} at `{str(view.head)[:12]}`:", ""]
    if not factors:
        lines.append("No risk factor fired: nothing in this change adds risk.")
    else:
        lines.extend(["| points | family | rule | intent | reason |", "|---:|---|---|---|---|"])
        ordered = sorted(
            factors, key=lambda f: (-int(f["points"]), str(f["rule"]), str(f["intent"]))
        )
        lines.extend(
            f"| {f['points']} | {escape_markdown(f['family'])} | `{f['rule']}` | "
            f"{escape_markdown(f['intent'])} | {escape_markdown(f['reason'])} |"
            for f in ordered
        )
    caps = risk.get("caps", {})
    raw: dict[str, int] = {}
    for factor in factors:
        raw[str(factor["family"])] = raw.get(str(factor["family"]), 0) + int(factor["points"])
    capped = [
        f"{escape_markdown(name)} {points} → {caps[name]}"
        for name, points in sorted(raw.items())
        if name in caps and points > int(caps[name])
    ]
    if capped:
        lines.extend(["", "Capped at the family's weight: " + ", ".join(capped) + "."])
    if risk.get("scoreTier") != risk["tier"]:
        lines.extend(
            [
                "",
                (
                    f"The score alone gives tier {escape_markdown(risk.get('scoreTier'))}; "
                    + (
                        f"{escape_markdown(edits[0])} ({escape_markdown(risk['tier'])})."
                        if (
                            edits := [
                                str(r)
                                for r in view.approval_reasons
                                if str(r).startswith("the change edits")
                            ]
                        )
                        else f"a rule raised it to {escape_markdown(risk['tier'])}."
                    )
                ),
            ]
        )
    lines.extend(["", f"<sub>Evidence pack `{digest}`</sub>"])
    return "\n".join(lines) + "\n"


def refusal_reply(user: str, command: Command) -> str:
    """The polite answer to a command from someone without write access."""
    return (
        f"@{escape_markdown(user)} sorry, `/eucora {command.value}` can only be run by people "
        "with write access to this repository. Ask a maintainer to run it."
    )


# --- CAB approvals, as decided from the reviews ---------------------------------------------------

MAX_REVIEW_ROWS = 200
"""Reviews listed in the approval run's summary and the comment; the evidence holds them all."""
MAX_NAMES = 20
"""People named as able to approve; more are counted, not named."""


def _members(teams: Sequence[str], people: Sequence[str]) -> str:
    """``members of org/a, org/b (x, y and 3 more)``: plain text."""
    named = ", ".join(people[:MAX_NAMES])
    more = f" and {len(people) - MAX_NAMES} more" if len(people) > MAX_NAMES else ""
    listed = f" ({named}{more})" if people else ""
    return f"members of {', '.join(teams) or 'no CAB team configured'}{listed}"


def _who_can_approve(decision: ApprovalDecision, cab_teams: Sequence[str]) -> str:
    """Plain text (the callers escape it): the CAB teams, and the members who could approve.

    With routed requirements still waiting, each names its own teams and members.
    """
    parts = []
    if decision.missing or decision.missing_teams or not decision.unmet:
        parts.append(_members(cab_teams, decision.can_approve))
    parts.extend(
        f"route {r.requirement.route}: {_members(r.requirement.teams, r.can_approve)}"
        for r in decision.unmet
    )
    return "who can approve: " + "; ".join(parts)


def approval_explanation(decision: ApprovalDecision, cab_teams: Sequence[str]) -> list[str]:
    """Plain lines (the callers escape them): who can approve, what set the count, and the rules.

    The tier's count and the teams it counts from, each routed requirement (which route
    matched, why, which teams, counted of needed and who counted), and the separation-of-duties
    rules a review must pass.
    """
    counts = ", ".join(f"{tier} {count}" for tier, count in decision.tier_approvals)
    by_tier = dict(decision.tier_approvals).get(decision.tier)
    raised = (
        f" (raised from the tier's {by_tier} by a policy rule or edit)"
        if by_tier is not None and by_tier != decision.required
        else ""
    )
    got = len(decision.tier_counted)
    lines = [
        f"Risk tier {decision.tier}: {decision.required} approval"
        f"{'s' if decision.required != 1 else ''}{raised} from members of "
        f"{', '.join(cab_teams) or 'no CAB team configured'} ({got} counted)"
        + (f"; approvals per tier (risk.approvals): {counts}" if counts else ""),
    ]
    lines.extend(r.line() for r in decision.requirements)
    if decision.rules:
        lines.append("Separation of duties: " + "; ".join(decision.rules) + ".")
    return lines


def _explanation_markdown(decision: ApprovalDecision, cab_teams: Sequence[str]) -> str:
    lines = approval_explanation(decision, cab_teams)
    return "".join(f"- {escape_markdown(line)}\n" for line in lines) + "\n"


def _verdict_row(verdict: ReviewVerdict) -> str:
    if verdict.counted:
        why = "counted" + (f" for {', '.join(verdict.teams)}" if verdict.teams else "")
    else:
        reason = verdict.reason
        why = f"not counted: {REASON_TEXT[reason]}" if reason is not None else "not counted"
    return (
        f"| {verdict.review_id} | {escape_markdown(verdict.reviewer)} | "
        f"{verdict.state.value.lower().replace('_', ' ')} | `{verdict.commit_id[:12]}` | "
        f"{'✅' if verdict.counted else '—'} {escape_markdown(why)} |"
    )


def _reviews_table(decision: ApprovalDecision) -> str:
    verdicts = decision.verdicts
    if not verdicts:
        return "No reviews yet.\n"
    rows = [_verdict_row(v) for v in verdicts[-MAX_REVIEW_ROWS:]]
    cut = len(verdicts) - len(rows)
    note = (
        f"\n{cut:,} earlier reviews are not listed; the evidence holds them all.\n" if cut else ""
    )
    header = "| review | reviewer | state | commit | counted |\n|---:|---|---|---|---|\n"
    return header + "\n".join(rows) + "\n" + note


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def approval_headline(decision: ApprovalDecision, cab_teams: Sequence[str]) -> str:
    """One line of plain text: the outcome, and when waiting how many more and who can approve."""
    if decision.outcome is Outcome.WAITING:
        return f"{decision.summary()} ({_who_can_approve(decision, cab_teams)})"
    return decision.summary()


def decided_approval_run(
    pack: Mapping[str, Any],
    decision: ApprovalDecision,
    *,
    digest: str,
    cab_teams: Sequence[str],
    notes: Sequence[str] = (),
) -> CheckRun:
    """The ``EUCORA CAB approval`` run from the approvals decision.

    ``success`` when approved, ``in_progress`` while waiting (saying for how many more and who
    can approve), ``failure`` when a CAB member's change request or a critical risk without the
    emergency label blocks. A change the policy blocks keeps the pack's ``action_required``
    run: no approval can let it merge. ``notes`` are problems met while deciding (a CAB team
    GitHub would not show), listed in the summary.
    """
    view = CheckPackView.of(pack)
    if view.blocked:
        return approval_check_run(pack, digest=digest)
    head = str(view.head)
    headline = approval_headline(decision, cab_teams)
    warnings = "".join(f"> ⚠️ {escape_markdown(n)}\n" for n in notes)
    summary = (
        f"Risk tier {escape_markdown(decision.tier)}: {escape_markdown(headline)}.\n\n"
        f"{warnings}{_explanation_markdown(decision, cab_teams)}{_reviews_table(decision)}"
    )
    if decision.post_implementation_review_owed:
        summary += "\nEmergency change: a post-implementation review is owed after the merge.\n"
    if decision.outcome is Outcome.APPROVED:
        status, conclusion = CheckStatus.COMPLETED, CheckConclusion.SUCCESS
        title = "No CAB approval needed" if decision.required == 0 else "Approved by the CAB"
    elif decision.outcome is Outcome.WAITING:
        status, conclusion = CheckStatus.IN_PROGRESS, None
        title = _sentence(decision.summary())
    else:
        status, conclusion = CheckStatus.COMPLETED, CheckConclusion.FAILURE
        title = _sentence(decision.summary())
    return CheckRun(
        name=APPROVAL_CHECK,
        head_sha=head,
        status=status,
        conclusion=conclusion,
        output=CheckRunOutput(
            title=_clip(title, ANNOTATION_TITLE_MAX),
            summary=_clip(summary, CHECK_TEXT_MAX_CHARS),
        ),
        external_id=digest,
    )


def approvals_markdown(decision: ApprovalDecision, cab_teams: Sequence[str]) -> str:
    """The sticky comment's CAB approvals block: the outcome and every review's verdict."""
    icon = {
        Outcome.APPROVED: "✅",
        Outcome.WAITING: "⏳",
        Outcome.BLOCKED: "⛔",
        Outcome.CRITICAL_WITHOUT_EMERGENCY: "⛔",
    }[decision.outcome]
    headline = escape_markdown(approval_headline(decision, cab_teams))
    return (
        f"\n### CAB approvals\n\n{icon} {headline}\n\n"
        f"{_explanation_markdown(decision, cab_teams)}"
        f"<details><summary>Reviews ({len(decision.verdicts)})</summary>\n\n"
        f"{_reviews_table(decision)}\n</details>\n"
    )
