"""Evidence proof bundles, pure: the event recording a pack, its proof, and every way they fail."""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import UTC, datetime, timedelta

import pytest

from bot.core.audit_events import (
    GENESIS_HASH,
    AuditEvent,
    event_leaf_hash,
    format_event_time,
    leaf_data,
    seal_event,
)
from bot.core.evidence_proof import (
    EVIDENCE_EVENT_TYPE,
    EvidenceProofError,
    bundle_event,
    checkpoint_markdown,
    evidence_event_payload,
    format_evidence_proof,
    records_pack,
    verify_evidence_proof,
)
from bot.core.tlog import (
    Checkpoint,
    Ed25519Signer,
    TlogError,
    format_proof,
    inclusion_proof,
    parse_proof,
    root_hash,
    sign_checkpoint,
)

SIGNER = Ed25519Signer("eucora/audit", hashlib.sha256(b"evidence proof key").digest())
OTHER = Ed25519Signer("eucora/audit", hashlib.sha256(b"someone else").digest())
DIGEST = "sha256:" + "ab" * 32
T0 = datetime(2027, 2, 17, 9, 0, tzinfo=UTC)


def log_with_pack(size: int = 11, at: int = 6) -> tuple[list[AuditEvent], AuditEvent]:
    """A chain of ``size`` events whose event ``at`` records the pack DIGEST."""
    events: list[AuditEvent] = []
    previous = GENESIS_HASH
    for seq in range(1, size + 1):
        recording = seq == at
        event = seal_event(
            seq=seq,
            time=format_event_time(T0 + timedelta(seconds=seq)),
            type=EVIDENCE_EVENT_TYPE if recording else "pull_request.evaluated",
            actor="eucora[bot]",
            correlation_id=f"delivery-{seq}",
            repository="acme/intents",
            pr=7,
            head_sha="c" * 40,
            payload=evidence_event_payload(DIGEST, "check", None) if recording else {"n": seq},
            prev_hash=previous,
        )
        events.append(event)
        previous = event.hash
    return events, events[at - 1]


def bundle(events: list[AuditEvent], event: AuditEvent, signer: Ed25519Signer = SIGNER) -> str:
    leaves = [event_leaf_hash(e) for e in events]
    checkpoint = Checkpoint("eucora/audit", len(leaves), root_hash(leaves))
    note = sign_checkpoint(checkpoint, signer.name, signer.private_key)
    proof = inclusion_proof(leaves, event.seq - 1, len(leaves))
    return format_evidence_proof(event, proof, note)


def test_a_bundle_proves_the_pack_with_a_verifier_key_or_a_raw_public_key() -> None:
    events, event = log_with_pack()
    text = bundle(events, event)
    proven = verify_evidence_proof(text, DIGEST, verifier_keys=[SIGNER.verifier.verifier_key])
    assert (proven.event, proven.checkpoint.size) == (event, 11)
    assert proven.note in text
    assert verify_evidence_proof(text, DIGEST, public_keys=[SIGNER.public_key]).event == event


def test_the_bundle_is_a_c2sp_tlog_proof_carrying_the_event() -> None:
    events, event = log_with_pack()
    text = bundle(events, event)
    assert text.startswith("c2sp.org/tlog-proof@v1\nextra ")
    parsed = parse_proof(text)
    assert parsed.index == event.seq - 1
    assert bundle_event(text) == (parsed, event)


@pytest.mark.parametrize(("size", "at"), [(1, 1), (2, 1), (2, 2), (7, 7), (64, 33)])
def test_bundles_verify_at_every_place(size: int, at: int) -> None:
    events, event = log_with_pack(size, at)
    assert verify_evidence_proof(bundle(events, event), DIGEST, public_keys=[SIGNER.public_key])


def test_another_digest_or_key_fails() -> None:
    events, event = log_with_pack()
    text = bundle(events, event)
    with pytest.raises(EvidenceProofError, match="does not record"):
        verify_evidence_proof(text, "sha256:" + "cd" * 32, public_keys=[SIGNER.public_key])
    with pytest.raises(TlogError, match="not signed by any key"):
        verify_evidence_proof(text, DIGEST, public_keys=[OTHER.public_key])
    with pytest.raises(TlogError, match="not signed by any key"):
        verify_evidence_proof(text, DIGEST)
    with pytest.raises(TlogError, match="no signature from a known key"):
        verify_evidence_proof(text, DIGEST, verifier_keys=[OTHER.verifier.verifier_key])


def test_a_bundle_for_another_event_of_the_log_fails() -> None:
    events, _ = log_with_pack()
    with pytest.raises(EvidenceProofError, match="does not record"):
        verify_evidence_proof(bundle(events, events[2]), DIGEST, public_keys=[SIGNER.public_key])


def test_a_bundle_whose_event_was_rewritten_and_resealed_fails() -> None:
    """A forged event hashing correctly is still not the leaf the signed tree holds."""
    events, event = log_with_pack()
    fields = {f.name: getattr(event, f.name) for f in dataclasses.fields(event) if f.name != "hash"}
    forged = seal_event(**{**fields, "actor": "mallory"})
    good = parse_proof(bundle(events, event))
    text = format_proof(dataclasses.replace(good, extra=leaf_data(forged)))
    with pytest.raises(TlogError, match="different root"):
        verify_evidence_proof(text, DIGEST, public_keys=[SIGNER.public_key])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda b: dataclasses.replace(b, extra=None), "no extra line"),
        (lambda b: dataclasses.replace(b, extra=b"[1]"), "not an audit event"),
        (lambda b: dataclasses.replace(b, extra=b"{"), "not an audit event"),
        (lambda b: dataclasses.replace(b, extra=b" " + (b.extra or b"")), "canonical"),
        (lambda b: dataclasses.replace(b, index=b.index + 1), "index"),
    ],
    ids=["no-event", "not-an-object", "not-json", "not-canonical", "wrong-index"],
)
def test_malformed_bundles_fail_with_a_sentence(change: object, message: str) -> None:
    events, event = log_with_pack()
    text = format_proof(change(parse_proof(bundle(events, event))))  # type: ignore[operator]
    with pytest.raises(TlogError, match=message):
        verify_evidence_proof(text, DIGEST, public_keys=[SIGNER.public_key])


def test_an_event_that_does_not_hash_to_its_hash_fails() -> None:
    events, event = log_with_pack()
    edited = dataclasses.replace(event, actor="mallory")
    good = parse_proof(bundle(events, event))
    text = format_evidence_proof(edited, good.proof, good.checkpoint)
    with pytest.raises(EvidenceProofError, match="does not hash"):
        bundle_event(text)


def test_changing_any_byte_of_a_bundle_fails() -> None:
    """Every single-byte change (two flips per byte) and every deleted byte breaks the bundle."""
    events, event = log_with_pack(13, 9)
    data = bundle(events, event).encode()
    for position in range(len(data)):
        candidates = [
            data[:position] + bytes([data[position] ^ mask]) + data[position + 1 :]
            for mask in (0x01, 0x20)
        ]
        candidates.append(data[:position] + data[position + 1 :])
        for changed in candidates:
            try:
                text = changed.decode("utf-8")
            except UnicodeDecodeError:
                continue  # the CLI refuses non-UTF-8 bundles before parsing
            with pytest.raises(TlogError):
                verify_evidence_proof(text, DIGEST, public_keys=[SIGNER.public_key])


def test_records_pack() -> None:
    events, event = log_with_pack()
    assert records_pack(event, DIGEST)
    assert not records_pack(events[0], DIGEST)
    assert not records_pack(dataclasses.replace(event, payload=[DIGEST]), DIGEST)
    assert evidence_event_payload(DIGEST, 7, "k") == {"digest": DIGEST, "kind": None, "keyid": "k"}


def test_checkpoint_markdown_quotes_the_note() -> None:
    note = sign_checkpoint(
        Checkpoint("eucora/audit", 3, b"\x01" * 32), SIGNER.name, SIGNER.private_key
    )
    text = checkpoint_markdown(note)
    assert f"```\n{note}```" in text
    assert "eucora evidence verify" in text
    assert checkpoint_markdown(note.rstrip("\n")) == text
