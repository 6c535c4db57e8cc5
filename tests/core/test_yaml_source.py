"""The positional YAML loader: data, positions, refusals and YAML 1.1 surprises."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.findings import Severity
from bot.core.yaml_source import (
    Limits,
    decode_source,
    load_yaml,
    pointer_to_json_path,
    resolve_plain_scalar,
)


def codes(text: str, limits: Limits | None = None) -> list[tuple[int, int, str]]:
    doc = load_yaml(text, "f.yaml", limits or Limits())
    return [(f.line, f.column, f.code) for f in doc.findings]


def test_loads_nested_data_with_key_and_value_positions() -> None:
    doc = load_yaml("app:\n  name: x\nrings:\n  - name: a\n    devices: 3\n", "f.yaml")
    assert doc.data == {"app": {"name": "x"}, "rings": [{"name": "a", "devices": 3}]}
    assert doc.findings == ()
    assert doc.source_map.position("/app") == (1, 1)
    assert doc.source_map.position("/app/name") == (2, 9)
    assert doc.source_map.position("/rings/0") == (4, 5)
    assert doc.source_map.position("/rings/0/devices") == (5, 14)
    # An unknown pointer falls back to its nearest known ancestor.
    assert doc.source_map.position("/rings/0/missing") == (4, 5)
    assert doc.source_map.position("") == (1, 1)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1", 1),
        ("-0", 0),
        ("+12", 12),
        ("0x1F", 31),
        ("0o17", 15),
        ("true", True),
        ("FALSE", False),
        ("~", None),
        ("null", None),
        ("", None),
        ("tRue", "tRue"),
        ("2026-01-01", "2026-01-01"),
        ("2026-01-01T08:00:00Z", "2026-01-01T08:00:00Z"),
        ("124.0.6367.91", "124.0.6367.91"),
        ("1.5", 1.5),
    ],
)
def test_plain_scalars_resolve_by_yaml_1_2_core(text: str, value: object) -> None:
    resolved, ambiguity = resolve_plain_scalar(text)
    assert resolved == value
    assert type(resolved) is type(value)
    assert ambiguity is None


@pytest.mark.parametrize("text", ["NO", "yes", "on", "Off", "y", "0_7", "1_000", "18:00", "1:20"])
def test_yaml_1_1_look_alikes_stay_text_with_a_warning(text: str) -> None:
    doc = load_yaml(f"value: {text}\n", "f.yaml")
    assert doc.data == {"value": text}
    [finding] = doc.findings
    assert finding.code == "yaml.ambiguous"
    assert finding.severity is Severity.WARNING
    assert (finding.line, finding.column) == (1, 8)
    assert finding.json_path == "$.value"


@pytest.mark.parametrize(
    ("text", "value", "yaml11"),
    [("0777", 777, "octal number 511"), ("-012", -12, "octal number -10"), ("09", 9, "text '09'")],
)
def test_leading_zero_integers_read_as_yaml_1_2_does_with_a_warning(
    text: str, value: int, yaml11: str
) -> None:
    """YAML 1.2 (editors, yaml-rs) reads 0777 as 777; YAML 1.1 tools differ, which is warned."""
    doc = load_yaml(f"value: {text}\n", "f.yaml")
    assert doc.data == {"value": value}
    assert doc.source_map.written == {"/value": text}
    [finding] = doc.findings
    assert (finding.code, finding.severity) == ("yaml.ambiguous", Severity.WARNING)
    assert yaml11 in finding.message
    assert f"as {value}" in finding.message


@pytest.mark.parametrize(("text", "value"), [("0o777", 511), ("0x1F", 31), ("0o0", 0)])
def test_yaml_1_2_octal_and_hex_are_numbers(text: str, value: int) -> None:
    doc = load_yaml(f"value: {text}\n", "f.yaml")
    assert doc.data == {"value": value}
    assert doc.findings == ()


def test_quoted_look_alikes_are_plain_text_without_warning() -> None:
    doc = load_yaml("a: 'NO'\nb: \"0777\"\nc: |\n  yes\n", "f.yaml")
    assert doc.data == {"a": "NO", "b": "0777", "c": "yes\n"}
    assert doc.findings == ()


def test_floats_are_refused_because_evidence_is_float_free() -> None:
    assert codes("percent: 99.5\n") == [(1, 10, "yaml.float")]


def test_duplicate_keys_name_both_lines() -> None:
    doc = load_yaml("a: 1\nb: 2\na: 3\n", "f.yaml")
    [finding] = doc.findings
    assert (finding.line, finding.code) == (3, "yaml.duplicate-key")
    assert "first defined at line 1" in finding.message
    assert doc.data is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a: &x 1\nb: *x\n", (1, 4, "yaml.alias")),
        ("a: [*x]\n", (1, 5, "yaml.alias")),
        ("a: !!str 1\n", (1, 4, "yaml.tag")),
        ("a: !vault x\n", (1, 4, "yaml.tag")),
        ("<<: {a: 1}\n", (1, 1, "yaml.merge-key")),
        ("? [a]\n: 1\n", (1, 3, "yaml.complex-key")),
        ("a: 1\n---\nb: 1\n", (2, 1, "yaml.multi-document")),
        ("", (1, 1, "yaml.empty")),
        ("# only a comment\n", (1, 1, "yaml.empty")),
        ("a:\n\tb: 1\n", (2, 1, "yaml.syntax")),
        ("a: [1, 2\n", None),
    ],
)
def test_unsafe_or_broken_yaml_is_a_finding(
    text: str, expected: tuple[int, int, str] | None
) -> None:
    found = codes(text)
    assert len(found) == 1
    if expected is not None:
        assert found == [expected]
    else:
        assert found[0][2] == "yaml.syntax"


def test_alias_bomb_is_refused_quickly() -> None:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 9):
        prev, cur = chr(ord("a") + i - 1), chr(ord("a") + i)
        lines.append(f"{cur}: &{cur} [{', '.join(['*' + prev] * 9)}]")
    started = time.perf_counter()
    found = codes("\n".join(lines) + "\n")
    assert found[0][2] == "yaml.alias"
    assert time.perf_counter() - started < 0.5


def test_deep_nesting_stops_at_the_limit() -> None:
    found = codes("[" * 500, Limits(max_depth=10))
    assert found == [(1, 11, "yaml.too-deep")]


def test_nesting_beyond_the_parser_limit_is_too_deep_not_a_crash() -> None:
    # Newer libyaml refuses more than 1,000 levels while scanning ahead, before our own limit
    # sees the events; either way the finding is "too deep", at a position in the file.
    found = codes("[" * 100_000, Limits(max_depth=10))
    assert len(found) == 1
    line, column, code = found[0]
    assert (line, code) == (1, "yaml.too-deep")
    assert 11 <= column <= 1001


def test_node_count_is_bounded() -> None:
    text = "[" + ", ".join("1" for _ in range(50)) + "]\n"
    assert codes(text, Limits(max_nodes=10))[0][2] == "yaml.too-large"


def test_text_over_the_size_limit_is_refused() -> None:
    assert codes("a: 12345\n", Limits(max_bytes=4)) == [(1, 1, "yaml.too-large")]


def test_decode_reports_the_line_of_a_bad_byte() -> None:
    text, findings = decode_source(b"a: 1\nb: caf\xe9\n", "f.yaml")
    assert text is None
    [finding] = findings
    assert (finding.line, finding.column, finding.code) == (2, 7, "yaml.encoding")
    assert "0xe9" in finding.message


def test_decode_strips_a_byte_order_mark_and_checks_size() -> None:
    assert decode_source("\ufeffa: 1\n".encode(), "f.yaml") == ("a: 1\n", ())
    text, findings = decode_source(b"a: 1\n", "f.yaml", Limits(max_bytes=2))
    assert text is None
    assert findings[0].code == "yaml.too-large"


def test_control_characters_are_a_syntax_error_at_their_position() -> None:
    assert codes("a: 1\nb: b\x07c\n") == [(2, 5, "yaml.syntax")]


@pytest.mark.parametrize(
    ("pointer", "path"),
    [
        ("", "$"),
        ("/rings/0/name", "$.rings[0].name"),
        ("/metadata/labels/app.kubernetes.io~1name", "$.metadata.labels['app.kubernetes.io/name']"),
    ],
)
def test_pointer_to_json_path(pointer: str, path: str) -> None:
    assert pointer_to_json_path(pointer) == path


def test_positions_agree_with_the_full_loader_on_the_corpus() -> None:
    """The compose-based source map used for fast-path files equals the reference loader's."""
    from bot.core.yaml_source import positions
    from tests.conftest import EXAMPLES
    from tests.support.corpus import generate_intent_text

    texts = [generate_intent_text(i) for i in range(20)]
    texts += [
        p.read_text(encoding="utf-8") for p in sorted((EXAMPLES / "intents-repo").rglob("*.yaml"))
    ]
    for text in texts:
        fast, reference = positions(text), load_yaml(text, "f.yaml").source_map
        assert (fast.keys, fast.values, fast.scalars) == (
            reference.keys,
            reference.values,
            reference.scalars,
        )
    assert positions("").keys == {}
    assert positions("a: [1\n").keys == load_yaml("a: [1\n", "f").source_map.keys  # falls back


def _all_pointers(text: str) -> list[str]:
    from bot.core.yaml_source import positions

    source_map = positions(text)
    return sorted(set(source_map.keys) | set(source_map.values))


@settings(max_examples=60, deadline=None)
@given(index=st.integers(0, 500), data=st.data())
def test_locate_agrees_with_the_full_source_map(index: int, data: st.DataObject) -> None:
    """The partial pass behind field-diff lines says what the whole map says, for any pointers."""
    from bot.core.yaml_source import locate, positions
    from tests.support.corpus import generate_intent_text

    text = generate_intent_text(index)
    known = _all_pointers(text)
    absent = ["/nope", "/rings/9/name", "/metadata/labels/x~1y", "/app/name/deeper"]
    wanted = data.draw(st.lists(st.sampled_from(known + absent), min_size=1, max_size=6))
    full = positions(text)
    assert locate(text, wanted) == {p: full.position(p) for p in wanted}


def test_locate_on_the_examples_and_on_broken_yaml() -> None:
    from bot.core.yaml_source import locate, positions
    from tests.conftest import EXAMPLES

    for path in sorted((EXAMPLES / "intents-repo").rglob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        full = positions(text)
        wanted = _all_pointers(text)
        assert locate(text, wanted) == {p: full.position(p) for p in wanted}
        assert locate(text, wanted[-1:]) == {wanted[-1]: full.position(wanted[-1])}
    assert locate("a: [1\n", ["/b"]) is None  # the caller falls back to the full map
    assert locate("", [""]) == {"": (1, 1)}


def test_an_integer_too_long_for_python_is_a_finding_at_its_line() -> None:
    """Issue 14, finding 9: 5,000 digits raised ValueError (int max str digits) out of the loader."""
    digits = "9" * 5000
    doc = load_yaml(f"a: 1\nb: {digits}\nc: [-{digits}]\n", "f.yaml")
    assert doc.data == {"a": 1, "b": digits, "c": [f"-{digits}"]}  # kept as the text written
    assert [(f.line, f.column, f.code, f.severity) for f in doc.findings] == [
        (2, 4, "yaml.integer", Severity.ERROR),
        (3, 5, "yaml.integer", Severity.ERROR),
    ]
    assert "5,000 digits" in doc.findings[0].message
    # The longest integer Python reads is still a number.
    assert load_yaml(f"b: {'9' * 4300}\n", "f.yaml").data == {"b": int("9" * 4300)}


@pytest.mark.parametrize("fast_path", [True, False])
def test_a_5000_digit_integer_in_an_intent_is_a_finding_on_both_paths(fast_path: bool) -> None:
    """yaml-rs reads any length, then printing the number raised: the fast path must give up."""
    from bot.catalog import build_document_validator
    from tests.conftest import EXAMPLES

    chrome = EXAMPLES / "intents-repo" / "intents" / "windows" / "google-chrome.yaml"
    text = chrome.read_text(encoding="utf-8").replace("devices: 12", "devices: " + "1" * 5000)
    line = next(n for n, t in enumerate(text.splitlines(), 1) if "devices: 111" in t)
    doc = build_document_validator(fast_path=fast_path).validate(text.encode(), "c.yaml")
    assert not doc.ok
    assert ("yaml.integer", line) in {(f.code, f.line) for f in doc.findings}
