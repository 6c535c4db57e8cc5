"""POST /webhook, /readyz and /metrics through Flask's test client, over a real SQLite inbox."""

from __future__ import annotations

import io
import json
import logging
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import Engine, select

from bot.adapters.inbox_worker import DeliveryProcessor
from bot.adapters.logs import configure_logging
from bot.adapters.metrics import Metrics
from bot.adapters.storage import AuditLog, create_database_engine, downgrade_schema, upgrade_schema
from bot.adapters.storage.db import head_revision
from bot.adapters.storage.inbox import Inbox
from bot.adapters.storage.tables import audit_events
from bot.bootstrap import readiness_check
from bot.core.redact import Redactor
from bot.core.webhooks import Delivery, sign
from bot.entrypoints.web import INTERNAL_ERROR, WebhookIntake, create_app
from tests.support.canaries import PLANE_SECRETS, TOKENS, WEBHOOK_SECRET, leaks
from tests.support.webhooks import SECRET, encode, example, headers, pr_payload

T0 = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)


class NoEvidence:
    def get(self, digest: str) -> bytes | None:
        return None


class BrokenEvidence:
    def get(self, digest: str) -> bytes | None:
        raise RuntimeError(f"disk on fire, token {TOKENS['ghs-long']} key {TOKENS['pem']}")


class Wakeups:
    def __init__(self, *, fail: bool = False) -> None:
        self.ids: list[str] = []
        self.fail = fail

    def __call__(self, delivery_id: str) -> None:
        if self.fail:
            raise ConnectionError("broker down")
        self.ids.append(delivery_id)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    built = create_database_engine(f"sqlite:///{tmp_path / 'eucora.db'}")
    upgrade_schema(built)
    yield built
    built.dispose()


@pytest.fixture
def wakeups() -> Wakeups:
    return Wakeups()


@pytest.fixture
def intake(engine: Engine, wakeups: Wakeups) -> WebhookIntake:
    inbox = Inbox(engine)
    return WebhookIntake(
        inbox=inbox,
        secrets=[SECRET],
        metrics=Metrics(depth=inbox.depth),
        clock=lambda: T0,
        notify=wakeups,
        ready=readiness_check(engine, None),
        audit=AuditLog(engine),
    )


@pytest.fixture
def app(intake: WebhookIntake) -> Flask:
    return create_app(evidence=NoEvidence(), intake=intake)


def post(
    app: Flask,
    payload: dict | bytes,
    event: str = "pull_request",
    delivery: str = "d-1",
    **overrides: str | None,
):
    body = payload if isinstance(payload, bytes) else encode(payload)
    sent = headers(body, event, delivery)
    for name, value in overrides.items():
        key = name.replace("_", "-")
        if value is None:
            sent.pop(key, None)
        else:
            sent[key] = value
    return app.test_client().post("/webhook", data=body, headers=sent)


def audit_rows(engine: Engine) -> list[dict]:
    with engine.connect() as connection:
        return [dict(r._mapping) for r in connection.execute(select(audit_events))]


def test_a_pull_request_is_stored_then_acknowledged(
    app: Flask, intake: WebhookIntake, wakeups: Wakeups, engine: Engine
) -> None:
    response = post(app, pr_payload(), delivery="72d3162e-cc78-11e3-81ab-4c9367dc0958")
    assert (response.status_code, response.get_data(as_text=True)) == (202, "accepted")
    assert response.mimetype == "text/plain"
    row = intake.inbox.get("72d3162e-cc78-11e3-81ab-4c9367dc0958")
    assert row is not None
    assert (row["status"], row["repository"], row["pr"], row["kind"]) == (
        "pending",
        "acme/intents",
        7,
        "evaluate",
    )
    assert wakeups.ids == ["72d3162e-cc78-11e3-81ab-4c9367dc0958"]
    # An accepted delivery is audited once, when the worker settles it, with its outcome.
    assert audit_rows(engine) == []
    processor = DeliveryProcessor(
        inbox=intake.inbox,
        handler=lambda d: "evaluated",
        metrics=intake.metrics,
        audit=intake.audit,
        clock=lambda: T0,
    )
    assert processor.drain() == 1
    [event] = audit_rows(engine)
    assert event["correlation_id"] == "72d3162e-cc78-11e3-81ab-4c9367dc0958"
    assert (event["type"], event["repository"], event["pr"], event["head_sha"]) == (
        "webhook.processed",
        "acme/intents",
        7,
        "a" * 40,
    )
    assert json.loads(event["payload"]) == {
        "event": "pull_request",
        "action": "synchronize",
        "kind": "evaluate",
        "outcome": "evaluated",
        "attempts": 1,
        "collapsed": [],
        "superseded": [],
    }


def test_ping_answers_200_and_is_audited_not_queued(
    app: Flask, intake: WebhookIntake, engine: Engine
) -> None:
    response = post(app, example("ping"), event="ping")
    assert (response.status_code, response.get_data(as_text=True)) == (200, "pong")
    assert intake.inbox.rows() == []
    assert [json.loads(r["payload"])["outcome"] for r in audit_rows(engine)] == ["pong"]


def test_unhandled_events_are_acknowledged_and_recorded_as_ignored(
    app: Flask, intake: WebhookIntake, wakeups: Wakeups, engine: Engine
) -> None:
    response = post(app, example("push"), event="push", delivery="push-1")
    assert (response.status_code, response.get_data(as_text=True)) == (202, "ignored")
    row = intake.inbox.get("push-1")
    assert row is not None
    assert (row["status"], row["error"]) == ("ignored", "EUCORA does not handle push")
    assert wakeups.ids == []
    [event] = audit_rows(engine)
    assert (event["type"], event["correlation_id"]) == ("webhook.received", "push-1")
    assert json.loads(event["payload"])["outcome"] == "ignored"


@pytest.mark.parametrize(
    ("override", "reason"),
    [
        ({"X_Hub_Signature_256": None}, "missing X-Hub-Signature-256 header"),
        (
            {"X_Hub_Signature_256": "sha1=" + "0" * 40},
            "X-Hub-Signature-256 must be sha256=<hex>, not a sha1= signature",
        ),
        (
            {"X_Hub_Signature_256": sign(b"other", SECRET)},
            "X-Hub-Signature-256 does not match the body (wrong secret or altered body)",
        ),
        (
            {"X_Hub_Signature_256": "sha256=xyz"},
            "X-Hub-Signature-256 must hold 64 hex digits, not 3 characters",
        ),
    ],
)
def test_bad_signatures_are_refused_before_anything_is_stored(
    app: Flask, intake: WebhookIntake, engine: Engine, override: dict, reason: str
) -> None:
    response = post(app, pr_payload(), **override)
    assert (response.status_code, response.get_data(as_text=True)) == (401, reason)
    assert intake.inbox.rows() == []
    assert audit_rows(engine) == []
    metrics = app.test_client().get("/metrics").get_data(as_text=True)
    assert "eucora_webhook_signature_failures_total 1.0" in metrics


def test_signature_is_checked_before_the_body_is_parsed(app: Flask) -> None:
    response = post(app, b"{not json", X_Hub_Signature_256="sha256=" + "0" * 64)
    assert response.status_code == 401


@pytest.mark.parametrize(
    ("override", "reason"),
    [
        ({"X_GitHub_Delivery": None}, "Missing X-GitHub-Delivery header."),
        (
            {"X_GitHub_Delivery": "a b"},
            "X-GitHub-Delivery must be 1-100 letters, digits, '-', '_' or '.'.",
        ),
        (
            {"X_GitHub_Delivery": "x" * 101},
            "X-GitHub-Delivery must be 1-100 letters, digits, '-', '_' or '.'.",
        ),
        ({"X_GitHub_Event": None}, "Missing X-GitHub-Event header."),
        (
            {"X_GitHub_Event": "Pull-Request"},
            "X-GitHub-Event must be 1-100 lower-case letters, digits or '_'.",
        ),
    ],
)
def test_missing_or_bad_headers_are_400(
    app: Flask, intake: WebhookIntake, override: dict, reason: str
) -> None:
    response = post(app, pr_payload(), **override)
    assert (response.status_code, response.get_data(as_text=True)) == (400, reason)
    assert intake.inbox.rows() == []


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (
            b"{",
            "body is not JSON: Expecting property name enclosed in double quotes at line 1 column 2",
        ),
        (b"[]", "body is JSON but not an object (list)"),
        (b"\xff", "body is not UTF-8 (byte 0)"),
        (
            b'{"action": "opened", "number": ' + b"7" * 5000 + b"}",
            "body is not JSON EUCORA reads: an integer of 5,000 digits (at most 4,300)",
        ),
    ],
)
def test_malformed_json_is_400_with_one_line(
    app: Flask, intake: WebhookIntake, body: bytes, reason: str
) -> None:
    response = post(app, body)
    assert (response.status_code, response.get_data(as_text=True)) == (400, reason)
    assert intake.inbox.rows() == []


def test_an_unexpected_failure_is_a_500_that_does_not_speak_of_evidence(
    intake: WebhookIntake,
) -> None:
    """The webhook's 500 said "the evidence could not be shown" (issue 14, finding 9)."""

    def stopped_clock() -> datetime:
        raise OSError("the clock stopped")

    app = create_app(evidence=NoEvidence(), intake=replace(intake, clock=stopped_clock))
    response = post(app, pr_payload())
    body = response.get_data(as_text=True)
    assert response.status_code == 500
    assert "evidence" not in body
    assert body == "Internal error: the request could not be handled; it is logged."


def test_bodies_over_25_mb_are_413(app: Flask, intake: WebhookIntake) -> None:
    body = b'{"x": "' + b"a" * (25 * 1024 * 1024) + b'"}'
    response = post(app, body)
    assert response.status_code == 413
    assert "25 MB" in response.get_data(as_text=True)
    assert intake.inbox.rows() == []


def test_duplicate_delivery_100_times_from_20_threads_is_one_row_and_one_run(
    app: Flask, intake: WebhookIntake
) -> None:
    body = encode(pr_payload())
    sent = headers(body, "pull_request", "dup-1")
    statuses: list[tuple[int, str]] = []
    lock = threading.Lock()

    def send() -> None:
        client = app.test_client()
        for _ in range(5):
            response = client.post("/webhook", data=body, headers=sent)
            with lock:
                statuses.append((response.status_code, response.get_data(as_text=True)))

    threads = [threading.Thread(target=send) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert Counter(statuses) == {(202, "accepted"): 1, (202, "duplicate"): 99}
    assert len(intake.inbox.rows()) == 1
    runs: list[str] = []
    processor = DeliveryProcessor(
        inbox=intake.inbox,
        handler=lambda d: runs.append(d.delivery_id) or "evaluated",
        metrics=intake.metrics,
        clock=lambda: T0,
    )
    assert processor.drain() == 1
    assert processor.drain() == 0
    assert runs == ["dup-1"]
    metrics = app.test_client().get("/metrics").get_data(as_text=True)
    assert 'eucora_webhook_duplicates_total{kind="duplicate"} 99.0' in metrics


def test_same_body_under_10_new_delivery_ids_is_a_replay(app: Flask, intake: WebhookIntake) -> None:
    body = encode(pr_payload())
    assert post(app, body, delivery="original").status_code == 202
    answers = [post(app, body, delivery=f"replay-{i}").get_data(as_text=True) for i in range(10)]
    assert answers == ["replay"] * 10
    runs: list[Delivery] = []
    processor = DeliveryProcessor(
        inbox=intake.inbox,
        handler=lambda d: runs.append(d) or "evaluated",
        metrics=intake.metrics,
        clock=lambda: T0,
    )
    processor.drain()
    assert [d.delivery_id for d in runs] == ["original"]
    assert [r["delivery_id"] for r in intake.inbox.rows()] == ["original"]


def test_the_same_body_after_the_replay_window_is_a_new_delivery(engine: Engine) -> None:
    """GitHub signs no time: an identical body is a replay for five minutes, then it runs again."""
    now = [T0]
    inbox = Inbox(engine)
    intake = WebhookIntake(
        inbox=inbox,
        secrets=[SECRET],
        metrics=Metrics(depth=inbox.depth),
        clock=lambda: now[0],
        notify=Wakeups(),
        ready=readiness_check(engine, None),
        audit=AuditLog(engine),
    )
    app = create_app(evidence=NoEvidence(), intake=intake)
    body = encode(pr_payload())
    answers = [post(app, body, delivery="first").get_data(as_text=True)]
    now[0] = T0 + timedelta(minutes=5) - timedelta(microseconds=1)
    answers.append(post(app, body, delivery="within").get_data(as_text=True))
    now[0] = T0 + timedelta(minutes=5)
    answers.append(post(app, body, delivery="after").get_data(as_text=True))
    answers.append(post(app, body, delivery="first").get_data(as_text=True))
    assert answers == ["accepted", "replay", "accepted", "duplicate"]
    assert [r["delivery_id"] for r in inbox.rows()] == ["first", "after"]
    outcomes = [
        (r["correlation_id"], json.loads(r["payload"])["outcome"]) for r in audit_rows(engine)
    ]
    assert outcomes == [("within", "replay"), ("first", "duplicate")]


def test_a_broker_that_is_down_does_not_lose_the_delivery(engine: Engine) -> None:
    inbox = Inbox(engine)
    intake = WebhookIntake(
        inbox=inbox,
        secrets=[SECRET],
        metrics=Metrics(),
        clock=lambda: T0,
        notify=Wakeups(fail=True),
        ready=lambda: None,
    )
    app = create_app(evidence=NoEvidence(), intake=intake)
    assert post(app, pr_payload()).status_code == 202
    assert inbox.get("d-1") is not None


def test_rotation_accepts_the_previous_secret(engine: Engine) -> None:
    inbox = Inbox(engine)
    intake = WebhookIntake(
        inbox=inbox,
        secrets=["new-secret", SECRET],
        metrics=Metrics(),
        clock=lambda: T0,
        notify=Wakeups(),
        ready=lambda: None,
    )
    app = create_app(evidence=NoEvidence(), intake=intake)
    assert post(app, pr_payload()).status_code == 202


def test_readyz(app: Flask, engine: Engine) -> None:
    response = app.test_client().get("/readyz")
    assert (response.status_code, response.get_data(as_text=True)) == (200, "ready")
    downgrade_schema(engine, "0001_audit")
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_data(as_text=True) == (
        "not ready: database schema is at 0001_audit,"
        f" EUCORA needs {head_revision()}: run `eucora db upgrade`"
    )


def test_readyz_reports_an_unreachable_database(tmp_path: Path) -> None:
    broken = create_database_engine(f"sqlite:///{tmp_path}/missing/dir/x.db")
    (tmp_path / "missing" / "dir").rmdir()
    check = readiness_check(broken, None)
    assert check() == "database unreachable (OperationalError)"


def test_readyz_never_raises(engine: Engine) -> None:
    def explode() -> str | None:
        raise RuntimeError("boom")

    intake = WebhookIntake(
        inbox=Inbox(engine),
        secrets=[SECRET],
        metrics=Metrics(),
        clock=lambda: T0,
        notify=Wakeups(),
        ready=explode,
    )
    response = create_app(evidence=NoEvidence(), intake=intake).test_client().get("/readyz")
    assert (response.status_code, response.get_data(as_text=True)) == (
        503,
        "not ready: readiness check failed: RuntimeError",
    )


def test_metrics_count_deliveries_and_inbox_depth(app: Flask) -> None:
    post(app, pr_payload(), delivery="a")
    post(app, example("push"), event="push", delivery="b")
    post(app, pr_payload(), delivery="a")
    text = app.test_client().get("/metrics").get_data(as_text=True)
    assert 'eucora_webhook_deliveries_total{event="pull_request",outcome="accepted"} 1.0' in text
    assert 'eucora_webhook_deliveries_total{event="push",outcome="ignored"} 1.0' in text
    assert 'eucora_webhook_deliveries_total{event="pull_request",outcome="duplicate"} 1.0' in text
    assert 'eucora_inbox_depth{status="pending"} 1.0' in text
    assert "eucora_evaluation_duration_seconds" in text


def test_no_secret_reaches_logs_or_error_pages(engine: Engine) -> None:
    """Canaries in a failing handler, a failing evidence store and a signature refusal."""
    stream = io.StringIO()
    handler = configure_logging(Redactor([WEBHOOK_SECRET, *PLANE_SECRETS.values()]), stream=stream)
    try:
        inbox = Inbox(engine, max_attempts=1)
        metrics = Metrics(depth=inbox.depth)
        intake = WebhookIntake(
            inbox=inbox,
            secrets=[WEBHOOK_SECRET],
            metrics=metrics,
            clock=lambda: T0,
            notify=Wakeups(),
            ready=lambda: None,
            audit=AuditLog(engine),
        )
        app = create_app(evidence=BrokenEvidence(), intake=intake)
        client = app.test_client()
        page = client.get("/evidence/sha256:" + "0" * 64)
        assert (page.status_code, page.get_data(as_text=True)) == (500, INTERNAL_ERROR)
        body = encode(pr_payload())
        refused = client.post(
            "/webhook",
            data=body,
            headers=headers(body, "pull_request", "x-1", secret="wrong"),  # noqa: S106
        )
        assert refused.status_code == 401
        assert (
            client.post(
                "/webhook",
                data=body,
                headers=headers(body, "pull_request", "x-2", secret=WEBHOOK_SECRET),
            ).status_code
            == 202
        )

        def leaky(delivery: Delivery) -> str:
            raise RuntimeError("GitHub said no to " + " ".join(TOKENS.values()))

        processor = DeliveryProcessor(
            inbox=inbox,
            handler=leaky,
            metrics=metrics,
            audit=AuditLog(engine),
            redactor=Redactor([WEBHOOK_SECRET, *PLANE_SECRETS.values()]),
            clock=lambda: T0,
        )
        processor.drain()
        logging.getLogger("eucora.test").error("planted %s", " ".join(TOKENS.values()))
    finally:
        logging.getLogger().removeHandler(handler)
    output = stream.getvalue()
    lines = [json.loads(line) for line in output.splitlines()]
    assert any(line.get("delivery_id") == "x-2" for line in lines)
    assert any("RuntimeError" in line.get("exc_info", "") for line in lines)
    assert leaks(output) == []
    row = inbox.get("x-2")
    assert row is not None
    assert row["status"] == "failed"
    assert leaks(row["error"]) == []
    assert leaks(json.dumps(audit_rows(engine))) == []
    assert leaks(app.test_client().get("/metrics").get_data(as_text=True)) == []


def test_without_intake_the_webhook_routes_are_absent() -> None:
    app = create_app(evidence=NoEvidence())
    assert app.test_client().post("/webhook").status_code in {404, 405}
    assert app.test_client().get("/metrics").status_code == 404
