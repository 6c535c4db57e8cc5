"""Drift: what the last drift pass found per (repository, plane, intent), and its backoff.

Revision ID: 0007_drift
Revises: 0006_rollouts
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_drift"
down_revision = "0006_rollouts"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Create ``drift``."""
    op.create_table(
        "drift",
        sa.Column("id", _ID, nullable=False, autoincrement=True),
        sa.Column("repository", sa.Text(), nullable=False),
        sa.Column("plane", sa.Text(), nullable=False),
        sa.Column("intent_name", sa.Text(), nullable=False),
        sa.Column("rollout_id", sa.BigInteger(), nullable=False),
        sa.Column("items_json", sa.Text(), nullable=False),
        sa.Column("since_json", sa.Text(), nullable=False),
        sa.Column("open", sa.Boolean(), nullable=False),
        sa.Column("issue_number", sa.BigInteger(), nullable=True),
        sa.Column("remediations", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_remediation", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_drift"),
        sa.UniqueConstraint(
            "repository", "plane", "intent_name", name="uq_drift_repository_plane_intent_name"
        ),
    )
    op.create_index("ix_drift_open_plane", "drift", ["open", "plane"])


def downgrade() -> None:
    """Drop ``drift``."""
    op.drop_index("ix_drift_open_plane", table_name="drift")
    op.drop_table("drift")
