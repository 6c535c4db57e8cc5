"""The exceptions EUCORA raises, re-exported from where they live: ``bot.core.errors``.

Kept so ``from bot.errors import ...`` (in plugins, scripts and older code) goes on working; new
code imports ``bot.core.errors``.
"""

from __future__ import annotations

from bot.core.errors import (
    AuditIntegrityError,
    ConfigError,
    ConnectorError,
    EucoraError,
    GitHubError,
    LeaseLostError,
    PermanentConnectorError,
    SchemaVersionError,
    SigningKeyError,
    StorageError,
    TransientConnectorError,
)

__all__ = [
    "AuditIntegrityError",
    "ConfigError",
    "ConnectorError",
    "EucoraError",
    "GitHubError",
    "LeaseLostError",
    "PermanentConnectorError",
    "SchemaVersionError",
    "SigningKeyError",
    "StorageError",
    "TransientConnectorError",
]
