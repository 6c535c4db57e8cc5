"""``eucora serve`` and ``eucora worker``: the GitHub App's web side and its queue worker."""

from __future__ import annotations

import os
import sys

import click

from bot.adapters.logs import configure_logging
from bot.bootstrap import build_redactor, build_worker, pull_request_handler_factory
from bot.entrypoints.serve import Listen, build_server, run_server
from bot.entrypoints.worker import run_worker
from bot.errors import EucoraError
from bot.settings import Settings, SettingsError

EXIT_USAGE = 2


def _settings() -> Settings:
    try:
        return Settings.from_environ(os.environ)
    except SettingsError as error:
        raise click.UsageError(str(error)) from error


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64))
@click.option(
    "--threads",
    default=16,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Request threads per process (the stores waiting at once share one commit).",
)
@click.option(
    "--admin-listen",
    envvar="EUCORA_ADMIN_LISTEN",
    metavar="HOST:PORT",
    help="Serve the evidence pages and /metrics here only; the public address then serves "
    "only /webhook, /healthz and /readyz. Default $EUCORA_ADMIN_LISTEN; unset: one address.",
)
def serve(host: str, port: int, workers: int, threads: int, admin_listen: str | None) -> None:
    """Serve the GitHub webhook, evidence pages, /healthz, /readyz and /metrics with gunicorn.

    Without EUCORA_BROKER_URL each worker process also drains the inbox with a few threads;
    with it, run `eucora worker` too. Refuses a database whose schema is not current.
    """
    admin = None
    if admin_listen:
        try:
            admin = Listen.parse(admin_listen)
        except ValueError as error:
            raise click.BadParameter(str(error), param_hint="--admin-listen") from error
        if (admin.host, admin.port) == (host, port):
            raise click.BadParameter("must differ from --host/--port", param_hint="--admin-listen")
    settings = _settings()
    configure_logging(build_redactor(settings))
    try:
        server = build_server(settings, pull_request_handler_factory, admin_listen=admin)
    except (EucoraError, SettingsError) as error:
        click.echo(f"eucora: error: {error}", err=True)
        sys.exit(EXIT_USAGE)
    run_server(server, host, port, workers, threads)


@click.command()
@click.option("--concurrency", default=2, show_default=True, type=click.IntRange(1, 64))
def worker(concurrency: int) -> None:
    """Run the Celery worker that drains the inbox (needs EUCORA_BROKER_URL)."""
    settings = _settings()
    configure_logging(build_redactor(settings))
    try:
        built = build_worker(settings, pull_request_handler_factory)
    except (EucoraError, SettingsError) as error:
        click.echo(f"eucora: error: {error}", err=True)
        sys.exit(EXIT_USAGE)
    run_worker(built, concurrency=concurrency)
