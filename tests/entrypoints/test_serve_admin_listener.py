"""``eucora serve --admin-listen``: the public address serves only the webhook and the health
checks; the evidence pages and ``/metrics`` only on the admin address (a Host header cannot
reach them from the public one). Without it, one address serves everything (as before)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from bot.adapters.evidence_store import EvidenceStore
from bot.entrypoints.commands_intake import serve
from bot.entrypoints.serve import Listen, gunicorn_options
from tests.entrypoints.test_serve import migrated_home
from tests.support.serving import eucora, free_port, request, running
from tests.support.webhooks import SECRET, encode, headers, pr_payload


def test_the_public_listener_serves_only_the_webhook_and_health(tmp_path: Path) -> None:
    home, inbox = migrated_home(tmp_path)
    digest = EvidenceStore(home / "evidence").put({"kind": "CheckPack", "note": "admin only"})
    port, admin = free_port(), free_port()
    env = {"EUCORA_HOME": str(home), "GITHUB_WEBHOOK_SECRET": SECRET}
    command = eucora("serve", "--port", str(port), "--workers", "1", "--threads", "2")
    env["EUCORA_ADMIN_LISTEN"] = f"127.0.0.1:{admin}"
    with running(command, env, tmp_path / "serve.log", port) as server:
        public, private = server.base, f"http://127.0.0.1:{admin}"
        evidence = f"/evidence/{digest}"
        assert request(f"{public}/healthz") == (200, "ok")
        assert request(f"{public}/readyz") == (200, "ready")
        payload = encode(pr_payload())
        sent = headers(payload, "pull_request", "public-1")
        assert request(f"{public}/webhook", data=payload, headers=sent) == (202, "accepted")
        assert inbox.get("public-1") is not None
        assert request(f"{public}{evidence}")[0] == 404
        assert request(f"{public}/metrics")[0] == 404
        spoofed = {"Host": f"127.0.0.1:{admin}"}
        assert request(f"{public}/metrics", headers=spoofed)[0] == 404
        assert request(f"{public}{evidence}", headers=spoofed)[0] == 404

        assert request(f"{private}/healthz") == (200, "ok")
        assert request(f"{private}/readyz") == (200, "ready")
        status, body = request(f"{private}{evidence}", headers={"Accept": "application/json"})
        assert (status, "admin only" in body) == (200, True)
        metrics = request(f"{private}/metrics")
        assert metrics[0] == 200
        assert (
            'eucora_webhook_deliveries_total{event="pull_request",outcome="accepted"}'
            in (metrics[1])
        )
        again = headers(payload, "pull_request", "private-1")
        assert request(f"{private}/webhook", data=payload, headers=again)[0] == 404
        assert inbox.get("private-1") is None


def test_admin_listen_is_parsed_and_refused_in_one_line() -> None:
    assert Listen.parse("10.0.0.5:9000") == Listen("10.0.0.5", 9000)
    assert Listen.parse("[::1]:9100") == Listen("::1", 9100)
    assert gunicorn_options("192.0.2.1", 8000, 2, 4, admin=Listen("10.0.0.5", 9000))["bind"] == [
        "192.0.2.1:8000",
        "10.0.0.5:9000",
    ]
    assert gunicorn_options("192.0.2.1", 8000, 2, 4)["bind"] == "192.0.2.1:8000"  # as before
    for wrong in ("9000", "host:", "host:99999", ":9000"):
        result = CliRunner().invoke(serve, ["--admin-listen", wrong])
        assert result.exit_code == 2
        assert "--admin-listen" in result.output
        assert "Traceback" not in result.output
    same = CliRunner().invoke(serve, ["--port", "8000", "--admin-listen", "127.0.0.1:8000"])
    assert same.exit_code == 2
    assert "must differ" in same.output
