"""The in-memory fakes keep their ports' contracts: the same scenarios on the fake and on SQLite.

A flow test on ``MemoryOutbox`` or ``MemoryLedger`` proves something about the flow only while
the fake behaves as the database adapter does; these scenarios run on both and expect the same.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.adapters.storage import create_database_engine, upgrade_schema
from bot.adapters.storage.publications import Outbox
from bot.adapters.storage.reviews import ReviewLedger as DatabaseLedger
from bot.core.approvals import ReviewState
from bot.core.errors import GitError, LeaseLostError, StorageError
from bot.core.records import NewChange, NewPublication, PublicationRow
from bot.flows.rollout_issues import previous_intent
from bot.ports import Outbox as OutboxPort
from bot.ports import ReviewLedger
from tests.adapters.storage.test_reviews import arrival
from tests.support.memory import MemoryLedger, MemoryOutbox, MemoryRevisions

T0 = datetime(2027, 2, 17, 9, 0, tzinfo=UTC)
REPO = "acme/intents"


@pytest.fixture(params=["memory", "sqlite"])
def outbox(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OutboxPort]:
    if request.param == "memory":
        yield MemoryOutbox(lease_seconds=60)
        return
    engine = create_database_engine(f"sqlite:///{tmp_path / 'eucora.db'}")
    upgrade_schema(engine)
    yield Outbox(engine, lease_seconds=60)
    engine.dispose()


@pytest.fixture(params=["memory", "sqlite"])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ReviewLedger]:
    if request.param == "memory":
        yield MemoryLedger()
        return
    engine = create_database_engine(f"sqlite:///{tmp_path / 'eucora.db'}")
    upgrade_schema(engine)
    yield DatabaseLedger(engine)
    engine.dispose()


def change(merge_sha: str = "b" * 40) -> NewChange:
    return NewChange(
        repository=REPO,
        pr=7,
        installation_id=42,
        head_sha="a" * 40,
        merge_sha=merge_sha,
        check_digest="sha256:" + "c" * 64,
        state="publishing",
        emergency=False,
        facts={"approvals": ({"reviewer": "carol"},)},
        comment_head="<!-- eucora -->\n",
        correlation_id="delivery-1",
    )


def publication(plane: str) -> NewPublication:
    return NewPublication(
        plane=plane,
        intent_name=f"7-zip-{plane}",
        version="24.08",
        ring="lab",
        target="PS100012",
        path="intents/windows/7-zip.yaml",
        idempotency_key=f"7-zip-{plane}@24.08#lab",
        intent={"app": {"name": "7-zip", "tags": ("a", "b")}},
        evidence_digest="sha256:" + "d" * 64,
    )


def comparable(row: PublicationRow) -> PublicationRow:
    """The row without its ids (numbered differently) and lease owner (random)."""
    return replace(row, id=0, change_id=0, lease_owner="owner" if row.lease_owner else None)


def test_a_merge_is_recorded_once_with_its_rows_decoded_as_json(outbox: OutboxPort) -> None:
    stored, rows, created = outbox.record_change(
        change(), [publication("sccm"), publication("jamf")], now=T0
    )
    again, same, twice = outbox.record_change(change(), [publication("sccm")], now=T0)

    assert (created, twice) == (True, False)
    assert again == stored
    assert same == rows
    assert stored.facts == {"approvals": [{"reviewer": "carol"}]}
    assert [comparable(r) for r in rows] == [
        PublicationRow(
            id=0,
            change_id=0,
            repository=REPO,
            pr=7,
            plane=plane,
            intent_name=f"7-zip-{plane}",
            version="24.08",
            ring="lab",
            target="PS100012",
            path="intents/windows/7-zip.yaml",
            idempotency_key=f"7-zip-{plane}@24.08#lab",
            intent={"app": {"name": "7-zip", "tags": ["a", "b"]}},
            evidence_digest="sha256:" + "d" * 64,
            state="pending",
            attempts=0,
            not_before=T0,
            last_error=None,
            result=None,
            journal={},
            deployment_id=None,
            lease_owner=None,
        )
        for plane in ("sccm", "jamf")
    ]
    assert outbox.latest_change(REPO, 7) == stored
    assert outbox.unfinished_changes() == (stored,)
    assert outbox.due(now=T0) == [r.id for r in rows]
    with pytest.raises(StorageError):
        outbox.record_change(change("e" * 40), [publication("sccm"), publication("sccm")], now=T0)
    assert outbox.latest_change(REPO, 7) == stored  # the refused merge left nothing behind


def test_a_claim_leases_once_and_a_lost_lease_writes_nothing(outbox: OutboxPort) -> None:
    _, (row,), _ = outbox.record_change(change(), [publication("sccm")], now=T0)

    first = outbox.claim(row.id, now=T0)
    assert first is not None
    assert first.row.state == "in_progress"
    assert first.row.attempts == 1
    assert outbox.claim(row.id, now=T0 + timedelta(seconds=59)) is None  # leased to a live worker
    outbox.journal(first).put("launch", "42")
    assert outbox.journal(first).get("launch") == "42"

    late = T0 + timedelta(seconds=61)
    assert outbox.due(now=late) == [row.id]  # the worker died: its lease expired
    second = outbox.claim(row.id, now=late)
    assert second is not None
    assert second.row.attempts == 2
    assert not outbox.succeed(first, {"object_id": "x"}, now=late)
    with pytest.raises(LeaseLostError):
        outbox.journal(first).put("launch", "43")

    assert outbox.retry_later(
        second, error="busy", not_before=late + timedelta(minutes=5), now=late
    )
    assert outbox.due(now=late) == []
    third = outbox.claim(row.id, now=late + timedelta(minutes=5))
    assert third is not None
    assert outbox.succeed(third, {"object_id": "app-1", "created": True}, now=late)
    final = outbox.get(row.id)
    assert final is not None
    assert (final.state, final.attempts, final.result, final.last_error, final.journal) == (
        "succeeded",
        3,
        {"object_id": "app-1", "created": True},
        None,
        {"launch": "42"},
    )
    assert outbox.claim(row.id, now=late + timedelta(hours=1)) is None


def test_a_change_is_final_once_and_a_retry_reopens_it(outbox: OutboxPort) -> None:
    stored, (ok, bad), _ = outbox.record_change(
        change(), [publication("sccm"), publication("jamf")], now=T0
    )
    claim_ok, claim_bad = outbox.claim(ok.id, now=T0), outbox.claim(bad.id, now=T0)
    assert claim_ok is not None
    assert claim_bad is not None
    assert outbox.succeed(claim_ok, {"object_id": "a"}, now=T0)
    assert not outbox.all_final(stored.id)
    assert not outbox.finalize_change(stored.id, final_digest="sha256:" + "f" * 64, now=T0)
    assert outbox.fail(claim_bad, error="x" * 3000, now=T0)
    failed = outbox.get(bad.id)
    assert failed is not None
    assert failed.last_error is not None
    assert len(failed.last_error) == 2000
    assert failed.last_error.endswith("…")

    assert outbox.all_final(stored.id)
    assert outbox.finalize_change(stored.id, final_digest="sha256:" + "f" * 64, now=T0)
    assert not outbox.finalize_change(stored.id, final_digest="sha256:" + "0" * 64, now=T0)
    outbox.set_followup_issue(stored.id, 99)
    outbox.set_deployment(bad.id, 7)
    closed = outbox.change(stored.id)
    assert closed is not None
    assert (closed.state, closed.final_digest, closed.followup_issue) == (
        "final",
        "sha256:" + "f" * 64,
        99,
    )
    assert outbox.unfinished_changes() == ()

    assert outbox.reopen_failed(stored.id, now=T0 + timedelta(minutes=1)) == (bad.id,)
    reopened, row = outbox.change(stored.id), outbox.get(bad.id)
    assert reopened is not None
    assert row is not None
    assert (reopened.state, reopened.final_digest) == ("publishing", None)
    assert (row.state, row.attempts, row.deployment_id) == ("pending", 0, 7)
    assert outbox.reopen_failed(stored.id, now=T0) == ()


def test_the_ledger_folds_arrivals_and_records_a_redelivery_once(ledger: ReviewLedger) -> None:
    assert ledger.record(arrival(100, ReviewState.APPROVED, "submitted"))
    assert ledger.record(arrival(100, ReviewState.APPROVED, "edited", commit_id="b" * 40))
    assert ledger.record(arrival(100, ReviewState.DISMISSED, "dismissed"))
    assert not ledger.record(arrival(100, ReviewState.DISMISSED, "dismissed"))
    assert ledger.record(arrival(5, ReviewState.APPROVED, "submitted", repository="acme/other"))
    assert ledger.record(arrival(6, ReviewState.APPROVED, "submitted", pr=3, installation_id=8))

    [review] = ledger.reviews(REPO, 12)
    assert (review.id, review.state, review.commit_id) == (100, ReviewState.DISMISSED, "a" * 40)
    assert [e.action for e in ledger.entries(REPO, 12)] == ["submitted", "edited", "dismissed"]
    assert ledger.pull_requests() == [("acme/intents", 3), ("acme/intents", 12), ("acme/other", 12)]
    assert ledger.pull_requests(installation_id=8) == [("acme/intents", 3)]
    assert ledger.pull_requests(repository="acme/other") == [("acme/other", 12)]


def test_memory_revisions_serve_the_rollback_and_refuse_what_they_do_not_hold() -> None:
    old, new = "1" * 40, "2" * 40
    revisions = MemoryRevisions(
        files={
            old: {"intents/app.yaml": b"app:\n  version: '1.0'\n"},
            new: {"intents/app.yaml": b"app:\n  version: '1.1'\n"},
        },
        history={"intents/app.yaml": [new, old]},
    )
    found = previous_intent(revisions, new, "intents/app.yaml", "1.0")
    assert found is not None
    assert found.sha == old
    assert revisions.read_file(new, "eucora.yaml") is None
    with pytest.raises(GitError):
        revisions.read_file("3" * 40, "eucora.yaml")
    assert revisions.content_hash(old, ["intents"]) != revisions.content_hash(new, ["intents"])
