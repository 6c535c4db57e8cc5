"""Alembic's environment: runs the revisions on the connection ``bot.adapters.storage.db`` passes.

EUCORA runs Alembic programmatically (``upgrade_schema``), inside a transaction that holds the
migration lock, so there is no ``alembic.ini`` and no offline (``--sql``) mode.
"""

from __future__ import annotations

from alembic import context

from bot.adapters.storage.tables import metadata

_connection = context.config.attributes.get("connection")
if context.is_offline_mode() or _connection is None:
    raise RuntimeError("EUCORA migrates through `eucora db upgrade`, which passes a connection")

context.configure(
    connection=_connection,
    target_metadata=metadata,
    render_as_batch=_connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
