"""Run policy test suites (``*.test.yaml`` files of kind PolicyTest) found under a folder."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bot.catalog import build_document_validator, build_policy_pack, cel_environment
from bot.core.changes import ChangeKind
from bot.core.documents import DocumentKind, DocumentValidator, ValidatedDocument
from bot.core.findings import Finding
from bot.core.policy import unlocated_rules
from bot.core.policy_tests import Case, CaseOutcome, run_case

DEFAULT_NOW = datetime(2027, 1, 1, tzinfo=UTC)
SUITE_SUFFIXES = (".test.yaml", ".test.yml")


@dataclass(frozen=True, slots=True)
class PolicyTestReport:
    """Every case outcome, plus findings (broken suites, intents or rules) and I/O problems."""

    outcomes: tuple[CaseOutcome, ...]
    findings: tuple[Finding, ...]
    problems: tuple[str, ...]

    @property
    def failed(self) -> int:
        """How many cases failed."""
        return sum(not o.passed for o in self.outcomes)


def _load(validator: DocumentValidator, path: Path, kind: DocumentKind) -> ValidatedDocument:
    return validator.validate(path.read_bytes(), str(path), kind)


def _suite(path: Path, validator: DocumentValidator) -> tuple[list[CaseOutcome], list[Finding]]:
    suite = _load(validator, path, DocumentKind.POLICY_TEST)
    if not suite.ok:
        return [], list(suite.findings)
    data, folder = suite.data, path.parent
    findings: list[Finding] = []
    policies = [_load(validator, folder / p, DocumentKind.POLICY) for p in data.get("policies", [])]
    pack = build_policy_pack(policies, include_default=data.get("includeDefaultPack", True))
    findings.extend(pack.findings)
    findings.extend(unlocated_rules(policies))
    config: dict[str, object] = {}
    if "config" in data:
        config_doc = _load(validator, folder / data["config"], DocumentKind.CONFIG)
        findings.extend(config_doc.findings)
        config = config_doc.data if config_doc.ok else {}
    now = datetime.fromisoformat(data["now"]) if "now" in data else DEFAULT_NOW
    name = str(data.get("metadata", {}).get("name", path.name))
    outcomes: list[CaseOutcome] = []
    for case in data["cases"]:
        intent = _load(validator, folder / case["intent"], DocumentKind.INTENT)
        base = (
            _load(validator, folder / case["base"], DocumentKind.INTENT) if "base" in case else None
        )
        broken = [d for d in (intent, base) if d is not None and not d.ok]
        if broken:
            findings.extend(f for d in broken for f in d.findings)
            outcomes.append(
                CaseOutcome(suite=name, name=case["name"], failures=("a sample intent is invalid",))
            )
            continue
        change = case.get("change", "modified" if base is not None else "added")
        outcomes.append(
            run_case(
                Case(
                    suite=name,
                    name=case["name"],
                    intent=intent.data,
                    base=base.data if base is not None else None,
                    change=ChangeKind(change),
                    labels=tuple(case.get("labels", [])),
                    expect=case["expect"],
                ),
                pack,
                cel_environment(),
                config=config,
                now=now,
            )
        )
    return outcomes, findings


def run_policy_tests(folder: Path) -> PolicyTestReport:
    """Find and run every suite under a folder (or one suite file)."""
    if folder.is_file():
        suites = [folder]
    elif folder.is_dir():
        suites = sorted(p for p in folder.rglob("*") if p.name.endswith(SUITE_SUFFIXES))
    else:
        return PolicyTestReport((), (), (f"{folder}: no such file or folder",))
    validator = build_document_validator()
    outcomes: list[CaseOutcome] = []
    findings: list[Finding] = []
    problems: list[str] = []
    if not suites:
        problems.append(f"{folder}: no policy test suites (*.test.yaml) found")
    for path in suites:
        try:
            suite_outcomes, suite_findings = _suite(path, validator)
        except OSError as error:
            problems.append(f"{error.filename}: cannot read: {error.strerror}")
            continue
        outcomes.extend(suite_outcomes)
        findings.extend(suite_findings)
    return PolicyTestReport(tuple(outcomes), tuple(findings), tuple(problems))
