"""How fast does `eucora serve` acknowledge webhooks, next to a bare Flask app doing the floor work.

(a) Acknowledgements: signed `pull_request` deliveries (GitHub's example payload, padded to about
    20 KB, a unique delivery id and body each) are POSTed to 127.0.0.1 by 2 client processes x 4
    keep-alive connections for --seconds, and we count 2xx answers per second and the p50/p99
    time to the answer. Servers, each under gunicorn gthread with the same --workers/--threads:
    * `bare`: a Flask app that only verifies the HMAC and inserts one row (delivery id, event,
      body) into SQLite (WAL, synchronous=FULL, the durability EUCORA keeps) and answers 202:
      the floor of the work by the bare libraries;
    * `eucora`: `eucora serve` as deployed on one machine: verify, parse, route, store in the
      inbox (committed), audit event, metrics, a JSON log line, 202; its in-process drainer runs
      each delivery (recording handler: claim, complete, audit) in the same processes meanwhile;
    * `eucora+redis` (when redis-server is installed): the same intake with EUCORA_BROKER_URL set,
      so the web processes only acknowledge and send a wake-up message (no worker running).
    Servers are measured in alternation, --rounds times; the median round is reported.
(b) Webhook to completed delivery: single deliveries, one at a time, from the POST until the
    inbox row is `done` (the recording handler here). HOOK: with `--handler module:factory` the
    server runs that handler factory (the PR evaluation flow's), and this becomes the
    webhook-to-completed-check latency.

Loopback only, bounded: about rounds x servers x (seconds + 5) seconds plus (b).
Usage: .venv/bin/python benchmarks/webhook.py [--seconds 8] [--rounds 3] [--workers 2] [--threads 4]
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import http.client
import importlib
import json
import multiprocessing
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from flask import Flask, Response, request

from bot.adapters.logs import configure_logging
from bot.adapters.storage import create_database_engine, upgrade_schema
from bot.adapters.storage.inbox import Inbox
from bot.bootstrap import build_redactor, recording_handler_factory
from bot.entrypoints.serve import GunicornServer, build_server, gunicorn_options, run_server
from bot.settings import Settings
from tests.support import webhooks

SECRET = "benchmark-webhook-secret"  # noqa: S105 - a benchmark value
CONNECTIONS_PER_CLIENT = 4
CLIENTS = 2


# --- the servers ----------------------------------------------------------------------------------


def bare_app(database: str) -> Any:
    """Verify the HMAC, insert one row, answer 202: nothing else."""

    app = Flask("bare")
    local = threading.local()

    def connection() -> sqlite3.Connection:
        if not hasattr(local, "db"):
            db = sqlite3.connect(database, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.execute("PRAGMA busy_timeout=10000")
            local.db = db
        return local.db

    key = SECRET.encode()

    @app.post("/webhook")
    def webhook() -> Response:
        body = request.get_data()
        expected = "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, request.headers.get("X-Hub-Signature-256", "")):
            return Response("bad signature", 401)
        connection().execute(
            "INSERT OR IGNORE INTO deliveries VALUES (?, ?, ?)",
            (request.headers["X-GitHub-Delivery"], request.headers["X-GitHub-Event"], body),
        )
        return Response("accepted", 202)

    @app.get("/healthz")
    def healthz() -> Response:
        return Response("ok", 200)

    return app


def serve_bare(port: int, database: str, workers: int, threads: int) -> None:

    db = sqlite3.connect(database)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE IF NOT EXISTS deliveries (id TEXT PRIMARY KEY, event TEXT, body BLOB)")
    db.close()
    GunicornServer(bare_app(database), gunicorn_options("127.0.0.1", port, workers, threads)).run()


def serve_eucora(port: int, workers: int, threads: int, handler: str | None) -> None:
    """`eucora serve` itself, optionally with another handler factory (``module:name``)."""

    factory = recording_handler_factory
    if handler:
        module, _, name = handler.partition(":")
        factory = getattr(importlib.import_module(module), name)
    settings = Settings.from_environ(os.environ)
    configure_logging(build_redactor(settings))
    run_server(build_server(settings, factory), "127.0.0.1", port, workers, threads)


# --- the load -------------------------------------------------------------------------------------


def template() -> tuple[bytes, bytes]:
    """A real pull_request payload padded to ~20 KB, split where the per-request counter goes."""
    payload = webhooks.example("pull_request", "synchronize")
    payload["repository"]["full_name"] = "acme/intents"
    payload["installation"] = {"id": 42}
    payload["pull_request"]["body"] = "x" * max(0, 20_000 - len(json.dumps(payload)))
    payload["bench"] = "@@COUNTER@@"
    text = json.dumps(payload).encode()
    before, after = text.split(b"@@COUNTER@@")
    return before, after


def client(port: int, tag: str, seconds: float, out: Any) -> None:
    """In a process: CONNECTIONS_PER_CLIENT threads POST unique signed deliveries for ``seconds``."""
    before, after = template()
    key = SECRET.encode()
    results: list[tuple[int, float]] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def run(thread: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine = []
        n = 0
        while time.monotonic() < stop_at:
            n += 1
            delivery = f"{tag}-{thread}-{n}"
            pr = (thread * 1_000_003 + n) % 5000 + 1
            body = before + delivery.encode() + after
            body = body.replace(b'"number": 2,', f'"number": {pr},'.encode(), 1)
            signature = "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()
            headers = {
                "X-GitHub-Event": "pull_request",
                "X-GitHub-Delivery": delivery,
                "X-Hub-Signature-256": signature,
                "Content-Type": "application/json",
            }
            started = time.perf_counter()
            try:
                connection.request("POST", "/webhook", body=body, headers=headers)
                response = connection.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException):
                status = 0
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            mine.append((status, time.perf_counter() - started))
        with lock:
            results.extend(mine)

    threads = [threading.Thread(target=run, args=(t,)) for t in range(CONNECTIONS_PER_CLIENT)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    out.put(results)


def load(port: int, tag: str, seconds: float) -> dict[str, float]:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    procs = [
        context.Process(target=client, args=(port, f"{tag}-{c}", seconds, queue))
        for c in range(CLIENTS)
    ]
    for proc in procs:
        proc.start()
    results = [r for _ in procs for r in queue.get(timeout=seconds + 120)]
    for proc in procs:
        proc.join(30)
    ok = sorted(latency for status, latency in results if 200 <= status < 300)
    failed = sum(1 for status, _ in results if not 200 <= status < 300)
    return {
        "rps": len(ok) / seconds,
        "p50_ms": 1000 * ok[len(ok) // 2] if ok else float("nan"),
        "p99_ms": 1000 * ok[min(len(ok) - 1, int(len(ok) * 0.99))] if ok else float("nan"),
        "ok": len(ok),
        "failed": failed,
    }


# --- orchestration --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_healthy(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited with {process.returncode}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("server did not start")


class Server:
    def __init__(
        self, kind: str, args: argparse.Namespace, work: Path, redis_url: str | None
    ) -> None:
        self.kind = kind
        self.port = free_port()
        self.home = work / f"{kind}-{time.monotonic_ns()}"
        self.home.mkdir(parents=True)
        env = {**os.environ, "EUCORA_HOME": str(self.home), "GITHUB_WEBHOOK_SECRET": SECRET}
        env.pop("EUCORA_BROKER_URL", None)
        if kind == "bare":
            command = ["_bare", str(self.port), str(self.home / "bare.db")]
        else:
            engine = create_database_engine(f"sqlite:///{self.home / 'eucora.db'}")
            upgrade_schema(engine)
            engine.dispose()
            command = ["_eucora", str(self.port)] + (
                ["--handler", args.handler] if args.handler else []
            )
            if kind == "eucora+redis":
                env["EUCORA_BROKER_URL"] = redis_url or ""
        command += ["--workers", str(args.workers), "--threads", str(args.threads)]
        self.log = (self.home / "server.log").open("wb")
        self.process = subprocess.Popen(
            [sys.executable, __file__, *command],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_healthy(self.port, self.process)

    def stop(self) -> None:
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(30)
        self.log.close()


def end_to_end(args: argparse.Namespace, work: Path, count: int) -> dict[str, float]:
    """POST one delivery at a time; time until its inbox row is `done`."""

    server = Server("eucora", args, work, None)
    try:
        inbox = Inbox(create_database_engine(f"sqlite:///{server.home / 'eucora.db'}"))
        before, after = template()
        times = []
        for i in range(count):
            delivery = f"e2e-{i}"
            body = before + delivery.encode() + after
            signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
            connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
            started = time.perf_counter()
            connection.request(
                "POST",
                "/webhook",
                body=body,
                headers={
                    "X-GitHub-Event": "pull_request",
                    "X-GitHub-Delivery": delivery,
                    "X-Hub-Signature-256": signature,
                    "Content-Type": "application/json",
                },
            )
            connection.getresponse().read()
            while (inbox.get(delivery) or {}).get("status") != "done":
                if time.perf_counter() - started > 30:
                    raise SystemExit(f"{delivery} was not processed in 30 s")
                time.sleep(0.002)
            times.append(time.perf_counter() - started)
        times.sort()
        return {
            "p50_ms": 1000 * times[len(times) // 2],
            "p99_ms": 1000 * times[int(len(times) * 0.99)],
        }
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--e2e", type=int, default=50, help="deliveries for (b)")
    parser.add_argument("--handler", help="module:factory for eucora's handler (the hook for (b))")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="eucora-bench-webhook-"))
    redis_process = None
    redis_url = None
    kinds = ["bare", "eucora"]
    binary = shutil.which("redis-server")
    if binary:
        redis_port = free_port()
        redis_process = subprocess.Popen(
            [
                binary,
                "--port",
                str(redis_port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--dir",
                str(work),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        redis_url = f"redis://127.0.0.1:{redis_port}/0"
        kinds.append("eucora+redis")
    rounds: dict[str, list[dict[str, float]]] = {kind: [] for kind in kinds}
    try:
        for round_number in range(args.rounds):
            for kind in kinds:
                server = Server(kind, args, work, redis_url)
                try:
                    load(server.port, f"warm-{round_number}", 1.0)
                    result = load(server.port, f"r{round_number}", args.seconds)
                finally:
                    server.stop()
                rounds[kind].append(result)
                print(
                    f"round {round_number + 1} {kind:13} {result['rps']:7.0f} req/s  p50 {result['p50_ms']:6.2f} ms  p99 {result['p99_ms']:7.2f} ms  non-2xx {result['failed']}",
                    flush=True,
                )
        e2e = end_to_end(args, work, args.e2e) if args.e2e else None
    finally:
        if redis_process is not None:
            redis_process.terminate()
            redis_process.wait(10)
        shutil.rmtree(work, ignore_errors=True)
    print()
    print(
        f"gunicorn gthread, {args.workers} workers x {args.threads} threads; {CLIENTS} client processes x {CONNECTIONS_PER_CLIENT} connections; {args.seconds:.0f} s per run; median of {args.rounds} rounds"
    )
    print("| server | deliveries/s | p50 ms | p99 ms | ceiling / server |")
    print("|---|---|---|---|---|")
    medians = {}
    for kind in kinds:
        ordered = sorted(rounds[kind], key=lambda r: r["rps"])
        medians[kind] = ordered[len(ordered) // 2]
    for kind in kinds:
        m = medians[kind]
        ratio = medians["bare"]["rps"] / m["rps"] if m["rps"] else float("inf")
        print(f"| {kind} | {m['rps']:.0f} | {m['p50_ms']:.2f} | {m['p99_ms']:.2f} | {ratio:.2f}x |")
    if e2e:
        handler = args.handler or "recording handler"
        print(
            f"\nwebhook -> completed delivery ({handler}), {args.e2e} sequential: p50 {e2e['p50_ms']:.1f} ms, p99 {e2e['p99_ms']:.1f} ms"
        )


def _serve_command() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("kind")
    parser.add_argument("port", type=int)
    parser.add_argument("database", nargs="?")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--handler")
    args = parser.parse_args()
    if args.kind == "_bare":
        serve_bare(args.port, args.database, args.workers, args.threads)
    else:
        serve_eucora(args.port, args.workers, args.threads, args.handler)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] in {"_bare", "_eucora"}:
        _serve_command()
    else:
        main()
