"""Fixtures and helpers for the storage tests, shared with the audit flow and CLI tests.

Every database test runs twice: on SQLite (a file under tmp_path) and on a real PostgreSQL
server (one per session, a fresh database per test).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, insert, text, update

from bot.adapters.storage import AuditLog, create_database_engine, upgrade_schema
from bot.adapters.storage.tables import audit_events
from bot.core.audit_events import AuditEvent, seal_event
from bot.core.evidence import canonical_json
from bot.core.tlog import Ed25519Signer
from tests.support.postgres import PostgresServer, postgres_server

__all__ = [
    "BACKENDS",
    "T0",
    "append_events",
    "append_from_process",
    "database_url",
    "engine",
    "log",
    "postgres_server",
    "record_from_process",
    "signer",
    "tampering",
]

BACKENDS = ["sqlite", "postgresql"]
T0 = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database: a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'home' / 'eucora.db'}"
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    url = server.create_database()
    yield url
    server.drop_database(url.rsplit("/", 1)[1])


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """An engine on a database migrated to head."""
    built = create_database_engine(database_url)
    upgrade_schema(built)
    yield built
    built.dispose()


@pytest.fixture
def log(engine: Engine) -> AuditLog:
    """The audit log on a migrated database."""
    return AuditLog(engine)


@pytest.fixture
def signer() -> Ed25519Signer:
    """A fixed checkpoint signer."""
    return Ed25519Signer("eucora/test", hashlib.sha256(b"test key").digest())


def append_events(log: AuditLog, count: int, *, start: int = 0, **fields: Any) -> list[AuditEvent]:
    """Append ``count`` events about three pull requests, a second apart."""
    events = []
    for i in range(start, start + count):
        values: dict[str, Any] = {
            "type": "pull_request.evaluated",
            "actor": "eucora[bot]",
            "correlation_id": f"delivery-{i}",
            "repository": "acme/intents",
            "pr": i % 3 + 1,
            "head_sha": hashlib.sha1(str(i).encode(), usedforsecurity=False).hexdigest(),
            "payload": {"i": i, "decision": "pass", "note": "déjà vu"},
            "time": T0 + timedelta(seconds=i),
        }
        values.update(fields)
        events.append(log.append(**values))
    return events


@contextmanager
def tampering(engine: Engine) -> Iterator[Connection]:
    """A committed transaction in which the append-only triggers do not fire.

    What someone with write access to the database could do: SQLite's triggers are dropped and
    put back afterwards, PostgreSQL's are skipped with ``session_replication_role = replica``.
    """
    with engine.connect() as connection, connection.begin():
        triggers: list[Any] = []
        if engine.dialect.name == "sqlite":
            triggers = connection.exec_driver_sql(
                "SELECT name, sql FROM sqlite_master WHERE type = 'trigger'"
            ).all()
            for name, _ in triggers:
                connection.exec_driver_sql(f"DROP TRIGGER {name}")
        else:
            connection.exec_driver_sql("SET LOCAL session_replication_role = replica")
        yield connection
        for _, sql in triggers:
            connection.exec_driver_sql(sql)


def edit_event(engine: Engine, seq: int, **values: Any) -> None:
    """Change stored fields of one event (payload given as JSON-like data)."""
    if "payload" in values:
        values["payload"] = canonical_json(values["payload"]).decode()
    with tampering(engine) as connection:
        connection.execute(update(audit_events).where(audit_events.c.seq == seq).values(**values))


def delete_event(engine: Engine, seq: int) -> None:
    """Delete one stored event."""
    with tampering(engine) as connection:
        connection.execute(text("DELETE FROM audit_events WHERE seq = :seq"), {"seq": seq})


def swap_events(engine: Engine, first: int, second: int) -> None:
    """Exchange two stored events' places (their contents, keeping the sequence column)."""
    parking = 10_000_000
    with tampering(engine) as connection:
        for old, new in ((first, parking), (second, first), (parking, second)):
            connection.execute(
                update(audit_events).where(audit_events.c.seq == old).values(seq=new)
            )


def insert_event(engine: Engine, seq: int) -> AuditEvent:
    """Put a forged, well-formed event at ``seq``, shifting the later ones up by one."""
    with tampering(engine) as connection:
        seqs = connection.execute(
            text("SELECT seq FROM audit_events WHERE seq >= :seq ORDER BY seq DESC"), {"seq": seq}
        ).scalars()
        for old in list(seqs):
            connection.execute(
                update(audit_events).where(audit_events.c.seq == old).values(seq=old + 1)
            )
        prev_hash = connection.execute(
            text("SELECT hash FROM audit_events WHERE seq = :seq"), {"seq": seq - 1}
        ).scalar_one()
        forged = seal_event(
            seq=seq,
            time="2027-01-04T09:00:00.500000Z",
            type="pull_request.approved",
            actor="mallory",
            correlation_id="forged",
            repository="acme/intents",
            pr=1,
            head_sha=None,
            payload={"forged": True},
            prev_hash=prev_hash,
        )
        row = {
            "seq": forged.seq,
            "time": forged.time,
            "type": forged.type,
            "actor": forged.actor,
            "correlation_id": forged.correlation_id,
            "repository": forged.repository,
            "pr": forged.pr,
            "head_sha": forged.head_sha,
            "payload": canonical_json(forged.payload).decode(),
            "prev_hash": forged.prev_hash,
            "hash": forged.hash,
        }
        connection.execute(insert(audit_events).values(row))
    return forged


def append_from_process(url: str, writer: int, count: int, start: Any) -> None:
    """Run in a spawned process: build an engine, wait for the start signal, append events."""
    engine = create_database_engine(url)
    log = AuditLog(engine)
    with engine.connect():  # connect before the start signal, so all start at once
        pass
    start.wait(60)
    for i in range(count):
        log.append(
            type="test.append",
            actor=f"writer-{writer}",
            correlation_id=f"writer-{writer}-{i}",
            repository="acme/intents",
            pr=writer,
            head_sha=None,
            payload={"writer": writer, "i": i},
            time=datetime.now(UTC),
        )
    engine.dispose()


def record_from_process(url: str, writer: int, count: int, start: Any) -> None:
    """Run in a spawned process: append and sign a checkpoint ``count`` times, as recorders do."""
    engine = create_database_engine(url)
    log = AuditLog(engine)
    signer = Ed25519Signer("eucora/test", hashlib.sha256(b"test key").digest())
    with engine.connect():
        pass
    start.wait(60)
    for i in range(count):
        event = log.append(
            type="evidence.stored",
            actor=f"writer-{writer}",
            correlation_id=f"writer-{writer}-{i}",
            repository="acme/intents",
            pr=writer,
            head_sha=None,
            payload={"writer": writer, "i": i},
            time=datetime.now(UTC),
        )
        log.checkpoint(signer, time=datetime.now(UTC))
        log.inclusion_proof(event.seq)
    engine.dispose()
