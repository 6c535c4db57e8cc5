"""A real PostgreSQL server for tests and benchmarks: initdb, start, databases, stop.

The server runs from Debian's ``postgresql`` package (``/usr/lib/postgresql/<version>/bin``,
installed by ``scripts/test.sh``) in a temporary data directory, on a free loopback port, with
its socket in that directory, and is stopped and removed at the end. As root it runs as the
unprivileged ``postgres`` user (initdb refuses root). A missing server is a failure, never a
skip: ``PostgresUnavailableError`` says how to install it.

Tests share one server per pytest session through the ``postgres_server`` fixture (import it
into a test module or conftest); each test that needs one gets its own database.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import secrets
import shlex
import shutil
import socket
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

POSTGRES_USER = "postgres"
"""The unprivileged account the server runs as when the tests run as root."""
START_TIMEOUT_SECONDS = 60


class PostgresUnavailableError(RuntimeError):
    """No PostgreSQL server binaries, or the server would not start."""


def find_bin_dir() -> Path:
    """The newest ``/usr/lib/postgresql/<version>/bin`` holding ``initdb`` and ``pg_ctl``."""
    override = os.environ.get("EUCORA_PG_BIN")
    candidates = [override] if override else glob.glob("/usr/lib/postgresql/*/bin")  # noqa: PTH207
    usable = [
        Path(c)
        for c in candidates
        if (Path(c) / "initdb").is_file() and (Path(c) / "pg_ctl").is_file()
    ]
    if not usable:
        ci = " (CI is set: the test command must install it)" if os.environ.get("CI") else ""
        raise PostgresUnavailableError(
            "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin"
            f"{ci}: install Debian's postgresql package (scripts/test.sh does, as root)"
        )
    return max(usable, key=lambda p: _version_key(p.parent.name))


def _version_key(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in name.split(".") if part.isdigit())


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class PostgresServer:
    """A running server: ``url(database)`` gives SQLAlchemy URLs (psycopg 3)."""

    bin_dir: Path
    root: Path
    port: int
    user: str

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str | None = None) -> str:
        """Create a fresh database and return its URL."""
        import psycopg

        name = name or f"eucora_{secrets.token_hex(6)}"
        with psycopg.connect(self._conninfo("postgres"), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop a database, closing its connections first."""
        import psycopg

        with psycopg.connect(self._conninfo("postgres"), autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def _conninfo(self, database: str) -> str:
        return f"host=127.0.0.1 port={self.port} user={self.user} dbname={database}"


def _run(command: list[str], *, timeout: float = START_TIMEOUT_SECONDS) -> None:
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    if result.returncode != 0:
        raise PostgresUnavailableError(
            f"{' '.join(command)} failed ({result.returncode}): {result.stderr.strip() or result.stdout.strip()}"
        )


def _runner() -> tuple[list[str], int | None, int | None]:
    """The command prefix that drops root for the server, and that user's uid and gid."""
    if os.geteuid() != 0:
        return [], None, None
    try:
        account = pwd.getpwnam(POSTGRES_USER)
    except KeyError as error:
        raise PostgresUnavailableError(
            f"running as root and there is no {POSTGRES_USER!r} user to run PostgreSQL as"
        ) from error
    runuser = shutil.which("runuser")
    prefix = (
        [runuser, "-u", POSTGRES_USER, "--"]
        if runuser
        else ["su", POSTGRES_USER, "-s", "/bin/sh", "-c"]
    )
    return prefix, account.pw_uid, account.pw_gid


def _as_user(prefix: list[str], command: list[str]) -> list[str]:
    if prefix and prefix[0] == "su":
        return [*prefix, shlex.join(command)]
    return [*prefix, *command]


@contextlib.contextmanager
def running_postgres(*, durable: bool = False) -> Iterator[PostgresServer]:
    """Start a throw-away PostgreSQL server; stop it and delete its files on exit.

    ``durable=False`` turns off fsync and friends, which only a power cut would notice: fine for
    tests. Benchmarks pass ``durable=True`` to measure what production would see.
    """
    bin_dir = find_bin_dir()
    prefix, uid, gid = _runner()
    root = Path(tempfile.mkdtemp(prefix="eucora-pg-"))
    server: PostgresServer | None = None
    started = False
    try:
        if uid is not None and gid is not None:
            os.chown(root, uid, gid)
        user = POSTGRES_USER
        data = root / "data"
        _run(
            _as_user(
                prefix,
                [
                    str(bin_dir / "initdb"),
                    "-D",
                    str(data),
                    "-U",
                    user,
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--locale=C",
                    "--no-sync",
                ],
            ),
            timeout=120,
        )
        settings = ["-c listen_addresses=127.0.0.1", f"-k {root}", "-c max_connections=100"]
        if not durable:
            settings += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
        last_error: PostgresUnavailableError | None = None
        for _ in range(3):  # a port found free may be taken before the server binds it
            port = free_port()
            command = [
                str(bin_dir / "pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(root / "server.log"),
                "-w",
                "-t",
                str(START_TIMEOUT_SECONDS),
                "-o",
                " ".join([f"-p {port}", *settings]),
                "start",
            ]
            try:
                _run(_as_user(prefix, command), timeout=START_TIMEOUT_SECONDS + 10)
            except PostgresUnavailableError as error:
                log = root / "server.log"
                detail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
                last_error = PostgresUnavailableError(f"{error}\n{detail}")
                continue
            started = True
            server = PostgresServer(bin_dir=bin_dir, root=root, port=port, user=user)
            break
        if server is None:
            raise last_error or PostgresUnavailableError("PostgreSQL did not start")
        yield server
    finally:
        if started:
            with contextlib.suppress(PostgresUnavailableError, subprocess.TimeoutExpired):
                _run(
                    _as_user(
                        prefix,
                        [
                            str(bin_dir / "pg_ctl"),
                            "-D",
                            str(root / "data"),
                            "-m",
                            "fast",
                            "-w",
                            "stop",
                        ],
                    ),
                    timeout=60,
                )
        shutil.rmtree(root, ignore_errors=True)


# --- pytest: one server per session, shared by every module that imports the fixture ------------


class _Shared:
    """The session's server, started by the first user and stopped by the last."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.manager: contextlib.AbstractContextManager[PostgresServer] | None = None
        self.server: PostgresServer | None = None
        self.users = 0

    def acquire(self) -> PostgresServer:
        with self.lock:
            if self.server is None:
                manager = running_postgres()
                self.server = manager.__enter__()
                self.manager = manager
            self.users += 1
            return self.server

    def release(self) -> None:
        with self.lock:
            self.users -= 1
            if self.users == 0 and self.manager is not None:
                manager, self.manager, self.server = self.manager, None, None
                manager.__exit__(None, None, None)


_SHARED = _Shared()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A real PostgreSQL server for the session; fails (never skips) when there is none."""
    try:
        server = _SHARED.acquire()
    except PostgresUnavailableError as error:
        pytest.fail(f"PostgreSQL is required for these tests: {error}", pytrace=False)
    try:
        yield server
    finally:
        _SHARED.release()
