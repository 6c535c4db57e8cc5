"""JSON logs with the delivery id; metrics counted in files and added up across processes."""

from __future__ import annotations

import io
import json
import logging
import multiprocessing
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import values

from bot.adapters.logs import bound_delivery, configure_logging
from bot.adapters.metrics import Metrics, multiprocess_directory, use_multiprocess_directory
from bot.core.redact import Redactor


def test_log_lines_are_json_with_the_delivery_id() -> None:
    stream = io.StringIO()
    handler = configure_logging(Redactor(["s3cr3t-value"]), stream=stream)
    again = configure_logging(Redactor(["s3cr3t-value"]), stream=stream)  # replaces, not adds
    try:
        assert handler not in logging.getLogger().handlers
        log = logging.getLogger("eucora.test")
        with bound_delivery("d-42"):
            log.info("hello %s", "s3cr3t-value", extra={"pr": 7})
        log.info("outside")
    finally:
        logging.getLogger().removeHandler(again)
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert (first["message"], first["delivery_id"], first["pr"], first["level"]) == (
        "hello [redacted]",
        "d-42",
        7,
        "INFO",
    )
    assert "delivery_id" not in second


def test_alembic_says_only_what_matters(tmp_path: Path) -> None:
    """Opening a database logs no "setup plugin" or "Context impl" lines; warnings still pass."""
    from bot.adapters.storage import create_database_engine, upgrade_schema
    from bot.adapters.storage.db import check_schema

    stream = io.StringIO()
    handler = configure_logging(Redactor([]), stream=stream)
    try:
        engine = create_database_engine(f"sqlite:///{tmp_path / 'e.db'}")
        upgrade_schema(engine)
        check_schema(engine)
        engine.dispose()
        logging.getLogger("alembic.runtime.migration").warning("a real problem")
    finally:
        logging.getLogger().removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [
        (line["name"], line["message"]) for line in lines if line["name"].startswith("alembic")
    ] == [("alembic.runtime.migration", "a real problem")]


def _count_in_child(directory: str) -> None:
    use_multiprocess_directory(Path(directory))
    metrics = Metrics()
    metrics.signature_failure()
    metrics.delivery("pull_request", "accepted")


@pytest.fixture
def multiprocess(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    directory = tmp_path / "metrics"
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    saved = values.ValueClass
    try:
        (directory / "stale.db").parent.mkdir(parents=True)
        (directory / "stale.db").write_bytes(b"old run")
        use_multiprocess_directory(directory, clear=True)
        yield directory
    finally:
        values.ValueClass = saved
        os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)  # set by use_multiprocess_directory


def test_counts_from_several_processes_add_up(multiprocess: Path) -> None:
    assert multiprocess_directory() == multiprocess
    assert not (multiprocess / "stale.db").exists()
    context = multiprocessing.get_context("spawn")
    children = [
        context.Process(target=_count_in_child, args=(str(multiprocess),)) for _ in range(3)
    ]
    for child in children:
        child.start()
    for child in children:
        child.join(60)
    assert [c.exitcode for c in children] == [0, 0, 0]
    metrics = Metrics(
        depth=lambda: {"pending": 2, "running": 0},
        publications=lambda: {"failed": 1, "succeeded": 4},
    )
    metrics.signature_failure()
    text = metrics.exposition().decode()
    assert 'eucora_publications{status="failed"} 1.0' in text
    assert 'eucora_publications{status="succeeded"} 4.0' in text
    assert "eucora_webhook_signature_failures_total 4.0" in text
    assert 'eucora_webhook_deliveries_total{event="pull_request",outcome="accepted"} 3.0' in text
    assert 'eucora_inbox_depth{status="pending"} 2.0' in text
