"""N worker processes keep one installation's pace together (a real Redis, the GitHub double).

The double timestamps every request it answers; the tests count content-creating requests per
window there, where GitHub would count them.
"""

from __future__ import annotations

import itertools
import subprocess
import sys
from pathlib import Path

import pytest

from bot.doubles.github import GitHubDouble
from tests.support.redis import RedisServer
from tests.support.serving import ROOT

pytestmark = pytest.mark.slow
WORKERS = 3
EACH = 4
SPACING = 0.25


def run_workers(
    tmp_path: Path, double: GitHubDouble, broker: str, *, each: int = EACH
) -> list[float]:
    """Start the workers, release them together, wait; the arrival times of their POSTs."""
    installation = double.add_installation("acme")
    double.add_repository("acme/paced", installation=installation)
    key = tmp_path / "app.pem"
    key.write_text(double.app.private_key_pem)
    args = [double.url, str(double.app.id), str(key), str(installation.id), "acme/paced"]
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.support.pace_worker",
                *args,
                str(each),
                broker,
                str(SPACING),
            ],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(WORKERS)
    ]
    try:
        for worker in workers:  # every process ready (token minted) before any writes
            assert worker.stdin is not None
        for worker in workers:
            worker.stdin.write("GO\n")  # type: ignore[union-attr]
            worker.stdin.flush()  # type: ignore[union-attr]
        for worker in workers:
            out, err = worker.communicate(timeout=120)
            assert worker.returncode == 0, err[-2000:]
            assert out.strip() == "done"
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
    return sorted(r.at for r in double.requests_to("POST", r"/repos/acme/paced/issues$"))


def test_workers_sharing_redis_space_their_writes_as_one(
    tmp_path: Path, github_double: GitHubDouble, redis_server: RedisServer
) -> None:
    times = run_workers(tmp_path, github_double, redis_server.url(5))
    assert len(times) == WORKERS * EACH
    gaps = [b - a for a, b in itertools.pairwise(times)]
    # Granted a spacing apart by Redis's clock; arrival jitter is far below the margin.
    assert min(gaps) >= SPACING * 0.6, gaps
    for start in times:  # no one-second window holds more than the pace allows
        assert sum(1 for t in times if start <= t < start + 1.0) <= 1.0 / SPACING + 1


def test_without_a_shared_pace_the_workers_write_together(
    tmp_path: Path, github_double: GitHubDouble
) -> None:
    """The control: in-process pacers only space each process's own writes."""
    times = run_workers(tmp_path, github_double, "")
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) < SPACING * 0.6, gaps


def test_a_retry_after_seen_by_one_worker_holds_them_all(
    tmp_path: Path, github_double: GitHubDouble, redis_server: RedisServer
) -> None:
    github_double.secondary_rate_limit(1, retry_after=2, method="POST", path=r"/issues$")
    run_workers(tmp_path, github_double, redis_server.url(6))
    posts = github_double.requests_to("POST", r"/repos/acme/paced/issues$")
    [limited] = [r for r in posts if r.status == 403]
    after = [r.at for r in posts if r.at > limited.at]
    assert len(after) == WORKERS * EACH  # every issue was still opened
    # Nobody, in any process, wrote again before GitHub's Retry-After had passed.
    assert min(after) - limited.at >= 1.8, min(after) - limited.at
