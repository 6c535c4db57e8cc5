"""The check of a pull request, as one pure function.

What changed, which rules fire, how risky, how many approvals, and whether it may proceed.
One pure function, :func:`run_check`, shared by the CLI, the webhook bot and
the GitHub Action.

Rules, ``eucora.yaml`` and waivers are always those of the **base** revision: a pull request cannot
weaken what judges it. When it changes them, the new rules are also evaluated on the changed
intents at head, as an informational preview.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any

from bot.core.approval_routing import (
    ChangedIntent,
    Requirement,
    route_approvals,
    routing_configured,
)
from bot.core.cel import CelEnvironment
from bot.core.changes import (
    ChangeKind,
    FieldDiff,
    FileAtRevision,
    FileChange,
    RevisionPair,
    diff_values,
)
from bot.core.documents import DocumentKind, DocumentValidator, ValidatedDocument
from bot.core.facts import FactInputs, derive_facts, with_tier
from bot.core.findings import Finding, Severity, sort_findings
from bot.core.policy import CompiledPolicyPack, RuleResult, evaluate_rules
from bot.core.repo_config import CONFIG_NAMES
from bot.core.risk import (
    RiskFactor,
    approvals_for,
    higher_tier,
    score_factors,
    tier_for,
)
from bot.core.waivers import WaiverBook

EMPTY_WAIVERS = WaiverBook(active={}, expired=(), expiring=(), findings=())


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckInputs:
    """Everything a check is a function of."""

    pair: RevisionPair
    validator: DocumentValidator
    env: CelEnvironment
    pack: CompiledPolicyPack
    config: Mapping[str, Any]
    waivers: WaiverBook
    now: datetime
    labels: tuple[str, ...] = ()
    timezones: Mapping[str, tzinfo] = field(default_factory=dict)
    known_apps: frozenset[str] = frozenset()
    preview_pack: CompiledPolicyPack | None = None
    preview_intents: tuple[FileAtRevision, ...] = ()
    base_findings: tuple[Finding, ...] = ()
    head_findings: tuple[Finding, ...] = ()
    """Errors of the pull request's own rules (they do not compile at head): they block."""


@dataclass(frozen=True, slots=True)
class IntentResult:
    """The verdict on one changed intent."""

    change: FileChange
    name: str
    document: ValidatedDocument | None
    diffs: tuple[FieldDiff, ...]
    facts: Mapping[str, Any]
    results: tuple[RuleResult, ...]
    factors: tuple[RiskFactor, ...]
    score: int
    tier: str
    preview: tuple[RuleResult, ...] = ()
    routing: ChangedIntent | None = None
    """What approval routing (``cab.routes``) sees of the intent, at the base and the head."""


@dataclass(frozen=True, slots=True)
class PreviewEntry:
    """What the pull request's new rules would say about one intent at head, unlike the base's."""

    intent: str
    path: str
    now_matches: tuple[str, ...]
    no_longer_matches: tuple[str, ...]
    would_block: bool

    def as_dict(self) -> dict[str, Any]:
        """Plain data for the evidence pack."""
        return {
            "intent": self.intent,
            "path": self.path,
            "nowMatches": list(self.now_matches),
            "noLongerMatches": list(self.no_longer_matches),
            "wouldBlock": self.would_block,
        }


@dataclass(frozen=True, slots=True)
class CheckResult:
    """The whole verdict on a pull request."""

    inputs: CheckInputs
    intents: tuple[IntentResult, ...]
    findings: tuple[Finding, ...]
    score: int
    by_family: Mapping[str, int]
    tier: str
    required_approvals: int
    approval_reasons: tuple[str, ...]
    blocked: bool
    reasons: tuple[str, ...]
    touched_files: tuple[str, ...]
    riskiest: str | None = None
    score_tier: str = "low"
    policy_preview: tuple[PreviewEntry, ...] = ()
    routes: tuple[Requirement, ...] | None = None
    """The routed approval requirements (``cab.routes``); ``None`` when none are configured."""

    @property
    def conclusion(self) -> str:
        """``blocked`` or ``pass`` (may proceed once the approvals are in)."""
        return "blocked" if self.blocked else "pass"


_FOLDER_KINDS = {"policies": DocumentKind.POLICY, "waivers": DocumentKind.WAIVERS}


def repository_kind(path: str) -> DocumentKind | None:
    """The kind of a repository file that is not an intent, by where it lives.

    ``eucora.yaml`` at the root, a file directly in ``policies/`` or ``waivers/`` (as the git
    adapter reads them); ``None`` for anything else, the intents.
    """
    parts = path.split("/")
    if len(parts) == 1:
        return DocumentKind.CONFIG if path in CONFIG_NAMES else None
    return _FOLDER_KINDS.get(parts[-2]) if len(parts) == 2 else None


def _intent_name(doc: ValidatedDocument | None, path: str) -> str:
    if doc is not None and isinstance(doc.data, dict):
        metadata = doc.data.get("metadata")
        if isinstance(metadata, dict) and isinstance(metadata.get("name"), str):
            return str(metadata["name"])
    return path


def _diffs(base: ValidatedDocument | None, head: ValidatedDocument | None) -> tuple[FieldDiff, ...]:
    """Field diffs with the line of each at head (at base for a removed value).

    The lines come from one partial positional pass per side over just the changed pointers.
    """
    old = base.data if base is not None and isinstance(base.data, dict) else None
    new = head.data if head is not None and isinstance(head.data, dict) else None
    changed = diff_values(old, new)
    at_head = [b is not None and head is not None for _, _, b in changed]
    lines: dict[bool, dict[str, tuple[int, int]]] = {}
    for doc, side in ((head, True), (base, False)):
        pointers = [p for (p, _, _), h in zip(changed, at_head, strict=True) if h is side]
        if doc is not None and doc.text is not None and pointers:
            lines[side] = doc.positions_of(pointers)
    return tuple(
        FieldDiff(pointer=p, old=a, new=b, line=lines[h][p][0] if h in lines else None)
        for (p, a, b), h in zip(changed, at_head, strict=True)
    )


def _apply_waivers(results: list[RuleResult], name: str, waivers: WaiverBook) -> list[RuleResult]:
    out = []
    for result in results:
        waiver = waivers.lookup(result.rule.id, name) if result.matched else None
        out.append(
            result
            if waiver is None
            else RuleResult(
                rule=result.rule,
                matched=True,
                message=result.message,
                waived_by=f"{waiver.ticket} ({waiver.owner}, until {waiver.expires})",
                at=result.at,
            )
        )
    return out


def _factors(results: Sequence[RuleResult], name: str) -> list[RiskFactor]:
    return [
        RiskFactor(name, r.rule.id, r.rule.risk.family, r.rule.risk.points, r.rule.risk.reason)
        for r in results
        if r.matched and r.rule.risk is not None and r.rule.enforcement.value != "audit"
    ]


@dataclass(frozen=True, slots=True)
class Judgement:
    """The rules' verdict on one intent: results, risk factors, score, tier and the facts used."""

    facts: Mapping[str, Any]
    results: tuple[RuleResult, ...]
    factors: tuple[RiskFactor, ...]
    score: int
    tier: str
    preview: tuple[RuleResult, ...] = ()


def judge_intent(  # noqa: PLR0913 - the keyword arguments are optional context
    facts_inputs: FactInputs,
    pack: CompiledPolicyPack,
    env: CelEnvironment,
    *,
    name: str,
    waivers: WaiverBook | None = None,
    preview_pack: CompiledPolicyPack | None = None,
) -> Judgement:
    """Evaluate a pack on one intent in two passes.

    First the rules that give risk; then the rules that read the tier the risk gave
    (``facts.tier``), which may deny or require approvals but add no risk.
    """
    config = facts_inputs.config
    facts = derive_facts(facts_inputs)
    variables = {
        "intent": dict(facts_inputs.intent),
        "base": dict(facts_inputs.base) if facts_inputs.base is not None else None,
        "facts": facts,
        "config": dict(config),
        "now": facts_inputs.now,
    }
    book = waivers if waivers is not None else EMPTY_WAIVERS
    first_rules = [r for r in pack.rules if not r.uses_tier]
    tier_rules = [r for r in pack.rules if r.uses_tier]
    results = _apply_waivers(evaluate_rules(first_rules, env, variables), name, book)
    factors = _factors(results, name)
    score = score_factors(factors).score
    tier = tier_for(score, config)
    if tier_rules:
        variables["facts"] = facts = with_tier(facts, tier, config)
        results += _apply_waivers(evaluate_rules(tier_rules, env, variables), name, book)
    preview = evaluate_rules(preview_pack.rules, env, variables) if preview_pack else []
    return Judgement(
        facts=facts,
        results=tuple(results),
        factors=tuple(factors),
        score=score,
        tier=tier,
        preview=tuple(preview),
    )


def _evaluate_intent(
    inputs: CheckInputs, change: FileChange, *, config_changed: bool, policies_changed: bool
) -> tuple[IntentResult, list[Finding]]:
    validator = inputs.validator
    base = (
        validator.validate(change.base.raw, change.base.path, DocumentKind.INTENT)
        if change.base is not None
        else None
    )
    head = (
        validator.validate(change.head.raw, change.head.path, DocumentKind.INTENT)
        if change.head is not None
        else None
    )
    findings = list(head.findings) if head is not None else []
    subject = head if head is not None else base
    name = _intent_name(subject, change.path)
    routing = ChangedIntent.of(
        change.path,
        base_path=change.base.path if change.base is not None else None,
        documents=[d.data for d in (base, head) if d is not None and d.ok],
    )
    if subject is None or not subject.ok:
        empty = IntentResult(change, name, head, (), {}, (), (), 0, "low", routing=routing)
        return empty, findings
    base_data = base.data if base is not None and base.ok and change.head is not None else None
    judgement = judge_intent(
        FactInputs(
            change=change.kind,
            path=change.path,
            intent=subject.data,
            base=base_data,
            config=inputs.config,
            now=inputs.now,
            labels=inputs.labels,
            timezones=inputs.timezones,
            other_paths=inputs.pair.other_paths,
            config_changed=config_changed,
            policies_changed=policies_changed,
            known_apps=inputs.known_apps,
        ),
        inputs.pack,
        inputs.env,
        name=name,
        waivers=inputs.waivers,
        preview_pack=inputs.preview_pack,
    )
    findings.extend(_rule_findings(judgement.results, subject))
    result = IntentResult(
        change=change,
        name=name,
        document=head,
        diffs=_diffs(base, head),
        facts=judgement.facts,
        results=judgement.results,
        factors=judgement.factors,
        score=judgement.score,
        tier=judgement.tier,
        preview=judgement.preview,
        routing=routing,
    )
    return result, findings


def _present(data: Any, pointer: str) -> bool:
    """Tell whether a JSON pointer names a value of the data."""
    node = data
    for raw in pointer.split("/")[1:]:
        token = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return False
    return True


def _judged_pointer(result: RuleResult, data: Any) -> str | None:
    """The first of a result's pointers present in the data, else its first; ``None``: none."""
    if not result.at:
        return None
    return next((p for p in result.at if _present(data, p)), result.at[0])


def rule_position(result: RuleResult, doc: ValidatedDocument) -> tuple[int, int]:
    """Where a rule's finding belongs in the intent: the first of its pointers that is present.

    When none is (a rule about a missing field), the first pointer's nearest present ancestor; a
    rule that names no field points at the intent as a whole (line 1).
    """
    pointer = _judged_pointer(result, doc.data)
    return (1, 1) if pointer is None else doc.positions_of([pointer])[pointer]


def _shown(result: RuleResult) -> bool:
    """Whether a result is a finding: a denial or warning that no waiver covers."""
    if result.rule.enforcement.value == "audit" or result.waived_by is not None:
        return False
    if not (result.matched or result.error is not None):
        return False
    # A risk- or approvals-only rule is shown in the risk, not as a finding.
    return result.enforced or result.rule.enforcement.value != "deny" or result.error is not None


def _rule_findings(results: Sequence[RuleResult], doc: ValidatedDocument) -> list[Finding]:
    """Denials and warnings as findings on the intent file, at the field the rule judges.

    The lines of all the judged fields come from one partial pass over the file.
    """
    shown = [(r, _judged_pointer(r, doc.data)) for r in results if _shown(r)]
    wanted = {pointer for _, pointer in shown if pointer is not None}
    found = doc.positions_of(sorted(wanted)) if wanted else {}
    out = []
    for result, pointer in shown:
        blocking = result.enforced
        path, message = doc.path, result.message or result.rule.description
        line, column = (1, 1) if pointer is None else found[pointer]
        if result.aborted:  # the rule's fault, not the intent's: point at the rule
            # A deny rule CEL stopped blocks even when it only adds risk or approvals: the
            # points and approvals it could not give must not make the change look safer.
            blocking = result.rule.enforcement.value == "deny"
            path, line, column = result.rule.source, result.rule.line, 1
            message = f"{message} (evaluating {doc.path}): make the rule cheaper"
        out.append(
            Finding(
                path=path,
                line=line,
                column=column,
                code=f"rule.{result.rule.id}",
                severity=Severity.ERROR if blocking else Severity.WARNING,
                message=message,
            )
        )
    return out


def _repository_files(inputs: CheckInputs) -> tuple[list[Finding], bool, bool]:
    """Validate changed config, policy and waiver files at head; say whether each kind changed."""
    findings: list[Finding] = []
    config_changed = policies_changed = False
    for change in inputs.pair.changes:
        kind = repository_kind(change.path)
        if kind is None:
            continue
        config_changed |= kind is DocumentKind.CONFIG
        policies_changed |= kind is DocumentKind.POLICY
        if change.head is not None:
            doc = inputs.validator.validate(change.head.raw, change.head.path, kind)
            findings.extend(doc.findings)
    return findings, config_changed, policies_changed


def run_check(inputs: CheckInputs) -> CheckResult:
    """Judge a pull request: validate, evaluate the base rules, score, require approvals, decide."""
    findings: list[Finding] = list(inputs.base_findings) + list(inputs.pack.findings)
    findings.extend(inputs.waivers.findings)
    repo_findings, config_changed, policies_changed = _repository_files(inputs)
    findings.extend(repo_findings)
    findings.extend(f for f in inputs.head_findings if f not in repo_findings)
    intents: list[IntentResult] = []
    for change in inputs.pair.changes:
        if repository_kind(change.path) is not None:
            continue
        result, intent_findings = _evaluate_intent(
            inputs, change, config_changed=config_changed, policies_changed=policies_changed
        )
        intents.append(result)
        findings.extend(intent_findings)
    riskiest = max(intents, key=lambda i: i.score, default=None)
    risk = score_factors(riskiest.factors if riskiest is not None else ())
    score = risk.score
    tier = tier_for(score, inputs.config)
    approval_reasons = [f"{tier} risk (score {score})"]
    if config_changed or policies_changed:
        what = "eucora.yaml" if config_changed else "policies"
        tier = higher_tier(tier, "high")
        approval_reasons.append(f"the change edits {what}: at least high tier")
    required = approvals_for(tier, inputs.config)
    for intent in intents:
        for rule_result in intent.results:
            minimum = rule_result.rule.approvals
            if (
                rule_result.matched
                and minimum is not None
                and rule_result.waived_by is None
                and (rule_result.rule.enforcement.value != "audit")
            ):
                if minimum > required:
                    approval_reasons.append(f"{rule_result.rule.id} requires {minimum} approvals")
                required = max(required, minimum)
    reasons: list[str] = []
    errors = [f for f in findings if f.severity is Severity.ERROR]
    if errors:
        codes = ", ".join(sorted({f.code for f in errors}))
        reasons.append(f"{len(errors)} error finding{'s' if len(errors) != 1 else ''} ({codes})")
    emergency = any(i.facts.get("emergency") for i in intents) or _emergency(inputs)
    if tier == "critical" and not emergency:
        reasons.append("critical risk: only with the emergency label")
    return CheckResult(
        inputs=inputs,
        intents=tuple(intents),
        findings=sort_findings(findings),
        score=score,
        by_family=risk.by_family,
        tier=tier,
        required_approvals=required,
        approval_reasons=tuple(approval_reasons),
        blocked=bool(reasons),
        reasons=tuple(reasons),
        touched_files=tuple(c.path for c in inputs.pair.changes),
        riskiest=riskiest.name if riskiest is not None else None,
        policy_preview=_policy_preview(inputs) if policies_changed else (),
        score_tier=tier_for(score, inputs.config),
        routes=_routes(inputs, intents),
    )


def _routes(inputs: CheckInputs, intents: Sequence[IntentResult]) -> tuple[Requirement, ...] | None:
    """The routed approval requirements of the change, or ``None`` without ``cab.routes``."""
    if not routing_configured(inputs.config):
        return None
    changed = [i.routing for i in intents if i.routing is not None]
    seen = {i.change.path for i in intents}
    others = [
        *inputs.pair.other_paths,
        *(c.path for c in inputs.pair.changes if c.path not in seen),
        *(c.base.path for c in inputs.pair.changes if c.base is not None and c.path not in seen),
    ]
    return route_approvals(inputs.config, changed, others)


def _emergency(inputs: CheckInputs) -> bool:
    labels = inputs.config.get("labels")
    name = labels.get("emergency") if isinstance(labels, dict) else None
    return (name or "eucora:emergency") in inputs.labels


def _policy_preview(inputs: CheckInputs) -> tuple[PreviewEntry, ...]:
    """Evaluate the pull request's own rules on every intent at head, next to the base's rules.

    Informational: the verdict still comes from base. Lists only intents where the answer differs.
    """
    if inputs.preview_pack is None:
        return ()
    entries: list[PreviewEntry] = []
    for file in inputs.preview_intents:
        doc = inputs.validator.validate(file.raw, file.path, DocumentKind.INTENT)
        if not doc.ok:
            continue
        name = _intent_name(doc, file.path)
        judgement = judge_intent(
            FactInputs(
                change=ChangeKind.MODIFIED,
                path=file.path,
                intent=doc.data,
                base=doc.data,
                config=inputs.config,
                now=inputs.now,
                labels=inputs.labels,
                timezones=inputs.timezones,
                policies_changed=True,
            ),
            inputs.pack,
            inputs.env,
            name=name,
            waivers=inputs.waivers,
            preview_pack=inputs.preview_pack,
        )
        before = {r.rule.id for r in judgement.results if r.matched}
        after = {r.rule.id for r in judgement.preview if r.matched}
        if before != after:
            entries.append(
                PreviewEntry(
                    intent=name,
                    path=file.path,
                    now_matches=tuple(sorted(after - before)),
                    no_longer_matches=tuple(sorted(before - after)),
                    would_block=any(r.enforced for r in judgement.preview),
                )
            )
    return tuple(entries)
