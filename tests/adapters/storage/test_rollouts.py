"""The rollouts store on SQLite and PostgreSQL: start once, supersede, save conditionally, lease."""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import Engine

from bot.adapters.storage.publications import NewChange, NewPublication, Outbox
from bot.adapters.storage.rollouts import RolloutStore
from bot.core.gates import halt
from bot.core.rollout_model import Promotion, RolloutPhase, RolloutState
from tests.adapters.storage.helpers import T0, database_url, engine, postgres_server

__all__ = ["database_url", "engine", "postgres_server"]

INTENT = {
    "metadata": {"name": "chrome"},
    "app": {"version": "131.0"},
    "plane": "intune",
    "rings": [
        {"name": "lab", "target": "g-lab", "devices": 3, "assignment": "required"},
        {"name": "pilot", "target": "g-pilot", "devices": 30, "assignment": "required"},
    ],
}


def merged(
    outbox: Outbox,
    sha: str,
    version: str = "131.0",
    *,
    succeed: bool = True,
    action: str = "publish",
) -> int:
    intent = {**INTENT, "app": {"version": version}}
    change, rows, _ = outbox.record_change(
        NewChange(
            repository="acme/intents",
            pr=int(sha[:2], 16),
            installation_id=1,
            head_sha="h" * 40,
            merge_sha=sha * 20,
            check_digest="sha256:" + "c" * 64,
            state="publishing",
            emergency=False,
            facts={},
            comment_head="merged",
            correlation_id=f"d-{sha}",
        ),
        [
            NewPublication(
                plane="intune",
                intent_name="chrome",
                version=version,
                ring="lab",
                target="g-lab",
                path="intents/chrome.yaml",
                idempotency_key=f"chrome@{version}#{'lab' if action == 'publish' else action}",
                intent=intent,
                evidence_digest="sha256:" + "e" * 64,
                action=action,
            )
        ],
        now=T0,
    )
    if succeed:
        claim = outbox.claim(rows[0].id, now=T0)
        assert claim is not None
        assert outbox.succeed(claim, {"object_id": "x", "created": True}, now=T0)
    return change.id


def promotion() -> Promotion:
    return Promotion(
        ring="pilot",
        step=1,
        target="g-pilot",
        idempotency_key="chrome@131.0#pilot",
        evidence_digest="sha256:" + "e" * 64,
    )


def test_a_rollout_starts_once_per_succeeded_merge_publication(engine: Engine) -> None:
    outbox, store = Outbox(engine), RolloutStore(engine)
    merged(outbox, "a1", succeed=False)
    assert store.start_published(now=T0) == ()
    merged(outbox, "b2")
    [record] = store.start_published(now=T0)
    assert store.start_published(now=T0) == ()
    assert (record.state.intent, record.state.version, record.state.plane) == (
        "chrome",
        "131.0",
        "intune",
    )
    assert [r.name for r in record.state.rings] == ["lab", "pilot"]
    assert record.state.rings[0].started_at == T0
    assert record.evidence_digest == "sha256:" + "e" * 64
    assert store.live() == (record,)


def test_a_newer_merge_of_the_intent_supersedes_the_live_rollout(engine: Engine) -> None:
    outbox, store = Outbox(engine), RolloutStore(engine)
    merged(outbox, "a1")
    [old] = store.start_published(now=T0)
    merged(outbox, "b2", version="132.0")
    [new] = store.start_published(now=T0 + timedelta(hours=1))
    superseded = store.get(old.id)
    assert superseded is not None
    assert superseded.state.phase is RolloutPhase.SUPERSEDED
    assert superseded.state.reason == "superseded by version 132.0"
    assert store.live() == (new,)


def test_a_merge_deleting_the_intent_retires_its_live_rollout_and_starts_none(
    engine: Engine,
) -> None:
    outbox, store = Outbox(engine), RolloutStore(engine)
    merged(outbox, "a1")
    [old] = store.start_published(now=T0)
    change = merged(outbox, "b2", succeed=False, action="retire")  # not even run yet
    [row] = outbox.publications(change)
    assert row.action == "retire"
    assert store.start_published(now=T0 + timedelta(hours=1)) == ()
    retired = store.get(old.id)
    assert retired is not None
    assert retired.state.phase is RolloutPhase.SUPERSEDED
    assert retired.state.reason == f"retired by the merge of #{0xB2}"
    assert retired.revision == old.revision + 1  # a reconciler that read it saves nothing
    assert store.save(old, old.state, now=T0) == (False, None)
    assert store.live() == ()
    # its retirement succeeding starts no rollout, and a later pass changes nothing
    claim = outbox.claim(row.id, now=T0)
    assert claim is not None
    assert outbox.succeed(claim, {"object_id": None, "created": False}, now=T0)
    assert store.start_published(now=T0 + timedelta(hours=2)) == ()
    assert store.get(old.id) == retired
    assert [r.id for r in store.recent()] == [old.id]


def test_save_is_conditional_and_records_the_promotion_once(engine: Engine) -> None:
    outbox, store = Outbox(engine), RolloutStore(engine)
    change = merged(outbox, "a1")
    [record] = store.start_published(now=T0)
    held = halt(record.state, "cab")
    assert isinstance(held, RolloutState)
    results: list[tuple[bool, int | None]] = []
    barrier = threading.Barrier(4)

    def save() -> None:
        barrier.wait()
        results.append(store.save(record, held, now=T0, promotion=promotion()))

    threads = [threading.Thread(target=save) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(saved for saved, _ in results) == [False, False, False, True]
    [publication_id] = [i for saved, i in results if saved]
    assert publication_id is not None
    row = outbox.get(publication_id)
    assert row is not None
    assert (row.ring, row.step, row.target, row.state) == ("pilot", 1, "g-pilot", "pending")
    # the merge's own publications (step 0) are what the change pack lists
    assert [r.ring for r in outbox.publications(change)] == ["lab"]
    assert store.step_publication(record, 1) == publication_id
    stored = store.get(record.id)
    assert stored is not None
    assert stored.revision == record.revision + 1
    assert stored.state.phase is RolloutPhase.HELD
    assert store.live() == (stored,)
    assert [r.id for r in store.of_pr("acme/intents", record.pr)] == [record.id]


def test_the_lease_has_one_holder_until_it_expires_or_is_released(engine: Engine) -> None:
    store = RolloutStore(engine)
    assert store.lease("reconcile", "a", now=T0, seconds=60)
    assert not store.lease("reconcile", "b", now=T0 + timedelta(seconds=30), seconds=60)
    assert store.lease("reconcile", "a", now=T0 + timedelta(seconds=30), seconds=60)
    assert store.lease("reconcile", "b", now=T0 + timedelta(seconds=91), seconds=60)
    store.release("reconcile", "a")  # not the holder: nothing
    assert not store.lease("reconcile", "a", now=T0 + timedelta(seconds=92), seconds=60)
    store.release("reconcile", "b")
    assert store.lease("reconcile", "a", now=T0 + timedelta(seconds=93), seconds=60)
