"""The ``eucora`` command line.

Exit codes (DESIGN.md): 0 ok, 1 blocked or failed check (findings), 2 usage or I/O error.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import click
from click.formatting import HelpFormatter

from bot import __version__
from bot.settings import Settings, SettingsError

EXIT_USAGE = 2


@dataclass(frozen=True)
class LazyCommand:
    """A command imported only when it runs, so each command pays only for its own libraries.

    ``eucora --help`` lists it by ``summary`` (kept equal to the command's first help line by
    tests/entrypoints/test_lazy_commands.py) without importing it; ``extra`` names the install
    extra that brings its libraries (None: the base install, ``pip install eucora``).
    """

    target: str
    summary: str
    extra: str | None = None


LAZY_COMMANDS: dict[str, LazyCommand] = {
    "action": LazyCommand(
        "bot.entrypoints.commands_action:action",
        "Check the pull request or merge group that started this workflow (GitHub Actions).",
    ),
    "audit": LazyCommand(
        "bot.entrypoints.commands_db_audit:audit",
        "The audit trail: verify it, export it, show what happened to a change.",
        "server",
    ),
    "check": LazyCommand(
        "bot.entrypoints.commands_check:check",
        "Check the change from BASE to HEAD: findings, rules, risk, approvals and the decision.",
    ),
    "db": LazyCommand(
        "bot.entrypoints.commands_db_audit:db", "The database: its schema and migrations.", "server"
    ),
    "evidence": LazyCommand(
        "bot.entrypoints.commands_evidence:evidence_group",
        "Show and verify evidence packs (stored under EUCORA_EVIDENCE_DIR).",
    ),
    "github-app": LazyCommand(
        "bot.entrypoints.commands_github_app:github_app_group",
        "Set up the GitHub App EUCORA runs as.",
    ),
    "init": LazyCommand(
        "bot.entrypoints.commands_init:init_command",
        "Start an intents repository in FOLDER: eucora.yaml, intents, a policy and its test.",
    ),
    "keys": LazyCommand(
        "bot.entrypoints.commands_evidence:keys_group",
        "Manage the Ed25519 key that signs evidence packs.",
    ),
    "policy": LazyCommand("bot.entrypoints.commands_check:policy", "Work with policy rules."),
    "reconcile": LazyCommand(
        "bot.entrypoints.commands_rollouts:reconcile",
        "Read each live rollout's ring from its plane; promote, halt or hold it by its gate.",
        "server",
    ),
    "redeliver": LazyCommand(
        "bot.entrypoints.commands_redeliver:redeliver",
        "Ask GitHub to redeliver the webhook deliveries that failed or never reached the inbox.",
        "server",
    ),
    "rollout": LazyCommand(
        "bot.entrypoints.commands_rollouts:rollout_group", "Where rollouts stand.", "server"
    ),
    "schema": LazyCommand(
        "bot.entrypoints.commands_init:schema_group",
        "The JSON Schemas of EUCORA's files, for editors and other tools.",
    ),
    "serve": LazyCommand(
        "bot.entrypoints.commands_intake:serve",
        "Serve the GitHub webhook, evidence pages, /healthz, /readyz and /metrics with gunicorn.",
        "server",
    ),
    "validate": LazyCommand(
        "bot.entrypoints.commands_check:validate",
        "Validate intents, eucora.yaml and policy files against their schemas and rules.",
    ),
    "worker": LazyCommand(
        "bot.entrypoints.commands_intake:worker",
        "Run the Celery worker that drains the inbox (needs EUCORA_BROKER_URL).",
        "server",
    ),
}


@contextmanager
def needs_extra(command: str, extra: str | None) -> Iterator[None]:
    """Turn a library missing from the install into one line naming the extra (exit 2).

    Only a third-party module counts: a missing ``bot`` or ``connectors`` module is a bug.
    """
    try:
        yield
    except ModuleNotFoundError as error:
        missing = (error.name or "").partition(".")[0]
        if extra is None or not missing or missing in {"bot", "connectors"}:
            raise
        click.echo(
            f"eucora {command} needs the {extra} extra: pip install 'eucora[{extra}]'", err=True
        )
        sys.exit(EXIT_USAGE)


class LazyGroup(click.Group):
    """The ``eucora`` group: the commands of ``LAZY_COMMANDS`` are imported when they run."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        """The commands defined here and the lazy ones, by name."""
        return sorted({*super().list_commands(ctx), *LAZY_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """The command, imported now if lazy; a missing extra ends the run in one line."""
        lazy = LAZY_COMMANDS.get(cmd_name)
        if lazy is None:
            return super().get_command(ctx, cmd_name)
        module, _, attribute = lazy.target.partition(":")
        with needs_extra(cmd_name, lazy.extra):
            command: click.Command = getattr(importlib.import_module(module), attribute)
        return command

    def format_commands(self, ctx: click.Context, formatter: HelpFormatter) -> None:
        """List every command by its summary, importing none of the lazy ones."""
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = []
        for name in names:
            lazy = LAZY_COMMANDS.get(name)
            if lazy is not None:
                stand_in = click.Command(name, help=lazy.summary)
                rows.append((name, stand_in.get_short_help_str(limit)))
            elif not self.commands[name].hidden:
                rows.append((name, self.commands[name].get_short_help_str(limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="eucora")
def cli() -> None:
    """EUCORA: deployment intents in git, checked, approved and published through pull requests."""


@cli.command()
def demo() -> None:
    """Show what EUCORA does, on the bundled example repository (no network, no server)."""
    try:
        settings = Settings.from_environ(os.environ)
    except SettingsError as error:
        raise click.UsageError(str(error)) from error
    # Imported here: the demo brings the server, the planes' clients and the vendor doubles with
    # their OpenAPI validators (the demo extra), which no other command needs.
    with needs_extra("demo", "demo"):
        from bot.entrypoints import demo as demo_module  # noqa: PLC0415
    from bot.errors import EucoraError  # noqa: PLC0415 - `eucora --help` imports no core module

    try:
        code = demo_module.run(settings, echo=click.echo)
    except EucoraError as error:  # a signing key that is not found, a store that cannot hold it
        click.echo(f"eucora: error: {error}", err=True)
        sys.exit(EXIT_USAGE)
    sys.exit(code)


def main() -> None:
    """Run the CLI; turn unexpected failures into one line and exit 2, never a traceback."""
    try:
        cli.main(prog_name="eucora", standalone_mode=True)
    except Exception as error:
        # Imported here: `eucora --help` imports no core module (test_lazy_commands).
        from bot.errors import EucoraError  # noqa: PLC0415

        if not isinstance(error, OSError | EucoraError):
            raise
        click.echo(f"eucora: error: {error}", err=True)  # e.g. a signing key that is not found
        sys.exit(EXIT_USAGE)
