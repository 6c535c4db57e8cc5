"""Publishing on merge: publications per second through Celery workers, next to the bare plane calls.

N publications (default 120) spread over Configuration Manager, Landscape and AWX intents, in
several changes, are recorded directly in the outbox (``Outbox.record_change``, what the merge
flow does), their ids sent, and the clock runs until every row and every change is final
(change pack stored, sticky comment edited). Each round gets fresh plane doubles (so every
publication creates its objects; nothing is found from an earlier round), a fresh SQLite
database under its own ``EUCORA_HOME``, and a warm-up change run first (imports, token, HTTP
connections, plane lookups); the GitHub double (deployments, statuses, comments, every call
checked against GitHub's description) is shared. Every round checks one object per publication
on the planes and no request outside a vendor's description. Rounds:

* **floor** -- the connectors called directly in a loop (``connectors.registry.build_connectors``,
  ``connector.publish`` with an in-memory journal): the same plane HTTP calls, same doubles, no
  queue, no database, no GitHub;
* **floor + GitHub** -- the same loop plus the publication's three GitHub calls through the
  adapter (create deployment, ``in_progress`` status, final status): what any design that reports
  deployments must pay;
* **sequential** -- ``Publisher.run`` in this process, one after the other (the product's task body
  without a queue), its steps timed: where each publication's time goes, and its commits;
* **in-process** -- ``InProcessPublisher`` with 2 threads (``eucora serve`` without a broker);
* **Celery alone** -- one worker of ``tests/support/publish_worker.py`` (the product's Celery app
  and settings, a task that appends one fsynced line): the queue's own cost per task;
* **celery xN** -- N real ``eucora worker --concurrency 1`` processes on a real ``redis-server``,
  the ids sent by ``CeleryPublications`` (the product's sender); ``--profile`` adds one worker
  built like ``eucora worker`` whose child times its steps; ``--as-deployed N`` runs N
  publications on one worker with GitHub writes 1 s apart.

The plane doubles finish a launched AWX job or Landscape activity on the first read, so no round
sleeps in ``Follow`` (2 s between reads in production): the figures are EUCORA's own cost, not
the vendors' job time. GitHub write spacing is 0 (``EUCORA_GITHUB_WRITE_INTERVAL``; as shipped it
is 1 s, see docs/performance.md). The doubles run in this process: they serve every round alike.

Usage: .venv/bin/python benchmarks/publish.py [--publications 120] [--changes 10] [--workers 1,4]
       [--profile] [--as-deployed N] [--skip floor,github,sequential,inprocess,noop]
Loopback only, bounded (70 s on a quiet 2-core machine, 2-3 minutes under load; a round that is
not final after --timeout seconds fails), every process started here stopped at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import event, func, select

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.adapters.github_connectors import connector_from_settings
from bot.adapters.publish_queue import CeleryPublications
from bot.adapters.queue import create_celery
from bot.adapters.storage import create_database_engine, upgrade_schema
from bot.adapters.storage.publications import NewChange, NewPublication, Outbox
from bot.adapters.storage.tables import changes as change_rows
from bot.adapters.storage.tables import publications as publication_rows
from bot.bootstrap import build_intake, pull_request_handler_factory
from bot.core.github_model import EVIDENCE_MARKER
from bot.core.publishing import idempotency_key
from bot.doubles.github import GitHubDouble, generate_app_key
from bot.doubles.planes import PlaneDoubles
from bot.flows.publish import publication_of
from bot.settings import Settings
from connectors.registry import build_connectors
from tests.support.gitrepo import GitRepo
from tests.support.redis import running_redis

REPO = "acme/intents"
EXAMPLES = ROOT / "examples" / "intents-repo"
TEMPLATES = (
    "intents/windows/7-zip.yaml",  # sccm
    "intents/linux/osquery.yaml",  # landscape
    "intents/linux/cis-hardening.yaml",  # ansible (AWX)
)
DIGEST = "sha256:" + "ab" * 32
WARM = 6
"""Publications of the warm-up change each round runs before its clock starts."""
EUCORA = str(Path(sys.executable).with_name("eucora"))


class DictJournal:
    """The connectors' journal in memory (the floor has no database)."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    def get(self, key: str) -> str | None:
        return self.values.get(key)

    def put(self, key: str, value: str) -> None:
        self.values[key] = value


@dataclass
class Scene:
    """What every round shares: the GitHub double, its installation, the PRs and their commits."""

    github: GitHubDouble
    installation: int
    prs: list[tuple[int, str]]  # (number, head sha) per change; warm-up uses the last
    templates: list[dict[str, Any]]
    work: Path


@dataclass
class Result:
    """One round's figures (``requests``: plane + GitHub HTTP requests per publication)."""

    label: str
    seconds: float
    publications: int
    note: str = ""
    requests: str = ""

    @property
    def rate(self) -> float:
        return self.publications / self.seconds


def intents(scene: Scene, prefix: str, count: int) -> list[dict[str, Any]]:
    """``count`` intents cycling through SCCM, Landscape and AWX, each with its own name."""
    documents = []
    for i in range(count):
        document = copy.deepcopy(scene.templates[i % len(scene.templates)])
        document["metadata"]["name"] = f"{prefix}-{i:04d}-{document['metadata']['name']}"
        documents.append(document)
    return documents


def record(  # noqa: PLR0913 - where, what, and how to split it
    outbox: Outbox,
    scene: Scene,
    documents: list[dict[str, Any]],
    *,
    changes: int,
    tag: str,
    pr_offset: int = 0,
) -> list[int]:
    """Record ``documents`` as ``changes`` changes (round robin); return the publication ids."""
    ids: list[int] = []
    now = datetime.now(UTC)
    for c in range(changes):
        number, sha = scene.prs[(c + pr_offset) % len(scene.prs)]
        chunk = documents[c::changes]
        publications = []
        for document in chunk:
            ring = document["rings"][0]
            name, version = document["metadata"]["name"], document["app"]["version"]
            publications.append(
                NewPublication(
                    plane=document["plane"],
                    intent_name=name,
                    version=version,
                    ring=ring["name"],
                    target=ring["target"],
                    path=f"intents/{name}.yaml",
                    idempotency_key=idempotency_key(name, version, ring["name"]),
                    intent=document,
                    evidence_digest=DIGEST,
                )
            )
        _, rows, created = outbox.record_change(
            NewChange(
                repository=REPO,
                pr=number,
                installation_id=scene.installation,
                head_sha=sha,
                merge_sha=sha,
                check_digest=DIGEST,
                state="publishing",
                emergency=False,
                facts={
                    "mergedAt": now.isoformat().replace("+00:00", "Z"),
                    "approvals": [],
                    "decision": {"outcome": "approved", "required": 1, "counted": 1},
                    "tier": "low",
                    "bench": tag,
                },
                comment_head=f"{EVIDENCE_MARKER}\n### EUCORA benchmark {tag}",
                correlation_id=f"bench-{tag}-{c}",
            ),
            publications,
            now=now,
        )
        assert created, "a change was recorded twice"
        ids.extend(row.id for row in rows)
    return ids


def build_scene(work: Path, changes: int) -> Scene:
    private, public = generate_app_key()
    github = GitHubDouble(work / "github", private_key_pem=private, public_key_pem=public).start()
    source = GitRepo.create(work / "src", template=EXAMPLES)
    prs_branches = []
    for c in range(changes + 1):  # one PR per change, and one for the warm-up change
        source.branch(f"change-{c}")
        source.write(f"notes/change-{c}.txt", f"change {c}\n")
        prs_branches.append((f"change-{c}", source.commit(f"change {c}")))
    installation = github.add_installation("acme")
    github.add_repository(REPO, installation=installation, source=source.path)
    prs = []
    for branch, sha in prs_branches:
        pr = github.open_pull_request(REPO, head=branch)
        prs.append((pr.number, sha))
    templates = [yaml.safe_load((EXAMPLES / t).read_text(encoding="utf-8")) for t in TEMPLATES]
    return Scene(github, installation.id, prs, templates, work)


def environ(scene: Scene, planes: PlaneDoubles, home: Path) -> dict[str, str]:
    return {
        "EUCORA_HOME": str(home),
        "GITHUB_API_URL": scene.github.url,
        "GITHUB_APP_ID": str(scene.github.app.id),
        "GITHUB_PRIVATE_KEY": scene.github.app.private_key_pem,
        "GITHUB_WEBHOOK_SECRET": scene.github.app.webhook_secret,
        "EUCORA_GITHUB_WRITE_INTERVAL": "0",
        **planes.environ(),
    }


@contextlib.contextmanager
def fresh_planes(documents: list[dict[str, Any]]) -> Iterator[PlaneDoubles]:
    planes = PlaneDoubles(documents)
    planes.awx.steps_to_finish = 1  # a job is final on its first read: no Follow sleep
    planes.landscape.steps_to_finish = 1
    with planes:
        yield planes
    assert not planes.violations, planes.violations[:5]


def requests_per_publication(
    scene: Scene, planes: PlaneDoubles, github_before: int, publications: int
) -> str:
    """HTTP requests each publication cost the plane doubles and the GitHub double (warm-up in)."""
    plane = sum(len(double.requests) for double in planes.all) / publications
    github = (len(scene.github.requests) - github_before) / publications
    return f"{plane:.1f} + {github:.1f}"


def fresh_home(work: Path, label: str) -> Path:
    home = work / f"home-{label}"
    home.mkdir(parents=True)
    engine = create_database_engine(f"sqlite:///{home / 'eucora.db'}")
    upgrade_schema(engine)
    engine.dispose()
    return home


def wait_final(outbox: Outbox, ids: list[int], timeout: float, what: str) -> None:
    """Until the rows ``ids`` and their changes are final (one query every 20 ms)."""
    engine = outbox.engine
    unfinished = (
        select(func.count())
        .select_from(
            publication_rows.join(change_rows, publication_rows.c.change_id == change_rows.c.id)
        )
        .where(
            publication_rows.c.id.in_(ids),
            (publication_rows.c.state.in_(["pending", "in_progress"]))
            | (change_rows.c.state != "final"),
        )
    )
    deadline = time.monotonic() + timeout
    left = len(ids)
    while time.monotonic() < deadline:
        with engine.connect() as connection:
            left = connection.execute(unfinished).scalar_one()
        if left == 0:
            return
        time.sleep(0.02)
    message = f"{what}: {left} of {len(ids)} publications not final after {timeout:.0f} s"
    raise TimeoutError(message)


def check_outcome(outbox: Outbox, planes: PlaneDoubles, expected: int, what: str) -> None:
    depth = outbox.depth()
    if depth["failed"] or depth["succeeded"] != expected:
        message = f"{what}: {depth} (expected {expected} succeeded)"
        raise AssertionError(message)
    objects = sum(planes.objects().values())
    if objects != expected:
        message = f"{what}: {objects} objects on the planes for {expected} publications"
        raise AssertionError(message)


# --- rounds ---------------------------------------------------------------------------------------


FLOOR_REPEATS = 3
"""The floor is short (a second or two) and so the noisiest figure: the best of this many."""


def floor_round(scene: Scene, args: argparse.Namespace, *, github: bool) -> Result:
    """The best of ``FLOOR_REPEATS`` loops, each on fresh plane doubles."""
    best = min(
        (floor_once(scene, args, github=github) for _ in range(FLOOR_REPEATS)),
        key=lambda result: result.seconds,
    )
    best.note = f"best of {FLOOR_REPEATS}"
    return best


def floor_once(scene: Scene, args: argparse.Namespace, *, github: bool) -> Result:
    label = "floor+github" if github else "floor"
    warm, measured = intents(scene, f"{label}-warm", WARM), intents(scene, label, args.publications)
    with fresh_planes(warm + measured) as planes:
        github_before = len(scene.github.requests)
        env = environ(scene, planes, scene.work / f"home-{label}")
        connectors = build_connectors(env)
        client = None
        if github:
            client = connector_from_settings(Settings.from_environ(env)).for_installation(
                scene.installation
            )
        _number, sha = scene.prs[0]

        def one(document: dict[str, Any]) -> None:
            ring = document["rings"][0]
            name, version = document["metadata"]["name"], document["app"]["version"]
            deployment = None
            if client is not None:
                deployment = client.create_deployment(
                    REPO,
                    ref=sha,
                    environment=f"{document['plane']}/{ring['name']}",
                    description=f"{name} {version}",
                    payload={"idempotencyKey": idempotency_key(name, version, ring["name"])},
                )
                client.create_deployment_status(
                    REPO,
                    deployment,
                    state="in_progress",
                    description="publishing",
                    log_url=None,
                    environment_url=None,
                )
            row = _Row(document)
            result = connectors.get(document["plane"]).publish(publication_of(row), DictJournal())
            if client is not None and deployment is not None:
                client.create_deployment_status(
                    REPO,
                    deployment,
                    state="success",
                    description=f"published: {result.object_id}",
                    log_url=None,
                    environment_url=result.url,
                )

        try:
            for document in warm:
                one(document)
            started = time.perf_counter()
            for document in measured:
                one(document)
            seconds = time.perf_counter() - started
        finally:
            connectors.close()
        objects = sum(planes.objects().values())
        assert objects == len(warm) + len(measured), planes.objects()
        calls = requests_per_publication(scene, planes, github_before, len(warm) + len(measured))
    return Result(label, seconds, len(measured), requests=calls)


class _Row:
    """What ``publication_of`` reads from an outbox row, for the floor (no database)."""

    def __init__(self, document: dict[str, Any]) -> None:
        ring = document["rings"][0]
        self.intent = document
        self.ring = ring["name"]
        self.target = ring["target"]
        self.idempotency_key = idempotency_key(
            document["metadata"]["name"], document["app"]["version"], ring["name"]
        )
        self.evidence_digest = DIGEST


def _publisher_round(
    scene: Scene,
    args: argparse.Namespace,
    label: str,
    drive: Callable[[Any, Outbox, list[int], list[int], dict[str, str]], tuple[float, Any]],
    *,
    size: tuple[int, int] | None = None,
) -> tuple[float, Any]:
    """One round on fresh planes and database; ``size``: (warm-up, measured) publications."""
    warm_count, count = size or (WARM, args.publications)
    warm, measured = intents(scene, f"{label}-warm", warm_count), intents(scene, label, count)
    with fresh_planes(warm + measured) as planes:
        github_before = len(scene.github.requests)
        home = fresh_home(scene.work, label)
        env = environ(scene, planes, home)
        settings = Settings.from_environ(env)
        connectors = build_connectors(settings.planes)
        intake = build_intake(settings, partial(pull_request_handler_factory, planes=connectors))
        engine = intake.services.engine
        outbox = Outbox(engine)
        warm_ids = record(
            outbox, scene, warm, changes=1, tag=f"{label}-warm", pr_offset=len(scene.prs) - 1
        )
        ids = record(outbox, scene, measured, changes=args.changes, tag=label)
        try:
            seconds, extra = drive(intake, outbox, warm_ids, ids, env)
        finally:
            if intake.publications is not None:
                intake.publications.stop()
            connectors.close()
        check_outcome(outbox, planes, len(warm) + len(measured), label)
        engine.dispose()
        REQUESTS[label] = requests_per_publication(
            scene, planes, github_before, len(warm) + len(measured)
        )
    return seconds, extra


class StepTimes:
    """Wall time spent inside chosen methods of the publisher's services (wrapped instances).

    A wrapper costs a ``perf_counter`` pair per call, so the run keeps its speed (a tracing
    profiler slowed it about threefold and skewed the shares toward Python-heavy steps).
    """

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self._inside: set[str] = set()

    def wrap(self, target: Any, name: str, step: str) -> None:
        original = getattr(target, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            # finalize's own audit event counts in finalize, not twice
            key = f"{step} in finalize" if "finalize" in self._inside else step
            self._inside.add(step)
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self._inside.discard(step)
                self.seconds[key] = self.seconds.get(key, 0.0) + time.perf_counter() - started
                self.calls[key] = self.calls.get(key, 0) + 1

        setattr(target, name, timed)


PLANE, PUT = "plane", "journal puts"
DEPLOY, STATUS = "GitHub: create deployment", "GitHub: statuses"
STEP_ORDER = (
    (PLANE, "plane: connector.publish (HTTP to the plane double)"),
    (PUT, "outbox: journal puts (one commit each)"),
    (DEPLOY, "GitHub: create deployment"),
    (STATUS, "GitHub: deployment statuses (in_progress + final)"),
    ("claim", "outbox: claim"),
    ("change", "outbox: read the change"),
    ("set_deployment", "outbox: set_deployment"),
    ("succeed", "outbox: succeed"),
    ("all_final", "outbox: all_final"),
    ("audit", "audit: publication.started + publication.succeeded"),
    ("finalize", "change pack + comment + finalize (once per change)"),
)


class _TimedJournal:
    """The outbox journal with its ``put`` timed."""

    def __init__(self, journal: Any, times: StepTimes) -> None:
        self._journal = journal
        self.get = journal.get
        times.wrap(self, "put", PUT)

    def put(self, key: str, value: str) -> None:
        self._journal.put(key, value)


def instrument(publisher: Any, times: StepTimes) -> None:
    """Time each step of ``Publisher.run`` by wrapping the services it calls."""
    outbox = publisher.outbox
    for name in ("claim", "change", "set_deployment", "succeed", "all_final"):
        times.wrap(outbox, name, name)
    original_journal = outbox.journal
    outbox.journal = lambda claim: _TimedJournal(original_journal(claim), times)
    times.wrap(publisher._evidence, "audit", "audit")  # noqa: SLF001 - the benchmark's probe
    times.wrap(publisher, "finalize", "finalize")
    github = publisher._github  # noqa: SLF001
    original_for = github.for_installation
    timed: set[int] = set()

    def for_installation(installation: Any) -> Any:
        client = original_for(installation)
        if id(client) not in timed:
            times.wrap(client, "create_deployment", DEPLOY)
            times.wrap(client, "create_deployment_status", STATUS)
            timed.add(id(client))
        return client

    github.for_installation = for_installation
    connectors = publisher.connectors
    for plane in connectors.configured():
        connector = connectors.get(plane.value)
        if connector is not None:
            times.wrap(connector, "publish", PLANE)


REQUESTS: dict[str, str] = {}
"""Requests per publication of each publisher round, by label."""


def sequential_round(scene: Scene, args: argparse.Namespace) -> tuple[Result, str]:
    """``Publisher.run`` one after the other in this process, its steps timed, commits counted."""

    def drive(
        intake: Any, outbox: Outbox, warm: list[int], ids: list[int], env: dict[str, str]
    ) -> tuple[float, Any]:
        del outbox, env
        publisher = intake.publisher
        for publication_id in warm:
            publisher.run(publication_id)
        commits = [0]

        def count(_connection: Any) -> None:
            commits[0] += 1

        times = StepTimes()
        instrument(publisher, times)
        event.listen(intake.services.engine, "commit", count)
        started = time.perf_counter()
        for publication_id in ids:
            publisher.run(publication_id)
        seconds = time.perf_counter() - started
        event.remove(intake.services.engine, "commit", count)
        return seconds, (times, commits[0])

    seconds, (times, commits) = _publisher_round(scene, args, "sequential", drive)
    n = args.publications
    return (
        Result(
            "sequential Publisher.run",
            seconds,
            n,
            f"{commits / n:.1f} commits/publication",
            REQUESTS["sequential"],
        ),
        breakdown(times, seconds, n),
    )


def breakdown(times: StepTimes, seconds: float, n: int) -> str:
    """Milliseconds per publication in each step of ``Publisher.run``."""
    lines = [f"  {'step of Publisher.run':<58}{'calls':>7}{'ms/publication':>16}{'share':>7}"]
    accounted = 0.0
    for step, label in STEP_ORDER:
        total = times.seconds.get(step, 0.0)
        if step == PLANE:
            total -= times.seconds.get(PUT, 0.0)  # the puts run inside the connector
        accounted += total
        calls = times.calls.get(step, 0)
        lines.append(f"  {label:<58}{calls:>7}{total / n * 1000:>16.1f}{total / seconds:>7.0%}")
    rest = seconds - accounted
    lines.append(
        f"  {'the rest (run itself, row views, logging)':<58}{'':>7}"
        f"{rest / n * 1000:>16.1f}{rest / seconds:>7.0%}"
    )
    lines.append(f"  {'whole run':<58}{'':>7}{seconds / n * 1000:>16.1f}{1:>7.0%}")
    return "\n".join(lines)


def inprocess_round(scene: Scene, args: argparse.Namespace) -> Result:
    def drive(
        intake: Any, outbox: Outbox, warm: list[int], ids: list[int], env: dict[str, str]
    ) -> tuple[float, Any]:
        del env
        runner = intake.publications
        runner.start()
        for publication_id in warm:
            runner.send(publication_id)
        wait_final(outbox, warm, args.timeout, "in-process warm-up")
        started = time.perf_counter()
        for publication_id in ids:
            runner.send(publication_id)
        wait_final(outbox, ids, args.timeout, "in-process")
        return time.perf_counter() - started, None

    seconds, _ = _publisher_round(scene, args, "inprocess", drive)
    return Result(
        "in-process publisher, 2 threads",
        seconds,
        args.publications,
        requests=REQUESTS["inprocess"],
    )


@contextlib.contextmanager
def workers(
    count: int,
    env: Mapping[str, str],
    logs: Path,
    command: Callable[[int], list[str]] = lambda _i: [EUCORA, "worker", "--concurrency", "1"],
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """``count`` worker processes (default ``eucora worker --concurrency 1``), ready when yielded;
    stopped on exit (SIGTERM to the main process, then SIGKILL to its own process group)."""
    started: list[subprocess.Popen[bytes]] = []
    try:
        for i in range(count):
            with (logs / f"worker-{i}.log").open("ab") as sink:
                started.append(
                    subprocess.Popen(
                        command(i),
                        env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT), **env},
                        cwd=ROOT,
                        stdout=sink,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )
        deadline = time.monotonic() + 60
        for i, process in enumerate(started):
            log = logs / f"worker-{i}.log"
            while b" ready." not in log.read_bytes():
                if process.poll() is not None or time.monotonic() > deadline:
                    tail = log.read_text(errors="replace")[-2000:]
                    message = f"worker {i} did not become ready:\n{tail}"
                    raise RuntimeError(message)
                time.sleep(0.1)
        yield started
    finally:
        for process in started:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in started:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(20)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)  # the worker's own group: its children
            process.wait(10)


def celery_round(  # noqa: PLR0913 - the round's scene, size, broker and mode
    scene: Scene,
    args: argparse.Namespace,
    redis: Any,
    count: int,
    db: int,
    *,
    profile: bool = False,
    deployed: int = 0,
) -> tuple[Result, str]:
    """``count`` workers on the publications; ``profile``: one worker, its steps timed;
    ``deployed``: that many publications with GitHub writes spaced 1 s, as deployed."""
    label = f"celery-{count}{'-profiled' if profile else ''}{'-deployed' if deployed else ''}"
    times_dir = scene.work / f"times-{label}"
    times_dir.mkdir()

    def command(_index: int) -> list[str]:
        if profile:
            return [
                sys.executable,
                str(Path(__file__).resolve()),
                "--instrumented-worker",
                str(times_dir),
            ]
        return [EUCORA, "worker", "--concurrency", "1"]

    def drive(
        intake: Any, outbox: Outbox, warm: list[int], ids: list[int], env: dict[str, str]
    ) -> tuple[float, Any]:
        del intake
        env = {**env, "EUCORA_BROKER_URL": redis.url(db)}
        if deployed:
            env["EUCORA_GITHUB_WRITE_INTERVAL"] = "1"
        logs = scene.work / f"logs-{label}"
        logs.mkdir()
        sender = CeleryPublications(create_celery(redis.url(db)))
        with workers(count, env, logs, command):
            for publication_id in warm:
                sender.send(publication_id)
            wait_final(outbox, warm, args.timeout, f"{label} warm-up")
            started = time.perf_counter()
            for publication_id in ids:
                sender.send(publication_id)
            wait_final(outbox, ids, args.timeout, label)
            seconds = time.perf_counter() - started
        received = sum(
            (logs / f"worker-{i}.log").read_text(errors="replace").count("eucora.publish[")
            for i in range(count)
        )
        return seconds, received // 2  # "received" and "succeeded" lines per task run

    size = (1, deployed) if deployed else (WARM, args.publications)
    seconds, runs = _publisher_round(scene, args, label, drive, size=size)
    note = f"{runs} task runs for {sum(size)} publications" if runs else ""
    name = f"celery, {count} worker process{'es' if count > 1 else ''}"
    text = ""
    if profile:
        name += " (steps timed)"
        text = worker_breakdown(times_dir, scene.work / f"logs-{label}" / "worker-0.log")
    if deployed:
        name += ", writes 1 s apart"
    return Result(name, seconds, size[1], note, REQUESTS[label]), text


TASK_TIME = re.compile(r"eucora\.publish\[[^\]]+\] succeeded in ([0-9.]+)s")


def worker_breakdown(times_dir: Path, log: Path) -> str:
    """The instrumented worker child's step times (all its runs, warm-up included).

    A run's own time is what Celery's trace logs for the task ("succeeded in ..."): the publish
    task is registered with the bound ``run`` before the steps are wrapped.
    """
    dumps = [json.loads(p.read_text()) for p in sorted(times_dir.glob("*.json"))]
    if not dumps:
        return "  (the worker wrote no step times)"
    times = StepTimes()
    commits = runs = 0
    for dump in dumps:
        for step, value in dump["seconds"].items():
            times.seconds[step] = times.seconds.get(step, 0.0) + value
        for step, value in dump["calls"].items():
            times.calls[step] = times.calls.get(step, 0) + value
        commits += dump["commits"]
    task_times = [float(t) for t in TASK_TIME.findall(log.read_text(errors="replace"))]
    runs, seconds = len(task_times), sum(task_times)
    if not runs or not seconds:
        return "  (no task times in the worker's log)"
    text = breakdown(times, seconds, runs)
    return f"{text}\n  ({runs} task runs, {commits / max(runs, 1):.1f} commits per run)"


def instrumented_worker(times_dir: str) -> None:
    """``eucora worker --concurrency 1`` with the publisher's steps timed (for --profile).

    Built exactly as the command builds it (``build_worker`` with the same handler factory,
    ``run_worker``); the prefork child dumps its step times when it shuts down.
    """
    from celery import signals  # noqa: PLC0415 - only the worker mode needs it

    from bot.adapters.logs import configure_logging  # noqa: PLC0415
    from bot.bootstrap import build_redactor, build_worker  # noqa: PLC0415
    from bot.entrypoints.worker import run_worker  # noqa: PLC0415

    settings = Settings.from_environ(os.environ)
    configure_logging(build_redactor(settings))
    built = build_worker(settings, pull_request_handler_factory)
    publisher = built.publisher
    times = StepTimes()
    instrument(publisher, times)
    commits = [0]

    def count(_connection: Any) -> None:
        commits[0] += 1

    event.listen(built.services.engine, "commit", count)

    def dump(**_kwargs: Any) -> None:
        record = {
            "seconds": times.seconds,
            "calls": times.calls,
            "commits": commits[0],
        }
        Path(times_dir, f"{os.getpid()}.json").write_text(json.dumps(record))

    signals.worker_process_shutdown.connect(dump, weak=False)
    run_worker(built, concurrency=1)


def noop_celery_round(scene: Scene, args: argparse.Namespace, redis: Any, db: int) -> Result:
    """Celery alone: the product's app and settings, a task that appends a fsynced line."""
    logs = scene.work / "logs-celery-noop"
    logs.mkdir()
    record_file = logs / "runs.txt"
    env = {
        "EUCORA_BROKER_URL": redis.url(db),
        "EUCORA_TEST_RECORD": str(record_file),
        "PYTHONPATH": str(ROOT),
    }
    sender = CeleryPublications(create_celery(redis.url(db)))

    def ran() -> int:
        return record_file.read_text().count("publish ") if record_file.exists() else 0

    def wait(total: int) -> None:
        deadline = time.monotonic() + args.timeout
        while ran() < total:
            if time.monotonic() > deadline:
                message = f"no-op Celery round: {ran()} of {total} tasks ran"
                raise TimeoutError(message)
            time.sleep(0.02)

    command = partial(_noop_worker_command)
    with workers(1, env, logs, command):
        for i in range(WARM):
            sender.send(i)
        wait(WARM)
        started = time.perf_counter()
        for i in range(args.publications):
            sender.send(WARM + i)
        wait(WARM + args.publications)
        seconds = time.perf_counter() - started
    return Result(
        "celery alone, no-op task, 1 worker",
        seconds,
        args.publications,
        "tests/support/publish_worker.py",
    )


def _noop_worker_command(i: int) -> list[str]:
    return [sys.executable, "-m", "tests.support.publish_worker", f"bench-noop-{i}"]


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--publications", type=int, default=120)
    parser.add_argument("--changes", type=int, default=10)
    parser.add_argument("--workers", default="1,4", help="worker process counts, comma-separated")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds a round may take")
    parser.add_argument(
        "--skip", default="", help="rounds to skip: floor,github,sequential,inprocess,noop"
    )
    parser.add_argument(
        "--profile", action="store_true", help="also run one worker with its steps timed"
    )
    parser.add_argument(
        "--as-deployed",
        type=int,
        default=0,
        metavar="N",
        help="also run N publications on one worker with GitHub writes 1 s apart (the default)",
    )
    return parser.parse_args()


def local_rounds(
    scene: Scene, args: argparse.Namespace, results: list[Result], texts: list[tuple[str, str]]
) -> None:
    """The rounds without a broker: floors, sequential, in-process."""
    skip = set(filter(None, args.skip.split(",")))
    if "floor" not in skip:
        results.append(floor_round(scene, args, github=False))
    if "github" not in skip:
        results.append(floor_round(scene, args, github=True))
    if "sequential" not in skip:
        result, text = sequential_round(scene, args)
        results.append(result)
        texts.append(("sequential Publisher.run in this process", text))
    if "inprocess" not in skip:
        results.append(inprocess_round(scene, args))


def broker_rounds(
    scene: Scene,
    args: argparse.Namespace,
    results: list[Result],
    texts: list[tuple[str, str]],
    loads: list[float],
) -> None:
    """The rounds on a real Redis: Celery alone, then the workers (one Redis database each)."""
    with running_redis() as redis:
        db = 1
        if "noop" not in args.skip.split(","):
            results.append(noop_celery_round(scene, args, redis, db))
            db += 1
        for count in (int(w) for w in args.workers.split(",") if w):
            result, _ = celery_round(scene, args, redis, count, db)
            results.append(result)
            loads.append(os.getloadavg()[0])
            db += 1
        if args.profile:
            result, text = celery_round(scene, args, redis, 1, db, profile=True)
            results.append(result)
            texts.append(("one eucora worker's child process", text))
            db += 1
        if args.as_deployed:
            result, _ = celery_round(scene, args, redis, 1, db, deployed=args.as_deployed)
            results.append(result)


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--instrumented-worker":
        instrumented_worker(sys.argv[2])
        return
    args = arguments()
    work = Path(tempfile.mkdtemp(prefix="eucora-bench-publish-"))
    began = time.monotonic()
    loads = [os.getloadavg()[0]]
    results: list[Result] = []
    texts: list[tuple[str, str]] = []
    scene = build_scene(work, args.changes)
    try:
        local_rounds(scene, args, results, texts)
        loads.append(os.getloadavg()[0])
        broker_rounds(scene, args, results, texts, loads)
        assert not scene.github.violations, scene.github.violations[:5]
    finally:
        scene.github.stop()
        if os.environ.get("KEEP") is None:
            shutil.rmtree(work, ignore_errors=True)
    report(results, texts, args, loads, time.monotonic() - began)


def report(
    results: list[Result],
    texts: list[tuple[str, str]],
    args: argparse.Namespace,
    loads: list[float],
    elapsed: float,
) -> None:
    floor = next((r for r in results if r.label == "floor"), None)
    print(
        f"{args.publications} publications (SCCM, Landscape, AWX in turn) in {args.changes}"
        f" changes; load average {min(loads):.1f}-{max(loads):.1f} on {os.cpu_count()} cores;"
        f" whole run {elapsed:.0f} s"
    )
    print(
        f"{'round':<44}{'s':>7}{'publ./s':>9}{'ms/publ.':>10}{'x floor':>9}{'requests':>11}  note"
    )
    for r in results:
        ratio = f"{r.seconds / floor.seconds:.2f}" if floor else "-"
        print(
            f"{r.label:<44}{r.seconds:>7.2f}{r.rate:>9.1f}{r.seconds / r.publications * 1000:>10.1f}"
            f"{ratio:>9}{r.requests:>11}  {r.note}"
        )
    print("requests: HTTP requests per publication to the plane doubles + the GitHub double")
    for title, text in texts:
        print(f"\nWhere a publication's time goes ({title}, wall time inside each step):")
        print(text)


if __name__ == "__main__":
    main()
