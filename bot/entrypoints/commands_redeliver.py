"""``eucora redeliver --since DURATION``, and the periodic redelivery of ``serve`` and ``worker``.

Exit codes: 0 every redelivery asked for was accepted (or none was needed), 1 GitHub refused
some, 2 usage, configuration, GitHub-read or database error (one line on stderr).

The periodic task: ``EUCORA_REDELIVER_INTERVAL`` seconds between runs (default 600; 0 turns it
off), each over the last ``EUCORA_REDELIVER_LOOKBACK`` (default ``6h``), GitHub App only.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import NoReturn

import click
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from bot.adapters.github_connectors import GitHubAppConnector, connector_from_settings
from bot.adapters.storage import AuditLog, open_database
from bot.adapters.storage.inbox import Inbox
from bot.adapters.storage.run_lease import exclusive
from bot.core.redelivery import DeliveryListError, since_moment
from bot.errors import EucoraError
from bot.flows.redeliver import PeriodicRedelivery, RedeliveryReport, redeliver_since
from bot.settings import Settings, SettingsError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
DEFAULT_INTERVAL = 600.0
DEFAULT_LOOKBACK = "6h"


def _fail(message: str) -> NoReturn:
    click.echo(f"eucora: error: {message}", err=True)
    sys.exit(EXIT_USAGE)


def _app(settings: Settings) -> GitHubAppConnector:
    connector = connector_from_settings(settings)
    if not isinstance(connector, GitHubAppConnector):
        raise SettingsError(
            "redelivery needs the GitHub App: set GITHUB_APP_ID and GITHUB_PRIVATE_KEY"
        )
    return connector


def _now() -> datetime:
    return datetime.now(UTC)


@click.command()
@click.option("--since", "since_text", required=True, help="How far back: 2h, 30m, 3d, P1D.")
def redeliver(since_text: str) -> None:
    """Ask GitHub to redeliver the webhook deliveries that failed or never reached the inbox."""
    now = _now()
    try:
        since = since_moment(since_text, now=now)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--since") from None
    try:
        settings = Settings.from_environ(os.environ)
        app = _app(settings)
        engine = open_database(settings.database_url)
        report = redeliver_since(app, Inbox(engine), AuditLog(engine), since=since, now=now)
    except (EucoraError, SettingsError, DeliveryListError) as error:
        _fail(str(error))
    except SQLAlchemyError as error:
        _fail(f"database: {str(getattr(error, 'orig', None) or error).strip().splitlines()[0]}")
    for line in report.lines():
        click.echo(line)
    sys.exit(EXIT_FAILED if report.failed else EXIT_OK)


def _interval(environ: Mapping[str, str]) -> float:
    text = environ.get("EUCORA_REDELIVER_INTERVAL") or ""
    try:
        value = float(text) if text else DEFAULT_INTERVAL
    except ValueError:
        raise SettingsError(
            f"EUCORA_REDELIVER_INTERVAL: {text!r} is not a number of seconds"
        ) from None
    if value < 0:
        raise SettingsError(f"EUCORA_REDELIVER_INTERVAL: {text!r} must be 0 (off) or more seconds")
    return value


def periodic_redelivery(settings: Settings, engine: Engine) -> PeriodicRedelivery | None:
    """The periodic task for ``serve``/``worker`` (``None``: no GitHub App, or turned off)."""
    interval = _interval(settings.planes)
    if not interval or not (settings.github_app_id and settings.github_private_key):
        return None
    now = _now()
    lookback_text = settings.planes.get("EUCORA_REDELIVER_LOOKBACK") or DEFAULT_LOOKBACK
    try:
        lookback = now - since_moment(lookback_text, now=now)
    except ValueError as error:
        raise SettingsError(f"EUCORA_REDELIVER_LOOKBACK: {error}") from None
    app = _app(settings)
    inbox, audit = Inbox(engine), AuditLog(engine)

    def run(since: datetime, min_gap: timedelta) -> RedeliveryReport:
        return redeliver_since(app, inbox, audit, since=since, now=_now(), min_gap=min_gap)

    return PeriodicRedelivery(
        exclusive=partial(exclusive, engine),
        run=run,
        clock=_now,
        interval=interval,
        lookback=lookback,
    )
