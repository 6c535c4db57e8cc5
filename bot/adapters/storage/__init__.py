"""Storage: the database (SQLite or PostgreSQL), its migrations, and the audit log on it.

``db`` builds engines that keep their durability promises and checks the schema revision,
``tables`` declares the tables, ``migrations`` creates them (``eucora db upgrade``), and
``audit_log`` is the append-only, hash-chained, checkpointed audit trail.
"""

from __future__ import annotations

from bot.adapters.storage.audit_log import AuditLog
from bot.adapters.storage.db import (
    check_schema,
    create_database_engine,
    current_revision,
    downgrade_schema,
    head_revision,
    open_database,
    upgrade_schema,
)
from bot.core.records import ExportSummary

__all__ = [
    "AuditLog",
    "ExportSummary",
    "check_schema",
    "create_database_engine",
    "current_revision",
    "downgrade_schema",
    "head_revision",
    "open_database",
    "upgrade_schema",
]
