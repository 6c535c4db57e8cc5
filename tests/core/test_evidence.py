"""Canonical JSON and digests: RFC 8785 bytes whatever path produced them."""

from __future__ import annotations

import json

import pytest
import rfc8785
from hypothesis import given
from hypothesis import strategies as st

from bot.core.evidence import canonical_json, digest_of

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**60), max_value=2**60)
    | st.text()
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=25,
)


def reference(value: object) -> bytes | None:
    try:
        return bytes(rfc8785.dumps(value))
    except Exception:  # noqa: BLE001 - rfc8785 refuses what is not I-JSON
        return None


@given(JSON)
def test_canonical_json_is_rfc8785(value: object) -> None:
    """Whenever rfc8785 accepts a value, canonical_json gives exactly its bytes."""
    expected = reference(value)
    if expected is None:
        with pytest.raises(Exception):  # noqa: B017 - the same refusal, whatever its type
            canonical_json(value)
    else:
        assert canonical_json(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        {"b": 1, "a": [True, None, "é", "\u2028", "\x7f", "\x1f"]},
        {"\ue000": 1, "\U0001f600": 2},  # UTF-16 order differs from code point order
        {"big": 2**53},
        {"f": 1.5, "g": 97.0, "h": -0.0},
        ["\ud800"],
    ],
)
def test_edge_cases_match_the_reference(value: object) -> None:
    expected = reference(value)
    if expected is None:
        with pytest.raises(Exception):  # noqa: B017
            canonical_json(value)
    else:
        assert canonical_json(value) == expected


def test_digest_is_sha256_of_the_canonical_bytes_and_ignores_key_order() -> None:
    a = {"x": 1, "y": {"b": 2, "a": 1}}
    b = json.loads('{"y": {"a": 1, "b": 2}, "x": 1}')
    assert digest_of(a) == digest_of(b)
    assert digest_of(a).startswith("sha256:")
    assert len(digest_of(a)) == len("sha256:") + 64
