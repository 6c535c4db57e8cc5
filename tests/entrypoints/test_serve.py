"""``eucora serve`` runs the web app under gunicorn and serves stored evidence."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from bot.adapters.evidence_store import EvidenceStore
from bot.entrypoints.serve import StoreSource, gunicorn_options


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def fetch(url: str, accept: str = "text/html") -> tuple[int, str, bytes]:
    request = urllib.request.Request(url, headers={"Accept": accept})  # noqa: S310 - loopback only
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read()


def test_serve_answers_health_and_evidence_with_gunicorn(tmp_path: Path) -> None:
    pack = {"kind": "CheckPack", "note": "not a full pack: JSON is served as stored"}
    digest = EvidenceStore(tmp_path / "evidence").put(pack)
    port = free_port()
    env = {**os.environ, "EUCORA_HOME": str(tmp_path)}
    script = Path(sys.executable).with_name("eucora")
    server = subprocess.Popen(
        [str(script), "serve", "--port", str(port), "--workers", "1", "--threads", "2"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                status, _, body = fetch(f"{base}/healthz")
                break
            except OSError:
                assert time.monotonic() < deadline, "eucora serve did not start"
                time.sleep(0.2)
        assert (status, body) == (200, b"ok")
        status, kind, body = fetch(f"{base}/evidence/{digest}", "application/json")
        assert status == 200
        assert kind.startswith("application/json")
        assert b"not a full pack" in body
        assert fetch(f"{base}/evidence/sha256:{'0' * 64}")[0] == 404
        assert fetch(f"{base}/evidence/nope")[0] == 400
    finally:
        server.send_signal(signal.SIGTERM)
        output = server.communicate(timeout=30)[0].decode()
    assert "gthread" in output or "Booting worker" in output
    assert "Traceback" not in output


def test_store_source_returns_none_for_unknown_digests(tmp_path: Path) -> None:
    source = StoreSource(EvidenceStore(tmp_path))
    assert source.get(f"sha256:{'1' * 64}") is None


def test_gunicorn_options_use_threads() -> None:
    options = gunicorn_options("127.0.0.1", 8000, 2, 4)
    assert options["worker_class"] == "gthread"
    assert options["bind"] == "127.0.0.1:8000"
