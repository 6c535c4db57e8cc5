"""Store, show and verify evidence packs: the flows behind ``eucora evidence show|verify``.

A stored pack is checked in up to four independent ways, each reported as ok, failed or skipped:

* ``digest``: the pack's bytes hash to the digest that names it (tamper evidence);
* ``signature``: a DSSE signature over the in-toto Statement holds for the given public key, or
  for the public half of the configured ``EUCORA_SIGNING_KEY``;
* ``statement``: the signed Statement names the pack's digest as a subject, has the predicate type
  of the pack's kind, and its predicate is the pack (canonical bytes equal);
* ``inclusion``: the audit log recorded the pack: its proof bundle (``<hex>.tlog-proof`` next to
  the pack, c2sp.org/tlog-proof) carries the ``evidence.stored`` event naming its digest, that
  event's inclusion proof and a checkpoint signed by a trusted key; checked offline, no database.

A reference is a digest (``sha256:<hex>``, or 64 bare hex digits when no such file exists), or a
file: a pack (pretty-printed or canonical JSON) or a DSSE envelope.

Recording (``record_evidence``) is what the webhook and the demo do with a pack: store it
(write-once), append an ``evidence.stored`` audit event naming its digest, sign a checkpoint of
the log right away (so every pack is provable as soon as it is stored; the log signs only what
extends its last checkpoint, reading just the events since), then write the proof bundle next
to the pack. A crash between steps is repaired by recording again: the event is found instead
of appended twice, and the bundle is written once.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from bot.core.attestation import (
    AttestationError,
    Statement,
    key_id,
    read_unverified_statement,
    sign_envelope,
    statement_for,
)
from bot.core.audit_events import leaf_data
from bot.core.errors import EvidenceStoreError, ProofConflictError, TamperedEvidenceError
from bot.core.evidence import digest_of
from bot.core.evidence_proof import (
    EVIDENCE_EVENT_TYPE,
    bundle_event,
    evidence_event_payload,
    records_pack,
)
from bot.core.evidence_verify import (
    CheckStatus,
    InclusionVerdict,
    VerifyCheck,
    VerifyReport,
    bundle_inclusion,
    claimed_key_ids,
    inclusion_check,
    signature_check,
    statement_check,
    unverified_envelope,
)
from bot.core.tlog import TlogError
from bot.errors import EucoraError
from bot.flows.check import CheckedChange
from bot.ports import AuditLog, EvidencePorts, EvidenceStore, LogInclusion, TrustedKeySet

_BARE_HEX = re.compile(r"[0-9a-f]{64}")
CONFIGURED_KEY_SIGNS = (
    "EUCORA_SIGNING_KEY is set and every pack stored with it is signed: a pack stored before the"
    " key was set verifies without it"
)
_ENVELOPE_FIELDS = frozenset({"payload", "payloadType", "signatures"})
# the names a store gives a pack's envelope and proof bundle beside it (kept in an auditor's copy)
ENVELOPE_SUFFIX = ".dsse.json"
PROOF_SUFFIX = ".tlog-proof"


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


def store_pack(pack: Mapping[str, Any], evidence: EvidencePorts) -> StoredEvidence:
    """Store a pack (write-once); sign and store its envelope when a signing key is configured.

    Raises:
        TamperedEvidenceError: another body already sits at the pack's digest.
        EnvelopeConflictError: another envelope is already stored for it.
        KeyFileError: the configured signing key cannot be read.
        OSError: the store cannot be written.
    """
    store = evidence.store
    digest = store.put(pack)
    signer = evidence.keys.pack_signer()
    if signer is None:
        return StoredEvidence(digest=digest, path=store.pack_path(digest))
    envelope = sign_envelope(statement_for(pack, digest), signer)
    return StoredEvidence(
        digest=digest,
        path=store.pack_path(digest),
        envelope_path=store.put_envelope(digest, envelope),
        key_id=key_id(signer.public_key()),
    )


def store_check_pack(run: CheckedChange, evidence: EvidencePorts) -> StoredEvidence:
    """Store the evidence pack of a finished check (see :func:`store_pack`)."""
    stored = store_pack(run.pack, evidence)
    if stored.digest != run.digest:  # the pack was changed after the check computed its digest
        raise EvidenceStoreError(
            f"the check's pack now hashes to {stored.digest}, not {run.digest}"
        )
    return stored


# --- recording in the audit log -------------------------------------------------------------------


EvidenceLog = AuditLog
"""What recording needs from the audit log: the ``bot.ports.AuditLog`` port."""


@dataclass(frozen=True, slots=True, kw_only=True)
class EvidenceContext:
    """What a stored pack is about, for its audit event: who stored it and for which change.

    ``correlation_id`` is the webhook delivery id (or a name for a run without one).
    """

    actor: str
    correlation_id: str
    repository: str
    pr: int | None = None
    head_sha: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordedEvidence:
    """A pack stored, recorded in the audit log and proven under a signed checkpoint.

    ``checkpoint_note`` is the signed checkpoint the proof bundle ``proof_text`` (stored at
    ``proof_path``) is against; ``seq`` is the ``evidence.stored`` event's place in the log.
    """

    digest: str
    seq: int
    checkpoint_note: str
    proof_text: str
    proof_path: Path
    stored: StoredEvidence


def record_evidence(
    pack: Mapping[str, Any],
    evidence: EvidencePorts,
    *,
    log: EvidenceLog,
    context: EvidenceContext,
    now: datetime,
) -> RecordedEvidence:
    """Store a pack, record it in the audit log, sign a checkpoint, write its proof bundle.

    Steps: store the pack write-once (signed when a key is configured, see :func:`store_pack`);
    append an ``evidence.stored`` event naming its digest (unless the change already has one:
    recording again after a crash appends nothing twice); sign a checkpoint now, so the event is
    covered at once; write the proof bundle (the event, its inclusion proof, the signed
    checkpoint) next to the pack, write-once. A pack already proven returns its stored bundle.
    The checkpoint is signed by ``evidence.keys.checkpoint_signer()`` (``EUCORA_SIGNING_KEY``,
    else ``<home>/keys/audit.key``, created once).

    Raises:
        AuditIntegrityError: the log does not verify, so no checkpoint is signed.
        TamperedEvidenceError: the pack's stored bytes or its stored proof were changed.
        StorageError, OSError: the database or the store cannot be written.
    """
    store = evidence.store
    stored = store_pack(pack, evidence)
    digest = stored.digest
    existing = store.get_proof(digest)
    if existing is not None:
        return _recorded(stored, store, existing)
    event = next(
        (
            e
            for e in log.events(repository=context.repository, pr=context.pr)
            if records_pack(e, digest)
        ),
        None,
    )
    if event is None:
        event = log.append(
            type=EVIDENCE_EVENT_TYPE,
            actor=context.actor,
            correlation_id=context.correlation_id,
            repository=context.repository,
            pr=context.pr,
            head_sha=context.head_sha,
            payload=evidence_event_payload(digest, pack.get("kind"), stored.key_id),
            time=now,
        )
    log.checkpoint(evidence.keys.checkpoint_signer(), time=now)
    proof = log.inclusion_proof(event.seq, extra=leaf_data(event))
    try:
        store.put_proof(digest, proof)
    except ProofConflictError:  # another recorder of the same pack wrote its bundle first
        proof_bytes = store.get_proof(digest)
        if proof_bytes is None:  # pragma: no cover - a bundle is never deleted
            raise
        return _recorded(stored, store, proof_bytes)
    return _recorded(stored, store, proof.encode("utf-8"))


def record_check_evidence(
    run: CheckedChange,
    evidence: EvidencePorts,
    *,
    log: EvidenceLog,
    context: EvidenceContext,
    now: datetime,
) -> RecordedEvidence:
    """Record the evidence pack of a finished check (see :func:`record_evidence`)."""
    if digest_of(run.pack) != run.digest:
        raise EvidenceStoreError(
            f"the check's pack now hashes to {digest_of(run.pack)}, not {run.digest}"
        )
    return record_evidence(run.pack, evidence, log=log, context=context, now=now)


def _recorded(stored: StoredEvidence, store: EvidenceStore, proof: bytes) -> RecordedEvidence:
    """The recording a stored proof bundle describes; one that does not parse is tamper evidence."""
    try:
        text = proof.decode("utf-8")
        bundle, event = bundle_event(text)
    except (UnicodeDecodeError, TlogError) as error:
        raise TamperedEvidenceError(
            f"{store.proof_path(stored.digest)} is not a proof bundle any more: {error}"
        ) from None
    if not records_pack(event, stored.digest):
        raise TamperedEvidenceError(
            f"{store.proof_path(stored.digest)} proves another event than {stored.digest}'s"
        )
    return RecordedEvidence(
        digest=stored.digest,
        seq=event.seq,
        checkpoint_note=bundle.checkpoint,
        proof_text=text,
        proof_path=store.proof_path(stored.digest),
        stored=stored,
    )


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


def show(ref: str, store: EvidenceStore) -> ShownEvidence:
    """Read the pack a reference names, with its envelope; re-hashes packs read from ``store``.

    Raises:
        EvidenceRefError: the reference names no readable evidence.
        InvalidDigestError, EvidenceNotFoundError: a malformed or unknown digest.
        TamperedEvidenceError: the bytes no longer hash to the digest that names them.
    """
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
        key_ids=claimed_key_ids(found.envelope),
    )


# --- verifying ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProofBundleInclusion:
    """Inclusion checked offline from a proof bundle with the trusted keys.

    ``required``: a missing bundle fails (an auditor named the keys) instead of being skipped.
    """

    bundle: bytes | None
    keys: TrustedKeySet
    required: bool = False
    source: str = "the proof bundle"

    def __call__(self, digest: str) -> InclusionVerdict:
        """Check the bundle against the digest and the keys (``bundle_inclusion``)."""
        return bundle_inclusion(
            self.bundle,
            digest,
            verifier_keys=self.keys.verifier_keys,
            public_keys=self.keys.public_keys,
            required=self.required,
            source=self.source,
        )


def verify(  # noqa: PLR0913 - the reference, where to look, and what to trust
    ref: str,
    evidence: EvidencePorts,
    *,
    public_key_pem: bytes | None = None,
    public_keys: Sequence[str | bytes] = (),
    proof: Path | None = None,
    inclusion: LogInclusion | None = None,
) -> VerifyReport:
    """Verify the evidence a reference names: digest, signature, statement and log inclusion.

    ``public_keys`` (PEM, or signed-note verifier keys, as text or files; ``public_key_pem`` is
    one more) are what an auditor trusts: the pack must then be signed by one of them *and*
    proven in the log under a checkpoint one of them signed, offline from its proof bundle.
    Without them, ``evidence.keys.configured()`` are used (``EUCORA_SIGNING_KEY``'s public half,
    the audit key under ``EUCORA_HOME``), and a pack with no bundle skips that check; a pack with
    no envelope fails when the keys sign packs (``EUCORA_SIGNING_KEY`` is set: every pack stored
    with it is signed, so a missing envelope is a stripped signature) and skips it otherwise.
    ``proof`` names the bundle; by default it is the ``.tlog-proof`` next to the file or in the
    store. ``inclusion`` replaces the bundle check.

    Raises:
        EvidenceRefError: the reference names no readable evidence.
        InvalidDigestError, EvidenceNotFoundError: a malformed or unknown digest.
        SigningKeyError: a public key (or configured key) cannot be read.
        OSError: the ``proof`` file cannot be read.
    """
    store = evidence.store
    given = [*public_keys, *([public_key_pem] if public_key_pem is not None else [])]
    required = bool(given)
    keys = evidence.keys.given(given) if required else evidence.keys.configured()
    found = _find(ref, store)
    checks: list[VerifyCheck] = []
    if found.digest_check is not None:
        checks.append(found.digest_check)
    signature, statement = signature_check(
        found.envelope,
        keys.ed25519(),
        required=required or evidence.keys.signs_packs,
        why_required="" if required else CONFIGURED_KEY_SIGNS,
    )
    checks.append(signature)

    pack, digest = found.pack, found.digest
    if inclusion is None:
        bundle, source = _proof_bundle(found, digest, store, proof)
        inclusion = ProofBundleInclusion(bundle, keys, required=required, source=source)
    if pack is None:  # an envelope file: the pack is what the signed Statement says it is
        if statement is None:
            checks.append(unverified_envelope(found.source))
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
        checks.append(statement_check(statement, pack, digest))
    return _report(found, digest, checks, statement, inclusion)


def _proof_bundle(
    found: _Found, digest: str, store: EvidenceStore, proof: Path | None
) -> tuple[bytes | None, str]:
    """The proof bundle's bytes (given, next to the file, or in the store) and where it was."""
    if proof is not None:
        return proof.read_bytes(), str(proof)
    if found.proof_path is not None and found.proof_path.is_file():
        return found.proof_path.read_bytes(), str(found.proof_path)
    if not digest:
        return None, ""
    return store.get_proof(digest), str(store.proof_path(digest))


def _report(
    found: _Found,
    digest: str,
    checks: list[VerifyCheck],
    statement: Statement | None,
    inclusion: LogInclusion | None,
) -> VerifyReport:
    checks.append(inclusion_check(digest, inclusion))
    return VerifyReport(
        digest=digest,
        source=found.source,
        checks=tuple(checks),
        key_ids=statement.verified_by if statement is not None else (),
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
    proof_path: Path | None = None


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
    source = str(store.pack_path(digest))  # InvalidDigestError for a malformed digest
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
        name = path.name.removesuffix(ENVELOPE_SUFFIX)
        return _Found(
            source=str(path),
            digest="",
            pack=None,
            envelope=value,
            digest_check=None,
            proof_path=path.with_name(name + PROOF_SUFFIX) if _BARE_HEX.fullmatch(name) else None,
        )
    digest = digest_of(value)
    check = VerifyCheck("digest", CheckStatus.OK, f"the file's pack hashes to {digest}")
    envelope_bytes: bytes | None = None
    name = path.name.removesuffix(".json")
    proof_path = path.with_name(name + PROOF_SUFFIX) if _BARE_HEX.fullmatch(name) else None
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
        proof_path=proof_path,
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
