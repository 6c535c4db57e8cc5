"""Safe YAML loading that remembers where every key and value came from.

This is the reference loader: PyYAML's C event parser drives a small builder that

* keeps the line and column of every key and value (so any finding can point at its line),
* refuses what makes YAML dangerous or surprising in a change-management repository: anchors and
  aliases (an alias bomb loads in microseconds and then explodes in every later step), merge keys,
  explicit tags, duplicate keys (reported with both lines), several documents in one file,
* resolves plain scalars by the YAML 1.2 core schema, as editors and YAML 1.2 tools do: ``0777`` is
  the integer 777, ``0o17`` octal, ``0x1F`` hex; ``NO``, ``on``, ``1_000`` and ``18:00`` are text.
  Where a YAML 1.1 tool (PyYAML, Ansible) would read the same text otherwise (``False``, ``511``)
  it warns, so a country code or a version never silently changes meaning between tools,
* keeps timestamps as text (CEL, JSON Schema and canonical JSON all want strings),
* stops early, with a finding, on files that are too large, too deep or have too many nodes.

It never raises for bad input: every problem is a :class:`~bot.core.findings.Finding`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import yaml

from bot.core.findings import Finding, Severity

try:  # pragma: no cover - which parser exists depends on how PyYAML was built
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on what one YAML file may cost; exceeding one is a finding, never a hang."""

    max_bytes: int = 1_048_576
    max_depth: int = 64
    max_nodes: int = 100_000


DEFAULT_LIMITS = Limits()

Position = tuple[int, int]


@dataclass(slots=True)
class SourceMap:
    """Where each JSON pointer of a document was written (1-based line and column).

    ``keys`` holds the position of a mapping member's key (``/app`` → the ``app:`` line), ``values``
    the position of the value itself. Sequence items and the root have only a value position.
    """

    keys: dict[str, Position] = field(default_factory=dict)
    values: dict[str, Position] = field(default_factory=dict)
    scalars: set[str] = field(default_factory=set)
    written: dict[str, str] = field(default_factory=dict)
    """The text of integers written in a form YAML 1.1 reads otherwise (``0777``), by pointer."""

    def position(self, pointer: str, *, at_key: bool = False) -> Position:
        """Return the best position for a pointer, walking up to the nearest known ancestor.

        A scalar points at its value (or its key, with ``at_key``); an object or list points at its
        key (the line of ``app:`` for a problem with the whole ``app`` object), or at its first line
        for a list item.
        """
        current = pointer
        if at_key and current in self.keys:
            return self.keys[current]
        while True:
            if current in self.scalars and current in self.values:
                return self.values[current]
            if current in self.keys:
                return self.keys[current]
            if current in self.values and current:
                return self.values[current]
            if not current:
                return (1, 1)
            current = current.rsplit("/", 1)[0]


@dataclass(frozen=True, slots=True)
class YamlDocument:
    """What loading one YAML file gives: data (or ``None``), its source map and findings."""

    data: Any
    source_map: SourceMap
    findings: tuple[Finding, ...]


def escape_pointer_token(token: str) -> str:
    """Escape one JSON pointer token (RFC 6901)."""
    return token.replace("~", "~0").replace("/", "~1")


# --- scalar resolution -----------------------------------------------------------------------
# YAML 1.2 core schema (https://yaml.org/spec/1.2.2/#1032-tag-resolution).
_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
_BOOL = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_INT_DEC = re.compile(r"^[-+]?[0-9]+$")
_INT_OCT = re.compile(r"^0o[0-7]+$")
_INT_HEX = re.compile(r"^0x[0-9a-fA-F]+$")
_FLOAT = re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$")
_FLOAT_SPECIAL = re.compile(r"^(?:[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$")
# YAML 1.1 forms that PyYAML and other 1.1 tools would read differently.
YAML11_BOOLEANS = frozenset(
    (
        "y",
        "Y",
        "yes",
        "Yes",
        "YES",
        "n",
        "N",
        "no",
        "No",
        "NO",
        "on",
        "On",
        "ON",
        "off",
        "Off",
        "OFF",
    )
)
_LEADING_ZERO = re.compile(r"^[-+]?0[0-9_]+$")
_UNDERSCORE_NUMBER = re.compile(r"^[-+]?(?:0b[01_]+|0x[0-9a-fA-F_]+|[0-9][0-9_]*(?:\.[0-9_]*)?)$")
_SEXAGESIMAL = re.compile(r"^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$")
MAX_INTEGER_DIGITS = 4300
"""The longest decimal integer read as a number: Python refuses to convert longer ones (its
``int_max_str_digits`` guard), and no EUCORA field holds one; a longer one is a finding."""

AMBIGUOUS = "yaml.ambiguous"


def yaml11_ambiguity(text: str) -> str | None:
    """Say how a YAML 1.1 tool would misread a plain scalar, or ``None`` when it would not."""
    if text in YAML11_BOOLEANS:
        meaning = "true" if text.lower() in {"y", "yes", "on"} else "false"
        return f"YAML 1.1 tools read {text} as the boolean {meaning}"
    if _LEADING_ZERO.match(text):
        if _INT_DEC.match(text):
            return f"YAML 1.1 tools read {text} as {_yaml11_reading(text)}"
        return f"YAML 1.1 tools read {text} as an octal number"
    if "_" in text and _UNDERSCORE_NUMBER.match(text):
        return f"YAML 1.1 tools read {text} as a number"
    if _SEXAGESIMAL.match(text) and not text.lstrip("+-").startswith("0"):
        return f"YAML 1.1 tools read {text} as a base-60 number"
    return None


def _yaml11_reading(text: str) -> str:
    """What a YAML 1.1 tool makes of a leading-zero integer: octal, or text (``09`` is no octal)."""
    try:
        return f"the octal number {int(text, 8)}"
    except ValueError:
        return f"the text {text!r}"


def yaml11_ambiguity_possible(text: str) -> bool:
    """Cheaply tell whether text that YAML 1.2 reads as text could be a YAML 1.1 look-alike."""
    return text in YAML11_BOOLEANS or (":" in text and _SEXAGESIMAL.match(text) is not None)


def integer_too_long(text: str) -> bool:
    """Tell whether text is a decimal integer too long to read as a number."""
    return len(text.lstrip("+-")) > MAX_INTEGER_DIGITS and _INT_DEC.match(text) is not None


def resolve_plain_scalar(text: str) -> tuple[Any, str | None]:
    """Resolve a plain (unquoted) scalar by the YAML 1.2 core schema.

    Returns the value and, for a YAML 1.1 surprise, how YAML 1.1 tools would read it. A leading-zero
    integer (``0777``) is the decimal integer YAML 1.2 reads (777); the other surprises are text.
    """
    ambiguity = yaml11_ambiguity(text)
    if ambiguity is not None:
        number = _INT_DEC.match(text) is not None and not integer_too_long(text)
        return (int(text) if number else text), ambiguity
    if _NULL.match(text):
        return None, None
    if text in _BOOL:
        return _BOOL[text], None
    if _INT_DEC.match(text):
        if integer_too_long(text):
            return text, None  # kept as the text; the builder reports it (yaml.integer)
        return int(text), None
    if _INT_OCT.match(text):
        return int(text, 8), None
    if _INT_HEX.match(text):
        return int(text, 16), None
    if _FLOAT.match(text):
        return float(text), None
    if _FLOAT_SPECIAL.match(text):
        return float(text.lower().replace(".", "")), None
    return text, None


# --- the builder --------------------------------------------------------------------------------


class _Stop(Exception):  # noqa: N818 - internal control flow, never escapes this module
    """Raised inside the builder to stop at the first fatal problem."""


@dataclass(slots=True)
class _Frame:
    pointer: str
    container: Any
    pending_key: str | None = None
    pending_key_pos: Position = (1, 1)
    key_lines: dict[str, int] = field(default_factory=dict)


def _pos(mark: Any) -> Position:
    return (mark.line + 1, mark.column + 1)


class _Builder:
    """Turns PyYAML events into plain data plus positions, iteratively (no recursion)."""

    def __init__(self, path: str, limits: Limits) -> None:
        self.path = path
        self.limits = limits
        self.findings: list[Finding] = []
        self.source_map = SourceMap()
        self.stack: list[_Frame] = []
        self.root: Any = None
        self.documents = 0
        self.nodes = 0

    def finding(
        self,
        position: Position,
        code: str,
        message: str,
        *,
        pointer: str = "",
        severity: Severity = Severity.ERROR,
    ) -> None:
        self.findings.append(
            Finding(
                path=self.path,
                line=position[0],
                column=position[1],
                code=code,
                severity=severity,
                message=message,
                json_path=pointer_to_json_path(pointer),
            )
        )

    def fatal(self, position: Position, code: str, message: str) -> None:
        self.finding(position, code, message)
        raise _Stop

    def _child_pointer(self) -> str | None:
        """Return the pointer of the next value, or ``None`` when it is a mapping key."""
        if not self.stack:
            return ""
        top = self.stack[-1]
        if isinstance(top.container, list):
            return f"{top.pointer}/{len(top.container)}"
        if top.pending_key is None:
            return None
        return f"{top.pointer}/{escape_pointer_token(top.pending_key)}"

    def _attach(self, value: Any) -> None:
        if not self.stack:
            self.root = value
            return
        top = self.stack[-1]
        if isinstance(top.container, list):
            top.container.append(value)
        else:
            assert top.pending_key is not None  # noqa: S101 - guarded by _child_pointer
            top.container[top.pending_key] = value
            top.pending_key = None

    def _count(self, position: Position) -> None:
        self.nodes += 1
        if self.nodes > self.limits.max_nodes:
            self.fatal(
                position,
                "yaml.too-large",
                f"more than {self.limits.max_nodes} YAML nodes; split the file",
            )

    def _check_node(self, event: Any, position: Position) -> None:
        if event.anchor is not None:
            self.fatal(
                position,
                "yaml.alias",
                f"anchors and aliases are not allowed (anchor &{event.anchor}); "
                "write the values out",
            )
        if event.tag is not None:
            self.fatal(position, "yaml.tag", f"explicit YAML tags are not allowed ({event.tag})")

    def scalar(self, event: Any) -> None:
        position = _pos(event.start_mark)
        self._count(position)
        self._check_node(event, position)
        plain = not event.style
        if (
            self.stack
            and isinstance(self.stack[-1].container, dict)
            and (self.stack[-1].pending_key is None)
        ):
            self._key(event.value, position, plain=plain)
            return
        pointer = self._child_pointer()
        assert pointer is not None  # noqa: S101 - keys were handled above
        value: Any = event.value
        if plain:
            value, ambiguity = resolve_plain_scalar(event.value)
            if ambiguity is not None and isinstance(value, int):
                self.source_map.written[pointer] = event.value
                self.finding(
                    position,
                    AMBIGUOUS,
                    f"{ambiguity}, YAML 1.2 tools, editors and EUCORA as {value}: write {value}, "
                    f'or quote it ("{event.value}") where text such as a version is meant',
                    pointer=pointer,
                    severity=Severity.WARNING,
                )
            elif ambiguity is not None:
                self.finding(
                    position,
                    AMBIGUOUS,
                    f"{ambiguity}; kept here as the text {event.value!r}: quote it "
                    f'("{event.value}") where text is meant'
                    + (
                        "; for a yes/no write true or false"
                        if event.value.lower() in YAML11_BOOLEANS
                        else " or write what you mean"
                    ),
                    pointer=pointer,
                    severity=Severity.WARNING,
                )
            elif isinstance(value, str) and integer_too_long(value):
                self.finding(
                    position,
                    "yaml.integer",
                    f"an integer of {len(value.lstrip('+-')):,} digits; EUCORA reads integers "
                    f"of at most {MAX_INTEGER_DIGITS:,} digits: write a smaller number",
                    pointer=pointer,
                )
            elif isinstance(value, float):
                self.finding(
                    position,
                    "yaml.float",
                    f"{event.value} is a decimal number, which EUCORA files do not use "
                    f'(evidence is float-free): quote it ("{event.value}") where text such as '
                    "a version is meant, or write a whole number",
                    pointer=pointer,
                )
        self.source_map.values[pointer] = position
        self.source_map.scalars.add(pointer)
        self._attach(value)

    def _key(self, text: str, position: Position, *, plain: bool) -> None:
        top = self.stack[-1]
        if plain and text == "<<":
            self.fatal(position, "yaml.merge-key", "merge keys (<<) are not allowed")
        first = top.key_lines.get(text)
        if first is not None:
            self.fatal(
                position,
                "yaml.duplicate-key",
                f"duplicate key {text!r} (first defined at line {first})",
            )
        top.key_lines[text] = position[0]
        top.pending_key = text
        top.pending_key_pos = position
        pointer = f"{top.pointer}/{escape_pointer_token(text)}"
        self.source_map.keys[pointer] = position

    def start(self, event: Any, container: Any) -> None:
        position = _pos(event.start_mark)
        self._count(position)
        self._check_node(event, position)
        if (
            self.stack
            and isinstance(self.stack[-1].container, dict)
            and (self.stack[-1].pending_key is None)
        ):
            self.fatal(position, "yaml.complex-key", "mapping keys must be plain text")
        if len(self.stack) >= self.limits.max_depth:
            self.fatal(
                position,
                "yaml.too-deep",
                f"nested deeper than {self.limits.max_depth} levels",
            )
        pointer = self._child_pointer()
        assert pointer is not None  # noqa: S101 - keys were handled above
        self.source_map.values[pointer] = position
        self._attach(container)
        self.stack.append(_Frame(pointer=pointer, container=container))

    def end(self) -> None:
        self.stack.pop()


def pointer_to_json_path(pointer: str) -> str:
    """Turn a JSON pointer (``/rings/0/name``) into a JSON path (``$.rings[0].name``)."""
    if not pointer:
        return "$"
    parts = ["$"]
    for raw in pointer.split("/")[1:]:
        token = raw.replace("~1", "/").replace("~0", "~")
        if token.isdigit():
            parts.append(f"[{token}]")
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", token):
            parts.append(f".{token}")
        else:
            parts.append(f"[{token!r}]")
    return "".join(parts)


def decode_source(
    raw: bytes, path: str, limits: Limits = DEFAULT_LIMITS
) -> tuple[str | None, tuple[Finding, ...]]:
    """Decode a file's bytes as UTF-8 within the size limit, or say where it fails."""
    if len(raw) > limits.max_bytes:
        return None, (
            Finding(
                path=path,
                line=1,
                column=1,
                code="yaml.too-large",
                severity=Severity.ERROR,
                message=f"file is {len(raw)} bytes; the limit is {limits.max_bytes}",
            ),
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        before = raw[: error.start]
        line = before.count(b"\n") + 1
        column = error.start - (before.rfind(b"\n") + 1) + 1
        return None, (
            Finding(
                path=path,
                line=line,
                column=column,
                code="yaml.encoding",
                severity=Severity.ERROR,
                message=f"not UTF-8: byte 0x{raw[error.start]:02x} cannot be decoded; "
                "save the file as UTF-8",
            ),
        )
    return text.removeprefix("\ufeff"), ()


def load_yaml(text: str, path: str, limits: Limits = DEFAULT_LIMITS) -> YamlDocument:
    """Load one YAML document from text, with positions, refusing unsafe or surprising YAML."""
    builder = _Builder(path, limits)
    if len(text) > limits.max_bytes:
        builder.finding((1, 1), "yaml.too-large", f"file is larger than {limits.max_bytes} bytes")
        return YamlDocument(None, builder.source_map, tuple(builder.findings))
    try:
        _drive(builder, text)
    except _Stop:
        return YamlDocument(None, builder.source_map, tuple(builder.findings))
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
        position = _pos(mark) if mark is not None else _offset_position(text, error)
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        context = getattr(error, "context", None)
        message = f"{context}, {problem}" if context else str(problem)
        if "maximum nesting depth" in str(problem):  # libyaml >= 0.2.6 stops at 1,000 levels
            builder.finding(position, "yaml.too-deep", f"nested too deeply: {message}")
        else:
            builder.finding(position, "yaml.syntax", f"YAML syntax error: {message}")
        return YamlDocument(None, builder.source_map, tuple(builder.findings))
    if builder.documents == 0:
        builder.finding((1, 1), "yaml.empty", "the file holds no YAML document")
    return YamlDocument(builder.root, builder.source_map, tuple(builder.findings))


def _offset_position(text: str, error: yaml.YAMLError) -> Position:
    """Line and column of a reader error, which carries a character offset instead of a mark."""
    offset = getattr(error, "position", None)
    if not isinstance(offset, int):
        return (1, 1)
    before = text[:offset]
    return (before.count("\n") + 1, offset - (before.rfind("\n") + 1) + 1)


def _drive(builder: _Builder, text: str) -> None:
    for event in yaml.parse(text, Loader=_Loader):
        kind = type(event)
        if kind is yaml.ScalarEvent:
            builder.scalar(event)
        elif kind is yaml.MappingStartEvent:
            builder.start(event, {})
        elif kind is yaml.SequenceStartEvent:
            builder.start(event, [])
        elif kind in (yaml.MappingEndEvent, yaml.SequenceEndEvent):
            builder.end()
        elif kind is yaml.AliasEvent:
            builder.fatal(
                _pos(event.start_mark),
                "yaml.alias",
                f"anchors and aliases are not allowed (alias *{event.anchor}); "  # type: ignore[attr-defined]
                "write the values out",
            )
        elif kind is yaml.DocumentStartEvent:
            builder.documents += 1
            if builder.documents > 1:
                builder.fatal(
                    _pos(event.start_mark),
                    "yaml.multi-document",
                    "one YAML document per file: remove the second '---'",
                )


def positions(text: str) -> SourceMap:
    """Build only the source map of text already known to be safe and valid.

    For files that took the fast path (no anchors, aliases or tags; validated): a walk over
    libyaml's events that records positions and builds no data, resolves no scalars and checks
    nothing, about twice as fast as :func:`load_yaml`.
    """
    source_map = SourceMap()
    keys, values, scalars = source_map.keys, source_map.values, source_map.scalars
    # Each open collection: [pointer, is_mapping, next index, pending key pointer or None].
    stack: list[list[Any]] = []
    scalar_event, mapping_start = yaml.ScalarEvent, yaml.MappingStartEvent
    sequence_start, ends = yaml.SequenceStartEvent, (yaml.MappingEndEvent, yaml.SequenceEndEvent)
    try:
        for event in yaml.parse(text, Loader=_Loader):
            kind = type(event)
            if kind in ends:
                stack.pop()
                continue
            if (
                kind is not scalar_event
                and kind is not mapping_start
                and kind is not sequence_start
            ):
                continue
            mark: Any = event.start_mark
            position = (mark.line + 1, mark.column + 1)
            if not stack:
                pointer = ""
            else:
                top = stack[-1]
                if top[1]:
                    if top[3] is None:  # a key
                        key_pointer = f"{top[0]}/{escape_pointer_token(str(event.value))}"  # type: ignore[attr-defined]
                        keys[key_pointer] = position
                        top[3] = key_pointer
                        continue
                    pointer, top[3] = top[3], None
                else:
                    pointer = f"{top[0]}/{top[2]}"
                    top[2] += 1
            values[pointer] = position
            if kind is scalar_event:
                scalars.add(pointer)
            else:
                stack.append([pointer, kind is mapping_start, 0, None])
    except yaml.YAMLError:
        return load_yaml(text, "").source_map
    return source_map


def _with_ancestors(pointers: set[str]) -> set[str]:
    out = set(pointers)
    for pointer in pointers:
        parent = pointer
        while parent:
            parent = parent.rsplit("/", 1)[0]
            out.add(parent)
    return out


def locate(  # noqa: C901, PLR0912, PLR0915 - one flat event loop: it is the hot path of a check
    text: str, pointers: Iterable[str]
) -> dict[str, Position] | None:
    """Give the positions of a few pointers, as ``positions(text).position`` would, cheaply.

    A field diff needs the line of a handful of pointers, not a map of the whole file. This walk
    records only those pointers and their ancestors (every entry :meth:`SourceMap.position` can
    consult for them), skips every other subtree without building its pointers, and stops once
    each pointer asked for has been seen. For text already known to be valid (a fast-path file);
    ``None`` on a YAML error, where the caller falls back to the full source map.
    """
    targets = set(pointers)
    wanted = _with_ancestors(targets)
    source_map = SourceMap()
    keys, values, scalars = source_map.keys, source_map.values, source_map.scalars
    remaining = set(targets)
    stack: list[list[Any]] = []  # as in positions(): pointer, is mapping, next index, pending key
    skip = 0  # depth inside a subtree that holds no wanted pointer
    scalar_event, mapping_start = yaml.ScalarEvent, yaml.MappingStartEvent
    sequence_start, ends = yaml.SequenceStartEvent, (yaml.MappingEndEvent, yaml.SequenceEndEvent)
    nodes = (scalar_event, mapping_start, sequence_start)
    try:
        for event in yaml.parse(text, Loader=_Loader):
            kind = type(event)
            if skip:
                if kind is mapping_start or kind is sequence_start:
                    skip += 1
                elif kind in ends:
                    skip -= 1
                continue
            if kind in ends:
                stack.pop()
                continue
            if kind not in nodes:
                continue
            if not stack:
                pointer = ""
            else:
                top = stack[-1]
                if top[1]:
                    if top[3] is None:  # a key
                        key_pointer = f"{top[0]}/{escape_pointer_token(str(event.value))}"  # type: ignore[attr-defined]
                        if key_pointer in wanted:
                            mark: Any = event.start_mark
                            keys[key_pointer] = (mark.line + 1, mark.column + 1)
                        top[3] = key_pointer
                        continue
                    pointer, top[3] = top[3], None
                else:
                    pointer = f"{top[0]}/{top[2]}"
                    top[2] += 1
            if pointer not in wanted:
                skip = 0 if kind is scalar_event else 1
                continue
            mark = event.start_mark
            values[pointer] = (mark.line + 1, mark.column + 1)
            if kind is scalar_event:
                scalars.add(pointer)
            else:
                stack.append([pointer, kind is mapping_start, 0, None])
            remaining.discard(pointer)
            if not remaining:
                break
    except yaml.YAMLError:
        return None
    return {pointer: source_map.position(pointer) for pointer in targets}
