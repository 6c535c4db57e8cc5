"""Validate the files under some paths: the flow behind ``eucora validate`` and the demo."""

from __future__ import annotations

import gc
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from bot.catalog import build_document_validator, build_policy_pack
from bot.core.documents import DocumentKind, ValidatedDocument
from bot.core.findings import Finding, sort_findings
from bot.core.repository import check_repository
from bot.ports import ReadSources


@contextmanager
def paused_garbage_collection() -> Iterator[None]:
    """Pause the cyclic garbage collector while a batch builds many acyclic objects.

    Validated documents are trees of dicts and lists kept for the repository-wide checks; with the
    collector on, each generation-2 pass walks all of them again (about a third of the time on
    10,000 intents, see docs/performance.md). Reference counting still frees everything.

    On leaving, everything the collector tracks moves to its oldest generation (``gc.freeze`` then
    ``gc.unfreeze``, two list splices): otherwise the first young collection after the pause walks
    every object built during it (about 10 µs an intent on 10,000), and the next older one again.
    The objects stay collectable; only a full collection looks at them.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.unfreeze()
        if was_enabled:
            gc.enable()


@dataclass(frozen=True, slots=True)
class ValidationRun:
    """What one validation found: the documents, every finding in order, and I/O problems."""

    documents: tuple[ValidatedDocument, ...]
    findings: tuple[Finding, ...]
    problems: tuple[str, ...]


def validate_paths(paths: Sequence[str], read_sources: ReadSources) -> ValidationRun:
    """Validate every file named by or found under the paths, read by ``read_sources``."""
    validator = build_document_validator()
    with paused_garbage_collection():
        sources, problems = read_sources(list(paths))
        documents = tuple(validator.validate(s.raw, s.path, s.kind) for s in sources)
    findings = [f for d in documents for f in d.findings]
    findings.extend(check_repository(documents))
    findings.extend(_rule_findings(documents, set(findings)))
    return ValidationRun(documents, sort_findings(findings), tuple(problems))


def _rule_findings(documents: Sequence[ValidatedDocument], known: set[Finding]) -> list[Finding]:
    """Compile the policy files' rules with the default pack, as a check would.

    Their CEL errors, at file, line and column, are what validating each file alone cannot see.
    """
    policy = DocumentKind.POLICY  # read once: 0.15 µs each from the enum, for every document
    policies = [d for d in documents if d.kind is policy]
    if not policies:
        return []
    paths = {d.path for d in policies}
    pack = build_policy_pack(tuple(policies))
    return [f for f in pack.findings if f.path in paths and f not in known]
