"""Store, show and verify evidence packs: the flows behind ``eucora evidence show|verify``.

A stored pack is checked in up to four independent ways, each reported as ok, failed or skipped:

* ``digest``: the pack's bytes hash to the digest that names it (tamper evidence);
* ``signature``: a DSSE signature over the in-toto Statement holds for the given public key, or
  for the public half of the configured ``EUCORA_SIGNING_KEY``;
* ``statement``: the signed Statement names the pack's digest as a subject, has the predicate type
  of the pack's kind, and its predicate is the pack (canonical bytes equal);
* ``inclusion``: the pack is in the audit log, asked through a :class:`LogInclusion` the caller
  passes (the audit log's wiring lives with the audit log, not here).

A reference is a digest (``sha256:<hex>``, or 64 bare hex digits when no such file exists), or a
file: a pack (pretty-printed or canonical JSON) or a DSSE envelope.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from bot.adapters.evidence_store import (
    ENVELOPE_SUFFIX,
    EvidenceStore,
    EvidenceStoreError,
    TamperedEvidenceError,
    parse_digest,
)
from bot.adapters.signing_keys import load_private_key, load_public_key
from bot.core.attestation import (
    PREDICATE_TYPES,
    AttestationError,
    Statement,
    key_id,
    read_unverified_statement,
    sign_envelope,
    statement_for,
    verify_envelope,
)
from bot.core.evidence import canonical_json, digest_of
from bot.errors import EucoraError
from bot.flows.check import CheckRun
from bot.settings import Settings

_BARE_HEX = re.compile(r"[0-9a-f]{64}")
_ENVELOPE_FIELDS = frozenset({"payload", "payloadType", "signatures"})


class EvidenceRefError(EucoraError):
    """A reference names neither a readable evidence file nor a well-formed digest."""


# --- storing --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredEvidence:
    """Where a pack was stored and, when it was signed, its envelope and the signing key's id."""

    digest: str
    path: Path
    envelope_path: Path | None = None
    key_id: str | None = None


def store_pack(
    pack: Mapping[str, Any], settings: Settings, *, store: EvidenceStore | None = None
) -> StoredEvidence:
    """Store a pack (write-once); sign and store its envelope when a signing key is configured.

    Raises:
        TamperedEvidenceError: another body already sits at the pack's digest.
        EnvelopeConflictError: another envelope is already stored for it.
        KeyFileError: the configured signing key cannot be read.
        OSError: the store cannot be written.
    """
    store = store if store is not None else EvidenceStore(settings.evidence_dir)
    digest = store.put(pack)
    if not settings.signing_key:
        return StoredEvidence(digest=digest, path=store.pack_path(digest))
    signer = load_private_key(settings.signing_key)
    envelope = sign_envelope(statement_for(pack, digest), signer)
    return StoredEvidence(
        digest=digest,
        path=store.pack_path(digest),
        envelope_path=store.put_envelope(digest, envelope),
        key_id=key_id(signer.public_key()),
    )


def store_check_pack(
    run: CheckRun, settings: Settings, *, store: EvidenceStore | None = None
) -> StoredEvidence:
    """Store the evidence pack of a finished check (see :func:`store_pack`)."""
    stored = store_pack(run.pack, settings, store=store)
    if stored.digest != run.digest:  # the pack was changed after the check computed its digest
        raise EvidenceStoreError(
            f"the check's pack now hashes to {stored.digest}, not {run.digest}"
        )
    return stored


# --- showing --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ShownEvidence:
    """A pack as found, with its envelope if any: nothing here has been verified but the digest.

    ``key_ids`` are the keyids the envelope's signatures claim (unauthenticated hints).
    """

    digest: str
    pack: dict[str, Any]
    source: str
    envelope: dict[str, Any] | None = None
    key_ids: tuple[str, ...] = ()


def show(ref: str, settings: Settings, *, store: EvidenceStore | None = None) -> ShownEvidence:
    """Read the pack a reference names, with its envelope; re-hashes packs read from the store.

    Raises:
        EvidenceRefError: the reference names no readable evidence.
        InvalidDigestError, EvidenceNotFoundError: a malformed or unknown digest.
        TamperedEvidenceError: the bytes no longer hash to the digest that names them.
    """
    store = store if store is not None else EvidenceStore(settings.evidence_dir)
    found = _find(ref, store)
    if found.digest_check is not None and found.digest_check.status is CheckStatus.FAILED:
        raise TamperedEvidenceError(found.digest_check.detail)
    if found.pack is None:  # an envelope file: its pack is the Statement's predicate
        try:
            predicate = read_unverified_statement(found.envelope or {}).get("predicate")
        except AttestationError as error:
            raise EvidenceRefError(f"{ref}: {error}") from None
        if not isinstance(predicate, dict):
            raise EvidenceRefError(f"{ref}: the envelope's Statement has no predicate object")
        pack, digest = predicate, digest_of(predicate)
    else:
        pack, digest = found.pack, found.digest
    return ShownEvidence(
        digest=digest,
        pack=pack,
        source=found.source,
        envelope=found.envelope,
        key_ids=_claimed_key_ids(found.envelope),
    )


def _claimed_key_ids(envelope: Mapping[str, Any] | None) -> tuple[str, ...]:
    signatures = envelope.get("signatures") if envelope is not None else None
    if not isinstance(signatures, list):
        return ()
    return tuple(
        str(s.get("keyid", "")) for s in signatures if isinstance(s, dict) and s.get("keyid")
    )


# --- verifying ------------------------------------------------------------------------------------


class CheckStatus(StrEnum):
    """How one verification check came out."""

    OK = "ok"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True, slots=True)
class InclusionVerdict:
    """The audit log's answer: whether the pack is in the log, and why (or why not)."""

    ok: bool
    why: str


class LogInclusion(Protocol):
    """Asks the audit log whether a pack digest was recorded (and is proven under a checkpoint).

    The audit log provides the implementation; the verify flow only calls it.
    """

    def __call__(self, digest: str) -> InclusionVerdict:
        """Say whether the pack with this digest is in the log, and why."""
        ...  # pragma: no cover


@dataclass(frozen=True, slots=True)
class VerifyCheck:
    """One named check of a verification, with its outcome and a sentence saying why."""

    name: str
    status: CheckStatus
    detail: str

    def as_dict(self) -> dict[str, str]:
        """The check as JSON-ready data."""
        return {"name": self.name, "status": self.status.value, "detail": self.detail}


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifyReport:
    """Everything a verification checked; it holds when no check failed."""

    digest: str
    source: str
    checks: tuple[VerifyCheck, ...]
    key_ids: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """Whether no check failed (skipped checks do not fail a verification)."""
        return all(c.status is not CheckStatus.FAILED for c in self.checks)

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data."""
        return {
            "digest": self.digest,
            "source": self.source,
            "verified": self.ok,
            "verifiedBy": list(self.key_ids),
            "checks": [c.as_dict() for c in self.checks],
        }


def verify(
    ref: str,
    settings: Settings,
    *,
    public_key_pem: bytes | None = None,
    inclusion: LogInclusion | None = None,
    store: EvidenceStore | None = None,
) -> VerifyReport:
    """Verify the evidence a reference names: digest, signature, statement and log inclusion.

    With ``public_key_pem`` the pack must be signed by that key; without it, a signature is checked
    against the configured signing key's public half, and an unsigned pack skips the check.

    Raises:
        EvidenceRefError: the reference names no readable evidence.
        InvalidDigestError, EvidenceNotFoundError: a malformed or unknown digest.
        KeyFileError: the public key (or configured signing key) cannot be read.
    """
    store = store if store is not None else EvidenceStore(settings.evidence_dir)
    keys = _public_keys(settings, public_key_pem)
    found = _find(ref, store)
    checks: list[VerifyCheck] = []
    if found.digest_check is not None:
        checks.append(found.digest_check)
    signature, statement = _signature_check(
        found.envelope, keys, required=public_key_pem is not None
    )
    checks.append(signature)

    pack, digest = found.pack, found.digest
    if pack is None:  # an envelope file: the pack is what the signed Statement says it is
        if statement is None:
            checks.append(VerifyCheck("digest", CheckStatus.FAILED, _unverified_envelope(found)))
            return _report(found, digest, checks, statement, inclusion)
        pack, digest = statement.predicate, digest_of(statement.predicate)
        checks.insert(
            0,
            VerifyCheck("digest", CheckStatus.OK, f"the signed predicate hashes to {digest}"),
        )
    if statement is None:
        checks.append(
            VerifyCheck("statement", CheckStatus.SKIPPED, "no verified statement to compare")
        )
    else:
        checks.append(_statement_check(statement, pack, digest))
    return _report(found, digest, checks, statement, inclusion)


def _public_keys(settings: Settings, public_key_pem: bytes | None) -> list[Ed25519PublicKey]:
    """The given public key, else the configured signing key's public half, else none."""
    if public_key_pem is not None:
        return [load_public_key(public_key_pem)]
    if settings.signing_key:
        return [load_private_key(settings.signing_key).public_key()]
    return []


def _signature_check(
    envelope: Mapping[str, Any] | None, keys: list[Ed25519PublicKey], *, required: bool
) -> tuple[VerifyCheck, Statement | None]:
    if envelope is None:
        status = CheckStatus.FAILED if required else CheckStatus.SKIPPED
        return VerifyCheck("signature", status, "the pack is not signed (no DSSE envelope)"), None
    if not keys:
        return VerifyCheck(
            "signature",
            CheckStatus.FAILED,
            "the pack is signed, but there is no public key to check it with:"
            " pass --public-key or set EUCORA_SIGNING_KEY",
        ), None
    try:
        statement = verify_envelope(envelope, keys)
    except AttestationError as error:
        return VerifyCheck("signature", CheckStatus.FAILED, str(error)), None
    by = ", ".join(statement.verified_by)
    return VerifyCheck("signature", CheckStatus.OK, f"DSSE signature by key {by}"), statement


def _report(
    found: _Found,
    digest: str,
    checks: list[VerifyCheck],
    statement: Statement | None,
    inclusion: LogInclusion | None,
) -> VerifyReport:
    if inclusion is None:
        checks.append(
            VerifyCheck("inclusion", CheckStatus.SKIPPED, "no audit log was given to check")
        )
    elif not digest:
        checks.append(VerifyCheck("inclusion", CheckStatus.SKIPPED, "no digest to look up"))
    else:
        verdict = inclusion(digest)
        status = CheckStatus.OK if verdict.ok else CheckStatus.FAILED
        checks.append(VerifyCheck("inclusion", status, verdict.why))
    return VerifyReport(
        digest=digest,
        source=found.source,
        checks=tuple(checks),
        key_ids=statement.verified_by if statement is not None else (),
    )


def _unverified_envelope(found: _Found) -> str:
    return f"{found.source} is an envelope whose signature did not verify: its pack is unknown"


def _statement_check(statement: Statement, pack: Mapping[str, Any], digest: str) -> VerifyCheck:
    hex_digest = digest.removeprefix("sha256:")
    if hex_digest not in statement.subject_digest("sha256"):
        named = ", ".join(statement.subject_digest("sha256")) or "no sha256"
        return VerifyCheck(
            "statement", CheckStatus.FAILED, f"the statement's subjects ({named}) omit {digest}"
        )
    kind = pack.get("kind")
    expected = PREDICATE_TYPES.get(kind) if isinstance(kind, str) else None
    if statement.predicate_type != expected:
        return VerifyCheck(
            "statement",
            CheckStatus.FAILED,
            f"predicateType {statement.predicate_type!r} is not the one for {kind!r} packs"
            f" ({expected!r})",
        )
    if canonical_json(statement.predicate) != canonical_json(pack):
        return VerifyCheck(
            "statement", CheckStatus.FAILED, "the signed predicate is not the stored pack"
        )
    return VerifyCheck(
        "statement",
        CheckStatus.OK,
        f"in-toto Statement v1 about {digest}, predicate {statement.predicate_type}",
    )


# --- finding what a reference names ---------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class _Found:
    """What a reference led to. ``pack`` is ``None`` for an envelope file (its pack is inside)."""

    source: str
    digest: str
    pack: dict[str, Any] | None
    envelope: dict[str, Any] | None
    digest_check: VerifyCheck | None


def _find(ref: str, store: EvidenceStore) -> _Found:
    if ref.startswith("sha256:"):
        return _find_digest(ref, store)
    path = Path(ref)
    if path.is_file():
        return _find_file(path, store)
    if _BARE_HEX.fullmatch(ref):
        return _find_digest("sha256:" + ref, store)
    raise EvidenceRefError(f"{ref}: no such file, and not a digest (sha256:<64 hex digits>)")


def _find_digest(digest: str, store: EvidenceStore) -> _Found:
    parse_digest(digest)
    source = str(store.pack_path(digest))
    try:
        data = store.get(digest)
    except TamperedEvidenceError as error:
        return _Found(
            source=source,
            digest=digest,
            pack=_load_object(store.pack_path(digest).read_bytes(), source, strict=False) or {},
            envelope=_load_envelope(store.get_envelope(digest)),
            digest_check=VerifyCheck("digest", CheckStatus.FAILED, str(error)),
        )
    return _Found(
        source=source,
        digest=digest,
        pack=_load_object(data, source),
        envelope=_load_envelope(store.get_envelope(digest)),
        digest_check=VerifyCheck("digest", CheckStatus.OK, f"the stored bytes hash to {digest}"),
    )


def _find_file(path: Path, store: EvidenceStore) -> _Found:
    try:
        data = path.read_bytes()
    except OSError as error:
        raise EvidenceRefError(f"cannot read {path}: {error.strerror}") from None
    value = _load_object(data, str(path))
    if value.keys() >= _ENVELOPE_FIELDS:
        return _Found(source=str(path), digest="", pack=None, envelope=value, digest_check=None)
    digest = digest_of(value)
    check = VerifyCheck("digest", CheckStatus.OK, f"the file's pack hashes to {digest}")
    envelope_bytes: bytes | None = None
    name = path.name.removesuffix(".json")
    if _BARE_HEX.fullmatch(name):  # a file from a store: its name is its digest
        if name != digest.removeprefix("sha256:"):
            check = VerifyCheck(
                "digest",
                CheckStatus.FAILED,
                f"{path.name} names sha256:{name}, but the pack hashes to {digest}",
            )
        sibling = path.with_name(name + ENVELOPE_SUFFIX)
        envelope_bytes = sibling.read_bytes() if sibling.is_file() else None
    if envelope_bytes is None:
        envelope_bytes = store.get_envelope(digest)
    return _Found(
        source=str(path),
        digest=digest,
        pack=value,
        envelope=_load_envelope(envelope_bytes),
        digest_check=check,
    )


def _load_object(data: bytes, source: str, *, strict: bool = True) -> dict[str, Any]:
    try:
        value = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        if not strict:
            return {}
        raise EvidenceRefError(f"{source}: not JSON ({error})") from None
    if not isinstance(value, dict):
        if not strict:
            return {}
        raise EvidenceRefError(f"{source}: not a JSON object")
    return value


def _load_envelope(data: bytes | None) -> dict[str, Any] | None:
    """The envelope as stored; one that is not a JSON object reads as empty, and fails to verify."""
    if data is None:
        return None
    return _load_object(data, "", strict=False)
