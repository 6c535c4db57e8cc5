"""The scale-out topology on loopback: PostgreSQL, Redis, ``eucora serve`` replicas, ``eucora
worker`` processes, started and stopped here.

Shared by the fault suite (``tests/entrypoints/test_topology_faults.py``) and the load benchmark
(``benchmarks/load.py``, which runs from a checkout with the test extras and already takes its
PostgreSQL, Redis and process helpers from ``tests/support``): one place says how the topology
is put together. ``running_topology`` starts its own servers, or uses the ones it is given (a
test session's, so a quick run does not start another PostgreSQL).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine

from bot.adapters.storage import create_database_engine, upgrade_schema
from tests.support.postgres import (
    START_TIMEOUT_SECONDS,
    PostgresServer,
    _as_user,
    _run,
    _runner,
    running_postgres,
)
from tests.support.redis import RedisServer, running_redis
from tests.support.serving import Process, eucora, free_port, running


@dataclass
class Topology:
    """What ``running_topology`` started; replicas and workers are added with ``start_*``."""

    postgres: PostgresServer
    redis: RedisServer
    engine: Engine
    database_url: str
    environ: dict[str, str]
    """The processes' environment: the caller's, with the database and broker URLs."""
    logs: Path
    stack: contextlib.ExitStack
    replicas: list[Process] = field(default_factory=list)
    workers: list[Process] = field(default_factory=list)
    dead: list[Process] = field(default_factory=list)

    def start_replicas(self, count: int, *, workers: int = 1, threads: int = 4) -> list[Process]:
        """Start ``count`` ``eucora serve`` replicas at once; return when each answers."""
        managers = []
        for _ in range(count):
            n, port = len(self.replicas) + len(managers) + 1, free_port()
            env = {**self.environ, "EUCORA_HOME": str(self.logs / f"replica-{n}")}
            command = eucora(
                "serve", "--port", str(port), "--workers", str(workers), "--threads", str(threads)
            )
            managers.append(running(command, env, self.logs / f"replica-{n}.log", port))
        with ThreadPoolExecutor(count) as pool:
            futures = [pool.submit(manager.__enter__) for manager in managers]
        started = []
        for manager, future in zip(managers, futures, strict=True):
            if future.exception() is None:
                self.stack.push(manager)  # stopped with the topology
                started.append(future.result())
        for future in futures:
            if future.exception() is not None:
                raise future.exception()  # type: ignore[misc]
        self.replicas.extend(started)
        return started

    def start_replica(self, *, workers: int = 1, threads: int = 4) -> Process:
        [replica] = self.start_replicas(1, workers=workers, threads=threads)
        return replica

    def start_worker(self, *, concurrency: int = 2) -> Process:
        n = len(self.workers) + 1
        env = {**self.environ, "EUCORA_HOME": str(self.logs / f"worker-{n}")}
        command = eucora("worker", "--concurrency", str(concurrency))
        worker = self.stack.enter_context(running(command, env, self.logs / f"worker-{n}.log"))
        self.stack.callback(worker.kill9)
        self.workers.append(worker)
        return worker

    def kill9(self, process: Process) -> None:
        self.dead.append(process)
        process.kill9()

    def live(self, processes: list[Process]) -> list[Process]:
        return [p for p in processes if p not in self.dead and p.popen.poll() is None]

    def live_replicas(self) -> list[str]:
        """The balancer's upstreams: the replicas not killed."""
        return [p.base for p in self.live(self.replicas)]

    def logs_tail(self) -> str:
        return "\n".join(
            f"--- {p.log.name}\n{p.output()[-3000:]}" for p in self.replicas + self.workers
        )

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run ``eucora ARGS`` against the topology's database and the GitHub double."""
        env = {**self.environ, "EUCORA_HOME": str(self.logs / "cli")}
        return subprocess.run(
            eucora(*args),
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def postmaster_pid(self) -> int:
        return int((self.postgres.data_dir / "postmaster.pid").read_text().split()[0])

    def stop_postgres(self) -> None:
        prefix, _, _ = _runner()
        data = str(self.postgres.data_dir)
        command = [str(self.postgres.bin_dir / "pg_ctl"), "-D", data, "-m", "fast", "-w", "stop"]
        _run(_as_user(prefix, command), timeout=60)

    def start_postgres(self) -> None:
        """Start the stopped server again, as ``running_postgres`` (not durable) started it."""
        prefix, _, _ = _runner()
        options = [
            f"-p {self.postgres.port}",
            "-c listen_addresses=127.0.0.1",
            f"-k {self.postgres.root}",
            "-c max_connections=100",
            "-c fsync=off",
            "-c synchronous_commit=off",
        ]
        command = [
            str(self.postgres.bin_dir / "pg_ctl"),
            "-D",
            str(self.postgres.data_dir),
            "-l",
            str(self.postgres.root / "server.log"),
            "-w",
            "-t",
            str(START_TIMEOUT_SECONDS),
            "-o",
            " ".join(options),
            "start",
        ]
        _run(_as_user(prefix, command), timeout=START_TIMEOUT_SECONDS + 10)


@contextlib.contextmanager
def running_topology(  # noqa: PLR0913 - the servers are optional, each on its own
    logs: Path,
    environ: dict[str, str],
    *,
    durable: bool = False,
    postgres: PostgresServer | None = None,
    redis: RedisServer | None = None,
    redis_db: int = 0,
) -> Iterator[Topology]:
    """A fresh database (on ``postgres``, or on a server started here, ``durable`` or not) and a
    broker (``redis``'s database ``redis_db``, or a server started here); the replicas and workers
    are started by the caller and everything is stopped on exit."""
    with contextlib.ExitStack() as stack:
        if postgres is None:
            postgres = stack.enter_context(running_postgres(durable=durable))
        if redis is None:
            redis = stack.enter_context(running_redis())
        url = postgres.create_database()
        engine = create_database_engine(url)
        stack.callback(engine.dispose)
        upgrade_schema(engine)
        environ = {
            **environ,
            "EUCORA_DATABASE_URL": url,
            "EUCORA_BROKER_URL": redis.url(redis_db),
        }
        yield Topology(postgres, redis, engine, url, environ, logs, stack)
