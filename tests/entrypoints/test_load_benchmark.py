"""``benchmarks/load.py --quick`` runs, so the load benchmark cannot rot: real numbers come back.

Two seconds of signed deliveries (opened, synchronize, reviews, merges) from a separate process
against ``eucora serve`` on SQLite with its drainer, and PostgreSQL + Redis with two replicas and
two workers: each topology acknowledged deliveries without an error, lost none, drained its inbox
and completed policy check runs for them. The scale-out topology uses the session's PostgreSQL
and Redis (the benchmark itself starts a durable server of its own). The bare floor is a
baseline of the figures, not EUCORA: the quick run leaves it out.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import load
from tests.support.postgres import PostgresServer, postgres_server  # noqa: F401 - a fixture
from tests.support.redis import RedisServer, redis_server  # noqa: F401 - a fixture

pytestmark = pytest.mark.slow


def test_the_quick_load_measures_both_topologies_and_loses_nothing(
    tmp_path: Path,
    postgres_server: PostgresServer,  # noqa: F811 - the fixture
    redis_server: RedisServer,  # noqa: F811 - the fixture
) -> None:
    out = tmp_path / "load.json"
    results = load.main(
        ["--quick", "--topology", "embedded", "scaleout", "--json", str(out)],
        load.Servers(postgres_server, redis_server),
    )
    assert [r["topology"] for r in results] == ["embedded", "scaleout"]
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
        assert result["drain_seconds"] is not None, (name, result["left"])
        statuses = result["statuses"]
        assert set(statuses) <= {"done", "collapsed", "superseded", "ignored"}, (name, statuses)
        assert sum(statuses.values()) == result["answers"]["accepted"] + 1, name  # + the warm-up
        assert result["checks_measured"] > 0, name
        assert 0 < result["check_p50_s"] <= result["check_p99_s"], name
        assert set(result["kinds"]) == {"evaluate", "review", "merged"}, name
    assert results[1]["db_polls"] > 0, "PostgreSQL's waits were sampled"
