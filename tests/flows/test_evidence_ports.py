"""The evidence flows use the store and keys they are handed, and nothing from the environment.

Before, ``store_pack``, ``show`` and ``verify`` built the file store under ``EUCORA_EVIDENCE_DIR``
when none was given and read ``EUCORA_SIGNING_KEY`` and the audit key files from ``Settings``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bot.adapters.audit_keys import TrustedKeys
from bot.adapters.evidence_store import EvidenceStore
from bot.core.attestation import key_id
from bot.core.evidence_verify import CheckStatus
from bot.core.tlog import Ed25519Signer
from bot.flows.evidence import show, store_pack, verify
from bot.ports import EvidencePorts
from tests.core.test_evidence_html import make_pack


class HeldKeys:
    """Key material held in memory: no home, no key file, no environment."""

    def __init__(self, private: Ed25519PrivateKey | None) -> None:
        self._private = private

    @property
    def signs_packs(self) -> bool:
        return self._private is not None

    def pack_signer(self) -> Ed25519PrivateKey | None:
        return self._private

    def checkpoint_signer(self) -> Ed25519Signer:
        raise AssertionError("storing and verifying sign no checkpoint")

    def configured(self) -> TrustedKeys:
        public = () if self._private is None else (self._private.public_key().public_bytes_raw(),)
        return TrustedKeys(public, ())

    def given(self, values: Sequence[str | bytes]) -> TrustedKeys:
        raise AssertionError(f"no keys were given: {values!r}")


def test_a_pack_is_signed_with_the_key_handed_in_and_stored_where_the_store_says(
    tmp_path: Path,
) -> None:
    private = Ed25519PrivateKey.generate()
    evidence = EvidencePorts(store=EvidenceStore(tmp_path / "store"), keys=HeldKeys(private))
    stored = store_pack(make_pack(), evidence)
    assert stored.key_id == key_id(private.public_key())
    assert stored.envelope_path is not None
    assert stored.path.is_relative_to(tmp_path / "store")
    report = verify(stored.digest, evidence)
    statuses = {c.name: c.status for c in report.checks}
    assert statuses["signature"] is CheckStatus.OK, report.checks
    assert report.verdict == "verified"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["store"]  # no home, no key files


def test_without_a_pack_key_nothing_is_signed_and_show_reads_the_store_handed_in(
    tmp_path: Path,
) -> None:
    store = EvidenceStore(tmp_path / "store")
    stored = store_pack(make_pack(), EvidencePorts(store=store, keys=HeldKeys(None)))
    assert (stored.envelope_path, stored.key_id) == (None, None)
    shown = show(stored.digest, store)
    assert (shown.digest, shown.envelope) == (stored.digest, None)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["store"]
