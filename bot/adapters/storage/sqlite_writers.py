"""One SQLite writer at a time across processes, handed over at once.

SQLite lets one connection write at a time; a connection that finds the write lock taken waits
in SQLite's busy handler, which sleeps in steps of up to 100 ms and retries. Between two
processes (two ``eucora serve`` workers on one file) that hands the lock back to the process
that just released it far more often than to the one asleep, and the sleeper's request threads
wait hundreds of milliseconds with the lock free half the time. So EUCORA's write transactions
first take an advisory ``flock`` on a file beside the database (``<database>-writers``): the
kernel wakes a waiter the moment the holder releases it, in whichever process. SQLite's own lock
and busy handler stay underneath (other programs, deferred transactions), unchanged.

Each transaction opens the lock file anew, so threads of one process exclude each other as
processes do; a thread that already holds it (a nested write) does not take it again, and meets
SQLite's busy timeout as it did before. A process that dies releases the lock with its files.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine

_held = threading.local()


def writers_lock_path(engine: Engine) -> str | None:
    """The lock file beside a file database; None for an in-memory one (one process)."""
    database = engine.url.database or ""
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return f"{database}-writers"


@contextmanager
def sqlite_writers(engine: Engine) -> Iterator[None]:
    """Hold the database's cross-process writers' lock (blocking, released on exit)."""
    path = writers_lock_path(engine)
    if path is None or getattr(_held, "path", None) == path:
        yield
        return
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        _held.path = path
        try:
            yield
        finally:
            _held.path = None
    finally:
        os.close(descriptor)  # releases the lock
