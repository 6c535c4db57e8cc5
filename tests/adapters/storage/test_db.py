"""The database: durable SQLite connections, PostgreSQL through psycopg, schema revisions."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, text

from bot.adapters.storage import (
    check_schema,
    create_database_engine,
    current_revision,
    downgrade_schema,
    head_revision,
    open_database,
    upgrade_schema,
)
from bot.adapters.storage.db import SQLITE_BUSY_TIMEOUT_MS, check_sqlite_settings
from bot.adapters.storage.tables import metadata
from bot.errors import SchemaVersionError, StorageError


class TestSqliteEngine:
    def test_every_connection_is_durable(self, tmp_path: Path) -> None:
        """Each new connection is in WAL mode with synchronous=FULL and the busy timeout."""
        engine = create_database_engine(f"sqlite:///{tmp_path / 'a' / 'b' / 'eucora.db'}")
        connections = [engine.connect() for _ in range(4)]
        try:
            for connection in connections:
                assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
                assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 2
                assert (
                    connection.exec_driver_sql("PRAGMA busy_timeout").scalar()
                    == SQLITE_BUSY_TIMEOUT_MS
                )
        finally:
            for connection in connections:
                connection.close()
            engine.dispose()
        assert (tmp_path / "a" / "b" / "eucora.db").exists()

    @pytest.mark.parametrize(
        ("settings", "message"),
        [
            (
                {
                    "journal_mode": "delete",
                    "synchronous": 2,
                    "busy_timeout": SQLITE_BUSY_TIMEOUT_MS,
                },
                "not wal",
            ),
            (
                {"journal_mode": "wal", "synchronous": 1, "busy_timeout": SQLITE_BUSY_TIMEOUT_MS},
                r"not 2 \(FULL\)",
            ),
            ({"journal_mode": "wal", "synchronous": 2, "busy_timeout": 0}, "busy_timeout"),
        ],
    )
    def test_a_connection_without_the_settings_is_refused(
        self, settings: dict, message: str
    ) -> None:
        """A connection that reads back other settings than asked is refused."""
        with pytest.raises(StorageError, match=message):
            check_sqlite_settings(**settings)

    def test_an_in_memory_database_needs_no_wal(self) -> None:
        """In-memory SQLite (no file to journal) is accepted with journal mode memory."""
        engine = create_database_engine("sqlite://")
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 2
        engine.dispose()

    def test_begin_immediate_takes_the_write_lock_at_once(self, tmp_path: Path) -> None:
        """A writer's transaction holds the lock from BEGIN, so a second one waits for it."""
        from bot.adapters.storage.db import write_transaction

        engine = create_database_engine(f"sqlite:///{tmp_path / 'eucora.db'}")
        order: list[str] = []
        entered = threading.Event()

        def second() -> None:
            entered.wait(5)
            with write_transaction(engine, 1):
                order.append("second")

        thread = threading.Thread(target=second)
        thread.start()
        with write_transaction(engine, 1):
            entered.set()
            thread.join(0.3)
            order.append("first")
        thread.join(5)
        assert order == ["first", "second"]
        engine.dispose()


class TestUrls:
    def test_postgresql_urls_use_psycopg3(self) -> None:
        """postgresql:// and postgres:// get the psycopg 3 driver."""
        for url in ("postgresql://u@localhost/db", "postgres://u@localhost/db"):
            engine = create_database_engine(url)
            assert engine.dialect.driver == "psycopg"
            engine.dispose()

    @pytest.mark.parametrize(
        "url", ["mysql://u@localhost/db", "postgresql+psycopg2://u@localhost/db", "not a url"]
    )
    def test_other_databases_are_refused(self, url: str) -> None:
        """Only SQLite and PostgreSQL through psycopg 3 are supported."""
        with pytest.raises(StorageError):
            create_database_engine(url)


class TestMigrations:
    def test_upgrade_is_idempotent(self, database_url: str) -> None:
        """Upgrading twice changes nothing the second time and leaves the schema at head."""
        engine = create_database_engine(database_url)
        try:
            assert upgrade_schema(engine) == (None, head_revision())
            assert upgrade_schema(engine) == (head_revision(), head_revision())
            check_schema(engine)
            assert current_revision(engine) == head_revision()
        finally:
            engine.dispose()

    def test_concurrent_upgrades_wait_for_each_other(self, database_url: str) -> None:
        """Two upgrades at once: one migrates, the other finds nothing to do."""
        engine = create_database_engine(database_url)
        results: list[tuple[str | None, str | None]] = []
        errors: list[BaseException] = []

        def run() -> None:
            try:
                results.append(upgrade_schema(engine))
            except BaseException as error:  # noqa: BLE001 - reported below
                errors.append(error)

        threads = [threading.Thread(target=run) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        engine.dispose()
        assert errors == []
        assert sorted(results, key=str) == sorted(
            [(None, head_revision()), (head_revision(), head_revision())], key=str
        )

    def test_migrations_create_exactly_the_declared_tables(self, engine: Engine) -> None:
        """The migrated schema and tables.py agree: autogenerate finds no difference."""
        with engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), metadata)
        assert differences == []
        assert {"audit_events", "audit_checkpoints", "changes", "publications"} <= set(
            inspect(engine).get_table_names()
        )

    def test_an_old_schema_is_refused_with_the_command_that_fixes_it(
        self, database_url: str
    ) -> None:
        """After a downgrade to base, opening the database names `eucora db upgrade`."""
        engine = create_database_engine(database_url)
        upgrade_schema(engine)
        assert downgrade_schema(engine) == (head_revision(), None)
        engine.dispose()
        with pytest.raises(SchemaVersionError) as raised:
            open_database(database_url)
        assert str(raised.value) == (
            f"database schema is at none (empty database), EUCORA needs {head_revision()}:"
            " run `eucora db upgrade`"
        )
        assert raised.value.args == (None, head_revision(), True)

    def test_an_empty_database_is_refused(self, database_url: str) -> None:
        """A database no migration ran on is refused the same way."""
        with pytest.raises(SchemaVersionError, match="run `eucora db upgrade`"):
            open_database(database_url)

    def test_a_schema_from_a_newer_eucora_is_refused(self, engine: Engine) -> None:
        """An unknown revision means this EUCORA is too old, not that the database is."""
        with engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = '9999_future'"))
        with pytest.raises(SchemaVersionError, match="does not know") as raised:
            check_schema(engine)
        assert raised.value.current == "9999_future"

    def test_downgrade_removes_the_tables_and_upgrade_restores_them(self, engine: Engine) -> None:
        """The first revision can be undone and redone."""
        downgrade_schema(engine)
        assert "audit_events" not in inspect(engine).get_table_names()
        upgrade_schema(engine)
        assert "audit_events" in inspect(engine).get_table_names()
