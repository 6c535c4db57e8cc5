"""Storage fixtures: every database test runs on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

from tests.adapters.storage.helpers import (  # noqa: F401 - pytest finds fixtures by name
    database_url,
    engine,
    log,
    postgres_server,
    signer,
)
