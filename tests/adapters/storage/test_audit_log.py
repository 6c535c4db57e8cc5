"""The audit log on SQLite and PostgreSQL: append-only, one chain under concurrency, tamper-evident,
signed checkpoints with proofs that verify offline."""

from __future__ import annotations

import hashlib
import io
import itertools
import multiprocessing
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, insert, text
from sqlalchemy.exc import IntegrityError

from bot.adapters.storage import AuditLog, create_database_engine, upgrade_schema
from bot.adapters.storage.audit_log import describe_problem, is_transient
from bot.adapters.storage.tables import audit_checkpoints
from bot.core.audit_chain import ChainProblem, verify_chain
from bot.core.audit_events import (
    GENESIS_HASH,
    event_leaf_hash,
    format_event_time,
    leaf_data,
    recompute_hash,
)
from bot.core.audit_export import ExportFilters, verify_export
from bot.core.tlog import (
    Checkpoint,
    CompactRange,
    Ed25519Signer,
    ProofError,
    sign_checkpoint,
    verify_checkpoint,
    verify_consistency,
    verify_proof_bundle,
)
from bot.errors import AuditIntegrityError, StorageError
from tests.adapters.storage.helpers import (
    T0,
    append_events,
    append_from_process,
    delete_event,
    edit_event,
    insert_event,
    record_from_process,
    swap_events,
    tampering,
)
from tests.support.postgres import PostgresServer


def vkey(signer: Ed25519Signer) -> list[str]:
    return [signer.verifier.verifier_key]


class TestAppend:
    def test_events_form_one_chain_from_one(self, log: AuditLog) -> None:
        """Appended events count from 1, each linking to the one before, hashes as computed."""
        events = append_events(log, 5)
        assert [e.seq for e in events] == [1, 2, 3, 4, 5]
        assert events[0].prev_hash == GENESIS_HASH
        assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(events))
        assert all(recompute_hash(e) == e.hash for e in events)
        assert log.events() == events
        assert log.size() == 5
        assert log.verify().ok

    def test_the_time_is_the_callers(self, log: AuditLog) -> None:
        """The time comes in from the caller and is stored as RFC 3339 UTC text."""
        moment = datetime(2027, 3, 1, 10, 30, 15, 123456, tzinfo=UTC)
        event = append_events(log, 1, time=moment)[0]
        assert event.time == "2027-03-01T10:30:15.123456Z"

    @pytest.mark.parametrize(
        "fields",
        [
            {"time": datetime(2027, 1, 4, 9, 0)},  # noqa: DTZ001 - the naive time is the point
            {"payload": {"x": float("nan")}},
            {"payload": {"x": 2**60}},
            {"type": ""},
            {"pr": -1},
        ],
    )
    def test_malformed_fields_are_refused_before_writing(self, log: AuditLog, fields: dict) -> None:
        """A bad field raises ValueError and nothing is written."""
        with pytest.raises(ValueError):
            append_events(log, 1, **fields)
        assert log.size() == 0

    def test_filters_select_events(self, log: AuditLog) -> None:
        """events() filters by time, repository and pull request, in log order."""
        append_events(log, 6)
        append_events(log, 2, start=6, repository="acme/other", pr=1)
        assert [e.seq for e in log.events(pr=1)] == [1, 4, 7, 8]
        assert [e.seq for e in log.events(pr=1, repository="acme/intents")] == [1, 4]
        assert [e.seq for e in log.events(since=T0 + timedelta(seconds=5))] == [6, 7, 8]
        assert log.events(repository="nobody/nothing") == []

    def test_transient_errors_are_recognised(self, engine: Engine) -> None:
        """Only database errors worth retrying are retried; a refused UPDATE is not one."""
        append_events(AuditLog(engine), 1)
        with pytest.raises(IntegrityError) as raised, engine.begin() as connection:
            connection.execute(text("UPDATE audit_events SET actor = 'x'"))
        assert not is_transient(raised.value)
        assert not is_transient(ValueError("locked"))


class TestAppendOnly:
    @pytest.mark.parametrize(
        "statement",
        [
            "UPDATE audit_events SET actor = 'mallory' WHERE seq = 1",
            "DELETE FROM audit_events WHERE seq = 2",
            "UPDATE audit_checkpoints SET note = 'x'",
            "DELETE FROM audit_checkpoints",
        ],
    )
    def test_the_database_refuses_update_and_delete(
        self, log: AuditLog, signer: Ed25519Signer, statement: str
    ) -> None:
        """Triggers refuse UPDATE and DELETE on the audit tables, whoever asks."""
        append_events(log, 3)
        log.checkpoint(signer, time=T0)
        with pytest.raises(IntegrityError, match="append-only"), log.engine.begin() as connection:
            connection.execute(text(statement))
        assert log.size() == 3
        assert log.verify(vkey(signer)).ok

    def test_postgresql_refuses_truncate(self, postgres_server: PostgresServer) -> None:
        """TRUNCATE skips row triggers, so PostgreSQL has a statement trigger for it."""
        url = postgres_server.create_database()
        engine = create_database_engine(url)
        try:
            upgrade_schema(engine)
            log = AuditLog(engine)
            append_events(log, 2)
            with pytest.raises(IntegrityError, match="append-only"), engine.begin() as connection:
                connection.execute(text("TRUNCATE audit_events"))
            assert log.size() == 2
        finally:
            engine.dispose()
            postgres_server.drop_database(url.rsplit("/", 1)[1])


class TestConcurrentWriters:
    def test_four_processes_appending_at_once_form_one_chain(
        self, database_url: str, log: AuditLog
    ) -> None:
        """4 processes x 50 appends, started together, give one valid chain of 200 events."""
        context = multiprocessing.get_context("spawn")
        start = context.Event()
        workers = [
            context.Process(target=append_from_process, args=(database_url, writer, 50, start))
            for writer in range(4)
        ]
        for worker in workers:
            worker.start()
        start.set()
        for worker in workers:
            worker.join(180)
        assert [w.exitcode for w in workers] == [0, 0, 0, 0]
        report = log.verify()
        assert report.ok, describe_problem(report)
        assert report.size == 200
        events = log.events()
        assert [e.seq for e in events] == list(range(1, 201))
        for writer in range(4):
            mine = [e.payload["i"] for e in events if e.actor == f"writer-{writer}"]
            assert mine == list(range(50))
        writers = [e.actor for e in events]
        assert any(a != b for a, b in itertools.pairwise(writers))

    def test_three_processes_appending_and_signing_keep_every_checkpoint_consistent(
        self, database_url: str, log: AuditLog, signer: Ed25519Signer
    ) -> None:
        """Recorders append, sign from the frontier and prove at once: every pair is consistent."""
        context = multiprocessing.get_context("spawn")
        start = context.Event()
        workers = [
            context.Process(target=record_from_process, args=(database_url, writer, 12, start))
            for writer in range(3)
        ]
        for worker in workers:
            worker.start()
        start.set()
        for worker in workers:
            worker.join(180)
        assert [w.exitcode for w in workers] == [0, 0, 0]
        report = log.verify(vkey(signer))
        assert report.ok, describe_problem(report)
        assert report.size == 36
        stored = log.checkpoints()
        assert stored[-1].size == 36
        assert report.checkpoints == tuple(c.size for c in stored)
        for older, newer in itertools.pairwise(stored):
            verify_consistency(older.size, newer.size, newer.consistency, older.root, newer.root)
            assert newer.compact_range() is not None


class TestTamperEvidence:
    """Bypassing the triggers, any single change to a stored event is named by verify."""

    def verify(self, log: AuditLog, signer: Ed25519Signer | None = None) -> tuple[int | None, str]:
        report = log.verify(vkey(signer) if signer else None)
        assert not report.ok
        assert report.fault is not None
        return report.fault.seq, report.fault.problem

    def test_an_edited_event_is_named(self, log: AuditLog) -> None:
        append_events(log, 10)
        edit_event(log.engine, 4, payload={"i": 3, "decision": "fail", "note": "déjà vu"})
        assert self.verify(log) == (4, ChainProblem.EDITED)

    @pytest.mark.parametrize("column", ["actor", "time", "type", "correlation_id", "head_sha"])
    def test_any_edited_field_is_caught(self, log: AuditLog, column: str) -> None:
        append_events(log, 5)
        value = "2027-01-04T09:00:09.000000Z" if column == "time" else "mallory"
        edit_event(log.engine, 2, **{column: value})
        assert self.verify(log) == (2, ChainProblem.EDITED)

    def test_a_deleted_event_is_named(self, log: AuditLog) -> None:
        append_events(log, 10)
        delete_event(log.engine, 6)
        assert self.verify(log) == (6, ChainProblem.MISSING)

    def test_a_deleted_first_event_is_named(self, log: AuditLog) -> None:
        append_events(log, 3)
        delete_event(log.engine, 1)
        assert self.verify(log) == (1, ChainProblem.MISSING)

    def test_a_deleted_last_event_is_named_by_the_checkpoint(
        self, log: AuditLog, signer: Ed25519Signer
    ) -> None:
        """The chain alone cannot see its tail cut off; the signed checkpoint can."""
        append_events(log, 10)
        log.checkpoint(signer, time=T0)
        delete_event(log.engine, 10)
        assert self.verify(log, signer) == (10, ChainProblem.MISSING)

    def test_an_inserted_event_is_named(self, log: AuditLog) -> None:
        append_events(log, 10)
        forged = insert_event(log.engine, 5)
        assert forged.seq == 5
        assert self.verify(log) == (5, ChainProblem.INSERTED)

    def test_swapped_events_are_named(self, log: AuditLog) -> None:
        append_events(log, 10)
        swap_events(log.engine, 3, 4)
        assert self.verify(log) == (3, ChainProblem.REORDERED)

    def test_distant_swapped_events_are_named(self, log: AuditLog) -> None:
        append_events(log, 10)
        swap_events(log.engine, 2, 8)
        seq, _ = self.verify(log)
        assert seq == 2

    def test_a_rewritten_chain_is_caught_by_the_checkpoint(
        self, log: AuditLog, signer: Ed25519Signer
    ) -> None:
        """Rewriting an event and re-chaining all after it leaves the signed root behind."""
        events = append_events(log, 8)
        log.checkpoint(signer, time=T0)
        with tampering(log.engine) as connection:
            connection.execute(text("DELETE FROM audit_events"))
        rewritten = AuditLog(log.engine)
        for event in events:
            payload = {"rewritten": True} if event.seq == 3 else event.payload
            rewritten.append(
                type=event.type,
                actor=event.actor,
                correlation_id=event.correlation_id,
                repository=event.repository,
                pr=event.pr,
                head_sha=event.head_sha,
                payload=payload,
                time=T0,
            )
        report = log.verify(vkey(signer))
        assert report.fault is None
        assert [f.size for f in report.checkpoint_faults] == [8]
        assert not report.ok

    def test_a_stored_checkpoint_with_a_bad_signature_is_reported(
        self, log: AuditLog, signer: Ed25519Signer
    ) -> None:
        append_events(log, 4)
        log.checkpoint(signer, time=T0)
        other = Ed25519Signer("eucora/test", b"\x07" * 32)
        report = log.verify(vkey(other))
        assert not report.ok
        assert report.checkpoint_faults[0].size == 4
        assert "signature" in report.checkpoint_faults[0].message


class TestCheckpoints:
    def test_a_checkpoint_signs_the_root_of_the_log(
        self, log: AuditLog, signer: Ed25519Signer
    ) -> None:
        events = append_events(log, 7)
        note = log.checkpoint(signer, time=T0)
        assert note is not None
        checkpoint = verify_checkpoint(note, vkey(signer), origin="eucora/test")
        assert checkpoint.size == 7
        assert log.verify(vkey(signer)).root == checkpoint.root
        assert [c.size for c in log.checkpoints()] == [7]
        assert log.checkpoints()[0].root == checkpoint.root
        assert verify_chain(events).root == checkpoint.root

    def test_signing_again_without_new_events_returns_the_last_note(
        self, log: AuditLog, signer: Ed25519Signer
    ) -> None:
        append_events(log, 3)
        first = log.checkpoint(signer, time=T0)
        assert log.checkpoint(signer, time=T0 + timedelta(hours=1)) == first
        assert len(log.checkpoints()) == 1

    def test_an_empty_log_has_nothing_to_sign(self, log: AuditLog, signer: Ed25519Signer) -> None:
        assert log.checkpoint(signer, time=T0) is None
        assert log.checkpoints() == []

    def test_an_inclusion_proof_verifies_offline(
        self, log: AuditLog, signer: Ed25519Signer
    ) -> None:
        """A tlog-proof for an event checks with only the event's bytes and the public key."""
        events = append_events(log, 13)
        log.checkpoint(signer, time=T0)
        for event in (events[0], events[6], events[12]):
            bundle = log.inclusion_proof(event.seq)
            checkpoint = verify_proof_bundle(bundle, leaf_data(event), vkey(signer))
            assert checkpoint.size == 13
        with pytest.raises(ProofError):
            verify_proof_bundle(log.inclusion_proof(3), leaf_data(events[3]), vkey(signer))
        with pytest.raises(StorageError):
            log.inclusion_proof(14)

    def test_consistency_between_two_checkpoints_verifies_offline(
        self, log: AuditLog, signer: Ed25519Signer
    ) -> None:
        """A later checkpoint extends an earlier one, checked with only the two notes and a proof."""
        append_events(log, 5)
        old_note = log.checkpoint(signer, time=T0)
        append_events(log, 9, start=5)
        new_note = log.checkpoint(signer, time=T0)
        assert old_note
        assert new_note
        old = verify_checkpoint(old_note, vkey(signer))
        new = verify_checkpoint(new_note, vkey(signer))
        proof = log.consistency_proof(old.size, new.size)
        verify_consistency(old.size, new.size, proof, old.root, new.root)
        assert tuple(proof) == log.checkpoints()[1].consistency
        with pytest.raises(ProofError):
            verify_consistency(old.size, new.size, proof, new.root, old.root)

    def test_signing_extends_the_signed_tree_even_when_signed_events_were_changed(
        self, log: AuditLog, signer: Ed25519Signer
    ) -> None:
        """Signing reads only the new events: an old one edited since cannot creep into a tree.

        The new checkpoint extends the one signed before (consistency proof) and has the root
        of the events as they were; `audit verify`, the full walk, names the edited event.
        """
        original = append_events(log, 6)
        first = verify_checkpoint(log.checkpoint(signer, time=T0) or "", vkey(signer))
        later = append_events(log, 2, start=6)
        edit_event(log.engine, 2, actor="mallory")
        second = verify_checkpoint(log.checkpoint(signer, time=T0) or "", vkey(signer))
        assert second.size == 8
        assert second.root == verify_chain(original + later).root
        proof = log.checkpoints()[1].consistency
        verify_consistency(6, 8, proof, first.root, second.root)
        report = log.verify(vkey(signer))
        assert report.fault is not None
        assert (report.fault.seq, report.fault.problem) == (2, ChainProblem.EDITED)

    @pytest.mark.parametrize(
        ("tamper", "named"),
        [
            (lambda engine: edit_event(engine, 8, actor="mallory"), "event 8 was edited"),
            (lambda engine: edit_event(engine, 6, actor="mallory"), "event 6 was edited"),
            (lambda engine: delete_event(engine, 8), "event 8 is missing"),
            (lambda engine: swap_events(engine, 7, 8), "event 7"),
        ],
        ids=["new-event-edited", "last-signed-event-edited", "new-event-deleted", "swapped"],
    )
    def test_signing_refuses_broken_new_events(
        self, log: AuditLog, signer: Ed25519Signer, tamper: Any, named: str
    ) -> None:
        append_events(log, 6)
        log.checkpoint(signer, time=T0)
        append_events(log, 3, start=6)
        tamper(log.engine)
        with pytest.raises(AuditIntegrityError, match=f"refusing to sign.*{named}"):
            log.checkpoint(signer, time=T0)
        assert [c.size for c in log.checkpoints()] == [6]

    def test_checkpoints_keep_their_frontier(self, log: AuditLog, signer: Ed25519Signer) -> None:
        """Each stored checkpoint keeps the compact range of its tree, folding to its root."""
        events = []
        for start, count in ((0, 5), (5, 1), (6, 7), (13, 19)):
            events += append_events(log, count, start=start)
            log.checkpoint(signer, time=T0)
        stored = log.checkpoints()
        assert [c.size for c in stored] == [5, 6, 13, 32]
        for checkpoint in stored:
            leaves = [event_leaf_hash(e) for e in events[: checkpoint.size]]
            assert checkpoint.frontier == CompactRange().extend(leaves).hashes
            assert checkpoint.compact_range() is not None
            if checkpoint.size > 5:
                assert len(checkpoint.consistency) >= 1
        assert log.verify(vkey(signer)).checkpoints == (5, 6, 13, 32)

    def test_another_key_signs_after_a_full_walk(
        self, log: AuditLog, signer: Ed25519Signer
    ) -> None:
        """A rotated key cannot vouch for the last note: the whole log is walked once."""
        append_events(log, 4)
        log.checkpoint(signer, time=T0)
        append_events(log, 2, start=4)
        other = Ed25519Signer("eucora/rotated", hashlib.sha256(b"rotated").digest())
        edit_event(log.engine, 1, actor="mallory")
        with pytest.raises(AuditIntegrityError, match="event 1 was edited"):
            log.checkpoint(other, time=T0)
        assert log.checkpoint(signer, time=T0) is not None  # the signer's own note vouches

    def test_a_tampered_frontier_is_not_trusted(self, log: AuditLog, signer: Ed25519Signer) -> None:
        """A frontier that does not fold to the signed root sends signing to the full walk."""
        append_events(log, 5)
        log.checkpoint(signer, time=T0)
        with tampering(log.engine) as connection:
            connection.execute(
                text("UPDATE audit_checkpoints SET consistency = :blob WHERE size = 5"),
                {"blob": b"\x13" * 64},
            )
        assert log.verify(vkey(signer)).checkpoint_faults[0].message.startswith("its stored")
        append_events(log, 1, start=5)
        with pytest.raises(AuditIntegrityError, match="checkpoint at size 5"):
            log.checkpoint(signer, time=T0)

    def test_inclusion_proofs_after_many_checkpoints(
        self, log: AuditLog, signer: Ed25519Signer
    ) -> None:
        """Every event is proven in every checkpoint from the frontier before it and the tail."""
        events = []
        for start, count in ((0, 3), (3, 4), (7, 1), (8, 9)):
            events += append_events(log, count, start=start)
            log.checkpoint(signer, time=T0)
        for size in (3, 7, 8, 17):
            for event in events[:size]:
                bundle = log.inclusion_proof(event.seq, size, extra=b"x")
                assert bundle.startswith("c2sp.org/tlog-proof@v1\nextra eA==\n")
                checkpoint = verify_proof_bundle(bundle, leaf_data(event), vkey(signer))
                assert checkpoint.size == size
        assert log.latest_checkpoint() == log.checkpoints()[-1].note

    def test_a_proof_is_refused_when_the_events_lost_their_signed_root(
        self, log: AuditLog, signer: Ed25519Signer
    ) -> None:
        append_events(log, 4)
        log.checkpoint(signer, time=T0)
        edit_event(log.engine, 3, actor="mallory", hash="ab" * 32)
        with pytest.raises(AuditIntegrityError, match="audit verify"):
            log.inclusion_proof(3)

    def test_no_proof_without_a_checkpoint(self, log: AuditLog, signer: Ed25519Signer) -> None:
        append_events(log, 2)
        assert log.latest_checkpoint() is None
        with pytest.raises(StorageError, match="no signed checkpoint"):
            log.inclusion_proof(1)
        log.checkpoint(signer, time=T0)
        with pytest.raises(StorageError, match="no checkpoint of size 1"):
            log.inclusion_proof(1, 1)
        with pytest.raises(StorageError, match="event 3 is not in"):
            log.inclusion_proof(3)

    def test_signing_is_refused_when_the_last_checkpoint_signs_another_tree(
        self, log: AuditLog, signer: Ed25519Signer
    ) -> None:
        """A stored checkpoint whose root the events do not have blocks every later signature."""
        append_events(log, 4)
        forged_root = b"\x42" * 32
        note = sign_checkpoint(
            Checkpoint("eucora/test", 4, forged_root), signer.name, signer.private_key
        )
        with log.engine.begin() as connection:
            connection.execute(
                insert(audit_checkpoints).values(
                    size=4,
                    origin="eucora/test",
                    root=forged_root,
                    note=note,
                    consistency=b"",
                    signed_at=format_event_time(T0),
                )
            )
        append_events(log, 1, start=4)
        with pytest.raises(AuditIntegrityError, match="checkpoint at size 4"):
            log.checkpoint(signer, time=T0)

    def test_a_tampered_log_is_not_signed(self, log: AuditLog, signer: Ed25519Signer) -> None:
        append_events(log, 4)
        delete_event(log.engine, 2)
        with pytest.raises(AuditIntegrityError, match="event 2 is missing"):
            log.checkpoint(signer, time=T0)


class TestExport:
    def export(self, log: AuditLog, signer: Ed25519Signer, filters: ExportFilters) -> list[bytes]:
        log.checkpoint(signer, time=T0)
        buffer = io.BytesIO()
        log.export_jsonl(buffer, filters)
        return buffer.getvalue().splitlines(keepends=True)

    def test_a_complete_export_verifies_offline(self, log: AuditLog, signer: Ed25519Signer) -> None:
        append_events(log, 9)
        log.checkpoint(signer, time=T0)
        append_events(log, 3, start=9)
        lines = self.export(log, signer, ExportFilters())
        report = verify_export(lines, vkey(signer))
        assert report.ok, report
        assert report.size == 12
        assert report.checkpoints == (9, 12)

    def test_an_edited_export_line_fails_naming_the_event(
        self, log: AuditLog, signer: Ed25519Signer
    ) -> None:
        append_events(log, 6)
        lines = self.export(log, signer, ExportFilters())
        index = next(i for i, line in enumerate(lines) if b'"seq":4,' in line)
        lines[index] = lines[index].replace(b'"decision":"pass"', b'"decision":"fail"')
        report = verify_export(lines, vkey(signer))
        assert report.fault is not None
        assert (report.fault.seq, report.fault.problem) == (4, ChainProblem.EDITED)

    @pytest.mark.parametrize(
        ("filters", "expected"),
        [
            (ExportFilters(pr=2), [2, 5, 8]),
            (ExportFilters(repository="acme/intents", pr=3), [3, 6, 9]),
            (ExportFilters(since="2027-01-04T09:00:06.000000Z"), [7, 8, 9]),
        ],
    )
    def test_a_filtered_export_proves_each_event(
        self, log: AuditLog, signer: Ed25519Signer, filters: ExportFilters, expected: list[int]
    ) -> None:
        """Each exported event carries an inclusion proof in the signed checkpoint."""
        append_events(log, 9)
        lines = self.export(log, signer, filters)
        report = verify_export(lines, vkey(signer))
        assert report.ok, report
        assert report.size == len(expected)
        seqs = [int(line.split(b'"seq":')[1].split(b",")[0]) for line in lines if b'"hash"' in line]
        assert seqs == expected

    def test_a_forged_event_in_a_filtered_export_is_not_in_the_log(
        self, log: AuditLog, signer: Ed25519Signer
    ) -> None:
        append_events(log, 9)
        lines = self.export(log, signer, ExportFilters(pr=1))
        index = next(i for i, line in enumerate(lines) if b'"seq":4,' in line)
        lines[index] = lines[index].replace(b'"actor":"eucora[bot]"', b'"actor":"mallory"')
        report = verify_export(lines, vkey(signer))
        assert report.fault is not None
        assert report.fault.seq == 4
