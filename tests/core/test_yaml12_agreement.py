"""EUCORA reads each broken example as a YAML 1.2 tool (yaml-rs, as editors do) reads it.

``version: 0777`` is the integer 777 in YAML 1.2: an editor with the schema shows a type error, and
so must ``eucora validate`` (it used to keep the text "0777" and exit 0).
"""

from __future__ import annotations

import yaml_rs

from bot.catalog import build_document_validator
from bot.core.documents import DocumentKind
from bot.core.yaml_source import load_yaml
from tests.conftest import EXAMPLES

BROKEN = sorted((EXAMPLES / "broken").glob("*.yaml"))


def _yaml12(text: str) -> object:
    try:
        return yaml_rs.loads(text, parse_datetime=False)
    except Exception:  # noqa: BLE001 - a file yaml-rs refuses has nothing to compare
        return None


def test_the_reference_loader_reads_what_yaml_1_2_reads() -> None:
    compared, differ = 0, []
    for path in BROKEN:
        try:
            text = path.read_bytes().decode("utf-8")
        except UnicodeDecodeError:
            continue  # not-utf8.yaml: refused before any reading
        ours, theirs = load_yaml(text, path.name).data, _yaml12(text)
        if ours is None or theirs is None:
            continue  # refused (aliases, tags, duplicates, syntax, empty): no data to compare
        compared += 1
        if ours != theirs:
            differ.append(path.name)
    assert differ == []
    assert compared >= len(BROKEN) - 8


def test_octal_looking_version_is_a_type_error_as_in_an_editor() -> None:
    path = EXAMPLES / "broken" / "octal-version.yaml"
    raw = path.read_bytes()
    assert _yaml12(raw.decode())["app"]["version"] == 777  # type: ignore[index]
    for fast in (True, False):
        doc = build_document_validator(fast_path=fast).validate(raw, "v.yaml", DocumentKind.INTENT)
        assert not doc.ok
        [error] = [f for f in doc.findings if f.severity.value == "error"]
        assert (error.code, error.line) == ("schema.type", 11)
        assert 'quote it: "0777"' in error.message
        assert doc.data["app"]["version"] == 777
