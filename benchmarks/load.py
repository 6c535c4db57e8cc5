"""Load: signed deliveries from a separate process at 100 and 1,000 connections, on both topologies.

What a user would load EUCORA with: pull requests opened and synchronized, bursts of
``pull_request_review`` deliveries, and merges (``closed`` with ``merged: true``), over many PRs
of the GitHub double, each delivery with its own id and body and a valid HMAC signature. The
load generator is a separate process (aiohttp; two processes above 200 connections), talks to
127.0.0.1 only and stops by itself after ``--seconds``. Each connection sends about ``--rate``
deliveries a second (0: as fast as the answers come).

Per topology, in one run:

* ``floor``: a bare Flask app under the same gunicorn settings that verifies the HMAC, inserts one
  row into SQLite (WAL, ``synchronous=FULL``) and answers 202 (``benchmarks/webhook.py``'s);
* ``embedded``: ``eucora serve`` on SQLite with its in-process drainer (the README's one-machine
  setup), the real handler against the GitHub double;
* ``scaleout``: PostgreSQL and Redis on loopback ports, two ``eucora serve`` replicas (the load
  spread over them as a balancer would) and two ``eucora worker`` processes.

Reported: acknowledged deliveries/s, p50/p99/max time to the answer, errors (non-2xx, connection
errors and time-outs), deliveries acknowledged but not in the inbox (lost: must be 0), the time
to drain the inbox after the load stops, p50/p99 webhook-to-completed-check (the first
``EUCORA policy`` run on the PR's head created after the delivery was sent and then seen
completed in the GitHub double's record, polled every 0.2 s), CPU per process (cores used while
the load ran) and, on PostgreSQL, what the active backends waited on (sampled).

Usage:
  .venv/bin/python benchmarks/load.py [--topology floor embedded scaleout]
      [--connections 100 1000] [--seconds 30] [--rate 1] [--prs 200] [--drain-timeout 600]
  .venv/bin/python benchmarks/load.py --quick      # a few seconds: what tests/ runs
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import hmac
import json
import os
import pickle
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psycopg

from benchmarks.load_generator import REQUEST_TIMEOUT, Job, Scenario, Template
from benchmarks.webhook import SECRET as FLOOR_SECRET
from bot.adapters.storage import create_database_engine, upgrade_schema
from bot.adapters.storage.inbox import Inbox
from bot.core.github_model import POLICY_CHECK
from bot.doubles.github import GitHubDouble, generate_app_key
from tests.support import webhooks
from tests.support.gitrepo import GitRepo
from tests.support.postgres import PostgresServer
from tests.support.redis import RedisServer
from tests.support.serving import eucora, free_port, running
from tests.support.topology import running_topology

REPO = "acme/intents"
CAB = ("carol", "sam")
EXAMPLES = ROOT / "examples" / "intents-repo"
PLACEHOLDER = "@@LOAD-TOKEN@@"
FINAL = frozenset({"done", "failed", "collapsed", "superseded", "ignored"})
POLL_SECONDS = 0.2
GENERATOR = "import sys; from benchmarks.load_generator import main; main(sys.argv[1])"


# --- the deliveries ------------------------------------------------------------------------------


def build_source(work: Path, prs: int, merges: int) -> GitRepo:
    """The example repository (CAB: acme/cab), a branch per PR adding one intent of its own."""
    repo = GitRepo.create(work / "src", template=EXAMPLES, freeze_windows=False)
    repo.edit(
        "eucora.yaml", "    - contoso/cab-desktop\n    - contoso/security-cab\n", "    - acme/cab\n"
    )
    repo.commit("the CAB is acme/cab")
    text = repo.read("intents/windows/notepad-plus-plus.yaml")
    for i in range(prs + merges):
        repo.branch(f"load-{i}", "main")
        named = text.replace("name: notepad-plus-plus\n", f"name: load-tool-{i:04d}\n", 1)
        named = named.replace("  name: Notepad++\n", f"  name: Load Tool {i:04d}\n", 1)
        repo.write(f"intents/windows/load/load-tool-{i:04d}.yaml", named)
        repo.commit(f"load tool {i}")
    repo.git("checkout", "-q", "main")
    return repo


def _template(delivery: webhooks.Delivery, kind: str, pr: Any) -> Template:
    body = delivery.body
    marker = json.dumps(PLACEHOLDER).encode()
    before, found, after = body.partition(marker)
    if not found:
        raise RuntimeError(f"placeholder missing from the {delivery.event} template")
    return Template(delivery.event, kind, pr.number, pr.head_sha, before + b'"', b'"' + after)


def build_scenario(double: GitHubDouble, installation: int, prs: int, merges: int) -> Scenario:
    """Open ``prs`` PRs (and ``merges`` merged ones) on the double; their delivery templates."""
    secret = double.app.webhook_secret
    scenario = Scenario()

    def with_token(key: str) -> Any:
        def adjust(payload: dict[str, Any]) -> None:
            payload[key]["body"] = PLACEHOLDER

        return adjust

    for i in range(prs):
        pr = double.open_pull_request(REPO, head=f"load-{i}", author="dave")
        templates: dict[str, Template | list[Template]] = {}
        for action in ("opened", "synchronize"):
            delivery = webhooks.pull_request_event(
                pr,
                action,
                secret=secret,
                installation_id=installation,
                adjust=with_token("pull_request"),
            )
            templates[action] = _template(delivery, "evaluate", pr)
        reviews = []
        for user in CAB:
            review = double.add_review(REPO, pr.number, user, "COMMENTED")
            delivery = webhooks.review_event(
                pr, review, secret=secret, installation_id=installation
            )
            payload = dict(delivery.payload)
            payload["review"] = {**payload["review"], "body": PLACEHOLDER}
            reviews.append(
                _template(
                    webhooks.signed("pull_request_review", payload, secret=secret), "review", pr
                )
            )
        templates["review"] = reviews
        scenario.open_prs[pr.number] = templates
    for i in range(prs, prs + merges):
        pr = double.open_pull_request(REPO, head=f"load-{i}", author="dave")
        double.add_review(REPO, pr.number, CAB[0], "APPROVED")
        double.merge_pull_request(REPO, pr.number)
        merged = double.pull_request(REPO, pr.number)
        delivery = webhooks.pull_request_event(
            merged,
            "closed",
            secret=secret,
            installation_id=installation,
            merged=True,
            adjust=with_token("pull_request"),
        )
        scenario.merged.append(_template(delivery, "merged", merged))
    return scenario


# --- the load generator (a separate process: benchmarks/load_generator.py) ---------------------


@dataclass
class Sent:
    token: str
    kind: str
    pr: int
    head_sha: str
    at: float
    latency: float
    status: int
    text: str


def _start_generator(job: Job, work: Path) -> subprocess.Popen[str]:
    """A Python running ``benchmarks.load_generator.main(JOB)``, once it says it is ready."""
    job_file = work / f"job-{job.connections}-{job.part}.pickle"
    job_file.write_bytes(pickle.dumps(job))
    proc = subprocess.Popen(
        [sys.executable, "-c", GENERATOR, str(job_file)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], 120)
    if not ready or proc.stdout.readline().strip() != "ready":
        proc.kill()
        proc.wait(10)
        raise SystemExit("the load generator did not start")
    return proc


def run_generators(  # noqa: PLR0913, PLR0917 - what one load needs
    urls: list[str],
    scenario: Scenario,
    secret: str,
    args: argparse.Namespace,
    connections: int,
    work: Path,
    started: Any,
) -> list[Sent]:
    """Run the generator processes; ``started(pids)`` is called when they are about to begin."""
    parts = 2 if connections > 200 else 1
    outs = [work / f"sent-{connections}-{p}.tsv" for p in range(parts)]
    with contextlib.ExitStack() as stack:
        procs = []
        for part, out in enumerate(outs):
            job = Job(
                urls,
                scenario,
                secret,
                connections // parts,
                args.rate,
                args.seconds,
                part,
                parts,
                out,
            )
            procs.append(stack.enter_context(_start_generator(job, work)))
        started([proc.pid for proc in procs])
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.close()
        for proc in procs:
            if proc.wait(args.seconds + REQUEST_TIMEOUT + 120) != 0:
                raise SystemExit(f"the load generator failed ({proc.returncode})")
    sent = []
    for path in outs:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line:
                token, kind, pr, head, at, latency, status, text = [*line.split("\t"), ""][:8]
                sent.append(
                    Sent(token, kind, int(pr), head, float(at), float(latency), int(status), text)
                )
    return sent


# --- measuring the servers ------------------------------------------------------------------------


def _stat(pid: int) -> tuple[int, int, float] | None:
    """(ppid, pgrp, CPU seconds) of a live process."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return int(fields[1]), int(fields[2]), (int(fields[11]) + int(fields[12])) / ticks


class CpuMeter:
    """CPU seconds per named group of processes (a process group, or a parent and its children)."""

    def __init__(self) -> None:
        self.groups: dict[str, tuple[str, int]] = {}

    def add(self, name: str, how: str, pid: int) -> None:
        """``how``: ``group`` (the process group ``pid``), ``tree`` (pid and children), ``self``."""
        self.groups[name] = (how, pid)

    def sample(self) -> dict[str, dict[int, float]]:
        stats = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                stat = _stat(int(entry.name))
                if stat is not None:
                    stats[int(entry.name)] = stat
        found: dict[str, dict[int, float]] = {}
        for name, (how, root) in self.groups.items():
            found[name] = {
                pid: cpu
                for pid, (ppid, pgrp, cpu) in stats.items()
                if (how == "group" and pgrp == root)
                or (how == "tree" and root in {pid, ppid})
                or (how == "self" and pid == root)
            }
        return found

    @staticmethod
    def used(
        before: dict[str, dict[int, float]], after: dict[str, dict[int, float]], seconds: float
    ) -> dict[str, float]:
        """Cores used per group between two samples."""
        return {
            name: sum(cpu - before.get(name, {}).get(pid, 0.0) for pid, cpu in pids.items())
            / seconds
            for name, pids in after.items()
        }


class CheckWatcher(threading.Thread):
    """Polls the double's check runs: when each policy run was first seen, and first seen done."""

    def __init__(self, double: GitHubDouble) -> None:
        super().__init__(daemon=True)
        self.double = double
        self.seen: dict[int, tuple[str, float]] = {}
        self.completed: dict[int, float] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(POLL_SECONDS):
            now = time.time()
            for run in self.double.check_runs(REPO, name=POLICY_CHECK):
                self.seen.setdefault(run.id, (run.head_sha, now))
                if run.status == "completed":
                    self.completed.setdefault(run.id, now)

    def latencies(self, sent: list[Sent]) -> list[float]:
        """Per accepted evaluation: from its POST to the first run on its head begun after it, done."""
        runs: dict[str, list[tuple[float, float]]] = {}
        for run_id, (head, seen) in self.seen.items():
            if run_id in self.completed:
                runs.setdefault(head, []).append((seen, self.completed[run_id]))
        found = []
        for s in sent:
            if s.kind == "evaluate" and s.text == "accepted":
                done = [c for seen, c in runs.get(s.head_sha, []) if seen >= s.at]
                if done:
                    found.append(min(done) - s.at)
        return sorted(found)


class WaitSampler(threading.Thread):
    """PostgreSQL: what the active backends wait on, sampled every 0.1 s while the load runs."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.samples: Counter[str] = Counter()
        self.polls = 0
        self.stop = threading.Event()

    def run(self) -> None:
        dsn = self.url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(dsn, autocommit=True) as connection:
            while not self.stop.wait(0.1):
                rows = connection.execute(
                    "SELECT wait_event_type, wait_event FROM pg_stat_activity"
                    " WHERE datname = current_database() AND state = 'active'"
                    " AND pid <> pg_backend_pid()"
                ).fetchall()
                self.polls += 1
                for kind, event in rows:
                    self.samples[f"{kind}:{event}" if kind else "CPU"] += 1


# --- the topologies -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Servers:
    """PostgreSQL and Redis servers to use rather than start (a test session's), or none."""

    postgres: PostgresServer | None = None
    redis: RedisServer | None = None


@dataclass
class Stack:
    """What one topology started: where to send, its inbox, the processes to measure."""

    urls: list[str]
    inbox: Inbox | None
    meter: CpuMeter
    database_url: str | None = None
    double: GitHubDouble | None = None


def _environ(double: GitHubDouble, home: Path) -> dict[str, str]:
    return {
        "GITHUB_API_URL": double.url,
        "GITHUB_APP_ID": str(double.app.id),
        "GITHUB_PRIVATE_KEY": double.app.private_key_pem,
        "GITHUB_WEBHOOK_SECRET": double.app.webhook_secret,
        "EUCORA_HOME": str(home),
        "EUCORA_EVIDENCE_DIR": str(home / "evidence"),
        "EUCORA_PUBLIC_URL": "https://eucora.example",
        "EUCORA_GITHUB_WRITE_INTERVAL": "0",
    }


@contextlib.contextmanager
def floor_stack(work: Path, secret: str, args: argparse.Namespace) -> Iterator[Stack]:
    port = free_port()
    command = [
        sys.executable,
        str(ROOT / "benchmarks" / "webhook.py"),
        "_bare",
        str(port),
        str(work / "bare.db"),
        "--workers",
        str(args.workers),
        "--threads",
        str(args.threads),
    ]
    env = {"GITHUB_WEBHOOK_SECRET": secret}
    with running(command, env, work / "floor.log", port) as server:
        meter = CpuMeter()
        meter.add("bare Flask (gunicorn)", "group", server.popen.pid)
        yield Stack([server.base], None, meter)


@contextlib.contextmanager
def embedded_stack(work: Path, double: GitHubDouble, args: argparse.Namespace) -> Iterator[Stack]:
    home = work / "embedded"
    engine = create_database_engine(f"sqlite:///{home / 'eucora.db'}")
    upgrade_schema(engine)
    port = free_port()
    command = eucora(
        "serve", "--port", str(port), "--workers", str(args.workers), "--threads", str(args.threads)
    )
    with running(command, _environ(double, home), work / "embedded.log", port) as server:
        meter = CpuMeter()
        meter.add("eucora serve (web + drainer)", "group", server.popen.pid)
        try:
            yield Stack([server.base], Inbox(engine), meter)
        finally:
            engine.dispose()


@contextlib.contextmanager
def scaleout_stack(
    work: Path, double: GitHubDouble, args: argparse.Namespace, servers: Servers
) -> Iterator[Stack]:
    """PostgreSQL (durable, unless the caller's ``servers`` give one) and Redis, two replicas
    splitting ``--workers`` between them, two workers (``tests/support/topology.py``)."""
    environ = _environ(double, work / "scaleout")
    with running_topology(
        work, environ, durable=True, postgres=servers.postgres, redis=servers.redis, redis_db=11
    ) as topology:
        meter = CpuMeter()
        replicas = topology.start_replicas(
            2, workers=max(1, args.workers // 2), threads=args.threads
        )
        for n, replica in enumerate(replicas, 1):
            meter.add(f"eucora serve replica {n}", "group", replica.popen.pid)
        for n in (1, 2):
            worker = topology.start_worker(concurrency=2)
            meter.add(f"eucora worker {n}", "group", worker.popen.pid)
        meter.add("PostgreSQL", "tree", topology.postmaster_pid())
        meter.add("Redis", "self", topology.redis.process.pid)
        yield Stack(
            [r.base for r in replicas],
            Inbox(topology.engine),
            meter,
            database_url=topology.database_url,
        )


# --- one measured run ------------------------------------------------------------------------------


def warm_up(url: str, scenario: Scenario, secret: str, double: GitHubDouble) -> None:
    """One evaluation before the load (the token, the mirror, the compiled policies)."""
    number = min(scenario.open_prs)
    template = scenario.open_prs[number]["synchronize"]
    assert isinstance(template, Template)
    body = template.before + b"warm-up" + template.after
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": template.event,
        "X-GitHub-Delivery": "warm-up",
        "X-Hub-Signature-256": signature,
    }
    sent = urllib.request.Request(f"{url}/webhook", data=body, headers=headers, method="POST")  # noqa: S310
    with urllib.request.urlopen(sent, timeout=30) as response:  # noqa: S310 - loopback
        response.read()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        runs = double.check_runs(REPO, name=POLICY_CHECK)
        if any(r.head_sha == template.head_sha and r.status == "completed" for r in runs):
            return
        time.sleep(0.1)
    raise SystemExit("the warm-up evaluation did not complete in 120 s")


def profile(stack: Stack, args: argparse.Namespace, name: str) -> list[subprocess.Popen[bytes]]:
    """``py-spy record`` of each EUCORA process group while the load runs (``--profile DIR``).

    Raw folded stacks with idle frames (where the threads wait, not only where they run), one
    file per process group; ``py-spy`` must be installed (``pip install py-spy``).
    """
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    args.profile.mkdir(parents=True, exist_ok=True)
    started = []
    for group, (how, pid) in stack.meter.groups.items():
        if how != "group" or "eucora" not in group:
            continue
        out = args.profile / f"{name}-{group.replace(' ', '_')}.txt"
        command = [spy, "record", "--pid", str(pid), "--subprocesses", "--format", "raw"]
        command += ["--gil"] if args.profile_cpu else ["--idle"]
        command += ["--duration", str(int(args.seconds)), "--rate", "50", "--output", str(out)]
        started.append(
            subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        )
    return started


def _percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    return values[min(len(values) - 1, int(len(values) * share))]


def _uptime() -> str:
    return Path("/proc/loadavg").read_text().split(" ")[0:3].__str__()


def _drain(inbox: Inbox, timeout: float) -> tuple[float | None, int]:
    """Seconds until nothing is pending or running (``None`` when the deadline passed), left."""
    started = time.monotonic()
    while True:
        depth = inbox.depth()
        left = depth["pending"] + depth["running"]
        if left == 0:
            return time.monotonic() - started, 0
        if time.monotonic() - started > timeout:
            return None, left
        time.sleep(0.5)


def measure(  # noqa: C901, PLR0913, PLR0917 - what one run needs, in order
    topology: str,
    connections: int,
    args: argparse.Namespace,
    work: Path,
    source: GitRepo,
    key: tuple[str, str],
    servers: Servers,
) -> dict[str, Any]:
    """Start ``topology``, load it, drain it; the figures."""
    run_dir = work / f"{topology}-{connections}"
    run_dir.mkdir()
    private, public = key
    double = GitHubDouble(
        run_dir / "github", private_key_pem=private, public_key_pem=public
    ).start()
    try:
        installation = double.add_installation("acme")
        double.add_team("acme", "cab", list(CAB))
        double.add_repository(REPO, installation=installation, source=source.path)
        scenario = build_scenario(double, installation.id, args.prs, max(2, args.prs // 10))
        secret = FLOOR_SECRET if topology == "floor" else double.app.webhook_secret
        if topology == "floor":
            manager = floor_stack(run_dir, secret, args)
        elif topology == "embedded":
            manager = embedded_stack(run_dir, double, args)
        else:
            manager = scaleout_stack(run_dir, double, args, servers)
        with manager as stack:
            if stack.inbox is not None:
                warm_up(stack.urls[0], scenario, secret, double)
            watcher = CheckWatcher(double)
            watcher.start()
            stack.meter.add("benchmark (GitHub double)", "self", os.getpid())
            waits = WaitSampler(stack.database_url) if stack.database_url else None
            if waits:
                waits.start()
            load_before = _uptime()
            marks: dict[str, Any] = {}

            def end() -> None:
                marks["after"] = stack.meter.sample()
                marks["load_after"] = _uptime()

            timer = threading.Timer(args.seconds, end)

            def begin(generators: list[int]) -> None:
                for n, pid in enumerate(generators, 1):
                    stack.meter.add(f"load generator {n}", "self", pid)
                marks["before"] = stack.meter.sample()
                timer.start()
                if args.profile:
                    marks["profilers"] = profile(stack, args, f"{topology}-{connections}")

            sent = run_generators(stack.urls, scenario, secret, args, connections, run_dir, begin)
            timer.join()
            for profiler in marks.get("profilers", []):
                profiler.wait(60)
            elapsed = args.seconds
            before, after, load_after = marks["before"], marks["after"], marks["load_after"]
            if waits:
                waits.stop.set()
            cores = CpuMeter.used(before, after, elapsed)
            drained, left = (0.0, 0)
            lost: set[str] = set()
            acked = {s.token for s in sent if 200 <= s.status < 300}
            if stack.inbox is not None:
                drained, left = _drain(stack.inbox, args.drain_timeout)
                stored = stack.inbox.known([s.token for s in sent if s.text == "accepted"])
                lost = {s.token for s in sent if s.text == "accepted"} - stored
                statuses = Counter(r["status"] for r in stack.inbox.rows())
                outcomes = Counter(r["outcome"] for r in stack.inbox.rows())
            else:
                statuses, outcomes = Counter(), Counter()
            time.sleep(2 * POLL_SECONDS)
            watcher.stop.set()
            watcher.join(5)
            checks = watcher.latencies(sent) if stack.inbox is not None else []
        ok = sorted(s.latency for s in sent if 200 <= s.status < 300)
        errors = Counter(
            f"{s.status} {s.text}" if s.status else s.text
            for s in sent
            if not 200 <= s.status < 300
        )
        return {
            "topology": topology,
            "connections": connections,
            "seconds": elapsed,
            "sent": len(sent),
            "acknowledged": len(acked),
            "ack_per_second": len(acked) / args.seconds,
            "p50_ms": 1000 * _percentile(ok, 0.50),
            "p99_ms": 1000 * _percentile(ok, 0.99),
            "max_ms": 1000 * (ok[-1] if ok else float("nan")),
            "errors": dict(errors),
            "answers": dict(Counter(s.text for s in sent if 200 <= s.status < 300)),
            "kinds": dict(Counter(s.kind for s in sent)),
            "lost": len(lost),
            "drain_seconds": drained,
            "left": left,
            "statuses": dict(statuses),
            "outcomes": dict(outcomes),
            "check_p50_s": _percentile(checks, 0.50),
            "check_p99_s": _percentile(checks, 0.99),
            "checks_measured": len(checks),
            "cores": cores,
            "db_waits": dict(waits.samples.most_common(6)) if waits else {},
            "db_polls": waits.polls if waits else 0,
            "load_before": load_before,
            "load_after": load_after,
        }
    finally:
        double.stop()


def report(result: dict[str, Any]) -> str:
    r = result
    drain = (
        f"{r['drain_seconds']:.1f} s"
        if r["drain_seconds"] is not None
        else f"not drained ({r['left']} left)"
    )
    cores = ", ".join(f"{k} {v:.2f}" for k, v in sorted(r["cores"].items(), key=lambda kv: -kv[1]))
    lines = [
        (
            f"{r['topology']} x {r['connections']} connections: sent {r['sent']} in "
            f"{r['seconds']:.0f} s, acknowledged {r['acknowledged']} ({r['ack_per_second']:.0f}/s), "
            f"ack p50 {r['p50_ms']:.0f} ms p99 {r['p99_ms']:.0f} ms max {r['max_ms']:.0f} ms, "
            f"errors {sum(r['errors'].values())} {r['errors'] or ''}"
        ),
        f"  answers {r['answers']}, kinds {r['kinds']}, lost {r['lost']}",
    ]
    if r["topology"] != "floor":
        lines.append(
            f"  drained in {drain}; webhook->completed check p50 {r['check_p50_s']:.1f} s "
            f"p99 {r['check_p99_s']:.1f} s ({r['checks_measured']} evaluations); "
            f"inbox {r['statuses']}"
        )
        lines.append(f"  outcomes {r['outcomes']}")
    lines.append(f"  cores used: {cores}")
    if r["db_waits"]:
        lines.append(f"  PostgreSQL active backends sampled: {r['db_waits']}")
    lines.append(f"  load average before {r['load_before']} after {r['load_after']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None, servers: Servers | None = None) -> list[dict[str, Any]]:
    """Run the benchmark; ``servers`` (from a test) replaces the PostgreSQL and Redis it starts."""
    servers = servers or Servers()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--topology", nargs="+", default=["floor", "embedded", "scaleout"])
    parser.add_argument("--connections", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument(
        "--rate", type=float, default=1.0, help="deliveries/s per connection (0: closed loop)"
    )
    parser.add_argument("--prs", type=int, default=200)
    parser.add_argument(
        "--workers", type=int, default=2, help="gunicorn workers (split over the replicas)"
    )
    parser.add_argument(
        "--threads", type=int, default=16, help="request threads per web process (serve's default)"
    )
    parser.add_argument("--drain-timeout", type=float, default=600.0)
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--profile", type=Path, help="py-spy the EUCORA processes into this folder")
    parser.add_argument(
        "--profile-cpu",
        action="store_true",
        help="with --profile: only the thread holding the GIL (where the CPU goes), not --idle",
    )
    parser.add_argument("--quick", action="store_true", help="2 seconds, 10 connections, 4 PRs")
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds, args.prs, args.drain_timeout = 2.0, 4, 120.0
        args.connections = [10]
        args.rate = 5.0
    work = Path(tempfile.mkdtemp(prefix="eucora-bench-load-"))
    results = []
    try:
        source = build_source(work, args.prs, max(2, args.prs // 10))
        key = generate_app_key()
        for connections in args.connections:
            for topology in args.topology:
                result = measure(topology, connections, args, work, source, key, servers)
                results.append(result)
                print(report(result), flush=True)
        if args.json:
            args.json.write_text(json.dumps(results, indent=2, default=str), encoding="utf-8")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return results


if __name__ == "__main__":
    main()
