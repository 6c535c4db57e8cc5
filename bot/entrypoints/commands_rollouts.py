"""``eucora reconcile`` and ``eucora rollout status``: the rollouts, ring by ring."""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import UTC, datetime

import click

from bot.adapters.logs import configure_logging
from bot.adapters.storage.rollouts import RolloutStore
from bot.bootstrap import Unqueued, build_intake_services, build_reconcile, build_redactor
from bot.core.render.rollouts import render_rollouts_text, rollouts_json
from bot.errors import EucoraError
from bot.settings import Settings, SettingsError

EXIT_USAGE = 2


def _settings() -> Settings:
    try:
        return Settings.from_environ(os.environ)
    except SettingsError as error:
        raise click.UsageError(str(error)) from error


@click.command()
@click.option("--once", is_flag=True, help="One pass, then exit (default: a pass every interval).")
@click.option(
    "--interval",
    default=300.0,
    show_default=True,
    type=click.FloatRange(1.0),
    help="Seconds between passes (without --once).",
)
def reconcile(once: bool, interval: float) -> None:
    """Read each live rollout's ring from its plane; promote, halt or hold it by its gate.

    Takes a database lease, so several replicas running it at once promote each ring once.
    Without a broker, the promotions this pass records are published before it returns.
    """
    settings = _settings()
    configure_logging(build_redactor(settings))
    try:
        reconciler, publisher = build_reconcile(settings)
    except (EucoraError, SettingsError) as error:
        click.echo(f"eucora: error: {error}", err=True)
        sys.exit(EXIT_USAGE)
    while True:
        report = reconciler.run_once()
        if settings.broker_url is None:
            for publication_id in publisher.outbox.due(now=datetime.now(UTC)):
                publisher.run(publication_id)
        for line in report.lines():
            click.echo(line)
        if once:
            return
        time.sleep(interval)


@click.group(name="rollout")
def rollout_group() -> None:
    """Where rollouts stand."""


@rollout_group.command(name="status")
@click.option(
    "--format",
    "output",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
)
def status(output: str) -> None:
    """Every recent rollout: plane, version, rings and their state, gate and reasons."""
    settings = _settings()
    try:
        services = build_intake_services(settings, publication_queue=Unqueued())
    except (EucoraError, SettingsError) as error:
        click.echo(f"eucora: error: {error}", err=True)
        sys.exit(EXIT_USAGE)
    records = RolloutStore(services.engine).recent()
    now = datetime.now(UTC)
    if output == "json":
        click.echo(json.dumps(rollouts_json(records, now=now), indent=2, sort_keys=True))
    else:
        click.echo(render_rollouts_text(records, now=now), nl=False)
