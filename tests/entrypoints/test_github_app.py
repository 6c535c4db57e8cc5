"""The GitHub App end to end: signed webhooks into the app, the inbox drained, PyGithub and git
talking to the GitHub double (which checks every request against GitHub's description)."""

from __future__ import annotations

import http.client
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from bot.adapters.storage import create_database_engine, upgrade_schema
from bot.bootstrap import pull_request_handler_factory
from bot.core.github_model import APPROVAL_CHECK, EVIDENCE_MARKER, POLICY_CHECK
from bot.doubles.github.server import GitHubDouble
from bot.entrypoints.serve import Server, build_server
from bot.settings import Settings
from tests.conftest import EXAMPLES
from tests.support import webhooks
from tests.support.gitrepo import GitRepo
from tests.support.serving import eucora, free_port, request, running, wait_until

REPO = "acme/intents"
CHROME = "intents/windows/google-chrome.yaml"


class App:
    """The bot as deployed: the Flask app over the intake, the handler wired to GitHub."""

    def __init__(self, server: Server, double: GitHubDouble, installation: int) -> None:
        self.server = server
        self.client: FlaskClient = server.app.test_client()
        self.double = double
        self.installation = installation
        self.secret = double.app.webhook_secret

    def post(self, delivery: webhooks.Delivery) -> int:
        response = self.client.post("/webhook", data=delivery.body, headers=delivery.headers)
        return response.status_code

    def drain(self) -> int:
        return self.server.intake.processor.drain()

    def pr_event(self, pr: object, action: str, **changes: object) -> webhooks.Delivery:
        return webhooks.pull_request_event(
            pr, action, secret=self.secret, installation_id=self.installation, **changes
        )


@contextmanager
def serving(
    double: GitHubDouble, environ: Mapping[str, str], factory: Any = pull_request_handler_factory
) -> Iterator[App]:
    """The app over ``environ`` (its database upgraded), installed on the double's ``acme``."""
    settings = Settings.from_environ(environ)
    engine = create_database_engine(settings.database_url)
    upgrade_schema(engine)
    engine.dispose()
    server = build_server(settings, factory, metrics_dir=False)
    installation = double.add_installation("acme")
    try:
        yield App(server, double, installation.id)
    finally:
        server.intake.services.engine.dispose()


@pytest.fixture
def source(tmp_path: Path) -> GitRepo:
    repo = GitRepo.create(
        tmp_path / "src", template=EXAMPLES / "intents-repo", freeze_windows=False
    )
    repo.branch("change")
    return repo


@pytest.fixture
def app(tmp_path: Path, github_double: GitHubDouble, github_env: dict[str, str]) -> Iterator[App]:
    environ = {
        **github_env,
        "EUCORA_HOME": str(tmp_path / "home"),
        "EUCORA_PUBLIC_URL": "https://eucora.example",
        "EUCORA_GITHUB_WRITE_INTERVAL": "0",
    }
    with serving(github_double, environ) as app:
        yield app


def open_pr(app: App, source: GitRepo, **options: object) -> object:
    app.double.add_repository(
        REPO, installation=app.double.installations[app.installation], source=source.path
    )
    return app.double.open_pull_request(REPO, head="change", **options)


def latest(runs: list, name: str) -> object:
    return max((r for r in runs if r.name == name), key=lambda r: r.id)


def test_a_pr_adding_a_good_intent_gets_a_green_policy_run_and_a_pending_cab_run(
    app: App, source: GitRepo
) -> None:
    text = source.read("intents/windows/notepad-plus-plus.yaml")
    text = text.replace("name: notepad-plus-plus\n", "name: notepad-plus-plus-x\n", 1)
    text = text.replace("  name: Notepad++\n", "  name: Notepad++ X\n", 1)
    source.write("intents/windows/notepad-plus-plus-x.yaml", text)
    source.commit("a new app: medium risk (first deployment, admin, 8,400 devices)")
    pr = open_pr(app, source)

    assert app.post(app.pr_event(pr, "opened")) == 202
    assert app.drain() == 1

    runs = app.double.check_runs(REPO)
    policy = latest(runs, POLICY_CHECK)
    assert (policy.status, policy.conclusion, policy.head_sha) == (
        "completed",
        "success",
        pr.head_sha,
    )
    assert policy.external_id.startswith("sha256:")
    assert policy.details_url == f"https://eucora.example/evidence/{policy.external_id}"
    assert "Audit log checkpoint (signed)" in policy.summary
    approval = latest(runs, APPROVAL_CHECK)
    assert approval.status == "in_progress"
    assert approval.title == "Waiting for 1 more CAB approval"
    [comment] = app.double.comments(REPO, pr.number)
    assert comment.body.startswith(EVIDENCE_MARKER)
    assert comment.author == f"{app.double.app.slug}[bot]"
    assert policy.external_id in comment.body


def test_a_schema_error_is_annotated_on_its_exact_line(app: App, source: GitRepo) -> None:
    source.edit(CHROME, "    devices: 45\n", "    devcies: 45\n")
    source.commit("typo")
    line = source.read(CHROME).splitlines().index("    devcies: 45") + 1
    pr = open_pr(app, source)

    app.post(app.pr_event(pr, "opened"))
    app.drain()

    policy = latest(app.double.check_runs(REPO), POLICY_CHECK)
    assert policy.conclusion == "failure"
    failures = [a for a in policy.annotations if a["annotation_level"] == "failure"]
    assert any(a["path"] == CHROME and a["start_line"] == line for a in failures), failures


def test_a_force_push_edits_the_same_sticky_comment(app: App, source: GitRepo) -> None:
    source.edit(CHROME, 'version: "131.0.6778.86"', 'version: "132.0.6834.83"')
    source.commit("Chrome 132")
    pr = open_pr(app, source)
    app.post(app.pr_event(pr, "opened"))
    app.drain()
    first_head = pr.head_sha

    source.git("commit", "-q", "--amend", "-m", "Chrome 132, amended")
    source.edit(CHROME, 'version: "132.0.6834.83"', 'version: "132.0.6834.110"')
    source.commit("Chrome 132 patch")
    [moved] = app.double.push(REPO, source.path, "change")
    app.post(app.pr_event(moved, "synchronize"))
    app.drain()

    [comment] = app.double.comments(REPO, pr.number)
    assert comment.edits == 1
    assert "132.0.6834.110" in comment.body
    heads = {r.head_sha for r in app.double.check_runs(REPO, name=POLICY_CHECK)}
    assert heads == {first_head, moved.head_sha}


def test_duplicated_and_replayed_deliveries_are_processed_once(app: App, source: GitRepo) -> None:
    pr = open_pr(app, source)
    delivery = app.pr_event(pr, "opened")
    replay_headers = {**delivery.headers, "X-GitHub-Delivery": "another-id"}

    statuses = [app.post(delivery), app.post(delivery)]
    statuses.append(
        app.client.post("/webhook", data=delivery.body, headers=replay_headers).status_code
    )

    assert statuses == [202, 202, 202]
    assert app.drain() == 1
    assert len(app.double.check_runs(REPO, name=POLICY_CHECK)) == 1
    assert len(app.double.comments(REPO, pr.number)) == 1


def test_a_bad_signature_is_refused_and_counted(app: App, source: GitRepo) -> None:
    pr = open_pr(app, source)
    delivery = app.pr_event(pr, "opened")
    forged = {**delivery.headers, "X-Hub-Signature-256": "sha256=" + "0" * 64}
    response = app.client.post("/webhook", data=delivery.body, headers=forged)
    assert response.status_code == 401
    assert app.drain() == 0
    metrics = app.client.get("/metrics").get_data(as_text=True)
    assert re.search(r"^eucora_webhook_signature_failures_total 1\.0$", metrics, re.MULTILINE), (
        metrics
    )


def test_the_emergency_label_re_evaluates_the_pr(app: App, source: GitRepo) -> None:
    pr = open_pr(app, source, labels=["eucora:emergency"])
    app.post(app.pr_event(pr, "labeled", label="eucora:emergency"))
    app.drain()
    policy = latest(app.double.check_runs(REPO), POLICY_CHECK)
    assert policy.status == "completed"


def test_comment_commands_need_write_access(app: App, source: GitRepo) -> None:
    pr = open_pr(app, source)
    app.double.set_permission(REPO, "erin", "write")

    def command(user: str, body: str) -> None:
        app.post(
            webhooks.build(
                "issue_comment",
                "created",
                secret=app.secret,
                repository=REPO,
                number=pr.number,
                sender=user,
                comment_body=body,
                installation_id=app.installation,
            )
        )
        app.drain()

    command("mallory", "/eucora recheck")
    assert app.double.check_runs(REPO) == []
    [refusal] = app.double.comments(REPO, pr.number)
    assert "@mallory" in refusal.body
    assert "write access" in refusal.body

    command("erin", "/eucora explain")
    bodies = [c.body for c in app.double.comments(REPO, pr.number)]
    assert bodies[-1].startswith("@erin here is why the risk is")
    assert any(b.startswith(EVIDENCE_MARKER) for b in bodies)


@pytest.mark.slow
def test_kill_9_of_serve_between_the_202_and_the_evaluation_loses_nothing(
    tmp_path: Path, github_double: GitHubDouble, github_env: dict[str, str], source: GitRepo
) -> None:
    """Real ``eucora serve`` processes, the real handler: the PR gets one verdict after restart."""
    home = tmp_path / "home"
    engine = create_database_engine(f"sqlite:///{home / 'eucora.db'}")
    upgrade_schema(engine)
    engine.dispose()
    installation = github_double.add_installation("acme")
    github_double.add_repository(REPO, installation=installation, source=source.path)
    source.edit(CHROME, 'version: "131.0.6778.86"', 'version: "132.0.6834.83"')
    source.commit("Chrome 132")
    github_double.push(REPO, source.path, "change")
    pr = github_double.open_pull_request(REPO, head="change")
    delivery = webhooks.pull_request_event(
        pr, "opened", secret=github_double.app.webhook_secret, installation_id=installation.id
    )
    env = {**github_env, "EUCORA_HOME": str(home)}
    url_of = "{}/webhook".format

    port = free_port()
    crashing = {**env, "EUCORA_CRASHPOINT": "after_commit_before_response"}
    command = eucora("serve", "--port", str(port), "--workers", "1")
    with running(command, crashing, tmp_path / "first.log", port) as server:
        with pytest.raises((http.client.RemoteDisconnected, ConnectionError, OSError)):
            request(url_of(server.base), data=delivery.body, headers=delivery.headers)
        server.kill9()
    assert github_double.check_runs(REPO) == []  # acknowledged nothing, evaluated nothing

    port = free_port()
    command = eucora("serve", "--port", str(port), "--workers", "1")
    with running(command, env, tmp_path / "second.log", port) as server:
        # GitHub redelivers (same id): a duplicate, answered 202; the stored row is evaluated.
        status, _ = request(url_of(server.base), data=delivery.body, headers=delivery.headers)
        assert status == 202
        wait_until(
            lambda: [r for r in github_double.check_runs(REPO) if r.status == "completed"],
            90,
            "the PR's verdict",
        )
        wait_until(lambda: github_double.comments(REPO, pr.number), 30, "the sticky comment")
    policy = github_double.check_runs(REPO, name=POLICY_CHECK)
    assert [(r.status, r.conclusion) for r in policy] == [("completed", "success")]
    assert len(github_double.comments(REPO, pr.number)) == 1
