"""SQLite's writers hand over through a ``flock`` beside the database, across processes.

The busy handler SQLite would use instead sleeps in steps of up to 100 ms; the lock file wakes
the waiter when the holder lets go, in whichever process, and dies with a killed holder.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from bot.adapters.storage import create_database_engine
from bot.adapters.storage.db import write_transaction
from bot.adapters.storage.sqlite_writers import sqlite_writers, writers_lock_path

ROOT = Path(__file__).resolve().parents[3]
HOLDER = """
import sys
from bot.adapters.storage import create_database_engine
from bot.adapters.storage.sqlite_writers import sqlite_writers
with sqlite_writers(create_database_engine(sys.argv[1])):
    print("held", flush=True)
    sys.stdin.readline()
print("released", flush=True)
"""


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    built = create_database_engine(f"sqlite:///{tmp_path / 'eucora.db'}")
    with built.begin() as connection:
        connection.execute(text("CREATE TABLE marks (n INTEGER)"))
    yield built
    built.dispose()


@pytest.fixture
def holder(engine: Engine) -> Iterator[subprocess.Popen[str]]:
    """Another process holding the writers' lock until it reads a line (or is killed)."""
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(engine.url)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "held"
    yield process
    process.kill()
    process.wait(10)


def _writer(engine: Engine, entered: threading.Event) -> threading.Thread:
    def write() -> None:
        with write_transaction(engine, 0) as connection:
            entered.set()
            connection.execute(text("INSERT INTO marks VALUES (1)"))

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    return thread


def test_the_lock_file_sits_beside_the_database(engine: Engine) -> None:
    assert writers_lock_path(engine) == f"{engine.url.database}-writers"
    memory = create_database_engine("sqlite://")
    assert writers_lock_path(memory) is None
    with sqlite_writers(memory), write_transaction(memory, 0) as connection:
        assert connection.execute(text("SELECT 1")).scalar() == 1


def test_a_writer_waits_for_another_process_then_goes_as_it_lets_go(
    engine: Engine, holder: subprocess.Popen[str]
) -> None:
    entered = threading.Event()
    thread = _writer(engine, entered)
    assert not entered.wait(0.5), "wrote while another process held the writers' lock"
    assert holder.stdin is not None
    assert holder.stdout is not None
    holder.stdin.write("go\n")
    holder.stdin.flush()
    assert holder.stdout.readline().strip() == "released"
    assert entered.wait(10)
    thread.join(10)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM marks")).scalar() == 1


def test_a_killed_holder_lets_the_writers_go(engine: Engine, holder: subprocess.Popen[str]) -> None:
    entered = threading.Event()
    thread = _writer(engine, entered)
    assert not entered.wait(0.3)
    holder.send_signal(signal.SIGKILL)
    assert entered.wait(10), "a killed holder kept the lock"
    thread.join(10)


def test_threads_of_one_process_exclude_each_other(engine: Engine) -> None:
    inside = [0]
    most = [0]
    guard = threading.Lock()

    def work() -> None:
        for _ in range(50):
            with sqlite_writers(engine):
                with guard:
                    inside[0] += 1
                    most[0] = max(most[0], inside[0])
                time.sleep(0.001)  # another thread would be inside now, were it let in
                with guard:
                    inside[0] -= 1

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert most[0] == 1


def test_a_nested_write_on_the_same_thread_does_not_wait_for_itself(engine: Engine) -> None:
    done = threading.Event()

    def nested() -> None:
        with sqlite_writers(engine), sqlite_writers(engine):
            done.set()

    threading.Thread(target=nested, daemon=True).start()
    assert done.wait(10)
    entered = threading.Event()  # and it was released after the outer block
    _writer(engine, entered).join(10)
    assert entered.is_set()
