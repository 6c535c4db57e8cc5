"""``eucora policy test``: sample intents with the outcome each rule must give.

Pure: the flow reads the files; this module judges each case and says what differed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.core.cel import CelEnvironment
from bot.core.changes import ChangeKind
from bot.core.check import judge_intent
from bot.core.facts import FactInputs
from bot.core.policy import CompiledPolicyPack, Enforcement


@dataclass(frozen=True, slots=True)
class CaseOutcome:
    """One case's result: passed, or the list of expectations that failed."""

    suite: str
    name: str
    failures: tuple[str, ...]

    @property
    def passed(self) -> bool:
        """True when every expectation held."""
        return not self.failures


@dataclass(frozen=True, slots=True, kw_only=True)
class Case:
    """One case, with its intents already loaded."""

    suite: str
    name: str
    intent: Mapping[str, Any]
    base: Mapping[str, Any] | None
    change: ChangeKind
    labels: tuple[str, ...]
    expect: Mapping[str, Any]


def run_case(
    case: Case,
    pack: CompiledPolicyPack,
    env: CelEnvironment,
    *,
    config: Mapping[str, Any],
    now: datetime,
) -> CaseOutcome:
    """Evaluate the pack on the case's intent and compare with what it expects."""
    name = str(case.intent.get("metadata", {}).get("name", case.name))
    judgement = judge_intent(
        FactInputs(
            change=case.change,
            path=f"intents/{name}.yaml",
            intent=case.intent,
            base=case.base,
            config=config,
            now=now,
            labels=case.labels,
        ),
        pack,
        env,
        name=name,
    )
    matched = {r.rule.id for r in judgement.results if r.matched}
    denied = {r.rule.id for r in judgement.results if r.enforced}
    warned = {
        r.rule.id for r in judgement.results if r.matched and r.rule.enforcement is Enforcement.WARN
    }
    failures = [
        f"rule {r.rule.id} failed to evaluate: {r.error}" for r in judgement.results if r.error
    ]
    failures += _rule_expectations(case.expect, {r.id for r in pack.rules}, matched, denied, warned)
    failures += _score_expectations(case.expect, judgement.tier, judgement.score, denied)
    return CaseOutcome(suite=case.suite, name=case.name, failures=tuple(failures))


def _rule_expectations(
    expect: Mapping[str, Any],
    known: set[str],
    matched: set[str],
    denied: set[str],
    warned: set[str],
) -> list[str]:
    failures: list[str] = []
    for key, actual, verb in (
        ("deny", denied, "block"),
        ("warn", warned, "warn"),
        ("match", matched, "match"),
    ):
        for rule in expect.get(key, []):
            if rule not in known:
                failures.append(f"no rule {rule!r} in the pack")
            elif rule not in actual:
                failures.append(f"expected {rule} to {verb}, it did not")
    for rule in expect.get("notMatch", []):
        if rule not in known:
            failures.append(f"no rule {rule!r} in the pack")
        elif rule in matched:
            failures.append(f"expected {rule} not to match, it did")
    return failures


def _score_expectations(
    expect: Mapping[str, Any], tier: str, score: int, denied: set[str]
) -> list[str]:
    failures: list[str] = []
    if "allowed" in expect and expect["allowed"] != (not denied):
        state = "allowed" if not denied else f"blocked by {', '.join(sorted(denied))}"
        failures.append(f"expected allowed={str(expect['allowed']).lower()}, it was {state}")
    if "tier" in expect and expect["tier"] != tier:
        failures.append(f"expected tier {expect['tier']}, got {tier} (score {score})")
    if "minScore" in expect and score < int(expect["minScore"]):
        failures.append(f"expected a score of at least {expect['minScore']}, got {score}")
    if "maxScore" in expect and score > int(expect["maxScore"]):
        failures.append(f"expected a score of at most {expect['maxScore']}, got {score}")
    return failures
