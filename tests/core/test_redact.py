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


# --- what the GitHub adapter's and the connectors' own scrubbers removed, now this one's ---------


@pytest.mark.parametrize(
    "secret",
    [
        "v1." + "0123456789abcdef" * 2 + "01234567",  # old installation tokens
        "Basic eC1hY2Nlc3MtdG9rZW46Z2hzX3NlY3JldA==",
        "token " + "A1b2" * 4,  # 16 characters after "token"
        "Bearer abc.def-123",  # a short bearer token
        "eyJhbGciOi.eyJzdWIiOi.sig",  # a JWT with short parts
    ],
)
def test_the_shapes_the_other_scrubbers_knew_are_removed(secret: str) -> None:
    value = secret.rsplit(" ", maxsplit=1)[-1]
    cleaned = Redactor()(f"before {secret} after")
    assert value not in cleaned
    assert cleaned.startswith("before ")
    assert cleaned.endswith(" after")


def test_the_mask_is_chosen() -> None:
    redact = Redactor(["hunter2hunter2"], mask="***")
    assert redact("secret=hunter2hunter2 Bearer abc.def") == "secret=*** Bearer ***"
    assert redact("ghp_" + "A1b2" * 9) == "***"


def test_a_github_token_glued_onto_a_word_is_still_removed() -> None:
    from bot.core.redact import Redactor

    token = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
    assert Redactor()(f"header=x{token} and_{token}") == "header=x[redacted] and_[redacted]"
