"""GitHub's authentication rules, as the double enforces them.

* ``/app`` endpoints take a JWT (``Authorization: Bearer``) signed RS256 with the app's private
  key, ``iss`` the app id, issued no later than now (60 s of clock drift allowed) and expiring no
  more than 10 minutes after it was issued and not in the past
  (https://docs.github.com/en/apps/creating-github-apps/authenticating-with-a-github-app/generating-a-json-web-token-jwt-for-a-github-app).
* Repository endpoints take an installation token (``ghs_...``, one hour by default) for an
  installation that holds the repository, or a user token (``ghp_...``) in token mode.
* git over HTTP takes Basic auth ``x-access-token:<token>``.
"""

from __future__ import annotations

import base64
import secrets
import string
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt

from bot.doubles.github import state as st

MAX_JWT_LIFETIME = timedelta(minutes=10)
CLOCK_DRIFT = timedelta(seconds=60)
_ALPHABET = string.ascii_letters + string.digits


class UnauthorizedError(Exception):
    """The credentials are missing, malformed, expired or not valid here (401)."""


@dataclass(frozen=True)
class Caller:
    """Who a request comes from: the app itself (JWT), an installation, or a user."""

    kind: str  # "app" | "installation" | "user"
    installation_id: int | None = None
    login: str | None = None
    token: str | None = None


def new_installation_token() -> str:
    # GitHub's installation tokens: ghs_ + 36 base62 characters.
    return "ghs_" + "".join(secrets.choice(_ALPHABET) for _ in range(36))


def new_user_token() -> str:
    return "ghp_" + "".join(secrets.choice(_ALPHABET) for _ in range(36))


def verify_jwt(token: str, app: st.App, moment: datetime) -> None:
    """Check a GitHub App JWT as GitHub does; raise :class:`UnauthorizedError` with GitHub's reason."""
    try:
        claims = jwt.decode(
            token,
            app.public_key_pem,
            algorithms=["RS256"],
            options={"require": ["iat", "exp", "iss"], "verify_exp": False, "verify_iat": False},
        )
    except jwt.PyJWTError as error:
        raise UnauthorizedError(
            f"A JSON web token could not be decoded ({type(error).__name__})"
        ) from None
    if str(claims["iss"]) != str(app.id):
        raise UnauthorizedError("'Issuer' claim ('iss') must be the app id")
    issued = datetime.fromtimestamp(int(claims["iat"]), moment.tzinfo)
    expires = datetime.fromtimestamp(int(claims["exp"]), moment.tzinfo)
    if issued > moment + CLOCK_DRIFT:
        raise UnauthorizedError(
            "'Issued at' claim ('iat') must be an Integer representing a time in the past"
        )
    if expires <= moment:
        raise UnauthorizedError(
            "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires"
        )
    if expires - issued > MAX_JWT_LIFETIME + timedelta(seconds=1):
        raise UnauthorizedError("'Expiration time' claim ('exp') is too far in the future")


def bearer(header: str | None) -> tuple[str, str] | None:
    """Split ``Authorization`` into (scheme, credential), lower-cased scheme; None if absent."""
    if not header or " " not in header:
        return None
    scheme, _, value = header.partition(" ")
    return scheme.lower(), value.strip()


def basic_token(header: str | None) -> str | None:
    """The password of ``Authorization: Basic`` (the token git sends), or None."""
    parsed = bearer(header)
    if parsed is None or parsed[0] != "basic":
        return None
    try:
        user, _, password = base64.b64decode(parsed[1]).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    if user != "x-access-token":
        return None
    return password
