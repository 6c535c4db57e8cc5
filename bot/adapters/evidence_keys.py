"""The evidence flows' key material from ``Settings``: what the entry points hand them.

``SettingsKeys`` is the ``bot.ports.EvidenceKeys`` of an installation: ``EUCORA_SIGNING_KEY``
signs stored packs, the audit key (``bot.adapters.audit_keys``) signs checkpoints; each key is
read when a flow asks for it (``eucora evidence show`` reads none, and a key that cannot be read
fails the command that needs it, as before). ``bot.bootstrap.file_evidence``
pairs it with the file store under ``EUCORA_EVIDENCE_DIR``.
"""

from __future__ import annotations

from collections.abc import Sequence

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bot.adapters.audit_keys import (
    TrustedKeys,
    audit_signer,
    audit_verifier_keys,
    read_trusted_keys,
)
from bot.adapters.pem_keys import load_private_key
from bot.core.tlog import Ed25519Signer
from bot.settings import Settings


class SettingsKeys:
    """The configured keys, read when asked for (see the module docstring).

    ``checkpoint``: the audit signer already loaded (the App's composition root loads it once,
    at start); without it, each request loads it (``audit_signer``, creating it once).
    """

    def __init__(self, settings: Settings, *, checkpoint: Ed25519Signer | None = None) -> None:
        self._settings = settings
        self._checkpoint = checkpoint

    @property
    def signs_packs(self) -> bool:
        """Whether ``EUCORA_SIGNING_KEY`` is set."""
        return bool(self._settings.signing_key)

    def pack_signer(self) -> Ed25519PrivateKey | None:
        """``EUCORA_SIGNING_KEY``'s private key, or ``None`` when it is not set."""
        if not self._settings.signing_key:
            return None
        return load_private_key(self._settings.signing_key)

    def checkpoint_signer(self) -> Ed25519Signer:
        """The audit log's checkpoint signer."""
        if self._checkpoint is not None:
            return self._checkpoint
        return audit_signer(self._settings)

    def configured(self) -> TrustedKeys:
        """The configured signing key's public half and the audit log's verifier keys, if any."""
        signer = self.pack_signer()
        public = (signer.public_key().public_bytes_raw(),) if signer is not None else ()
        return TrustedKeys(public, tuple(audit_verifier_keys(self._settings)))

    def given(self, values: Sequence[str | bytes]) -> TrustedKeys:
        """The keys an auditor gave (``read_trusted_keys``)."""
        return read_trusted_keys(values)
