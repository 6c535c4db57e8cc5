"""``eucora db copy --to URL``: SQLite → a real PostgreSQL, every table, the chain verified there."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine

from bot.adapters.audit_keys import load_or_create_signer
from bot.adapters.storage import AuditLog, create_database_engine, upgrade_schema
from bot.adapters.storage.inbox import Inbox
from bot.adapters.storage.reviews import LedgerEntry, ReviewLedger
from bot.core.approvals import Review, ReviewState
from bot.core.audit_events import AuditEventType
from bot.core.webhooks import body_digest, route_delivery
from bot.entrypoints.cli import cli
from tests.support.postgres import PostgresServer, postgres_server  # noqa: F401 - the fixture
from tests.support.webhooks import encode, pr_payload

T0 = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)
REPO = "acme/intents"


def _populate(home: Path) -> Engine:
    """A SQLite database with audit events, two signed checkpoints, the ledger and the inbox."""
    engine = create_database_engine(f"sqlite:///{home / 'eucora.db'}")
    upgrade_schema(engine)
    audit, signer = AuditLog(engine), load_or_create_signer(home)
    for n in range(7):
        audit.append(
            type=AuditEventType.WEBHOOK_PROCESSED,
            actor="eucora",
            correlation_id=f"d{n}",
            repository=REPO,
            pr=n,
            head_sha="a" * 40,
            payload={"n": n},
            time=T0 + timedelta(seconds=n),
        )
        if n in (2, 6):
            audit.checkpoint(signer, time=T0 + timedelta(seconds=n))
    ledger = ReviewLedger(engine)
    for review_id, state in ((11, ReviewState.APPROVED), (12, ReviewState.CHANGES_REQUESTED)):
        ledger.record(
            LedgerEntry(
                installation_id=42,
                repository=REPO,
                pr=7,
                review=Review(
                    id=review_id,
                    reviewer="carol",
                    reviewer_is_bot=False,
                    state=state,
                    commit_id="b" * 40,
                    content_hash="sha256:" + "c" * 64,
                    submitted_at=T0,
                ),
                action="submitted",
                pr_head_sha="b" * 40,
                recorded_at=T0,
            )
        )
    inbox = Inbox(engine)
    for n in range(3):
        payload = pr_payload(pr=n + 1)
        body = encode(payload)
        inbox.store(
            delivery_id=f"copy-{n}",
            routing=route_delivery("pull_request", payload),
            body=body,
            body_sha256=body_digest(body),
            received_at=T0,
        )
    return engine


def _run(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def test_copy_to_postgresql_keeps_the_chain_the_ledger_and_the_inbox(
    tmp_path: Path,
    postgres_server: PostgresServer,  # noqa: F811 - the fixture
) -> None:
    home = tmp_path / "home"
    source = _populate(home)
    target_url = postgres_server.create_database()
    env = {"EUCORA_HOME": str(home), "EUCORA_DATABASE_URL": ""}

    code, out, err = _run(env, "db", "copy", "--to", target_url)
    assert (code, err) == (0, "")
    assert "audit_events: 7 row(s)" in out
    assert "audit_checkpoints: 2 row(s)" in out
    assert "review_ledger: 2 row(s)" in out
    assert "inbox: 3 row(s)" in out

    target = create_database_engine(target_url)
    try:
        before, after = AuditLog(source), AuditLog(target)
        assert [e.hash for e in after.events()] == [e.hash for e in before.events()]
        assert after.checkpoints() == before.checkpoints()
        assert ReviewLedger(target).entries(REPO, 7) == ReviewLedger(source).entries(REPO, 7)
        assert [r["delivery_id"] for r in Inbox(target).rows()] == ["copy-0", "copy-1", "copy-2"]
        # the target goes on where the source stopped: new rows get new keys, the chain links
        payload = pr_payload(pr=9)
        body = encode(payload)
        Inbox(target).store(
            delivery_id="after-copy",
            routing=route_delivery("pull_request", payload),
            body=body,
            body_sha256=body_digest(body),
            received_at=T0,
        )
        assert [r["seq"] for r in Inbox(target).rows()][-1] == 4
        after.checkpoint(load_or_create_signer(home), time=T0 + timedelta(minutes=1))
    finally:
        target.dispose()

    # `audit verify` on the target, as an operator would run it after the move
    on_target = {**env, "EUCORA_DATABASE_URL": target_url}
    code, out, _ = _run(on_target, "audit", "verify")
    assert code == 0, out
    # a second copy never merges into a database that holds data
    code, _, err = _run(env, "db", "copy", "--to", target_url)
    assert code == 2
    assert "the target database is not empty" in err
    assert "Traceback" not in err


def test_copy_refuses_a_bad_url_and_itself_in_one_line(tmp_path: Path) -> None:
    home = tmp_path / "home"
    _populate(home).dispose()
    env = {"EUCORA_HOME": str(home), "EUCORA_DATABASE_URL": ""}
    code, _, err = _run(env, "db", "copy", "--to", "not a url")
    assert code == 2
    assert err.startswith("eucora: error: --to is not a database URL")
    same = f"sqlite:///{(home / 'eucora.db').as_posix()}"
    code, _, err = _run(env, "db", "copy", "--to", same)
    assert (code, err.strip()) == (2, "eucora: error: --to names the database being copied")


@pytest.mark.parametrize("password", ["s3cret-pw"])
def test_the_target_password_is_never_printed(tmp_path: Path, password: str) -> None:
    home = tmp_path / "home"
    _populate(home).dispose()
    env = {"EUCORA_HOME": str(home), "EUCORA_DATABASE_URL": ""}
    url = f"postgresql+psycopg://eucora:{password}@127.0.0.1:9/eucora"  # nothing listens on 9
    code, out, err = _run(env, "db", "copy", "--to", url)
    assert code == 2
    assert password not in out + err
    assert err.startswith("eucora: error: database:")
