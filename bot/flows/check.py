"""Check a pull request between two revisions: the flow behind ``eucora check`` (and later the bot).

Gathers the inputs — files from git, the base revision's configuration, policies and waivers, the
time zones the freeze windows name — then calls the pure core and builds the evidence pack.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, tzinfo
from functools import lru_cache
from pathlib import Path
from typing import Any

from bot.catalog import build_document_validator, build_policy_pack, cel_environment
from bot.core.changes import ChangeKind, FileAtRevision, RevisionPair
from bot.core.check import CheckInputs, CheckResult, repository_kind, run_check
from bot.core.documents import DocumentKind, DocumentValidator, ValidatedDocument
from bot.core.evidence import build_check_pack, digest_of
from bot.core.findings import Finding, Severity
from bot.core.policy import CompiledPolicyPack
from bot.core.repo_config import CONFIG_NAMES, RepoConfig
from bot.core.waivers import load_waivers
from bot.ports import Revisions


@dataclass(frozen=True, slots=True)
class CheckedChange:
    """A finished check of a change: the verdict, its evidence pack and the pack's digest.

    Not ``bot.core.github_model.CheckRun`` (a check run shown on GitHub): they were both
    ``CheckRun`` before.
    """

    result: CheckResult
    pack: dict[str, Any]
    digest: str


def _documents(
    files: Sequence[FileAtRevision], validator: DocumentValidator, kind: DocumentKind
) -> tuple[ValidatedDocument, ...]:
    return tuple(
        validator.validate(f.raw, f.path, kind) for f in files if repository_kind(f.path) is kind
    )


@lru_cache(maxsize=16)
def _compiled_pack(files: tuple[tuple[str, bytes], ...]) -> CompiledPolicyPack:
    """Compile a revision's policy files with the default pack, once per process.

    A compiled pack is a function of the files' bytes (the default pack is fixed for a process), and
    a long-running bot sees the same base policies for most pull requests: compiling 40 rules on
    every check cost more than evaluating them on a small change.
    """
    validator = build_document_validator()
    return build_policy_pack(
        tuple(validator.validate(raw, path, DocumentKind.POLICY) for path, raw in files)
    )


def _policy_pack(files: Sequence[FileAtRevision]) -> CompiledPolicyPack:
    return _compiled_pack(
        tuple((f.path, f.raw) for f in files if repository_kind(f.path) is DocumentKind.POLICY)
    )


def _changes_policies(pair: RevisionPair) -> bool:
    return any(repository_kind(c.path) is DocumentKind.POLICY for c in pair.changes)


def _as_warning(finding: Finding, revision: str) -> Finding:
    """Report problems of the base revision without blocking on them.

    They are not this change's fault, and blocking on them would stop the pull request that fixes
    them.
    """
    if finding.severity is not Severity.ERROR:
        return finding
    return replace(
        finding,
        severity=Severity.WARNING,
        message=f"at the base revision {revision[:12]}: {finding.message}",
    )


BROKEN_BASE = (
    "every pull request is blocked until one repairs the rules (and gets the approvals a "
    "policy change needs)"
)


def _at_base(finding: Finding, revision: str) -> Finding:
    """A base revision's rule or ``eucora.yaml`` that does not compile: blocking (fail closed).

    Dropping the broken rule would let every later pull request pass unchecked by it.
    """
    if finding.severity is not Severity.ERROR:
        return finding
    message = f"at the base revision {revision[:12]}: {finding.message}; {BROKEN_BASE}"
    return replace(finding, message=message)


def _errors(findings: Sequence[Finding]) -> list[Finding]:
    return [f for f in findings if f.severity is Severity.ERROR]


def _config_findings(
    files: Sequence[FileAtRevision], validator: DocumentValidator
) -> tuple[Mapping[str, Any], tuple[Finding, ...]]:
    """A revision's ``eucora.yaml`` (``{}`` when it has none or it is broken) and its findings."""
    for file in files:
        if file.path in CONFIG_NAMES:
            doc = validator.validate(file.raw, file.path, DocumentKind.CONFIG)
            return (doc.data if doc.ok else {}), doc.findings
    return {}, ()


def _base_config(
    pair: RevisionPair, validator: DocumentValidator
) -> tuple[Mapping[str, Any], list[Finding]]:
    config, findings = _config_findings(pair.base_files, validator)
    return config, [_as_warning(f, pair.base_sha) for f in findings]


def _base_rules_findings(
    pair: RevisionPair, validator: DocumentValidator, pack: CompiledPolicyPack
) -> tuple[list[Finding], list[Finding]]:
    """The base revision's problems with its rules and ``eucora.yaml``: (config, policies).

    When the base's rules or ``eucora.yaml`` do not compile, its errors block, unless this pull
    request repairs them: everything it changes of them compiles at head. A repair still edits
    policies or ``eucora.yaml``, so it needs the approvals of a policy change.
    """
    _, config = _config_findings(pair.base_files, validator)
    broken = _errors(config) or _errors(pack.findings)
    if broken and not _head_rules_compile(pair, validator):
        return (
            [_at_base(f, pair.base_sha) for f in config],
            [_at_base(f, pair.base_sha) for f in pack.findings],
        )
    return (
        [_as_warning(f, pair.base_sha) for f in config],
        [_as_warning(f, pair.base_sha) for f in pack.findings],
    )


def _head_rules_compile(pair: RevisionPair, validator: DocumentValidator) -> bool:
    """Whether the head revision's rules and ``eucora.yaml`` all compile (no error finding)."""
    _, config = _config_findings(pair.head_files, validator)
    return not _errors(config) and not _errors(_policy_pack(pair.head_files).findings)


def timezones_of(config: Mapping[str, Any]) -> dict[str, tzinfo]:
    """The time zones ``config``'s freeze windows name that this machine knows (and UTC)."""
    return _timezones(config)[0]


def _timezones(config: Mapping[str, Any]) -> tuple[dict[str, tzinfo], list[Finding]]:
    zones: dict[str, tzinfo] = {}
    findings: list[Finding] = []
    windows = config.get("freezeWindows")
    names = {"UTC"} | {
        str(w.get("timezone")) for w in windows or [] if isinstance(w, dict) and w.get("timezone")
    }
    for name in sorted(names):
        try:
            zones[name] = zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            findings.append(
                Finding(
                    path="eucora.yaml",
                    line=1,
                    column=1,
                    code="config.timezone",
                    severity=Severity.WARNING,
                    message=f"unknown time zone {name!r}: freeze windows in it are ignored",
                )
            )
    return zones, findings


def _preview_pack(pair: RevisionPair) -> CompiledPolicyPack | None:
    if not _changes_policies(pair):
        return None
    return _policy_pack(pair.head_files)


def check_fetched(  # noqa: PLR0913 - keyword-only context
    revisions: Revisions,
    base: str,
    head: str,
    *,
    now: datetime,
    labels: Sequence[str] = (),
    home: Path | None = None,
    repository: str | None = None,
) -> CheckedChange:
    """Check the change from ``base`` to ``head`` read through the revisions port.

    ``home`` (``EUCORA_HOME``) holds the fleet index cache; without it the index is rebuilt.
    ``repository`` names the repository in the evidence (``owner/name``; default: the one
    ``revisions`` gives). ``eucora check``, the Action and the demo pass a local checkout
    (``GitRevisions``); the App what it fetched.
    """
    validator = build_document_validator()
    pair = revisions.revision_pair(base, head)
    config, _ = _base_config(pair, validator)
    intents_dir = RepoConfig.of(config).intents
    if intents_dir != "intents":  # the repository keeps its intents elsewhere
        pair = revisions.revision_pair(base, head, intents_dir=intents_dir)
    apps: frozenset[str] = frozenset()
    if any(c.kind is ChangeKind.ADDED for c in pair.changes):
        cache = home / "cache" / "app-index.json" if home is not None else None
        apps = revisions.known_apps(pair.base_sha, intents_dir, cache_file=cache)
    preview: tuple[FileAtRevision, ...] = ()
    if _changes_policies(pair):
        preview = revisions.folder(pair.head_sha, intents_dir)
    if repository is not None:
        pair = replace(pair, repository=repository)
    return check_pair(pair, now=now, labels=labels, known_apps=apps, preview_intents=preview)


def check_pair(
    pair: RevisionPair,
    *,
    now: datetime,
    labels: Sequence[str] = (),
    known_apps: frozenset[str] = frozenset(),
    preview_intents: tuple[FileAtRevision, ...] = (),
) -> CheckedChange:
    """Check a change already read from git."""
    validator = build_document_validator()
    config, _ = _config_findings(pair.base_files, validator)
    pack = _policy_pack(pair.base_files)
    base_findings, pack_findings = _base_rules_findings(pair, validator, pack)
    pack = replace(pack, findings=tuple(pack_findings))
    preview_pack = _preview_pack(pair)
    waiver_docs = _documents(pair.base_files, validator, DocumentKind.WAIVERS)
    waivers = load_waivers(waiver_docs, now)
    waivers = replace(
        waivers, findings=tuple(_as_warning(f, pair.base_sha) for f in waivers.findings)
    )
    zones, zone_findings = _timezones(config)
    result = run_check(
        CheckInputs(
            pair=pair,
            validator=validator,
            env=cel_environment(),
            pack=pack,
            config=config,
            waivers=waivers,
            now=now,
            labels=tuple(sorted(set(labels))),
            timezones=zones,
            preview_pack=preview_pack,
            known_apps=known_apps,
            preview_intents=preview_intents,
            base_findings=tuple(base_findings + zone_findings),
            head_findings=tuple(_errors(preview_pack.findings)) if preview_pack else (),
        )
    )
    evidence = build_check_pack(result)
    return CheckedChange(result=result, pack=evidence, digest=digest_of(evidence))
