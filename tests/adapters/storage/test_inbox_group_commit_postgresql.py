"""PostgreSQL: the stores waiting in a replica share one transaction and one commit, each
answered only once its row is committed; a failed batch answers every store in it with the error;
duplicates and replays are caught inside a batch as they would be alone.

Against the session's real PostgreSQL. A separate session holds the advisory locks of the bodies
(the ones a store takes before it checks and inserts), so the stores queue up one by one; the
transactions that committed the rows are counted from the rows themselves (``xmin``: the rows
one transaction inserted share it).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from bot.adapters.storage import create_database_engine, upgrade_schema
from bot.adapters.storage.inbox import _BODY_LOCK_SPACE, Inbox, Stored
from bot.core.webhooks import body_digest
from tests.adapters.storage.test_inbox import T0, routing
from tests.support.postgres import PostgresServer, postgres_server  # noqa: F401 - a fixture

STORES = 8
DEADLINE = 30.0


@pytest.fixture
def database(postgres_server: PostgresServer) -> Iterator[tuple[Engine, str]]:  # noqa: F811
    url = postgres_server.create_database()
    engine = create_database_engine(url)
    upgrade_schema(engine)
    yield engine, url.replace("postgresql+psycopg://", "postgresql://")
    engine.dispose()
    postgres_server.drop_database(url.rsplit("/", 1)[1])


def _key(body: bytes) -> int:
    return int(body_digest(body)[:8], 16) - 2**31


class Stores:
    """Stores started one at a time while another session holds their bodies' locks."""

    def __init__(self, engine: Engine, dsn: str) -> None:
        self.inbox = Inbox(engine)
        self.dsn = dsn
        self.blocker = psycopg.connect(dsn, autocommit=True)
        self.answers: dict[str, Stored | BaseException] = {}
        self.committed_when_answered: dict[str, bool] = {}
        self.threads: list[threading.Thread] = []

    def hold(self, bodies: list[bytes]) -> None:
        for key in sorted({_key(b) for b in bodies}):
            self.blocker.execute("SELECT pg_advisory_lock(%s, %s)", (_BODY_LOCK_SPACE, key))

    def release(self) -> None:
        self.blocker.execute("SELECT pg_advisory_unlock_all()")
        for thread in self.threads:
            thread.join(DEADLINE)
        self.blocker.close()

    def _blocked(self) -> int:
        with psycopg.connect(self.dsn, autocommit=True) as probe:
            [count] = probe.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND wait_event_type = 'Lock' AND wait_event = 'advisory'"
            ).fetchone() or (0,)
        return int(count)

    def start(self, delivery_id: str, body: bytes, label: str | None = None) -> None:
        """Start a store and wait until it waits: on a lock, or queued behind a batch.

        Its answer is kept under ``label`` (the delivery id unless given)."""
        label = label or delivery_id

        def store() -> None:
            try:
                self.answers[label] = self.inbox.store(
                    delivery_id=delivery_id,
                    routing=routing(pr=len(self.threads)),
                    body=body,
                    body_sha256=body_digest(body),
                    received_at=T0,
                )
            except DBAPIError as error:
                self.answers[label] = error
                return
            with psycopg.connect(self.dsn, autocommit=True) as reader:  # only committed rows
                seen = reader.execute(
                    "SELECT 1 FROM inbox WHERE delivery_id = %s", (delivery_id,)
                ).fetchone()
            self.committed_when_answered[label] = seen is not None

        thread = threading.Thread(target=store)
        self.threads.append(thread)
        thread.start()
        deadline = time.monotonic() + DEADLINE
        while self._blocked() + len(self.inbox._waiting) < len(self.threads):
            assert time.monotonic() < deadline, "the store did not wait"
            time.sleep(0.02)

    def transactions(self) -> int:
        """How many transactions committed the inbox's rows."""
        with psycopg.connect(self.dsn, autocommit=True) as reader:
            [count] = reader.execute("SELECT count(DISTINCT xmin::text) FROM inbox").fetchone() or (
                0,
            )
        return int(count)


def test_stores_waiting_together_share_one_commit_each_answered_once_committed(
    database: tuple[Engine, str],
) -> None:
    engine, dsn = database
    stores = Stores(engine, dsn)
    bodies = {f"d-{n}": f'{{"n": {n}}}'.encode() for n in range(STORES)}
    stores.hold(list(bodies.values()))
    for delivery_id, body in bodies.items():
        stores.start(delivery_id, body)
    assert stores.answers == {}  # nobody is answered while nothing is committed
    stores.release()

    assert stores.answers == dict.fromkeys(bodies, Stored.STORED)
    assert stores.committed_when_answered == dict.fromkeys(bodies, True)
    assert {r["delivery_id"] for r in stores.inbox.rows()} == set(bodies)
    # The first two began a batch each (two commit at once), alone; the six queued behind
    # them share the third: not one transaction per delivery.
    assert stores.transactions() <= 3, stores.transactions()


def test_a_failed_batch_answers_every_store_in_it_with_the_error(
    database: tuple[Engine, str],
) -> None:
    engine, dsn = database
    stores = Stores(engine, dsn)
    bodies = {f"e-{n}": f'{{"e": {n}}}'.encode() for n in range(STORES)}
    stores.hold(list(bodies.values()))
    for delivery_id, body in bodies.items():
        stores.start(delivery_id, body)
    with engine.begin() as connection:  # the database refuses every insert from now on
        connection.execute(
            text(
                "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS"
                " $$ BEGIN RAISE EXCEPTION 'the disk is full'; END $$"
            )
        )
        connection.execute(
            text(
                "CREATE TRIGGER refuse BEFORE INSERT ON inbox FOR EACH ROW EXECUTE FUNCTION refuse()"
            )
        )
    stores.release()

    assert set(stores.answers) == set(bodies)
    assert all(isinstance(a, DBAPIError) for a in stores.answers.values()), stores.answers
    assert "the disk is full" in str(next(iter(stores.answers.values())))
    assert stores.inbox.rows() == []


def test_a_duplicate_and_a_replay_queued_together_are_caught(
    database: tuple[Engine, str],
) -> None:
    engine, dsn = database
    stores = Stores(engine, dsn)
    body, other = b'{"same": true}', b'{"other": true}'
    stores.hold([body, other])
    stores.start("first", body)
    stores.start("other", other)
    stores.start("first", body, label="first again")  # GitHub's redelivery: the same id
    stores.start("replayed", body)  # the same body under another id: a replay
    stores.start("other-again", other)
    stores.release()

    assert stores.answers == {
        "first": Stored.STORED,
        "first again": Stored.DUPLICATE,
        "other": Stored.STORED,
        "replayed": Stored.REPLAY,
        "other-again": Stored.REPLAY,
    }
    assert sorted(r["delivery_id"] for r in stores.inbox.rows()) == ["first", "other"]


def test_a_refused_insert_is_an_error_never_a_duplicate(database: tuple[Engine, str]) -> None:
    engine, _ = database
    with engine.begin() as connection:  # any constraint the row breaks, not the delivery id
        connection.execute(text("ALTER TABLE inbox ADD CONSTRAINT refuse CHECK (false) NOT VALID"))
    inbox = Inbox(engine)
    body = b'{"refused": true}'
    with pytest.raises(DBAPIError, match="refuse"):
        inbox.store(
            delivery_id="refused",
            routing=routing(),
            body=body,
            body_sha256=body_digest(body),
            received_at=T0,
        )
    assert inbox.rows() == []
