"""End to end: the GitHub double fails some deliveries (app down, 500), ``eucora redeliver``
asks GitHub for them again, and each delivery is processed exactly once."""

from __future__ import annotations

import subprocess
from collections import Counter
from pathlib import Path

import pytest

from bot.adapters.storage import create_database_engine, upgrade_schema
from bot.adapters.storage.audit_log import AuditLog
from bot.doubles.github import GitHubDouble
from tests.support.serving import ROOT, eucora, free_port, recording_serve, running, wait_until
from tests.support.webhooks import pr_payload

pytestmark = pytest.mark.slow


def records(path: Path) -> Counter[str]:
    if not path.exists():
        return Counter()
    return Counter(line.split()[0] for line in path.read_text().splitlines() if line)


def redeliver(env: dict[str, str], since: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        eucora("redeliver", "--since", since),
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_failed_deliveries_are_redelivered_and_processed_once(
    tmp_path: Path, github_double: GitHubDouble, github_env: dict[str, str]
) -> None:
    home = tmp_path / "home"
    engine = create_database_engine(f"sqlite:///{home / 'eucora.db'}")
    upgrade_schema(engine)
    record = tmp_path / "handled.log"
    env = {
        "EUCORA_HOME": str(home),
        "GITHUB_WEBHOOK_SECRET": github_double.app.webhook_secret,
        "EUCORA_TEST_RECORD": str(record),
        "PATH": "/usr/bin:/bin",
    }
    # The app is down: nobody listens on the webhook URL yet.
    port = free_port()
    github_double.webhook_url = f"http://127.0.0.1:{port}/webhook"
    down = github_double.send_webhook("pull_request", pr_payload(pr=1))
    assert down.status_code == 0
    with running(recording_serve(port), env, tmp_path / "serve.log", port):
        fine = github_double.send_webhook("pull_request", pr_payload(pr=2))
        github_double.hookshot.fail_next(1, status=500)  # a proxy answering for a sick app
        sick = github_double.send_webhook("pull_request", pr_payload(pr=3))
        assert (fine.status_code, sick.status_code) == (202, 500)
        wait_until(lambda: records(record)[fine.guid] == 1, 30, "the delivered one")

        cli_env = {**env, **github_env}
        first = redeliver(cli_env, "1h")
        assert first.returncode == 0, first.stderr
        assert f"redelivery requested: {down.guid} (pull_request, failed)" in first.stdout
        assert f"redelivery requested: {sick.guid} (pull_request, failed)" in first.stdout
        assert fine.guid not in first.stdout
        assert "3 deliveries seen, 2 redelivery requested, 0 failed, 1 left alone" in first.stdout
        github_double.hookshot.wait()
        wait_until(
            lambda: records(record) == {down.guid: 1, fine.guid: 1, sick.guid: 1},
            30,
            "every delivery processed",
        )
        # A second run finds everything in the inbox: nothing asked, nothing processed twice.
        second = redeliver(cli_env, "P1D")
        assert second.returncode == 0, second.stderr
        assert "3 deliveries seen, 0 redelivery requested" in second.stdout
    redelivered = [d for d in github_double.hookshot.sent if d.redelivery]
    assert sorted(d.guid for d in redelivered) == sorted([down.guid, sick.guid])
    assert all(d.status_code == 202 for d in redelivered)
    assert records(record) == {down.guid: 1, fine.guid: 1, sick.guid: 1}
    audited = [e for e in AuditLog(engine).events() if e.type == "webhook.redelivery_requested"]
    assert sorted(e.correlation_id for e in audited) == sorted([down.guid, sick.guid])


def test_a_refused_redelivery_exits_1_and_is_audited(
    tmp_path: Path, github_double: GitHubDouble, github_env: dict[str, str]
) -> None:
    home = tmp_path / "home"
    engine = create_database_engine(f"sqlite:///{home / 'eucora.db'}")
    upgrade_schema(engine)
    github_double.webhook_url = f"http://127.0.0.1:{free_port()}/webhook"  # nobody there
    lost = github_double.send_webhook("pull_request", pr_payload(pr=4))
    github_double.fail(422, 1, method="POST", path=r"/attempts$", message="Validation Failed")
    result = redeliver({"EUCORA_HOME": str(home), "PATH": "/usr/bin:/bin", **github_env}, "2h")
    assert result.returncode == 1, result.stderr
    assert f"redelivery failed: {lost.guid} (pull_request): " in result.stdout
    assert "GitHub answered 422" in result.stdout
    [event] = [e for e in AuditLog(engine).events() if e.type == "webhook.redelivery_failed"]
    assert event.correlation_id == lost.guid


def test_a_bad_duration_is_a_usage_error(tmp_path: Path) -> None:
    result = redeliver({"EUCORA_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}, "soon")
    assert result.returncode == 2
    assert "'soon' is neither a duration" in result.stderr
    assert "Traceback" not in result.stderr
