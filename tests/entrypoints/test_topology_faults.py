"""The scale-out topology under faults: PostgreSQL and Redis on free loopback ports, two
``eucora serve`` replicas, two ``eucora worker`` processes and the GitHub double, all started here.

A sender thread streams signed deliveries (PRs opened and synchronized, bursts of reviews) to the
replicas, as GitHub would through a load balancer: a delivery the replica could not store (503,
a refused or cut connection) is sent again later under the same delivery id, as GitHub's
redelivery (``eucora redeliver``) does. Meanwhile the test ``kill -9``s a replica, ``kill -9``s a
worker, restarts Redis empty and stops PostgreSQL (``/webhook`` answers 503 and ``/readyz`` says
why while it is down). Afterwards: nothing sent is lost, every stored delivery was settled exactly
once (one ``webhook.processed`` audit event each), none failed, the audit trail verifies, and no
policy check run is left ``in_progress``. The counts are printed.

Every wait has a deadline; the leases are short (``EUCORA_INBOX_LEASE_SECONDS=3``) so a killed
worker's delivery is taken over in seconds.
"""

from __future__ import annotations

import contextlib
import http.client
import itertools
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from bot.adapters.storage import AuditLog, create_database_engine, upgrade_schema
from bot.adapters.storage.inbox import Inbox
from bot.core.github_model import POLICY_CHECK
from bot.doubles.github.server import GitHubDouble
from tests.entrypoints.test_approvals_e2e import source  # noqa: F401 - the fixture
from tests.support import webhooks
from tests.support.gitrepo import GitRepo
from tests.support.postgres import (
    START_TIMEOUT_SECONDS,
    PostgresServer,
    _as_user,
    _run,
    _runner,
    running_postgres,
)
from tests.support.redis import RedisServer, running_redis
from tests.support.serving import Process, eucora, free_port, request, running

pytestmark = pytest.mark.slow

REPO = "acme/intents"
CAB = ["carol", "sam"]
PRS = 4
ROUNDS = 6
DEADLINE = 60.0
FINAL = frozenset({"done", "failed", "collapsed", "superseded", "ignored"})


@dataclass
class Sent:
    """What the sender did (the counts the suite prints)."""

    deliveries: dict[str, webhooks.Delivery] = field(default_factory=dict)
    acknowledged: dict[str, str] = field(default_factory=dict)
    refused: Counter[str] = field(default_factory=Counter)
    resent: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass
class Topology:
    postgres: PostgresServer
    redis: RedisServer
    engine: Engine
    environ: dict[str, str]
    logs: Path
    stack: contextlib.ExitStack
    replicas: list[Process] = field(default_factory=list)
    workers: list[Process] = field(default_factory=list)
    dead: list[Process] = field(default_factory=list)

    def start_replica(self) -> Process:
        n, port = len(self.replicas) + 1, free_port()
        env = {**self.environ, "EUCORA_HOME": str(self.logs / f"replica-{n}")}
        command = eucora("serve", "--port", str(port), "--workers", "1", "--threads", "4")
        replica = self.stack.enter_context(
            running(command, env, self.logs / f"replica-{n}.log", port)
        )
        self.replicas.append(replica)
        return replica

    def start_worker(self) -> Process:
        n = len(self.workers) + 1
        env = {**self.environ, "EUCORA_HOME": str(self.logs / f"worker-{n}")}
        command = eucora("worker", "--concurrency", "2")
        worker = self.stack.enter_context(running(command, env, self.logs / f"worker-{n}.log"))
        self.stack.callback(worker.kill9)
        self.workers.append(worker)
        return worker

    def kill9(self, process: Process) -> None:
        self.dead.append(process)
        process.kill9()

    def live(self, processes: list[Process]) -> list[Process]:
        return [p for p in processes if p not in self.dead and p.popen.poll() is None]

    def logs_tail(self) -> str:
        return "\n".join(
            f"--- {p.log.name}\n{p.output()[-3000:]}" for p in self.replicas + self.workers
        )

    def stop_postgres(self) -> None:
        prefix, _, _ = _runner()
        data = str(self.postgres.data_dir)
        command = [str(self.postgres.bin_dir / "pg_ctl"), "-D", data, "-m", "fast", "-w", "stop"]
        _run(_as_user(prefix, command), timeout=60)

    def start_postgres(self) -> None:
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


@pytest.fixture
def topology(
    tmp_path: Path, github_double: GitHubDouble, github_env: dict[str, str]
) -> Iterator[Topology]:
    with contextlib.ExitStack() as stack:
        postgres = stack.enter_context(running_postgres())
        broker = stack.enter_context(running_redis())
        url = postgres.create_database()
        engine = create_database_engine(url)
        stack.callback(engine.dispose)
        upgrade_schema(engine)
        environ = {
            **github_env,
            "EUCORA_DATABASE_URL": url,
            "EUCORA_BROKER_URL": broker.url(),
            "EUCORA_EVIDENCE_DIR": str(tmp_path / "evidence"),
            "EUCORA_PUBLIC_URL": "https://eucora.example",
            "EUCORA_GITHUB_WRITE_INTERVAL": "0",
            "EUCORA_INBOX_LEASE_SECONDS": "3",
            "EUCORA_SWEEP_SECONDS": "0.5",
        }
        topology = Topology(postgres, broker, engine, environ, tmp_path, stack)
        yield topology


def _post(base: str, delivery: webhooks.Delivery) -> tuple[int, str]:
    try:
        return request(f"{base}/webhook", data=delivery.body, headers=delivery.headers, timeout=15)
    except (OSError, http.client.HTTPException) as error:
        return 0, type(error).__name__


class Sender:
    """Sends each delivery to a live replica, round robin; what was not stored is sent again."""

    def __init__(self, topology: Topology) -> None:
        self.topology = topology
        self.sent = Sent()
        self._turn = itertools.count()
        self._again: list[webhooks.Delivery] = []

    def send(self, delivery: webhooks.Delivery, *, again: bool = False) -> bool:
        delivery_id = delivery.headers["X-GitHub-Delivery"]
        with self.sent.lock:
            self.sent.deliveries[delivery_id] = delivery
            self.sent.resent += again
        replicas = self.topology.live(self.topology.replicas)
        if not replicas:
            self._again.append(delivery)
            return False
        replica = replicas[next(self._turn) % len(replicas)]
        status, text = _post(replica.base, delivery)
        if status == 202:
            with self.sent.lock:
                self.sent.acknowledged.setdefault(delivery_id, text)
            return True
        with self.sent.lock:
            self.sent.refused[str(status)] += 1
        self._again.append(delivery)
        return False

    def resend_all(self, deadline: float) -> None:
        """GitHub's redelivery: what was refused is sent again (same id) until it is stored."""
        while self._again:
            if time.monotonic() > deadline:
                pytest.fail(f"{len(self._again)} deliveries never stored", pytrace=False)
            pending, self._again = self._again, []
            for delivery in pending:
                self.send(delivery, again=True)
            if self._again:
                time.sleep(0.5)


def _stream(sender: Sender, double: GitHubDouble, prs: list[Any], installation: int) -> None:
    secret = double.app.webhook_secret
    for pr in prs:
        sender.send(
            webhooks.pull_request_event(pr, "opened", secret=secret, installation_id=installation)
        )
    for round_ in range(ROUNDS):
        for pr in prs:
            sender.send(
                webhooks.pull_request_event(  # a distinct body each time, as GitHub's are
                    pr,
                    "synchronize",
                    secret=secret,
                    installation_id=installation,
                    sender=f"pusher-{round_}",
                )
            )
            for user in CAB if round_ % 2 else CAB[:1]:  # a burst of reviews
                state = "APPROVED" if round_ == ROUNDS - 1 else "COMMENTED"
                review = double.add_review(REPO, pr.number, user, state)
                sender.send(
                    webhooks.review_event(pr, review, secret=secret, installation_id=installation)
                )
        time.sleep(0.3)


def _wait(
    topology: Topology,
    predicate: Any,
    what: str,
    timeout: float = DEADLINE,
    describe: Any = lambda: "",
) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    message = f"timed out waiting for {what}: {describe()}\n{topology.logs_tail()}"
    pytest.fail(message, pytrace=False)


def _supervise(topology: Topology) -> None:
    """Like a supervisor: a worker that stopped after the broker restart is started again."""
    for worker in list(topology.workers):
        if worker not in topology.dead and worker.popen.poll() is not None:
            topology.dead.append(worker)
            topology.start_worker()


def _inject_faults(
    topology: Topology, sender: Sender, pr: Any, installation: int, secret: str
) -> None:
    """The faults, one after another, while the stream runs."""
    inbox = Inbox(topology.engine)
    # 1. kill -9 a replica: the balancer sends to the other one
    time.sleep(1.0)
    topology.kill9(topology.replicas[0])
    # 2. kill -9 a worker while deliveries run (whichever worker holds them)
    until = time.monotonic() + 5
    while not inbox.depth()["running"] and time.monotonic() < until:
        time.sleep(0.02)
    topology.kill9(topology.workers[0])
    # 3. Redis restarted empty: the queued wake-ups are lost, the sweepers send them again
    time.sleep(1.0)
    topology.redis.restart()
    time.sleep(1.0)
    _supervise(topology)
    # 4. PostgreSQL stopped: /webhook answers 503 and /readyz says why, then it comes back
    replica = topology.live(topology.replicas)[0]
    topology.stop_postgres()
    try:
        probe = webhooks.pull_request_event(
            pr,
            "synchronize",
            secret=secret,
            installation_id=installation,
            sender="while-the-database-is-down",
        )
        status, text = _post(replica.base, probe)
        assert status == 503, text
        assert "not stored" in text
        ready = request(f"{replica.base}/readyz")
        assert ready[0] == 503
        assert "database unreachable" in ready[1]
        sender.send(probe)  # refused now, sent again once the database is back
    finally:
        topology.start_postgres()


def test_the_topology_loses_nothing_and_runs_everything_once_under_faults(
    topology: Topology,
    github_double: GitHubDouble,
    source: GitRepo,  # noqa: F811 - the fixture imported above
) -> None:
    double = github_double
    installation = double.add_installation("acme")
    double.add_team("acme", "cab", CAB)
    double.add_repository(REPO, installation=installation, source=source.path)
    prs = [double.open_pull_request(REPO, head="change", author="dave") for _ in range(PRS)]
    started = time.monotonic()
    for _ in range(2):
        topology.start_replica()
        topology.start_worker()
    sender = Sender(topology)
    stream = threading.Thread(
        target=_stream, args=(sender, double, prs, installation.id), daemon=True
    )
    stream.start()
    inbox = Inbox(topology.engine)

    _inject_faults(topology, sender, prs[0], installation.id, double.app.webhook_secret)
    stream.join(DEADLINE)
    assert not stream.is_alive()
    sender.resend_all(time.monotonic() + DEADLINE)
    # GitHub redelivers a few deliveries it already had a 202 for: suppressed, not run again
    replica = topology.live(topology.replicas)[0]
    repeats = list(sender.sent.deliveries.values())[:3]
    assert [_post(replica.base, d) for d in repeats] == [(202, "duplicate")] * 3
    _supervise(topology)

    def audited() -> Counter[str]:
        events = AuditLog(topology.engine).events()
        return Counter(e.correlation_id for e in events if e.type == "webhook.processed")

    def settled() -> bool:
        """Every delivery stored and ended, and its ``webhook.processed`` event appended."""
        rows = inbox.rows()
        return (
            len(rows) >= len(sender.sent.deliveries)
            and all(r["status"] in FINAL for r in rows)
            and {r["delivery_id"] for r in rows} <= set(audited())
        )

    _wait(
        topology,
        settled,
        "every delivery to be settled",
        describe=lambda: str(
            [
                (r["delivery_id"][:8], r["event"], r["status"], r["attempts"], r["merged_into"])
                for r in inbox.rows()
                if r["status"] not in FINAL or r["delivery_id"] not in audited()
            ]
        ),
    )
    sent = sender.sent
    rows = {r["delivery_id"]: r for r in inbox.rows()}
    lost = set(sent.deliveries) - set(rows)
    processed = audited()
    twice = {d: n for d, n in processed.items() if n > 1}
    statuses = Counter(r["status"] for r in rows.values())
    duplicates = len(repeats) + sum(1 for text in sent.acknowledged.values() if text != "accepted")
    print(  # noqa: T201 - the suite reports its counts
        f"\ntopology faults: sent {len(sent.deliveries)}, acknowledged {len(sent.acknowledged)}, "
        f"refused {dict(sent.refused)}, redelivered {sent.resent}, stored {len(rows)}, "
        f"processed {sum(processed.values())} {dict(statuses)}, "
        f"duplicates suppressed {duplicates}, lost {len(lost)}, "
        f"in {time.monotonic() - started:.0f} s"
    )
    assert lost == set()
    assert set(sent.acknowledged) == set(sent.deliveries)
    assert twice == {}
    assert set(processed) == set(rows), [
        (d[:8], rows[d]["status"], rows[d]["event"], rows[d]["attempts"])
        for d in set(rows) - set(processed)
    ]
    assert statuses["failed"] == 0, [r for r in rows.values() if r["status"] == "failed"]
    assert statuses["collapsed"] > 0  # the review bursts were folded
    assert AuditLog(topology.engine).verify().ok
    # Every policy run has its conclusion: a run begun by a worker killed inside the evaluation
    # is completed (cancelled, superseded) by the next evaluation of its head.
    runs = double.check_runs(REPO, name=POLICY_CHECK)
    for pr in prs:
        newest = max((r for r in runs if r.head_sha == pr.head_sha), key=lambda r: r.id)
        assert newest.status == "completed"
    superseded = [r.id for r in runs if r.conclusion == "cancelled"]
    print(f"policy runs a lost worker left, completed as superseded: {len(superseded)}")  # noqa: T201
    assert [r.id for r in runs if r.status == "in_progress"] == []
    assert topology.dead[:2] == [topology.replicas[0], topology.workers[0]]
