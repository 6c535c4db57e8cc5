"""Publishing survives faults: real Redis, real ``eucora worker`` processes, the plane doubles.

Each test merges a PR bumping three intents (Configuration Manager, Landscape, AWX: the planes
that need no installer download) and breaks something on the way: a worker ``kill -9``-ed while
the connector is inside ``publish``, Redis restarted empty while publications wait in it, the
merge delivered twice (the same delivery, then a different body of the same merge), planes that
apply the create and never answer. Each ends with **exactly one** object per plane double, every
GitHub deployment's last status ``success`` and the change ``final`` with its pack.

The test process runs the GitHub double, the plane doubles and the Flask app (``build_server``
with ``EUCORA_BROKER_URL``: deliveries are stored in SQLite and sent to Celery); the workers are
``eucora worker`` subprocesses in their own process groups, sharing the SQLite file and reaching
the doubles through the environment. Leases and the sweeper are shortened through
``EUCORA_PUBLISH_LEASE_SECONDS`` and ``EUCORA_SWEEP_SECONDS``; every wait has a deadline.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis

from bot.adapters.publish_queue import PUBLISH_QUEUE
from bot.adapters.storage import AuditLog, create_database_engine, upgrade_schema
from bot.adapters.storage.inbox import Inbox
from bot.adapters.storage.publications import Outbox, PublicationRow
from bot.bootstrap import pull_request_handler_factory
from bot.core.github_model import EVIDENCE_MARKER
from bot.doubles.github.server import GitHubDouble
from bot.doubles.planes import PlaneDoubles
from bot.entrypoints.serve import build_server
from bot.settings import Settings
from tests.entrypoints.test_github_app import App
from tests.entrypoints.test_publish_e2e import intents_of, patch_day
from tests.support import webhooks
from tests.support.gitrepo import GitRepo
from tests.support.redis import RedisServer, running_redis
from tests.support.serving import Process, eucora, running

pytestmark = pytest.mark.slow

REPO = "acme/intents"
CAB = ["carol", "sam"]
CHANGED = {
    "intents/windows/7-zip.yaml": ('"24.08"', '"24.09"'),  # Configuration Manager
    "intents/linux/osquery.yaml": ("5.14.1-1", "5.14.2-1"),  # Landscape
    "intents/linux/cis-hardening.yaml": ('"1.3.0"', '"1.3.1"'),  # AWX
}
ONE_EACH = {"intune": 0, "jamf": 0, "sccm": 1, "landscape": 1, "awx": 1}
LEASE_SECONDS = "30"
"""Far longer than any publication takes here (a faulted one waits out a 2-3 s timeout)."""
SHORT_LEASE = "4"
"""The kill test's lease: longer than a healthy publication here, short enough to wait out."""
SWEEP_SECONDS = 0.5
DEADLINE = 60.0
"""Generous: the machine is shared; a healthy run takes a few seconds per wait."""
FINAL = frozenset({"done", "failed", "collapsed", "superseded", "ignored"})
"""Inbox states of a delivery that is no longer waiting or running."""


@dataclass
class Stand:
    """The test process's side, and the workers it started (stopped at the end)."""

    app: App
    planes: PlaneDoubles
    broker: RedisServer
    environ: dict[str, str]
    logs: Path
    outbox: Outbox
    inbox: Inbox
    audit: AuditLog
    stack: contextlib.ExitStack
    workers: list[Process] = field(default_factory=list)
    killed: list[Process] = field(default_factory=list)

    def start_worker(self, concurrency: int = 1, **extra: str) -> Process:
        """``eucora worker`` in its own process group, with the stand's environment."""
        log = self.logs / f"worker-{len(self.workers) + 1}.log"
        command = eucora("worker", "--concurrency", str(concurrency))
        worker = self.stack.enter_context(running(command, {**self.environ, **extra}, log))
        # At the end the worker is killed, not stopped gracefully: its warm shutdown (seconds on
        # a busy machine) proves nothing here, and the test's time goes to the faults.
        self.stack.callback(worker.kill9)
        self.workers.append(worker)
        return worker

    def kill9(self, worker: Process) -> None:
        """``kill -9`` the worker's whole process group (its main process and its children)."""
        self.killed.append(worker)
        worker.kill9()

    def supervise(self, worker: Process, **extra: str) -> Process:
        """After a broker restart: the worker reconnects, or it stops and another is started.

        kombu may fail to restore a message the worker held through the lost connection
        ("Unrecoverable error"): the worker then stops, as under a supervisor that restarts it.
        """
        deadline = time.monotonic() + DEADLINE
        # "Connected to" is logged at the start and again at each reconnection
        while worker.popen.poll() is None and worker.output().count("Connected to") < 2:
            if time.monotonic() > deadline:
                message = "the worker neither reconnected nor stopped"
                pytest.fail(self._with_logs(message), pytrace=False)
            time.sleep(0.05)
        if worker.popen.poll() is None:
            return worker
        assert "Unrecoverable error" in worker.output(), self._with_logs("the worker stopped")
        self.killed.append(worker)
        return self.start_worker(**extra)

    def wait(self, predicate: Callable[[], Any], what: str, timeout: float = DEADLINE) -> Any:
        """Poll ``predicate`` until true; fail with the workers' logs on timeout or if one died."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            dead = [w for w in self.workers if w not in self.killed and w.popen.poll() is not None]
            if dead:
                message = f"a worker exited ({dead[0].popen.returncode}) before {what}"
                pytest.fail(self._with_logs(message), pytrace=False)
            time.sleep(0.05)
        message = f"timed out after {timeout:g} s waiting for {what}"
        pytest.fail(self._with_logs(message), pytrace=False)

    def _with_logs(self, message: str) -> str:
        tails = "\n".join(f"--- {w.log.name}\n{w.output()[-4000:]}" for w in self.workers)
        return f"{message}\n{tails}"

    def settled(self) -> None:
        """Every stored delivery has been handled (by this process or a worker)."""
        self.app.drain()
        self.wait(
            lambda: all(r["status"] in FINAL for r in self.inbox.rows()),
            "every delivery to be handled",
        )

    def rows(self, pr: int) -> dict[str, PublicationRow]:
        change = self.outbox.latest_change(REPO, pr)
        if change is None:
            return {}
        return {row.plane: row for row in self.outbox.publications(change.id)}

    def run_id(self) -> str:
        """The Redis server's run id: a new one after a restart."""
        with contextlib.closing(redis.Redis.from_url(self.broker.url())) as client:
            return str(client.info("server")["run_id"])

    def drop_queued(self) -> None:
        """Delete the publications queue on Redis (the messages waiting in it)."""
        with contextlib.closing(redis.Redis.from_url(self.broker.url())) as client:
            client.delete(PUBLISH_QUEUE)

    def queued(self) -> int:
        """Messages waiting in the publications queue on Redis."""
        with contextlib.closing(redis.Redis.from_url(self.broker.url())) as client:
            return int(client.llen(PUBLISH_QUEUE))


def _stop_all(planes: PlaneDoubles) -> None:
    """Stop the five doubles at once (each waits for its server loop's poll interval)."""
    with ThreadPoolExecutor(len(planes.all)) as pool:
        list(pool.map(lambda double: double.stop(), planes.all))


@pytest.fixture
def source(tmp_path: Path) -> GitRepo:
    """The example repository and a branch bumping one intent on three planes."""
    return patch_day(tmp_path / "src", CHANGED)


@pytest.fixture
def stand(
    tmp_path: Path, source: GitRepo, github_double: GitHubDouble, github_env: dict[str, str]
) -> Iterator[Stand]:
    with contextlib.ExitStack() as stack:
        planes = PlaneDoubles(intents_of(source, CHANGED)).start()
        stack.callback(_stop_all, planes)
        # launched jobs and activities end at their first read: a publication takes well under
        # a second, far inside the short lease
        planes.awx.steps_to_finish = 1
        planes.landscape.steps_to_finish = 1
        broker = stack.enter_context(running_redis())
        environ = {
            **github_env,
            **planes.sccm.environ(),
            **planes.landscape.environ(),
            **planes.awx.environ(),
            "EUCORA_HOME": str(tmp_path / "home"),
            "EUCORA_BROKER_URL": broker.url(),
            "EUCORA_PUBLIC_URL": "https://eucora.example",
            "EUCORA_GITHUB_WRITE_INTERVAL": "0",
            "EUCORA_PUBLISH_LEASE_SECONDS": LEASE_SECONDS,
            "EUCORA_SWEEP_SECONDS": str(SWEEP_SECONDS),
        }
        settings = Settings.from_environ(environ)
        engine = create_database_engine(settings.database_url)
        upgrade_schema(engine)
        engine.dispose()
        server = build_server(settings, pull_request_handler_factory, metrics_dir=False)
        services = server.intake.services
        stack.callback(services.engine.dispose)
        installation = github_double.add_installation("acme")
        github_double.add_team("acme", "cab", CAB)
        github_double.add_repository(REPO, installation=installation, source=source.path)
        yield Stand(
            app=App(server, github_double, installation.id),
            planes=planes,
            broker=broker,
            environ=environ,
            logs=tmp_path,
            outbox=Outbox(services.engine),
            inbox=services.inbox,
            audit=services.audit,
            stack=stack,
        )
        # the workers stop first (last in, first out), then Redis, then the doubles
    assert planes.violations == []


def _open_and_approve(stand: Stand) -> Any:
    """Open the PR and have the CAB approve it; the deliveries are handled in this process."""
    app = stand.app
    pr = app.double.open_pull_request(REPO, head="change", author="dave")
    assert app.post(app.pr_event(pr, "opened")) == 202
    stand.settled()
    for user in CAB:
        stored = app.double.add_review(REPO, pr.number, user, "APPROVED")
        delivery = webhooks.review_event(
            pr, stored, secret=app.secret, installation_id=app.installation
        )
        assert app.post(delivery) == 202
        stand.settled()
    return pr


def _merge(stand: Stand, pr: Any) -> tuple[str, bytes, dict[str, str]]:
    """Merge in the double; return the merge SHA and GitHub's signed ``closed`` delivery."""
    double = stand.app.double
    sha = double.merge_pull_request(REPO, pr.number, by="carol")
    payload = double.pull_request_event(REPO, pr.number, "closed", sender="carol")
    body, headers = double.signed_delivery("pull_request", payload)
    return sha, body, headers


def _deliver(stand: Stand, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    response = stand.app.client.post("/webhook", data=body, headers=headers)
    return response.status_code, response.get_data(as_text=True)


def _final(stand: Stand, pr: Any) -> None:
    def final() -> bool:
        change = stand.outbox.latest_change(REPO, pr.number)
        return change is not None and change.state == "final"

    stand.wait(final, "the change to be final")


def _exactly_one_each_and_green(stand: Stand, pr: Any, merge_sha: str) -> dict[str, PublicationRow]:
    """One object per plane, one green deployment per publication, the change final."""
    planes = stand.planes
    assert planes.objects() == ONE_EACH
    assert planes.sccm.creates["application"] == 1
    assert len(planes.sccm.assignments) == 1
    assert planes.landscape.creates["launch"] == 1
    assert planes.awx.creates["launch"] == 1
    rows = stand.rows(pr.number)
    assert sorted(rows) == ["ansible", "landscape", "sccm"]
    assert {row.state for row in rows.values()} == {"succeeded"}
    change = stand.outbox.latest_change(REPO, pr.number)
    assert change is not None
    assert (change.state, change.merge_sha) == ("final", merge_sha)
    assert change.final_digest is not None
    deployments = list(stand.app.double.deployments.values())
    assert sorted(d.environment for d in deployments) == sorted(
        f"{row.plane}/{row.ring}" for row in rows.values()
    )
    for deployment in deployments:
        assert deployment.sha == merge_sha
        assert deployment.statuses[0]["state"] == "in_progress"
        assert deployment.statuses[-1]["state"] == "success"
    [sticky] = [
        c.body for c in stand.app.double.comments(REPO, pr.number) if EVIDENCE_MARKER in c.body
    ]
    assert "3 of 3 published" in sticky
    assert change.final_digest in sticky
    return rows


def _events(stand: Stand, pr: Any) -> list[str]:
    return [e.type for e in stand.audit.events(repository=REPO, pr=pr.number)]


def test_a_worker_killed_mid_publish_is_replaced_and_the_plane_holds_one_object(
    stand: Stand,
) -> None:
    first = stand.start_worker(EUCORA_PUBLISH_LEASE_SECONDS=SHORT_LEASE)
    pr = _open_and_approve(stand)
    # Configuration Manager applies the application's create and holds the answer: the worker
    # is inside the connector's publish when it dies
    stand.planes.sccm.inject("hang-after", r"/wmi/SMS_Application$", method="POST")
    merge_sha, body, headers = _merge(stand, pr)
    assert _deliver(stand, body, headers)[0] == 202

    def held() -> bool:
        row = stand.rows(pr.number).get("sccm")
        return (
            row is not None
            and row.state == "in_progress"
            and len(stand.planes.sccm.applications) == 1
        )

    stand.wait(held, "the Configuration Manager publication to hang after its create")
    stand.kill9(first)
    killed = stand.rows(pr.number)["sccm"]
    assert (killed.state, killed.attempts) == ("in_progress", 1)
    # The killed worker's message stays unacknowledged in Redis for the visibility timeout (an
    # hour); drop whatever else is queued (its sweeper's copies) so that only the new worker's
    # sweeper, reading the database, can bring the publication back.
    stand.drop_queued()

    # a new worker: the lease expires, its sweeper re-sends, the connector adopts the application
    stand.start_worker(EUCORA_PUBLISH_LEASE_SECONDS=SHORT_LEASE)
    _final(stand, pr)

    rows = _exactly_one_each_and_green(stand, pr, merge_sha)
    assert rows["sccm"].attempts == 2
    assert rows["sccm"].result is not None
    # found the application the killed attempt created (the deployment to the collection is new)
    assert rows["sccm"].result["details"]["application_created"] == "false"
    assert _events(stand, pr).count("publication.succeeded") == 3


def test_a_redis_restart_loses_the_queued_publications_and_the_sweeper_sends_them_again(
    stand: Stand,
) -> None:
    options = {"EUCORA_AWX_TIMEOUT": "3", "EUCORA_PUBLISH_LEASE_SECONDS": "8"}
    worker = stand.start_worker(**options)
    pr = _open_and_approve(stand)
    # the first publication (AWX, ids follow the plane order) is held without being applied,
    # so with one worker slot the two others wait in Redis
    stand.planes.awx.inject("hang", r"/launch/$", method="POST")
    merge_sha, body, headers = _merge(stand, pr)
    assert _deliver(stand, body, headers)[0] == 202

    def waiting_in_redis() -> bool:
        rows = stand.rows(pr.number)
        return (
            len(rows) == 3
            and rows["ansible"].state == "in_progress"
            and rows["landscape"].state == rows["sccm"].state == "pending"
            and any(s.path.endswith("/launch/") for s in stand.planes.awx.requests)
            and stand.queued() >= 2
        )

    stand.wait(waiting_in_redis, "two publications queued in Redis behind the held one")
    before = stand.run_id()
    stand.broker.restart()
    # a new, empty server (no persistence): the queued messages are gone with the old one
    assert stand.run_id() != before
    stand.supervise(worker, **options)

    _final(stand, pr)

    rows = _exactly_one_each_and_green(stand, pr, merge_sha)
    assert rows["ansible"].attempts == 2  # timed out, then retried
    assert rows["landscape"].attempts == rows["sccm"].attempts == 1


def test_duplicate_deliveries_of_the_merge_publish_once(stand: Stand) -> None:
    stand.start_worker(concurrency=2)
    pr = _open_and_approve(stand)
    merge_sha, body, headers = _merge(stand, pr)
    first = headers["X-GitHub-Delivery"]
    assert _deliver(stand, body, headers) == (202, "accepted")
    # GitHub redelivers the same delivery: the intake recognises it
    assert _deliver(stand, body, headers) == (202, "duplicate")
    stand.wait(lambda: (stand.inbox.get(first) or {}).get("status") == "done", "the merge")
    # a different body of the same merge (edited title, a new delivery id): the flow recognises
    # the recorded change while its publications may still be running
    payload = stand.app.double.pull_request_event(REPO, pr.number, "closed", sender="carol")
    payload["pull_request"]["title"] = "patch day (edited after the merge)"
    again, again_headers = stand.app.double.signed_delivery("pull_request", payload)
    second = again_headers["X-GitHub-Delivery"]
    assert second != first
    assert _deliver(stand, again, again_headers) == (202, "accepted")
    stand.wait(lambda: (stand.inbox.get(second) or {}).get("status") == "done", "the second")

    _final(stand, pr)

    _exactly_one_each_and_green(stand, pr, merge_sha)
    outcomes = [(stand.inbox.get(d) or {}).get("outcome") for d in (first, second)]
    assert outcomes == ["publishing", "duplicate"]
    assert len(stand.outbox.publications(stand.rows(pr.number)["sccm"].change_id)) == 3
    events = _events(stand, pr)
    assert events.count("merge.accepted") == 1
    assert events.count("publication.recorded") == 3
    assert events.count("change.published") == 1


def test_planes_that_time_out_after_creating_hold_one_object_after_the_retry(
    stand: Stand,
) -> None:
    stand.start_worker(concurrency=2, EUCORA_SCCM_TIMEOUT="2", EUCORA_LANDSCAPE_TIMEOUT="2")
    pr = _open_and_approve(stand)
    # each plane applies the create, then never answers (held past the client's timeout) or
    # drops the connection
    stand.planes.sccm.inject("hang-after", r"/wmi/SMS_Application$", method="POST")
    stand.planes.landscape.inject_action("hang-after", "ExecuteScript")
    stand.planes.awx.inject("drop", r"/launch/$", method="POST")
    merge_sha, body, headers = _merge(stand, pr)
    assert _deliver(stand, body, headers)[0] == 202

    _final(stand, pr)

    rows = _exactly_one_each_and_green(stand, pr, merge_sha)
    assert {plane: row.attempts for plane, row in rows.items()} == {
        "ansible": 2,
        "landscape": 2,
        "sccm": 2,
    }
    # the retry found what the first attempt created
    results = {plane: row.result or {} for plane, row in rows.items()}
    assert results["ansible"]["created"] is False  # the job launched by the lost attempt
    assert results["landscape"]["created"] is False  # the activity launched by the lost attempt
    assert results["sccm"]["details"]["application_created"] == "false"
    assert _events(stand, pr).count("publication.retry_scheduled") == 3
