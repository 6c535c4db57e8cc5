"""Copy every table of one EUCORA database into another (``eucora db copy``: SQLite → PostgreSQL).

The target is migrated to the current schema first and must hold no rows: a copy never merges
into a live database. Every table the schema declares (``bot.adapters.storage.tables``: the audit
chain and its checkpoints, the review ledger, the inbox, the changes and publications outbox,
and whatever a later migration adds) is copied row by row with its keys, in foreign-key order,
in batches, inside one transaction on the target: a copy that fails leaves the target empty.
PostgreSQL's identity sequences are then moved past the copied keys so new rows do not collide.

The source must be at the same schema revision as this EUCORA (``eucora db upgrade`` first) and
should be quiet (``eucora serve`` and the workers stopped): rows written during the copy may be
left behind, never half-copied.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, Table, func, insert, select, text

from bot.adapters.storage.db import check_schema, is_postgresql, upgrade_schema
from bot.adapters.storage.tables import metadata
from bot.errors import EucoraError

BATCH_ROWS = 500


class CopyRefusedError(EucoraError):
    """The copy cannot start: the target already holds data, or the source schema is old."""


@dataclass(frozen=True, slots=True)
class TableCopy:
    """How many rows one table had in the source and has in the target after the copy."""

    table: str
    source_rows: int
    target_rows: int


Progress = Callable[[str, int], None]


def copy_database(
    source: Engine, target: Engine, *, progress: Progress | None = None
) -> list[TableCopy]:
    """Copy every table of ``source`` into the empty ``target`` (see the module docstring)."""
    check_schema(source)
    upgrade_schema(target)
    tables = list(metadata.sorted_tables)
    with target.connect() as connection:
        holding = [t.name for t in tables if _count(connection, t)]
    if holding:
        raise CopyRefusedError(
            f"the target database is not empty ({', '.join(holding)} hold rows): "
            "copy into a fresh database"
        )
    with source.connect() as reading, target.begin() as writing:
        for table in tables:
            order = list(table.primary_key.columns) or list(table.columns)
            batch: list[dict[str, object]] = []
            copied = 0
            for row in reading.execution_options(stream_results=True).execute(
                select(table).order_by(*order)
            ):
                batch.append(dict(row._mapping))  # noqa: SLF001 - SQLAlchemy's public API
                if len(batch) >= BATCH_ROWS:
                    writing.execute(insert(table), batch)
                    copied += len(batch)
                    batch = []
            if batch:
                writing.execute(insert(table), batch)
                copied += len(batch)
            if progress is not None:
                progress(table.name, copied)
        if is_postgresql(target):
            for table in tables:
                _move_sequences(writing, table)
    with source.connect() as reading, target.connect() as written:
        return [
            TableCopy(t.name, _count(reading, t), _count(written, t))
            for t in metadata.sorted_tables
        ]


def _count(connection: Connection, table: Table) -> int:
    return int(connection.execute(select(func.count()).select_from(table)).scalar_one())


def _move_sequences(connection: Connection, table: Table) -> None:
    """Set each serial column's sequence past the largest copied key (PostgreSQL)."""
    for column in table.primary_key.columns:
        sequence = connection.execute(
            text("SELECT pg_get_serial_sequence(:table, :column)"),
            {"table": table.name, "column": column.name},
        ).scalar()
        if sequence is None:
            continue
        largest = connection.execute(select(func.max(column))).scalar()
        connection.execute(
            text("SELECT setval(:sequence, :next, false)"),
            {"sequence": sequence, "next": int(largest or 0) + 1},
        )
