"""The scale-out topology under faults: PostgreSQL and Redis on free loopback ports, two
``eucora serve`` replicas behind a load balancer, two ``eucora worker`` processes, the GitHub
double and the Configuration Manager, Landscape and AWX plane doubles, all started here.

GitHub's side is the double's hookshot: every delivery is POSTed to the balancer and recorded in
the app's delivery log (``GET /app/hook/deliveries``), failed or not. A stream thread sends PRs
opened and synchronized and bursts of reviews; meanwhile the test merges three PRs one after
another (each opened, evaluated, approved by the CAB, merged: its ``closed`` delivery plans the
publications, which the workers run through the outbox and Celery against the plane doubles),
and between the merges breaks things: ``kill -9`` of a replica, ``kill -9`` of a worker holding
deliveries, Redis restarted empty, the AWX plane dropping every connection for a while, and
PostgreSQL stopped (``/webhook`` answers 503 and ``/readyz`` says why while it is down).

Afterwards ``eucora redeliver`` asks the double for every delivery that failed or never reached
the inbox (once each; a second run asks for none), and then: nothing sent is lost, every stored
delivery was settled exactly once (one ``webhook.processed`` audit event each) and none failed,
every merge was published exactly once (one object per publication on each plane double, one
GitHub deployment each, ending ``success``), every ring holds at most one publication, and every
rollout completed with each later ring promoted exactly once: the merged intents' gates pass at
once (no soak, no schedule) on the installed outcomes the plane doubles report, and the workers'
periodic reconcile promotes the rings while the faults go on (before PostgreSQL is stopped the
test waits for the first merge's rollout to reach pilot; one ``rollout.promoted`` event and one
publication on the plane per rollout and ring),
``eucora audit verify`` passes, no check run is left ``in_progress`` but the CAB runs still
waiting for approvals (at most one per head), and the deliveries a killed worker held were
finished within a minute. The counts are printed.

Every wait has a deadline; the inbox leases are short (``EUCORA_INBOX_LEASE_SECONDS``) so a
killed worker's delivery is taken over in seconds, and so is the ``reconcile`` lease
(``EUCORA_RECONCILE_LEASE_SECONDS``) of a worker killed in its reconcile pass.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy.exc import SQLAlchemyError

from bot.adapters.storage import AuditLog
from bot.adapters.storage.inbox import Inbox
from bot.adapters.storage.publications import Outbox
from bot.adapters.storage.rollouts import RolloutStore
from bot.core.github_model import APPROVAL_CHECK, POLICY_CHECK
from bot.core.rollout_model import RolloutPhase
from bot.doubles.github.server import GitHubDouble
from bot.doubles.planes import PlaneDoubles, with_stand_in_package
from tests.conftest import EXAMPLES
from tests.entrypoints.test_approvals_e2e import source as approvals_source
from tests.entrypoints.test_publish_e2e import intents_of
from tests.support import webhooks
from tests.support.balancer import Balancer, balancing
from tests.support.gitrepo import GitRepo
from tests.support.serving import request
from tests.support.topology import Topology, running_topology

pytestmark = pytest.mark.slow

REPO = "acme/intents"
CAB = ["carol", "sam"]
PRS = 4
ROUNDS = 400
"""At most: the stream stops when the faults are over (a round takes about half a second)."""
PAUSE_SECONDS = 0.3
DEADLINE = 90.0
"""Generous: the machine is shared; a healthy run takes a few seconds per wait."""
LEASE_SECONDS = 4
AWX_REFUSALS = 2
BUSY_WAIT_SECONDS = 8.0
"""How long the worker kill waits for both workers to hold deliveries before taking one."""
RESUMED_WITHIN = 60.0
"""A delivery a killed worker held is finished within a minute of the kill."""
FINAL = frozenset({"done", "failed", "collapsed", "superseded", "ignored"})
MERGES = (  # one merge per plane: the intent, its version before and after
    ("intents/windows/7-zip.yaml", '"24.08"', '"24.09"'),  # Configuration Manager
    ("intents/linux/osquery.yaml", "5.14.1-1", "5.14.2-1"),  # Landscape
    ("intents/linux/cis-hardening.yaml", '"1.3.0"', '"1.3.1"'),  # AWX
)
RINGS = ("lab", "pilot", "broad")
"""Every merged intent's rings: the merge publishes the first, the workers' reconcile promotes
the others while the faults go on, and the rollout completes on the last."""
TOLD_DEVICES = 2
"""What each ring's target reports, all installed (a pass: every gate's success rate is 100 %)."""
RECONCILE_SECONDS = 0.5
ONE_EACH = {"intune": 0, "jamf": 0, "sccm": 1, "landscape": len(RINGS), "awx": len(RINGS)}
"""One application per intent on Configuration Manager; one script run or job per ring."""


@pytest.fixture
def source(tmp_path: Path) -> GitRepo:
    """The approvals tests' repository (CAB acme/cab; a branch ``change`` adding a new app: the
    stream's PRs, never merged), with stand-in installers on main for the merged intents, and
    gates a ring passes as soon as its devices reported (no soak, no schedule to wait for; the
    risk tiers' minimum soak lowered to match in this repository's ``eucora.yaml``)."""
    repo = approvals_source.__wrapped__(tmp_path)
    repo.git("checkout", "-q", "main")
    for path, _, _ in MERGES:
        repo.write(path, _passing_at_once(with_stand_in_package(repo.read(path))))
    repo.write("eucora.yaml", _MIN_SOAK.sub(r"\g<1>PT0M", repo.read("eucora.yaml")))
    repo.commit("stand-in installers, gates without soak")
    return repo


_SOAK = re.compile(r"(?m)^(      soak: )P\w+$")
_SCHEDULE = re.compile(r"(?m)^    schedule:\n(?:      .*\n)+")
_MIN_SOAK = re.compile(r"(?m)^(    (?:low|medium|high|critical): )P\w+$")


def _passing_at_once(text: str) -> str:
    """The intent with every ring's ``gate.soak`` PT0M and no ``schedule`` (start, deadline)."""
    return _SCHEDULE.sub("", _SOAK.sub(r"\g<1>PT0M", text))


def _stop_all(planes: PlaneDoubles) -> None:
    """Stop the doubles at once (each waits for its server loop's poll interval)."""
    with ThreadPoolExecutor(len(planes.all)) as pool:
        list(pool.map(lambda double: double.stop(), planes.all))


@pytest.fixture
def planes(source: GitRepo) -> Iterator[PlaneDoubles]:
    planes = PlaneDoubles(intents_of(source, [path for path, _, _ in MERGES])).start()
    planes.awx.steps_to_finish = 1  # a launched job ends at its first read
    planes.landscape.steps_to_finish = 1
    try:
        yield planes
    finally:
        _stop_all(planes)
    assert planes.violations == []


@pytest.fixture
def topology(
    tmp_path: Path, planes: PlaneDoubles, github_env: dict[str, str]
) -> Iterator[Topology]:
    environ = {
        **github_env,
        **planes.sccm.environ(),
        **planes.landscape.environ(),
        **planes.awx.environ(),
        "EUCORA_EVIDENCE_DIR": str(tmp_path / "evidence"),
        "EUCORA_PUBLIC_URL": "https://eucora.example",
        "EUCORA_GITHUB_WRITE_INTERVAL": "0",
        "EUCORA_INBOX_LEASE_SECONDS": str(LEASE_SECONDS),
        "EUCORA_PUBLISH_LEASE_SECONDS": "30",
        "EUCORA_SWEEP_SECONDS": "0.5",
        "EUCORA_REDELIVER_INTERVAL": "0",  # the test runs ``eucora redeliver`` itself
        "EUCORA_RECONCILE_INTERVAL": str(RECONCILE_SECONDS),  # the workers promote rings
        "EUCORA_RECONCILE_LEASE_SECONDS": str(LEASE_SECONDS),  # a killed worker's lapses
    }
    with running_topology(tmp_path, environ) as topology:
        yield topology


def _wait(
    topology: Topology,
    predicate: Callable[[], Any],
    what: str,
    timeout: float = DEADLINE,
    describe: Callable[[], str] = lambda: "",
) -> Any:
    """Poll ``predicate`` until true (a database error while it restarts reads as not yet);
    meanwhile, as a supervisor would, a worker that stopped by itself is started again."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _supervise(topology)
        with contextlib.suppress(SQLAlchemyError):
            value = predicate()
            if value:
                return value
        time.sleep(0.2)
    message = f"timed out waiting for {what}: {describe()}\n{topology.logs_tail()}"
    pytest.fail(message, pytrace=False)


def _send(double: GitHubDouble, delivery: webhooks.Delivery) -> Any:
    """GitHub sends the delivery (a fresh guid) to the balancer; the recorded attempt."""
    return double.send_webhook(delivery.event, delivery.payload)


def _stream(double: GitHubDouble, prs: list[Any], installation: int, stop: threading.Event) -> None:
    """PRs opened, then until ``stop`` (at most ``ROUNDS`` rounds) one PR synchronized and a
    burst of reviews on another in each round, as GitHub sends them."""
    secret = double.app.webhook_secret
    for pr in prs:
        _send(
            double,
            webhooks.pull_request_event(pr, "opened", secret=secret, installation_id=installation),
        )
    for round_ in range(ROUNDS):
        pushed, reviewed = prs[round_ % len(prs)], prs[(round_ + 1) % len(prs)]
        _send(
            double,
            webhooks.pull_request_event(  # a distinct body each time, as GitHub's are
                pushed,
                "synchronize",
                secret=secret,
                installation_id=installation,
                sender=f"pusher-{round_}",
            ),
        )
        for user in CAB if round_ % 2 else CAB[:1]:  # a burst of reviews
            review = double.add_review(REPO, reviewed.number, user, "COMMENTED")
            _send(
                double,
                webhooks.review_event(
                    reviewed, review, secret=secret, installation_id=installation
                ),
            )
        if stop.wait(PAUSE_SECONDS):
            return


def _supervise(topology: Topology) -> None:
    """Like a supervisor: a worker that stopped after the broker restart is started again."""
    for worker in list(topology.workers):
        if worker not in topology.dead and worker.popen.poll() is not None:
            topology.dead.append(worker)
            topology.start_worker()


def _runs(double: GitHubDouble, name: str, head_sha: str) -> list[Any]:
    return sorted(
        (r for r in double.check_runs(REPO, name=name) if r.head_sha == head_sha),
        key=lambda r: r.id,
    )


def _merge(
    topology: Topology,
    double: GitHubDouble,
    source: GitRepo,
    step: int,
    before_closed: Callable[[], None] = lambda: None,
) -> Any:
    """Open a PR bumping one intent on the current main, have the CAB approve it, merge it and
    send GitHub's ``closed`` delivery (``before_closed`` runs just before); the PR (its
    publications run in the workers)."""
    path, old, new = MERGES[step]
    bare = double.repositories[REPO].bare_path
    source.git("fetch", "-q", str(bare), "+main:refs/remotes/double/main")
    branch = f"bump-{step}"
    source.branch(branch, "double/main")
    text = source.read(path).replace(old, new).replace("signed: false", "signed: true")
    source.write(path, with_stand_in_package(text))
    source.commit(f"bump {path}")
    double.push(REPO, source.path, branch)
    pr = double.open_pull_request(REPO, head=branch, author="dave")
    assert _ok(
        double.send_webhook("pull_request", double.pull_request_event(REPO, pr.number, "opened"))
    )

    def decided(conclusion: str | None) -> bool:
        runs = _runs(double, APPROVAL_CHECK, pr.head_sha)
        return bool(runs) and runs[-1].conclusion == conclusion and runs[-1].status != "queued"

    _wait(topology, lambda: decided(None), f"PR {pr.number} to wait for the CAB")
    for user in CAB:
        review = double.add_review(REPO, pr.number, user, "APPROVED")
        delivery = webhooks.review_event(
            pr, review, secret=double.app.webhook_secret, installation_id=_installation(double)
        )
        assert _ok(_send(double, delivery))
    _wait(topology, lambda: decided("success"), f"PR {pr.number} to be approved")
    double.merge_pull_request(REPO, pr.number, by="carol")
    closed = double.pull_request_event(REPO, pr.number, "closed", sender="carol")
    before_closed()
    assert _ok(double.send_webhook("pull_request", closed))
    return pr


def _installation(double: GitHubDouble) -> int:
    [installation] = double.installations
    return int(installation)


def _ok(attempt: Any) -> bool:
    return 200 <= attempt.status_code < 300


def _stamp(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


@dataclass
class Held:
    """The deliveries running when a worker was killed, and when (wall clock, as the inbox)."""

    at: datetime
    deliveries: list[str]


def _kill_a_busy_worker(topology: Topology, inbox: Inbox) -> Held:
    """``kill -9`` a worker while deliveries run: with three running at once (each worker runs
    two at most) both workers hold some; after a few seconds without, whichever holds one."""
    started = time.monotonic()

    def busy() -> list[dict[str, Any]]:
        running = inbox.rows(["running"])
        enough = 3 if time.monotonic() - started < BUSY_WAIT_SECONDS else 1
        return running if len(running) >= enough else []

    running = _wait(topology, busy, "deliveries to run")
    at = datetime.now().astimezone()
    topology.kill9(topology.workers[0])
    return Held(at, [r["delivery_id"] for r in running])


def _database_down(
    topology: Topology, double: GitHubDouble, pr: Any, installation: int
) -> list[Any]:
    """PostgreSQL stopped: ``/webhook`` answers 503 and ``/readyz`` says why; GitHub's
    deliveries meanwhile fail (recorded, for redelivery); then it comes back."""
    replica = topology.live(topology.replicas)[0]
    topology.stop_postgres()
    try:
        probe = webhooks.pull_request_event(
            pr,
            "synchronize",
            secret=double.app.webhook_secret,
            installation_id=installation,
            sender="while-the-database-is-down",
        )
        status, text = request(
            f"{replica.base}/webhook", data=probe.body, headers=probe.headers, timeout=15
        )
        assert (status, "not stored" in text) == (503, True), text
        ready = request(f"{replica.base}/readyz")
        assert ready[0] == 503
        assert "database unreachable" in ready[1]
        failed = [_send(double, probe)]  # through the balancer, as GitHub: recorded as failed
        assert failed[0].status_code == 503
        return failed
    finally:
        topology.start_postgres()


def _redeliver_what_failed(
    topology: Topology, double: GitHubDouble, inbox: Inbox, failed_while_down: list[Any]
) -> set[str]:
    """``eucora redeliver`` asks for every delivery that failed and never reached the inbox,
    once; a second run asks for none. Then GitHub redelivers a few it already had a 2xx for
    (suppressed as duplicates). Returns the guids GitHub sent (first attempts)."""
    sent = {a.guid for a in double.hookshot.sent if not a.redelivery}
    [missing] = _wait(  # a list, true even when empty: the inbox answered
        topology, lambda: [sent - {r["delivery_id"] for r in inbox.rows()}], "the inbox to answer"
    )
    assert {a.guid for a in failed_while_down} <= missing
    run = topology.cli("redeliver", "--since", "1h")
    assert run.returncode == 0, run.stderr
    double.hookshot.wait(DEADLINE)
    asked = [a for a in double.hookshot.sent if a.redelivery]
    assert sorted(a.guid for a in asked) == sorted(missing), run.stdout
    again = topology.cli("redeliver", "--since", "1h")
    assert again.returncode == 0, again.stderr
    double.hookshot.wait(DEADLINE)
    assert len([a for a in double.hookshot.sent if a.redelivery]) == len(asked), again.stdout
    for attempt in [a for a in double.hookshot.sent if _ok(a)][:3]:
        double.hookshot.redeliver(attempt.id)
    double.hookshot.wait(DEADLINE)
    return sent


def _processed(topology: Topology) -> Counter[str]:
    """The ``webhook.processed`` audit events per delivery id."""
    events = AuditLog(topology.engine).events()
    return Counter(e.correlation_id for e in events if e.type == "webhook.processed")


def _settle(topology: Topology, inbox: Inbox, sent: set[str]) -> None:
    """Wait until every delivery is stored and ended, with its ``webhook.processed`` event."""

    def settled() -> bool:
        rows = inbox.rows()
        stored = {r["delivery_id"] for r in rows}
        return (
            stored >= sent
            and all(r["status"] in FINAL for r in rows)
            and stored <= set(_processed(topology))
        )

    def unsettled() -> str:
        audited = _processed(topology)
        return str(
            [
                (r["delivery_id"][:8], r["event"], r["status"], r["attempts"], r["merged_into"])
                for r in inbox.rows()
                if r["status"] not in FINAL or r["delivery_id"] not in audited
            ]
        )

    _wait(topology, settled, "every delivery to be settled", describe=unsettled)


def _published_once(
    topology: Topology,
    planes: PlaneDoubles,
    double: GitHubDouble,
    outbox: Outbox,
    merged: list[Any],
) -> list[Any]:
    """Every merge published exactly once and every ring of its rollout once: one publication
    per ring on its plane double, one GitHub deployment each ending ``success``, no ring
    published (promoted) twice."""

    def changes() -> list[Any]:
        return [outbox.latest_change(REPO, pr.number) for pr in merged]

    _wait(
        topology,
        lambda: all(c is not None and c.state == "final" for c in changes()),
        "every merge to be published",
        describe=lambda: str([(c.id, c.state) if c else None for c in changes()]),
    )
    assert planes.objects() == ONE_EACH
    launches = (planes.landscape.creates["launch"], planes.awx.creates["launch"])
    assert launches == (len(RINGS), len(RINGS))
    targets = {plane: [r["target"] for r in rings] for plane, rings in _merged_rings().items()}
    assert _published_targets(planes) == {p: Counter(t) for p, t in targets.items()}
    publications = [p for c in changes() for p in outbox.publications(c.id)]  # the merges' own
    assert sorted(p.plane for p in publications) == ["ansible", "landscape", "sccm"]
    store = RolloutStore(topology.engine)
    for rollout in (r for pr in merged for r in store.of_pr(REPO, pr.number)):
        for step in range(1, len(RINGS)):  # the promotions'
            row = outbox.get(store.step_publication(rollout, step) or 0)
            assert row is not None, (rollout.state.intent, RINGS[step])
            publications.append(row)
    assert Counter(p.plane for p in publications) == Counter(
        {"ansible": len(RINGS), "landscape": len(RINGS), "sccm": len(RINGS)}
    )
    assert {p.state for p in publications} == {"succeeded"}
    rings = Counter((p.plane, p.ring) for p in publications)
    assert max(rings.values()) == 1
    deployments = list(double.deployments.values())
    assert sorted(d.environment for d in deployments) == sorted(
        f"{p.plane}/{p.ring}" for p in publications
    )
    assert {d.statuses[-1]["state"] for d in deployments} == {"success"}
    return publications


def _merged_rings() -> dict[str, list[dict[str, Any]]]:
    """Each merged intent's rings (as the example states them), by the intent's plane."""
    return {
        str(intent["plane"]): list(intent["rings"])
        for intent in (
            yaml.safe_load((EXAMPLES / "intents-repo" / path).read_text(encoding="utf-8"))
            for path, _, _ in MERGES
        )
    }


def _tell_installed(planes: PlaneDoubles) -> None:
    """Every ring's target of the merged intents reports ``TOLD_DEVICES`` installed, from its
    publication on: each gate passes once its ring is published and read."""
    doubles = {"sccm": planes.sccm, "landscape": planes.landscape, "ansible": planes.awx}
    for plane, rings in _merged_rings().items():
        for ring in rings:
            doubles[plane].set_outcomes(str(ring["target"]), installed=TOLD_DEVICES)


def _published_targets(planes: PlaneDoubles) -> dict[str, Counter[str]]:
    """How many times each ring's target was published to, as each plane double holds it: a
    Configuration Manager deployment, a Landscape script run, an AWX job (by its limit)."""
    return {
        "sccm": Counter(a["TargetCollectionID"] for a in planes.sccm.assignments.values()),
        "landscape": Counter(
            str(a.tag)
            for a in planes.landscape.activities.values()
            if a.parent_id is None and a.summary.startswith("Run script: ")
        ),
        "ansible": Counter(job.limit for job in planes.awx.jobs.values()),
    }


def _promoted_once(topology: Topology, merged: list[Any]) -> Counter[tuple[int, str]]:
    """Wait until every merged rollout completed on its last ring, promoted ring by ring by
    the workers' periodic reconcile; each later ring was promoted exactly once (one
    ``rollout.promoted`` audit event per rollout and ring). The promotions, by rollout and ring."""
    store = RolloutStore(topology.engine)

    def rollouts() -> list[Any]:
        return [r for pr in merged for r in store.of_pr(REPO, pr.number)]

    def complete() -> bool:
        found = rollouts()
        return len(found) == len(merged) and all(
            r.state.phase is RolloutPhase.COMPLETE
            and r.state.rings[r.state.current].name == RINGS[-1]
            for r in found
        )

    def where() -> str:
        watched = [(r.state, r.state.rings[r.state.current]) for r in rollouts()]
        return str(
            [(s.intent, s.phase.value, w.name, w.last_verdict, s.reason) for s, w in watched]
        )

    _wait(topology, complete, "every rollout to complete", describe=where)
    events = AuditLog(topology.engine).events()
    promoted = Counter(
        (int(e.payload["rollout"]), str(e.payload["to"]))
        for e in events
        if e.type == "rollout.promoted"
    )
    assert promoted == Counter({(r.id, ring): 1 for r in rollouts() for ring in RINGS[1:]})
    return promoted


def _promoted_to(topology: Topology, pr: Any, ring: str) -> datetime:
    """Wait until the rollout of ``pr``'s merge has promoted ``ring`` (or gone past it), by the
    workers' periodic reconcile; when it was seen."""
    store = RolloutStore(topology.engine)
    index = RINGS.index(ring)
    _wait(
        topology,
        lambda: any(r.state.current >= index for r in store.of_pr(REPO, pr.number)),
        f"PR {pr.number}'s rollout to reach {ring}",
    )
    return datetime.now(UTC)


def _promoted_before(topology: Topology, moment: datetime) -> int:
    """How many rings were promoted before ``moment`` (their audit events' time)."""
    events = AuditLog(topology.engine).events()
    return sum(
        e.type == "rollout.promoted" and datetime.fromisoformat(e.time) < moment for e in events
    )


def _no_run_left_in_progress(double: GitHubDouble, prs: list[Any]) -> None:
    """A policy run begun by a worker killed inside the evaluation is completed (cancelled,
    superseded) by the next evaluation of its head, and a re-decided CAB run completes the
    waiting one it replaces: only the newest CAB run of a PR still waiting for approvals waits."""
    runs = double.check_runs(REPO)
    waiting = Counter((r.head_sha, r.name) for r in runs if r.status == "in_progress")
    assert {name for _, name in waiting} <= {APPROVAL_CHECK}, waiting
    assert set(waiting.values()) <= {1}, waiting
    for pr in prs:
        assert _runs(double, POLICY_CHECK, pr.head_sha)[-1].status == "completed"


def test_the_topology_loses_nothing_and_runs_everything_once_under_faults(  # noqa: PLR0915 - the run, step by step
    topology: Topology, planes: PlaneDoubles, github_double: GitHubDouble, source: GitRepo
) -> None:
    double = github_double
    installation = double.add_installation("acme")
    double.add_team("acme", "cab", CAB)
    double.add_repository(REPO, installation=installation, source=source.path)
    prs = [double.open_pull_request(REPO, head="change", author="dave") for _ in range(PRS)]
    _tell_installed(planes)
    started = time.monotonic()
    topology.start_replicas(2)
    for _ in range(2):
        topology.start_worker()
    balancer: Balancer = topology.stack.enter_context(balancing(topology.live_replicas))
    double.webhook_url = f"{balancer.url}/webhook"
    inbox, outbox = Inbox(topology.engine), Outbox(topology.engine)
    stop = threading.Event()
    stream = threading.Thread(
        target=_stream, args=(double, prs, installation.id, stop), daemon=True
    )
    stream.start()

    merged = [_merge(topology, double, source, 0)]
    topology.kill9(topology.replicas[0])  # the balancer sends to the other one
    held = _kill_a_busy_worker(topology, inbox)
    merged.append(_merge(topology, double, source, 1))
    topology.redis.restart()  # empty: the queued wake-ups and publications are lost
    # the AWX plane drops the publication's first connections, then comes back (it is retried)
    merged.append(
        _merge(
            topology,
            double,
            source,
            2,
            lambda: planes.awx.offline(DEADLINE, refusals=AWX_REFUSALS),
        )
    )
    stopped_at = _promoted_to(topology, merged[0], "pilot")  # the faults go on meanwhile
    failed_while_down = _database_down(topology, double, prs[0], installation.id)
    time.sleep(1.0)  # the stream goes on a moment on the database back
    stop.set()
    stream.join(DEADLINE)
    assert not stream.is_alive()

    sent = _redeliver_what_failed(topology, double, inbox, failed_while_down)
    _settle(topology, inbox, sent)
    promoted = _promoted_once(topology, merged)
    publications = _published_once(topology, planes, double, outbox, merged)

    attempts = double.hookshot.sent
    rows = {r["delivery_id"]: r for r in inbox.rows()}
    acknowledged = {a.guid for a in attempts if _ok(a)}
    processed = _processed(topology)
    statuses = Counter(r["status"] for r in rows.values())
    resumed = [(_stamp(rows[d]["finished_at"]) - held.at).total_seconds() for d in held.deliveries]
    print(  # noqa: T201 - the suite reports its counts
        f"\ntopology faults: deliveries sent {len(sent)}, acknowledged {len(acknowledged)}, "
        f"stored {len(rows)}, processed {sum(processed.values())} {dict(statuses)}, "
        f"duplicates suppressed {sum(_ok(a) for a in attempts) - len(acknowledged)}, "
        f"redelivered {sum(a.redelivery for a in attempts)} "
        f"(failed attempts {sum(not _ok(a) for a in attempts)}, "
        f"balancer 502s {balancer.bad_gateway}), lost {len(sent - set(rows))}; "
        f"merges {len(merged)}, publications {len(publications)}, "
        f"rings promoted {sum(promoted.values())} "
        f"{dict(Counter(ring for _, ring in promoted.elements()))} (each exactly once; "
        f"{_promoted_before(topology, stopped_at)} before PostgreSQL was stopped), "
        f"plane objects {planes.objects()}, AWX connections dropped {planes.awx.refused}; "
        f"deliveries running at the worker kill {len(held.deliveries)}, all finished within "
        f"{max(resumed, default=0):.1f} s (taken over after the lease: "
        f"{sum(rows[d]['attempts'] > 1 for d in held.deliveries)}); "
        f"in {time.monotonic() - started:.0f} s"
    )
    assert sent - set(rows) == set()  # nothing lost
    assert acknowledged == sent
    assert {d: n for d, n in processed.items() if n > 1} == {}
    assert set(processed) == set(rows)
    assert statuses["failed"] == 0, [r for r in rows.values() if r["status"] == "failed"]
    assert statuses["collapsed"] > 0  # the review bursts were folded
    assert held.deliveries
    assert max(resumed) < RESUMED_WITHIN
    assert planes.awx.refused == AWX_REFUSALS

    verify = topology.cli("audit", "verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    _no_run_left_in_progress(double, prs + merged)
    assert topology.dead[:2] == [topology.replicas[0], topology.workers[0]]
