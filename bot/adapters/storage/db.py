"""Database engines that keep their promises, the schema revision check, and migrations.

* SQLite (the default, ``sqlite:///<EUCORA_HOME>/eucora.db``): every connection is set to WAL,
  ``synchronous=FULL`` (a commit survives power loss, not only a crash: with WAL, ``NORMAL`` may
  lose the last commits, https://www.sqlite.org/pragma.html#pragma_synchronous) and a
  ``busy_timeout``, and each setting is read back; a connection that does not hold them is refused.
  Transactions are started by EUCORA (``BEGIN`` or ``BEGIN IMMEDIATE``), not by the driver.
* PostgreSQL (``EUCORA_DATABASE_URL=postgresql://...``) through psycopg 3.

The code refuses to run on a schema other than the one it was written for
(``SchemaVersionError`` names `eucora db upgrade`). Migrations are Alembic revisions shipped in
the package (``migrations/``), run programmatically so they work from an installed wheel.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from bot.adapters.storage.sqlite_writers import sqlite_writers
from bot.errors import SchemaVersionError, StorageError

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

# Alembic is imported where it is used: it is a sixth of the CLI's start-up (160 ms) and
# `eucora validate`, `check` and `--help` never touch a database.

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 10_000
"""How long a SQLite connection waits for another writer's lock before it reports busy."""
SQLITE_SYNCHRONOUS_FULL = 2
MIGRATION_LOCK_KEY = 0x6575636F72610002
"""PostgreSQL advisory lock key held while migrating ("eucora" + 2)."""

_BEGIN_OPTION = "eucora_sqlite_begin"
_BEGIN_MODES = frozenset({"DEFERRED", "IMMEDIATE", "EXCLUSIVE"})


def create_database_engine(url: str, **engine_options: Any) -> Engine:
    """The engine for ``url``: SQLite with durable settings, or PostgreSQL through psycopg 3.

    ``postgresql://`` and ``postgres://`` URLs get the psycopg 3 driver. Any other database is
    refused with ``StorageError``. The SQLite file's folder is created when missing.
    """
    try:
        parsed = make_url(url)
    except ArgumentError as error:
        raise StorageError(f"not a database URL: {error}") from error
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, **engine_options)
        _make_durable(engine, in_memory=not database or database == ":memory:")
        return engine
    if backend in {"postgresql", "postgres"}:
        _, _, driver = parsed.drivername.partition("+")
        if driver not in {"", "psycopg"}:
            raise StorageError(
                f"EUCORA talks to PostgreSQL through psycopg 3, not {parsed.drivername}:"
                " use a postgresql:// or postgresql+psycopg:// URL"
            )
        return create_engine(
            parsed.set(drivername="postgresql+psycopg"), pool_pre_ping=True, **engine_options
        )
    raise StorageError(f"EUCORA stores its data in SQLite or PostgreSQL, not {backend}")


def is_sqlite(engine: Engine) -> bool:
    """Whether the engine is SQLite."""
    return engine.dialect.name == "sqlite"


def is_postgresql(engine: Engine) -> bool:
    """Whether the engine is PostgreSQL."""
    return engine.dialect.name == "postgresql"


def _make_durable(engine: Engine, *, in_memory: bool) -> None:
    """Set and check WAL, synchronous=FULL and busy_timeout on every new SQLite connection."""

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        # The driver's own transaction handling would BEGIN late and never IMMEDIATE: EUCORA
        # begins every transaction itself (below), https://docs.sqlalchemy.org/en/20/dialects/sqlite.html
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            journal = str(cursor.execute("PRAGMA journal_mode = WAL").fetchone()[0]).lower()
            cursor.execute("PRAGMA synchronous = FULL")
            cursor.execute("PRAGMA foreign_keys = ON")
            synchronous = cursor.execute("PRAGMA synchronous").fetchone()[0]
            busy_timeout = cursor.execute("PRAGMA busy_timeout").fetchone()[0]
        finally:
            cursor.close()
        check_sqlite_settings(
            journal_mode=journal,
            synchronous=synchronous,
            busy_timeout=busy_timeout,
            in_memory=in_memory,
        )

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        mode = connection.get_execution_options().get(_BEGIN_OPTION, "DEFERRED")
        if mode not in _BEGIN_MODES:
            raise StorageError(f"unknown SQLite transaction mode {mode!r}")
        connection.exec_driver_sql(f"BEGIN {mode}")


def check_sqlite_settings(
    *, journal_mode: str, synchronous: int, busy_timeout: int, in_memory: bool = False
) -> None:
    """Refuse a SQLite connection that does not hold EUCORA's durability settings."""
    if journal_mode != "wal" and not (in_memory and journal_mode == "memory"):
        raise StorageError(
            f"SQLite journal_mode is {journal_mode}, not wal: the database file's folder must"
            " allow WAL (a local disk, not a network share)"
        )
    if synchronous != SQLITE_SYNCHRONOUS_FULL:
        raise StorageError(f"SQLite synchronous is {synchronous}, not 2 (FULL)")
    if busy_timeout != SQLITE_BUSY_TIMEOUT_MS:
        raise StorageError(f"SQLite busy_timeout is {busy_timeout}, not {SQLITE_BUSY_TIMEOUT_MS}")


@contextmanager
def write_transaction(engine: Engine, lock_key: int) -> Iterator[Connection]:
    """A transaction that holds the writers' lock ``lock_key`` until it commits.

    SQLite: ``BEGIN IMMEDIATE`` takes the database's write lock at once (a writer that would
    wait longer than ``busy_timeout`` gets "database is locked"). PostgreSQL: a
    transaction-scoped advisory lock (``pg_advisory_xact_lock``) serialises the writers that
    ask for the same key, and READ COMMITTED lets each see what the one before committed.
    """
    if is_sqlite(engine):
        with sqlite_writers(engine), engine.connect() as opened:
            connection = opened.execution_options(**{_BEGIN_OPTION: "IMMEDIATE"})
            with connection.begin():
                yield connection
        return
    with engine.connect() as connection, connection.begin():
        if is_postgresql(engine):
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock_key})
        yield connection


@contextmanager
def row_locking_write(
    engine: Engine, lock_key: int, threads: AbstractContextManager[Any]
) -> Iterator[Connection]:
    """A write transaction for stores whose writers lock the rows they touch (inbox, outbox).

    PostgreSQL: a plain transaction (the callers lock rows, ``FOR UPDATE SKIP LOCKED``).
    SQLite has one writer per database: begun deferred, a transaction that reads before it
    writes pins a snapshot, and when another process commits in between, its write gets
    "database is locked" at once, without waiting (an intake in one gunicorn worker racing the
    drainer in another met it); so ``BEGIN IMMEDIATE`` (:func:`write_transaction`), after this
    process's threads have queued on ``threads``, which hands the lock over at once rather than
    in the busy handler's steps of up to 100 ms.
    """
    if is_postgresql(engine):
        with engine.begin() as connection:
            yield connection
    else:
        with threads, write_transaction(engine, lock_key) as connection:
            yield connection


@contextmanager
def read_snapshot(engine: Engine) -> Iterator[Connection]:
    """A read-only transaction that sees one snapshot of the database from start to end.

    SQLite in WAL mode keeps a read transaction's snapshot; PostgreSQL needs REPEATABLE READ.
    """
    with engine.connect() as opened:
        connection = opened
        if is_postgresql(engine):
            connection = opened.execution_options(
                isolation_level="REPEATABLE READ", postgresql_readonly=True
            )
        with connection.begin():
            yield connection


# --- schema revisions -----------------------------------------------------------------------------


def alembic_config() -> Config:
    """Alembic's configuration, pointing at the migrations shipped in this package."""
    from alembic.config import Config  # noqa: PLC0415 - see the imports

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    return config


@cache
def _scripts() -> ScriptDirectory:
    from alembic.script import ScriptDirectory  # noqa: PLC0415 - see the imports

    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    """The schema revision this EUCORA needs."""
    head = _scripts().get_current_head()
    if head is None:  # pragma: no cover - the package ships its revisions
        raise StorageError("EUCORA's migrations are missing from this installation")
    return head


def current_revision(engine: Engine) -> str | None:
    """The database's schema revision (``None`` when no migration ran)."""
    from alembic.runtime.migration import MigrationContext  # noqa: PLC0415 - see the imports

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def check_schema(engine: Engine) -> None:
    """Refuse a database whose schema is not the one this EUCORA needs.

    Raises ``SchemaVersionError``: "database schema is at X, EUCORA needs Y: run `eucora db
    upgrade`" (or, for a revision this code does not know, that EUCORA itself is too old).
    """
    current, required = current_revision(engine), head_revision()
    if current == required:
        return
    known = current is None or _is_known(current)
    raise SchemaVersionError(current, required, known=known)


def _is_known(revision: str) -> bool:
    from alembic.util.exc import CommandError  # noqa: PLC0415 - see the imports

    try:
        return _scripts().get_revision(revision) is not None
    except CommandError:
        return False


def open_database(url: str, **engine_options: Any) -> Engine:
    """The engine for ``url``, once its schema is checked: what everything but `db upgrade` uses."""
    engine = create_database_engine(url, **engine_options)
    try:
        check_schema(engine)
    except BaseException:
        engine.dispose()
        raise
    return engine


def upgrade_schema(engine: Engine, revision: str = "head") -> tuple[str | None, str | None]:
    """Migrate the database to ``revision``; idempotent, and safe when run twice at once.

    Returns the revisions before and after. Concurrent upgrades wait for each other (SQLite's
    write lock, PostgreSQL's advisory lock), and the later one finds nothing to do.
    """
    return _migrate(engine, revision, upgrade=True)


def downgrade_schema(engine: Engine, revision: str = "base") -> tuple[str | None, str | None]:
    """Migrate the database down to ``revision`` (``base``: nothing left). For tests and repairs."""
    return _migrate(engine, revision, upgrade=False)


def _migrate(engine: Engine, revision: str, *, upgrade: bool) -> tuple[str | None, str | None]:
    from alembic import command  # noqa: PLC0415 - see the imports
    from alembic.runtime.migration import MigrationContext  # noqa: PLC0415

    config = alembic_config()
    with write_transaction(engine, MIGRATION_LOCK_KEY) as connection:
        before = MigrationContext.configure(connection).get_current_revision()
        config.attributes["connection"] = connection
        if upgrade:
            command.upgrade(config, revision)
        else:
            command.downgrade(config, revision)
        after = MigrationContext.configure(connection).get_current_revision()
    return before, after
