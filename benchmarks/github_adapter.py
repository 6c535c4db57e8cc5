"""What the GitHub adapter costs over bare HTTP and bare git, against the GitHub double on loopback.

Each figure is the adapter's time next to the floor of the same work done by the bare libraries
in the same run, against the same double (which validates every request and response against
GitHub's OpenAPI description in both cases, so the double's own cost is in both):

(a) reading a pull request: ``GitHubAdapter.pull_request`` vs one ``requests.get`` of
    ``/repos/{owner}/{repo}/pulls/{n}`` with the same token;
(b) a completed check run with 120 annotations: ``create_check_run`` (1 POST + 2 PATCH) vs the
    same three requests sent with ``requests``;
(c) the first fetch of base and head into an empty mirror: ``fetch_revisions`` vs ``git fetch``
    of the same two SHAs into an empty bare repository with the same header;
(d) a fetch when the mirror already holds both SHAs (no network: ``cat-file`` only).

Usage: .venv/bin/python benchmarks/github_adapter.py [--rounds 30]. Loopback only, ~30 s.
"""

from __future__ import annotations

import argparse
import base64
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import requests

from bot.adapters.github_connectors import GitHubAppConnector
from bot.core.github_model import (
    POLICY_CHECK,
    Annotation,
    AnnotationLevel,
    CheckConclusion,
    CheckRun,
    CheckRunOutput,
    CheckStatus,
)
from bot.doubles.github import GitHubDouble, generate_app_key
from tests.support.gitrepo import ENV, GitRepo

REPO = "acme/intents"


def median_ms(work: Callable[[int], object], rounds: int) -> float:
    samples = []
    for n in range(rounds):
        started = time.perf_counter()
        work(n)
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def paired_ms(
    ours: Callable[[int], object], floor: Callable[[int], object], rounds: int
) -> tuple[float, float]:
    """Medians of the two, measured turn about so that load on the machine hits both alike."""
    mine, bare = [], []
    for n in range(rounds):
        for work, samples in (
            ((ours, mine), (floor, bare)) if n % 2 else ((floor, bare), (ours, mine))
        ):
            started = time.perf_counter()
            work(n)
            samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(mine), statistics.median(bare)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=30)
    rounds = parser.parse_args().rounds
    tmp = Path(tempfile.mkdtemp(prefix="eucora-bench-gh-"))
    private, public = generate_app_key()
    double = GitHubDouble(tmp / "gh", private_key_pem=private, public_key_pem=public).start()
    source = GitRepo.create(tmp / "src")
    for n in range(200):
        source.write(f"intents/app{n}.yaml", f"name: app{n}\nversion: 1\n")
    base = source.commit("base")
    source.branch("feature")
    source.write("intents/app0.yaml", "name: app0\nversion: 2\n")
    head = source.commit("head")
    installation = double.add_installation("acme")
    double.add_repository(REPO, installation=installation, source=source.path)
    double.open_pull_request(REPO, head="feature")
    connector = GitHubAppConnector(
        api_url=double.url,
        app_id=str(double.app.id),
        private_key=private,
        mirrors_dir=tmp / "mirrors",
        seconds_between_writes=None,
    )
    github = connector.for_installation(installation.id)
    github.pull_request(REPO, 1)  # warm: token minted, app read
    token = connector.installation_token(installation.id)
    session = requests.Session()
    session.headers["Authorization"] = f"token {token}"

    adapter_read, bare_read = paired_ms(
        lambda _: github.pull_request(REPO, 1),
        lambda _: session.get(f"{double.url}/repos/{REPO}/pulls/1").json(),
        rounds,
    )

    notes = tuple(
        Annotation(
            path="intents/app0.yaml",
            start_line=n + 1,
            end_line=n + 1,
            level=AnnotationLevel.FAILURE,
            message=f"finding {n}",
        )
        for n in range(120)
    )
    output = CheckRunOutput(title="120 findings", summary="blocked", annotations=notes)
    run = CheckRun(
        name=POLICY_CHECK,
        head_sha=head,
        status=CheckStatus.COMPLETED,
        conclusion=CheckConclusion.FAILURE,
        output=output,
    )
    raw = [
        {
            "path": a.path,
            "start_line": a.start_line,
            "end_line": a.end_line,
            "annotation_level": "failure",
            "message": a.message,
        }
        for a in notes
    ]

    def bare_check_run(_: int) -> None:
        first = {
            "name": POLICY_CHECK,
            "head_sha": head,
            "status": "completed",
            "conclusion": "failure",
        }
        created = session.post(
            f"{double.url}/repos/{REPO}/check-runs",
            json={**first, "output": {"title": "t", "summary": "s", "annotations": raw[:50]}},
        ).json()
        for batch in (raw[50:100], raw[100:]):
            session.patch(
                f"{double.url}/repos/{REPO}/check-runs/{created['id']}",
                json={"output": {"title": "t", "summary": "s", "annotations": batch}},
            )

    adapter_run, bare_run = paired_ms(
        lambda _: github.create_check_run(REPO, run), bare_check_run, rounds
    )

    header = "Authorization: Basic " + base64.b64encode(f"x-access-token:{token}".encode()).decode()
    fetch_rounds = max(3, rounds // 5)

    def adapter_cold(n: int) -> None:
        github._mirrors.root = tmp / f"mirrors-{n}"  # noqa: SLF001 (an empty mirror store each round)
        github.fetch_revisions(REPO, [base, head])

    def bare_cold(n: int) -> None:
        target = tmp / f"bare-{n}.git"
        subprocess.run(["git", "init", "-q", "--bare", str(target)], check=True, env=ENV)
        env = {
            **ENV,
            "GIT_CONFIG_COUNT": "1",
            "GIT_CONFIG_KEY_0": "http.extraHeader",
            "GIT_CONFIG_VALUE_0": header,
        }
        subprocess.run(
            [
                "git",
                "--git-dir",
                str(target),
                "fetch",
                "-q",
                "--no-tags",
                double.clone_url(REPO),
                f"{base}:refs/b",
                f"{head}:refs/h",
            ],
            check=True,
            env=env,
        )

    adapter_fetch, bare_fetch = paired_ms(adapter_cold, bare_cold, fetch_rounds)
    warm = median_ms(lambda _: github.fetch_revisions(REPO, [base, head]), rounds)
    double.stop()
    assert double.violations == [], double.violations

    print(f"{'work':<44}{'adapter ms':>12}{'bare ms':>10}{'ratio':>8}")
    for name, ours, floor in (
        ("(a) read a pull request", adapter_read, bare_read),
        ("(b) check run, 120 annotations (3 requests)", adapter_run, bare_run),
        ("(c) first fetch of base+head (200 files)", adapter_fetch, bare_fetch),
    ):
        print(f"{name:<44}{ours:>12.1f}{floor:>10.1f}{ours / floor:>8.2f}")
    print(f"{'(d) fetch, mirror already holds both SHAs':<44}{warm:>12.1f}{'-':>10}{'-':>8}")


if __name__ == "__main__":
    main()
