"""``eucora serve`` under gunicorn: evidence, webhook intake, the in-process drainer, metrics."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from bot.adapters.evidence_store import EvidenceStore
from bot.adapters.storage import create_database_engine, upgrade_schema
from bot.adapters.storage.inbox import Inbox
from bot.entrypoints.serve import StoreSource, gunicorn_options
from tests.support.serving import eucora, free_port, request, running, wait_until
from tests.support.webhooks import SECRET, encode, headers, pr_payload


def migrated_home(tmp_path: Path) -> tuple[Path, Inbox]:
    home = tmp_path / "home"
    engine = create_database_engine(f"sqlite:///{home / 'eucora.db'}")
    upgrade_schema(engine)
    return home, Inbox(engine)


def test_serve_answers_health_evidence_and_webhooks_with_gunicorn(tmp_path: Path) -> None:
    home, inbox = migrated_home(tmp_path)
    pack = {"kind": "CheckPack", "note": "not a full pack: JSON is served as stored"}
    digest = EvidenceStore(home / "evidence").put(pack)
    port = free_port()
    env = {"EUCORA_HOME": str(home), "GITHUB_WEBHOOK_SECRET": SECRET}
    command = eucora("serve", "--port", str(port), "--workers", "2", "--threads", "2")
    with running(command, env, tmp_path / "serve.log", port) as server:
        base = server.base
        assert request(f"{base}/healthz") == (200, "ok")
        assert request(f"{base}/readyz") == (200, "ready")
        status, body = request(f"{base}/evidence/{digest}", headers={"Accept": "application/json"})
        assert status == 200
        assert "not a full pack" in body
        assert request(f"{base}/evidence/sha256:{'0' * 64}")[0] == 404
        assert request(f"{base}/evidence/nope")[0] == 400
        payload = encode(pr_payload())
        sent = headers(payload, "pull_request", "serve-1")
        assert request(f"{base}/webhook", data=payload, headers=sent) == (202, "accepted")
        assert request(f"{base}/webhook", data=payload, headers=sent) == (202, "duplicate")
        # No GitHub App or token is configured: the drainer takes the delivery, and it fails
        # saying so (kept for a retry once the operator configures GitHub), never silently done.
        wait_until(lambda: (inbox.get("serve-1") or {}).get("error"), 60, "the drainer")
        row = inbox.get("serve-1") or {}
        assert row["status"] in {"pending", "failed"}
        assert "GitHub is not configured" in row["error"]
        bad = {**sent, "X-Hub-Signature-256": "sha256=" + "0" * 64}
        for _ in range(6):
            assert request(f"{base}/webhook", data=payload, headers=bad)[0] == 401
        # Two worker processes answered; every scrape adds up both (multiprocess mode).
        for _ in range(4):
            metrics = request(f"{base}/metrics")[1]
            assert "eucora_webhook_signature_failures_total 6.0" in metrics
            assert (
                'eucora_webhook_deliveries_total{event="pull_request",outcome="accepted"} 1.0'
                in metrics
            )
            assert 'eucora_inbox_depth{status="pending"} 1.0' in metrics  # waiting to retry
    output = server.output()
    assert "Traceback" not in output
    assert SECRET not in output
    assert '"delivery_id": "serve-1"' in output
    assert (home / "metrics").is_dir()


def test_serve_refuses_an_old_schema_and_names_the_fix(tmp_path: Path) -> None:
    result = subprocess.run(
        eucora("serve", "--port", str(free_port())),
        env={**os.environ, "EUCORA_HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "run `eucora db upgrade`" in result.stderr
    assert "Traceback" not in result.stderr


def test_worker_needs_a_broker(tmp_path: Path) -> None:
    result = subprocess.run(
        eucora("worker"),
        env={**os.environ, "EUCORA_HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "EUCORA_BROKER_URL is not set" in result.stderr


def test_store_source_returns_none_for_unknown_digests(tmp_path: Path) -> None:
    source = StoreSource(EvidenceStore(tmp_path))
    assert source.get(f"sha256:{'1' * 64}") is None


def test_gunicorn_options_use_threads() -> None:
    options = gunicorn_options("127.0.0.1", 8000, 2, 4)
    assert options["worker_class"] == "gthread"
    assert options["bind"] == "127.0.0.1:8000"


def test_build_server_in_process_and_its_gunicorn_hooks(tmp_path: Path) -> None:
    from bot.entrypoints.serve import build_server, server_options
    from bot.settings import Settings

    home, inbox = migrated_home(tmp_path)
    settings = Settings.from_environ({"EUCORA_HOME": str(home), "GITHUB_WEBHOOK_SECRET": SECRET})
    server = build_server(settings, drain_threads=1, lease_seconds=5, metrics_dir=False)
    client = server.app.test_client()
    payload = encode(pr_payload())
    response = client.post(
        "/webhook", data=payload, headers=headers(payload, "pull_request", "in-1")
    )
    assert response.status_code == 202
    options = server_options(server, "127.0.0.1", 8000, 1, 2)
    options["post_fork"](None, None)
    options["post_worker_init"](None)  # starts the drainer, which runs the stored delivery
    try:
        wait_until(lambda: (inbox.get("in-1") or {}).get("status") == "done", 30, "the drainer")
    finally:
        options["worker_exit"](None, None)
    assert (inbox.get("in-1") or {})["outcome"] == "recorded"
