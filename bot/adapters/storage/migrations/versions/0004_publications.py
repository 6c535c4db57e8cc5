"""The publications outbox: merged changes and one publication per intent, plane and first ring.

Both are written in one transaction when a merge is accepted, before any plane is called;
workers lease publications from here (``bot.adapters.storage.publications``).

Revision ID: 0004_publications
Revises: 0003_review_ledger
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_publications"
down_revision = "0003_review_ledger"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Create ``changes`` and ``publications`` with their keys and the sweeper's index."""
    op.create_table(
        "changes",
        sa.Column("id", _ID, nullable=False, autoincrement=True),
        sa.Column("repository", sa.Text(), nullable=False),
        sa.Column("pr", sa.BigInteger(), nullable=False),
        sa.Column("installation_id", sa.BigInteger(), nullable=True),
        sa.Column("head_sha", sa.Text(), nullable=False),
        sa.Column("merge_sha", sa.Text(), nullable=False),
        sa.Column("check_digest", sa.Text(), nullable=True),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("emergency", sa.Boolean(), nullable=False),
        sa.Column("facts_json", sa.Text(), nullable=False),
        sa.Column("comment_head", sa.Text(), nullable=False),
        sa.Column("followup_issue", sa.BigInteger(), nullable=True),
        sa.Column("final_digest", sa.Text(), nullable=True),
        sa.Column("correlation_id", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.Text(), nullable=False),
        sa.CheckConstraint(
            "state IN ('publishing', 'refused', 'final')", name="ck_changes_state_known"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_changes"),
        sa.UniqueConstraint(
            "repository", "pr", "merge_sha", name="uq_changes_repository_pr_merge_sha"
        ),
    )
    op.create_table(
        "publications",
        sa.Column("id", _ID, nullable=False, autoincrement=True),
        sa.Column("change_id", _ID, nullable=False),
        sa.Column("repository", sa.Text(), nullable=False),
        sa.Column("pr", sa.BigInteger(), nullable=False),
        sa.Column("plane", sa.Text(), nullable=False),
        sa.Column("intent_name", sa.Text(), nullable=False),
        sa.Column("version", sa.Text(), nullable=False),
        sa.Column("ring", sa.Text(), nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("idempotency_key", sa.Text(), nullable=False),
        sa.Column("intent_json", sa.Text(), nullable=False),
        sa.Column("evidence_digest", sa.Text(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("not_before", sa.Text(), nullable=False),
        sa.Column("lease_owner", sa.Text(), nullable=True),
        sa.Column("lease_until", sa.Text(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("result_json", sa.Text(), nullable=True),
        sa.Column("journal_json", sa.Text(), server_default="{}", nullable=False),
        sa.Column("deployment_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.Text(), nullable=False),
        sa.CheckConstraint(
            "state IN ('pending', 'in_progress', 'succeeded', 'failed')",
            name="ck_publications_state_known",
        ),
        sa.ForeignKeyConstraint(
            ["change_id"], ["changes.id"], name="fk_publications_change_id_changes"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_publications"),
        sa.UniqueConstraint(
            "change_id",
            "plane",
            "idempotency_key",
            name="uq_publications_change_id_plane_idempotency_key",
        ),
    )
    op.create_index("ix_publications_state_not_before", "publications", ["state", "not_before"])


def downgrade() -> None:
    """Drop the outbox (publications first: they refer to their change)."""
    op.drop_index("ix_publications_state_not_before", table_name="publications")
    op.drop_table("publications")
    op.drop_table("changes")
