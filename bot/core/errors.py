"""The exceptions EUCORA raises: one root, split by what went wrong and who can fix it.

Expected problems in what users wrote (bad YAML, schema violations, policy denials) are not
exceptions: they are ``Finding`` values (``bot/core/findings.py``). Exceptions are for the
environment and for bugs::

    EucoraError                      the root: catch this to catch everything EUCORA raises
    ├── ConfigError                  a setting or key asks for something impossible (fix the config)
    │   └── SigningKeyError          the signing key is malformed, unreadable or cannot be stored
    ├── GitHubError                  GitHub refused or failed a request
    ├── StorageError                 the database failed or holds something it should not
    │   ├── SchemaVersionError       the schema is not the one this EUCORA needs (db upgrade)
    │   ├── AuditIntegrityError      the audit log is not what was signed: refusing to go on
    │   └── LeaseLostError           another worker took over a publication this one was running
    └── ConnectorError               a deployment plane (Intune, Jamf...) failed a call
        ├── TransientConnectorError  worth retrying (timeouts, 5xx, throttling)
        └── PermanentConnectorError  not worth retrying (bad credentials, 4xx)

Every exception keeps its constructor arguments in ``.args`` (so Celery can pickle it) and builds
its message in ``__str__`` when it has structured arguments.
"""

from __future__ import annotations


class EucoraError(Exception):
    """The root of every exception EUCORA raises on purpose."""


class ConfigError(EucoraError):
    """A setting, a key or a file the configuration points to cannot be used as given."""


class SigningKeyError(ConfigError):
    """The signing key is malformed, unreadable, or the key store cannot hold it."""


class GitHubError(EucoraError):
    """GitHub refused or failed a request; ``status``: GitHub's HTTP answer, when it gave one."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status

    @property
    def refused(self) -> bool:
        """Whether GitHub said the thing is not there or not shown (403, 404).

        Asking again gives the same answer. Anything else (5xx, 429, a timeout) may pass.
        """
        return self.status in {403, 404}


class StorageError(EucoraError):
    """The database failed, is misconfigured, or holds something it should not."""


class SchemaVersionError(StorageError):
    """The database schema is not at the revision this EUCORA needs.

    ``current`` is the database's revision (``None`` for an empty database), ``required`` the
    one the code needs; the message names the command that fixes it.
    """

    def __init__(self, current: str | None, required: str, *, known: bool = True) -> None:
        super().__init__(current, required, known)
        self.current = current
        self.required = required
        self.known = known

    def __str__(self) -> str:
        current = self.current or "none (empty database)"
        if not self.known:
            return (
                f"database schema is at {current}, which this EUCORA does not know"
                f" (it needs {self.required}): upgrade EUCORA, or point it at another database"
            )
        return (
            f"database schema is at {current}, EUCORA needs {self.required}:"
            " run `eucora db upgrade`"
        )


class AuditIntegrityError(StorageError):
    """The audit log does not verify, so the log refuses to sign or extend what it holds."""


class LeaseLostError(StorageError):
    """A worker wrote to a publication whose lease it no longer holds (it expired and was taken).

    Raised by the outbox's journal: the worker must stop, as another one now runs the publication.
    """


class ConnectorError(EucoraError):
    """A deployment plane failed a call."""


class TransientConnectorError(ConnectorError):
    """A plane failure worth retrying: timeouts, server errors, throttling.

    ``retry_after`` is the wait in seconds the plane asked for (``Retry-After``), or ``None``.
    """

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message, retry_after)
        self.message = message
        self.retry_after = retry_after

    def __str__(self) -> str:
        if self.retry_after is None:
            return self.message
        return f"{self.message} (retry after {self.retry_after:g} s)"


class PermanentConnectorError(ConnectorError):
    """A plane failure not worth retrying: refused credentials, invalid requests."""


class GitError(Exception):
    """A revision or repository cannot be read (unknown revision, not a git repository).

    Not an ``EucoraError``: raised by the git adapter (``bot.adapters.git``) and kept as it was.
    """


# --- the evidence store (``bot.adapters.evidence_store``; the ``EvidenceStore`` port) ---------


class EvidenceStoreError(StorageError):
    """The evidence store cannot do what was asked: the base of the errors below."""


class InvalidDigestError(EvidenceStoreError, ValueError):
    """A digest is not ``sha256:`` followed by 64 lowercase hex digits."""


class EvidenceNotFoundError(EvidenceStoreError):
    """No pack (or envelope) is stored under a digest."""


class TamperedEvidenceError(EvidenceStoreError):
    """A stored file's bytes are not what its digest says: someone or something changed them."""


class EnvelopeConflictError(EvidenceStoreError):
    """A different envelope is already stored for a pack; stored files are never replaced."""


class ProofConflictError(EvidenceStoreError):
    """A different proof bundle is already stored for a pack; stored files are never replaced."""
