"""``eucora init`` and ``eucora schema export``: start an intents repository in one command.

``init`` writes the files ``bot.core.scaffold`` describes and the schemas (under
``.eucora-schemas/``, which every file's ``# yaml-language-server: $schema=`` line points at), and
refuses to overwrite anything (exit 2, one line). ``schema export`` writes (or refreshes) the
schemas alone, for a repository started by hand or after an upgrade.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from bot import resources
from bot.core.scaffold import PLANES, SCHEMA_DIR, scaffold

EXIT_USAGE = 2
WORKFLOW = ("workflows", "eucora.yml")


def _fail(message: str) -> None:
    click.echo(f"eucora: error: {message}", err=True)
    sys.exit(EXIT_USAGE)


def _schema_files() -> dict[str, bytes]:
    """The shipped schemas, by their path in a repository."""
    folder = resources.schemas_dir()
    return {
        f"{SCHEMA_DIR}/{path.name}": path.read_bytes()
        for path in sorted(folder.glob("*.schema.json"))
    }


def _workflow() -> str | None:
    path = resources.data_dir("examples").joinpath(*WORKFLOW)
    return path.read_text(encoding="utf-8") if path.is_file() else None


def _write(folder: Path, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


@click.command("init")
@click.argument("folder", default=".", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--plane",
    "planes",
    multiple=True,
    type=click.Choice(list(PLANES)),
    help="A plane to write an example intent for (repeatable; default: intune).",
)
@click.option(
    "--org",
    "organization",
    default="my-org",
    show_default=True,
    help="The GitHub organization whose cab team approves (eucora.yaml's cab.teams).",
)
def init_command(folder: Path, planes: tuple[str, ...], organization: str) -> None:
    """Start an intents repository in FOLDER: eucora.yaml, intents, a policy and its test.

    Also the GitHub workflow and the schemas under .eucora-schemas/ for the editor. Nothing is
    overwritten: a file that exists stops it before anything is written (exit 2).
    """
    texts = scaffold(planes, organization=organization, workflow=_workflow())
    files = {name: text.encode("utf-8") for name, text in texts.items()} | _schema_files()
    existing = [name for name in files if (folder / name).exists()]
    if existing:
        more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
        _fail(f"{folder / existing[0]} already exists{more}; init writes only new files")
    _write(folder, files)
    click.echo(f"wrote {len(files)} files under {folder}:")
    for name in texts:
        click.echo(f"  {name}")
    click.echo(f"  {SCHEMA_DIR}/ ({len(files) - len(texts)} schemas for the editor)")
    click.echo(
        f"next: eucora validate {folder} && eucora policy test {folder / 'policies'};"
        " then set cab.teams in eucora.yaml and commit"
    )


@click.group("schema")
def schema_group() -> None:
    """The JSON Schemas of EUCORA's files, for editors and other tools."""


@schema_group.command("export")
@click.argument("folder", default=".", type=click.Path(file_okay=False, path_type=Path))
def schema_export(folder: Path) -> None:
    """Write the schemas into FOLDER/.eucora-schemas/ (replacing older copies).

    Point a file at them with a first line such as
    `# yaml-language-server: $schema=../../.eucora-schemas/deployment-intent.schema.json`.
    """
    files = _schema_files()
    _write(folder, files)
    click.echo(f"wrote {len(files)} schemas to {folder / SCHEMA_DIR}")
