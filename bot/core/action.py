"""GitHub Actions mode, the pure parts: the event payload, capped annotations, step outputs.

The runner hands a step the event that started the workflow as a JSON file, reads workflow
commands from the step's output, and reads outputs from a file in its own "environment file"
format. These functions turn a payload into the revisions to check and a check's evidence pack
into what the runner shows; the flow (``bot.flows.action``) does the reading and writing.

CAB approvals in a step: with a token that can read team membership (``approvals-token``) the
flow decides them with ``bot.core.approvals.decide_approvals``, the App's rules, and
:class:`ActionApprovals` says what became of them; :func:`approvals_block`,
:func:`approvals_lines` and :func:`approvals_annotation` show it in the job summary and the
comment, the log, and the check's annotations. Without such a token the step says that
approvals are not enforced, and how to enforce them: never a green "approved" it did not decide.
References: https://docs.github.com/actions/reference/events-that-trigger-workflows,
https://docs.github.com/actions/reference/workflow-commands-for-github-actions.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from bot.core.approvals import (
    REASON_TEXT,
    ApprovalDecision,
    ApprovalPolicy,
    Outcome,
    ReviewState,
)
from bot.core.findings import SEVERITY_ORDER, Finding, Severity
from bot.core.pack_view import CheckPackView
from bot.core.pr_report import approval_explanation, approval_headline
from bot.core.render.approval_lines import policy_rule_lines
from bot.core.render.findings import escape_data, escape_property, render_github
from bot.core.render.formatting import escape_markdown

SUPPORTED_EVENTS = ("pull_request", "pull_request_review", "merge_group")
PULL_REQUEST_EVENTS = ("pull_request", "pull_request_review")
"""Events about one pull request: both carry it whole (``pull_request_review``: on a review)."""

ANNOTATIONS_PER_KIND = 10
"""GitHub shows at most 10 error, 10 warning and 10 notice annotations of one step."""

_SHA_LENGTHS = (40, 64)  # SHA-1 and SHA-256 object names
_HEX = frozenset("0123456789abcdef")


class EventError(ValueError):
    """The event payload cannot be checked: wrong event, missing or malformed fields."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ActionEvent:
    """What the check needs from the event that started the workflow."""

    name: str
    repository: str
    base_sha: str
    head_sha: str
    number: int | None = None
    """The pull request's number; ``None`` for a merge group (there is no one PR to comment on)."""
    labels: tuple[str, ...] = ()
    from_fork: bool = False
    """The head lives in another repository: its token is read-only, so there is no comment."""
    author: str | None = None
    """The pull request's author (``pull_request.user.login``): never counts as its approver."""


def _get(payload: Mapping[str, Any], dotted: str) -> Any:
    value: Any = payload
    for key in dotted.split("."):
        if not isinstance(value, Mapping) or key not in value:
            raise EventError(f"the {dotted} field is missing from the event payload")
        value = value[key]
    return value


def _sha(payload: Mapping[str, Any], dotted: str) -> str:
    value = _get(payload, dotted)
    if not (isinstance(value, str) and len(value) in _SHA_LENGTHS and set(value) <= _HEX):
        raise EventError(f"{dotted} in the event payload is not a commit SHA: {value!r:.80}")
    return value


def _text(payload: Mapping[str, Any], dotted: str) -> str:
    value = _get(payload, dotted)
    if not isinstance(value, str) or not value:
        raise EventError(f"{dotted} in the event payload is not a name: {value!r:.80}")
    return value


def parse_event(name: str, payload: Any) -> ActionEvent:
    """The revisions and context to check, from a ``pull_request`` or ``merge_group`` payload.

    Raises :class:`EventError` with a one-line reason for any other event or a payload that
    lacks what is needed.
    """
    if name not in SUPPORTED_EVENTS:
        raise EventError(
            "EUCORA checks pull_request, pull_request_review and merge_group events, not"
            f" {name or 'no event'!r}:"
            " run it from a workflow triggered by them"
        )
    if not isinstance(payload, Mapping):
        raise EventError("the event payload is not a JSON object")
    repository = _text(payload, "repository.full_name")
    if name == "merge_group":
        return ActionEvent(
            name=name,
            repository=repository,
            base_sha=_sha(payload, "merge_group.base_sha"),
            head_sha=_sha(payload, "merge_group.head_sha"),
        )
    number = _get(payload, "pull_request.number")
    if not isinstance(number, int) or isinstance(number, bool) or number < 1:
        raise EventError(f"pull_request.number is not a pull request number: {number!r:.80}")
    labels = _get(payload, "pull_request").get("labels") or []
    names = tuple(
        sorted({str(label["name"]) for label in labels if isinstance(label, Mapping)} - {""})
    )
    head_repo = _get(payload, "pull_request.head").get("repo")
    head_name = head_repo.get("full_name") if isinstance(head_repo, Mapping) else None
    user = _get(payload, "pull_request").get("user")
    author = user.get("login") if isinstance(user, Mapping) else None
    return ActionEvent(
        name=name,
        repository=repository,
        base_sha=_sha(payload, "pull_request.base.sha"),
        head_sha=_sha(payload, "pull_request.head.sha"),
        number=number,
        labels=names,
        # a deleted fork has no head repo; its token is as read-only as a live fork's
        from_fork=head_name != repository,
        author=author if isinstance(author, str) and author else None,
    )


def _finding(item: Mapping[str, Any]) -> Finding:
    return Finding(
        path=str(item["path"]),
        line=int(item["line"]),
        column=int(item["column"]),
        code=str(item["code"]),
        severity=Severity(item["severity"]),
        message=str(item["message"]),
    )


def capped_annotations(
    findings: Sequence[Mapping[str, Any]], *, per_kind: int = ANNOTATIONS_PER_KIND
) -> str:
    """Workflow commands for a pack's findings, no more of a kind than GitHub shows.

    The most severe come first (the pack's order within a severity). When findings were left
    out, a last notice says how many and where to read them all; it takes one notice's place.
    """
    ordered = sorted(
        (_finding(item) for item in findings), key=lambda f: SEVERITY_ORDER[f.severity]
    )
    by_kind = {s: [f for f in ordered if f.severity is s] for s in Severity}
    shown = [*by_kind[Severity.ERROR][:per_kind], *by_kind[Severity.WARNING][:per_kind]]
    left_out = len(by_kind[Severity.ERROR]) + len(by_kind[Severity.WARNING]) - len(shown)
    notes = by_kind[Severity.NOTE]
    # the closing notice is a notice too: keep it a place when anything is left out
    room = per_kind - 1 if left_out or len(notes) > per_kind else per_kind
    shown.extend(notes[:room])
    left_out += max(0, len(notes) - room)
    commands = render_github(shown)
    if left_out:
        noun = "finding" if left_out == 1 else "findings"
        commands += (
            f"::notice title=EUCORA::{escape_data(f'{left_out:,} more {noun} not annotated')}"
            " (GitHub shows 10 of each kind per step): all are in the job summary and the"
            " evidence pack\n"
        )
    return commands


def _delimiter(name: str, value: str) -> str:
    """A heredoc delimiter that cannot occur in the value (derived from it, so deterministic)."""
    seed = f"{name}\0{value}".encode()
    while True:
        delimiter = "EUCORA_" + hashlib.sha256(seed).hexdigest()
        if delimiter not in value:
            return delimiter
        seed += b"\0"  # pragma: no cover - a value holding its own hash


def format_outputs(outputs: Mapping[str, str]) -> str:
    """Step outputs in the ``$GITHUB_OUTPUT`` file format, safe for multi-line values.

    Each output is written as ``name<<DELIMITER``, the value, ``DELIMITER``, as the runner
    reads multi-line values; names are checked, never escaped.
    """
    lines: list[str] = []
    for name, value in outputs.items():
        if not name or not all(c.isalnum() or c in "-_" for c in name):
            raise ValueError(f"{name!r} is not a step output name")
        delimiter = _delimiter(name, value)
        lines.extend((f"{name}<<{delimiter}", value, delimiter))
    return "".join(f"{line}\n" for line in lines)


def check_outputs(
    pack: Mapping[str, Any],
    *,
    digest: str,
    evidence_file: str,
    approvals: ActionApprovals | None = None,
) -> dict[str, str]:
    """The step outputs of a check: decision, risk tier and score, pack digest and file.

    With ``approvals``, also ``approvals``: what became of the CAB approvals
    (:attr:`ActionApprovals.output`).
    """
    view = CheckPackView.of(pack)
    outputs = {
        "decision": str(view.conclusion),
        "risk-tier": str(view.risk_tier),
        "risk-score": str(view.risk_score),
        "digest": digest,
        "evidence-file": evidence_file,
    }
    if approvals is not None:
        outputs["approvals"] = approvals.output
    return outputs


def evidence_file_name(digest: str) -> str:
    """The file the canonical pack is written to: named by its digest, safe on every runner."""
    return "eucora-evidence-" + digest.replace(":", "-") + ".json"


# --- CAB approvals in a step ----------------------------------------------------------------------

APPROVALS_INPUT = "approvals-token"
"""The action's input for a token that can read team membership (``EUCORA_APPROVALS_TOKEN``)."""
APPROVALS_TITLE = "EUCORA CAB approval"
"""The title of the step's approval annotations: the App's check run name."""
MAX_LISTED = 50
"""Reviews listed as counted or refused in the summary and the log; the rest are counted."""
_APPROVAL_STATES = frozenset({ReviewState.APPROVED, ReviewState.DISMISSED})
"""The reviews listed as refused: approvals (and dismissed ones), not comments."""

HOW_TO_ENFORCE = (
    f"To enforce them, give the action an `{APPROVALS_INPUT}` that can read the CAB teams'"
    " members: an installation token of a GitHub App with the organization permission Members:"
    " read (from `actions/create-github-app-token`), or a fine-grained personal access token with"
    " the organization permission Members: read (see docs/quickstart.md, CAB approvals in the"
    " Action)."
)


class ApprovalsState(StrEnum):
    """What the step made of a change's CAB approvals."""

    DECIDED = "decided"
    """Decided from the reviews, commits and team membership (``decision`` says how)."""
    NOT_ENFORCED = "not-enforced"
    """No token that can read team membership: not decided, and the step says so."""
    NOT_DECIDED = "not-decided"
    """Nothing to decide here: a merge group, or a change the policy check blocks."""
    ERROR = "error"
    """A read the decision needs failed (after retries): the step fails, never guesses."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ActionApprovals:
    """The CAB approvals of the checked change, as the step decided them (or did not).

    ``required`` and ``tier`` come from the check; ``cab_teams`` from the base revision's
    ``eucora.yaml``; ``policy`` is the decision's settings (``pack_approval_policy``: the
    tier's count, the routed requirements, the rules), whether or not it was decided; ``why``
    says why the approvals were not decided (``NOT_DECIDED``, ``ERROR``); ``notes`` are what
    the decision met on the way.
    """

    state: ApprovalsState
    required: int
    tier: str
    cab_teams: tuple[str, ...] = ()
    decision: ApprovalDecision | None = None
    why: str = ""
    notes: tuple[str, ...] = ()
    policy: ApprovalPolicy | None = None

    @property
    def teams(self) -> tuple[str, ...]:
        """Every CAB team of the change: ``cab.teams`` and the matched routes' teams."""
        return self.policy.teams if self.policy is not None else self.cab_teams

    @property
    def output(self) -> str:
        """The ``approvals`` step output: the decision's outcome, or the state."""
        if self.decision is not None:
            return self.decision.outcome.value
        return self.state.value

    @property
    def unmet(self) -> bool:
        """Whether the approvals were decided and are not met (the step fails, exit 1)."""
        return self.decision is not None and self.decision.outcome is not Outcome.APPROVED

    def headline(self) -> str:
        """One line of plain text: the outcome, or why there is none."""
        if self.decision is not None:
            return approval_headline(self.decision, self.cab_teams)
        needed = _needed(self.required, self.tier, self.policy)
        if self.state is ApprovalsState.NOT_ENFORCED:
            return f"not enforced by this step ({needed}; no {APPROVALS_INPUT} given)"
        if self.state is ApprovalsState.ERROR:
            return f"could not be decided ({needed}): {self.why}"
        return f"not decided here ({needed}): {self.why}"


def _needed(required: int, tier: str, policy: ApprovalPolicy | None = None) -> str:
    routed = [
        f"route {r.route} {r.required} approval{'s' if r.required != 1 else ''}"
        f" from {' or '.join(r.teams) or 'no team'}"
        for r in (policy.requirements if policy is not None else ())
        if r.required
    ]
    also = f", and {', '.join(routed)}" if routed else ""
    if required == 0:
        return f"risk tier {tier} needs no CAB approval{also}"
    return f"risk tier {tier} needs {required} CAB approval{'s' if required != 1 else ''}{also}"


def _needs_any(approvals: ActionApprovals) -> bool:
    """Whether the change needs any approval: the tier's count or a matched route's."""
    routes = approvals.policy.requirements if approvals.policy is not None else ()
    return bool(approvals.required or any(r.required for r in routes))


def _teams(cab_teams: Sequence[str]) -> str:
    return ", ".join(cab_teams) or "none configured (eucora.yaml, cab.teams)"


def _counted_lines(decision: ApprovalDecision) -> list[str]:
    """Plain text: who counted (for which teams), and every refused approval with its reason."""
    lines = []
    counted = decision.counted
    for verdict in counted[:MAX_LISTED]:
        teams = f" for {', '.join(verdict.teams)}" if verdict.teams else ""
        lines.append(f"counted: {verdict.reviewer} (review {verdict.review_id}){teams}")
    refused = [v for v in decision.refused if v.state in _APPROVAL_STATES]
    for verdict in refused[:MAX_LISTED]:
        why = REASON_TEXT[verdict.reason] if verdict.reason is not None else "not counted"
        lines.append(f"refused: {verdict.reviewer} (review {verdict.review_id}): {why}")
    lines.extend(
        f"changes requested: {verdict.reviewer} (review {verdict.review_id}), a CAB member"
        for verdict in decision.blocking[:MAX_LISTED]
    )
    left = max(0, len(counted) - MAX_LISTED) + max(0, len(refused) - MAX_LISTED)
    if left:
        lines.append(f"and {left:,} more review{'s' if left != 1 else ''}, not listed")
    return lines


def approvals_lines(approvals: ActionApprovals) -> list[str]:
    """The approvals for the log (plain text), one fact a line."""
    lines = [f"CAB approvals: {approvals.headline()}"]
    lines.append(f"  CAB teams: {_teams(approvals.teams)}")
    lines.extend(f"  {line}" for line in _explanation(approvals))
    decision = approvals.decision
    if decision is not None:
        lines.extend(f"  {line}" for line in _counted_lines(decision))
    lines.extend(f"  note: {note}" for note in approvals.notes)
    if approvals.state is ApprovalsState.NOT_ENFORCED:
        lines.append(
            "  Approvals are NOT enforced: passing this step does not mean the change is approved."
        )
        lines.append("  " + HOW_TO_ENFORCE.replace("`", ""))
    return lines


_ICONS = {
    Outcome.APPROVED: "✅",
    Outcome.WAITING: "⏳",
    Outcome.BLOCKED: "⛔",
    Outcome.CRITICAL_WITHOUT_EMERGENCY: "⛔",
}


def approvals_block(approvals: ActionApprovals) -> str:
    """The approvals for the job summary and the sticky comment (Markdown, from a blank line)."""
    decision = approvals.decision
    facts = [f"CAB teams: {escape_markdown(_teams(approvals.teams))}"]
    facts.extend(escape_markdown(line) for line in _explanation(approvals))
    if decision is not None:
        icon = _ICONS[decision.outcome]
        heading = "CAB approvals (decided by this step)"
        facts.extend(escape_markdown(line) for line in _counted_lines(decision))
    elif approvals.state is ApprovalsState.NOT_ENFORCED:
        icon, heading = "⚠️", "CAB approvals: NOT enforced"
    elif approvals.state is ApprovalsState.ERROR:
        icon, heading = "❌", "CAB approvals: could not be decided"
    else:
        icon, heading = "ℹ️", "CAB approvals"  # noqa: RUF001 - the information sign
    body = f"\n### {heading}\n\n{icon} {escape_markdown(_sentence(approvals.headline()))}.\n\n"
    body += "".join(f"- {fact}\n" for fact in facts)
    body += "".join(f"\n> ⚠️ {escape_markdown(note)}\n" for note in approvals.notes)
    if approvals.state is ApprovalsState.NOT_ENFORCED:
        body += (
            "\n**Passing this step does not mean the change is approved**: the workflow's token"
            " cannot read team membership, so nobody's approval was checked. "
            f"{HOW_TO_ENFORCE}\n"
        )
    return body


def _explanation(approvals: ActionApprovals) -> list[str]:
    """The App's explanation of the approvals (``bot.core.pr_report``), or the settings'.

    Who can approve, what set the count, each routed requirement and the separation-of-duties
    rules; without a decision, the same from the settings (no counts).
    """
    if approvals.decision is not None:
        return approval_explanation(approvals.decision, approvals.cab_teams)
    if approvals.policy is not None:
        return policy_rule_lines(approvals.policy)
    return []


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def approvals_annotation(approvals: ActionApprovals) -> str:
    """A workflow command for the check's annotations: unmet, failed or not enforced approvals.

    Empty when they are met, not needed (and not enforced), or not decided here.
    """
    decision = approvals.decision
    if decision is not None:
        if decision.outcome is Outcome.APPROVED:
            return ""
        level, message = "error", approvals.headline()
    elif approvals.state is ApprovalsState.ERROR:
        level, message = "error", approvals.headline()
    elif approvals.state is ApprovalsState.NOT_ENFORCED and _needs_any(approvals):
        level = "warning"
        needed = _needed(approvals.required, approvals.tier, approvals.policy)
        message = (
            f"CAB approvals are not enforced: {needed} and"
            " this step did not check them. " + HOW_TO_ENFORCE.replace("`", "")
        )
    else:
        return ""
    return f"::{level} title={escape_property(APPROVALS_TITLE)}::{escape_data(message)}\n"


# --- the step's verdict ---------------------------------------------------------------------------


def step_verdict(pack: Mapping[str, Any], approvals: ActionApprovals) -> str | None:
    """The first line of the step's log: what the step decided, policy and approvals together.

    ``None`` when the policy check blocks the change (its own ``BLOCKED`` line says why). With
    the approvals decided: ``PASS — approved by …`` or ``BLOCKED — waiting for CAB approval: 0
    of 1 from …``; without a token: ``PASS (policy) — CAB approvals not enforced: …``, never a
    plain PASS the step did not decide.
    """
    if CheckPackView.of(pack).blocked:
        return None
    decision = approvals.decision
    if decision is not None:
        return _decided_verdict(decision, approvals.cab_teams)
    needed = _needed(approvals.required, approvals.tier, approvals.policy)
    if approvals.state is ApprovalsState.NOT_ENFORCED:
        return f"PASS (policy) — CAB approvals not enforced: {needed}; no {APPROVALS_INPUT} given"
    if approvals.state is ApprovalsState.ERROR:
        return f"ERROR — the policy passes; CAB approvals could not be decided: {approvals.why}"
    return f"PASS (policy) — CAB approvals not decided here: {approvals.why}"


def _decided_verdict(decision: ApprovalDecision, cab_teams: Sequence[str]) -> str:
    if decision.outcome is Outcome.APPROVED:
        if not decision.counted:
            return f"PASS — no CAB approval needed (risk tier {decision.tier})"
        who = ", ".join(
            f"{v.reviewer} ({', '.join(v.teams)})" if v.teams else v.reviewer
            for v in decision.counted
        )
        return f"PASS — approved by {who}"
    if decision.outcome is not Outcome.WAITING:
        return f"BLOCKED — {decision.summary().removeprefix('blocked: ')}"
    parts: list[str] = []
    if decision.missing:
        teams = " or ".join(cab_teams) or "no CAB team configured"
        parts.append(f"{len(decision.tier_counted)} of {decision.required} from {teams}")
    parts.extend(
        f"{len(r.counted)} of {r.requirement.required} from "
        f"{' or '.join(r.requirement.teams) or 'no team'} (route {r.requirement.route})"
        for r in decision.unmet
    )
    quorum = decision.missing_teams and (decision.distinct_teams > 1 or not decision.missing)
    if not parts or quorum or decision.unresolved:  # as the summary says them
        parts.append(decision.summary().removeprefix("waiting for "))
    return "BLOCKED — waiting for CAB approval: " + "; ".join(parts)
