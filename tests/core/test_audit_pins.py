"""Pinned bytes of the audit trail: what a refactor of the audit modules must leave unchanged.

A fixed list of events (fixed times, a fixed key: Ed25519 signatures are deterministic) must give
the same event hashes, Merkle root, signed checkpoint note, proofs and export lines as the day
these pins were taken. The values were computed once by the code as it stood and written here;
a change to any of them changes what stored logs, exports and proof bundles hold.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from bot.core.audit_chain import StoredCheckpoint, verify_chain
from bot.core.audit_events import (
    GENESIS_HASH,
    AuditEvent,
    event_leaf_hash,
    format_event_time,
    leaf_data,
    seal_event,
)
from bot.core.audit_export import (
    ExportFilters,
    checkpoint_line,
    event_line,
    export_header_line,
    inclusion_line,
    verify_export,
)
from bot.core.render.audit import render_report, render_story
from bot.core.tlog import (
    Checkpoint,
    Ed25519Signer,
    MerkleLevels,
    consistency_proof,
    inclusion_proof,
    root_hash,
    sign_checkpoint,
)

SIGNER = Ed25519Signer("eucora/pins", hashlib.sha256(b"audit pins key").digest())
T0 = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)
TYPES = (
    "webhook.received",
    "pull_request.evaluated",
    "evidence.stored",
    "approval.counted",
    "merge.accepted",
    "publication.started",
    "publication.succeeded",
)


def pinned_events() -> list[AuditEvent]:
    """Seven events of one change, every field set, one with a null PR and head."""
    events: list[AuditEvent] = []
    previous = GENESIS_HASH
    for seq, kind in enumerate(TYPES, 1):
        event = seal_event(
            seq=seq,
            time=format_event_time(T0 + timedelta(seconds=seq, microseconds=seq)),
            type=kind,
            actor="eucora[bot]" if seq % 2 else "octocat",
            correlation_id=f"delivery-{seq}",
            repository="acme/intents",
            pr=None if seq == 1 else 42,
            head_sha=None if seq == 1 else "a" * 40,
            payload={"seq": seq, "ünïcode": "é", "n": [1, 2.5, None, True], "z": {"b": 1, "a": 2}},
            prev_hash=previous,
        )
        events.append(event)
        previous = event.hash
    return events


def checkpoint_of(events: list[AuditEvent], size: int) -> StoredCheckpoint:
    leaves = [event_leaf_hash(e) for e in events]
    root = root_hash(leaves[:size])
    note = sign_checkpoint(Checkpoint("eucora/pins", size, root), SIGNER.name, SIGNER.private_key)
    return StoredCheckpoint(size=size, root=root, note=note)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


EVENT_HASHES = (
    "ddc07cf5143ebe73840016fd640c36a514e9cfe205ecfa882377af3b0f9d77db",
    "8c686d004abb3dc00431a3e2bf2080c50a1c2c0e199a59e848a3b4e3597ced64",
    "56c44bb32e7d470e9a3766ffffb67f64edc693bfdc6f6885fd73496038757f7f",
    "a8f821ff14c5499ff553af96e08fcfa717f9ec7c0330f20291e4931aadc8ab3b",
    "e2b18a758f8d20080c6cee5fd4be5ba85c2715bef88ff392e262c9ff9ee6b34f",
    "a82013b15bcd6d59d7bcbd6a4127b9b4737e2328f379ac34f7d1d1feeb1a6dde",
    "22e2acd54b2d5423407237fd3196ee9db379faa1725a17d2ee3c36f06384dfa8",
)
LEAF_DATA_DIGEST = "14fc0d78e61a913c1eaebd26fbbd8e79e18904461e2321bdd5edbfd5eb6126c0"
ROOT = "8b6c22c2d923a05af690eca663777a591ce438f0f785a3fc4fbf83157ab1e088"
NOTE = (
    "eucora/pins\n"
    "7\n"
    "i2wiwtkjoFr2kOymY3d6WRzkOPD3haP8T7+DFXqx4Ig=\n"
    "\n"
    "— eucora/pins 7RY+VQZsVipBoDiRcYj5BN0nM6iXj1Wsf+sRTE8gKabtwDI/nLvgE0/pgnUuEgQaKLw9tT4AwOnxtAxFXkew4Y9GNQg=\n"
)
EXPORT_DIGEST = "578ec8e2fbdd62314a2d1c9f85f87a7068918e6aa95e45e86b23018aa9ae3825"
FILTERED_EXPORT_DIGEST = "1d94b8a8e49f02ee0ec54d8b0a0a1dd7a120c3579fb03c8ff77feee054fe83fd"
PROOFS_DIGEST = "236e7b59092077810a5b63e99f0031daec05a4e5528490571d720ae7e7684f04"
STORY = (
    "acme/intents#42: 6 events, 2027-01-04T09:00:02.000002Z to 2027-01-04T09:00:07.000007Z\n"
    '  #2      2027-01-04T09:00:02.000002Z  pull_request.evaluated  by octocat  @aaaaaaa  [delivery-2]  {"n":[1,2.5,null,true],"seq":2,"z":{"a":2,"b":1},"\\u00fcn\\u00efcode":"\\u00e9"}\n'
    '  #3      2027-01-04T09:00:03.000003Z  evidence.stored  by eucora[bot]  @aaaaaaa  [delivery-3]  {"n":[1,2.5,null,true],"seq":3,"z":{"a":2,"b":1},"\\u00fcn\\u00efcode":"\\u00e9"}\n'
    '  #4      2027-01-04T09:00:04.000004Z  approval.counted  by octocat  @aaaaaaa  [delivery-4]  {"n":[1,2.5,null,true],"seq":4,"z":{"a":2,"b":1},"\\u00fcn\\u00efcode":"\\u00e9"}\n'
    '  #5      2027-01-04T09:00:05.000005Z  merge.accepted  by eucora[bot]  @aaaaaaa  [delivery-5]  {"n":[1,2.5,null,true],"seq":5,"z":{"a":2,"b":1},"\\u00fcn\\u00efcode":"\\u00e9"}\n'
    '  #6      2027-01-04T09:00:06.000006Z  publication.started  by octocat  @aaaaaaa  [delivery-6]  {"n":[1,2.5,null,true],"seq":6,"z":{"a":2,"b":1},"\\u00fcn\\u00efcode":"\\u00e9"}\n'
    '  #7      2027-01-04T09:00:07.000007Z  publication.succeeded  by eucora[bot]  @aaaaaaa  [delivery-7]  {"n":[1,2.5,null,true],"seq":7,"z":{"a":2,"b":1},"\\u00fcn\\u00efcode":"\\u00e9"}\n'
)
REPORT = "OK: audit log: 7 events, chain intact; 1 checkpoint verified (signatures checked), latest at size 4\n"


def test_event_hashes_are_pinned() -> None:
    assert tuple(e.hash for e in pinned_events()) == EVENT_HASHES


def test_leaf_data_is_pinned() -> None:
    assert sha(b"".join(leaf_data(e) for e in pinned_events())) == LEAF_DATA_DIGEST


def test_merkle_root_and_checkpoint_note_are_pinned() -> None:
    checkpoint = checkpoint_of(pinned_events(), 7)
    assert checkpoint.root.hex() == ROOT
    assert checkpoint.note == NOTE


def test_proofs_are_pinned() -> None:
    leaves = [event_leaf_hash(e) for e in pinned_events()]
    proofs = [h for i in range(7) for h in inclusion_proof(leaves, i, 7)]
    proofs += [h for old in range(1, 8) for h in consistency_proof(leaves, old, 7)]
    assert sha(b"".join(proofs)) == PROOFS_DIGEST


def test_proofs_over_kept_levels_are_the_pinned_ones() -> None:
    levels = MerkleLevels([event_leaf_hash(e) for e in pinned_events()])
    proofs = [h for i in range(7) for h in levels.inclusion_proof(i, 7)]
    proofs += [h for old in range(1, 8) for h in levels.consistency_proof(old, 7)]
    assert sha(b"".join(proofs)) == PROOFS_DIGEST
    assert levels.root().hex() == ROOT


def export_bytes(filters: ExportFilters) -> bytes:
    events = pinned_events()
    first, latest = checkpoint_of(events, 4), checkpoint_of(events, 7)
    leaves = [event_leaf_hash(e) for e in events]
    latest = StoredCheckpoint(
        size=7,
        root=latest.root,
        note=latest.note,
        consistency=tuple(consistency_proof(leaves, 4, 7)),
    )
    lines = [export_header_line(filters, 7), checkpoint_line(first), checkpoint_line(latest)]
    for event in events:
        if filters.matches(event):
            lines.append(event_line(event))
            if not filters.complete:
                lines.append(inclusion_line(event.seq, inclusion_proof(leaves, event.seq - 1, 7)))
    return b"".join(lines)


def test_export_lines_are_pinned() -> None:
    keys = [SIGNER.verifier.verifier_key]
    for filters in (ExportFilters(), ExportFilters(pr=42, since="2027-01-04T09:00:03")):
        assert verify_export(export_bytes(filters).splitlines(), keys).ok
    assert sha(export_bytes(ExportFilters())) == EXPORT_DIGEST
    assert sha(export_bytes(ExportFilters(pr=42, since="2027-01-04T09:00:03"))) == (
        FILTERED_EXPORT_DIGEST
    )


def test_renderings_are_pinned() -> None:
    events = pinned_events()
    assert render_story(events[1:], pr=42, repository="acme/intents") == STORY
    report = verify_chain(events, [checkpoint_of(events, 4)], [SIGNER.verifier.verifier_key])
    assert render_report(report) == REPORT
