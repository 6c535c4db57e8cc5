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
import re
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
    yaml11_ambiguity_possible,
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
    folded: frozenset[str] = frozenset()
    """Names of the semantic checks the fast validator also decides (see ``compile_schema``)."""

    def is_valid(self, instance: object) -> bool:
        """Answer quickly whether the instance is valid (jsonschema-rs)."""
        return bool(self.fast.is_valid(instance))

    def raw_findings(self, instance: object) -> tuple[RawFinding, ...]:
        """Return every schema violation of the instance (python-jsonschema, the reference)."""
        errors = cast("Iterable[ValidationError]", self.reference.iter_errors(instance))
        root = cast("Mapping[str, Any]", self.reference.schema)
        return tuple(f for error in errors for f in _explain(error, root))


# Text that YAML 1.2 reads as text but YAML 1.1 tools as a boolean or a base-60 number. The
# reference loader warns about these when they are written unquoted; the fast validator refuses
# every such string (quoted or not), so that such a file always takes the reference path and gets
# its warning.
_YAML11_WORDS = sorted(YAML11_BOOLEANS)
_YAML11_SEXAGESIMAL = r"^[-+]?[0-9][0-9_]*(:[0-5]?[0-9])+([.][0-9_]*)?$"
_NOT_YAML11 = {"not": {"anyOf": [{"enum": _YAML11_WORDS}, {"pattern": _YAML11_SEXAGESIMAL}]}}
# The same refusal as one pattern, set as the string's own "not" where it has none (half the cost
# of wrapping every string schema in an allOf).
_YAML11_PATTERN = (
    "^(?:" + "|".join(re.escape(word) for word in _YAML11_WORDS) + ")$|" + _YAML11_SEXAGESIMAL
)


def _fast_variant(node: Any) -> Any:
    """Copy a schema, refusing YAML 1.1 look-alike text and floats (:data:`WHOLE_NUMBER`)."""
    if isinstance(node, list):
        return [_fast_variant(item) for item in node]
    if not isinstance(node, dict):
        return node
    copied = {key: _fast_variant(value) for key, value in node.items()}
    types = node.get("type")
    type_list = types if isinstance(types, list) else [types]
    if ("integer" in type_list or "number" in type_list) and "$ref" not in copied:
        copied["$ref"] = WHOLE_NUMBER
    elif "integer" in type_list or "number" in type_list:
        copied = {"allOf": [copied, {"$ref": WHOLE_NUMBER}]}
    if "string" not in type_list or _never_yaml11(node):
        return copied
    if "not" not in copied:
        copied["not"] = {"pattern": _YAML11_PATTERN}
        return copied
    return {"allOf": [copied, _NOT_YAML11]}


# Formats no YAML 1.1 word or base-60 number is valid in: a date has a "-" after its first digits,
# and a URI starts with a scheme, a letter then ":" (a base-60 number starts with a digit or sign).
_FORMATS_NEVER_YAML11 = frozenset({"date-time", "date", "uri"})


def _never_yaml11(node: Mapping[str, Any]) -> bool:
    """Tell that a string schema accepts no YAML 1.1 look-alike text, so needs no refusal of it.

    Its values are listed (``enum``, ``const``) and none is a look-alike, or its format (checked
    by the fast validator) rules them all out. About a third of the string schemas of an intent:
    each refusal left out is a regular expression less per value, about 1 µs an intent in all.
    """
    if "const" in node or "enum" in node:
        values = [node["const"]] if "const" in node else node["enum"]
        return isinstance(values, list) and not any(
            isinstance(value, str) and yaml11_ambiguity_possible(value) for value in values
        )
    return node.get("format") in _FORMATS_NEVER_YAML11


WHOLE_NUMBER = "urn:eucora:whole-number"
_WHOLE_NUMBERS = jsonschema_rs.Registry(
    [
        (
            WHOLE_NUMBER,
            {
                "$schema": "http://json-schema.org/draft-04/schema#",
                "not": {"type": "number", "not": {"type": "integer"}},
            },
        )
    ]
)
"""Refuses a float, whatever its value: JSON Schema counts 40.0 as an integer, we don't.

Since draft 6, ``type: integer`` accepts any number with a zero fraction (jsonschema-rs too, and
``const``, ``enum`` and ``multipleOf`` compare 40.0 equal to 40). Draft 4's ``integer`` is a
number written without a fraction, so a draft-04 resource, referenced where the type is
``integer`` or ``number``, refuses floats inside jsonschema-rs: no call into Python (a custom
keyword cost about 4 µs an intent: 14 calls, and a slower validator wherever it is registered).
Anything that is not a number passes it (the type says what else is allowed).
"""


def compile_schema(
    schema: Mapping[str, Any], folded: Mapping[str, Mapping[str, Any]] | None = None
) -> CompiledSchema:
    """Check the schema against its metaschema and build both validators.

    The fast validator checks a variant of the schema that also refuses YAML 1.1 look-alike text, so
    that "valid for the fast validator" implies "no finding from the reference". ``folded`` maps
    the name of a semantic check to a schema refusing (at least) whatever that check would find:
    the fast variant adds them, and the fast path may skip those checks.
    """
    validator_class = jsonschema.Draft202012Validator
    try:
        validator_class.check_schema(schema)
    except jsonschema.SchemaError as error:
        raise SchemaDefinitionError(
            f"invalid schema {schema.get('$id')}: {error.message}"
        ) from error
    reference = validator_class(schema, format_checker=validator_class.FORMAT_CHECKER)
    variant = _fast_variant(dict(schema))
    if folded:
        variant["allOf"] = [*variant.get("allOf", []), *folded.values()]
    fast = jsonschema_rs.validator_for(variant, validate_formats=True, registry=_WHOLE_NUMBERS)
    return CompiledSchema(
        schema_id=str(schema.get("$id", "")),
        reference=reference,
        fast=fast,
        folded=frozenset(folded or ()),
    )


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


def _resolve(root: Mapping[str, Any], reference: object) -> object:
    """The node a local ``$ref`` (``#/$defs/name``) names, or ``None`` for any other reference."""
    if not isinstance(reference, str) or not reference.startswith("#/"):
        return None
    node: object = root
    for token in reference[2:].split("/"):
        name = token.replace("~1", "/").replace("~0", "~")
        node = node.get(name) if isinstance(node, Mapping) else None
    return node


def _schema_nodes(root: Mapping[str, Any], path: Iterable[object]) -> list[tuple[object, object]]:
    """The schema nodes along an error's absolute schema path, each with the key that led to it."""
    nodes: list[tuple[object, object]] = [(None, root)]
    node: object = root
    for key in path:
        if key == "$ref" and isinstance(node, Mapping):
            node = _resolve(root, node.get("$ref"))
        elif isinstance(node, Mapping):
            node = node.get(key)
        elif isinstance(node, list) and isinstance(key, int) and key < len(node):
            node = node[key]
        else:
            break
        nodes.append((key, node))
    return nodes


_SENTENCE_END = re.compile(r"(?<!e\.g)(?<!i\.e)(?<!etc)\.\s+(?=[A-Z`])")


def _first_sentence(text: str) -> str:
    sentence = _SENTENCE_END.split(text.strip(), maxsplit=1)[0].rstrip(".")
    return sentence if len(sentence) <= 200 else sentence[:197] + "..."


def _hint(error: ValidationError, root: Mapping[str, Any] | None) -> str:
    """What the schema says the value should be: the description nearest the failing keyword.

    The value's own schema first (after ``$ref``), else the description of the conditional branch
    (``allOf``/``anyOf``/``oneOf`` item) the keyword came from. Empty when the schema says nothing.
    """
    own = error.schema.get("description") if isinstance(error.schema, Mapping) else None
    if isinstance(own, str):
        return _first_sentence(own)
    if root is None:
        return ""
    nodes = _schema_nodes(root, list(error.absolute_schema_path)[:-1])
    for index in range(len(nodes) - 1, 0, -1):
        key, node = nodes[index]
        description = node.get("description") if isinstance(node, Mapping) else None
        branch = key in {"then", "else"} or nodes[index - 1][0] in _BRANCHES
        if isinstance(description, str) and (index == len(nodes) - 1 or branch):
            return _first_sentence(description)
    return ""


_BRANCHES = frozenset({"allOf", "anyOf", "oneOf"})


def _pattern_fix(value: str, pattern: str) -> str:
    """A one-step repair that makes the value match, said as advice ("lower-case it"), or ""."""
    try:
        compiled = re.compile(pattern)
    except re.error:  # pragma: no cover - the metaschema check accepted it
        return ""
    squeezed = re.sub(r"\s+", "", value)
    repairs = (
        (value.lower(), "lower-case it"),
        (value.strip(), "remove the spaces around it"),
        (squeezed.upper(), "write it without spaces, in upper case"),
        (value.upper(), "upper-case it"),
        (re.sub(r"^http://", "https://", value), "use https"),
        ("P" + squeezed.upper(), "ISO-8601 durations start with P"),
        ("PT" + squeezed.upper(), "ISO-8601 durations start with P, and hours and minutes with T"),
    )
    for repaired, advice in repairs:
        if repaired != value and compiled.search(repaired):
            return f"{advice}: {_short(repaired)}" if len(repaired) <= 24 else advice
    return ""


def _explain(error: ValidationError, root: Mapping[str, Any] | None = None) -> Iterator[RawFinding]:
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
        values = [str(v) for v in cast("list[object]", error.validator_value)]
        same = [v for v in values if str(error.instance).casefold() == v.casefold()]
        close = same or difflib.get_close_matches(str(error.instance), values, n=1)
        suggestion = f"; did you mean {close[0]!r}?" if close else ""
        yield RawFinding(
            pointer,
            code,
            f"{_short(error.instance)} is not one of: {', '.join(values)}{suggestion}",
        )
        return
    if keyword == "pattern":
        yield RawFinding(pointer, code, _pattern_message(error, root))
        return
    if keyword == "format":
        about = _hint(error, root) or _FORMAT_EXAMPLES.get(str(error.validator_value), "")
        yield RawFinding(
            pointer,
            code,
            _bounded(
                f"{_short(error.instance)} is not a valid {error.validator_value}"
                + (f": {about}" if about else "")
            ),
        )
        return
    if keyword == "type":
        yield RawFinding(pointer, code, _type_message(error.instance, error.validator_value))
        return
    message = error.message
    if len(message) > MAX_MESSAGE:
        message = message[: MAX_MESSAGE - 3] + "..."
    yield RawFinding(pointer, code, message)


_FORMAT_EXAMPLES = {
    "date-time": "RFC 3339 with a time zone, e.g. 2027-03-01T09:00:00+01:00",
    "date": "a calendar date, e.g. 2027-03-01",
    "email": "an e-mail address, e.g. j.doe@contoso.com",
    "uri": "an absolute URL, e.g. https://contoso.com/path",
}


def _bounded(message: str) -> str:
    return message if len(message) <= MAX_MESSAGE else message[: MAX_MESSAGE - 3] + "..."


def _pattern_message(error: ValidationError, root: Mapping[str, Any] | None) -> str:
    """The value, what the schema says it should be, and the one-step repair when there is one.

    The regular expression is shown only when the schema has no description to show instead.
    """
    value = error.instance
    fix = _pattern_fix(value, str(error.validator_value)) if isinstance(value, str) else ""
    hint = _hint(error, root)
    if not hint:
        hint = f"it does not match the pattern {error.validator_value}"
    if fix:
        return _bounded(f"{_short(value)} is not valid here; {fix}. {hint[:1].upper()}{hint[1:]}")
    return _bounded(f"{_short(value)} is not valid here: {hint}")


_TYPE_NAMES = {
    "string": "text",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "object": "a mapping of keys to values",
    "array": "a list",
    "null": "null",
}


def _type_message(instance: object, expected: object) -> str:
    """Say what the value is, what is wanted, and how to write it (never advice that fails)."""
    wanted = [expected] if isinstance(expected, str) else list(cast("list[str]", expected))
    value = _short(instance)
    if "string" in wanted and isinstance(instance, (int, float)) and not isinstance(instance, bool):
        return f'{value} is a number, but text is expected here: quote it: "{instance}"'
    if "string" in wanted and isinstance(instance, bool):
        word = "true" if instance else "false"
        return f'{word} is a boolean, but text is expected here: quote it: "{word}"'
    if "boolean" in wanted and isinstance(instance, str):
        return f"{value} is text, but true or false is expected here: write true or false, unquoted"
    if "integer" in wanted and isinstance(instance, str) and instance.strip().isdigit():
        return f"{value} is text, but a whole number is expected here: remove the quotes"
    names = " or ".join(_TYPE_NAMES.get(name, name) for name in wanted)
    return f"{value} is not of type {' or '.join(wanted)} (write {names})"
