"""The audit trail's pure core: hashing, the chain, what verify names, exports, Merkle levels."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core.audit_chain import (
    ChainProblem,
    ChainReport,
    ProvenEvent,
    StoredCheckpoint,
    extend_chain,
    verify_chain,
    verify_excerpt,
)
from bot.core.audit_events import (
    EVENT_FIELDS,
    GENESIS_HASH,
    AuditEvent,
    event_from_json,
    event_hash,
    event_json,
    event_leaf_hash,
    format_event_time,
    leaf_data,
    recompute_hash,
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
from bot.core.durations import parse_since
from bot.core.evidence import canonical_json
from bot.core.render.audit import render_report, render_story
from bot.core.tlog import (
    Checkpoint,
    CompactRange,
    Ed25519Signer,
    MerkleLevels,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    root_hash,
    sign_checkpoint,
)

SIGNER = Ed25519Signer("eucora/test", hashlib.sha256(b"core test key").digest())
KEYS = [SIGNER.verifier.verifier_key]
OTHER = Ed25519Signer("eucora/test", hashlib.sha256(b"another key").digest())
T0 = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)


def chain(count: int, *, start: AuditEvent | None = None) -> list[AuditEvent]:
    events: list[AuditEvent] = []
    previous = start
    for i in range(count):
        seq = (previous.seq if previous else 0) + 1
        event = seal_event(
            seq=seq,
            time=format_event_time(T0 + timedelta(seconds=seq)),
            type="pull_request.evaluated",
            actor="eucora[bot]",
            correlation_id=f"delivery-{seq}",
            repository="acme/intents" if i % 4 else "acme/other",
            pr=seq % 3 + 1,
            head_sha=f"{seq:040x}",
            payload={"seq": seq, "decision": "pass", "list": [1, "two", None, True]},
            prev_hash=previous.hash if previous else GENESIS_HASH,
        )
        events.append(event)
        previous = event
    return events


def stored(events: list[AuditEvent], size: int, signer: Ed25519Signer = SIGNER) -> StoredCheckpoint:
    root = root_hash([event_leaf_hash(e) for e in events[:size]])
    note = sign_checkpoint(Checkpoint("eucora/test", size, root), signer.name, signer.private_key)
    return StoredCheckpoint(size=size, root=root, note=note)


def fault_of(report: ChainReport) -> tuple[int | None, ChainProblem]:
    assert report.fault is not None, report
    return report.fault.seq, report.fault.problem


def edited(event: AuditEvent, **changes: Any) -> AuditEvent:
    return dataclasses.replace(event, **changes)


class TestEventHash:
    def test_the_hash_covers_every_field_but_itself(self) -> None:
        """Changing any hashed field changes the hash; the hash is over canonical JSON."""
        event = chain(1)[0]
        body = {k: v for k, v in event_json(event).items() if k != "hash"}
        assert event.hash == hashlib.sha256(canonical_json(body)).hexdigest()
        for name, value in [
            ("seq", 2),
            ("time", "2027-01-04T09:00:02.000000Z"),
            ("type", "x"),
            ("actor", "x"),
            ("correlation_id", "x"),
            ("repository", "x"),
            ("pr", None),
            ("head_sha", None),
            ("payload", {"seq": 1}),
            ("prev_hash", "1" * 64),
        ]:
            assert recompute_hash(edited(event, **{name: value})) != event.hash, name

    def test_key_order_of_the_payload_does_not_matter(self) -> None:
        """The payload is hashed in canonical form: the same data gives the same hash."""
        fields: dict[str, Any] = {
            "seq": 1,
            "time": "2027-01-04T09:00:00.000000Z",
            "type": "t",
            "actor": "a",
            "correlation_id": "c",
            "repository": "r",
            "pr": 1,
            "head_sha": None,
            "prev_hash": GENESIS_HASH,
        }
        assert event_hash(payload={"a": 1, "b": [2, 3]}, **fields) == event_hash(
            payload={"b": [2, 3], "a": 1}, **fields
        )

    def test_leaf_data_is_the_canonical_event_with_its_hash(self) -> None:
        """The Merkle leaf is the canonical JSON of every field, hash included; also the line."""
        event = chain(2)[1]
        data = leaf_data(event)
        assert json.loads(data) == event_json(event)
        assert data == canonical_json(event_json(event))
        assert list(json.loads(data)) == sorted(EVENT_FIELDS)
        assert event_leaf_hash(event) == leaf_hash(data)
        assert event_line(event) == data + b"\n"

    @pytest.mark.parametrize(
        ("changes", "message"),
        [
            ({"seq": 0}, "seq"),
            ({"seq": True}, "seq"),
            ({"time": "2027-01-04T09:00:00Z"}, "time"),
            ({"type": ""}, "type"),
            ({"actor": None}, "actor"),
            ({"pr": -1}, "pr"),
            ({"pr": "1"}, "pr"),
            ({"head_sha": 7}, "head_sha"),
            ({"prev_hash": "ABC"}, "prev_hash"),
            ({"payload": {"x": float("inf")}}, "payload"),
            ({"payload": {"x": 2**60}}, "payload"),
            ({"payload": {"x": object()}}, "payload"),
        ],
    )
    def test_malformed_fields_are_refused(self, changes: dict, message: str) -> None:
        fields = {k: v for k, v in event_json(chain(1)[0]).items() if k != "hash"}
        with pytest.raises(ValueError, match=message):
            seal_event(**{**fields, **changes})

    def test_events_round_trip_through_json(self) -> None:
        for event in chain(5):
            assert event_from_json(json.loads(event_line(event))) == event

    @pytest.mark.parametrize(
        "value",
        [
            [],
            {"seq": 1},
            {**dict.fromkeys(EVENT_FIELDS), "extra": 1},
        ],
    )
    def test_json_that_is_not_an_event_is_refused(self, value: Any) -> None:
        with pytest.raises(ValueError):
            event_from_json(value)


class TestTime:
    def test_times_are_utc_text_with_microseconds(self) -> None:
        moment = datetime(2027, 1, 4, 10, 0, 0, 5, tzinfo=timezone(timedelta(hours=1)))
        assert format_event_time(moment) == "2027-01-04T09:00:00.000005Z"

    def test_text_order_is_time_order(self) -> None:
        moments = [T0 + timedelta(microseconds=n * 999_999) for n in range(50)]
        assert sorted(format_event_time(m) for m in moments) == [
            format_event_time(m) for m in moments
        ]

    def test_a_naive_time_is_refused(self) -> None:
        with pytest.raises(ValueError, match="time zone"):
            format_event_time(datetime(2027, 1, 4))  # noqa: DTZ001 - the point of the test

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("30m", T0 - timedelta(minutes=30)),
            ("24h", T0 - timedelta(hours=24)),
            ("1h30m", T0 - timedelta(minutes=90)),
            ("7d", T0 - timedelta(days=7)),
            ("2w", T0 - timedelta(weeks=2)),
            ("45s", T0 - timedelta(seconds=45)),
            ("2027-01-01T00:00:00Z", datetime(2027, 1, 1, tzinfo=UTC)),
            ("2027-01-01T01:00:00+01:00", datetime(2027, 1, 1, tzinfo=UTC)),
        ],
    )
    def test_since_takes_durations_and_times(self, text: str, expected: datetime) -> None:
        assert parse_since(text, now=T0) == expected

    @pytest.mark.parametrize("text", ["yesterday", "10", "5y", "2027-01-01T00:00:00", ""])
    def test_since_refuses_anything_else(self, text: str) -> None:
        with pytest.raises(ValueError):
            parse_since(text, now=T0)


class TestVerifyChain:
    def test_an_intact_chain_verifies(self) -> None:
        events = chain(20)
        report = verify_chain(events, [stored(events, 7), stored(events, 20)], KEYS)
        assert report.ok
        assert report.size == 20
        assert report.head_hash == events[-1].hash
        assert report.root == root_hash([event_leaf_hash(e) for e in events])
        assert report.checkpoints == (7, 20)
        assert report.signatures_checked

    def test_the_empty_log_verifies(self) -> None:
        report = verify_chain([])
        assert report.ok
        assert report.size == 0

    def test_an_edit_is_named(self) -> None:
        events = chain(10)
        events[4] = edited(events[4], actor="mallory")
        assert fault_of(verify_chain(events)) == (5, ChainProblem.EDITED)

    def test_a_deletion_is_named(self) -> None:
        events = chain(10)
        del events[4]
        report = verify_chain(events)
        assert fault_of(report) == (5, ChainProblem.MISSING)
        assert report.size == 4

    def test_several_deleted_events_are_counted(self) -> None:
        events = chain(10)
        del events[3:6]
        report = verify_chain(events)
        assert fault_of(report) == (4, ChainProblem.MISSING)
        assert "with 2 more" in report.fault.message  # type: ignore[union-attr]

    def test_a_deletion_at_the_tail_is_named_by_a_checkpoint(self) -> None:
        events = chain(10)
        checkpoint = stored(events, 10)
        assert fault_of(verify_chain(events[:8], [checkpoint], KEYS)) == (9, ChainProblem.MISSING)

    def test_an_insertion_is_named(self) -> None:
        """An event slipped in (later ones renumbered) is named, not the one after it."""
        events = chain(10)
        forged = seal_event(
            **{
                **{k: v for k, v in event_json(events[3]).items() if k != "hash"},
                "seq": 5,
                "actor": "mallory",
                "prev_hash": events[3].hash,
            }
        )
        shifted = [edited(e, seq=e.seq + 1) for e in events[4:]]
        tampered = [*events[:4], forged, *shifted]
        assert fault_of(verify_chain(tampered)) == (5, ChainProblem.INSERTED)

    def test_a_swap_is_named(self) -> None:
        events = chain(10)
        swapped = [*events[:3], edited(events[4], seq=4), edited(events[3], seq=5), *events[5:]]
        assert fault_of(verify_chain(swapped)) == (4, ChainProblem.REORDERED)

    def test_a_swap_of_the_last_two_is_named(self) -> None:
        events = chain(5)
        swapped = [*events[:3], edited(events[4], seq=4), edited(events[3], seq=5)]
        assert fault_of(verify_chain(swapped)) == (4, ChainProblem.REORDERED)

    def test_a_replaced_and_rehashed_event_breaks_the_next_link(self) -> None:
        events = chain(6)
        replaced = seal_event(
            **{k: v for k, v in event_json(events[2]).items() if k not in {"hash", "actor"}},
            actor="mallory",
        )
        tampered = [*events[:2], replaced, *events[3:]]
        report = verify_chain(tampered)
        assert fault_of(report) == (4, ChainProblem.BROKEN_LINK)
        assert "event 3 was replaced" in report.fault.message  # type: ignore[union-attr]

    def test_a_repeated_event_is_out_of_order(self) -> None:
        events = chain(4)
        assert fault_of(verify_chain([*events[:3], events[2], events[3]])) == (
            3,
            ChainProblem.OUT_OF_ORDER,
        )

    def test_a_first_event_not_linking_to_genesis_is_named(self) -> None:
        events = chain(3)
        events[0] = seal_event(
            **{
                **{k: v for k, v in event_json(events[0]).items() if k != "hash"},
                "prev_hash": "1" * 64,
            }
        )
        assert fault_of(verify_chain(events)) == (1, ChainProblem.BROKEN_LINK)

    def test_a_rewritten_chain_fails_its_checkpoint(self) -> None:
        events = chain(8)
        checkpoint = stored(events, 8)
        rewritten = chain(8)
        rewritten[2:] = []
        first = event_json(chain(3)[2])
        first.pop("hash")
        rewritten.append(seal_event(**{**first, "actor": "mallory"}))
        rewritten.extend(chain(5, start=rewritten[-1]))
        report = verify_chain(rewritten, [checkpoint], KEYS)
        assert report.fault is None
        assert [f.size for f in report.checkpoint_faults] == [8]
        assert not report.ok

    def test_checkpoint_signatures_are_checked_with_the_keys(self) -> None:
        events = chain(6)
        good, forged = stored(events, 3), stored(events, 6, OTHER)
        report = verify_chain(events, [good, forged], KEYS)
        assert report.checkpoints == (3,)
        assert [f.size for f in report.checkpoint_faults] == [6]
        assert "signature" in report.checkpoint_faults[0].message

    def test_without_keys_signatures_are_not_checked(self) -> None:
        events = chain(6)
        report = verify_chain(events, [stored(events, 6, OTHER)])
        assert report.ok
        assert not report.signatures_checked

    def test_a_checkpoint_row_must_match_its_note(self) -> None:
        events = chain(6)
        checkpoint = dataclasses.replace(stored(events, 6), root=b"\x00" * 32)
        report = verify_chain(events, [checkpoint], KEYS)
        assert "differ from the signed note" in report.checkpoint_faults[0].message

    def test_malformed_and_duplicate_checkpoints_are_faults(self) -> None:
        events = chain(4)
        bad = StoredCheckpoint(size=2, root=b"\x00" * 32, note="not a note")
        empty = StoredCheckpoint(size=0, root=b"\x00" * 32, note=stored(events, 1).note)
        report = verify_chain(events, [stored(events, 3), stored(events, 3), bad, empty])
        assert sorted(f.size for f in report.checkpoint_faults) == [0, 2, 3]
        assert report.checkpoints == (3,)

    def test_signed_only_refuses_events_no_checkpoint_covers(self) -> None:
        events = chain(6)
        report = verify_chain(events, [stored(events, 4)], KEYS, signed_only=True)
        assert fault_of(report) == (5, ChainProblem.NOT_COVERED)

    def test_leaves_are_collected_for_the_caller(self) -> None:
        events = chain(5)
        leaves: list[bytes] = []
        verify_chain(events, leaves=leaves)
        assert leaves == [event_leaf_hash(e) for e in events]


class TestMerkleLevels:
    @pytest.mark.parametrize("size", [*range(1, 34), 63, 64, 65, 100])
    def test_proofs_and_roots_match_the_reference(self, size: int) -> None:
        """Every root, inclusion and consistency proof equals bot.core.tlog's."""
        leaves = [leaf_hash(str(i).encode()) for i in range(size)]
        levels = MerkleLevels(leaves)
        for n in range(1, size + 1):
            assert levels.root(n) == root_hash(leaves[:n])
            for index in range(n):
                assert levels.inclusion_proof(index, n) == inclusion_proof(leaves, index, n)
            if size <= 40:
                for old in range(1, n + 1):
                    assert levels.consistency_proof(old, n) == consistency_proof(leaves, old, n)

    @given(st.integers(1, 3000), st.data())
    def test_random_proofs_match_the_reference(self, size: int, data: st.DataObject) -> None:
        leaves = [hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(size)]
        levels = MerkleLevels(leaves)
        n = data.draw(st.integers(1, size))
        index = data.draw(st.integers(0, n - 1))
        old = data.draw(st.integers(1, n))
        assert levels.inclusion_proof(index, n) == inclusion_proof(leaves, index, n)
        assert levels.consistency_proof(old, n) == consistency_proof(leaves, old, n)

    def test_out_of_range_is_refused(self) -> None:
        levels = MerkleLevels([leaf_hash(b"a"), leaf_hash(b"b")])
        assert levels.root(0) == hashlib.sha256(b"").digest()
        for call in (
            lambda: levels.root(3),
            lambda: levels.inclusion_proof(2, 2),
            lambda: levels.consistency_proof(0, 2),
        ):
            with pytest.raises(ValueError):
                call()


def export_lines(
    events: list[AuditEvent], checkpoints: list[StoredCheckpoint], filters: ExportFilters
) -> list[bytes]:
    """An export as the adapter writes it, built in memory."""
    size = checkpoints[-1].size if checkpoints else 0
    leaves = [event_leaf_hash(e) for e in events[:size]]
    levels = MerkleLevels(leaves)
    with_proofs = []
    for previous, current in zip([None, *checkpoints], checkpoints, strict=False):
        proof = tuple(levels.consistency_proof(previous.size, current.size)) if previous else ()
        with_proofs.append(dataclasses.replace(current, consistency=proof))
    lines = [export_header_line(filters, size), *(checkpoint_line(c) for c in with_proofs)]
    for event in events[:size]:
        if filters.complete:
            lines.append(event_line(event))
        elif filters.matches(event):
            lines.append(event_line(event))
            lines.append(inclusion_line(event.seq, levels.inclusion_proof(event.seq - 1, size)))
    return lines


class TestExports:
    def test_a_complete_export_verifies(self) -> None:
        events = chain(12)
        lines = export_lines(events, [stored(events, 5), stored(events, 12)], ExportFilters())
        report = verify_export(lines, KEYS)
        assert report.ok, report
        assert report.checkpoints == (5, 12)
        assert verify_export([line.decode() for line in lines], KEYS).ok

    def test_a_complete_export_with_the_wrong_key_fails(self) -> None:
        events = chain(3)
        report = verify_export(
            export_lines(events, [stored(events, 3)], ExportFilters()),
            [OTHER.verifier.verifier_key],
        )
        assert not report.ok
        assert fault_of(report) == (1, ChainProblem.NOT_COVERED)

    def test_an_edited_line_fails(self) -> None:
        events = chain(6)
        lines = export_lines(events, [stored(events, 6)], ExportFilters())
        lines[4] = lines[4].replace(b'"decision":"pass"', b'"decision":"FAIL"')
        assert fault_of(verify_export(lines, KEYS)) == (3, ChainProblem.EDITED)

    def test_a_removed_line_fails(self) -> None:
        events = chain(6)
        lines = export_lines(events, [stored(events, 6)], ExportFilters())
        del lines[-1]
        assert fault_of(verify_export(lines, KEYS)) == (6, ChainProblem.MISSING)

    def test_an_appended_event_is_not_covered(self) -> None:
        events = chain(7)
        lines = export_lines(events, [stored(events, 6)], ExportFilters())
        lines.append(event_line(events[6]))
        assert fault_of(verify_export(lines, KEYS)) == (7, ChainProblem.NOT_COVERED)

    @pytest.mark.parametrize(
        ("mutate", "where"),
        [
            (lambda lines: lines.__setitem__(0, b"{}\n"), "line 1"),
            (lambda lines: lines.__setitem__(0, b"nope\n"), "line 1"),
            (lambda lines: lines.__setitem__(3, b"[1]\n"), "line 4"),
            (lambda lines: lines.__setitem__(3, b'{"seq": 1}\n'), "line 4"),
            (
                lambda lines: lines.__setitem__(1, lines[1].replace(b'"size":3', b'"size":"3"')),
                "line 2",
            ),
            (lambda lines: lines.__setitem__(3, b"\n"), "line 4"),
            (lambda lines: lines.clear(), "line 1"),
        ],
    )
    def test_a_malformed_line_is_named(self, mutate: Any, where: str) -> None:
        events = chain(3)
        lines = export_lines(events, [stored(events, 3)], ExportFilters())
        mutate(lines)
        report = verify_export(lines, KEYS)
        assert fault_of(report)[1] == ChainProblem.MALFORMED
        assert report.fault.message.startswith(where)  # type: ignore[union-attr]
        assert not report.ok

    def test_a_chain_fault_before_a_malformed_line_comes_first(self) -> None:
        events = chain(6)
        lines = export_lines(events, [stored(events, 6)], ExportFilters())
        lines[3] = lines[3].replace(b'"decision":"pass"', b'"decision":"FAIL"')
        lines[6] = b"garbage\n"
        assert fault_of(verify_export(lines, KEYS)) == (2, ChainProblem.EDITED)

    def test_a_filtered_export_verifies(self) -> None:
        events = chain(20)
        checkpoints = [stored(events, 4), stored(events, 11), stored(events, 20)]
        lines = export_lines(events, checkpoints, ExportFilters(pr=2))
        report = verify_export(lines, KEYS)
        assert report.ok, report
        assert report.size == len([e for e in events if e.pr == 2])
        assert report.checkpoints == (4, 11, 20)

    def test_a_filtered_export_names_an_edited_event(self) -> None:
        events = chain(20)
        lines = export_lines(events, [stored(events, 20)], ExportFilters(pr=2))
        index = next(i for i, line in enumerate(lines) if b'"seq":4,' in line)
        lines[index] = lines[index].replace(b"eucora[bot]", b"mallory")
        assert fault_of(verify_export(lines, KEYS)) == (4, ChainProblem.EDITED)

    def test_a_forged_rehashed_event_is_not_in_the_log(self) -> None:
        events = chain(20)
        lines = export_lines(events, [stored(events, 20)], ExportFilters(pr=2))
        index = next(i for i, line in enumerate(lines) if b'"seq":4,' in line)
        fields = {k: v for k, v in json.loads(lines[index]).items() if k != "hash"}
        lines[index] = event_line(seal_event(**{**fields, "actor": "mallory"}))
        assert fault_of(verify_export(lines, KEYS)) == (4, ChainProblem.NOT_IN_LOG)

    def test_a_filtered_export_missing_a_proof_is_malformed(self) -> None:
        events = chain(6)
        lines = export_lines(events, [stored(events, 6)], ExportFilters(pr=2))
        del lines[-1]
        assert fault_of(verify_export(lines, KEYS))[1] == ChainProblem.MALFORMED
        lines = export_lines(events, [stored(events, 6)], ExportFilters(pr=2))
        lines[-1] = lines[-1].replace(b'"seq":', b'"seq":1')
        assert fault_of(verify_export(lines, KEYS))[1] == ChainProblem.MALFORMED
        lines = export_lines(events, [stored(events, 6)], ExportFilters(pr=2))
        lines[-1] = lines[-1].replace(b'"proof":["', b'"proof":["!')
        assert fault_of(verify_export(lines, KEYS))[1] == ChainProblem.MALFORMED

    def test_a_broken_consistency_proof_is_a_checkpoint_fault(self) -> None:
        events = chain(10)
        lines = export_lines(events, [stored(events, 3), stored(events, 10)], ExportFilters(pr=1))
        record = json.loads(lines[2])
        record["consistency"] = record["consistency"][1:]
        lines[2] = canonical_json(record) + b"\n"
        report = verify_export(lines, KEYS)
        assert [f.size for f in report.checkpoint_faults] == [10]
        assert not report.ok


class TestExcerpt:
    def proven(self, events: list[AuditEvent], size: int) -> list[ProvenEvent]:
        levels = MerkleLevels([event_leaf_hash(e) for e in events[:size]])
        return [
            ProvenEvent(event=e, proof=tuple(levels.inclusion_proof(e.seq - 1, size)))
            for e in events[:size]
        ]

    def test_order_links_and_coverage_are_checked(self) -> None:
        events = chain(8)
        proven = self.proven(events, 8)
        checkpoint = stored(events, 8)
        assert verify_excerpt(proven, [checkpoint], KEYS).ok
        assert fault_of(verify_excerpt([proven[3], proven[2]], [checkpoint], KEYS)) == (
            3,
            ChainProblem.OUT_OF_ORDER,
        )
        relinked = seal_event(
            **{
                **{k: v for k, v in event_json(events[3]).items() if k != "hash"},
                "prev_hash": "2" * 64,
            }
        )
        assert fault_of(
            verify_excerpt(
                [proven[2], ProvenEvent(event=relinked, proof=proven[3].proof)], [checkpoint], KEYS
            )
        ) == (4, ChainProblem.BROKEN_LINK)
        beyond = [*self.proven(events, 5), ProvenEvent(event=events[5], proof=())]
        assert fault_of(verify_excerpt(beyond, [stored(events, 5)], KEYS)) == (
            6,
            ChainProblem.NOT_COVERED,
        )
        assert fault_of(verify_excerpt(proven[:1], [], KEYS)) == (1, ChainProblem.NOT_COVERED)


class TestRendering:
    def test_the_story_of_a_pull_request(self) -> None:
        events = [e for e in chain(12) if e.pr == 2]
        text = render_story(events, pr=2, repository="acme/intents")
        lines = text.splitlines()
        assert lines[0].startswith(f"acme/intents#2: {len(events)} events, {events[0].time}")
        assert [int(line.split()[0][1:]) for line in lines[1:]] == [e.seq for e in events]
        assert "pull_request.evaluated  by eucora[bot]" in lines[1]
        assert "acme/other" in text  # events span two repositories: each line names its own

    def test_a_story_without_events(self) -> None:
        assert render_story([], pr=9) == "pull request #9: no audit events\n"

    def test_long_payloads_are_cut(self) -> None:
        event = seal_event(
            **{
                **{k: v for k, v in event_json(chain(1)[0]).items() if k != "hash"},
                "payload": {"x": "y" * 500},
            }
        )
        line = render_story([event], pr=2).splitlines()[1]
        assert line.endswith("…")
        assert len(line) < 300

    def test_reports_name_the_first_bad_event(self) -> None:
        events = chain(5)
        ok = render_report(verify_chain(events, [stored(events, 5)], KEYS))
        assert (
            ok
            == "OK: audit log: 5 events, chain intact; 1 checkpoint verified (signatures checked), latest at size 5\n"
        )
        events[2] = edited(events[2], actor="mallory")
        text = render_report(verify_chain(events, [stored(chain(5), 5)], KEYS), source="x.jsonl")
        assert text.startswith(
            "FAIL: x.jsonl\n  first bad event: event 3 (edited): event 3 was edited"
        )

    def test_reports_list_bad_checkpoints(self) -> None:
        events = chain(4)
        text = render_report(
            verify_chain(events, [stored(events, 2, OTHER), stored(events, 4)], KEYS)
        )
        assert "the chain of 4 events is intact" in text
        assert "checkpoint(s) at size 2 signed by a different key" in text
        assert "checkpoints that held (signatures checked): 4" in text


def test_export_lines_are_canonical_json() -> None:
    """Every line of an export is canonical JSON, so it can be hashed or diffed as is."""
    events = chain(4)
    for line in export_lines(events, [stored(events, 4)], ExportFilters(pr=2)):
        assert canonical_json(json.loads(line)) + b"\n" == line
    record = json.loads(checkpoint_line(stored(events, 4)))
    assert base64.b64decode(record["root"]) == stored(events, 4).root


# --- extending a checkpointed chain ---------------------------------------------------------------


def test_extend_chain_gives_the_leaves_of_the_new_events() -> None:
    events = chain(9)
    extension = extend_chain(events[4], events[5:])
    assert extension.fault is None
    assert extension.leaves == tuple(event_leaf_hash(e) for e in events[5:])
    assert extend_chain(events[8], []).leaves == ()


@pytest.mark.parametrize(
    ("mutate", "seq", "problem"),
    [
        (lambda es: [dataclasses.replace(es[0], actor="mallory"), *es[1:]], 6, "edited"),
        (lambda es: [es[0], es[2], es[3]], 7, "missing"),
        (lambda es: [es[1], es[0], es[2], es[3]], 6, "missing"),
        (lambda es: [es[0], es[0], *es[1:]], 6, "out-of-order"),
    ],
    ids=["edited", "deleted", "moved", "repeated"],
)
def test_extend_chain_names_the_first_bad_new_event(mutate: Any, seq: int, problem: str) -> None:
    events = chain(9)
    extension = extend_chain(events[4], mutate(events[5:]))
    assert extension.fault is not None
    assert (extension.fault.seq, extension.fault.problem.value) == (seq, problem)


def test_extend_chain_refuses_an_edited_head() -> None:
    events = chain(6)
    extension = extend_chain(dataclasses.replace(events[4], actor="mallory"), events[5:])
    assert extension.fault is not None
    assert (extension.fault.seq, extension.fault.problem) == (5, ChainProblem.EDITED)
    assert extension.leaves == ()


def test_a_stored_frontier_must_fold_to_its_root() -> None:
    events = chain(6)
    leaves = [event_leaf_hash(e) for e in events]
    frontier = CompactRange().extend(leaves)
    good = StoredCheckpoint(size=6, root=frontier.root(), note="", frontier=frontier.hashes)
    assert good.compact_range() == frontier
    assert dataclasses.replace(good, frontier=()).compact_range() is None
    assert dataclasses.replace(good, frontier=frontier.hashes[:1]).compact_range() is None
    swapped = tuple(reversed(frontier.hashes))
    assert dataclasses.replace(good, frontier=swapped).compact_range() is None


def test_verify_chain_names_a_stored_frontier_that_is_not_the_events() -> None:
    events = chain(6)
    leaves = [event_leaf_hash(e) for e in events]
    frontier = CompactRange().extend(leaves)
    note = sign_checkpoint(
        Checkpoint("eucora/test", 6, frontier.root()), SIGNER.name, SIGNER.private_key
    )
    wrong = StoredCheckpoint(
        size=6, root=frontier.root(), note=note, frontier=tuple(reversed(frontier.hashes))
    )
    report = verify_chain(events, [wrong], KEYS)
    assert report.checkpoint_faults[0].message.startswith("its stored frontier")
    right = dataclasses.replace(wrong, frontier=frontier.hashes)
    report = verify_chain(events, [right], KEYS)
    assert report.ok
    assert report.frontier == frontier.hashes
