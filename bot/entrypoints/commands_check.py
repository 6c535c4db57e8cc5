"""``eucora validate``, ``eucora check`` and ``eucora policy test``: the base install's commands.

Exit codes (DESIGN.md): 0 ok, 1 blocked or failed check (findings), 2 usage or I/O error.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from bot.adapters.git import GitError
from bot.adapters.revisions import GitRevisions
from bot.adapters.workspace import read_sources
from bot.core.evidence import canonical_json
from bot.core.findings import Severity, has_errors
from bot.core.render.check_markdown import render_check_github, render_check_markdown
from bot.core.render.check_text import render_check_text
from bot.core.render.findings import (
    render_github,
    render_json,
    render_summary,
    render_text,
    summarize,
)
from bot.flows.check import check_fetched
from bot.flows.policy_test import run_policy_tests
from bot.flows.validate import validate_paths
from bot.settings import Settings

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2


@click.command()
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
    run = validate_paths(paths, read_sources)
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


def _parse_now(value: str | None) -> datetime:
    if value is None:
        return datetime.now(UTC).replace(microsecond=0)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as error:
        raise click.BadParameter(f"{value!r} is not an RFC 3339 time") from error
    if parsed.tzinfo is None:
        raise click.BadParameter(f"{value!r} needs a time zone, e.g. 2027-01-04T09:00:00Z")
    return parsed


@click.command()
@click.option(
    "--repo", default=".", show_default=True, help="The intents repository (may be bare)."
)
@click.option("--base", required=True, help="The base revision (branch, tag or SHA).")
@click.option("--head", default="HEAD", show_default=True, help="The head revision.")
@click.option("--label", "labels", multiple=True, help="A pull request label (repeatable).")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json", "markdown", "github"]),
    default="text",
    show_default=True,
)
@click.option("--now", "now_text", help="Evaluate as of this time (RFC 3339); default: now.")
@click.option("--evidence-out", type=click.Path(dir_okay=False), help="Also write the pack here.")
def check(  # noqa: PLR0913, PLR0917 - click passes one parameter per option
    repo: str,
    base: str,
    head: str,
    labels: tuple[str, ...],
    output_format: str,
    now_text: str | None,
    evidence_out: str | None,
) -> None:
    """Check the change from BASE to HEAD: findings, rules, risk, approvals and the decision.

    Exit 0 when the change may proceed (once approved), 1 when it is blocked, 2 for usage or I/O
    errors (unknown revision, not a git repository).
    """
    now = _parse_now(now_text)
    try:
        home = Settings.from_environ(os.environ).home
        run = check_fetched(GitRevisions(repo), base, head, now=now, labels=labels, home=home)
    except GitError as error:
        click.echo(f"eucora: error: {error}", err=True)
        sys.exit(EXIT_USAGE)
    # who can approve, the tier thresholds and the separation-of-duties rules come from the
    # base's eucora.yaml: the json output is the evidence pack itself, whose bytes stay
    config = run.result.inputs.config
    if output_format == "json":
        click.echo(json.dumps(run.pack, indent=2, sort_keys=True, ensure_ascii=False))
    elif output_format == "markdown":
        click.echo(render_check_markdown(run.pack, digest=run.digest, config=config), nl=False)
    elif output_format == "github":
        commands, summary = render_check_github(run.pack, config=config)
        click.echo(commands, nl=False)
        summary_path = os.environ.get("GITHUB_STEP_SUMMARY")
        if summary_path:
            with Path(summary_path).open("a", encoding="utf-8") as stream:
                stream.write(summary)
    else:
        click.echo(render_check_text(run.pack, config=config), nl=False)
        click.echo(f"evidence digest: {run.digest}")
    if evidence_out:
        Path(evidence_out).write_bytes(canonical_json(run.pack))
    sys.exit(EXIT_FINDINGS if run.result.blocked else EXIT_OK)


@click.group()
def policy() -> None:
    """Work with policy rules."""


@policy.command("test")
@click.argument("folder", default=".", type=click.Path(path_type=Path))
def policy_test(folder: Path) -> None:
    """Run the policy test suites (*.test.yaml, kind PolicyTest) under FOLDER."""
    report = run_policy_tests(folder)
    for outcome in report.outcomes:
        mark = "PASS" if outcome.passed else "FAIL"
        click.echo(f"{mark}  {outcome.suite} :: {outcome.name}")
        for failure in outcome.failures:
            click.echo(f"      {failure}")
    click.echo(render_text(report.findings), nl=False)
    for problem in report.problems:
        click.echo(f"eucora: error: {problem}", err=True)
    passed = len(report.outcomes) - report.failed
    click.echo(f"{passed} passed, {report.failed} failed")
    broken = has_errors(report.findings)
    sys.exit(
        EXIT_USAGE if report.problems else EXIT_FINDINGS if report.failed or broken else EXIT_OK
    )
