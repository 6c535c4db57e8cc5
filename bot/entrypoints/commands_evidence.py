"""``eucora evidence show|verify`` and ``eucora keys generate``.

Exit codes (DESIGN.md): 0 ok; 1 the evidence does not hold (digest, signature, statement or log
inclusion); 2 usage or I/O error (unknown digest, unreadable file or key). Expected failures are
one line on stderr, never a traceback.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import click

from bot.adapters.evidence_store import EvidenceStoreError, TamperedEvidenceError
from bot.adapters.pem_keys import generate_key_pair
from bot.bootstrap import file_evidence
from bot.core.evidence_verify import VerifyReport
from bot.errors import SigningKeyError
from bot.flows.evidence import EvidenceRefError, show, verify
from bot.settings import Settings, SettingsError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
KEYS_FOLDER = "keys"


def _fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    click.echo(f"eucora: error: {message}", err=True)
    sys.exit(code)


@contextmanager
def _usage_errors() -> Iterator[None]:
    """Turn the expected failures of reading settings, keys and evidence into exit codes."""
    try:
        yield
    except TamperedEvidenceError as error:
        _fail(str(error), EXIT_FAILED)
    except (EvidenceRefError, EvidenceStoreError, SigningKeyError, SettingsError) as error:
        _fail(str(error))
    except OSError as error:
        _fail(f"{error.filename or ''}: {error.strerror or error}".lstrip(": "))


def _settings() -> Settings:
    return Settings.from_environ(os.environ)


def _dump(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)


# --- eucora evidence ------------------------------------------------------------------------------


@click.group("evidence")
def evidence_group() -> None:
    """Show and verify evidence packs (stored under EUCORA_EVIDENCE_DIR)."""


@evidence_group.command("show")
@click.argument("ref", metavar="DIGEST|FILE")
@click.option("--envelope", is_flag=True, help="Print the DSSE envelope instead of the pack.")
def evidence_show(ref: str, envelope: bool) -> None:
    """Print the evidence pack named by DIGEST (sha256:...) or stored in FILE.

    The pack's digest is checked when it is read from the store (exit 1 when it no longer holds);
    signatures are listed, not verified: use `eucora evidence verify` for that.
    """
    with _usage_errors():
        shown = show(ref, file_evidence(_settings()).store)
    if envelope:
        if shown.envelope is None:
            _fail(f"{shown.digest} is not signed: it has no DSSE envelope")
        click.echo(_dump(shown.envelope))
    else:
        click.echo(_dump(shown.pack))
    click.echo(f"digest: {shown.digest}", err=True)
    if shown.envelope is None:
        click.echo("signed: no", err=True)
    else:
        claimed = ", ".join(shown.key_ids) or "no keyid given"
        click.echo(f"signed: yes, keyid {claimed} (not verified)", err=True)


@evidence_group.command("verify")
@click.argument("ref", metavar="DIGEST|FILE")
@click.option(
    "--public-key",
    "public_keys",
    multiple=True,
    metavar="KEY",
    help="Trust this key: an Ed25519 public key (PEM file) or the audit log's verifier key"
    " (name+id+base64, or a file holding it). Repeatable. With it, the pack must be signed by"
    " a trusted key and proven in the audit log under a checkpoint one signed."
    " Default: the configured keys; a missing proof is skipped, and a missing signature too"
    " unless EUCORA_SIGNING_KEY is set.",
)
@click.option(
    "--proof",
    "proof",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The pack's proof bundle (.tlog-proof). Default: the one next to FILE or in the store.",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
)
def evidence_verify(
    ref: str, public_keys: tuple[str, ...], proof: Path | None, output_format: str
) -> None:
    """Verify a pack's digest, its signature, its in-toto statement and its place in the log.

    Offline: the audit log's part is checked from the pack's proof bundle (the event that
    recorded the pack, its inclusion proof and a signed checkpoint), no database needed.
    Exit 0 when every check holds (a check that cannot apply is skipped), 1 when one fails.
    The verdict says "verified" only when a signature held; an unsigned pack whose digest holds
    reads "digest holds, NOT signed".
    """
    with _usage_errors():
        report = verify(ref, file_evidence(_settings()), public_keys=public_keys, proof=proof)
    if output_format == "json":
        click.echo(_dump(report.as_dict()))
    else:
        click.echo(render_report(report), nl=False)
    sys.exit(EXIT_OK if report.ok else EXIT_FAILED)


def render_report(report: VerifyReport) -> str:
    """One line per check, then the verdict."""
    width = max((len(c.name) for c in report.checks), default=0)
    lines = [f"{report.source}"]
    lines.extend(
        f"  {c.status.value.upper():<8}{c.name:<{width}}  {c.detail}" for c in report.checks
    )
    lines.append(f"{report.digest or '(unknown digest)'}: {report.verdict}")
    return "\n".join(lines) + "\n"


# --- eucora keys ----------------------------------------------------------------------------------


@click.group("keys")
def keys_group() -> None:
    """Manage the Ed25519 key that signs evidence packs."""


@keys_group.command("generate")
@click.option(
    "--out",
    "out",
    type=click.Path(file_okay=False, path_type=Path),
    help="The folder to write the key pair into. Default: EUCORA_HOME/keys.",
)
def keys_generate(out: Path | None) -> None:
    """Generate an Ed25519 key pair for signing evidence (private key 0600, folder 0700).

    Existing keys are never overwritten.
    """
    with _usage_errors():
        folder = out if out is not None else _settings().home / KEYS_FOLDER
        files = generate_key_pair(folder)
    echo: Callable[[str], None] = click.echo
    echo(f"private key: {files.private_key}")
    echo(f"public key:  {files.public_key}")
    echo(f"key id:      {files.key_id}")
    echo(f"To sign evidence: export EUCORA_SIGNING_KEY_FILE={files.private_key}")
