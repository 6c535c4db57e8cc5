"""The webhook inbox: deliveries stored before they are acknowledged, drained by the workers.

Revision ID: 0002_inbox
Revises: 0001_audit
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_inbox"
down_revision = "0001_audit"
branch_labels = None
depends_on = None

_RUNNING = sa.text("status = 'running'")


def upgrade() -> None:
    """Create the inbox table and its indexes (one running delivery per pull request)."""
    op.create_table(
        "inbox",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=False,
            autoincrement=True,
        ),
        sa.Column("delivery_id", sa.Text(), nullable=False),
        sa.Column("body_sha256", sa.Text(), nullable=False),
        sa.Column("event", sa.Text(), nullable=False),
        sa.Column("action", sa.Text(), nullable=True),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("installation_id", sa.BigInteger(), nullable=True),
        sa.Column("repository", sa.Text(), nullable=True),
        sa.Column("pr", sa.BigInteger(), nullable=True),
        sa.Column("head_sha", sa.Text(), nullable=True),
        sa.Column("serial_key", sa.Text(), nullable=True),
        sa.Column("coalesce_key", sa.Text(), nullable=True),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("received_at", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("not_before", sa.Text(), nullable=False),
        sa.Column("lease_owner", sa.Text(), nullable=True),
        sa.Column("lease_until", sa.Text(), nullable=True),
        sa.Column("finished_at", sa.Text(), nullable=True),
        sa.Column("merged_into", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'running', 'done', 'failed', 'collapsed', 'superseded',"
            " 'ignored')",
            name="ck_inbox_status_known",
        ),
        sa.PrimaryKeyConstraint("seq", name="pk_inbox"),
        sa.UniqueConstraint("delivery_id", name="uq_inbox_delivery_id"),
        sa.UniqueConstraint("body_sha256", name="uq_inbox_body_sha256"),
    )
    op.create_index("ix_inbox_status_not_before", "inbox", ["status", "not_before"])
    op.create_index("ix_inbox_serial_key_status", "inbox", ["serial_key", "status"])
    op.create_index("ix_inbox_coalesce_key_status", "inbox", ["coalesce_key", "status"])
    op.create_index(
        "ix_inbox_one_running_per_serial_key",
        "inbox",
        ["serial_key"],
        unique=True,
        sqlite_where=_RUNNING,
        postgresql_where=_RUNNING,
    )


def downgrade() -> None:
    """Drop the inbox (its deliveries go with it)."""
    op.drop_index("ix_inbox_one_running_per_serial_key", table_name="inbox")
    op.drop_index("ix_inbox_coalesce_key_status", table_name="inbox")
    op.drop_index("ix_inbox_serial_key_status", table_name="inbox")
    op.drop_index("ix_inbox_status_not_before", table_name="inbox")
    op.drop_table("inbox")
