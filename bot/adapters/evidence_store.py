"""The evidence store on the filesystem: packs written once, addressed by their digest.

Layout under the root (``EUCORA_EVIDENCE_DIR``, default ``<EUCORA_HOME>/evidence``)::

    sha256/<first two hex digits>/<hex>.json        the pack's canonical JSON (RFC 8785)
    sha256/<first two hex digits>/<hex>.dsse.json   its DSSE envelope, when it was signed
    sha256/<first two hex digits>/<hex>.tlog-proof  its proof bundle, once the audit log proved it
    sha256/<first two hex digits>/<hex>.pull.json   what the App knew of its pull request (below)

A pack's bytes are its address, so writing is idempotent: a second ``put`` of the same pack is a
no-op, and a file already at that address whose bytes are not the pack's canonical bytes is tamper
evidence and is refused, never overwritten. Reads re-hash the bytes. Files are written to a
temporary file in the same folder, flushed to disk, then renamed into place (``os.replace``), so a
reader never sees half a pack; two writers of one digest write identical bytes. Stored files are
made read-only (0444) as a reminder that nothing edits them.

The pull request file is no evidence: the number, title, author and address of the pull request a
check pack was recorded for, as GitHub said when it was recorded, for the evidence page and its
index to show (a pack holds no title, and adding one would change its bytes and digest). Titles
change, so it is the one file the store replaces; nothing signs or proves it.

Digests are checked against ``sha256:<64 lowercase hex>`` before any path is built, so a digest can
never name a file outside the store.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

# The store's errors live in the core (the flows catch them without this adapter); re-exported.
from bot.core.errors import EnvelopeConflictError as EnvelopeConflictError  # noqa: PLC0414
from bot.core.errors import EvidenceNotFoundError as EvidenceNotFoundError  # noqa: PLC0414
from bot.core.errors import EvidenceStoreError as EvidenceStoreError  # noqa: PLC0414
from bot.core.errors import InvalidDigestError as InvalidDigestError  # noqa: PLC0414
from bot.core.errors import ProofConflictError as ProofConflictError  # noqa: PLC0414
from bot.core.errors import TamperedEvidenceError as TamperedEvidenceError  # noqa: PLC0414
from bot.core.evidence import canonical_json

DIGEST_PATTERN = re.compile(r"sha256:([0-9a-f]{64})")
PACK_SUFFIX = ".json"
ENVELOPE_SUFFIX = ".dsse.json"
PROOF_SUFFIX = ".tlog-proof"
PULL_SUFFIX = ".pull.json"
_FILE_MODE = 0o444
_REPLACEABLE_MODE = 0o644


def parse_digest(digest: str) -> str:
    """The 64 hex digits of a ``sha256:<hex>`` digest.

    Raises:
        InvalidDigestError: the digest has another form (which could name a path outside the store).
    """
    match = DIGEST_PATTERN.fullmatch(digest) if isinstance(digest, str) else None
    if match is None:
        raise InvalidDigestError(
            f"{digest!r} is not a digest of the form sha256:<64 lowercase hex>"
        )
    return match.group(1)


class EvidenceStore:
    """Write-once, content-addressed evidence packs (and their envelopes) under one folder."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"EvidenceStore({str(self.root)!r})"

    # --- paths ------------------------------------------------------------------------------------

    def pack_path(self, digest: str) -> Path:
        """Where the pack with this digest lives (whether or not it is stored)."""
        hex_digest = parse_digest(digest)
        return self.root / "sha256" / hex_digest[:2] / f"{hex_digest}{PACK_SUFFIX}"

    def envelope_path(self, digest: str) -> Path:
        """Where the DSSE envelope of the pack with this digest lives."""
        hex_digest = parse_digest(digest)
        return self.root / "sha256" / hex_digest[:2] / f"{hex_digest}{ENVELOPE_SUFFIX}"

    def proof_path(self, digest: str) -> Path:
        """Where the proof bundle (c2sp.org/tlog-proof) of the pack with this digest lives."""
        hex_digest = parse_digest(digest)
        return self.root / "sha256" / hex_digest[:2] / f"{hex_digest}{PROOF_SUFFIX}"

    def pull_path(self, digest: str) -> Path:
        """Where what the App knew of the pack's pull request lives (see the module docstring)."""
        hex_digest = parse_digest(digest)
        return self.root / "sha256" / hex_digest[:2] / f"{hex_digest}{PULL_SUFFIX}"

    # --- packs ------------------------------------------------------------------------------------

    def put(self, pack: Mapping[str, Any]) -> str:
        """Store a pack as canonical JSON and return its digest; storing it again is a no-op.

        Raises:
            TamperedEvidenceError: a file at the pack's address holds other bytes.
            OSError: the store cannot be written.
        """
        data = canonical_json(pack)
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        path = self.pack_path(digest)
        existing = _read_if_present(path)
        if existing is None:
            _write_atomically(path, data)
        elif existing != data:
            raise TamperedEvidenceError(
                f"{path} does not hold the canonical bytes of {digest}: the stored file was"
                " changed; it is kept as it is for inspection"
            )
        return digest

    def get(self, digest: str) -> bytes:
        """The stored bytes of a pack, re-hashed on the way out.

        Raises:
            InvalidDigestError: the digest is malformed.
            EvidenceNotFoundError: nothing is stored under it.
            TamperedEvidenceError: the stored bytes no longer hash to the digest.
        """
        path = self.pack_path(digest)
        data = _read_if_present(path)
        if data is None:
            raise EvidenceNotFoundError(f"no evidence pack {digest} in {self.root}")
        actual = "sha256:" + hashlib.sha256(data).hexdigest()
        if actual != digest:
            raise TamperedEvidenceError(
                f"{path} was changed: its bytes hash to {actual}, not {digest}"
            )
        return data

    def exists(self, digest: str) -> bool:
        """Whether a pack is stored under the digest (its bytes are checked by :meth:`get`)."""
        return self.pack_path(digest).is_file()

    # --- envelopes --------------------------------------------------------------------------------

    def put_envelope(self, digest: str, envelope: Mapping[str, Any]) -> Path:
        """Store the DSSE envelope of a stored pack, as canonical JSON; the same again is a no-op.

        The store does not check signatures (the verify flow does); it keeps the envelope next to
        its pack and, like packs, never replaces one.

        Raises:
            EvidenceNotFoundError: the pack itself is not stored.
            EnvelopeConflictError: a different envelope is stored for the pack.
        """
        if not self.exists(digest):
            raise EvidenceNotFoundError(f"no evidence pack {digest} to attach an envelope to")
        data = canonical_json(envelope)
        path = self.envelope_path(digest)
        existing = _read_if_present(path)
        if existing is None:
            _write_atomically(path, data)
        elif existing != data:
            raise EnvelopeConflictError(
                f"{path} already holds a different envelope for {digest} (signed with another"
                " key?); stored envelopes are never replaced"
            )
        return path

    def get_envelope(self, digest: str) -> bytes | None:
        """The stored envelope bytes of a pack, or ``None`` when it was not signed."""
        return _read_if_present(self.envelope_path(digest))

    # --- proof bundles ----------------------------------------------------------------------------

    def put_proof(self, digest: str, proof: str) -> Path:
        """Store the proof bundle tying a stored pack to a signed checkpoint; the same is a no-op.

        Like envelopes, the store does not check it (``eucora evidence verify`` does) and never
        replaces one: a pack keeps the first proof written for it.

        Raises:
            EvidenceNotFoundError: the pack itself is not stored.
            ProofConflictError: a different proof bundle is stored for the pack.
        """
        if not self.exists(digest):
            raise EvidenceNotFoundError(f"no evidence pack {digest} to attach a proof to")
        data = proof.encode("utf-8")
        path = self.proof_path(digest)
        existing = _read_if_present(path)
        if existing is None:
            _write_atomically(path, data)
        elif existing != data:
            raise ProofConflictError(
                f"{path} already holds a different proof bundle for {digest};"
                " stored proofs are never replaced"
            )
        return path

    def get_proof(self, digest: str) -> bytes | None:
        """The stored proof bundle bytes of a pack, or ``None`` when the log has not proven it."""
        return _read_if_present(self.proof_path(digest))

    # --- the pull request beside a pack -----------------------------------------------------------

    def put_pull_request(self, digest: str, pull_request: Mapping[str, Any]) -> Path:
        """Store (or replace) what the App knows of a stored pack's pull request, as JSON.

        Raises:
            EvidenceNotFoundError: the pack itself is not stored.
            OSError: the store cannot be written.
        """
        if not self.exists(digest):
            raise EvidenceNotFoundError(f"no evidence pack {digest} to describe")
        data = canonical_json(pull_request)
        path = self.pull_path(digest)
        if _read_if_present(path) != data:
            _write_atomically(path, data, replace=True)
        return path

    def get_pull_request(self, digest: str) -> dict[str, Any] | None:
        """What the App knew of a pack's pull request, or ``None`` (none stored, or unreadable)."""
        data = _read_if_present(self.pull_path(digest))
        try:
            value = json.loads(data) if data is not None else None
        except ValueError:
            return None
        return value if isinstance(value, dict) else None


def _read_if_present(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def _write_atomically(path: Path, data: bytes, *, replace: bool = False) -> None:
    """Write a new file all at once: temporary file, fsync, rename, fsync of the folder.

    ``replace``: the file may be replaced later, so it stays writable by its owner.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
    )
    try:
        with os.fdopen(descriptor, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        Path(temporary).chmod(_REPLACEABLE_MODE if replace else _FILE_MODE)
        Path(temporary).replace(path)
    except BaseException:
        with contextlib.suppress(OSError):
            Path(temporary).unlink()
        raise
    _fsync_folder(path.parent)


def _fsync_folder(folder: Path) -> None:
    """Make the rename durable (POSIX); folders cannot be opened for this on every platform."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)
