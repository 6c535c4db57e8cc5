"""A real Celery worker carrying both EUCORA tasks, with recording callables, for subprocess tests.

Run as ``python -m tests.support.publish_worker NAME`` from the repository root with:

* ``EUCORA_BROKER_URL``: the Redis broker;
* ``EUCORA_TEST_RECORD``: a file each run appends ``<kind> <id> <pid> <unix time>`` lines to
  (fsynced, so a ``kill -9`` right after cannot lose them); kinds: ``deliver`` (the delivery task
  ran), ``publish`` (the publish task ran), ``block`` (the run is blocked forever, see below);
* ``EUCORA_TEST_BLOCK_ONCE`` (optional): a marker file; the first run to rename it away blocks
  forever (a worker killed mid-publish), every later run records ``publish`` as usual;
* ``EUCORA_TEST_FAIL_ID`` (optional): the run for this publication id raises;
* ``EUCORA_TEST_VISIBILITY`` (optional): a short visibility timeout, restored every second (to
  watch Redis hand back the messages of a worker whose main process died).

The app is the real one (``bot.adapters.queue.create_celery``), run by ``run_celery_worker`` with\n``worker_argv`` (both queues); the process exits with the worker's code.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path

from bot.adapters.queue import create_celery, run_celery_worker, worker_argv


def record(kind: str, ident: object) -> None:
    fd = os.open(os.environ["EUCORA_TEST_RECORD"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{kind} {ident} {os.getpid()} {time.time():.6f}\n".encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def deliver(delivery_id: str) -> None:
    record("deliver", delivery_id)


def publish(publication_id: int) -> None:
    marker = os.environ.get("EUCORA_TEST_BLOCK_ONCE")
    if marker:
        try:
            Path(marker).rename(f"{marker}.taken")
        except FileNotFoundError:
            pass
        else:
            record("block", publication_id)
            while True:
                time.sleep(1)
    if str(publication_id) == os.environ.get("EUCORA_TEST_FAIL_ID"):
        message = f"run failed on purpose for publication {publication_id}"
        raise RuntimeError(message)
    record("publish", publication_id)


def main(name: str) -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(name)s %(message)s")
    app = create_celery(os.environ["EUCORA_BROKER_URL"], deliver, publish=publish)
    visibility = os.environ.get("EUCORA_TEST_VISIBILITY")
    if visibility:
        app.conf.broker_transport_options = {
            "visibility_timeout": float(visibility),
            "unacked_restore_interval": 1,
            "unacked_restore_throttle": 1,
        }
    return run_celery_worker(app, worker_argv(concurrency=1, hostname=f"{name}@%h"))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
