"""No secret reaches GitHub (comments, check runs), the evidence, the audit log, the inbox or logs.

The bot runs as the GitHub double's App with every kind of secret configured (the App's private
key, the webhook secret, plane credentials) and real installation tokens minted by the double;
GitHub then fails a call with an answer full of canary tokens of every format. Afterwards every
byte the bot wrote anywhere is searched for every secret.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path

from sqlalchemy import select

from bot.adapters.logs import configure_logging
from bot.adapters.storage import create_database_engine, upgrade_schema
from bot.adapters.storage.tables import audit_events, inbox
from bot.bootstrap import build_redactor, pull_request_handler_factory
from bot.core.github_model import POLICY_CHECK
from bot.doubles.github import GitHubDouble
from bot.entrypoints.serve import build_server
from bot.settings import Settings
from tests.conftest import EXAMPLES
from tests.support import webhooks
from tests.support.canaries import PLANE_SECRETS, TOKENS, leaks
from tests.support.gitrepo import GitRepo

REPO = "acme/intents"


def _key_lines(pem: str) -> list[str]:
    return [line for line in pem.splitlines() if line and "PRIVATE KEY" not in line]


def test_no_secret_is_written_anywhere_by_the_app(
    tmp_path: Path, github_double: GitHubDouble, github_env: dict[str, str]
) -> None:
    source = GitRepo.create(
        tmp_path / "src", template=EXAMPLES / "intents-repo", freeze_windows=False
    )
    source.branch("change")
    source.edit(
        "intents/windows/google-chrome.yaml",
        'version: "131.0.6778.86"',
        'version: "132.0.6834.83"',
    )
    source.commit("Chrome 132")
    installation = github_double.add_installation("acme")
    github_double.add_repository(REPO, installation=installation, source=source.path)
    pr = github_double.open_pull_request(REPO, head="change")

    environ = {
        **github_env,
        **PLANE_SECRETS,
        "EUCORA_HOME": str(tmp_path / "home"),
        "EUCORA_GITHUB_WRITE_INTERVAL": "0",
    }
    settings = Settings.from_environ(environ)
    engine = create_database_engine(settings.database_url)
    upgrade_schema(engine)
    stream = io.StringIO()
    handler = configure_logging(build_redactor(settings), stream=stream, level=logging.DEBUG)
    try:
        server = build_server(settings, pull_request_handler_factory, metrics_dir=False)
        # GitHub fails the first read of the PR with an answer that quotes secrets back.
        noisy = " ".join(TOKENS[name] for name in ("ghs", "ghs-long", "ghp", "jwt", "github_pat"))
        github_double.fail(403, 1, method="GET", path=r"/pulls/\d+$", message=f"oops {noisy}")
        delivery = webhooks.pull_request_event(
            pr, "opened", secret=github_double.app.webhook_secret, installation_id=installation.id
        )
        client = server.app.test_client()
        assert client.post("/webhook", data=delivery.body, headers=delivery.headers).status_code
        processor = server.intake.processor
        processor.drain()  # first attempt fails on the noisy 502 and is put back with a backoff
        github_double.faults.clear()
        with engine.connect() as connection:
            connection.exec_driver_sql("UPDATE inbox SET not_before = received_at")
            connection.commit()
        processor.drain()
        policy = github_double.check_runs(REPO, name=POLICY_CHECK)
        assert [r.status for r in policy] == ["completed"]
        server.intake.services.engine.dispose()
    finally:
        logging.getLogger().removeHandler(handler)

    secrets = {
        "app private key": _key_lines(github_double.app.private_key_pem),
        "webhook secret": [github_double.app.webhook_secret],
        "installation tokens": list(github_double.tokens),
        **{name: [value] for name, value in PLANE_SECRETS.items()},
    }
    assert secrets["installation tokens"], "the App minted no token: the test proves nothing"
    written = {
        "logs": stream.getvalue(),
        "GitHub requests (check runs, comments)": "\n".join(
            str(r.body) for r in github_double.requests if r.body is not None
        ),
        "check runs": "\n".join(
            f"{r.title}\n{r.summary}\n{r.annotations}" for r in github_double.runs.values()
        ),
        "comments": "\n".join(c.body for c in github_double.comments(REPO, pr.number)),
        "evidence store": "\n".join(
            p.read_text(errors="replace")
            for p in (tmp_path / "home" / "evidence").rglob("*")
            if p.is_file()
        ),
    }
    with engine.connect() as connection:
        written["audit log"] = "\n".join(
            str(tuple(row)) for row in connection.execute(select(audit_events))
        )
        written["inbox (errors and outcomes)"] = "\n".join(
            f"{row.error} {row.outcome}" for row in connection.execute(select(inbox))
        )
    engine.dispose()
    assert "GitHub answered 403: oops [redacted]" in written["logs"]  # logged, redacted
    assert "evaluated" in written["inbox (errors and outcomes)"]
    for where, text in written.items():
        assert text, f"nothing was written to {where}: the test proves nothing"
        assert leaks(text) == [], f"canary {leaks(text)} in {where}"
        for what, values in secrets.items():
            for value in values:
                assert value not in text, f"{what} in {where}"
