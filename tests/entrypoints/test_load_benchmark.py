"""``benchmarks/load.py --quick`` runs, so the load benchmark cannot rot: real numbers come back.

A few seconds of signed deliveries (opened, synchronize, reviews, merges) from a separate
process against the bare floor, ``eucora serve`` on SQLite with its drainer, and PostgreSQL +
Redis with two replicas and two workers: every topology acknowledged deliveries without an
error, lost none, drained its inbox and completed policy check runs for them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import load

pytestmark = pytest.mark.slow


def test_the_quick_load_measures_every_topology_and_loses_nothing(tmp_path: Path) -> None:
    out = tmp_path / "load.json"
    results = load.main(["--quick", "--json", str(out)])
    assert [r["topology"] for r in results] == ["floor", "embedded", "scaleout"]
    assert json.loads(out.read_text()) == json.loads(json.dumps(results, default=str))
    for result in results:
        name = result["topology"]
        assert result["acknowledged"] > 0, name
        assert result["acknowledged"] == result["sent"], (name, result["errors"])
        assert result["errors"] == {}, name
        assert result["lost"] == 0, name
        assert 0 < result["p50_ms"] <= result["p99_ms"] <= result["max_ms"], name
        server = [
            cores
            for process, cores in result["cores"].items()
            if "benchmark" not in process and "generator" not in process
        ]
        assert sum(server) > 0, (name, result["cores"])
    for result in results[1:]:
        name = result["topology"]
        assert result["drain_seconds"] is not None, (name, result["left"])
        statuses = result["statuses"]
        assert set(statuses) <= {"done", "collapsed", "superseded", "ignored"}, (name, statuses)
        assert sum(statuses.values()) == result["answers"]["accepted"] + 1, name  # + the warm-up
        assert result["checks_measured"] > 0, name
        assert 0 < result["check_p50_s"] <= result["check_p99_s"], name
        assert set(result["kinds"]) == {"evaluate", "review", "merged"}, name
    assert results[2]["db_waits"], "PostgreSQL's waits were sampled"
