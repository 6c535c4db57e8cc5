"""Canary secrets of every format EUCORA must never write out (logs, error pages, audit)."""

from __future__ import annotations

import base64
import json

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _jwt(claims: dict[str, object]) -> str:
    header = _b64(json.dumps({"alg": "RS256", "typ": "JWT"}).encode())
    body = _b64(json.dumps(claims).encode())
    return f"{header}.{body}.{_b64(bytes(range(200)) + b'signature-bytes')}"


PEM = (
    rsa.generate_private_key(public_exponent=65537, key_size=2048)
    .private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    .decode()
)
JWT = _jwt({"iat": 1700000000, "exp": 1700000600, "iss": "123456"})
LONG_GHS = "ghs_123456_" + _jwt({"iss": "123456", "repo": "acme/intents", "pad": "x" * 120})
WEBHOOK_SECRET = "wh-secret-canary-7f3a9c"  # noqa: S105 - a canary, not a secret
PLANE_SECRETS = {
    "EUCORA_INTUNE_CLIENT_SECRET": "intune~Canary.Secret_0123456789abcdef",
    "EUCORA_JAMF_PASSWORD": 'jamf-canary-p@ss:word/with"quote',
    "EUCORA_LANDSCAPE_API_KEY": "LANDSCAPE0CANARY0KEY0123",
}
TOKENS = {
    "ghp": "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8",
    "gho": "gho_" + "Z9y8X7w6V5u4T3s2R1q0P9o8N7m6L5k4J3i2",
    "ghu": "ghu_" + "abcdefghijklmnopqrstuvwxyz0123456789",
    "ghs": "ghs_" + "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ",
    "ghs-long": LONG_GHS,
    "ghr": "ghr_" + "1B4a2e77838347a7E420ce178F2E7c6912E169246c34E1ccbF66C46812d16D5B1A9Dc86A1498",
    "github_pat": "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ01234",
    "jwt": JWT,
    "pem": PEM,
    "webhook-secret": WEBHOOK_SECRET,
    **PLANE_SECRETS,
}
"""Every canary by name."""


def leaks(text: str) -> list[str]:
    """The names of the canaries found in ``text`` (a PEM counts by any line of its body)."""
    found = [
        name
        for name, value in TOKENS.items()
        if name != "pem" and (value in text or json.dumps(value)[1:-1] in text)
    ]
    pem_lines = [line for line in PEM.splitlines() if "PRIVATE KEY" not in line]
    if any(line in text for line in pem_lines[1:-1]):
        found.append("pem")
    return found
