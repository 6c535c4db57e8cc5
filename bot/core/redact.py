"""Secret redaction for anything written out: log lines, error pages, stored error reasons.

A :class:`Redactor` removes every GitHub token format, JWTs, PEM private keys, credentials in
URLs, ``Authorization`` headers and bearer tokens, and the literal values of the secrets it is
given (the webhook secret, plane credentials...). It is pure: the composition root builds it from
``Settings`` and the log and web adapters apply it; the GitHub adapter cleans its error messages
with it, and the connectors theirs (with their ``***`` mask). It is the one secret scrubber.

Token formats: https://github.blog/engineering/platform-security/behind-githubs-new-authentication-token-formats/
(``ghp_ gho_ ghu_ ghs_ ghr_ github_pat_``; GitHub plans for lengths up to 255 characters), and
the stateless installation tokens ``ghs_<app id>_<JWT>`` (dots and dashes, 255+ characters), and
the old installation tokens ``v1.<40 hex digits>``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

REDACTED = "[redacted]"
MIN_SECRET_LENGTH = 4
"""Configured secrets shorter than this are not searched for (they would blank ordinary words)."""

# Each pattern with a substring that must be present for it to match: most log lines hold none,
# and a substring test is far cheaper than a regular expression scan.
_PATTERNS = (
    # PEM private keys, whole (or to the end of the text when the END line was cut off).
    (
        "PRIVATE KEY-----",
        re.compile(
            r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?"
            r"(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\Z)",
            re.DOTALL,
        ),
    ),
    # GitHub tokens: classic 36 characters, and the long stateless ghs_<appid>_<jwt> form; also
    # glued onto a preceding word (``xghp_...``: no word boundary asked for).
    ("gh", re.compile(r"(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9_.\-]{16,}")),
    ("github_pat_", re.compile(r"\bgithub_pat_[A-Za-z0-9_]{20,}")),
    ("v1.", re.compile(r"\bv1\.[0-9a-f]{40}")),
    # JSON Web Tokens (the app's JWT, OAuth id tokens): header.payload.signature of any length,
    # or header.payload when both are long enough not to be ordinary dotted words.
    (
        "eyJ",
        re.compile(
            r"\beyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*"
            r"|\beyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}"
        ),
    ),
)
# Credentials the surrounding text announces: keep the announcement, drop the value. The
# substrings are tested on the lower-cased text.
_ANNOUNCED = (
    ("authorization", re.compile(r"(?i)\b(authorization:\s*(?:bearer|token|basic)\s+)[^\s\"',]+")),
    # Whatever follows "Bearer" is a token (RFC 6750 b64token); after "token" or "Basic", a word
    # long enough not to be prose.
    ("bearer", re.compile(r"(?i)(\bbearer\s+)[A-Za-z0-9_.~\-+/=]+")),
    ("token", re.compile(r"(?i)(\b(?:token|basic)\s+)[A-Za-z0-9_.\-+/=]{16,}")),
    ("basic", re.compile(r"(?i)(\b(?:token|basic)\s+)[A-Za-z0-9_.\-+/=]{16,}")),
    ("://", re.compile(r"(://[^/\s:@\"']+:)[^@\s/\"']+(@)")),
)


class Redactor:
    """Removes secrets from text; built once with the configured secret values.

    ``mask`` is what stands in for each secret (``[redacted]``; the connectors' messages use
    ``***``).
    """

    def __init__(self, secrets: Iterable[str | None] = (), *, mask: str = REDACTED) -> None:
        self._mask = mask
        literals: set[str] = set()
        for secret in secrets:
            if not secret or len(secret) < MIN_SECRET_LENGTH:
                continue
            # As written, as a JSON string holds it, and as Python's repr shows it.
            literals.update({secret, json.dumps(secret)[1:-1], repr(secret)[1:-1]})
        ordered = sorted(literals, key=len, reverse=True)
        self._literals = (
            re.compile("|".join(re.escape(value) for value in ordered)) if ordered else None
        )

    def __call__(self, text: str) -> str:
        """``text`` with every secret replaced by the mask."""
        if self._literals is not None:
            text = self._literals.sub(self._mask, text)
        for needle, pattern in _PATTERNS:
            if needle in text:
                text = pattern.sub(self._mask, text)
        lowered = text.lower()
        for needle, pattern in _ANNOUNCED:
            if needle in lowered:
                text = pattern.sub(self._keep_announcement, text)
        return text

    def _keep_announcement(self, match: re.Match[str]) -> str:
        return match.group(1) + self._mask + (match.group(2) if match.re.groups > 1 else "")
