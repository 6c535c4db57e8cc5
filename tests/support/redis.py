"""A real Redis server for tests: ``redis-server`` on a free loopback port in a temporary folder.

Debian's ``redis-server`` package (installed by ``scripts/test.sh``). A missing server is a
failure, never a skip: ``RedisUnavailableError`` says how to install it. No persistence (the
broker is a wake-up signal; the database inbox is the source of truth).
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

START_TIMEOUT_SECONDS = 20


class RedisUnavailableError(RuntimeError):
    """No redis-server binary, or it would not start."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class RedisServer:
    """A running server; ``url(db)`` gives a ``redis://`` URL."""

    port: int
    root: Path
    process: subprocess.Popen[bytes]

    def restart(self) -> None:
        """Stop the server and start an empty one on the same port (nothing is persisted)."""
        command = list(self.process.args)  # type: ignore[arg-type]
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not self.ping():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.process.kill()
                self.process.wait(10)
                raise RedisUnavailableError(f"redis-server did not restart on port {self.port}")
            time.sleep(0.05)

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as connection:
                connection.sendall(b"PING\r\n")
                return connection.recv(16).startswith(b"+PONG")
        except OSError:
            return False


def find_redis_server() -> str:
    """The ``redis-server`` binary, or ``RedisUnavailableError`` saying how to get it."""
    binary = shutil.which("redis-server") or (
        "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None
    )
    if binary is None:
        raise RedisUnavailableError(
            "redis-server not found: install Debian's redis-server package (scripts/test.sh does, as root)"
        )
    return binary


@contextlib.contextmanager
def running_redis() -> Iterator[RedisServer]:
    """Start a throw-away Redis server; stop it and delete its folder on exit."""
    binary = find_redis_server()
    root = Path(tempfile.mkdtemp(prefix="eucora-redis-"))
    server: RedisServer | None = None
    try:
        for _ in range(3):  # a port found free may be taken before the server binds it
            port = _free_port()
            process = subprocess.Popen(
                [
                    binary,
                    "--port",
                    str(port),
                    "--bind",
                    "127.0.0.1",
                    "--dir",
                    str(root),
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--protected-mode",
                    "yes",
                    "--logfile",
                    str(root / "redis.log"),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            candidate = RedisServer(port=port, root=root, process=process)
            deadline = time.monotonic() + START_TIMEOUT_SECONDS
            while time.monotonic() < deadline and process.poll() is None:
                if candidate.ping():
                    server = candidate
                    break
                time.sleep(0.05)
            if server is not None:
                break
            process.kill()
            process.wait(10)
        if server is None:
            log = root / "redis.log"
            detail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RedisUnavailableError(f"redis-server did not start: {detail}")
        yield server
    finally:
        if server is not None:
            server.process.terminate()
            try:
                server.process.wait(10)
            except subprocess.TimeoutExpired:
                server.process.kill()
                server.process.wait(10)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A real Redis server for the session; fails (never skips) when there is none."""
    try:
        manager = running_redis()
        server = manager.__enter__()
    except RedisUnavailableError as error:
        pytest.fail(f"Redis is required for these tests: {error}", pytrace=False)
    try:
        yield server
    finally:
        manager.__exit__(None, None, None)
