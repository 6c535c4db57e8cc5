"""The ``eucora db`` and ``eucora audit`` commands.

``eucora db copy --to URL`` moves EUCORA's database (SQLite → PostgreSQL) without losing the
audit chain, the review ledger, the inbox or the publications outbox: the target is migrated,
must be empty, receives every row in one transaction, and its audit trail is verified there
before success is reported (exit 1 when it does not verify). The URL's password is never shown.

Exit codes (DESIGN.md): 0 ok, 1 verification failed (or the log refuses to sign because it does
not verify), 2 usage, configuration, database or I/O error. Every failure is one line on stderr,
never a traceback.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, NoReturn

import click
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from bot.adapters.audit_keys import audit_signer, audit_verifier_keys, read_verifier_key
from bot.adapters.storage import (
    AuditLog,
    create_database_engine,
    open_database,
    upgrade_schema,
)
from bot.adapters.storage.copy import copy_database
from bot.core.durations import parse_since
from bot.errors import AuditIntegrityError, EucoraError
from bot.flows.audit import (
    export_filters,
    export_log,
    latest_checkpoint,
    pr_story,
    sign_checkpoint,
    verify_file,
    verify_log,
)
from bot.settings import Settings, SettingsError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    click.echo(f"eucora: error: {message}", err=True)
    sys.exit(code)


@contextmanager
def _reported() -> Iterator[None]:
    """Turn EUCORA, database and file errors into one line and an exit code."""
    try:
        yield
    except AuditIntegrityError as error:
        _fail(str(error), EXIT_FAILED)
    except (EucoraError, SettingsError) as error:
        _fail(str(error))
    except SQLAlchemyError as error:
        detail = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        _fail(f"database: {detail}")
    except OSError as error:
        where = f"{error.filename}: " if error.filename else ""
        _fail(f"{where}{error.strerror or error}")


def _settings() -> Settings:
    return Settings.from_environ(os.environ)


def _now() -> datetime:
    return datetime.now(UTC)


@contextmanager
def _database(settings: Settings, *, check: bool = True) -> Iterator[Engine]:
    engine = (
        open_database(settings.database_url)
        if check
        else create_database_engine(settings.database_url)
    )
    try:
        yield engine
    finally:
        engine.dispose()


@click.group("db")
def db() -> None:
    """The database: its schema and migrations."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the database schema to what this EUCORA needs (idempotent)."""
    with _reported():
        settings = _settings()
        with _database(settings, check=False) as engine:
            before, after = upgrade_schema(engine)
    if before == after:
        click.echo(f"database schema already at {after}")
    else:
        click.echo(f"database schema upgraded from {before or 'none'} to {after}")


@db.command("copy")
@click.option(
    "--to",
    "target_url",
    required=True,
    metavar="URL",
    help="The empty target database, e.g. postgresql+psycopg://eucora@db.internal/eucora "
    "(a password may come from PGPASSWORD rather than the URL).",
)
def db_copy(target_url: str) -> None:
    """Copy every table into an empty database, then verify its audit trail there."""
    try:
        shown = make_url(target_url).render_as_string(hide_password=True)
    except ArgumentError:
        _fail("--to is not a database URL (e.g. postgresql+psycopg://user@host/db)")
    with _reported():
        settings = _settings()
        if make_url(settings.database_url) == make_url(target_url):
            _fail("--to names the database being copied")
        with _database(settings) as source:
            target = create_database_engine(target_url)
            try:
                counts = copy_database(source, target)
                report, text = verify_log(AuditLog(target), audit_verifier_keys(settings))
            finally:
                target.dispose()
    short = [c for c in counts if c.target_rows != c.source_rows]
    for copied in counts:
        click.echo(f"{copied.table}: {copied.target_rows} row(s)")
    click.echo(f"copied into {shown}")
    click.echo(text, nl=False)
    if short:
        names = ", ".join(c.table for c in short)
        click.echo(f"eucora: error: rows changed in the source during the copy: {names}", err=True)
        sys.exit(EXIT_FAILED)
    sys.exit(EXIT_OK if report.ok else EXIT_FAILED)


@click.group("audit")
def audit() -> None:
    """The audit trail: verify it, export it, show what happened to a change."""


@audit.command("verify")
@click.option(
    "--file",
    "file_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Verify this export (JSON Lines) offline instead of the database.",
)
@click.option(
    "--public-key",
    "public_keys",
    multiple=True,
    help="The log's verifier key, or a file holding it (repeatable; default: EUCORA_HOME's key).",
)
def audit_verify(file_path: Path | None, public_keys: tuple[str, ...]) -> None:
    """Walk the whole chain and every checkpoint; name the first bad event (exit 1).

    Every event must hash to its stored hash and link to the one before; every signed
    checkpoint must verify and sign the root of the events it covers.
    """
    with _reported():
        settings = _settings()
        keys = [read_verifier_key(k) for k in public_keys] or audit_verifier_keys(settings)
        if file_path is not None:
            if not keys:
                _fail("verifying an export needs the log's verifier key: give --public-key")
            report, text = verify_file(file_path, keys)
            note = _last_exported_checkpoint(file_path)
        else:
            with _database(settings) as engine:
                report, text = verify_log(AuditLog(engine), keys)
                note = latest_checkpoint(AuditLog(engine))
    click.echo(text, nl=False)
    if note:
        click.echo(f"log origin: {note.split(chr(10), 1)[0]} (the log's name in its checkpoints)")
    if not keys:
        click.echo("note: no verifier key: checkpoint signatures were not checked", err=True)
    sys.exit(EXIT_OK if report.ok else EXIT_FAILED)


def _last_exported_checkpoint(path: Path) -> str | None:
    """The note of the last checkpoint record of an export (``None`` when there is none)."""
    note = None
    with path.open("rb") as stream:
        for line in stream:
            if b'"checkpoint"' not in line:
                continue
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and record.get("record") == "checkpoint":
                note = str(record.get("note") or "") or note
    return note


@audit.command("export")
@click.option(
    "--since", help="Only events since a duration ago (30m, 24h, 7d) or a time (RFC 3339)."
)
@click.option("--repo", "repository", help="Only events of this repository (owner/name).")
@click.option("--pr", type=click.IntRange(min=0), help="Only events of this pull request.")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write here instead of standard output.",
)
def audit_export(
    since: str | None, repository: str | None, pr: int | None, output: Path | None
) -> None:
    """Sign a checkpoint, then write the log as JSON Lines that `audit verify --file` checks.

    With filters, each event carries its inclusion proof in the signed checkpoint.
    """
    now = _now()
    try:
        since_time = parse_since(since, now=now) if since else None
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--since") from error
    with _reported(), ExitStack() as stack:
        settings = _settings()
        signer = audit_signer(settings)
        engine = stack.enter_context(_database(settings))
        filters = export_filters(since=since_time, repository=repository, pr=pr)
        stream: IO[bytes] = stack.enter_context(output.open("wb")) if output else sys.stdout.buffer
        summary = export_log(AuditLog(engine), stream, filters, signer, now=now)
        stream.flush()
    what = "the whole log" if summary.complete else "the events matching the filters"
    click.echo(
        f"exported {summary.events} events ({what}; the signed log holds {summary.size})"
        + (f" to {output}" if output else ""),
        err=True,
    )
    key = signer.verifier.verifier_key
    click.echo(f"verify with: eucora audit verify --file FILE --public-key '{key}'", err=True)


@audit.command("show")
@click.option("--pr", type=click.IntRange(min=0), required=True, help="The pull request number.")
@click.option("--repo", "repository", help="The repository (owner/name), when several have PR N.")
def audit_show(pr: int, repository: str | None) -> None:
    """Print the story of one change: its audit events in order."""
    with _reported():
        settings = _settings()
        with _database(settings) as engine:
            _, text = pr_story(AuditLog(engine), pr, repository)
    click.echo(text, nl=False)


@audit.command("checkpoint")
def audit_checkpoint() -> None:
    """Sign a checkpoint of the log as it is now and print it (refused if the log is broken)."""
    with _reported():
        settings = _settings()
        signer = audit_signer(settings)
        with _database(settings) as engine:
            note = sign_checkpoint(AuditLog(engine), signer, now=_now())
    if note is None:
        click.echo("the audit log is empty: nothing to sign", err=True)
        return
    click.echo(note, nl=False)
