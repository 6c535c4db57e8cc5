"""``eucora serve`` / ``eucora worker`` with a recording handler, for subprocess tests.

Run as ``python -m tests.support.recording_app serve|worker ...`` from the repository root with
the usual ``EUCORA_*`` environment. The handler appends ``<delivery id> <pid>`` to the file named
by ``EUCORA_TEST_RECORD`` (flushed and fsynced: a ``kill -9`` right after cannot lose it), after
sleeping ``EUCORA_TEST_HANDLER_SECONDS``; with ``EUCORA_TEST_HANDLER_BLOCK=1`` it never returns
(a worker that is killed mid-evaluation). The rest is the real composition root and server.
"""

from __future__ import annotations

import os
import sys
import time

import click

from bot.adapters.logs import configure_logging
from bot.bootstrap import Evaluation, IntakeServices, build_redactor, build_worker
from bot.core.webhooks import Delivery
from bot.entrypoints.serve import build_server, run_server
from bot.entrypoints.worker import run_worker
from bot.settings import Settings


def recording_factory(_services: IntakeServices) -> Evaluation:
    record = os.environ["EUCORA_TEST_RECORD"]
    seconds = float(os.environ.get("EUCORA_TEST_HANDLER_SECONDS", "0"))
    block = os.environ.get("EUCORA_TEST_HANDLER_BLOCK") == "1"

    def handle(delivery: Delivery) -> str:
        while block:
            time.sleep(1)
        time.sleep(seconds)
        fd = os.open(record, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, f"{delivery.delivery_id} {os.getpid()}\n".encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        return "evaluated"

    return Evaluation(handle)


@click.group()
def main() -> None:
    """Recording server and worker."""


@main.command()
@click.option("--port", type=int, required=True)
@click.option("--workers", type=int, default=1)
@click.option("--threads", type=int, default=4)
@click.option("--lease", type=float, default=300.0)
def serve(port: int, workers: int, threads: int, lease: float) -> None:
    settings = Settings.from_environ(os.environ)
    configure_logging(build_redactor(settings))
    server = build_server(settings, recording_factory, lease_seconds=lease)
    run_server(server, "127.0.0.1", port, workers, threads)


@main.command()
@click.option("--concurrency", type=int, default=2)
@click.option("--lease", type=float, default=300.0)
def worker(concurrency: int, lease: float) -> None:
    settings = Settings.from_environ(os.environ)
    configure_logging(build_redactor(settings))
    run_worker(
        build_worker(settings, recording_factory, lease_seconds=lease), concurrency=concurrency
    )


if __name__ == "__main__":
    sys.exit(main())
