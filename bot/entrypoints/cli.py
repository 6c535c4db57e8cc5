"""The ``eucora`` command line.

Exit codes (DESIGN.md): 0 ok, 1 blocked or failed check (findings), 2 usage or I/O error.
"""

from __future__ import annotations

import os
import sys

import click

from bot import __version__
from bot.core.findings import Severity, has_errors
from bot.core.render.findings import (
    render_github,
    render_json,
    render_summary,
    render_text,
    summarize,
)
from bot.entrypoints import demo as demo_module
from bot.flows.validate import validate_paths
from bot.settings import Settings, SettingsError

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="eucora")
def cli() -> None:
    """EUCORA: deployment intents in git, checked, approved and published through pull requests."""


@cli.command()
@click.argument("paths", nargs=-1, required=True)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json", "github"]),
    default="text",
    show_default=True,
    help="text for people, json for tools, github for workflow-command annotations.",
)
@click.option("--strict", is_flag=True, help="Treat warnings as errors (exit 1).")
def validate(paths: tuple[str, ...], output_format: str, strict: bool) -> None:
    """Validate intents, eucora.yaml and policy files against their schemas and rules.

    PATHS are files or folders. A folder that is an intents repository is read as one:
    eucora.yaml, intents/**/*.yaml and policies/*.yaml, each with its own schema.
    """
    run = validate_paths(paths)
    findings, files, problems = run.findings, len(run.documents), run.problems
    if output_format == "json":
        click.echo(render_json(findings, files), nl=False)
    elif output_format == "github":
        click.echo(render_github(findings), nl=False)
    else:
        click.echo(render_text(findings), nl=False)
        click.echo(render_summary(summarize(findings, files)), nl=False, err=True)
    for problem in problems:
        click.echo(f"eucora: error: {problem}", err=True)
    failed = has_errors(findings) or (
        strict and any(f.severity is Severity.WARNING for f in findings)
    )
    sys.exit(EXIT_USAGE if problems else EXIT_FINDINGS if failed else EXIT_OK)


@cli.command()
def demo() -> None:
    """Show what EUCORA does, on the bundled example repository (no network, no server)."""
    try:
        settings = Settings.from_environ(os.environ)
    except SettingsError as error:
        raise click.UsageError(str(error)) from error
    sys.exit(demo_module.run(settings, echo=click.echo))


def main() -> None:
    """Run the CLI; turn unexpected failures into one line and exit 2, never a traceback."""
    try:
        cli.main(prog_name="eucora", standalone_mode=True)
    except OSError as error:
        click.echo(f"eucora: error: {error}", err=True)
        sys.exit(EXIT_USAGE)
