"""The composition root: the one place that reads shipped files and builds the services."""

from __future__ import annotations

from functools import cache

from bot import resources
from bot.core.documents import SCHEMA_FILES, DocumentKind, DocumentValidator
from bot.core.schema import CompiledSchema, compile_schema


@cache
def compiled_schemas() -> dict[DocumentKind, CompiledSchema]:
    """Compile the shipped schemas once per process."""
    return {
        kind: compile_schema(resources.load_schema(name)) for kind, name in SCHEMA_FILES.items()
    }


def build_document_validator(*, fast_path: bool = True) -> DocumentValidator:
    """Build the validator for intents, ``eucora.yaml`` and policy files."""
    return DocumentValidator(schemas=compiled_schemas(), fast_path=fast_path)
