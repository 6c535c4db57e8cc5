"""Validating whole files: the example repository, the broken examples, and the fast path."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot import resources
from bot.catalog import build_document_validator, compiled_schemas
from bot.core import semantics
from bot.core.documents import (
    _ASCII_TABLE,
    _PLANE_ONLY,
    _PRECHECKED,
    _SECTION_ONLY,
    FOLDED,
    SCHEMA_FILES,
    DocumentKind,
    DocumentValidator,
    _ascii_leading_zero_number,
    _fast_checks,
    _intent_surely_clean,
    _plain_number_at,
    _surely_after,
    _text_may_diverge,
    _without_section,
    guess_kind,
)
from bot.core.findings import Severity
from bot.core.plane_settings import (
    check_intune_package,
    check_intune_settings,
    check_plane_sections,
)
from bot.core.schema import _WHOLE_NUMBERS, WHOLE_NUMBER, _fast_variant, _never_yaml11
from tests.conftest import EXAMPLES
from tests.support.corpus import generate_intent_text

BROKEN = EXAMPLES / "broken"
EXPECTED = yaml.safe_load((BROKEN / "expected.yaml").read_text(encoding="utf-8"))["files"]
EXAMPLE_FILES = sorted((EXAMPLES / "intents-repo").rglob("*.yaml"))


def kind_of(path: Path) -> DocumentKind | None:
    """The kind a repository location gives a file; ``None``: as its ``kind:`` says."""
    if path.name == "eucora.yaml":
        return DocumentKind.CONFIG
    if path.parent.name == "policies":
        return DocumentKind.POLICY
    return DocumentKind.INTENT if "intents" in path.parts[-4:-1] else None


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.name)
def test_example_repository_files_are_clean(
    path: Path, validator: DocumentValidator, reference_validator: DocumentValidator
) -> None:
    """Every file of the example repository validates without findings, on both paths."""
    raw = path.read_bytes()
    for v in (validator, reference_validator):
        doc = v.validate(raw, str(path), kind_of(path))
        assert doc.findings == ()
        assert doc.ok


def test_example_repository_covers_every_plane(validator: DocumentValidator) -> None:
    """The example repository has intents for all five planes and all three platforms."""
    intents = [
        validator.validate(p.read_bytes(), str(p), DocumentKind.INTENT).data
        for p in EXAMPLE_FILES
        if p.parent.parent.name == "intents"
    ]
    assert all(i is not None for i in intents)
    assert len(intents) >= 6
    assert {i["plane"] for i in intents} == {"intune", "jamf", "sccm", "landscape", "ansible"}
    assert {i["platform"] for i in intents} == {"windows", "macos", "linux"}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_broken_example_yields_its_findings(
    name: str, validator: DocumentValidator, reference_validator: DocumentValidator
) -> None:
    """A broken example gives exactly the findings listed in expected.yaml, at the right lines."""
    raw = (BROKEN / name).read_bytes()
    expected = {(e["code"], e["line"], e["severity"]) for e in EXPECTED[name]}
    for v in (validator, reference_validator):
        doc = v.validate(raw, name, DocumentKind.INTENT)
        got = {(f.code, f.line, f.severity.value) for f in doc.findings}
        assert got == expected, [f"{f.line}: {f.code} {f.message}" for f in doc.findings]


def test_every_broken_example_is_listed() -> None:
    """No broken example is left without its expected findings."""
    assert {p.name for p in BROKEN.glob("*.yaml")} - {"expected.yaml"} == set(EXPECTED)


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("eucora.yaml", DocumentKind.CONFIG),
        ("repo/policies/x.yaml", DocumentKind.POLICY),
        ("repo/intents/a.yaml", DocumentKind.INTENT),
        ("a.yaml", DocumentKind.INTENT),
    ],
)
def test_guess_kind(path: str, kind: DocumentKind) -> None:
    assert guess_kind(path) is kind


def test_kind_field_decides_for_a_file_given_alone(validator: DocumentValidator) -> None:
    """A file given without a kind is validated as its ``kind:`` says."""
    config = (EXAMPLES / "intents-repo" / "eucora.yaml").read_bytes()
    doc = validator.validate(config, "somewhere/renamed.yaml")
    assert doc.kind is DocumentKind.CONFIG
    assert doc.findings == ()


def test_not_a_mapping_is_one_finding(validator: DocumentValidator) -> None:
    doc = validator.validate(b"- a\n- b\n", "list.yaml")
    assert [(f.code, f.line) for f in doc.findings] == [("yaml.not-a-mapping", 1)]
    assert doc.data is None


def test_late_findings_on_a_clean_file_get_lines(validator: DocumentValidator) -> None:
    """A file that took the fast path still locates later findings (positions built lazily)."""
    from bot.core.schema import RawFinding

    doc = validator.validate(generate_intent_text(1).encode(), "g.yaml", DocumentKind.INTENT)
    assert doc.findings == ()
    finding = doc.locate(RawFinding("/package/sha256", "x.test", "a later finding"))
    assert (
        finding.line
        == generate_intent_text(1)
        .splitlines()
        .index(next(line for line in generate_intent_text(1).splitlines() if "sha256:" in line))
        + 1
    )


def same_result(a: object, b: object) -> None:
    assert a.findings == b.findings  # type: ignore[attr-defined]
    assert repr(a.data) == repr(b.data)  # type: ignore[attr-defined]  # repr: nan == nan


@pytest.mark.parametrize("index", range(30))
def test_fast_path_agrees_with_reference_on_generated_intents(
    index: int, validator: DocumentValidator, reference_validator: DocumentValidator
) -> None:
    raw = generate_intent_text(index).encode()
    same_result(validator.validate(raw, "g.yaml"), reference_validator.validate(raw, "g.yaml"))


def test_fast_path_agrees_with_reference_on_the_corpus(
    validator: DocumentValidator, reference_validator: DocumentValidator
) -> None:
    """Valid and broken files alike: same findings and data whichever path ran."""
    files = [*EXAMPLE_FILES, *sorted(BROKEN.glob("*.yaml"))]
    for path in files:
        raw = path.read_bytes()
        kind = kind_of(path) if "intents-repo" in path.parts else DocumentKind.INTENT
        same_result(
            validator.validate(raw, path.name, kind),
            reference_validator.validate(raw, path.name, kind),
        )


# Values a careless edit might put anywhere: YAML 1.1 look-alikes, odd numbers, odd text.
SCALARS = st.one_of(
    st.sampled_from(
        [
            "yes",
            "NO",
            "on",
            "Off",
            "y",
            "n",
            "0777",
            "0o17",
            "0x1F",
            "0X1F",
            "+0x1",
            "-0o7",
            "0b101",
            "1_000",
            "18:00",
            "1:20",
            "40.0",
            "4e1",
            ".inf",
            ".NaN",
            "~",
            "null",
            "true",
            "'yes'",
            '"0777"',
            "''",
            "-1",
            "+5",
            "00",
            "0",
            "2026-01-01",
            "2026-01-01T08:00:00Z",
            "&a x",
            "*a",
            "!!str 5",
            "[1, 2]",
            "{a: 1}",
            "|\n  text",
            "é",
            '"\\x07"',
            "124.0.6367.91",
            "23.01",
            "'23.01'",
            "x: y",
            "- 1",
        ]
    ),
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12),
    st.from_regex(r"[-+]?[0-9_.:eExXoObB]{1,6}", fullmatch=True),
)

LINES = generate_intent_text(4).splitlines(keepends=True)
VALUE_LINES = [
    i for i, line in enumerate(LINES) if ": " in line and not line.rstrip().endswith(":")
]


# Module-level validators: Hypothesis prints its arguments, and fixtures would make that huge.
FAST = build_document_validator()
REFERENCE = build_document_validator(fast_path=False)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(line=st.sampled_from(VALUE_LINES), value=SCALARS)
def test_any_value_mutation_gives_the_same_findings_on_both_paths(line: int, value: str) -> None:
    """Replacing any value of a valid intent by anything: findings or success, never an exception,
    and the fast path never disagrees with the reference."""
    lines = list(LINES)
    key = lines[line].split(": ", 1)[0]
    lines[line] = f"{key}: {value}\n"
    raw = "".join(lines).encode("utf-8", "surrogatepass")
    fast = FAST.validate(raw, "m.yaml", DocumentKind.INTENT)
    reference = REFERENCE.validate(raw, "m.yaml", DocumentKind.INTENT)
    same_result(fast, reference)
    for finding in reference.findings:
        assert finding.line >= 1
        assert finding.column >= 1


@given(raw=st.binary(max_size=400))
def test_any_bytes_give_findings_or_success(raw: bytes) -> None:
    doc = FAST.validate(raw, "b.yaml")
    assert doc.ok or doc.findings
    assert all(f.severity in set(Severity) for f in doc.findings)


@given(
    data=st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=8),
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
        ),
        max_leaves=20,
    )
)
def test_any_yaml_document_gives_findings_or_success(data: object) -> None:
    """Any YAML document (dumped by PyYAML from random data) validates without an exception."""
    raw = yaml.safe_dump(data, allow_unicode=True).encode()
    fast = FAST.validate(raw, "d.yaml", DocumentKind.INTENT)
    same_result(fast, REFERENCE.validate(raw, "d.yaml", DocumentKind.INTENT))
    assert fast.ok or fast.findings


def test_positions_of_a_few_pointers_agree_with_the_source_map() -> None:
    """Field-diff lines: a partial pass on fast-path files, the loaded map on reference files."""
    from bot.core.documents import ValidatedDocument

    validator = build_document_validator()
    text = generate_intent_text(5)
    fast = validator.validate(text.encode(), "a.yaml", DocumentKind.INTENT)
    wanted = ["/metadata/labels/tier", "/rings/1/gate/soak", "/change/ticket", "/nope"]
    expected = {p: fast.source_map().position(p) for p in wanted}
    fresh = validator.validate(text.encode(), "a.yaml", DocumentKind.INTENT)
    assert fresh.positions_of(wanted) == expected
    reference = DocumentValidator(schemas=validator.schemas, fast_path=False)
    assert reference.validate(text.encode(), "a.yaml").positions_of(wanted) == expected
    broken = ValidatedDocument(
        path="b.yaml", kind=DocumentKind.INTENT, text="a: 1\nb: [1\n", data={}, findings=()
    )
    assert broken.positions_of(["/b"]) == {"/b": broken.source_map().position("/b")}


@pytest.mark.parametrize(
    ("text", "diverges"),
    [
        ("a: 0777\n", True),
        ("a:\t0777\n", True),
        ("a: [1, 0o7]\n", True),
        ("a: {b: -0x1F}\n", True),
        ("a: [x,+0b1]\n", True),
        ("a: 1_000\n", True),
        ("a: &x 1\n", True),
        ("a: !t 1\n", True),
        ("<<: {}\n", True),
        ("a: 'x\x07'\n", True),
        ("a: 0\nb: 10\nc: '2027-01-01T08:00:00+01:00'\n", False),
        ("a: -0\nb: x-0777\n", False),
        ("a: é 0777\n", True),
        ("a: é\x85\n", True),
        ("a: é 0\n", False),
        ("a: x < y\nb: -0x1\n", True),
        ("a: +0o7\n", True),
        ("a: x < y\n", False),
        ("a: x <\x07\n", True),
        ("a: x <& y\n", True),
        ("a: '<<'\n", True),
    ],
)
def test_the_text_guard_sees_what_yaml_rs_reads_otherwise(text: str, diverges: bool) -> None:
    assert _text_may_diverge(text) is diverges


def _leading_zero_by_two_searches(text: str) -> bool:
    """The leading-zero guard as it was: a search for each of " 0" and " -0" (the oracle)."""
    marked = text.encode().translate(_ASCII_TABLE)
    for needle in (b" 0", b" -0"):
        found = marked.find(needle)
        while found != -1:
            zero = found + len(needle) - 1
            after = marked[zero + 1 : zero + 2]
            if after and after in b"0123456789_bBxXoO" and _plain_number_at(text, zero):
                return True
            found = marked.find(needle, zero)
    return False


_ZERO_PIECES = [" ", "\t", "\n", ",", "[", "{", ":", "-", "+", "0", "07", "0x1", "0o7", "0b1"]
_ZERO_PIECES += ["_", "1", "x", ".", "#", "'", "a"]


@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(_ZERO_PIECES), max_size=12).map("".join))
def test_the_leading_zero_guard_finds_what_two_searches_find(text: str) -> None:
    """One pass over the translated bytes stops where the two searches did, and decides alike."""
    marked = text.encode().translate(_ASCII_TABLE)
    assert _ascii_leading_zero_number(text, marked) is _leading_zero_by_two_searches(text)


def _generated_with(edit: dict[str, str]) -> str:
    text = generate_intent_text(3)  # windows, sccm, msi
    for old, new in edit.items():
        assert old in text
        text = text.replace(old, new, 1)
    return text


FOLDED_CASES = {
    "check_plane_platform": {"plane: sccm": "plane: jamf"},
    "check_package_platform": {"  type: msi": "  type: pkg"},
    "check_soak_durations": {"soak: P1D": "soak: PT"},
    "check_ring_targets": {
        "plane: sccm": "plane: ansible",
        "platform: windows": "platform: linux",
        "target: PS10001E": "target: 'pilot,all'",
    },
}


@pytest.mark.parametrize("name", sorted(FOLDED_CASES))
def test_a_check_folded_into_the_fast_schema_still_finds_through_the_reference(name: str) -> None:
    assert name in compiled_schemas()[DocumentKind.INTENT].folded
    raw = _generated_with(FOLDED_CASES[name]).encode()
    reference = build_document_validator(fast_path=False).validate(raw, "x.yaml")
    check = getattr(semantics, name)
    assert list(check(reference.data)), "the case must be one the check finds"
    assert not compiled_schemas()[DocumentKind.INTENT].is_valid(reference.data)
    fast = build_document_validator().validate(raw, "x.yaml")
    assert fast.findings == reference.findings


_PLANES = [*sorted(semantics.PLANE_PLATFORMS), "bigfix", 3, None]
_PLATFORMS = ["windows", "macos", "linux", "bsd", "Windows", 1, None]
_PACKAGES = [{"type": t} for t in [*sorted(semantics.PACKAGE_PLATFORMS), "zip", 5]] + [{}, "msi"]


@pytest.mark.parametrize("name", ["check_plane_platform", "check_package_platform"])
def test_a_platform_fold_refuses_exactly_what_its_check_finds(name: str) -> None:
    """Every plane, platform and package type (and values no schema allows): the folded schema
    refuses an intent exactly when the check finds something in it."""
    check = getattr(semantics, name)
    fold = jsonschema_rs.validator_for(FOLDED[DocumentKind.INTENT][name])
    refused = 0
    for plane in _PLANES:
        for platform in _PLATFORMS:
            for package in _PACKAGES:
                intent = {"plane": plane, "platform": platform, "package": package}
                intent = {key: value for key, value in intent.items() if value is not None}
                found = bool(list(check(intent)))
                assert fold.is_valid(intent) is not found, intent
                refused += found
    assert refused > 10


_YAML11_TEXTS = ["y", "Yes", "NO", "on", "OFF", "1:30", "-1:30:59.5", "190:20:30", "+0_1:05"]


def _string_schemas(node: object) -> Iterator[dict[str, Any]]:
    """Every schema of a string that stands alone (no reference inside it)."""
    if isinstance(node, list):
        for item in node:
            yield from _string_schemas(item)
    elif isinstance(node, dict):
        types = node.get("type")
        if "string" in (types if isinstance(types, list) else [types]) and "$ref" not in str(node):
            yield node
        for value in node.values():
            yield from _string_schemas(value)


@pytest.mark.parametrize("kind", sorted(DocumentKind))
def test_no_string_schema_of_the_fast_variant_takes_yaml_1_1_look_alikes(
    kind: DocumentKind,
) -> None:
    """Whether it refuses them itself or lists its values (or has a format) that rule them out,
    no string schema of the fast variant accepts text a YAML 1.1 tool reads otherwise."""
    schemas = list(_string_schemas(resources.load_schema(SCHEMA_FILES[kind])))
    assert schemas
    for node in schemas:
        fast = jsonschema_rs.validator_for(
            _fast_variant(node), validate_formats=True, registry=_WHOLE_NUMBERS
        )
        assert not [text for text in _YAML11_TEXTS if fast.is_valid(text)], node


def test_listed_values_and_timestamps_need_no_yaml_1_1_refusal() -> None:
    assert _never_yaml11({"type": "string", "enum": ["windows", "macos"]})
    assert _never_yaml11({"type": "string", "const": "DeploymentIntent"})
    assert _never_yaml11({"type": "string", "format": "date-time"})
    assert not _never_yaml11({"type": "string", "enum": ["auto", "on"]})
    assert not _never_yaml11({"type": "string", "enum": ["1:30"]})
    assert _never_yaml11({"type": "string", "format": "uri"})
    assert not _never_yaml11({"type": "string", "format": "uri-reference"})
    assert not _never_yaml11({"type": "string", "pattern": "^[a-z]+$"})
    assert "not" not in _fast_variant({"type": "string", "enum": ["a", "b"]})
    assert "not" in _fast_variant({"type": "string", "enum": ["a", "no"]})


PRECHECKED_CASES = {
    "check_ring_names": {"  - name: pilot": "  - name: lab"},
    "check_ring_sizes": {"devices: 240": "devices: 29"},
    "check_schedules": {
        "deadline: '2027-02-12T17:00:00+01:00'": "deadline: '2027-02-02T09:00:00+01:00'"
    },
    "check_change_window": {"end: '2027-01-04T18:00:00Z'": "end: '2027-01-04T08:00:00Z'"},
    "check_versions": {"previousVersion: '60.9.0.0'": "previousVersion: '61.9.8916.33.0'"},
    "check_plane_sections": {
        "    gate:\n      minSuccessPercent: 91": "    jamf: {}\n    gate:\n      minSuccessPercent: 91"
    },
}


@pytest.mark.parametrize("name", sorted(PRECHECKED_CASES))
def test_a_prechecked_check_still_finds_on_a_schema_valid_intent(name: str) -> None:
    """The fused pre-check of the fast path never hides what one of its checks finds.

    Each case is valid for the fast schema, so only the pre-check stands between it and "clean".
    """
    assert name in _PRECHECKED
    raw = _generated_with(PRECHECKED_CASES[name]).encode()
    reference = build_document_validator(fast_path=False).validate(raw, "x.yaml")
    check = check_plane_sections if name == "check_plane_sections" else getattr(semantics, name)
    assert [f.code for f in check(reference.data)], "the case must be one the check finds"
    assert compiled_schemas()[DocumentKind.INTENT].is_valid(reference.data)
    assert not _intent_surely_clean(reference.data)
    fast = build_document_validator().validate(raw, "x.yaml")
    assert fast.findings == reference.findings
    assert any(f.json_path is not None for f in fast.findings)


def test_the_pre_check_passes_generated_intents() -> None:
    """The fast path's shortcut is taken on valid intents, so the benchmark measures it."""
    validator = build_document_validator(fast_path=False)
    for index in range(12):
        data = validator.validate(generate_intent_text(index).encode(), "g.yaml").data
        assert _intent_surely_clean(data), index


@pytest.mark.parametrize(("devices", "valid"), [(240, True), (240.0, False), (240.5, False)])
def test_the_fast_schema_refuses_a_float_where_a_whole_number_goes(
    devices: object, valid: bool
) -> None:
    """JSON Schema counts 240.0 as an integer; the reference reads ``240.0`` as a finding."""
    data = build_document_validator().validate(generate_intent_text(3).encode(), "g.yaml").data
    data["rings"][1]["devices"] = devices
    assert compiled_schemas()[DocumentKind.INTENT].is_valid(data) is valid


_WHOLE_NUMBER_PLACES = {
    "devices": ("rings", 1, "devices"),
    "sizeBytes": ("package", "sizeBytes"),
    "vulnerabilities": ("evidence", "vulnerabilities", "high"),
}


@pytest.mark.parametrize("place", sorted(_WHOLE_NUMBER_PLACES))
@pytest.mark.parametrize(
    "value",
    [7, 2**63, 10**30, 0.0, -0.0, 7.0, 7.5, 1e300, float("inf"), float("nan"), True, "7"],
    ids=repr,
)
def test_the_fast_schema_takes_a_whole_number_and_nothing_else(place: str, value: object) -> None:
    """Wherever the type is integer, only an int is valid for the fast schema: never a float,
    whatever its value (the reference says ``yaml.float`` about each), nor a boolean or text."""
    data = build_document_validator().validate(generate_intent_text(3).encode(), "g.yaml").data
    *parents, last = _WHOLE_NUMBER_PLACES[place]
    node = data
    for key in parents:
        node = node[key]
    node[last] = value
    valid = type(value) is int
    assert compiled_schemas()[DocumentKind.INTENT].is_valid(data) is valid


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        *[(3, True), (-(2**70), True), ("3.0", True), (None, True), (True, True), ([1.5], True)],
        *[({"a": 1.5}, True), (3.0, False), (-0.0, False), (3.5, False), (1e300, False)],
    ],
)
def test_the_whole_number_resource_refuses_floats_only(value: object, valid: bool) -> None:
    """The draft-04 resource the fast schema refers to where a number goes: it refuses a float
    (not what is inside a list or a mapping) and leaves everything else to the schema's type.

    (An infinite or NaN float has no JSON type in jsonschema-rs: the type refuses it wherever a
    number goes, see the test above.)"""
    refusal = jsonschema_rs.validator_for({"$ref": WHOLE_NUMBER}, registry=_WHOLE_NUMBERS)
    assert refusal.is_valid(value) is valid


def _every_plane_section(plane: str) -> dict[str, object]:
    """A generated intent through ``plane`` whose sections each give their plane's check work."""
    data = build_document_validator().validate(generate_intent_text(0).encode(), "g.yaml").data
    duplicated = [{"code": 0, "type": "success"}, {"code": 0, "type": "success"}]
    data["intune"] = {"returnCodes": duplicated}
    data["jamf"] = {"triggers": ["checkin"]}
    data["sccm"] = {
        "returnCodes": duplicated,
        "dependencies": [{"intent": "vc-redist"}],
        "requirements": {"rules": [{"type": "file", "path": "C:\\x", "check": "exists"}]},
    }
    data["landscape"] = {"source": "repository"}
    data["ansible"] = {"extraVars": {"eucora_ring": "pilot"}}
    for ring in data["rings"]:
        ring.update({section: {} for section in ("intune", "jamf", "sccm", "landscape")})
    return {**data, "plane": plane}


@pytest.mark.parametrize("name", sorted(_PLANE_ONLY))
@pytest.mark.parametrize("plane", sorted(semantics.PLANE_PLATFORMS))
def test_a_check_the_fast_path_leaves_out_on_other_planes_finds_only_on_its_own(
    name: str, plane: str
) -> None:
    """The fast path calls a plane's own checks only for its intents: on another plane each of
    them finds nothing, even with every plane's settings there to find something in."""
    check = next(c for c in semantics.INTENT_CHECKS if c.__name__ == name)
    found = [f.code for f in check(_every_plane_section(plane))]
    assert bool(found) is (plane in _PLANE_ONLY[name]), found
    checks = _fast_checks(DocumentKind.INTENT, frozenset(), prechecked=True, plane=plane)
    assert (check in checks) is (plane in _PLANE_ONLY[name])


def test_the_fast_path_runs_every_plane_check_when_the_plane_is_not_text() -> None:
    checks = _fast_checks(DocumentKind.INTENT, frozenset(), prechecked=True, plane=None)
    assert {c.__name__ for c in checks} >= set(_PLANE_ONLY)


_OFFSETS = st.integers(min_value=-(24 * 60 - 1), max_value=24 * 60 - 1).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
_TIMES = st.datetimes(  # hypothesis wants naive bounds; the times it draws carry an offset
    min_value=datetime(2026, 12, 20),  # noqa: DTZ001
    max_value=datetime(2027, 1, 10),  # noqa: DTZ001
    timezones=_OFFSETS,
)


@given(later=_TIMES, earlier=_TIMES)
def test_surely_after_says_after_only_when_it_is(later: datetime, earlier: datetime) -> None:
    """Days three apart decide without the offsets; closer ones are compared in full."""
    assert _surely_after(later.isoformat(), earlier.isoformat()) is (later > earlier)


@pytest.mark.parametrize(
    ("later", "earlier", "after"),
    [
        ("2027-01-04T00:00:00+23:59", "2027-01-01T23:59:59-23:59", True),  # three days apart
        ("2027-01-03T00:00:00+23:59", "2027-01-01T23:59:59-23:59", False),  # two: before in UTC
        ("2027-01-11T17:00:00+01:00", "2027-01-01T08:00:00Z", True),
        ("2027-01-11T17:00:00", "2027-01-01T08:00:00Z", False),  # no offset: not sure
    ],
)
def test_surely_after_at_the_edges(later: str, earlier: str, after: bool) -> None:
    assert _surely_after(later, earlier) is after


@pytest.mark.parametrize("name", sorted(_SECTION_ONLY))
def test_a_check_the_fast_path_leaves_out_without_its_section_finds_nothing_there(
    name: str,
) -> None:
    """Without its plane's section in the intent or a ring, such a check has nothing to look at."""
    check = next(c for c in semantics.INTENT_CHECKS if c.__name__ == name)
    for plane in sorted(_PLANE_ONLY[name]):
        data = _every_plane_section(plane)
        data["package"] = {**data["package"], "setupFile": "setup.exe", "architectures": ["x64"]}
        assert list(check(data)), "with its section the check finds something"
        del data[plane]
        for ring in data["rings"]:
            ring.pop(plane, None)
        assert _without_section(data, plane)
        assert not list(check(data))
        checks = _fast_checks(DocumentKind.INTENT, frozenset(), True, plane, sectionless=True)
        assert check not in checks


_WIN32_PACKAGES = [
    {"type": "exe", "setupFile": "setup.exe", "detection": {"type": "file", "path": "C:\\x"}},
    {"type": "exe", "uninstallCommand": "setup.exe /uninstall"},
    {"type": "win32", "setupFile": "Setup.MSI"},
    {"type": "msi", "detection": {"type": "bundleId", "bundleId": "com.example"}},
    {"type": "exe", "msi": {"productCode": "{0}"}},
]


@pytest.mark.parametrize("package", _WIN32_PACKAGES)
@pytest.mark.parametrize("platform", ["windows", "macos"])
def test_without_an_intune_section_the_intune_check_finds_what_its_package_part_finds(
    package: dict[str, object], platform: str
) -> None:
    """The fast path runs only the package part of the Intune check on an intent with no
    ``intune:`` section anywhere: the whole check finds the same there, in the same order."""
    data = _every_plane_section("intune")
    data["platform"] = platform
    data["package"] = {**data["package"], **package}
    with_section = list(check_intune_settings(data))
    del data["intune"]
    for ring in data["rings"]:
        ring.pop("intune")
    assert _without_section(data, "intune")
    whole = list(check_intune_settings(data))
    assert whole == list(check_intune_package(data))
    assert len(with_section) > len(whole)  # the settings give the whole check more to find
    checks = _fast_checks(DocumentKind.INTENT, frozenset(), True, "intune", sectionless=True)
    assert check_intune_package in checks
    assert check_intune_settings not in checks
    checks = _fast_checks(DocumentKind.INTENT, frozenset(), True, "intune", sectionless=False)
    assert check_intune_settings in checks
    assert check_intune_package not in checks


def test_a_windows_intune_package_part_finds_something() -> None:
    data = _every_plane_section("intune")
    data["package"] = {**data["package"], **_WIN32_PACKAGES[0]}
    assert [f.code for f in check_intune_package(data)] == ["intune.win32-uninstall"]
    data["package"] = {**data["package"], **_WIN32_PACKAGES[3]}
    assert [f.code for f in check_intune_package(data)] == ["intune.win32-detection"]


def test_a_section_in_one_ring_is_a_section() -> None:
    data = _every_plane_section("jamf")
    del data["jamf"]
    assert not _without_section(data, "jamf")
    for ring in data["rings"]:
        del ring["jamf"]
    assert _without_section(data, "jamf")
    data["rings"][-1]["jamf"] = {"excludeGroups": []}
    assert not _without_section(data, "jamf")
