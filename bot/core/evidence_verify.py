"""The offline verifier's checks of an evidence pack: pure verdicts on bytes already read.

``bot.flows.evidence.verify`` finds the pack, its envelope and its proof bundle (files, the
store) and asks these functions what each check says:

* ``signature``: a DSSE signature over the in-toto Statement holds for a trusted key
  (``signature_check``);
* ``statement``: the signed Statement names the pack's digest, has the predicate type of the
  pack's kind, and its predicate is the pack (``statement_check``);
* ``inclusion``: the proof bundle carries the ``evidence.stored`` audit event naming the digest,
  its inclusion proof and a checkpoint a trusted key signed (``bundle_inclusion``,
  ``inclusion_check``).

Each check is ok, failed or skipped, with a sentence saying why; a report holds when none failed.
Nothing here reads a file or the clock: keys, envelopes and bundles are passed in.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from bot.core.attestation import PREDICATE_TYPES, AttestationError, Statement, verify_envelope
from bot.core.evidence import canonical_json
from bot.core.evidence_proof import verify_evidence_proof
from bot.core.tlog import TlogError


class CheckStatus(StrEnum):
    """How one verification check came out."""

    OK = "ok"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True, slots=True)
class InclusionVerdict:
    """The audit log's answer: whether the pack is in the log, and why (or why not).

    ``skipped`` when there was nothing to check (no proof bundle and none required).
    """

    ok: bool
    why: str
    skipped: bool = False


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

    @property
    def verdict(self) -> str:
        """The verdict in words: "verified" only when no check failed and a signature held."""
        if not self.ok:
            return "NOT verified"
        signed = any(c.name == "signature" and c.status is CheckStatus.OK for c in self.checks)
        return "verified" if signed else "digest holds, NOT signed (no signature was checked)"

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data."""
        return {
            "digest": self.digest,
            "source": self.source,
            "verified": self.ok,
            "verifiedBy": list(self.key_ids),
            "checks": [c.as_dict() for c in self.checks],
        }


def bundle_inclusion(  # noqa: PLR0913 - the bundle, the digest, the keys, and how to report
    bundle: bytes | None,
    digest: str,
    *,
    verifier_keys: Sequence[str],
    public_keys: Sequence[bytes],
    required: bool = False,
    source: str = "the proof bundle",
) -> InclusionVerdict:
    """Whether a proof bundle shows the log recorded the pack (``verify_evidence_proof``).

    No bundle is skipped unless ``required`` (an auditor named the keys); a bundle with no key to
    check its checkpoint fails. ``source`` names the bundle in the sentences.
    """
    if bundle is None:
        why = "no proof bundle (.tlog-proof): the pack was not recorded in an audit log"
        return InclusionVerdict(ok=not required, why=why, skipped=not required)
    if not verifier_keys and not public_keys:
        return InclusionVerdict(
            ok=False,
            why="the pack has a proof bundle, but there is no key to check its checkpoint:"
            " pass --public-key (the log's key, PEM or name+id+base64)",
        )
    try:
        proven = verify_evidence_proof(
            bundle.decode("utf-8"),
            digest,
            verifier_keys=verifier_keys,
            public_keys=public_keys,
        )
    except UnicodeDecodeError:
        return InclusionVerdict(ok=False, why=f"{source} is not UTF-8 text")
    except (TlogError, ValueError) as error:
        return InclusionVerdict(ok=False, why=f"{source}: {error}")
    checkpoint = proven.checkpoint
    return InclusionVerdict(
        ok=True,
        why=f"audit event {proven.event.seq} records it, in the checkpoint of"
        f" {checkpoint.size} events signed for {checkpoint.origin}",
    )


def signature_check(
    envelope: Mapping[str, Any] | None,
    keys: Sequence[Ed25519PublicKey],
    *,
    required: bool,
    why_required: str = "",
) -> tuple[VerifyCheck, Statement | None]:
    """The ``signature`` check of an envelope (or of its absence), and the Statement it proved.

    ``why_required`` is said after a missing signature that ``required`` made a failure.
    """
    if envelope is None:
        status = CheckStatus.FAILED if required else CheckStatus.SKIPPED
        detail = "the pack is not signed (no DSSE envelope)"
        if required and why_required:
            detail += f", but {why_required}"
        return VerifyCheck("signature", status, detail), None
    if not keys:
        return VerifyCheck(
            "signature",
            CheckStatus.FAILED,
            "the pack is signed, but there is no public key to check it with:"
            " pass --public-key or set EUCORA_SIGNING_KEY",
        ), None
    try:
        statement = verify_envelope(envelope, list(keys))
    except AttestationError as error:
        return VerifyCheck("signature", CheckStatus.FAILED, str(error)), None
    by = ", ".join(statement.verified_by)
    return VerifyCheck("signature", CheckStatus.OK, f"DSSE signature by key {by}"), statement


def statement_check(statement: Statement, pack: Mapping[str, Any], digest: str) -> VerifyCheck:
    """The ``statement`` check: the signed Statement is about this pack, of its kind."""
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


def inclusion_check(
    digest: str, inclusion: Callable[[str], InclusionVerdict] | None
) -> VerifyCheck:
    """The ``inclusion`` check: ``inclusion``'s verdict on the digest, skipped without either."""
    if inclusion is None:
        return VerifyCheck("inclusion", CheckStatus.SKIPPED, "no audit log was given to check")
    if not digest:
        return VerifyCheck("inclusion", CheckStatus.SKIPPED, "no digest to look up")
    verdict = inclusion(digest)
    status = CheckStatus.OK if verdict.ok else CheckStatus.FAILED
    return VerifyCheck("inclusion", CheckStatus.SKIPPED if verdict.skipped else status, verdict.why)


def unverified_envelope(source: str) -> VerifyCheck:
    """The failed ``digest`` check of an envelope file whose signature did not verify."""
    return VerifyCheck(
        "digest",
        CheckStatus.FAILED,
        f"{source} is an envelope whose signature did not verify: its pack is unknown",
    )


def claimed_key_ids(envelope: Mapping[str, Any] | None) -> tuple[str, ...]:
    """The keyids an envelope's signatures claim (unauthenticated hints for people)."""
    signatures = envelope.get("signatures") if envelope is not None else None
    if not isinstance(signatures, list):
        return ()
    return tuple(
        str(s.get("keyid", "")) for s in signatures if isinstance(s, dict) and s.get("keyid")
    )
