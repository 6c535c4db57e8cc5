"""The publications outbox on SQLite and PostgreSQL: record once, lease, journal, settle, finalize."""

from __future__ import annotations

import json
import multiprocessing
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, delete, func, select

from bot.adapters.storage import create_database_engine, upgrade_schema
from bot.adapters.storage.publications import (
    ERROR_LIMIT,
    ChangeRow,
    NewChange,
    NewPublication,
    Outbox,
    PublicationRow,
)
from bot.adapters.storage.tables import changes, publications
from bot.core.publishing import FINAL_STATES, PublicationState, PublicationView, is_final
from bot.errors import LeaseLostError, StorageError
from tests.adapters.storage.helpers import BACKENDS
from tests.support.postgres import PostgresServer
from tests.support.publication_workers import (
    LEASE_SECONDS,
    FakePlane,
    lease_violations,
    work,
    work_in_process,
)

T0 = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)
LEASE = timedelta(seconds=900)


def new_change(merge_sha: str = "m" * 40, *, pr: int = 7, **fields: object) -> NewChange:
    values: dict[str, object] = {
        "repository": "acme/intents",
        "pr": pr,
        "installation_id": 42,
        "head_sha": "h" * 40,
        "merge_sha": merge_sha,
        "check_digest": "sha256:" + "c" * 64,
        "state": "publishing",
        "emergency": False,
        "facts": {"approvals": [{"reviewer": "cab-alice", "reviewId": 11}], "note": "déjà vu"},
        "comment_head": "## EUCORA\nmerged",
        "correlation_id": "delivery-1",
    }
    values.update(fields)
    return NewChange(**values)  # type: ignore[arg-type]


def new_publication(name: str = "firefox", plane: str = "intune", **fields: str) -> NewPublication:
    values = {
        "plane": plane,
        "intent_name": name,
        "version": "128.0",
        "ring": "pilot",
        "target": f"grp-{name}-pilot",
        "path": f"intents/{name}.yaml",
        "idempotency_key": f"{name}@128.0#pilot",
        "evidence_digest": "sha256:" + "e" * 64,
    }
    values.update(fields)
    return NewPublication(intent={"metadata": {"name": name}, "spec": {"plane": plane}}, **values)


def record(
    outbox: Outbox, *names: str, merge_sha: str = "m" * 40, pr: int = 7, now: datetime = T0
) -> tuple[ChangeRow, tuple[PublicationRow, ...]]:
    change, rows, created = outbox.record_change(
        new_change(merge_sha, pr=pr), [new_publication(n) for n in names], now=now
    )
    assert created
    return change, rows


def count(engine: Engine, table: object) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


@pytest.fixture(scope="module", params=BACKENDS)
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """One database per backend for the module (migrating one per test costs more than the test)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('outbox') / 'eucora.db'}"
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    url = server.create_database()
    yield url
    server.drop_database(url.rsplit("/", 1)[1])


@pytest.fixture(scope="module")
def migrated(database_url: str) -> Iterator[Engine]:
    built = create_database_engine(database_url)
    upgrade_schema(built)
    yield built
    built.dispose()


@pytest.fixture
def engine(migrated: Engine) -> Engine:
    """The module's database, emptied for each test."""
    with migrated.begin() as connection:
        connection.execute(delete(publications))
        connection.execute(delete(changes))
    return migrated


@pytest.fixture
def outbox(engine: Engine) -> Outbox:
    return Outbox(engine)


# --- recording a merge ------------------------------------------------------------------------------


def test_record_change_stores_the_change_and_its_publications(outbox: Outbox) -> None:
    change, rows, created = outbox.record_change(
        new_change(), [new_publication("firefox"), new_publication("zoom", plane="jamf")], now=T0
    )
    assert created
    assert change == ChangeRow(
        id=change.id,
        repository="acme/intents",
        pr=7,
        installation_id=42,
        head_sha="h" * 40,
        merge_sha="m" * 40,
        check_digest="sha256:" + "c" * 64,
        state="publishing",
        emergency=False,
        facts={"approvals": [{"reviewer": "cab-alice", "reviewId": 11}], "note": "déjà vu"},
        comment_head="## EUCORA\nmerged",
        followup_issue=None,
        final_digest=None,
        correlation_id="delivery-1",
    )
    assert [r.intent_name for r in rows] == ["firefox", "zoom"]
    assert rows[0].id < rows[1].id
    first = rows[0]
    assert (first.change_id, first.repository, first.pr, first.plane) == (
        change.id,
        "acme/intents",
        7,
        "intune",
    )
    assert first.intent == {"metadata": {"name": "firefox"}, "spec": {"plane": "intune"}}
    assert (first.state, first.attempts, first.not_before, first.lease_owner) == (
        "pending",
        0,
        T0,
        None,
    )
    assert (first.result, first.journal, first.deployment_id, first.last_error) == (
        None,
        {},
        None,
        None,
    )
    assert outbox.publications(change.id) == rows
    assert outbox.change(change.id) == change
    assert outbox.get(first.id) == first


def test_a_duplicate_merge_records_nothing_and_returns_the_stored_rows(
    outbox: Outbox, engine: Engine
) -> None:
    change, rows = record(outbox, "firefox", "zoom")
    claim = outbox.claim(rows[0].id, now=T0)
    assert claim is not None
    again = outbox.record_change(
        new_change(facts={"other": True}, correlation_id="delivery-2"),
        [new_publication("chrome")],
        now=T0 + timedelta(hours=1),
    )
    stored_change, stored_rows, created = again
    assert not created
    assert stored_change == change
    assert stored_rows == (claim.row, rows[1])
    assert (count(engine, changes), count(engine, publications)) == (1, 2)


def test_a_failed_record_leaves_nothing(outbox: Outbox, engine: Engine) -> None:
    """Two publications with one (plane, idempotency key): the whole transaction is undone."""
    with pytest.raises(StorageError, match=r"could not record the merge of acme/intents#7"):
        outbox.record_change(
            new_change(), [new_publication("firefox"), new_publication("firefox")], now=T0
        )
    assert (count(engine, changes), count(engine, publications)) == (0, 0)
    assert outbox.latest_change("acme/intents", 7) is None


def test_the_same_merge_recorded_from_many_threads_is_recorded_once(
    outbox: Outbox, engine: Engine
) -> None:
    results: list[tuple[int, bool]] = []
    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def send() -> None:
        try:
            start.wait(10)
            change, _, created = outbox.record_change(
                new_change(), [new_publication("firefox")], now=T0
            )
            results.append((change.id, created))
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=send) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert sorted(created for _, created in results) == [False] * 5 + [True]
    assert len({change_id for change_id, _ in results}) == 1
    assert (count(engine, changes), count(engine, publications)) == (1, 1)


def test_changes_are_found_by_pr_latest_first(outbox: Outbox) -> None:
    first, _ = record(outbox, "firefox", merge_sha="1" * 40)
    second, _ = record(outbox, "firefox", merge_sha="2" * 40)
    record(outbox, "firefox", merge_sha="3" * 40, pr=8)
    latest = outbox.latest_change("acme/intents", 7)
    assert latest is not None
    assert (latest.id, latest.merge_sha) == (second.id, "2" * 40)
    assert first.id < second.id
    assert outbox.latest_change("acme/other", 7) is None
    assert outbox.change(10_000) is None
    assert outbox.get(10_000) is None
    assert outbox.publications(10_000) == ()


def test_a_refused_change_has_no_publications_and_is_never_finalized(outbox: Outbox) -> None:
    change, rows, created = outbox.record_change(
        new_change(state="refused", check_digest=None, installation_id=None, emergency=True),
        [],
        now=T0,
    )
    assert created
    assert rows == ()
    assert (change.state, change.check_digest, change.installation_id, change.emergency) == (
        "refused",
        None,
        None,
        True,
    )
    assert outbox.all_final(change.id)
    assert not outbox.finalize_change(change.id, final_digest="sha256:x", now=T0)
    assert outbox.reopen_failed(change.id, now=T0) == ()


def test_followup_issue_and_deployment_are_remembered(outbox: Outbox) -> None:
    change, rows = record(outbox, "firefox")
    outbox.set_followup_issue(change.id, 31)
    outbox.set_deployment(rows[0].id, 9_000_000_001)
    stored_change = outbox.change(change.id)
    stored = outbox.get(rows[0].id)
    assert stored_change is not None
    assert stored is not None
    assert stored_change.followup_issue == 31
    assert stored.deployment_id == 9_000_000_001


# --- claiming -----------------------------------------------------------------------------------


def test_a_pending_due_publication_is_claimed_once(outbox: Outbox) -> None:
    _, (row,) = record(outbox, "firefox")
    claim = outbox.claim(row.id, now=T0)
    assert claim is not None
    assert (claim.row.state, claim.row.attempts, claim.row.lease_owner) == (
        "in_progress",
        1,
        claim.owner,
    )
    assert outbox.claim(row.id, now=T0 + timedelta(minutes=1)) is None  # live lease
    assert outbox.claim(10_000, now=T0) is None


def test_a_publication_not_yet_due_is_not_claimed(outbox: Outbox) -> None:
    _, (row,) = record(outbox, "firefox")
    assert outbox.claim(row.id, now=T0 - timedelta(seconds=1)) is None
    claim = outbox.claim(row.id, now=T0)
    assert claim is not None
    later = T0 + timedelta(seconds=30)
    assert outbox.retry_later(claim, error="503 from Graph", not_before=later, now=T0)
    stored = outbox.get(row.id)
    assert stored is not None
    assert (stored.state, stored.not_before, stored.last_error, stored.lease_owner) == (
        "pending",
        later,
        "503 from Graph",
        None,
    )
    assert outbox.claim(row.id, now=later - timedelta(microseconds=1)) is None
    again = outbox.claim(row.id, now=later)
    assert again is not None
    assert again.row.attempts == 2


def test_final_publications_are_not_claimed(outbox: Outbox) -> None:
    _, (done, failed) = record(outbox, "firefox", "zoom")
    for row, settle in ((done, "succeed"), (failed, "fail")):
        claim = outbox.claim(row.id, now=T0)
        assert claim is not None
        if settle == "succeed":
            assert outbox.succeed(claim, {"object_id": "app-1"}, now=T0)
        else:
            assert outbox.fail(claim, error="401: bad credentials", now=T0)
        assert outbox.claim(row.id, now=T0 + timedelta(days=1)) is None


def test_an_expired_lease_is_taken_over_and_the_old_owner_changes_nothing(
    engine: Engine,
) -> None:
    outbox = Outbox(engine, lease_seconds=60)
    _, (row,) = record(outbox, "firefox")
    old = outbox.claim(row.id, now=T0)
    assert old is not None
    outbox.journal(old).put("job_id", "awx-17")
    assert outbox.claim(row.id, now=T0 + timedelta(seconds=60)) is None  # not yet expired
    new = outbox.claim(row.id, now=T0 + timedelta(seconds=61))
    assert new is not None
    assert new.owner != old.owner
    assert (new.row.attempts, new.row.lease_owner, new.row.journal) == (
        2,
        new.owner,
        {"job_id": "awx-17"},
    )
    later = T0 + timedelta(seconds=62)
    assert not outbox.succeed(old, {"object_id": "x"}, now=later)
    assert not outbox.retry_later(old, error="timeout", not_before=later, now=later)
    assert not outbox.fail(old, error="timeout", now=later)
    with pytest.raises(LeaseLostError, match=r"publication \d+ \(firefox@128.0#pilot on intune\)"):
        outbox.journal(old).put("job_id", "awx-18")
    stored = outbox.get(row.id)
    assert stored is not None
    assert (stored.state, stored.lease_owner, stored.journal, stored.result) == (
        "in_progress",
        new.owner,
        {"job_id": "awx-17"},
        None,
    )
    assert outbox.succeed(new, {"object_id": "awx-17", "created": False}, now=later)


# --- the journal --------------------------------------------------------------------------------


def test_the_journal_is_durable_and_survives_attempts(outbox: Outbox, database_url: str) -> None:
    _, (row,) = record(outbox, "firefox")
    claim = outbox.claim(row.id, now=T0)
    assert claim is not None
    journal = outbox.journal(claim)
    assert journal.get("job_id") is None
    journal.put("job_id", "awx-17")
    journal.put("content_version", "3")
    journal.put("job_id", "awx-18")
    # Committed: another engine (another process) reads it.
    other_engine = create_database_engine(database_url)
    stored = Outbox(other_engine).get(row.id)
    other_engine.dispose()
    assert stored is not None
    assert stored.journal == {"job_id": "awx-18", "content_version": "3"}
    assert journal.get("job_id") == "awx-18"
    assert outbox.retry_later(claim, error="timeout", not_before=T0, now=T0)
    next_claim = outbox.claim(row.id, now=T0)
    assert next_claim is not None
    assert outbox.journal(next_claim).get("content_version") == "3"
    with pytest.raises(LeaseLostError):
        outbox.journal(claim).put("job_id", "awx-19")  # the first claim ended with retry_later
    assert outbox.succeed(next_claim, {"object_id": "awx-18"}, now=T0)
    with pytest.raises(LeaseLostError):
        outbox.journal(next_claim).put("job_id", "awx-20")  # final: no owner any more


# --- settling -----------------------------------------------------------------------------------


def test_succeed_keeps_the_result_and_the_view_shows_it(outbox: Outbox) -> None:
    _, (row,) = record(outbox, "firefox")
    claim = outbox.claim(row.id, now=T0)
    assert claim is not None
    result = {"object_id": "app-9", "created": True, "url": "https://intune/app-9", "details": {}}
    assert outbox.succeed(claim, result, now=T0 + timedelta(seconds=5))
    assert not outbox.succeed(claim, result, now=T0 + timedelta(seconds=6))  # once only
    stored = outbox.get(row.id)
    assert stored is not None
    assert (stored.state, stored.result, stored.lease_owner, stored.last_error) == (
        "succeeded",
        result,
        None,
        None,
    )
    assert stored.view() == PublicationView(
        id=row.id,
        plane="intune",
        ring="pilot",
        target="grp-firefox-pilot",
        intent_name="firefox",
        version="128.0",
        state="succeeded",
        attempts=1,
        object_id="app-9",
        url="https://intune/app-9",
        created=True,
        error=None,
    )


def test_fail_keeps_a_clipped_error_and_the_view_shows_it(outbox: Outbox) -> None:
    _, (row,) = record(outbox, "firefox")
    claim = outbox.claim(row.id, now=T0)
    assert claim is not None
    assert outbox.fail(claim, error="x" * (ERROR_LIMIT + 50), now=T0)
    stored = outbox.get(row.id)
    assert stored is not None
    assert stored.last_error is not None
    assert len(stored.last_error) == ERROR_LIMIT
    assert stored.last_error.endswith("…")
    view = stored.view()
    assert (view.state, view.error, view.object_id, view.url, view.created) == (
        "failed",
        stored.last_error,
        None,
        None,
        None,
    )


def test_a_pending_row_views_without_result(outbox: Outbox) -> None:
    _, (row,) = record(outbox, "firefox")
    odd = replace(row, result={"object_id": 12, "created": "yes"})
    assert (odd.view().object_id, odd.view().created) == ("12", None)
    assert row.view().state == "pending"


# --- people and the change ----------------------------------------------------------------------


def test_finalize_only_when_all_final_and_only_once_then_retry_publish(outbox: Outbox) -> None:
    change, (ok, broken) = record(outbox, "firefox", "zoom")
    claim_ok = outbox.claim(ok.id, now=T0)
    assert claim_ok is not None
    assert outbox.succeed(claim_ok, {"object_id": "app-1"}, now=T0)
    assert not outbox.all_final(change.id)
    assert not outbox.finalize_change(change.id, final_digest="sha256:early", now=T0)
    claim_broken = outbox.claim(broken.id, now=T0)
    assert claim_broken is not None
    assert outbox.fail(claim_broken, error="403 forbidden", now=T0)
    assert outbox.all_final(change.id)
    assert outbox.finalize_change(change.id, final_digest="sha256:first", now=T0)
    assert not outbox.finalize_change(change.id, final_digest="sha256:second", now=T0)
    final = outbox.change(change.id)
    assert final is not None
    assert (final.state, final.final_digest) == ("final", "sha256:first")

    retry_at = T0 + timedelta(hours=2)
    assert outbox.reopen_failed(change.id, now=retry_at) == (broken.id,)
    assert outbox.reopen_failed(change.id, now=retry_at) == ()
    reopened = outbox.get(broken.id)
    assert reopened is not None
    assert (reopened.state, reopened.attempts, reopened.not_before) == ("pending", 0, retry_at)
    assert reopened.last_error == "403 forbidden"
    again = outbox.change(change.id)
    assert again is not None
    assert (again.state, again.final_digest) == ("publishing", None)
    assert not outbox.all_final(change.id)
    assert outbox.due(now=retry_at) == [broken.id]

    claim = outbox.claim(broken.id, now=retry_at)
    assert claim is not None
    assert claim.row.attempts == 1
    assert outbox.succeed(claim, {"object_id": "app-2"}, now=retry_at)
    assert outbox.finalize_change(change.id, final_digest="sha256:after-retry", now=retry_at)
    last = outbox.change(change.id)
    assert last is not None
    assert (last.state, last.final_digest) == ("final", "sha256:after-retry")
    assert outbox.all_final(10_000) is False
    assert not outbox.finalize_change(10_000, final_digest="x", now=T0)


def test_due_lists_due_pending_and_expired_leases_only(engine: Engine) -> None:
    outbox = Outbox(engine, lease_seconds=60)
    _, rows = record(outbox, "a", "b", "c", "d", "e")
    a, b, c, d, e = (r.id for r in rows)
    later = T0 + timedelta(minutes=5)
    claim_b = outbox.claim(b, now=T0)  # lease until T0+60s: expired at `later`
    claim_c = outbox.claim(c, now=later)  # live at `later`
    claim_d = outbox.claim(d, now=T0)
    claim_e = outbox.claim(e, now=T0)
    assert claim_b is not None
    assert claim_c is not None
    assert claim_d is not None
    assert claim_e is not None
    assert outbox.succeed(claim_d, {"object_id": "x"}, now=T0)
    assert outbox.retry_later(claim_e, error="429", not_before=later + timedelta(seconds=1), now=T0)
    assert outbox.due(now=later) == [a, b]
    assert outbox.due(now=later, limit=1) == [a]
    assert outbox.due(now=T0 - timedelta(seconds=1)) == []
    assert outbox.due(now=later + timedelta(seconds=1)) == [a, b, e]
    assert outbox.depth() == {"pending": 2, "in_progress": 2, "succeeded": 1, "failed": 0}


def test_depth_of_an_empty_outbox_names_every_state(outbox: Outbox, engine: Engine) -> None:
    assert outbox.engine is engine
    assert outbox.depth() == {state.value: 0 for state in PublicationState}


def test_times_need_a_zone(outbox: Outbox) -> None:
    with pytest.raises(ValueError, match="time zone"):
        outbox.due(now=datetime(2027, 1, 4, 9, 0))  # noqa: DTZ001 - the point of the test


def test_the_core_names_the_final_states() -> None:
    assert {PublicationState.SUCCEEDED, PublicationState.FAILED} == FINAL_STATES
    assert [is_final(s.value) for s in PublicationState] == [False, False, True, True]


# --- concurrency --------------------------------------------------------------------------------


def test_threads_racing_over_the_outbox_succeed_each_publication_exactly_once(
    engine: Engine,
) -> None:
    """Workers claim, die, retry and publish the same rows at once: one success per row."""
    outbox = Outbox(engine, lease_seconds=LEASE_SECONDS)
    names = [f"app{i:02}" for i in range(20)]
    change, rows = record(outbox, *names, now=datetime.now(UTC))  # the workers read the clock
    plane = FakePlane()
    tallies = []
    errors: list[BaseException] = []
    deadline = time.monotonic() + 30

    def run(seed: int) -> None:
        try:
            tallies.append(work(outbox, plane, seed=seed, deadline=deadline))
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=run, args=(seed,)) for seed in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(40)
    assert errors == []
    succeeded = Counter(i for tally in tallies for i in tally.succeeded)
    assert succeeded == Counter({row.id: 1 for row in rows})
    assert sorted(plane.objects) == sorted(f"{n}@128.0#pilot" for n in names)
    assert {i for i, _ in plane.calls} == {row.id for row in rows}
    working = [t for t in tallies if t.claims]  # each one's first claim was abandoned
    assert len(working) >= 2
    assert all(t.abandoned >= 1 for t in working)
    assert lease_violations([c for t in tallies for c in t.claims], LEASE_SECONDS) == []
    assert outbox.all_final(change.id)
    for row in outbox.publications(change.id):
        assert row.state == "succeeded"
        assert row.journal == {"object_id": f"obj-{row.idempotency_key}"}


def test_processes_racing_over_the_outbox_succeed_each_publication_exactly_once(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    outbox = Outbox(engine)
    change, rows = record(outbox, *(f"app{i:02}" for i in range(16)), now=datetime.now(UTC))
    # fork, not spawn: a spawned child spends seconds importing EUCORA. The children open their
    # own engines; the parent closes its connections first (SQLite must not see one cross a fork).
    engine.dispose()
    context = multiprocessing.get_context("fork")
    start = context.Event()
    claimed = context.Barrier(3)  # each worker holds a claim before any goes on: all three race
    outs = [tmp_path / f"worker-{n}.json" for n in range(3)]
    processes = [
        context.Process(target=work_in_process, args=(database_url, str(out), seed, start, claimed))
        for seed, out in enumerate(outs)
    ]
    for process in processes:
        process.start()
    start.set()
    for process in processes:
        process.join(60)
    assert [p.exitcode for p in processes] == [0, 0, 0]
    reports = [json.loads(out.read_text()) for out in outs]
    succeeded = Counter(i for report in reports for i in report["succeeded"])
    assert succeeded == Counter({row.id: 1 for row in rows})
    # Every worker won a claim (they met at the barrier holding one) and "died" once (its first).
    working = [report for report in reports if report["claims"]]
    assert len(working) == 3
    assert all(report["abandoned"] >= 1 for report in working)
    claims = [tuple(c) for report in reports for c in report["claims"]]
    assert lease_violations(claims, LEASE_SECONDS) == []  # type: ignore[arg-type]
    assert {i for report in reports for i, _ in report["calls"]} == {row.id for row in rows}
    assert outbox.all_final(change.id)
    assert outbox.depth()["succeeded"] == len(rows)
