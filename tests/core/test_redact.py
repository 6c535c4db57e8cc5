"""Redaction removes every secret format, wherever it sits in a line."""

from __future__ import annotations

import json

import pytest

from bot.core.redact import REDACTED, Redactor
from tests.support.canaries import LONG_GHS, PEM, PLANE_SECRETS, TOKENS, WEBHOOK_SECRET, leaks

REDACT = Redactor([WEBHOOK_SECRET, *PLANE_SECRETS.values(), None, "", "abc"])


@pytest.mark.parametrize("name", sorted(TOKENS))
def test_each_canary_is_removed(name: str) -> None:
    value = TOKENS[name]
    for text in (
        value,
        f"error: token {value} refused",
        f"url=https://x-access-token:{value}@github.com/acme/intents.git",
        json.dumps({"detail": value, "n": 1}),
        repr({"secret": value}),
        f"({value})",
    ):
        cleaned = REDACT(text)
        assert not leaks(cleaned), (name, cleaned)
        assert REDACTED in cleaned


def test_the_long_installation_token_is_long_and_removed_whole() -> None:
    assert len(LONG_GHS) > 255
    assert "." in LONG_GHS
    assert REDACT(f"Authorization: token {LONG_GHS}") == f"Authorization: token {REDACTED}"
    assert REDACT(LONG_GHS) == REDACTED


def test_pem_is_removed_whole_and_when_cut_off() -> None:
    assert REDACT(f"key:\n{PEM}after") == f"key:\n{REDACTED}\nafter"
    truncated = PEM[: len(PEM) // 2]
    assert REDACT("oops " + truncated) == "oops " + REDACTED
    assert not leaks(REDACT(json.dumps({"key": PEM})))


def test_announced_credentials() -> None:
    assert REDACT("Authorization: Bearer abc.def") == f"Authorization: Bearer {REDACTED}"
    assert REDACT("https://user:hunter2@example.com/x") == f"https://user:{REDACTED}@example.com/x"
    assert REDACT("bearer " + "x" * 30) == f"bearer {REDACTED}"


def test_ordinary_text_is_untouched() -> None:
    text = "delivery 72d3162e accepted: pull_request.synchronize acme/intents#7 ghost_town eyJ"
    assert REDACT(text) == text
    assert Redactor()("ghp_short") == "ghp_short"


def test_short_configured_values_are_not_searched() -> None:
    assert Redactor(["abc"])("abcdef") == "abcdef"
