"""Policy packs: compile once per base revision, evaluate per changed intent.

A rule is YAML with a CEL ``when`` and effects (``deny``, ``risk``, ``approvals``), see
``schemas/policy.schema.json``. Compiling a pack checks every expression against the declared
environment — syntax, functions, and the fields it names against the intent and config schemas and
the documented facts — and turns every problem into a finding at the rule's file, line and column,
never an exception. Types are checked too: each expression is compiled a second time, only to be
checked, against protobuf messages generated from the same schemas and :data:`FACTS_SCHEMA`
(:mod:`bot.core.cel_types`), so that CEL's own checker refuses ``intent.package.signed == 'yes'``
at the operator's column (``policy.type``); the library's checker knows every operator, macro and
function, which a pass of our own over field references would have to re-implement. Evaluation
itself stays on maps, so the check never changes a result.

Evaluation errors are values too: a ``deny`` rule that cannot be evaluated blocks (fail closed, as
Kubernetes admission policies do by default), a ``warn`` or ``audit`` rule that cannot is recorded.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from functools import lru_cache
from typing import Any

from bot.core.cel import (
    WRONG_TYPE,
    CelCompileError,
    CelEnvironment,
    Program,
    TypeChecker,
    blank_literals,
)
from bot.core.cel_types import declare_messages
from bot.core.documents import ValidatedDocument
from bot.core.facts import FACTS_SCHEMA
from bot.core.findings import Finding, Severity
from bot.core.schema import RawFinding


class Enforcement(StrEnum):
    """What a matching rule does: block, report, or only record."""

    DENY = "deny"
    WARN = "warn"
    AUDIT = "audit"


TIER_FACTS = frozenset({"tier", "tier_min_soak_hours"})
_PLACEHOLDER = re.compile(r"\{\{(.*?)\}\}")


@dataclass(frozen=True, slots=True)
class RiskEffect:
    """Points added to the risk score when a rule matches."""

    points: int
    family: str
    reason: str


@dataclass(frozen=True, slots=True)
class Rule:
    """One compiled rule and where it was written."""

    id: str
    description: str
    enforcement: Enforcement
    program: Program
    source: str
    line: int
    deny_message: str | None = None
    placeholders: tuple[tuple[str, Program], ...] = ()
    risk: RiskEffect | None = None
    approvals: int | None = None
    planes: frozenset[str] = frozenset()
    platforms: frozenset[str] = frozenset()
    uses_tier: bool = False
    at: tuple[str, ...] = ()
    """JSON pointers into the intent of the field(s) the rule judges (``at:``), in order."""
    at_program: Program | None = None
    """The rule's ``atExpr``: CEL giving a pointer or a list of pointers, tried before ``at``."""

    def applies_to(self, intent: Mapping[str, Any]) -> bool:
        """Tell whether the rule's ``appliesTo`` admits the intent's plane and platform."""
        return (not self.planes or intent.get("plane") in self.planes) and (
            not self.platforms or intent.get("platform") in self.platforms
        )


@dataclass(frozen=True, slots=True)
class CompiledPolicyPack:
    """Every usable rule of a pack, its digest, and the findings about broken rules."""

    rules: tuple[Rule, ...]
    digest: str
    findings: tuple[Finding, ...] = ()
    sources: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RuleResult:
    """What one rule said about one intent."""

    rule: Rule
    matched: bool
    message: str = ""
    error: str | None = None
    waived_by: str | None = None
    aborted: bool = False
    """CEL itself stopped the evaluation (its iteration budget): a finding on the rule."""
    at: tuple[str, ...] = ()
    """Where in the intent the finding belongs: the pointers of ``atExpr``, then of ``at``."""

    @property
    def enforced(self) -> bool:
        """A match (or a failed evaluation) of a deny rule that no waiver covers blocks."""
        return (
            (self.matched or self.error is not None)
            and self.rule.enforcement is Enforcement.DENY
            and self.rule.deny_message is not None
            and self.waived_by is None
        )

    def as_dict(self) -> dict[str, Any]:
        """Plain data for the evidence pack (details only where the rule matched or failed)."""
        out: dict[str, Any] = {"rule": self.rule.id, "matched": self.matched}
        if self.matched or self.error is not None:
            out["enforcement"] = self.rule.enforcement.value
            if self.message:
                out["message"] = self.message
            if self.error is not None:
                out["error"] = self.error
            if self.waived_by is not None:
                out["waivedBy"] = self.waived_by
        return out


# --- static checks of field references ------------------------------------------------------------


@dataclass(slots=True)
class _Node:
    """What is known about the fields under a value: names, or any name (a map), or item shape."""

    fields: dict[str, _Node] = field(default_factory=dict)
    any_field: _Node | None = None
    item: _Node | None = None
    open: bool = False


def schema_tree(schema: Mapping[str, Any]) -> _Node:
    """Build the field tree of a JSON Schema (properties, items, maps), following local $refs."""
    defs = schema.get("$defs", {})

    def build(node: Any, depth: int = 0) -> _Node:
        out = _Node()
        if not isinstance(node, dict) or depth > 20:
            out.open = True
            return out
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            return build(defs.get(ref.removeprefix("#/$defs/")), depth + 1)
        for name, sub in node.get("properties", {}).items():
            out.fields[name] = build(sub, depth + 1)
        extra = node.get("additionalProperties")
        if isinstance(extra, dict):
            out.any_field = build(extra, depth + 1)
        if isinstance(node.get("items"), dict):
            out.item = build(node["items"], depth + 1)
        for keyword in ("allOf", "anyOf", "oneOf"):
            for sub in node.get(keyword, []):
                merged = build(sub, depth + 1)
                for name, child in merged.fields.items():
                    out.fields.setdefault(name, child)
        return out

    return build(schema)


@lru_cache(maxsize=4)
def _type_checker(schemas: str) -> TypeChecker:
    """The typed environment for a pair of schemas (keyed by their JSON text; built once)."""
    intent_schema, config_schema = json.loads(schemas)
    pool = declare_messages(
        {"Intent": intent_schema, "Config": config_schema, "Facts": FACTS_SCHEMA}
    )
    return TypeChecker(
        pool,
        {
            "intent": "eucora.Intent",
            "base": "eucora.Intent",
            "facts": "eucora.Facts",
            "config": "eucora.Config",
        },
    )


_ROOT = re.compile(r"(?<![\w.])(intent|base|facts|config)\b")
_IDENT = re.compile(r"\s*\.\s*([A-Za-z_][A-Za-z0-9_]*)")
_MACRO_VAR = re.compile(r"\s*\(\s*([A-Za-z_][A-Za-z0-9_]*)\s*,")
_MACROS = frozenset({"all", "exists", "exists_one", "map", "filter"})


def _skip_brackets(source: str, index: int) -> int:
    depth = 0
    while index < len(source):
        if source[index] == "[":
            depth += 1
        elif source[index] == "]":
            depth -= 1
            if depth == 0:
                return index + 1
        index += 1
    return index


def check_references(source: str, trees: Mapping[str, _Node]) -> list[tuple[int, str]]:
    """Find field names that the schemas or the facts do not declare; return (offset, message)."""
    problems: list[tuple[int, str]] = []
    roots = dict(trees)
    stripped = blank_literals(source)
    for _ in range(2):  # second pass sees comprehension variables bound in the first
        problems.clear()
        pattern = re.compile(r"(?<![\w.])(" + "|".join(map(re.escape, roots)) + r")\b")
        for match in pattern.finditer(stripped):
            node: _Node | None = roots[match.group(1)]
            trail = match.group(1)
            index = match.end()
            while node is not None and index < len(stripped):
                if stripped[index] == "[":
                    index = _skip_brackets(stripped, index)
                    node = node.item or node.any_field or (_Node(open=True) if node.open else None)
                    trail += "[]"
                    continue
                ident = _IDENT.match(stripped, index)
                if ident is None:
                    break
                name = ident.group(1)
                after = ident.end()
                if after < len(stripped) and stripped[after] == "(":
                    var = _MACRO_VAR.match(stripped, after)
                    if name in _MACROS and var is not None and node.item is not None:
                        roots[var.group(1)] = node.item
                    break
                if node.open:
                    break
                child = node.fields.get(name) or node.any_field
                if child is None:
                    hint = difflib.get_close_matches(name, list(node.fields), n=1)
                    suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
                    problems.append(
                        (ident.start(1), f"unknown field {name!r} in {trail}{suggestion}")
                    )
                    break
                node = child
                trail += f".{name}"
                index = after
    return problems


# --- compiling a pack ---------------------------------------------------------------------------


def _position_in_yaml(
    doc: ValidatedDocument, pointer: str, line: int, column: int
) -> tuple[int, int]:
    """Map a line/column inside a ``when`` expression to the YAML file."""
    base_line, base_column = doc.source_map().position(pointer)
    text = doc.text or ""
    lines = text.splitlines()
    value_line = lines[base_line - 1] if 0 < base_line <= len(lines) else ""
    indicator = value_line[base_column - 1 : base_column] if base_column <= len(value_line) else ""
    if indicator in {"|", ">"}:  # block scalar: the expression starts on the next line
        body = lines[base_line] if base_line < len(lines) else ""
        indent = len(body) - len(body.lstrip(" "))
        return base_line + line, indent + column
    quote = 1 if indicator in {"'", '"'} else 0
    if line == 1:
        return base_line, base_column + quote + column - 1
    return base_line + line - 1, column


def _finding(doc: ValidatedDocument, position: tuple[int, int], code: str, message: str) -> Finding:
    return Finding(
        path=doc.path,
        line=position[0],
        column=position[1],
        code=code,
        severity=Severity.ERROR,
        message=message,
    )


def _offset_to_line_column(source: str, offset: int) -> tuple[int, int]:
    before = source[:offset]
    return before.count("\n") + 1, offset - (before.rfind("\n") + 1) + 1


@dataclass(frozen=True, slots=True)
class _Declared:
    """What a rule is checked against: the field trees (names) and the typed environment."""

    trees: Mapping[str, _Node]
    checker: TypeChecker


def _error_code(error: CelCompileError) -> str:
    """``policy.type`` for a value of the wrong type, ``policy.cel`` for anything else."""
    return "policy.type" if error.message.startswith(WRONG_TYPE) else "policy.cel"


def _placeholder_finding(
    doc: ValidatedDocument, index: int, rule_id: str, expression: str, error: CelCompileError
) -> Finding:
    return doc.locate(
        RawFinding(
            f"/rules/{index}/deny/message",
            _error_code(error),
            f"rule {rule_id}: placeholder {{{{{expression}}}}}: {error.message}",
        )
    )


def check_pointer(pointer: str, tree: _Node) -> str | None:
    """Say what is wrong with an ``at:`` pointer into the intent, or ``None`` when it may exist."""
    node: _Node | None = tree
    trail = ""
    for raw in pointer.split("/")[1:]:
        token = raw.replace("~1", "/").replace("~0", "~")
        if node is None or node.open:
            return None
        if node.item is not None and token.isdigit():
            node, trail = node.item, f"{trail}/{raw}"
            continue
        child = node.fields.get(token) or node.any_field
        if child is None:
            hint = difflib.get_close_matches(token, list(node.fields), n=1)
            suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
            where = f" under {trail}" if trail else ""
            return f"at: {pointer}: the intent has no field {token!r}{where}{suggestion}"
        node, trail = child, f"{trail}/{raw}"
    return None


def _compile_at(
    doc: ValidatedDocument,
    index: int,
    data: Mapping[str, Any],
    env: CelEnvironment,
    trees: Mapping[str, _Node],
) -> tuple[tuple[str, ...], Program | None, list[Finding]]:
    """The rule's ``at`` pointers (checked against the intent schema) and compiled ``atExpr``."""
    rule_id = str(data["id"])
    findings: list[Finding] = []
    pointers = tuple(str(p) for p in data.get("at", ()))
    for number, pointer in enumerate(pointers):
        problem = check_pointer(pointer, trees["intent"])
        if problem is not None:
            findings.append(
                doc.locate(
                    RawFinding(
                        f"/rules/{index}/at/{number}",
                        "policy.unknown-field",
                        f"rule {rule_id}: {problem}",
                    )
                )
            )
    expression = data.get("atExpr")
    if not isinstance(expression, str):
        return pointers, None, findings
    pointer = f"/rules/{index}/atExpr"
    findings.extend(
        _finding(
            doc,
            _position_in_yaml(doc, pointer, *_offset_to_line_column(expression, offset)),
            "policy.unknown-field",
            f"rule {rule_id}: atExpr: {message}",
        )
        for offset, message in check_references(expression, trees)
    )
    try:
        return pointers, env.compile(expression), findings
    except CelCompileError as error:
        position = _position_in_yaml(doc, pointer, error.line, error.column)
        text = f"rule {rule_id}: atExpr: {error.message}"
        findings.append(_finding(doc, position, _error_code(error), text))
        return pointers, None, findings


def _compile_rule(
    doc: ValidatedDocument,
    index: int,
    data: Mapping[str, Any],
    env: CelEnvironment,
    declared: _Declared,
) -> tuple[Rule | None, list[Finding]]:
    trees, checker = declared.trees, declared.checker
    pointer = f"/rules/{index}/when"
    source = str(data["when"])
    rule_id = str(data["id"])
    findings = [
        _finding(
            doc,
            _position_in_yaml(doc, pointer, *_offset_to_line_column(source, offset)),
            "policy.unknown-field",
            f"rule {rule_id}: {message}",
        )
        for offset, message in check_references(source, trees)
    ]
    try:
        program = env.compile(source)
    except CelCompileError as error:
        position = _position_in_yaml(doc, pointer, error.line, error.column)
        text = f"rule {rule_id}: {error.message}"
        findings.append(_finding(doc, position, _error_code(error), text))
        return None, findings
    if not findings:
        try:
            checker.check(source)
        except CelCompileError as error:
            position = _position_in_yaml(doc, pointer, error.line, error.column)
            text = f"rule {rule_id}: {error.message}"
            return None, [_finding(doc, position, _error_code(error), text)]
    deny = data.get("deny")
    message = str(deny["message"]) if isinstance(deny, dict) else None
    placeholders: list[tuple[str, Program]] = []
    for expression in _PLACEHOLDER.findall(message or ""):
        text = expression.strip()
        try:
            placeholders.append((expression, env.compile(text)))
        except CelCompileError as error:
            findings.append(_placeholder_finding(doc, index, rule_id, expression, error))
            continue
        try:
            checker.check(text)
        except CelCompileError as error:
            # A placeholder that fails at run time renders as "<expr: not set>", so one naming a
            # field the types do not declare stays allowed (as before); a wrong type is a finding.
            if _error_code(error) == "policy.type":
                findings.append(_placeholder_finding(doc, index, rule_id, expression, error))
    risk = data.get("risk")
    effect = (
        RiskEffect(int(risk["points"]), str(risk["family"]), str(risk["reason"]))
        if isinstance(risk, dict)
        else None
    )
    expressions = [source, *(text for text, _ in placeholders)]
    uses_tier = any(f"facts.{name}" in e for e in expressions for name in TIER_FACTS)
    if uses_tier and effect is not None:
        findings.append(
            doc.locate(
                RawFinding(
                    f"/rules/{index}/risk",
                    "policy.tier-cycle",
                    f"rule {rule_id} reads facts.tier, which the risk score decides: "
                    "it may deny or require approvals, not add risk",
                )
            )
        )
        return None, findings
    at, at_program, at_findings = _compile_at(doc, index, data, env, trees)
    findings.extend(at_findings)
    if findings:
        return None, findings
    applies_to = data.get("appliesTo")
    applies: Mapping[str, Any] = applies_to if isinstance(applies_to, dict) else {}
    approvals = data.get("approvals")
    rule = Rule(
        id=rule_id,
        description=str(data.get("description", "")),
        enforcement=Enforcement(str(data.get("enforcement", "deny"))),
        program=program,
        source=doc.path,
        line=doc.source_map().position(f"/rules/{index}")[0],
        deny_message=message,
        placeholders=tuple(placeholders),
        risk=effect,
        approvals=int(approvals["minimum"]) if isinstance(approvals, dict) else None,
        planes=frozenset(applies.get("planes", ())),
        platforms=frozenset(applies.get("platforms", ())),
        uses_tier=uses_tier,
        at=at,
        at_program=at_program,
    )
    return rule, []


def compile_policy_pack(
    documents: Sequence[ValidatedDocument],
    env: CelEnvironment,
    *,
    intent_schema: Mapping[str, Any],
    config_schema: Mapping[str, Any],
) -> CompiledPolicyPack:
    """Compile every rule of the given policy files (validated already) into one pack.

    A rule id defined twice across files is a finding; the later definition is dropped.
    """
    intent_tree = schema_tree(intent_schema)
    checker = _type_checker(json.dumps([intent_schema, config_schema], sort_keys=True))
    trees = {
        "intent": intent_tree,
        "base": intent_tree,
        "facts": schema_tree(FACTS_SCHEMA),
        "config": schema_tree(config_schema),
    }
    declared = _Declared(trees, checker)
    rules: list[Rule] = []
    findings: list[Finding] = []
    seen: dict[str, str] = {}
    canonical: list[Any] = []
    for doc in documents:
        findings.extend(doc.findings)
        if not doc.ok or not isinstance(doc.data, dict):
            continue
        for index, data in enumerate(doc.data.get("rules", [])):
            rule_id = str(data.get("id"))
            if rule_id in seen:
                findings.append(
                    doc.locate(
                        RawFinding(
                            f"/rules/{index}/id",
                            "policy.duplicate-id",
                            f"rule id {rule_id!r} is already defined in {seen[rule_id]}",
                        )
                    )
                )
                continue
            seen[rule_id] = doc.path
            rule, problems = _compile_rule(doc, index, data, env, declared)
            findings.extend(problems)
            if rule is not None:
                rules.append(rule)
                canonical.append({"source": doc.path, "rule": data})
    digest = hashlib.sha256(
        json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    ).hexdigest()
    return CompiledPolicyPack(
        rules=tuple(rules),
        digest=digest,
        findings=tuple(findings),
        sources=tuple(d.path for d in documents),
    )


def unlocated_rules(documents: Sequence[ValidatedDocument]) -> tuple[Finding, ...]:
    """Warn about each rule that does not say which field it judges (no ``at`` or ``atExpr``).

    Such a rule's findings land on line 1 of the intent; ``eucora policy test`` shows these.
    """
    findings: list[Finding] = []
    for doc in documents:
        if not doc.ok or not isinstance(doc.data, dict):
            continue
        for index, data in enumerate(doc.data.get("rules", [])):
            if isinstance(data, dict) and "at" not in data and "atExpr" not in data:
                located = doc.locate(
                    RawFinding(
                        f"/rules/{index}/id",
                        "policy.no-location",
                        f"rule {data.get('id')} does not say which field it judges, so its "
                        "findings land on line 1 of the intent: add at: [/json/pointer] (e.g. "
                        "at: [/change/ticket]) or atExpr (docs/policies.md)",
                    )
                )
                findings.append(replace(located, severity=Severity.WARNING))
    return tuple(findings)


# --- evaluating ---------------------------------------------------------------------------------


def _render_message(rule: Rule, env: CelEnvironment, activation: Any) -> str:
    message = rule.deny_message or rule.description
    for expression, program in rule.placeholders:
        outcome = env.evaluate(program, activation)
        text = (
            f"<{expression.strip()}: not set>"
            if outcome.error is not None
            else _as_text(outcome.value)
        )
        message = message.replace(f"{{{{{expression}}}}}", text)
    return message


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _locations(rule: Rule, env: CelEnvironment, activation: Any) -> tuple[str, ...]:
    """The pointers a matched rule names: its ``atExpr`` result (when it gives any), then ``at``.

    An ``atExpr`` that fails or gives something other than pointers adds nothing: the location
    only places the finding, it never changes the verdict.
    """
    if rule.at_program is None:
        return rule.at
    outcome = env.evaluate(rule.at_program, activation)
    value = outcome.value if outcome.error is None else None
    computed = [value] if isinstance(value, str) else value if isinstance(value, list) else []
    pointers = tuple(p for p in computed if isinstance(p, str) and (p == "" or p[0] == "/"))
    return pointers + rule.at


def evaluate_rules(
    rules: Sequence[Rule], env: CelEnvironment, variables: dict[str, Any]
) -> list[RuleResult]:
    """Evaluate rules against one intent's variables (one activation, many rules)."""
    activation = env.activation(variables)
    intent = variables["intent"]
    results: list[RuleResult] = []
    for rule in rules:
        if not rule.applies_to(intent):
            results.append(RuleResult(rule=rule, matched=False))
            continue
        outcome = env.evaluate(rule.program, activation)
        if outcome.error is not None:
            results.append(
                RuleResult(
                    rule=rule,
                    matched=False,
                    error=outcome.error,
                    message=f"rule {rule.id} could not be evaluated: {outcome.error}",
                    aborted=outcome.aborted,
                    at=rule.at,
                )
            )
        elif not isinstance(outcome.value, bool):
            error = f"the condition gave {_as_text(outcome.value)}, not true or false"
            results.append(
                RuleResult(
                    rule=rule,
                    matched=False,
                    error=error,
                    message=f"rule {rule.id} could not be evaluated: {error}",
                    at=rule.at,
                )
            )
        elif outcome.value:
            results.append(
                RuleResult(
                    rule=rule,
                    matched=True,
                    message=_render_message(rule, env, activation),
                    at=_locations(rule, env, activation),
                )
            )
        else:
            results.append(RuleResult(rule=rule, matched=False))
    return results
