"""Webhook to completed check: how long a PR of 1 and of 100 changed intents waits for its verdict.

A real `eucora serve` process (gunicorn, in-process drainer, the real handler) gets signed
`pull_request` webhooks on 127.0.0.1; GitHub is the GitHub double, in this process, serving the
repository over git smart HTTP and checking every call against GitHub's description. The clock
runs from the POST until the double holds a completed `EUCORA policy` run and the sticky comment.

Next to it, in the same run, the floor: `check_fetched` on the same commits of a local clone
(parse, validate, rules, risk, pack) with no GitHub, no git transport, no database, no webhook.
The difference is the price of the App: webhook intake, the inbox, token minting, the mirror
fetch, evidence and audit writes, and five GitHub requests.

GitHub's advice is a second between content-creating requests (EUCORA_GITHUB_WRITE_INTERVAL,
default 1): as deployed that adds about 3 s (three writes after the first). The benchmark runs
with it at 0 to measure EUCORA itself, and once at 1 to show what a PR author sees.

Usage: .venv/bin/python benchmarks/pr_latency.py [--repeats 5]
Loopback only, bounded (about a minute).
"""

from __future__ import annotations

import argparse
import http.client
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.adapters.revisions import GitRevisions
from bot.adapters.storage import create_database_engine, upgrade_schema
from bot.core.github_model import POLICY_CHECK
from bot.doubles.github import GitHubDouble, generate_app_key
from bot.entrypoints.demo_github import pull_request_payload, signed_delivery
from bot.flows.check import check_fetched
from tests.support.gitrepo import GitRepo
from tests.support.serving import free_port, running, wait_until

REPO = "acme/intents"
EXAMPLES = ROOT / "examples" / "intents-repo"
TIMEOUT = 120.0


def build_source(work: Path) -> GitRepo:
    """The example repository with two change branches: one intent, and 100 new intents."""
    repo = GitRepo.create(work / "src", template=EXAMPLES)
    repo.branch("one")
    repo.edit(
        "intents/windows/google-chrome.yaml", 'version: "131.0.6778.86"', 'version: "132.0.6834.83"'
    )
    repo.commit("Chrome 132")
    repo.branch("hundred", "main")
    text = repo.read("intents/windows/notepad-plus-plus.yaml")
    for i in range(100):
        named = text.replace("name: notepad-plus-plus\n", f"name: tool-{i:03d}\n", 1)
        repo.write(f"intents/windows/tools/tool-{i:03d}.yaml", named)
    repo.commit("100 tools")
    return repo


def post(port: int, body: bytes, headers: dict[str, str]) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("POST", "/webhook", body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def verdict_seconds(double: GitHubDouble, port: int, installation: int, branch: str) -> float:
    pr = double.open_pull_request(REPO, head=branch)
    body, headers = signed_delivery(
        "pull_request", pull_request_payload(pr, installation), double.app.webhook_secret
    )

    def done() -> bool:
        runs = double.check_runs(REPO, name=POLICY_CHECK)
        finished = any(r.head_sha == pr.head_sha and r.status == "completed" for r in runs)
        return finished and bool(double.comments(REPO, pr.number))

    started = time.perf_counter()
    assert post(port, body, headers) == 202
    wait_until(done, TIMEOUT, f"the verdict on PR #{pr.number}", interval=0.005)
    return time.perf_counter() - started


def floor_seconds(repo: GitRepo, branch: str, repeats: int) -> float:
    now = datetime(2027, 2, 17, 9, tzinfo=UTC)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        check_fetched(GitRevisions(repo.path), "main", branch, now=now)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def measure(args: argparse.Namespace, work: Path, interval: str, cases: list[str]) -> dict:
    private, public = generate_app_key()
    double = GitHubDouble(
        work / f"github-{interval}", private_key_pem=private, public_key_pem=public
    ).start()
    home = work / f"home-{interval}"
    engine = create_database_engine(f"sqlite:///{home / 'eucora.db'}")
    upgrade_schema(engine)
    engine.dispose()
    repo = GitRepo(work / "src")
    installation = double.add_installation("acme")
    double.add_repository(REPO, installation=installation, source=repo.path)
    env = {
        "EUCORA_HOME": str(home),
        "GITHUB_API_URL": double.url,
        "GITHUB_APP_ID": str(double.app.id),
        "GITHUB_PRIVATE_KEY": double.app.private_key_pem,
        "GITHUB_WEBHOOK_SECRET": double.app.webhook_secret,
        "EUCORA_GITHUB_WRITE_INTERVAL": interval,
    }
    port = free_port()
    eucora = str(Path(sys.executable).with_name("eucora"))
    command = [eucora, "serve", "--port", str(port), "--workers", "1", "--threads", "4"]
    results: dict[str, list[float]] = {case: [] for case in cases}
    try:
        with running(command, env, work / f"serve-{interval}.log", port):
            # A first PR warms the mirror, the token cache and the compiled policy pack.
            verdict_seconds(double, port, installation.id, "one")
            for _ in range(args.repeats):
                for case in cases:
                    results[case].append(verdict_seconds(double, port, installation.id, case))
    finally:
        double.stop()
    assert not double.violations, double.violations
    return {case: statistics.median(times) for case, times in results.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="eucora-bench-latency-"))
    try:
        repo = build_source(work)
        cases = ["one", "hundred"]
        floors = {case: floor_seconds(repo, case, args.repeats) for case in cases}
        unthrottled = measure(args, work, "0", cases)
        deployed = measure(
            argparse.Namespace(repeats=max(1, args.repeats // 2)), work, "1", ["one"]
        )
        print(f"load average {os.getloadavg()[0]:.1f}; medians of {args.repeats}")
        print(f"{'PR':<22}{'floor (check only)':>20}{'webhook -> verdict':>22}{'ratio':>8}")
        for case, label in (("one", "1 changed intent"), ("hundred", "100 added intents")):
            total = unthrottled[case]
            print(
                f"{label:<22}{floors[case] * 1000:>17.0f} ms{total * 1000:>19.0f} ms"
                f"{total / floors[case]:>7.1f}x"
            )
        print(
            f"1 changed intent with 1 s between GitHub writes (as deployed): "
            f"{deployed['one'] * 1000:.0f} ms"
        )
    finally:
        if os.environ.get("KEEP") is None:
            shutil.rmtree(work, ignore_errors=True)
        subprocess.run(["true"], check=False)


if __name__ == "__main__":
    main()
