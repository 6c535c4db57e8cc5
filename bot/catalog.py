"""The schema and policy catalog: the shipped schemas and default policies, compiled once.

What ``validate``, ``check`` and ``policy test`` need, and nothing more: no database, queue or web
library, so the base install (``pip install eucora``) runs them. ``bot.bootstrap`` builds the
services of the GitHub App on top of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from pathlib import Path

from bot import resources
from bot.core.cel import CelEnvironment
from bot.core.documents import (
    SCHEMA_FILES,
    DocumentKind,
    DocumentValidator,
    ValidatedDocument,
    compile_document_schema,
)
from bot.core.policy import CompiledPolicyPack, compile_policy_pack
from bot.core.schema import CompiledSchema


@cache
def compiled_schemas() -> dict[DocumentKind, CompiledSchema]:
    """Compile the shipped schemas once per process."""
    return {
        kind: compile_document_schema(kind, resources.load_schema(name))
        for kind, name in SCHEMA_FILES.items()
    }


def build_document_validator(*, fast_path: bool = True) -> DocumentValidator:
    """Build the validator for intents, ``eucora.yaml``, policy and waiver files."""
    return DocumentValidator(schemas=compiled_schemas(), fast_path=fast_path)


@cache
def cel_environment() -> CelEnvironment:
    """The CEL environment, declared once per process."""
    return CelEnvironment()


def default_policy_documents() -> tuple[ValidatedDocument, ...]:
    """The default policy pack shipped with EUCORA, validated, in file-name order."""
    validator = build_document_validator()
    folder = resources.data_dir("policies")
    return tuple(
        validator.validate(path.read_bytes(), f"eucora:policies/{path.name}", DocumentKind.POLICY)
        for path in sorted(folder.glob("*.yaml"))
    )


def build_policy_pack(
    extra: Sequence[ValidatedDocument] = (), *, include_default: bool = True
) -> CompiledPolicyPack:
    """Compile the default pack plus a repository's own policy documents into one pack."""
    documents = (*default_policy_documents(), *extra) if include_default else tuple(extra)
    return compile_policy_pack(
        documents,
        cel_environment(),
        intent_schema=resources.load_schema(SCHEMA_FILES[DocumentKind.INTENT]),
        config_schema=resources.load_schema(SCHEMA_FILES[DocumentKind.CONFIG]),
    )


def read_policy_documents(paths: Sequence[Path]) -> tuple[ValidatedDocument, ...]:
    """Validate policy files from disk (for ``eucora policy test``)."""
    validator = build_document_validator()
    return tuple(
        validator.validate(p.read_bytes(), str(p), DocumentKind.POLICY) for p in sorted(paths)
    )
