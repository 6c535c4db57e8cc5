"""Validating one EUCORA file: bytes in, data and findings out.

Two paths give the same answer:

* the **reference path** — the positional YAML loader (:mod:`bot.core.yaml_source`),
  python-jsonschema and the semantic checks — produces every finding with its line;
* the **fast path** — yaml-rs and jsonschema-rs, about ten times faster — may only conclude
  "clean". It gives up, and the reference path runs, at the first sign of anything the two YAML
  parsers could read differently (anchors, tags, YAML 1.1 look-alikes, floats, non-string keys,
  control characters) or of any finding at all. So the fast path changes the speed, never the
  findings; the equivalence is tested on the whole example corpus and on generated mutations.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from functools import lru_cache
from typing import Any

import yaml_rs

from bot.core import semantics
from bot.core.findings import Finding, Severity, sort_findings
from bot.core.plane_settings import (
    NOT_IN_API,
    PLANE_SECTIONS,
    check_ansible_settings,
    check_intune_package,
    check_intune_settings,
    check_jamf_settings,
    check_landscape_settings,
    check_plane_sections,
    check_sccm_settings,
    check_settings_not_in_api,
)
from bot.core.repo_config import CONFIG_NAMES
from bot.core.schema import CompiledSchema, RawFinding, compile_schema
from bot.core.yaml_source import (
    AMBIGUOUS,
    DEFAULT_LIMITS,
    MAX_INTEGER_DIGITS,
    Limits,
    SourceMap,
    decode_source,
    load_yaml,
    locate,
    pointer_to_json_path,
    positions,
)


class DocumentKind(StrEnum):
    """The three kinds of file in an intents repository."""

    INTENT = "intent"
    CONFIG = "config"
    POLICY = "policy"
    WAIVERS = "waivers"
    POLICY_TEST = "policy-test"


KIND_NAMES: Mapping[str, DocumentKind] = {
    "DeploymentIntent": DocumentKind.INTENT,
    "EucoraConfig": DocumentKind.CONFIG,
    "PolicyPack": DocumentKind.POLICY,
    "Waivers": DocumentKind.WAIVERS,
    "PolicyTest": DocumentKind.POLICY_TEST,
}

SCHEMA_FILES: Mapping[DocumentKind, str] = {
    DocumentKind.INTENT: "deployment-intent.schema.json",
    DocumentKind.CONFIG: "eucora-config.schema.json",
    DocumentKind.POLICY: "policy.schema.json",
    DocumentKind.WAIVERS: "waiver.schema.json",
    DocumentKind.POLICY_TEST: "policy-test.schema.json",
}

# An enum member read from its class costs about 0.15 µs in CPython 3.11 (a module global about
# 0.01): the per-file code reads these instead.
_INTENT = DocumentKind.INTENT
_REFUSE_DUPLICATE_KEYS = yaml_rs.DuplicateKeyPolicy.Error

CHECKS: Mapping[DocumentKind, tuple[semantics.Check, ...]] = {
    DocumentKind.INTENT: semantics.INTENT_CHECKS,
    DocumentKind.CONFIG: semantics.CONFIG_CHECKS,
    DocumentKind.POLICY: semantics.POLICY_CHECKS,
    DocumentKind.WAIVERS: (),
    DocumentKind.POLICY_TEST: (),
}


_KNOWN_PLATFORMS = sorted(frozenset().union(*semantics.PLANE_PLATFORMS.values()))


def _refused_by_platform(
    refusal: Callable[[list[str]], dict[str, Any]], supported: Mapping[str, frozenset[str]]
) -> dict[str, Any]:
    """On each platform the checks know, refuse the values whose platforms leave it out.

    One condition for each platform (three), not one for each value (eleven package types):
    about 1 µs an intent less in jsonschema-rs for the same refusals.
    """
    return {
        "allOf": [
            {
                "if": {"required": ["platform"], "properties": {"platform": {"const": platform}}},
                "then": refusal(refused),
            }
            for platform in _KNOWN_PLATFORMS
            if (refused := sorted(value for value, on in supported.items() if platform not in on))
        ]
    }


FOLDED: Mapping[DocumentKind, Mapping[str, Mapping[str, Any]]] = {
    DocumentKind.INTENT: {
        semantics.check_plane_platform.__name__: _refused_by_platform(
            lambda refused: {"properties": {"plane": {"not": {"enum": refused}}}},
            semantics.PLANE_PLATFORMS,
        ),
        semantics.check_package_platform.__name__: _refused_by_platform(
            lambda refused: {
                "properties": {"package": {"properties": {"type": {"not": {"enum": refused}}}}}
            },
            semantics.PACKAGE_PLATFORMS,
        ),
        semantics.check_ring_targets.__name__: {
            "allOf": [
                {
                    "if": {"required": ["plane"], "properties": {"plane": {"const": plane}}},
                    "then": {
                        "properties": {
                            "rings": {
                                "items": {
                                    "properties": {
                                        "target": {"pattern": f"^(?:{rule[0].pattern})$"}
                                    }
                                }
                            }
                        }
                    },
                }
                for plane, rule in sorted(semantics.PLAIN_TARGETS.items())
            ]
        },
        semantics.check_soak_durations.__name__: {
            "properties": {
                "rings": {
                    "items": {
                        "properties": {
                            "gate": {"properties": {"soak": {"not": {"pattern": "^PT?$|T$"}}}}
                        }
                    }
                }
            }
        },
    },
}
"""Semantic checks the fast validator decides too, as schemas refusing whatever they would find.

The fast path skips them when its schema was compiled with these (:func:`compile_document_schema`):
a file they would find something in is invalid for the fast validator, so it takes the reference
path, which runs every check. Each costs more in Python than in the compiled schema.
"""


_PRECHECKED: frozenset[str] = frozenset(
    check.__name__
    for check in (
        semantics.check_ring_names,
        semantics.check_ring_sizes,
        semantics.check_schedules,
        semantics.check_change_window,
        semantics.check_versions,
        check_plane_sections,
    )
)
"""Intent checks :func:`_intent_surely_clean` decides together in one pass, when it is sure."""

_ALL_SECTIONS = frozenset(PLANE_SECTIONS)
_OTHER_SECTIONS: Mapping[object, frozenset[str]] = {
    plane: _ALL_SECTIONS - {plane} for plane in semantics.PLANE_PLATFORMS
}
_DOTTED = re.compile(r"[0-9]{1,18}(?:\.[0-9]{1,18})*")


def _surely_after(later: object, earlier: object) -> bool:
    """Both are timestamps with an offset and ``later`` comes after ``earlier``.

    Comparing two times with different offsets costs about 1 µs (both offsets are computed); when
    the calendar days are three or more apart, no offset (less than a day either way) can change
    the order, and comparing the days' ordinals is enough.
    """
    if type(later) is not str or type(earlier) is not str:
        return False
    try:
        after, before = datetime.fromisoformat(later), datetime.fromisoformat(earlier)
    except ValueError:
        return False
    return (
        after.tzinfo is not None
        and before.tzinfo is not None
        and (after.toordinal() - before.toordinal() > 2 or after > before)
    )


def _release(version: str) -> list[int]:
    numbers = [int(part) for part in version.split(".")]
    while numbers and numbers[-1] == 0:
        numbers.pop()
    return numbers


def _intent_surely_clean(intent: Mapping[str, Any]) -> bool:
    """Tell that none of the :data:`_PRECHECKED` checks would find anything in a clean intent.

    The fast path's shortcut for those checks, fused into one walk over the rings (each check
    walks them again, about 15 µs an intent): it answers ``True`` only for the plain shapes a valid
    intent has (unique ring names, growing device counts, deadlines after starts, dotted versions
    that differ, no other plane's section), and ``False`` whenever it is unsure, in which case the
    checks themselves run. So it changes the speed, never the findings.
    """
    sections = _OTHER_SECTIONS.get(intent.get("plane"), _ALL_SECTIONS)
    rings = intent.get("rings")
    if type(rings) is not list or not sections.isdisjoint(intent):
        return False
    names: set[str] = set()
    devices = -1
    for ring in rings:
        if type(ring) is not dict or not sections.isdisjoint(ring):
            return False
        name, count = ring.get("name"), ring.get("devices")
        if type(name) is not str or name in names or type(count) is not int or count < devices:
            return False
        names.add(name)
        devices = count
        schedule = ring.get("schedule")
        if schedule is not None and (
            type(schedule) is not dict
            or (
                ("start" in schedule or "deadline" in schedule)
                and not _surely_after(schedule.get("deadline"), schedule.get("start"))
            )
        ):
            return False
    change = intent.get("change")
    window = change.get("window") if type(change) is dict else None
    if window is not None and (
        type(window) is not dict or not _surely_after(window.get("end"), window.get("start"))
    ):
        return False
    app, rollback = intent.get("app"), intent.get("rollback")
    version = app.get("version") if type(app) is dict else None
    previous = rollback.get("previousVersion") if type(rollback) is dict else None
    if not isinstance(version, str) or not isinstance(previous, str):
        return True  # check_versions compares two texts only
    return (
        _DOTTED.fullmatch(version) is not None
        and _DOTTED.fullmatch(previous) is not None
        and (
            int(version.partition(".")[0]) != int(previous.partition(".")[0])
            or _release(version) != _release(previous)
        )
    )


_PLANE_ONLY: Mapping[str, frozenset[str]] = {
    check_intune_settings.__name__: frozenset({"intune"}),
    check_jamf_settings.__name__: frozenset({"jamf"}),
    check_sccm_settings.__name__: frozenset({"sccm"}),
    check_landscape_settings.__name__: frozenset({"landscape"}),
    check_ansible_settings.__name__: frozenset({"ansible"}),
    # a console setting of a plane in NOT_IN_API, or Configuration Manager's requirement rules
    check_settings_not_in_api.__name__: frozenset({"sccm", *(key[0] for key in NOT_IN_API)}),
}
"""Intent checks that can find something only in an intent of these planes (by the check's name).

Each returns at once, or walks the rings and finds nothing, for any other plane; the fast path
does not call them there (about 5 µs an intent, most of it the rings walked for a console setting
only Configuration Manager has). The reference path runs every check.
"""

_SECTION_ONLY = frozenset(
    check.__name__
    for check in (
        check_jamf_settings,
        check_landscape_settings,
        check_ansible_settings,
        check_settings_not_in_api,
    )
)
"""Plane checks that look only inside the plane's own section (``jamf:``, in the intent or a ring).

Without that section anywhere they find nothing, and the fast path does not call them (the
Intune and Configuration Manager checks look at ``package`` too, so they always run).
"""


def _without_section(intent: Mapping[str, Any], plane: str) -> bool:
    """Tell that neither the intent nor any of its rings has the plane's own section."""
    rings = intent.get("rings")
    if plane in intent or type(rings) is not list:
        return False
    return all(type(ring) is dict and plane not in ring for ring in rings)


_SECTIONLESS_PART: Mapping[str, semantics.Check] = {
    check_intune_settings.__name__: check_intune_package,
}
"""Plane checks that, without the plane's section anywhere, find only what a part of them finds.

The Intune check walks the rings and the ``intune:`` settings for a few µs; without any of them
it can find only what is wrong with a Win32 app's package, and the fast path runs that part.
"""


@lru_cache(maxsize=64)
def _fast_checks(
    kind: DocumentKind,
    folded: frozenset[str],
    prechecked: bool = False,
    plane: str | None = None,
    sectionless: bool = False,
) -> tuple[semantics.Check, ...]:
    """The semantic checks the fast path runs: those neither its schema nor the pre-check decide.

    With ``plane`` (the intent's plane, when it is text), the checks of other planes are left out,
    and with ``sectionless`` (no section of that plane anywhere) those of :data:`_SECTION_ONLY`,
    and those of :data:`_SECTIONLESS_PART` give way to their part.
    """
    skipped = folded | _PRECHECKED if prechecked else folded
    parts: Mapping[str, semantics.Check] = {}
    if plane is not None and sectionless:
        skipped |= _SECTION_ONLY
        parts = _SECTIONLESS_PART
    return tuple(
        parts.get(check.__name__, check)
        for check in CHECKS[kind]
        if check.__name__ not in skipped
        and (plane is None or plane in _PLANE_ONLY.get(check.__name__, (plane,)))
    )


def _checks_left(
    kind: DocumentKind, folded: frozenset[str], data: Mapping[str, Any]
) -> tuple[semantics.Check, ...]:
    """The checks the fast path runs on a document valid for its fast schema."""
    if kind is not _INTENT:
        return _fast_checks(kind, folded)
    plane = data.get("plane")
    if type(plane) is not str:
        plane = None
    return _fast_checks(
        kind,
        folded,
        _intent_surely_clean(data),
        plane,
        plane is not None and _without_section(data, plane),
    )


def compile_document_schema(kind: DocumentKind, schema: Mapping[str, Any]) -> CompiledSchema:
    """Compile a kind's schema with the semantic checks its fast validator can decide."""
    return compile_schema(schema, FOLDED.get(kind))


def guess_kind(path: str) -> DocumentKind:
    """Guess a file's kind from its path when its content does not say."""
    name = path.replace("\\", "/").rsplit("/", 1)[-1]
    if name in CONFIG_NAMES:
        return DocumentKind.CONFIG
    folders = f"/{path.replace(chr(92), '/')}"
    if "/policies/" in folders:
        return DocumentKind.POLICY
    if "/waivers/" in folders:
        return DocumentKind.WAIVERS
    return DocumentKind.INTENT


class ValidatedDocument:
    """One validated file: its text, data (``None`` when it could not be loaded) and findings.

    The source map is built only when somebody needs a line (a later finding on a clean file).
    A clean ASCII file keeps its bytes (``ascii_raw``) and decodes its text on first use: the
    fast path's text is then freed at once instead of kept beside the bytes.
    """

    __slots__ = ("_ascii_raw", "_source_map", "_text", "data", "findings", "kind", "path")

    def __init__(  # noqa: PLR0913 - one keyword per attribute
        self,
        *,
        path: str,
        kind: DocumentKind,
        text: str | None,
        data: Any,
        findings: tuple[Finding, ...],
        source_map: SourceMap | None = None,
        ascii_raw: bytes | None = None,
    ) -> None:
        self.path = path
        self.kind = kind
        self._text = text
        self._ascii_raw = ascii_raw
        self.data = data
        self.findings = findings
        self._source_map = source_map

    @property
    def text(self) -> str | None:
        """The file's text (``None`` when it could not be decoded)."""
        if self._text is None and self._ascii_raw is not None:
            self._text = self._ascii_raw.decode("ascii")
        return self._text

    @property
    def ok(self) -> bool:
        """Tell whether the file loaded and has no error finding."""
        return self.data is not None and not any(
            f.severity is Severity.ERROR for f in self.findings
        )

    def source_map(self) -> SourceMap:
        """Return where each key and value was written, loading positions on first use."""
        if self._source_map is None:
            self._source_map = positions(self.text) if self.text is not None else SourceMap()
        return self._source_map

    def positions_of(self, pointers: Iterable[str]) -> dict[str, tuple[int, int]]:
        """Return where a few pointers were written, as :meth:`source_map` would say.

        Without a source map yet (a fast-path file), a partial pass finds just these pointers
        instead of mapping the whole file: the check needs the lines of a few field diffs.
        """
        wanted = list(pointers)
        if self._source_map is None and self.text is not None:
            found = locate(self.text, wanted)
            if found is not None:
                return found
        source_map = self.source_map()
        return {pointer: source_map.position(pointer) for pointer in wanted}

    def locate(self, raw: RawFinding) -> Finding:
        """Turn a finding about a JSON pointer of this document into one at a line."""
        return raw.locate(self.path, self.source_map())


_DIVERGENT_MARKS = ("&", "*", "!", "<<")
_SEPARATORS = " \t\n\r[{,"
# A plain number with a leading zero: a 0 after a separator (or after a sign that follows one),
# followed by a digit, "_" or a base letter.
_LEADING_ZERO = re.compile(r"0(?:(?<=[ \t\[{,]0)|(?<=[ \t\[{,][-+]0))[0-9_bBxXoO]")
_PLAIN_TOKEN = re.compile(r"[^ \t\r\n,\]}#]*")
_DIVERGENT_NUMBER = re.compile(
    r"[-+]?(?:0[0-9_]+|0[bB][01_]*|0[xX][0-9a-fA-F_]*|0[oO][0-7_]*|[0-9_.]*_[0-9_.]*)"
    r"|[-+]0[xXoO].*"
)
_LONG_DIGITS = re.compile(f"[0-9]{{{MAX_INTEGER_DIGITS + 1}}}")
# ASCII text is searched as bytes after one translation (a regex over the text costs several times
# more): the characters YAML forbids (C0 controls but tab, line feed and carriage return; DEL) and
# the marks of anchors, aliases and tags and "<" (of a merge key "<<") become NUL, the separators
# before a plain scalar a space and a sign "-", so that one scan finds any mark (a "<" is then
# looked at again) and one more (:data:`_ZERO_THEN`) any leading-zero number.
_ASCII_TABLE = bytes(
    0
    if (b < 0x20 and b not in (0x09, 0x0A, 0x0D)) or b == 0x7F or b in b"&*!<"
    else 0x20
    if b in b" \t[{,"
    else 0x2D
    if b == 0x2B
    else b
    for b in range(256)
)
# A zero after a separator (or a sign after one) and before a digit, "_" or a base letter, in the
# translated bytes: one pass that stops at each "0" (two searches for " 0" and " -0", which stop
# at every space of the indentation, cost about 2 µs more an intent).
_ZERO_THEN = re.compile(rb"0[0-9_bBxXoO](?:(?<= 0.)|(?<= -0.))")
# Outside ASCII: what YAML forbids, and what YAML 1.1 (PyYAML) reads as a line break while YAML 1.2
# (yaml-rs) does not (NEL U+0085, U+2028, U+2029), plus a byte-order mark inside the text.
_NON_ASCII_DIVERGENT = re.compile(
    "[^\x09\x0a\x0d\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd"
    "\U00010000-\U0010ffff]"
)


def _plain_number_at(text: str, index: int) -> bool:
    """Tell whether the plain token around ``index`` is a number yaml-rs reads differently."""
    start = index
    while start > 0 and text[start - 1] not in _SEPARATORS:
        start -= 1
    token = _PLAIN_TOKEN.match(text, start)
    return token is not None and _DIVERGENT_NUMBER.fullmatch(token.group()) is not None


def _ascii_leading_zero_number(text: str, marked: bytes) -> bool:
    """:data:`_LEADING_ZERO` and :func:`_plain_number_at` on the translated bytes of ASCII text."""
    if _ZERO_THEN.search(marked) is None:  # the usual answer, without an iterator and a generator
        return False
    return any(_plain_number_at(text, m.start()) for m in _ZERO_THEN.finditer(marked))


def _text_may_diverge(text: str, ascii_bytes: bytes | None = None) -> bool:
    """Tell whether yaml-rs might build other data from this text than the reference loader.

    ``ascii_bytes``, when given, are the text's bytes and all ASCII (saves encoding it again).

    Anything the two YAML parsers might read differently sends the file down the reference path:
    anchors, aliases, tags and merge keys; plain numbers that yaml-rs reads as numbers while the
    reference keeps them as text (underscores, 0b/0X/0O prefixes, signed hex) or warns about (a
    leading zero); and the characters YAML forbids (PyYAML refuses them, yaml-rs may not). Floats
    and text that YAML 1.1 would misread (``NO``, ``18:00``) are refused by the fast schema
    instead (see :func:`bot.core.schema.compile_schema`).
    """
    if ascii_bytes is not None or text.isascii():
        marked = (ascii_bytes or text.encode("ascii")).translate(_ASCII_TABLE)
        if b"\0" in marked and (
            "<<" in text or marked.count(0) != text.count("<")
        ):  # a merge key, or a mark or forbidden character besides "<"
            return True
        if _ascii_leading_zero_number(text, marked):
            return True
    elif (
        any(mark in text for mark in _DIVERGENT_MARKS)
        or _NON_ASCII_DIVERGENT.search(text)
        or any(_plain_number_at(text, m.start()) for m in _LEADING_ZERO.finditer(text))
    ):
        return True
    if len(text) > MAX_INTEGER_DIGITS and _LONG_DIGITS.search(text):
        return True  # yaml-rs reads any length; the reference refuses one Python can't print
    if "_" in text:
        found = text.find("_")
        while found != -1:
            if _plain_number_at(text, found):
                return True
            found = text.find("_", found + 1)
    return False


@dataclass(frozen=True, slots=True)
class DocumentValidator:
    """Validates files of every kind with schemas compiled once."""

    schemas: Mapping[DocumentKind, CompiledSchema]
    limits: Limits = DEFAULT_LIMITS
    fast_path: bool = True

    def validate(
        self, raw: bytes, path: str, kind: DocumentKind | None = None
    ) -> ValidatedDocument:
        """Validate one file's bytes; ``kind`` ``None`` means: as its ``kind:`` field says."""
        text, findings = decode_source(raw, path, self.limits)
        if text is None:
            return ValidatedDocument(
                path=path, kind=kind or guess_kind(path), text=None, data=None, findings=findings
            )
        if self.fast_path:
            clean = self._fast(text, raw if raw.isascii() else None, path, kind)
            if clean is not None:
                return clean
        return self._reference(text, path, kind)

    def _fast(
        self, text: str, ascii_raw: bytes | None, path: str, kind: DocumentKind | None
    ) -> ValidatedDocument | None:
        if _text_may_diverge(text, ascii_raw):
            return None
        try:
            data = yaml_rs.loads(
                text,
                parse_datetime=False,
                duplicate_key_policy=_REFUSE_DUPLICATE_KEYS,
            )
        except Exception:  # noqa: BLE001 - any doubt goes down the reference path
            return None
        if not isinstance(data, dict):
            return None
        kind = _kind_of(data, path, kind)
        schema = self.schemas[kind]
        try:
            if not schema.is_valid(data):
                return None
        except ValueError:  # jsonschema-rs refuses keys that are not text
            return None
        for check in _checks_left(kind, schema.folded, data):
            for _ in check(data):
                return None
        return ValidatedDocument(  # an ASCII file's text is decoded again if somebody reads it
            path=path,
            kind=kind,
            text=text if ascii_raw is None else None,
            data=data,
            findings=(),
            ascii_raw=ascii_raw,
        )

    def _reference(self, text: str, path: str, kind: DocumentKind | None) -> ValidatedDocument:
        loaded = load_yaml(text, path, self.limits)
        findings = list(loaded.findings)
        data = loaded.data
        if not isinstance(data, dict) and (data is not None or not findings):
            findings.append(
                Finding(
                    path=path,
                    line=1,
                    column=1,
                    code="yaml.not-a-mapping",
                    severity=Severity.ERROR,
                    message="the file must hold a mapping of keys to values, "
                    f"not a {_type_name(data)}",
                )
            )
            data = None
        resolved_kind = _kind_of(data, path, kind) if data is not None else kind or guess_kind(path)
        if data is not None:
            raw = [
                _as_written(r, loaded.source_map)
                for r in self.schemas[resolved_kind].raw_findings(data)
            ]
            # A type error about 0777 says all its warning would (and "write 777" is wrong there).
            written = loaded.source_map.written
            retyped = {r.pointer for r in raw if r.code == "schema.type" and r.pointer in written}
            if retyped:
                paths = {pointer_to_json_path(p) for p in retyped}
                findings = [f for f in findings if f.code != AMBIGUOUS or f.json_path not in paths]
            for check in CHECKS[resolved_kind]:
                raw.extend(check(data))
            findings.extend(r.locate(path, loaded.source_map) for r in raw)
        return ValidatedDocument(
            path=path,
            kind=resolved_kind,
            text=text,
            data=data,
            findings=sort_findings(findings),
            source_map=loaded.source_map,
        )


def _as_written(raw: RawFinding, source_map: SourceMap) -> RawFinding:
    """Say a type error about ``version: 0777`` with the text written, not only the number read.

    YAML 1.2 (and every editor) reads ``0777`` as the integer 777; the advice to quote it must
    quote what was written, or the fix would change the value.
    """
    written = source_map.written.get(raw.pointer)
    number = str(int(written)) if written is not None else ""
    lead = f"{number} is a number, but text is expected here: quote it: "
    if written is None or raw.code != "schema.type" or not raw.message.startswith(lead):
        return raw
    return replace(
        raw,
        message=f"{written} is the number {number} in YAML 1.2 (as editors read it), but text is "
        f'expected here: quote it: "{written}"',
    )


def _kind_of(data: Mapping[str, Any], path: str, kind: DocumentKind | None) -> DocumentKind:
    if kind is not None:
        return kind
    named = data.get("kind")
    return (KIND_NAMES.get(named) if isinstance(named, str) else None) or guess_kind(path)


def _type_name(value: object) -> str:
    if value is None:
        return "null document"
    if isinstance(value, list):
        return "list"
    if isinstance(value, str):
        return "text"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__
