"""The audit trail: append-only events and signed checkpoints, guarded by triggers.

Both tables refuse UPDATE and DELETE (and TRUNCATE on PostgreSQL) in the database itself, so
no code path, bug or hand-typed SQL can rewrite history without first dropping a trigger, which
``eucora audit verify`` would still catch through the hash chain and the signed checkpoints.

Revision ID: 0001_audit
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_audit"
down_revision = None
branch_labels = None
depends_on = None

APPEND_ONLY_TABLES = ("audit_events", "audit_checkpoints")

_SQLITE_TRIGGER = """
CREATE TRIGGER {table}_refuse_{verb} BEFORE {operation} ON {table}
BEGIN
    SELECT RAISE(ABORT, '{table} is append-only: {operation} refused');
END
"""

_POSTGRESQL_FUNCTION = """
CREATE FUNCTION eucora_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'restrict_violation';
END
$$
"""

_POSTGRESQL_TRIGGERS = """
CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table}
    FOR EACH ROW EXECUTE FUNCTION eucora_refuse_change();
CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}
    FOR EACH STATEMENT EXECUTE FUNCTION eucora_refuse_change()
"""


def upgrade() -> None:
    """Create the audit tables, their indexes and the append-only triggers."""
    op.create_table(
        "audit_events",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("time", sa.Text(), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("correlation_id", sa.Text(), nullable=False),
        sa.Column("repository", sa.Text(), nullable=False),
        sa.Column("pr", sa.BigInteger(), nullable=True),
        sa.Column("head_sha", sa.Text(), nullable=True),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.Text(), nullable=False),
        sa.Column("hash", sa.Text(), nullable=False),
        sa.CheckConstraint("seq >= 1", name="ck_audit_events_seq_positive"),
        sa.PrimaryKeyConstraint("seq", name="pk_audit_events"),
        sa.UniqueConstraint("hash", name="uq_audit_events_hash"),
    )
    op.create_index("ix_audit_events_repository_pr", "audit_events", ["repository", "pr"])
    op.create_index("ix_audit_events_time", "audit_events", ["time"])
    op.create_index("ix_audit_events_correlation_id", "audit_events", ["correlation_id"])
    op.create_table(
        "audit_checkpoints",
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("origin", sa.Text(), nullable=False),
        sa.Column("root", sa.LargeBinary(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("consistency", sa.LargeBinary(), nullable=False),
        sa.Column("signed_at", sa.Text(), nullable=False),
        sa.CheckConstraint("size >= 1", name="ck_audit_checkpoints_size_positive"),
        sa.PrimaryKeyConstraint("size", name="pk_audit_checkpoints"),
    )
    for statement in _trigger_statements(op.get_bind().dialect.name):
        op.execute(statement)


def downgrade() -> None:
    """Drop the triggers and the audit tables (their rows go with them)."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION eucora_refuse_change() CASCADE")
    op.drop_table("audit_checkpoints")
    op.drop_index("ix_audit_events_correlation_id", table_name="audit_events")
    op.drop_index("ix_audit_events_time", table_name="audit_events")
    op.drop_index("ix_audit_events_repository_pr", table_name="audit_events")
    op.drop_table("audit_events")


def _trigger_statements(dialect: str) -> list[str]:
    if dialect == "sqlite":
        return [
            _SQLITE_TRIGGER.format(table=table, operation=operation, verb=operation.lower())
            for table in APPEND_ONLY_TABLES
            for operation in ("UPDATE", "DELETE")
        ]
    if dialect == "postgresql":
        statements = [_POSTGRESQL_FUNCTION]
        for table in APPEND_ONLY_TABLES:
            statements.extend(_POSTGRESQL_TRIGGERS.format(table=table).split(";"))
        return statements
    raise NotImplementedError(f"no append-only triggers for {dialect}")
