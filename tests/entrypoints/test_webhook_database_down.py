"""While the database is down, ``/webhook`` answers 503 (never 202 for what it did not store) and
``/readyz`` says why; once it is back the same delivery is accepted."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.adapters.metrics import Metrics
from bot.adapters.storage import create_database_engine, upgrade_schema
from bot.adapters.storage.inbox import Inbox
from bot.bootstrap import readiness_check
from bot.entrypoints.web import DATABASE_DOWN, WebhookIntake, create_app
from tests.entrypoints.test_webhook import NoEvidence
from tests.support.postgres import running_postgres
from tests.support.webhooks import SECRET, encode, headers, pr_payload


def _app(url: str) -> tuple[object, Inbox]:
    engine = create_database_engine(url)
    inbox = Inbox(engine)
    intake = WebhookIntake(
        inbox=inbox,
        secrets=[SECRET],
        metrics=Metrics(),
        clock=lambda: datetime(2027, 1, 4, tzinfo=UTC),
        notify=lambda _id: None,
        ready=readiness_check(engine, None),
    )
    return create_app(evidence=NoEvidence(), intake=intake).test_client(), inbox


def test_a_stopped_database_gets_503_and_readyz_says_why() -> None:
    body = encode(pr_payload())
    sent = headers(body, "pull_request", "while-down")
    with running_postgres() as server:
        url = server.create_database()
        upgrade_schema(create_database_engine(url))
        client, _ = _app(url)
        assert client.get("/readyz").status_code == 200
        server_url = url
    # the server is gone (stopped and removed): nothing listens on its port
    client, _ = _app(server_url)
    response = client.post("/webhook", data=body, headers=sent)
    assert (response.status_code, response.get_data(as_text=True)) == (503, DATABASE_DOWN)
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.get_data(as_text=True).startswith("not ready: database unreachable")
