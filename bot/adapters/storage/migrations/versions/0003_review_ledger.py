"""The review ledger: every pull request review as its webhook arrived, append-only.

GitHub may later move an old approval's ``commit_id`` to a new head (seen after a force-push
with the same patch), so what a reviewer approved is what EUCORA recorded when the review
arrived: the review's commit and the hash of the intent, policy and config content there.
UPDATE and DELETE (and TRUNCATE on PostgreSQL) are refused by triggers, as for the audit trail.

Revision ID: 0003_review_ledger
Revises: 0002_inbox
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_review_ledger"
down_revision = "0002_inbox"
branch_labels = None
depends_on = None

_SQLITE_TRIGGER = """
CREATE TRIGGER review_ledger_refuse_{verb} BEFORE {operation} ON review_ledger
BEGIN
    SELECT RAISE(ABORT, 'review_ledger is append-only: {operation} refused');
END
"""
# eucora_refuse_change() is 0001's function (raises restrict_violation).
_POSTGRESQL_TRIGGERS = (
    (
        "CREATE TRIGGER review_ledger_append_only BEFORE UPDATE OR DELETE ON review_ledger"
        " FOR EACH ROW EXECUTE FUNCTION eucora_refuse_change()"
    ),
    (
        "CREATE TRIGGER review_ledger_no_truncate BEFORE TRUNCATE ON review_ledger"
        " FOR EACH STATEMENT EXECUTE FUNCTION eucora_refuse_change()"
    ),
)


def upgrade() -> None:
    """Create the ledger, its indexes and the append-only triggers."""
    op.create_table(
        "review_ledger",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=False,
            autoincrement=True,
        ),
        sa.Column("installation_id", sa.BigInteger(), nullable=True),
        sa.Column("repository", sa.Text(), nullable=False),
        sa.Column("pr", sa.BigInteger(), nullable=False),
        sa.Column("review_id", sa.BigInteger(), nullable=False),
        sa.Column("reviewer", sa.Text(), nullable=False),
        sa.Column("reviewer_is_bot", sa.Boolean(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("commit_id", sa.Text(), nullable=False),
        sa.Column("pr_head_sha", sa.Text(), nullable=True),
        sa.Column("content_hash", sa.Text(), nullable=True),
        sa.Column("submitted_at", sa.Text(), nullable=False),
        sa.Column("recorded_at", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_review_ledger"),
    )
    op.create_index("ix_review_ledger_repository_pr", "review_ledger", ["repository", "pr"])
    op.create_index("ix_review_ledger_installation_id", "review_ledger", ["installation_id"])
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for operation in ("UPDATE", "DELETE"):
            op.execute(_SQLITE_TRIGGER.format(operation=operation, verb=operation.lower()))
    elif dialect == "postgresql":
        for statement in _POSTGRESQL_TRIGGERS:
            op.execute(statement)
    else:
        raise NotImplementedError(f"no append-only triggers for {dialect}")


def downgrade() -> None:
    """Drop the ledger (its rows and triggers go with it)."""
    op.drop_index("ix_review_ledger_installation_id", table_name="review_ledger")
    op.drop_index("ix_review_ledger_repository_pr", table_name="review_ledger")
    op.drop_table("review_ledger")
