"""How fast is the audit log: appends per second, and `eucora audit verify` over a million events.

(a) Appends per second on SQLite (WAL, synchronous=FULL: one fsync per commit) and on PostgreSQL
    (a real server from Debian's package, durable settings: fsync on), with 1 writer process and
    with 4 writer processes appending at once (spawned, each with its own engine). Every append
    is its own transaction under the writers' lock, so 4 writers measure the lock's cost, not a
    speed-up. The chain is verified after each run.
(b) `audit verify` (``AuditLog.verify``: read every row, re-hash every event, rebuild the Merkle
    root, check a signed checkpoint) over 1,000,000 events on each database. The events are
    generated already chained and bulk-inserted (executemany on SQLite, COPY on PostgreSQL),
    with one signed checkpoint of the whole tree (and its frontier, as the log keeps it).
(c) Signing the next checkpoint of that log after 100 more events: from the stored frontier
    (read the 100 new events, check their links, extend the frontier), against the full walk
    the log falls back to when the last note is not its signer's (every event re-verified, as
    every checkpoint did before frontiers were kept); and the inclusion proof of the newest
    event (what a recorded evidence pack's bundle needs).

Usage: .venv/bin/python benchmarks/audit.py [--appends 1000] [--events 1000000] [--skip-postgres]
       [--skip-appends]
About 3 to 5 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import hashlib
import multiprocessing
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import Engine, insert

from bot.adapters.storage import AuditLog, create_database_engine, upgrade_schema
from bot.adapters.storage.tables import audit_checkpoints, audit_events
from bot.core.audit_events import GENESIS_HASH, AuditEvent, event_hash, format_event_time, leaf_data
from bot.core.evidence import canonical_json
from bot.core.tlog import (
    Checkpoint,
    CompactRange,
    Ed25519Signer,
    leaf_hash,
    sign_checkpoint,
    verify_checkpoint,
    verify_consistency,
    verify_proof_bundle,
)

SIGNER = Ed25519Signer("eucora/bench", hashlib.sha256(b"benchmark key").digest())
ROTATED = Ed25519Signer("eucora/bench", hashlib.sha256(b"another benchmark key").digest())
NEW_EVENTS = 100
COLUMNS = (
    "seq",
    "time",
    "type",
    "actor",
    "correlation_id",
    "repository",
    "pr",
    "head_sha",
    "payload",
    "prev_hash",
    "hash",
)


def append_worker(url: str, writer: int, count: int, ready: Any, times: Any) -> None:
    """In a spawned process: connect, wait for all writers, append ``count`` events.

    Reports its start and end on the system-wide monotonic clock, so start-up is not counted.
    """
    engine = create_database_engine(url)
    log = AuditLog(engine)
    with engine.connect():
        pass
    ready.wait(120)
    began = time.monotonic()
    for i in range(count):
        log.append(
            type="pull_request.evaluated",
            actor=f"writer-{writer}",
            correlation_id=f"delivery-{writer}-{i}",
            repository="acme/intents",
            pr=i % 50,
            head_sha=f"{i:040x}",
            payload={"writer": writer, "i": i, "decision": "pass"},
            time=datetime.now(UTC),
        )
    times.put((began, time.monotonic()))
    engine.dispose()


def measure_appends(url: str, writers: int, total: int) -> float:
    """Events per second with ``writers`` processes appending ``total`` events between them."""
    engine = create_database_engine(url)
    upgrade_schema(engine)
    before = AuditLog(engine).size()
    context = multiprocessing.get_context("spawn")
    ready = context.Barrier(writers)
    times = context.Queue()
    processes = [
        context.Process(target=append_worker, args=(url, w, total // writers, ready, times))
        for w in range(writers)
    ]
    for process in processes:
        process.start()
    spans = [times.get(timeout=600) for _ in processes]
    for process in processes:
        process.join(600)
    if any(p.exitcode != 0 for p in processes):
        raise SystemExit("a writer process failed")
    elapsed = max(end for _, end in spans) - min(start for start, _ in spans)
    report = AuditLog(engine).verify()
    engine.dispose()
    if not report.ok or report.size != before + total:
        raise SystemExit(f"the chain does not hold after the run: {report}")
    return total / elapsed


def generated_rows(count: int) -> Iterator[tuple[dict[str, Any], bytes]]:
    """Chained event rows and their leaf hashes, as the log would have written them."""
    prev = GENESIS_HASH
    base = datetime(2027, 1, 4, 9, 0, tzinfo=UTC).timestamp()
    for seq in range(1, count + 1):
        fields: dict[str, Any] = {
            "seq": seq,
            "time": format_event_time(datetime.fromtimestamp(base + seq / 10, UTC)),
            "type": "pull_request.evaluated",
            "actor": "eucora[bot]",
            "correlation_id": f"delivery-{seq}",
            "repository": f"acme/intents-{seq % 7}",
            "pr": seq % 500,
            "head_sha": f"{seq:040x}",
            "payload": {"decision": "pass", "risk": seq % 100, "rules": ["R1", "R7"]},
            "prev_hash": prev,
        }
        digest = event_hash(**fields)
        row = {**fields, "hash": digest}
        leaf = leaf_hash(leaf_data(AuditEvent(**row)))
        row["payload"] = canonical_json(fields["payload"]).decode()
        prev = digest
        yield row, leaf


def fill(engine: Engine, count: int) -> float:
    """Bulk-insert ``count`` chained events and a signed checkpoint of them; seconds taken."""
    began = time.perf_counter()
    frontier = CompactRange()
    leaves: list[bytes] = []
    batch: list[dict[str, Any]] = []
    postgres = engine.dialect.name == "postgresql"

    def flush(connection: Any) -> None:
        if not batch:
            return
        if postgres:
            with (
                connection.connection.driver_connection.cursor() as cursor,
                cursor.copy(f"COPY audit_events ({', '.join(COLUMNS)}) FROM STDIN") as copy,
            ):
                for row in batch:
                    copy.write_row([row[c] for c in COLUMNS])
        else:
            connection.execute(insert(audit_events), batch)
        batch.clear()

    with engine.begin() as connection:
        for row, leaf in generated_rows(count):
            batch.append(row)
            leaves.append(leaf)
            if len(batch) == 50_000:
                flush(connection)
                frontier = frontier.extend(leaves)
                leaves.clear()
        flush(connection)
        frontier = frontier.extend(leaves)
        root = frontier.root()
        note = sign_checkpoint(
            Checkpoint(SIGNER.name, count, root), SIGNER.name, SIGNER.private_key
        )
        connection.execute(
            insert(audit_checkpoints).values(
                size=count,
                origin=SIGNER.name,
                root=root,
                note=note,
                consistency=b"".join(frontier.hashes),
                signed_at=format_event_time(datetime.now(UTC)),
            )
        )
    return time.perf_counter() - began


def append_new(log: AuditLog, count: int, start: int) -> None:
    """Append ``count`` events as the webhook would."""
    for i in range(start, start + count):
        log.append(
            type="evidence.stored",
            actor="eucora[bot]",
            correlation_id=f"delivery-new-{i}",
            repository="acme/intents",
            pr=i % 50,
            head_sha=f"{i:040x}",
            payload={"digest": f"sha256:{i:064x}", "kind": "CheckPack", "keyid": None},
            time=datetime.now(UTC),
        )


def measure_verify(url: str, count: int) -> dict[str, float]:
    """Seconds to fill, for `audit verify` over ``count`` events, and for the next checkpoints."""
    engine = create_database_engine(url)
    upgrade_schema(engine)
    times = {"fill": fill(engine, count)}
    log = AuditLog(engine)
    began = time.perf_counter()
    report = log.verify([SIGNER.verifier.verifier_key])
    times["verify"] = time.perf_counter() - began
    if not report.ok or report.size != count or report.checkpoints != (count,):
        raise SystemExit(f"verify did not pass: {report}")

    append_new(log, NEW_EVENTS, 0)
    began = time.perf_counter()
    note = log.checkpoint(SIGNER, time=datetime.now(UTC))
    times["checkpoint"] = time.perf_counter() - began
    began = time.perf_counter()
    bundle = log.inclusion_proof(count + NEW_EVENTS)
    times["proof"] = time.perf_counter() - began
    newest = log.events(repository="acme/intents", pr=(NEW_EVENTS - 1) % 50)[-1]
    verify_proof_bundle(bundle, leaf_data(newest), [SIGNER.verifier.verifier_key])

    append_new(log, NEW_EVENTS, NEW_EVENTS)
    began = time.perf_counter()
    log.checkpoint(ROTATED, time=datetime.now(UTC))  # cannot vouch for SIGNER's note: full walk
    times["full checkpoint"] = time.perf_counter() - began
    stored = log.checkpoints()
    engine.dispose()
    first, second, third = stored
    checked = verify_checkpoint(note or "", [SIGNER.verifier.verifier_key])
    if (checked.size, second.size, third.size) != (count + NEW_EVENTS,) * 2 + (
        count + 2 * NEW_EVENTS,
    ):
        raise SystemExit(f"unexpected checkpoints: {[c.size for c in stored]}")
    verify_consistency(first.size, second.size, second.consistency, first.root, second.root)
    verify_consistency(second.size, third.size, third.consistency, second.root, third.root)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--appends", type=int, default=1000, help="events per append run")
    parser.add_argument("--events", type=int, default=1_000_000, help="events for verify")
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument("--skip-appends", action="store_true", help="only (b) and (c)")
    args = parser.parse_args()

    backends: list[tuple[str, Callable[[], AbstractContextManager[Any]]]] = (
        [] if args.skip_sqlite else [("SQLite", nullcontext)]
    )
    if not args.skip_postgres:
        from tests.support.postgres import running_postgres  # noqa: PLC0415

        backends.append(("PostgreSQL", lambda: running_postgres(durable=True)))

    rows: list[tuple[str, str, str]] = []
    with tempfile.TemporaryDirectory(prefix="eucora-bench-") as folder:
        for name, server_context in backends:
            with server_context() as server:
                for writers in () if args.skip_appends else (1, 4):
                    url = (
                        server.create_database()
                        if server
                        else f"sqlite:///{folder}/appends-{writers}.db"
                    )
                    rate = measure_appends(url, writers, args.appends)
                    rows.append(
                        (
                            name,
                            f"append, {writers} writer process{'es' if writers > 1 else ''}",
                            f"{rate:,.0f} events/s",
                        )
                    )
                    print(rows[-1], flush=True)
                url = server.create_database() if server else f"sqlite:///{folder}/verify.db"
                times = measure_verify(url, args.events)
                n = f"{args.events:,}"
                full, incremental = times["full checkpoint"], times["checkpoint"]
                rows += [
                    (name, f"bulk insert of {n} chained events (setup)", f"{times['fill']:,.1f} s"),
                    (
                        name,
                        f"audit verify, {n} events + 1 checkpoint",
                        f"{times['verify']:,.1f} s ({args.events / times['verify']:,.0f} events/s)",
                    ),
                    (
                        name,
                        f"next checkpoint after {NEW_EVENTS} events, from the frontier",
                        f"{incremental * 1000:,.0f} ms",
                    ),
                    (
                        name,
                        f"next checkpoint after {NEW_EVENTS} events, full walk (before)",
                        f"{full:,.1f} s ({full / incremental:,.0f}x the frontier's time)",
                    ),
                    (
                        name,
                        "inclusion proof of the newest event",
                        f"{times['proof'] * 1000:,.0f} ms",
                    ),
                ]
                for row in rows[-5:]:
                    print(row, flush=True)

    width = max(len(r[1]) for r in rows)
    print()
    print(f"{'database':<11} {'measure':<{width}}  result")
    for name, measure, result in rows:
        print(f"{name:<11} {measure:<{width}}  {result}")


if __name__ == "__main__":
    main()
