"""JSON Schema validation with findings that point at lines.

Two validators are compiled from one schema, once:

* the reference, python-jsonschema (Draft 2020-12, formats switched on explicitly), which reports
  every error with its path and keyword and turns each into a :class:`Finding` at the right line;
* a fast yes/no check, jsonschema-rs, used only to say "this document is valid" on the hot path.
  Whenever it says "invalid", the reference produces the findings, so the findings never depend on
  which library ran (``tests/core/test_fast_path.py`` checks the two agree on the whole corpus).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, cast

import jsonschema
import jsonschema_rs
from jsonschema.exceptions import ValidationError, best_match

from bot.core.findings import Finding, Severity
from bot.core.yaml_source import (
    YAML11_BOOLEANS,
    SourceMap,
    escape_pointer_token,
    pointer_to_json_path,
)

MAX_MESSAGE = 300


@dataclass(frozen=True, slots=True)
class RawFinding:
    """A finding before it has a file and a position: a JSON pointer, a code and a message."""

    pointer: str
    code: str
    message: str
    severity: Severity = Severity.ERROR
    at_key: bool = False

    def locate(self, path: str, source_map: SourceMap) -> Finding:
        """Attach the file and the line/column of the pointer (of its key, for ``at_key``)."""
        line, column = source_map.position(self.pointer, at_key=self.at_key)
        return Finding(
            path=path,
            line=line,
            column=column,
            code=self.code,
            severity=self.severity,
            message=self.message,
            json_path=pointer_to_json_path(self.pointer),
        )


class SchemaDefinitionError(ValueError):
    """The schema itself is not a valid Draft 2020-12 schema (a bug in the shipped schemas)."""


@dataclass(frozen=True, slots=True)
class CompiledSchema:
    """A schema compiled once for both the reference and the fast validator."""

    schema_id: str
    reference: Any
    fast: Any

    def is_valid(self, instance: object) -> bool:
        """Answer quickly whether the instance is valid (jsonschema-rs)."""
        return bool(self.fast.is_valid(instance))

    def raw_findings(self, instance: object) -> tuple[RawFinding, ...]:
        """Return every schema violation of the instance (python-jsonschema, the reference)."""
        errors = cast("Iterable[ValidationError]", self.reference.iter_errors(instance))
        return tuple(f for error in errors for f in _explain(error))


# Text that YAML 1.2 reads as text but YAML 1.1 tools as a boolean or a base-60 number. The
# reference loader warns about these when they are written unquoted; the fast validator refuses
# every such string (quoted or not), so that such a file always takes the reference path and gets
# its warning.
_YAML11_WORDS = sorted(YAML11_BOOLEANS)
_YAML11_SEXAGESIMAL = r"^[-+]?[0-9][0-9_]*(:[0-5]?[0-9])+([.][0-9_]*)?$"
_NOT_YAML11 = {"not": {"anyOf": [{"enum": _YAML11_WORDS}, {"pattern": _YAML11_SEXAGESIMAL}]}}


def _fast_variant(node: Any) -> Any:
    """Copy a schema, refusing YAML 1.1 look-alike text wherever a string is allowed."""
    if isinstance(node, list):
        return [_fast_variant(item) for item in node]
    if not isinstance(node, dict):
        return node
    copied = {key: _fast_variant(value) for key, value in node.items()}
    types = node.get("type")
    type_list = types if isinstance(types, list) else [types]
    if "integer" in type_list or "number" in type_list:
        copied[WHOLE_NUMBER] = True
    if "string" in type_list:
        copied = {"allOf": [copied, _NOT_YAML11]}
    return copied


WHOLE_NUMBER = "eucoraWholeNumber"


class _WholeNumber:
    """A jsonschema-rs keyword refusing floats: JSON Schema counts 40.0 as an integer, we don't."""

    def __init__(self, parent_schema: object, value: object, schema_path: object) -> None:
        del parent_schema, value, schema_path

    def validate(self, instance: object) -> None:
        if isinstance(instance, float):
            raise ValueError(f"{instance} is not a whole number")  # noqa: TRY004 - the library expects ValueError


def compile_schema(schema: Mapping[str, Any]) -> CompiledSchema:
    """Check the schema against its metaschema and build both validators.

    The fast validator checks a variant of the schema that also refuses YAML 1.1 look-alike text, so
    that "valid for the fast validator" implies "no finding from the reference".
    """
    validator_class = jsonschema.Draft202012Validator
    try:
        validator_class.check_schema(schema)
    except jsonschema.SchemaError as error:
        raise SchemaDefinitionError(
            f"invalid schema {schema.get('$id')}: {error.message}"
        ) from error
    reference = validator_class(schema, format_checker=validator_class.FORMAT_CHECKER)
    fast = jsonschema_rs.validator_for(
        _fast_variant(dict(schema)),
        validate_formats=True,
        keywords={WHOLE_NUMBER: _WholeNumber},
    )
    return CompiledSchema(schema_id=str(schema.get("$id", "")), reference=reference, fast=fast)


def _pointer(parts: Iterable[object]) -> str:
    return "".join("/" + escape_pointer_token(str(p)) for p in parts)


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _deepest(error: ValidationError) -> ValidationError:
    """Descend into anyOf/oneOf errors to the branch error that explains the most."""
    current = error
    while current.context:
        chosen = best_match(current.context)
        if chosen is None:  # pragma: no cover - context is non-empty
            break
        current = chosen
    return current


def _explain(error: ValidationError) -> Iterator[RawFinding]:
    error = _deepest(error) if error.validator in {"anyOf", "oneOf"} else error
    keyword = str(error.validator)
    pointer = _pointer(error.absolute_path)
    code = f"schema.{keyword}"
    if keyword == "additionalProperties" and isinstance(error.instance, dict):
        allowed = sorted(cast("dict[str, Any]", error.schema.get("properties", {})))
        patterns = error.schema.get("patternProperties", {})
        for name in sorted(error.instance):
            if name in allowed or patterns:
                continue
            hint = difflib.get_close_matches(name, allowed, n=1)
            suggestion = f"; did you mean {hint[0]!r}?" if hint else ""
            yield RawFinding(
                pointer=f"{pointer}/{escape_pointer_token(name)}",
                code=code,
                message=f"unknown key {name!r}{suggestion} (allowed here: {', '.join(allowed)})",
                at_key=True,
            )
        return
    if keyword == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        where = pointer_to_json_path(pointer)
        yield RawFinding(pointer, code, f"missing required key {missing!r} in {where}")
        return
    if keyword == "enum":
        options = ", ".join(str(v) for v in cast("list[object]", error.validator_value))
        yield RawFinding(pointer, code, f"{_short(error.instance)} is not one of: {options}")
        return
    if keyword == "pattern":
        yield RawFinding(
            pointer,
            code,
            f"{_short(error.instance)} does not match the pattern {error.validator_value}",
        )
        return
    if keyword == "format":
        yield RawFinding(
            pointer,
            code,
            f"{_short(error.instance)} is not a valid {error.validator_value}",
        )
        return
    if keyword == "type":
        yield RawFinding(
            pointer,
            code,
            f"{_short(error.instance)} is not of type {error.validator_value}",
        )
        return
    message = error.message
    if len(message) > MAX_MESSAGE:
        message = message[: MAX_MESSAGE - 3] + "..."
    yield RawFinding(pointer, code, message)
