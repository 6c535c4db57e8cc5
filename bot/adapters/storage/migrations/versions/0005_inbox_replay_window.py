"""The inbox's body digest is indexed, not unique: a replay window instead of "seen once, ever".

The same body under a new delivery id is a replay only within the replay window of its newest
stored copy (``bot.core.webhooks.is_replay``): a membership payload carries no time, so a member
removed, added back and removed again sends the same body twice, and both removals count.
Existing rows are kept as they are.

Revision ID: 0005_inbox_replay_window
Revises: 0004_publications
"""

from __future__ import annotations

from alembic import op

revision = "0005_inbox_replay_window"
down_revision = "0004_publications"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Drop the digest's unique constraint; index the digest (the replay check looks it up)."""
    # SQLite cannot drop a constraint: batch mode copies the table (indexes and checks kept).
    with op.batch_alter_table("inbox") as batch:
        batch.drop_constraint("uq_inbox_body_sha256", type_="unique")
        batch.create_index("ix_inbox_body_sha256", ["body_sha256"])


def downgrade() -> None:
    """Restore the unique constraint (fails while two rows share a body: delete them first)."""
    with op.batch_alter_table("inbox") as batch:
        batch.drop_index("ix_inbox_body_sha256")
        batch.create_unique_constraint("uq_inbox_body_sha256", ["body_sha256"])
