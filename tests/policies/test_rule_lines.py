"""Every default rule says which field it judges, and its finding lands on that field's line.

Each rule's firing scenario of ``test_default_pack`` is written out as YAML (block style, one field
per line), validated, judged, and the finding's position is compared with where the field the rule
names was written. The expected field per rule is stated here, independently of the pack's
``at:``/``atExpr`` entries, so a rule that points at the wrong field fails.
"""

from __future__ import annotations

import pytest
import yaml

from bot.catalog import build_document_validator
from bot.core.check import rule_position
from bot.core.documents import DocumentKind, ValidatedDocument
from bot.core.policy import CompiledPolicyPack
from tests.policies.test_default_pack import CASES, judge_scenario, pack, result_of

__all__ = ["pack"]  # the module-scoped fixture, shared with test_default_pack

# Where each rule's finding belongs in its firing scenario (see CASES).
EXPECTED: dict[str, str] = {
    "package.unsigned": "/package/signed",
    "package.unsigned-beyond-pilot": "/package/signed",
    "package.placeholder-hash": "/package/sha256",
    "package.host-not-allowed": "/package/url",
    "package.signer-unnamed": "/package/signed",  # the signer is missing: the signed: true line
    "package.signer-changed": "/package/signer",
    "package.publisher-changed": "/app/publisher",
    "package.same-version-new-binary": "/package/sha256",
    "vulns.critical": "/evidence/vulnerabilities/critical",
    "vulns.high": "/evidence/vulnerabilities/high",
    "vulns.unreported": "/evidence/vulnerabilities",
    "evidence.no-sbom": "/evidence",
    "package.requires-admin": "/package/requiresAdmin",
    "package.system-context": "/package/installContext",
    "package.script-as-system": "/package/installContext",
    "package.unsigned-elevated": "/package/signed",
    "package.remote-code-in-command": "/package/installCommand",
    "data.confidential": "/metadata/labels/data-classification",
    "data.restricted": "/metadata/labels/data-classification",
    "rollout.first-ring-too-large": "/rings/0/devices",
    "rollout.required-to-all-devices": "/rings/2/target",
    "rollout.soak-below-tier": "/rings",
    "rollout.ring-without-soak": "/rings/1",
    "rollout.fleet-over-1000": "/rings/2/devices",
    "rollout.fleet-over-5000": "/rings/2/devices",
    "rollout.fleet-growth": "/rings/2/devices",
    "rollout.uninstall-assignment": "/rings/2/assignment",
    "change.ticket-required": "/change",  # no ticket: the change: block it belongs in
    "change.ticket-reused": "/change/ticket",
    "change.freeze-window": "/change/window",
    "change.freeze-emergency": "/change/emergencyReason",
    "change.emergency-needs-reason": "/change",
    "change.intent-deleted": "/metadata/name",
    "change.config-or-policies": "/metadata/name",
    "version.downgrade-without-rollback": "/rollback/strategy",
    "version.downgrade": "/app/version",
    "version.major-upgrade": "/app/version",
    "version.order-unknown": "/app/version",
    "rollback.missing": "/metadata/name",  # no rollback block at all
    "evidence.no-test-report": "/evidence",
    "app.first-deployment": "/app/name",
}


def _document(intent: dict[str, object]) -> ValidatedDocument:
    text = yaml.safe_dump(intent, sort_keys=False, default_flow_style=False, width=1000)
    doc = build_document_validator().validate(text.encode(), "intents/x.yaml", DocumentKind.INTENT)
    assert doc.ok, [f.message for f in doc.findings]
    return doc


def test_every_default_rule_says_where(pack: CompiledPolicyPack) -> None:
    assert {r.id for r in pack.rules} == set(EXPECTED)
    assert all(rule.at for rule in pack.rules)


@pytest.mark.parametrize("rule_id", sorted(EXPECTED))
def test_the_finding_is_on_the_line_of_the_judged_field(
    pack: CompiledPolicyPack, rule_id: str
) -> None:
    scenario = CASES[rule_id][0]
    judgement = judge_scenario(pack, scenario)
    result = result_of(judgement, rule_id)
    assert result.matched
    intent, _ = scenario.intents()
    doc = _document(intent)
    line, column = rule_position(result, doc)
    expected = doc.source_map().position(EXPECTED[rule_id])
    assert (line, column) == expected
    assert line > 1
