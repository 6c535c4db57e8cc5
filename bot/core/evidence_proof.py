"""Evidence packs in the audit log: the event that records a pack, and its offline proof bundle.

When a pack is stored, an ``evidence.stored`` event naming its digest is appended to the audit
log; once a signed checkpoint covers that event, the pack gets a proof bundle: a
c2sp.org/tlog-proof@v1 text whose ``extra`` line carries the event itself (its leaf data, the
canonical JSON of every field), then the event's inclusion proof and the signed checkpoint. So
one small file next to the pack shows, offline and with only the log's public key, that the log
recorded this digest at this place in a tree its key signed. ``extra`` is unauthenticated by
the format; here it is authenticated by the proof, since its hash is the leaf the proof
includes.

Pure: texts, events and keys come in, nothing reads a file or a clock.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot.core.audit_events import (
    AuditEvent,
    AuditEventType,
    event_from_json,
    leaf_data,
    recompute_hash,
)
from bot.core.tlog import (
    Checkpoint,
    NoteError,
    ProofBundle,
    TlogError,
    format_proof,
    note_verifier_keys,
    parse_proof,
    verify_proof_bundle,
)

EVIDENCE_EVENT_TYPE = AuditEventType.EVIDENCE_STORED
"""The type of the audit event that records a stored evidence pack."""


class EvidenceProofError(TlogError):
    """A proof bundle does not show that the log recorded the pack: the sentence says why."""


def evidence_event_payload(digest: str, kind: object, key_id: str | None) -> dict[str, Any]:
    """The payload of the event recording a pack: its digest, its kind and its signing key."""
    return {"digest": digest, "kind": kind if isinstance(kind, str) else None, "keyid": key_id}


def records_pack(event: AuditEvent, digest: str) -> bool:
    """Whether an event is the record of the pack with this digest."""
    payload = event.payload
    return (
        event.type == EVIDENCE_EVENT_TYPE
        and isinstance(payload, dict)
        and payload.get("digest") == digest
    )


def format_evidence_proof(event: AuditEvent, proof: Sequence[bytes], checkpoint_note: str) -> str:
    """The proof bundle of a recorded pack: the event as ``extra``, its proof, the checkpoint."""
    return format_proof(
        ProofBundle(
            index=event.seq - 1,
            proof=tuple(proof),
            checkpoint=checkpoint_note,
            extra=leaf_data(event),
        )
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class ProvenEvidence:
    """What a proof bundle proved: the event that recorded the pack, in a signed checkpoint."""

    event: AuditEvent
    checkpoint: Checkpoint
    note: str


def bundle_event(text: str) -> tuple[ProofBundle, AuditEvent]:
    """The bundle and the event its ``extra`` carries, checked for form and its own hash only."""
    bundle = parse_proof(text)
    if bundle.extra is None:
        raise EvidenceProofError("the proof bundle does not carry its event (no extra line)")
    try:
        event = event_from_json(json.loads(bundle.extra))
    except (ValueError, RecursionError) as error:
        raise EvidenceProofError(f"the bundle's event is not an audit event: {error}") from None
    if leaf_data(event) != bundle.extra:
        raise EvidenceProofError("the bundle's event is not in its canonical form")
    if recompute_hash(event) != event.hash:
        raise EvidenceProofError(f"event {event.seq} in the bundle does not hash to its hash")
    return bundle, event


def verify_evidence_proof(
    text: str,
    digest: str,
    *,
    verifier_keys: Sequence[str] = (),
    public_keys: Sequence[bytes] = (),
) -> ProvenEvidence:
    """Check offline that the log recorded the pack ``digest`` under a checkpoint a key signed.

    The keys are signed-note verifier keys, or raw Ed25519 public keys (from PEM), which verify
    under the key names the checkpoint's signature lines give. In order: the bundle parses; its
    event is canonical, hashes to its hash and records ``digest``; the proof's index is the
    event's place; the checkpoint is signed by a given key; the proof includes the event's leaf
    in that checkpoint's tree (c2sp.org/tlog-proof). Raises ``TlogError`` (a sentence) when one
    does not hold.
    """
    bundle, event = bundle_event(text)
    if not records_pack(event, digest):
        raise EvidenceProofError(
            f"event {event.seq} in the bundle ({event.type}) does not record {digest}"
        )
    if bundle.index != event.seq - 1:
        raise EvidenceProofError(
            f"the proof is for index {bundle.index}, but event {event.seq} is at {event.seq - 1}"
        )
    keys = list(verifier_keys)
    for public_key in public_keys:
        keys.extend(note_verifier_keys(bundle.checkpoint, public_key))
    if not keys:
        raise NoteError(
            "the checkpoint is not signed by any key given (give the audit log's key too)"
        )
    checkpoint = verify_proof_bundle(text, bundle.extra or b"", keys)
    return ProvenEvidence(event=event, checkpoint=checkpoint, note=bundle.checkpoint)


def checkpoint_markdown(note: str) -> str:
    """The newest signed checkpoint as Markdown, for the PR comment and the check run summary.

    Publishing it where the operator cannot rewrite it (GitHub keeps a copy) is what makes a
    later rewrite of the log visible: any later checkpoint must be consistent with this one.
    """
    body = note if note.endswith("\n") else note + "\n"
    return (
        "Audit log checkpoint (c2sp.org/tlog-checkpoint, signed note):\n\n"
        f"```\n{body}```\n\n"
        "Check an evidence pack offline: `eucora evidence verify FILE --public-key KEY`"
        " (its `.tlog-proof` bundle sits next to it).\n"
    )


__all__ = [
    "EVIDENCE_EVENT_TYPE",
    "EvidenceProofError",
    "ProvenEvidence",
    "bundle_event",
    "checkpoint_markdown",
    "evidence_event_payload",
    "format_evidence_proof",
    "records_pack",
    "verify_evidence_proof",
]
