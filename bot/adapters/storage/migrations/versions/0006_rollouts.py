"""Rollouts: ring-by-ring state per merged intent, later rings in the outbox, and named leases.

``rollouts`` holds each rollout's state between reconcile passes; ``publications.step`` tells the
merge's own publications (0) from the rings the reconciler promotes (the ring's index);
``publications.action`` tells a publication from a deleted intent's retirement; ``leases``
lets one replica at a time run the reconcile pass.

Revision ID: 0006_rollouts
Revises: 0005_inbox_replay_window
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_rollouts"
down_revision = "0005_inbox_replay_window"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Create ``rollouts`` and ``leases``; add ``publications.step`` and ``.action``.

    Existing rows are the merge's own publications (step 0) and publish (action ``publish``).
    """
    with op.batch_alter_table("publications") as batch:
        batch.add_column(sa.Column("step", sa.Integer(), server_default="0", nullable=False))
        batch.add_column(sa.Column("action", sa.Text(), server_default="publish", nullable=False))
        batch.create_check_constraint(
            "ck_publications_action_known", "action IN ('publish', 'retire')"
        )
    op.create_table(
        "rollouts",
        sa.Column("id", _ID, nullable=False, autoincrement=True),
        sa.Column("change_id", _ID, nullable=False),
        sa.Column("repository", sa.Text(), nullable=False),
        sa.Column("pr", sa.BigInteger(), nullable=False),
        sa.Column("installation_id", sa.BigInteger(), nullable=True),
        sa.Column("merge_sha", sa.Text(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("plane", sa.Text(), nullable=False),
        sa.Column("intent_name", sa.Text(), nullable=False),
        sa.Column("version", sa.Text(), nullable=False),
        sa.Column("intent_json", sa.Text(), nullable=False),
        sa.Column("evidence_digest", sa.Text(), nullable=False),
        sa.Column("emergency", sa.Boolean(), nullable=False),
        sa.Column("state_json", sa.Text(), nullable=False),
        sa.Column("phase", sa.Text(), nullable=False),
        sa.Column("revision", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_at", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.Text(), nullable=False),
        sa.CheckConstraint(
            "phase IN ('active', 'held', 'halted', 'complete', 'superseded')",
            name="ck_rollouts_phase_known",
        ),
        sa.ForeignKeyConstraint(
            ["change_id"], ["changes.id"], name="fk_rollouts_change_id_changes"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_rollouts"),
        sa.UniqueConstraint(
            "change_id", "plane", "intent_name", name="uq_rollouts_change_id_plane_intent_name"
        ),
    )
    op.create_index("ix_rollouts_phase", "rollouts", ["phase"])
    op.create_index(
        "ix_rollouts_repository_plane_intent_name",
        "rollouts",
        ["repository", "plane", "intent_name"],
    )
    op.create_table(
        "leases",
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("holder", sa.Text(), nullable=False),
        sa.Column("until", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_leases"),
    )


def downgrade() -> None:
    """Drop what :func:`upgrade` made."""
    op.drop_table("leases")
    op.drop_index("ix_rollouts_repository_plane_intent_name", table_name="rollouts")
    op.drop_index("ix_rollouts_phase", table_name="rollouts")
    op.drop_table("rollouts")
    with op.batch_alter_table("publications") as batch:
        batch.drop_constraint("ck_publications_action_known", type_="check")
        batch.drop_column("action")
        batch.drop_column("step")
