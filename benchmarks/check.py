"""How fast is ``eucora check``, on generated repositories, next to floors measured in the same run.

(a) one changed intent in a repository of 10 and of 10,000 intents: the cost must stay nearly flat
    (target: within 2x), because only changed files are read and parsed;
(b) a pull request changing 1,000 intents: the whole check (git, parse, validate, facts, every rule
    of the default pack, risk, the canonical pack and its digest) as intents/s, next to the floor of
    parse + validate alone on the same 1,000 files.

Each figure is the best of --repeat runs. Usage: python benchmarks/check.py [--big 10000] [--pr 1000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.adapters.git import read_revision_pair
from bot.adapters.revisions import GitRevisions
from bot.catalog import build_document_validator, build_policy_pack
from bot.core.documents import DocumentKind
from bot.flows.check import check_fetched, check_pair
from tests.support.corpus import generate_intent_text
from tests.support.gitrepo import GitRepo

NOW = datetime.fromisoformat("2027-02-17T10:00:00+01:00")
CONFIG = (
    "apiVersion: eucora.dev/v1\nkind: EucoraConfig\ncab:\n  teams: [contoso/cab]\n"
    "packageHosts: ['*.contoso.com']\n"
)


def make_repo(folder: Path, count: int, changed: int) -> GitRepo:
    repo = GitRepo.create(folder)
    repo.write("eucora.yaml", CONFIG)
    for i in range(count):
        repo.write(f"intents/app-{i:05d}.yaml", generate_intent_text(i))
    repo.commit("intents")
    repo.branch("change")
    for i in range(changed):
        path = f"intents/app-{i:05d}.yaml"
        repo.write(path, repo.read(path).replace("  signed: true", "  signed: true  # checked"))
        repo.edit(path, "tier: standard", "tier: gold")
    repo.commit("change")
    return repo


CPU: dict[int, float] = {}  # id(work) -> best process time, reported next to the wall time


def best(repeat: int, work) -> float:
    """Best wall time of ``repeat`` runs (the machine is shared); the best CPU time goes to CPU."""
    times, cpu = [], []
    for _ in range(repeat):
        started, started_cpu = time.perf_counter(), time.process_time()
        work()
        times.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
    CPU[id(work)] = min(cpu)
    return min(times)


def timed(repeat: int, work) -> tuple[float, float]:
    """Best wall and best CPU seconds of ``repeat`` runs."""
    wall = best(repeat, work)
    return wall, CPU[id(work)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--big", type=int, default=10_000)
    parser.add_argument("--pr", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    build_policy_pack()  # compile the default pack once, as a long-running process would
    with tempfile.TemporaryDirectory() as tmp:
        small = make_repo(Path(tmp) / "small", 10, 1)
        big = make_repo(Path(tmp) / "big", args.big, 1)
        pr = make_repo(Path(tmp) / "pr", args.pr, args.pr)

        def one(repo: GitRepo):
            return lambda: check_fetched(GitRevisions(repo.path), "main", "change", now=NOW)

        small_s = best(args.repeat, one(small))
        big_s = best(args.repeat, one(big))
        small_s = min(small_s, best(args.repeat, one(small)))  # interleaved: load shifts

        pair = read_revision_pair(pr.path, "main", "change")
        validator = build_document_validator()

        def floor() -> None:
            for change in pair.changes:
                assert change.head is not None
                assert validator.validate(change.head.raw, change.head.path, DocumentKind.INTENT).ok

        git_s = best(args.repeat, lambda: read_revision_pair(pr.path, "main", "change"))
        floor_s, floor_cpu = timed(args.repeat, floor)
        core_s, core_cpu = timed(args.repeat, lambda: check_pair(pair, now=NOW))
        whole_s, whole_cpu = timed(args.repeat, one(pr))
        rules = len(build_policy_pack().rules)
    print(f"(a) one changed intent, best of {args.repeat}")
    print(f"    repository of 10 intents:      {small_s * 1000:8.1f} ms")
    print(
        f"    repository of {args.big} intents:  {big_s * 1000:8.1f} ms   ratio {big_s / small_s:.2f}"
    )
    print(f"(b) a PR changing {args.pr} intents ({rules} rules), best of {args.repeat}")
    print("    (wall time, then CPU time of this process; the ratio is to the floor's wall time)")
    print(
        f"    floor: parse + validate only   {floor_s:8.3f} s  {args.pr / floor_s:8.0f} intents/s"
        f"   cpu {floor_cpu:.3f} s"
    )
    print(f"    git: read the revision pair    {git_s:8.3f} s")
    print(
        f"    check, files already read      {core_s:8.3f} s  {args.pr / core_s:8.0f} intents/s"
        f"   cpu {core_cpu:.3f} s  x{core_s / floor_s:.2f} floor"
    )
    print(
        f"    whole eucora check             {whole_s:8.3f} s  {args.pr / whole_s:8.0f} intents/s"
        f"   cpu {whole_cpu:.3f} s  x{whole_s / floor_s:.2f} floor"
    )


if __name__ == "__main__":
    main()
