"""The database tables, as SQLAlchemy Core: what the code reads and writes.

The migrations under ``migrations/versions`` create exactly these (and the triggers that make the
audit tables append-only); a test compares the two so they cannot drift apart.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
)

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

# SQLite makes only an INTEGER PRIMARY KEY the rowid; BIGINT elsewhere.
_SEQUENCE = BigInteger().with_variant(Integer(), "sqlite")

audit_events = Table(
    "audit_events",
    metadata,
    Column("seq", _SEQUENCE, primary_key=True, autoincrement=False),
    Column("time", Text, nullable=False),
    Column("type", Text, nullable=False),
    Column("actor", Text, nullable=False),
    Column("correlation_id", Text, nullable=False),
    Column("repository", Text, nullable=False),
    Column("pr", BigInteger, nullable=True),
    Column("head_sha", Text, nullable=True),
    Column("payload", Text, nullable=False),
    Column("prev_hash", Text, nullable=False),
    Column("hash", Text, nullable=False, unique=True),
    CheckConstraint("seq >= 1", name="seq_positive"),
    Index(None, "repository", "pr"),
    Index(None, "time"),
    Index(None, "correlation_id"),
)
"""The audit trail: one row per event, ``seq`` from 1 without gaps; see ``bot.core.audit``.

``payload`` is canonical JSON text; ``prev_hash`` and ``hash`` are lowercase hex SHA-256.
"""

audit_checkpoints = Table(
    "audit_checkpoints",
    metadata,
    Column("size", BigInteger, primary_key=True, autoincrement=False),
    Column("origin", Text, nullable=False),
    Column("root", LargeBinary, nullable=False),
    Column("note", Text, nullable=False),
    Column("consistency", LargeBinary, nullable=False),
    Column("signed_at", Text, nullable=False),
    CheckConstraint("size >= 1", name="size_positive"),
)
"""Signed checkpoints of the audit tree: ``note`` is the C2SP signed note, the authority;
``size`` and ``root`` index it; ``consistency`` is the RFC 9162 proof from the previous
checkpoint (32-byte hashes, concatenated; empty for the first)."""
