"""Start ``eucora serve`` (or the recording launcher) as a subprocess and talk to it over HTTP."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def request(
    url: str,
    *,
    data: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 10,
) -> tuple[int, str]:
    """Status and text of one request (HTTP errors included)."""
    method = "POST" if data is not None else "GET"
    sent = urllib.request.Request(url, data=data, headers=dict(headers or {}), method=method)  # noqa: S310
    try:
        with urllib.request.urlopen(sent, timeout=timeout) as response:  # noqa: S310 - loopback
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


@dataclass
class Process:
    popen: subprocess.Popen[bytes]
    base: str
    log: Path

    def kill9(self) -> None:
        """SIGKILL the whole process group (master and workers), as a crash would."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(30)

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def wait_until(predicate, timeout: float, what: str, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}")


@contextlib.contextmanager
def running(
    command: list[str], env: Mapping[str, str], log: Path, port: int | None = None
) -> Iterator[Process]:
    """Run ``command`` in its own process group; wait for /healthz when ``port`` is given."""
    with log.open("ab") as sink:
        popen = subprocess.Popen(
            command,
            env={**os.environ, **env},
            cwd=ROOT,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    process = Process(popen=popen, base=f"http://127.0.0.1:{port}", log=log)
    try:
        if port is not None:

            def healthy() -> bool:
                if popen.poll() is not None:
                    raise AssertionError(
                        f"server exited {popen.returncode}:\n{process.output()[-3000:]}"
                    )
                try:
                    return request(f"{process.base}/healthz", timeout=2)[0] == 200
                except OSError:
                    return False

            wait_until(healthy, 60, "the server to answer /healthz", 0.2)
        yield process
    finally:
        # A graceful stop goes to the main process only (gunicorn's master and Celery's main
        # process stop their children themselves); whatever is left after that is killed.
        if popen.poll() is None:
            popen.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                popen.wait(30)
        process.kill9()


def recording_serve(port: int, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "tests.support.recording_app",
        "serve",
        "--port",
        str(port),
        *extra,
    ]


def recording_worker(*extra: str) -> list[str]:
    return [sys.executable, "-m", "tests.support.recording_app", "worker", *extra]


def eucora(*args: str) -> list[str]:
    return [str(Path(sys.executable).with_name("eucora")), *args]
