"""Compiling policy packs: broken rules are findings at file:line:col, never crashes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import yaml

from bot.catalog import build_document_validator, build_policy_pack, cel_environment
from bot.core.cel import MAX_COST, estimate_cost
from bot.core.changes import ChangeKind
from bot.core.check import judge_intent
from bot.core.documents import DocumentKind
from bot.core.facts import FactInputs
from bot.core.policy import Enforcement
from tests.support.corpus import generate_intent_text

NOW = datetime(2027, 2, 17, 9, tzinfo=UTC)
HEADER = "apiVersion: eucora.dev/v1\nkind: PolicyPack\nrules:\n"


def pack_of(rules: str, *, default: bool = False):
    doc = build_document_validator().validate(
        (HEADER + rules).encode(), "policies/test.yaml", DocumentKind.POLICY
    )
    assert doc.ok, doc.findings
    return build_policy_pack([doc], include_default=default)


def judge(pack, intent=None, **kwargs):
    intent = intent or yaml.safe_load(generate_intent_text(1))
    return judge_intent(
        FactInputs(
            change=kwargs.pop("change", ChangeKind.ADDED),
            path="intents/x.yaml",
            intent=intent,
            base=kwargs.pop("base", None),
            config=kwargs.pop("config", {}),
            now=NOW,
            **kwargs,
        ),
        pack,
        cel_environment(),
        name=intent["metadata"]["name"],
    )


def test_syntax_error_is_a_finding_at_the_expression_column() -> None:
    pack = pack_of(
        "  - id: t.broken\n    description: d\n    when: intent.package.signed == && true\n"
        "    risk: {points: 1, family: history, reason: r}\n"
    )
    [finding] = pack.findings
    assert finding.code == "policy.cel"
    assert (finding.path, finding.line) == ("policies/test.yaml", 6)
    # "    when: " is 10 characters; '&&' is the expression's 26th character.
    assert finding.column == 10 + 26
    assert pack.rules == ()


def test_block_scalar_expression_positions_point_into_the_block() -> None:
    pack = pack_of(
        "  - id: t.broken\n    description: d\n    when: >-\n      intent.app.name != ''\n"
        "      && fooBar()\n    risk: {points: 1, family: history, reason: r}\n"
    )
    [finding] = pack.findings
    assert finding.code == "policy.cel"
    assert "fooBar" in finding.message
    assert finding.line in {7, 8}


def test_unknown_field_is_caught_at_compile_time_with_a_hint() -> None:
    pack = pack_of(
        "  - id: t.typo\n    description: d\n    when: intent.package.sined == false\n"
        "    risk: {points: 1, family: history, reason: r}\n"
        "  - id: t.rings\n    description: d\n"
        "    when: intent.rings.exists(r, r.devcies > 5) || facts.total_device > 1\n"
        "    risk: {points: 1, family: history, reason: r}\n"
    )
    messages = sorted(f.message for f in pack.findings)
    assert len(messages) == 3
    assert any("'sined'" in m and "did you mean 'signed'" in m for m in messages)
    assert any("'devcies'" in m and "'devices'" in m for m in messages)
    assert any("'total_device'" in m and "'total_devices'" in m for m in messages)
    assert all(f.code == "policy.unknown-field" for f in pack.findings)


def test_known_fields_methods_and_string_literals_pass() -> None:
    pack = pack_of(
        "  - id: t.ok\n    description: d\n"
        "    when: >-\n"
        "      intent.app.name.lowerAscii().startsWith('x.nope') &&\n"
        "      intent.metadata.labels['tier'] == 'a' && intent.rings[0].gate.soak == 'P1D' &&\n"
        "      base != null && base.app.version != intent.app.version && config.cab.teams[0] != ''\n"
        "    risk: {points: 1, family: history, reason: r}\n"
    )
    assert pack.findings == ()
    assert len(pack.rules) == 1


def test_a_rule_too_costly_to_evaluate_is_refused() -> None:
    nested = (
        "intent.rings.all(a, intent.rings.all(b, intent.rings.all(c, intent.rings.all(d, true))))"
    )
    assert estimate_cost(nested) > MAX_COST
    pack = pack_of(
        f"  - id: t.cost\n    description: d\n    when: {nested}\n    deny: {{message: m}}\n"
    )
    [finding] = pack.findings
    assert "steps" in finding.message


def test_a_tier_reading_rule_may_not_add_risk() -> None:
    pack = pack_of(
        "  - id: t.cycle\n    description: d\n    when: facts.tier == 'high'\n"
        "    risk: {points: 1, family: history, reason: r}\n"
    )
    assert [f.code for f in pack.findings] == ["policy.tier-cycle"]


def test_duplicate_rule_ids_across_files() -> None:
    validator = build_document_validator()
    text = (
        HEADER
        + "  - id: t.same\n    description: d\n    when: 'true'\n    approvals: {minimum: 1}\n"
    )
    docs = [
        validator.validate(text.encode(), f"policies/{n}.yaml", DocumentKind.POLICY) for n in "ab"
    ]
    pack = build_policy_pack(docs, include_default=False)
    assert [f.code for f in pack.findings] == ["policy.duplicate-id"]
    assert len(pack.rules) == 1


def test_evaluation_errors_fail_closed_for_deny_rules_only() -> None:
    pack = pack_of(
        "  - id: t.deny\n    description: d\n    when: intent.rollback.notes == 'x'\n"
        "    deny: {message: m}\n"
        "  - id: t.warn\n    description: d\n    enforcement: warn\n    when: intent.rollback.notes == 'x'\n"
        "    deny: {message: m}\n"
        "  - id: t.notbool\n    description: d\n    enforcement: warn\n    when: size(intent.rings)\n"
        "    deny: {message: m}\n"
    )
    results = {r.rule.id: r for r in judge(pack).results}
    assert results["t.deny"].error is not None
    assert results["t.deny"].enforced
    assert results["t.warn"].error is not None
    assert not results["t.warn"].enforced
    assert "not true or false" in (results["t.notbool"].error or "")


def test_messages_interpolate_placeholders_and_applies_to_filters() -> None:
    pack = pack_of(
        "  - id: t.msg\n    description: d\n    when: 'true'\n"
        "    deny: {message: '{{ intent.metadata.name }} reaches {{ facts.total_devices }} devices "
        "({{ facts.emergency }}, {{ intent.nope }})'}\n"
        "  - id: t.mac\n    description: d\n    appliesTo: {platforms: [macos]}\n    when: 'true'\n"
        "    deny: {message: m}\n"
    )
    intent = yaml.safe_load(generate_intent_text(0))  # windows
    results = {r.rule.id: r for r in judge(pack, intent).results}
    assert results["t.msg"].message.startswith(f"{intent['metadata']['name']} reaches ")
    assert "(false, <intent.nope: not set>)" in results["t.msg"].message
    assert not results["t.mac"].matched
    assert pack.rules[0].enforcement is Enforcement.DENY


def test_bad_placeholder_is_a_finding() -> None:
    pack = pack_of(
        "  - id: t.msg\n    description: d\n    when: 'true'\n    deny: {message: '{{ ) }}'}\n"
    )
    assert [f.code for f in pack.findings] == ["policy.cel"]


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("true", 4),
        ("a.exists(x, x)", 14 * 100),
        ("'a.all(' + b.all(x, c.map(y, y))", 100 * 100 * 32),
    ],
)
def test_cost_estimate(source: str, expected: int) -> None:
    assert estimate_cost(source) == expected


@pytest.mark.parametrize(
    ("source", "depth"),
    [
        (r'"\"" != "" && a.all(x, x)', 1),
        (r"'\'' != '' && a.all(x, x)", 1),
        (r'r"\" != "" && a.all(x, x)', 1),
        ('"""a"b""" != "" && a.all(x, x)', 1),
        ("// it's\na.all(x, x)", 1),
        (r"'a.all(x, \'b.all(y, y)\')'", 0),
    ],
)
def test_literals_and_comments_hide_no_comprehension_from_the_estimate(
    source: str, depth: int
) -> None:
    assert estimate_cost(source) == len(source) * 100**depth


def test_an_escaped_quote_does_not_hide_a_costly_rule() -> None:
    """Issue 14, finding 10: an escaped quote made the estimate skip the rest of the expression."""
    nested = "intent.rings.all(a, intent.rings.all(b, intent.rings.all(c, true)))"
    pack = pack_of(
        "  - id: t.cost\n    description: d\n    when: >-\n"
        f'      "\\"" != "" && {nested}\n'
        "    deny: {message: m}\n"
    )
    [finding] = pack.findings
    assert finding.code == "policy.cel"
    assert "steps" in finding.message
    assert pack.rules == ()


def test_a_rule_cel_stops_at_evaluation_is_an_error_result_not_an_exception() -> None:
    """CEL's own iteration budget raised ``RuntimeError`` through every evaluation."""
    words = " ".join(["w"] * 120)
    pack = pack_of(
        "  - id: t.pairs\n    description: d\n    when: >-\n"
        "      intent.app.name.split(' ').exists(a, intent.app.name.split(' ').exists(b, a + b == 'x'))\n"
        "    deny: {message: m}\n"
    )
    intent = yaml.safe_load(generate_intent_text(1))
    intent["app"]["name"] = words
    [result] = judge(pack, intent).results
    assert result.aborted
    assert result.enforced  # a deny rule that cannot be evaluated blocks
    assert "Iteration budget exceeded" in (result.error or "")


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("eucora.yaml", DocumentKind.CONFIG),
        ("eucora.yml", DocumentKind.CONFIG),
        ("policies/contoso.yaml", DocumentKind.POLICY),
        ("waivers/7-zip.yaml", DocumentKind.WAIVERS),
        ("intents/windows/eucora.yaml", None),  # an intent that happens to have that name
        ("policies/tests/contoso.test.yaml", None),
        ("intents/windows/chrome.yaml", None),
    ],
)
def test_repository_kind_classifies_by_location(path: str, kind: DocumentKind | None) -> None:
    from bot.core.check import repository_kind

    assert repository_kind(path) is kind


def _rule(rule_id: str, when: str) -> str:
    return (
        f"  - id: {rule_id}\n    description: d\n    when: {when}\n"
        "    risk: {points: 1, family: history, reason: r}\n"
    )


@pytest.mark.parametrize(
    ("when", "column", "types"),
    [
        ("intent.package.signed == 'yes'", 23, "(bool, string)"),
        ("facts.total_devices > 'many'", 21, "(int, string)"),
        ("intent.rings.size() == true", 21, "(int, bool)"),
        ("intent.rings.exists(r, r.devices == 'all')", 34, "(int, string)"),
        ("intent.metadata.labels['tier'] > 3", 32, "(string, int)"),
        ("facts.ring_devices['lab'] == 'many'", 27, "(int, string)"),
        ("config.limits.firstRingMaxDevices == true", 35, "(int, bool)"),
        ("base != null && base.app.version > 3", 34, "(string, int)"),
        ("intent.package.signed.startsWith('y')", 33, "(bool, string)"),
        ("facts.labels.exists(l, l == 1)", 26, "(string, int)"),
    ],
)
def test_a_wrong_type_is_a_finding_at_compile_time(when: str, column: int, types: str) -> None:
    """A comparison with a value of the wrong type: CEL's own checker, typed from the schemas."""
    pack = pack_of(_rule("t.typed", f'"{when}"'))
    [finding] = pack.findings
    assert finding.code == "policy.type"
    assert (finding.path, finding.line) == ("policies/test.yaml", 6)
    # '    when: "' is 11 characters before the expression; CEL reports the operator's column.
    assert finding.column == 11 + column
    assert "wrong type" in finding.message
    assert types in finding.message
    assert pack.rules == ()


def test_correct_types_still_compile_including_maps_lists_and_null() -> None:
    rules = [
        "intent.package.signed == false && has(intent.package.signer)",
        "facts.total_devices > 1000 && facts.first_ring_percent >= 5",
        "intent.rings.size() > 3 && intent.rings[0].devices > 100",
        "intent.rings.exists(r, r.gate.soak == 'P1D' && r.schedule.start < '2027')",
        "intent.metadata.labels['tier'] == 'gold' && 'tier' in intent.metadata.labels",
        "facts.ring_devices.exists(k, facts.ring_devices[k] > 10)",
        "base == null || base.app.version != intent.app.version",
        "intent.package.url.startsWith('https://') && size(intent.package.sha256) == 64",
        "intent.rollback.previousVersion == null && facts.labels.exists(l, l == 'x')",
        "timestamp(intent.change.window.start) < now && facts.tier in ['high', 'critical']",
        "config.packageHosts.exists(h, h == facts.package_host) && config.cab.teams.size() > 0",
        "intent.evidence.vulnerabilities.critical + intent.evidence.vulnerabilities.high > 0",
    ]
    text = "".join(
        _rule(f"t.ok{i}", f'"{when}"').replace(
            "risk: {points: 1, family: history, reason: r}", "deny: {message: m}"
        )
        for i, when in enumerate(rules)
    )
    pack = pack_of(text)
    assert pack.findings == ()
    assert len(pack.rules) == len(rules)


def test_a_wrongly_typed_placeholder_is_a_finding_on_the_message() -> None:
    pack = pack_of(
        "  - id: t.msg\n    description: d\n    when: 'true'\n"
        "    deny: {message: 'signed {{intent.package.signed + 1}}'}\n"
    )
    [finding] = pack.findings
    assert finding.code == "policy.type"
    assert finding.line == 7
    assert "placeholder" in finding.message


def test_every_shipped_and_example_rule_passes_the_type_check() -> None:
    from tests.conftest import EXAMPLES

    validator = build_document_validator()
    path = EXAMPLES / "intents-repo" / "policies" / "contoso.yaml"
    doc = validator.validate(path.read_bytes(), str(path), DocumentKind.POLICY)
    pack = build_policy_pack([doc])
    assert pack.findings == ()
    assert len(pack.rules) > 41


def test_an_unknown_field_the_name_check_cannot_follow_is_caught_by_the_typed_check() -> None:
    pack = pack_of(_rule("t.paren", '"(intent.package).sined == true"'))
    [finding] = pack.findings
    assert finding.code == "policy.cel"
    assert "undefined field 'sined'" in finding.message
    assert (finding.line, finding.column) == (6, 11 + 17)


def test_an_at_pointer_naming_no_intent_field_and_a_broken_at_expr_are_findings() -> None:
    pack = pack_of(
        "  - id: t.where\n    description: d\n    when: 'true'\n"
        "    at: [/change/tiket, /rings/0/devices]\n"
        "    risk: {points: 1, family: history, reason: r}\n"
        "  - id: t.expr\n    description: d\n    when: 'true'\n"
        "    atExpr: \"'/rings/' + \"\n"
        "    risk: {points: 1, family: history, reason: r}\n"
        "  - id: t.typo\n    description: d\n    when: 'true'\n"
        "    atExpr: \"'/rings/' + string(size(intent.ring))\"\n"
        "    risk: {points: 1, family: history, reason: r}\n"
    )
    unknown, broken, typo = sorted(pack.findings, key=lambda f: f.line)
    assert (typo.code, typo.line) == ("policy.unknown-field", 17)
    assert "did you mean 'rings'" in typo.message
    assert (unknown.code, unknown.line) == ("policy.unknown-field", 7)
    assert "'tiket'" in unknown.message
    assert "did you mean 'ticket'" in unknown.message
    assert (broken.code, broken.line) == ("policy.cel", 12)
    assert "atExpr" in broken.message
    assert pack.rules == ()


def test_at_expr_is_tried_before_at_and_a_bad_result_falls_back() -> None:
    pack = pack_of(
        "  - id: t.computed\n    description: d\n    when: 'true'\n    at: [/app/name]\n"
        "    atExpr: \"'/rings/' + string(size(intent.rings) - 1)\"\n"
        "    deny: {message: m}\n"
        "  - id: t.not-a-pointer\n    description: d\n    when: 'true'\n    at: [/app/name]\n"
        "    atExpr: size(intent.rings)\n"
        "    deny: {message: m}\n"
    )
    intent = yaml.safe_load(generate_intent_text(1))
    results = {r.rule.id: r for r in judge(pack, intent).results}
    last = len(intent["rings"]) - 1
    assert results["t.computed"].at == (f"/rings/{last}", "/app/name")
    assert results["t.not-a-pointer"].at == ("/app/name",)
