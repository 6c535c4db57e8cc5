"""The periodic redelivery: one holder of the lease at a time; a run redelivers once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

from bot.adapters.storage import create_database_engine, upgrade_schema
from bot.adapters.storage.inbox import Inbox
from bot.adapters.storage.run_lease import exclusive
from bot.flows.redeliver import LEASE_NAME, PeriodicRedelivery, redeliver_since

NOW = datetime(2027, 1, 4, 12, 0, tzinfo=UTC)


class AppLog:
    """A delivery log as GitHub lists it, recording what was asked for."""

    def __init__(self, items: list[dict]) -> None:
        self.items = items
        self.asked: list[int] = []

    def hook_deliveries(self, *, since: datetime) -> list[dict]:
        return self.items

    def redeliver(self, delivery_id: int) -> None:
        self.asked.append(delivery_id)


def item(id_: int, guid: str, code: int) -> dict:
    return {
        "id": id_,
        "guid": guid,
        "event": "pull_request",
        "action": "opened",
        "status": "OK" if code == 202 else "failed to connect",
        "status_code": code,
        "delivered_at": (NOW - timedelta(minutes=5)).isoformat(),
        "redelivery": False,
        "duration": 0.1,
        "installation_id": 1,
        "repository_id": 2,
    }


def test_the_lease_has_one_holder_at_a_time(tmp_path: Path) -> None:
    engine = create_database_engine(f"sqlite:///{tmp_path / 'eucora.db'}")
    with exclusive(engine, LEASE_NAME) as first, exclusive(engine, LEASE_NAME) as second:
        assert (first, second) == (True, False)
    with exclusive(engine, LEASE_NAME) as again:
        assert again


def test_a_periodic_run_redelivers_what_the_inbox_lacks_and_skips_while_leased(
    tmp_path: Path,
) -> None:
    engine = create_database_engine(f"sqlite:///{tmp_path / 'eucora.db'}")
    upgrade_schema(engine)
    app = AppLog([item(11, "lost", 0), item(12, "lost", 0), item(13, "fine", 202)])
    inbox = Inbox(engine)

    def run(since: datetime, min_gap: timedelta):
        return redeliver_since(app, inbox, None, since=since, now=NOW, min_gap=min_gap)

    periodic = PeriodicRedelivery(
        exclusive=partial(exclusive, engine),
        run=run,
        clock=lambda: NOW,
        interval=600,
        lookback=timedelta(hours=1),
    )
    with exclusive(engine, LEASE_NAME):  # another replica is running it
        assert periodic.run_once() is None
    assert app.asked == []
    report = periodic.run_once()
    assert report is not None
    # The newest attempt of "lost", once; "fine" GitHub delivered, but the inbox never stored it.
    assert sorted(app.asked) == [12, 13]
    assert sorted((c.guid, c.reason) for c in report.requested) == [
        ("fine", "not stored"),
        ("lost", "failed"),
    ]
