"""One holder at a time of a named periodic job, across replicas: a lease held through the database.

* PostgreSQL: a session advisory lock (``pg_try_advisory_lock``) on a connection kept for the
  run. PostgreSQL frees it when the session ends, so a replica killed mid-run holds nothing.
* SQLite (one machine): an exclusive ``flock`` on a file beside the database, freed by the
  kernel when the process dies; an in-memory database has one process, a lock in it suffices.

No table, no expiry to tune: the lease lives exactly as long as its holder.
"""

from __future__ import annotations

import fcntl
import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, func, select

from bot.adapters.storage.db import is_postgresql

_IN_PROCESS: dict[str, threading.Lock] = {}
_GUARD = threading.Lock()


def _key(name: str) -> int:
    """A stable signed 64-bit advisory lock key for ``name``."""
    return int.from_bytes(
        hashlib.sha256(f"eucora:{name}".encode()).digest()[:8], "big", signed=True
    )


@contextmanager
def exclusive(engine: Engine, name: str) -> Iterator[bool]:
    """Yield whether this caller holds the lease ``name`` (someone else does: ``False``)."""
    if is_postgresql(engine):
        with engine.connect() as connection:
            held = bool(connection.execute(select(func.pg_try_advisory_lock(_key(name)))).scalar())
            connection.commit()
            try:
                yield held
            finally:
                if held:
                    connection.execute(select(func.pg_advisory_unlock(_key(name))))
                    connection.commit()
        return
    database = engine.url.database or ""
    if not database or database == ":memory:" or database.startswith("file:"):
        with _GUARD:
            lock = _IN_PROCESS.setdefault(name, threading.Lock())
        held = lock.acquire(blocking=False)
        try:
            yield held
        finally:
            if held:
                lock.release()
        return
    path = Path(f"{database}.{name}.lock")
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
