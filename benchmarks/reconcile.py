"""One reconcile pass over many live rollouts, next to the bare read-back calls of the same run.

The plane doubles (all five, on loopback in this process) are seeded and ``--intents`` intents per
plane (default 40, 200 objects) are **published for real** through the connectors
(``connector.publish`` on the example intents' first ring, each with its own name: Intune apps,
Jamf policies, Configuration Manager deployments, Landscape activities, AWX jobs). Every ring-0
target group is told its install outcomes (``set_outcomes``: half the ring installed, the rest
pending), so a read finds genuine objects and devices, and each gate is "pending" (the reporting
share not reached): nothing promotes, halts or holds.

Then, for each size N (default 1,000 / 3,000 / 10,000), on a fresh SQLite database (WAL,
``synchronous=FULL``, as shipped): N merge publications are recorded through the outbox
(``Outbox.record_change``, one change per repository, each publishing every published object
once, so no rollout supersedes another),
marked succeeded in one UPDATE, and ``RolloutStore.start_published`` starts N rollouts (none of
this is timed). Measured, in this order:

* **(a) read-back** -- the floor: ``connector.outcomes()`` for each live rollout's watched ring,
  in a loop (records loaded before the clock starts): the plane calls a pass cannot avoid;
* **(b1) first pass** -- ``Reconciler.run_once`` (lease, ``live()``, read, decide, save, audit):
  every rollout records its first counts, so every rollout is saved and audited
  (``rollout.decided``): two durable commits each;
* **(b2) steady pass** -- ``run_once`` again, nothing moved on the planes: read and decide, no
  write (the usual pass while rings install and soak);
* **(c) decide** -- ``bot.core.gates.decide`` alone over the readings of (a), on the states as
  (b1) and (b2) found them (gates parsed beforehand);
* **(d) observe** -- the drift floor: ``connector.observe(intent, rings)`` for each watched
  rollout (the newest of each repository, plane and intent: here every rollout) and its published
  rings, in a loop (records, succeeded steps and rings loaded before the clock starts);
* **(e) drift pass** -- ``DriftPass.run`` (what ``Reconciler.run_once`` runs ``after=`` the
  rollouts; built as ``bootstrap.build_drift`` builds it, but with the fixed ``config_of``) in
  ``warn`` mode: ``watched()``, each rollout's succeeded steps, observe, compare, and the drift
  row read; nothing has drifted, so nothing is written and no GitHub issue is touched (its GitHub
  client is a stub that fails the run if called);
* **(f) compare** -- ``bot.core.drift.compare`` alone over what (d) observed (``Desired`` built
  beforehand).

The pass's freeze windows come from a fixed ``config_of`` (the example ``eucora.yaml``): the
shipped pass reads ``eucora.yaml`` at each rollout's merge commit through the repository mirror,
which is not measured here. No GitHub: the pass has no promotion or halt to report. The bot's and
the planes' clocks are fixed (2027-01-05 10:00 UTC, before every first ring's deadline). The
connectors' ``Follow`` does not sleep between reads of a launched job (2 s as shipped): an Intune
report export is read again at once until the double calls it complete, as the AWX and Landscape
doubles finish a job on its first read: the figures are EUCORA's cost, not the vendors' job time.

Usage: .venv/bin/python benchmarks/reconcile.py [--sizes 1000,3000,10000] [--intents 40]
Loopback only; the full run reads each of its 14,000 rollouts three times and observes each
twice (26 minutes before (d)-(f) on the shared 2-core machine at load 4-8); develop with
``--sizes 200 --intents 4`` (under a minute).
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import update

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.adapters.audit_keys import audit_signer
from bot.adapters.evidence_store import EvidenceStore
from bot.adapters.storage import AuditLog, create_database_engine, upgrade_schema
from bot.adapters.storage.drift import DriftStore
from bot.adapters.storage.publications import NewChange, NewPublication, Outbox
from bot.adapters.storage.rollouts import RolloutStore
from bot.adapters.storage.tables import publications as publication_rows
from bot.core.drift import Desired, Observed, ObserveFailure, compare, drift_settings
from bot.core.gates import Freeze, decide, ring_gates
from bot.core.publishing import idempotency_key
from bot.core.rollout_model import GatePolicy, Reading, RolloutRecord
from bot.doubles.planes import PlaneDoubles, StandInArtifacts, with_stand_in_package
from bot.flows.audited_evidence import AuditedEvidence
from bot.flows.check import timezones_of
from bot.flows.drift import DriftPass, DriftPassReport, desired_of, published_rings
from bot.flows.publish import publication_of
from bot.flows.rollouts import PassReport, Reconciler, ring_publication
from bot.settings import Settings
from connectors._polling import Follow
from connectors.registry import Connectors, build_connectors

EXAMPLES = ROOT / "examples" / "intents-repo"
TEMPLATES = {  # one example intent per plane; its first ring is the one watched
    "intune": "intents/windows/google-chrome.yaml",
    "jamf": "intents/macos/zoom.yaml",
    "sccm": "intents/windows/7-zip.yaml",
    "landscape": "intents/linux/osquery.yaml",
    "ansible": "intents/linux/cis-hardening.yaml",
}
NOW = datetime(2027, 1, 5, 10, 0, tzinfo=UTC)
"""The bot's and the planes' clock: a Tuesday before every first ring's deadline."""
DIGEST = "sha256:" + "ab" * 32


def fixed_clock() -> datetime:
    return NOW


def skip(_seconds: float) -> None:
    """``Follow`` reads a job again at once: the vendor's job time is not EUCORA's cost."""


class DictJournal:
    """The connectors' journal in memory (publishing the seed objects needs no database)."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    def get(self, key: str) -> str | None:
        return self.values.get(key)

    def put(self, key: str, value: str) -> None:
        self.values[key] = value


@dataclass
class Seeded:
    """What was published on the planes: one document per object."""

    documents: list[dict[str, Any]]


class _Row:
    """What ``publication_of`` reads from an outbox row: the first ring of ``document``."""

    def __init__(self, document: dict[str, Any]) -> None:
        ring = document["rings"][0]
        self.intent = document
        self.ring = ring["name"]
        self.target = ring["target"]
        self.idempotency_key = idempotency_key(
            document["metadata"]["name"], document["app"]["version"], ring["name"]
        )
        self.evidence_digest = DIGEST


class NoPromotions:
    """The publish queue and GitHub deployments: this benchmark's passes never promote or halt."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.comments: list[int] = []

    def enqueue(self, ids: Sequence[int], *, delay: float = 0.0) -> None:
        self.calls.append(f"enqueue {list(ids)} {delay}")

    def fail_deployment(self, publication_id: int, description: str) -> None:
        self.calls.append(f"fail {publication_id}: {description}")

    def refresh_comment(self, change_id: int) -> None:
        """The merged PR's sticky comment (a GitHub edit when shipped): counted, not sent."""
        self.comments.append(change_id)


def no_github(record: RolloutRecord) -> Any:
    raise AssertionError(f"the drift pass asked for GitHub (rollout {record.id}): nothing drifted")


def documents(per_plane: int) -> list[dict[str, Any]]:
    """``per_plane`` intents of each plane, each with its own name (and Intune app name)."""
    out = []
    for plane, path in TEMPLATES.items():
        text = with_stand_in_package((EXAMPLES / path).read_text(encoding="utf-8"))
        template = yaml.safe_load(text)
        assert template["plane"] == plane, path
        for i in range(per_plane):
            document = copy.deepcopy(template)
            document["metadata"]["name"] = f"b{i:03d}-{template['metadata']['name']}"
            document["app"]["name"] = f"{template['app']['name']} b{i:03d}"
            out.append(document)
    return out


def tell_outcomes(planes: PlaneDoubles, seeded: Iterable[dict[str, Any]]) -> None:
    """Each first ring's target: half its devices installed, the rest pending (gate: pending)."""
    doubles = {
        "intune": planes.intune,
        "jamf": planes.jamf,
        "sccm": planes.sccm,
        "landscape": planes.landscape,
        "awx": planes.awx,
        "ansible": planes.awx,
    }
    told: set[tuple[str, str]] = set()
    for document in seeded:
        ring = document["rings"][0]
        key = (document["plane"], str(ring["target"]))
        if key in told:
            continue
        told.add(key)
        devices = int(ring.get("devices", 2))
        installed = devices // 2
        doubles[document["plane"]].set_outcomes(
            key[1], installed=installed, pending=devices - installed, as_of=NOW
        )


def publish_all(connectors: Connectors, seeded: Sequence[dict[str, Any]]) -> None:
    for document in seeded:
        connector = connectors.get(document["plane"])
        assert connector is not None, document["plane"]
        connector.publish(publication_of(_Row(document)), DictJournal())


def seed_rollouts(outbox: Outbox, store: RolloutStore, seeded: Sequence[Any], n: int) -> int:
    """N succeeded merge publications (round robin over ``seeded``), then their rollouts."""
    per_change = len(seeded)  # a change publishes each object once
    for c, start in enumerate(range(0, n, per_change)):
        rows = []
        for j in range(start, min(start + per_change, n)):
            document = seeded[j % len(seeded)]
            ring = document["rings"][0]
            name, version = document["metadata"]["name"], document["app"]["version"]
            rows.append(
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
        repository = f"acme/intents-{c:03d}"
        outbox.record_change(
            NewChange(
                repository=repository,
                pr=1,
                installation_id=1,
                head_sha=f"{c:040x}",
                merge_sha=f"{c:040x}",
                check_digest=DIGEST,
                state="final",
                emergency=False,
                facts={"bench": "reconcile"},
                comment_head="### EUCORA benchmark",
                correlation_id=f"bench-reconcile-{c}",
            ),
            rows,
            now=NOW,
        )
    with outbox.engine.begin() as connection:
        connection.execute(update(publication_rows).values(state="succeeded"))
    return len(store.start_published(now=NOW))


@dataclass
class Timed:
    seconds: float
    calls: dict[str, int]
    extra: dict[str, Any] = field(default_factory=dict)


def plane_calls(planes: PlaneDoubles) -> dict[str, int]:
    names = ("intune", "jamf", "sccm", "landscape", "awx")
    return {name: len(double.requests) for name, double in zip(names, planes.all, strict=True)}


def measured(planes: PlaneDoubles, work: Callable[[], Any]) -> tuple[Timed, Any]:
    before = plane_calls(planes)
    started = time.perf_counter()
    result = work()
    seconds = time.perf_counter() - started
    after = plane_calls(planes)
    return Timed(seconds, {k: after[k] - before[k] for k in after}), result


def read_back(
    connectors: Connectors, records: Sequence[RolloutRecord], seconds: Counter[str]
) -> list[Reading]:
    """Each record's watched ring read from its plane; ``seconds`` gets each plane's time."""
    readings: list[Reading] = []
    for record in records:
        connector = connectors.get(record.state.plane)
        assert connector is not None
        started = time.perf_counter()
        readings.append(connector.outcomes(ring_publication(record, record.state.current)))
        seconds[record.state.plane] += time.perf_counter() - started
    return readings


def decide_all(
    records: Sequence[RolloutRecord], readings: Sequence[Reading], freeze: Freeze
) -> tuple[float, Counter[str]]:
    """``decide`` alone over each (record, reading): seconds and the verdicts."""
    inputs = [
        (ring_gates(r.intent), r.state, {r.state.rings[r.state.current].name: reading})
        for r, reading in zip(records, readings, strict=True)
    ]
    policy = GatePolicy()
    verdicts: Counter[str] = Counter()
    started = time.perf_counter()
    for gates, state, found in inputs:
        decision = decide(
            gates=gates, state=state, readings=found, policy=policy, freeze=freeze, now=NOW
        )
        verdicts[decision.verdict.value] += 1
    return time.perf_counter() - started, verdicts


def observe_all(
    connectors: Connectors,
    inputs: Sequence[tuple[RolloutRecord, Sequence[int]]],
    seconds: Counter[str],
) -> list[Observed | ObserveFailure]:
    """Each watched rollout's published rings observed on its plane (drift's floor)."""
    prepared = [(r, r.state.plane, published_rings(r, steps)) for r, steps in inputs]
    observed: list[Observed | ObserveFailure] = []
    for record, plane, rings in prepared:
        connector = connectors.get(plane)
        assert connector is not None
        started = time.perf_counter()
        observed.append(connector.observe(record.intent, rings))
        seconds[plane] += time.perf_counter() - started
    return observed


def compare_all(
    inputs: Sequence[tuple[RolloutRecord, Sequence[int]]],
    observed: Sequence[Observed | ObserveFailure],
) -> tuple[float, int]:
    """``compare`` alone over each (desired, observed): seconds and how many drifted."""
    pairs = [
        (desired_of(r, steps), seen) for (r, steps), seen in zip(inputs, observed, strict=True)
    ]
    ignore = drift_settings({}).ignore
    desired: Desired
    drifted = 0
    started = time.perf_counter()
    for desired, seen in pairs:
        drifted += compare(desired, seen, ignore).drifted
    return time.perf_counter() - started, drifted


def check_no_drift(report: DriftPassReport, n: int) -> None:
    if report.compared != n or report.drifted or report.resolved or report.read_errors:
        raise AssertionError(f"drift pass: {report.lines()[:8]}")


def check_quiet(report: PassReport, n: int, what: str) -> None:
    moved = report.promoted + report.halted + report.held + report.completed + report.alerts
    if report.looked_at != n or moved or report.failed or report.read_errors:
        raise AssertionError(f"{what}: {report.lines()[:8]}")


def one_size(  # noqa: PLR0913, PLR0917 - the run's shared parts
    n: int,
    work: Path,
    planes: PlaneDoubles,
    connectors: Connectors,
    seeded: Sequence[dict[str, Any]],
    freeze: Freeze,
) -> dict[str, Any]:
    home = work / f"home-{n}"
    home.mkdir()
    engine = create_database_engine(f"sqlite:///{home / 'eucora.db'}")
    upgrade_schema(engine)
    settings = Settings.from_environ({"EUCORA_HOME": str(home)})
    store, outbox = RolloutStore(engine), Outbox(engine)
    started = seed_rollouts(outbox, store, seeded, n)
    assert started == n, (started, n)
    sender = NoPromotions()
    reconciler_evidence = AuditedEvidence(
        settings,
        AuditLog(engine),
        signer=audit_signer(settings),
        clock=fixed_clock,
        store=EvidenceStore(settings.evidence_dir),  # as bootstrap builds it; no pack is written
    )
    reconciler = Reconciler(
        store=store,
        planes=connectors,
        publisher=sender,
        evidence=reconciler_evidence,
        config_of=lambda _record: (freeze.config, freeze.zones),
        clock=fixed_clock,
    )
    load = [os.getloadavg()[0]]
    records = store.live()
    per_plane: Counter[str] = Counter()
    floor, readings = measured(planes, lambda: read_back(connectors, records, per_plane))
    floor.extra = dict(per_plane)
    first, report = measured(planes, reconciler.run_once)
    check_quiet(report, n, "first pass")
    after_first = store.live()
    assert all(r.revision == 1 for r in after_first), "the first pass saved every rollout"
    steady, report = measured(planes, reconciler.run_once)
    check_quiet(report, n, "steady pass")
    assert all(r.revision == 1 for r in store.live()), "the steady pass wrote nothing"
    assert report.plane_reads == n
    decide_first, verdicts_first = decide_all(records, readings, freeze)
    decide_steady, verdicts_steady = decide_all(after_first, readings, freeze)
    drift_store = DriftStore(engine)
    watched = drift_store.watched()
    assert len(watched) == n, (len(watched), n)
    inputs = []
    for record in watched:
        steps = drift_store.published(record)
        assert steps, (record.id, steps)
        inputs.append((record, steps))
    per_plane_observe: Counter[str] = Counter()
    observe, observed = measured(planes, lambda: observe_all(connectors, inputs, per_plane_observe))
    observe.extra = dict(per_plane_observe)
    assert not any(isinstance(o, ObserveFailure) for o in observed), observed[:3]
    drift = DriftPass(
        store=drift_store,
        planes=connectors,
        issues_for=no_github,
        queue=sender,
        audit=reconciler_evidence,
        config_of=lambda _record: {**freeze.config, "drift": {"mode": "warn"}},
        clock=fixed_clock,
    )
    drift_pass, drift_report = measured(planes, drift.run)
    check_no_drift(drift_report, n)
    compare_seconds, drifted = compare_all(inputs, observed)
    assert drifted == 0, drifted
    assert not sender.calls, sender.calls
    load.append(os.getloadavg()[0])
    engine.dispose()
    return {
        "n": n,
        "floor": floor,
        "first": first,
        "steady": steady,
        "decide_first": decide_first,
        "decide_steady": decide_steady,
        "verdicts": dict(verdicts_first + verdicts_steady),
        "observe": observe,
        "drift": drift_pass,
        "compare": compare_seconds,
        "load": load,
    }


def ms(seconds: float, n: int) -> str:
    return f"{seconds / n * 1000:.3f}"


def report(results: list[dict[str, Any]], args: argparse.Namespace) -> None:
    print(f"\n{args.intents} published objects per plane; load average at start/end of each size")
    print(
        "| N | read-back (a) s | ms/rollout | first pass (b1) s | ms/rollout | x (a) |"
        " steady pass (b2) s | ms/rollout | x (a) | decide (c) ms/rollout | (c) ÷ (a) |"
        " plane calls/rollout | load |"
    )
    print("|---:" * 13 + "|")
    for r in results:
        n, floor, first, steady = r["n"], r["floor"], r["first"], r["steady"]
        decide_ms = (r["decide_first"] + r["decide_steady"]) / 2
        calls = sum(floor.calls.values()) / n
        pass_calls = sum(steady.calls.values()) / n
        print(
            f"| {n:,} | {floor.seconds:.1f} | {ms(floor.seconds, n)} | {first.seconds:.1f} |"
            f" {ms(first.seconds, n)} | {first.seconds / floor.seconds:.2f} |"
            f" {steady.seconds:.1f} | {ms(steady.seconds, n)} |"
            f" {steady.seconds / floor.seconds:.2f} | {ms(decide_ms, n)} |"
            f" {decide_ms / floor.seconds:.2%} | {calls:.2f} (pass {pass_calls:.2f}) |"
            f" {r['load'][0]:.1f}-{r['load'][1]:.1f} |"
        )
    print("\nplane calls per rollout of that plane in the read-back, and the verdicts decided:")
    for r in results:
        each = r["n"] / len(TEMPLATES)  # rollouts per plane
        per = ", ".join(f"{p} {c / each:.1f}" for p, c in r["floor"].calls.items())
        print(f"  N={r['n']:,}: {per}; verdicts {r['verdicts']}")
        times = ", ".join(f"{p} {s / each * 1000:.1f}" for p, s in r["floor"].extra.items())
        print(f"    read-back ms per rollout of that plane: {times}")
    print(
        "  decide (c): first-pass states "
        + ", ".join(f"{ms(r['decide_first'], r['n'])}" for r in results)
        + " ms; steady states "
        + ", ".join(f"{ms(r['decide_steady'], r['n'])}" for r in results)
        + " ms per rollout"
    )
    drift_report(results)


def drift_report(results: list[dict[str, Any]]) -> None:
    print("\ndrift (warn, nothing drifted), per watched intent:")
    print(
        "| N | observe (d) s | ms/intent | plane calls/intent | drift pass (e) s | ms/intent |"
        " (e) ÷ (d) | plane calls/intent | compare (f) µs/intent | (f) ÷ (d) | (d) ÷ read-back (a) |"
    )
    print("|---:" * 11 + "|")
    for r in results:
        n, observe, drift = r["n"], r["observe"], r["drift"]
        print(
            f"| {n:,} | {observe.seconds:.1f} | {ms(observe.seconds, n)} |"
            f" {sum(observe.calls.values()) / n:.2f} | {drift.seconds:.1f} |"
            f" {ms(drift.seconds, n)} | {drift.seconds / observe.seconds:.2f} |"
            f" {sum(drift.calls.values()) / n:.2f} | {r['compare'] / n * 1e6:.1f} |"
            f" {r['compare'] / observe.seconds:.3%} | {observe.seconds / r['floor'].seconds:.2f} |"
        )
    for r in results:
        each = r["n"] / len(TEMPLATES)
        calls = ", ".join(f"{p} {c / each:.1f}" for p, c in r["observe"].calls.items())
        times = ", ".join(f"{p} {s / each * 1000:.1f}" for p, s in r["observe"].extra.items())
        print(f"  N={r['n']:,} observe calls per intent of that plane: {calls}")
        print(f"    observe ms per intent of that plane: {times}")


def main(argv: Sequence[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,3000,10000")
    parser.add_argument("--intents", type=int, default=40, help="published intents per plane")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    seeded = documents(args.intents)
    config = yaml.safe_load((EXAMPLES / "eucora.yaml").read_text(encoding="utf-8"))
    freeze = Freeze(config=config, zones=timezones_of(config))
    results = []
    with (
        tempfile.TemporaryDirectory(prefix="eucora-reconcile-") as tmp,
        PlaneDoubles(seeded) as planes,
    ):
        planes.awx.steps_to_finish = 1  # a launched job is final on its first read
        planes.landscape.steps_to_finish = 1
        for double in planes.all:
            double.clock = fixed_clock
        connectors = build_connectors(
            planes.environ(), artifacts=StandInArtifacts(), follow=Follow(interval=0.0, sleep=skip)
        )
        try:
            started = time.perf_counter()
            publish_all(connectors, seeded)
            tell_outcomes(planes, seeded)
            objects = planes.objects()
            print(f"published {objects} in {time.perf_counter() - started:.1f} s")
            assert all(count == args.intents for count in objects.values()), objects
            for n in sizes:
                results.append(one_size(n, Path(tmp), planes, connectors, seeded, freeze))
                report(results[-1:], args)  # each size as it ends; all of them at the end
                sys.stdout.flush()
        finally:
            connectors.close()
        assert not planes.violations, planes.violations[:5]
    report(results, args)
    return results


if __name__ == "__main__":
    main()
