"""Version ordering for semantic and vendor-style versions."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core.versions import compare_versions, parse_version


@pytest.mark.parametrize(
    ("old", "new", "order"),
    [
        ("1.2.3", "1.2.4", 1),
        ("124.0.6367.91", "124.0.6367.118", 1),
        ("23.01", "23.10", 1),
        ("23.01", "22.01", -1),
        ("1.2", "1.2.0", 0),
        ("v2.0.0", "2.0.0", 0),
        ("2.0.0-rc.1", "2.0.0", 1),
        ("2.0.0", "2.0.0-rc.1", -1),
        ("2.0.0-alpha", "2.0.0-alpha.1", 1),
        ("2.0.0-alpha.1", "2.0.0-beta", 1),
        ("2.0.0-1", "2.0.0-alpha", -1),
        ("24.08", "24.08-1", 1),
        ("24.08-1", "24.08-2", 1),
        ("6.0.2+build.7", "6.0.2+build.9", 0),
        ("115.0esr", "116.0", None),
        ("1.0-1x", "1.0", None),
    ],
)
def test_compare_versions(old: str, new: str, order: int | None) -> None:
    assert compare_versions(old, new) == order


def test_major_is_the_first_release_number() -> None:
    version = parse_version("124.0.6367.91")
    assert version is not None
    assert version.major == 124


versions = st.lists(st.integers(0, 999), min_size=1, max_size=4).map(
    lambda parts: ".".join(map(str, parts))
)


@given(versions, versions)
def test_comparison_is_antisymmetric(a: str, b: str) -> None:
    forward, backward = compare_versions(a, b), compare_versions(b, a)
    assert forward is not None
    assert backward == -forward


@given(versions, versions, versions)
def test_comparison_is_transitive(a: str, b: str, c: str) -> None:
    if compare_versions(a, b) == 1 and compare_versions(b, c) == 1:
        assert compare_versions(a, c) == 1
