"""``eucora action``: the check as a GitHub Actions step (what ``action.yml`` runs).

Exit codes as ``eucora check``: 0 the change may proceed (once approved), 1 blocked, 2 the step
cannot run (no event, an unsupported event, revisions missing from the checkout).

With ``EUCORA_APPROVALS_TOKEN`` (or ``EUCORA_APPROVALS_TOKEN_FILE``), a token that can read team
membership (the action's ``approvals-token``), the step decides the CAB approvals too: 1 when
they are required and not met, 2 when GitHub could not be read to decide them (or will not show
a CAB team to the token). Without it the approvals are not enforced, and the step says so.
"""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from bot.adapters.git import GitError
from bot.adapters.git_content import content_hash
from bot.adapters.github_connectors import GitHubTokenConnector
from bot.adapters.revisions import GitRevisions
from bot.core.action import ApprovalsState, approvals_annotation, approvals_lines, step_verdict
from bot.core.render.check_text import render_check_text
from bot.core.render.findings import escape_data
from bot.flows.action import ActionEnvironment, ActionError, run_action
from bot.ports import GitHub
from bot.settings import Settings, SettingsError, read_secret

APPROVALS_TOKEN = "EUCORA_APPROVALS_TOKEN"  # noqa: S105 - the variable's name
"""A token that can read team membership, to decide the CAB approvals (``approvals-token``)."""

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2


def token_client(token: str, api_url: str, home: Path) -> GitHub:
    """The GitHub adapter acting with a token (the workflow's ``GITHUB_TOKEN``), never the App.

    Built only when a comment is to be posted (so a fork's run never touches the API).
    """
    connector = GitHubTokenConnector(api_url=api_url, token=token, mirrors_dir=home / "mirrors")
    return connector.for_installation(None)


def _fail(message: str) -> None:
    click.echo(f"::error title=EUCORA::{escape_data(message)}")
    click.echo(f"eucora: error: {message}", err=True)
    sys.exit(EXIT_USAGE)


@click.command("action")
@click.option("--repo", help="The checked-out repository (default: $GITHUB_WORKSPACE).")
@click.option(
    "--evidence-dir", help="Where to write the evidence pack file (default: $RUNNER_TEMP)."
)
def action(repo: str | None, evidence_dir: str | None) -> None:
    """Check the pull request or merge group that started this workflow (GitHub Actions).

    Reads base and head from the event at $GITHUB_EVENT_PATH; writes annotations, the job
    summary ($GITHUB_STEP_SUMMARY), the outputs decision, risk-tier, risk-score, digest and
    evidence-file ($GITHUB_OUTPUT) and the evidence pack file. With GITHUB_TOKEN set it posts or
    updates the sticky comment on the pull request (never for a fork's pull request). With
    EUCORA_APPROVALS_TOKEN, a token that can read team membership, it decides the CAB approvals
    as the App does (output approvals; exit 1 while they are not met); without it, it says
    they are not enforced.
    """
    environ = os.environ
    try:
        settings = Settings.from_environ(environ)
        token = settings.github_token
        approvals_token = read_secret(environ, APPROVALS_TOKEN)
        environment = ActionEnvironment.from_environ(environ, repo=repo, evidence_dir=evidence_dir)
    except (SettingsError, ActionError) as error:
        _fail(str(error))
    api_url = settings.github_api_url
    now = datetime.now(UTC).replace(microsecond=0)
    try:
        report = run_action(
            environment,
            open_revisions=GitRevisions,
            now=now,
            connect=(lambda: token_client(token, api_url, settings.home)) if token else None,
            home=settings.home,
            public_url=settings.public_url,
            approvals=(lambda: token_client(approvals_token, api_url, settings.home))
            if approvals_token
            else None,
            content_hash=content_hash,
        )
    except ActionError as error:
        _fail(str(error))
    except GitError as error:
        _fail(f"{error} (check out with actions/checkout and fetch-depth: 0)")
    event = report.event
    where = f"pull request #{event.number}" if event.number else "merge group"
    click.echo(
        f"EUCORA check of {event.repository} {where}: {event.base_sha[:12]}..{event.head_sha[:12]}"
    )
    approvals = report.approvals
    # the first line is the step's verdict: the policy's and the CAB approvals' together
    verdict = step_verdict(report.run.pack, approvals)
    click.echo(render_check_text(report.run.pack, verdict=verdict), nl=False)
    click.echo(f"evidence digest: {report.run.digest}")
    click.echo(f"evidence file: {report.evidence_file}")
    click.echo("\n".join(approvals_lines(approvals)))
    click.echo(report.annotations + approvals_annotation(approvals), nl=False)
    if report.comment_failed:
        click.echo(f"::warning title=EUCORA::{escape_data(report.comment)}")
    else:
        click.echo(report.comment)
    if report.blocked or approvals.unmet:
        sys.exit(EXIT_FINDINGS)
    sys.exit(EXIT_USAGE if approvals.state is ApprovalsState.ERROR else EXIT_OK)
