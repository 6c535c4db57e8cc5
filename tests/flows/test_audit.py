"""`eucora db` and `eucora audit` end to end on SQLite and PostgreSQL: exit codes and output.

Also the signing key store the commands use (``bot.adapters.audit_keys``).
"""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from bot.adapters.audit_keys import (
    DEFAULT_KEY_NAME,
    SIGNER_FILE,
    VERIFIER_FILE,
    audit_origin,
    keys_dir,
    load_or_create_signer,
    load_signer,
    read_verifier_key,
    verifier_keys,
)
from bot.adapters.pem_keys import generate_key_pair
from bot.adapters.storage import AuditLog, create_database_engine, head_revision
from bot.core.tlog import encode_signer_key, verify_checkpoint
from bot.entrypoints.commands_db_audit import audit, db
from bot.errors import SigningKeyError
from tests.adapters.storage.helpers import (  # noqa: F401 - pytest finds fixtures by name
    append_events,
    database_url,
    edit_event,
    postgres_server,
)
from tests.support.postgres import free_port


class Eucora:
    """Runs the commands with EUCORA_HOME and EUCORA_DATABASE_URL set, like a shell would."""

    def __init__(self, home: Path, url: str) -> None:
        self.home = home
        self.url = url
        self.env: dict[str, str | None] = {
            "EUCORA_HOME": str(home),
            "EUCORA_DATABASE_URL": url,
            "EUCORA_SIGNING_KEY": None,
            "EUCORA_SIGNING_KEY_FILE": None,
        }

    def __call__(self, group: object, *args: str, **env: str | None) -> Result:
        result = CliRunner().invoke(group, list(args), env={**self.env, **env})  # type: ignore[arg-type]
        assert result.exception is None or isinstance(result.exception, SystemExit), result.output
        assert "Traceback" not in result.output
        return result

    def log(self) -> Iterator[AuditLog]:
        engine = create_database_engine(self.url)
        try:
            yield AuditLog(engine)
        finally:
            engine.dispose()


@pytest.fixture
def eucora(tmp_path: Path, database_url: str) -> Eucora:  # noqa: F811 - the fixture
    return Eucora(tmp_path / "home", database_url)


@pytest.fixture
def filled(eucora: Eucora) -> Eucora:
    """A migrated database holding 12 events about PRs 1-3."""
    assert eucora(db, "upgrade").exit_code == 0
    for log in eucora.log():
        append_events(log, 12)
    return eucora


class TestDbUpgrade:
    def test_upgrade_is_idempotent(self, eucora: Eucora) -> None:
        first = eucora(db, "upgrade")
        assert first.exit_code == 0
        assert first.output == f"database schema upgraded from none to {head_revision()}\n"
        second = eucora(db, "upgrade")
        assert second.exit_code == 0
        assert second.output == f"database schema already at {head_revision()}\n"

    def test_commands_refuse_an_old_schema_and_name_the_fix(self, eucora: Eucora) -> None:
        result = eucora(audit, "verify")
        assert result.exit_code == 2
        assert (
            f"eucora: error: database schema is at none (empty database), EUCORA needs"
            f" {head_revision()}: run `eucora db upgrade`"
        ) in result.output

    def test_an_unreachable_database_is_a_usage_error(self, tmp_path: Path) -> None:
        url = f"postgresql://nobody@127.0.0.1:{free_port()}/none"
        result = Eucora(tmp_path, url)(audit, "verify")
        assert result.exit_code == 2
        assert result.output.startswith("eucora: error: database:")

    def test_an_unsupported_database_is_a_usage_error(self, tmp_path: Path) -> None:
        result = Eucora(tmp_path, "mysql://u@localhost/db")(db, "upgrade")
        assert result.exit_code == 2
        assert "SQLite or PostgreSQL" in result.output


class TestVerify:
    def test_an_intact_log_verifies(self, filled: Eucora) -> None:
        result = filled(audit, "verify")
        assert result.exit_code == 0
        assert result.output.startswith("OK: audit log: 12 events, chain intact;")

    def test_a_tampered_log_fails_naming_the_event(self, filled: Eucora) -> None:
        for log in filled.log():
            edit_event(log.engine, 7, actor="mallory")
        result = filled(audit, "verify")
        assert result.exit_code == 1
        assert "first bad event: event 7 (edited)" in result.output

    def test_checkpoint_signatures_are_checked_with_the_stored_key(self, filled: Eucora) -> None:
        assert filled(audit, "checkpoint").exit_code == 0
        result = filled(audit, "verify")
        assert result.exit_code == 0
        assert "1 checkpoint verified (signatures checked), latest at size 12" in result.output

    def test_a_key_that_did_not_sign_fails_the_checkpoints(self, filled: Eucora) -> None:
        assert filled(audit, "checkpoint").exit_code == 0
        other = load_or_create_signer(filled.home / "other").verifier.verifier_key
        result = filled(audit, "verify", "--public-key", other)
        assert result.exit_code == 1
        assert "checkpoint(s) at size 12 signed by a different key" in result.output

    def test_a_bad_public_key_is_a_usage_error(self, filled: Eucora) -> None:
        result = filled(audit, "verify", "--public-key", "not-a-key")
        assert result.exit_code == 2
        assert "neither a verifier key nor a readable file" in result.output


class TestExport:
    def test_an_export_verifies_offline_and_fails_when_edited(
        self, filled: Eucora, tmp_path: Path
    ) -> None:
        out = tmp_path / "audit.jsonl"
        result = filled(audit, "export", "-o", str(out))
        assert result.exit_code == 0, result.output
        assert "exported 12 events (the whole log; the signed log holds 12)" in result.output
        key_file = keys_dir(filled.home) / VERIFIER_FILE
        offline = Eucora(tmp_path / "auditor", "sqlite:////nonexistent/never-opened.db")
        verified = offline(audit, "verify", "--file", str(out), "--public-key", str(key_file))
        assert verified.exit_code == 0, verified.output
        assert verified.output.startswith(f"OK: {out}: 12 events, chain intact;")
        lines = out.read_bytes().splitlines(keepends=True)
        index = next(i for i, line in enumerate(lines) if b'"seq":5,' in line)
        lines[index] = lines[index].replace(b'"decision":"pass"', b'"decision":"fail"')
        out.write_bytes(b"".join(lines))
        failed = offline(audit, "verify", "--file", str(out), "--public-key", key_file.read_text())
        assert failed.exit_code == 1
        assert "first bad event: event 5 (edited)" in failed.output

    def test_a_filtered_export_proves_its_events(self, filled: Eucora, tmp_path: Path) -> None:
        out = tmp_path / "pr2.jsonl"
        result = filled(
            audit,
            "export",
            "--pr",
            "2",
            "--repo",
            "acme/intents",
            "--since",
            "2027-01-04T09:00:03Z",
            "-o",
            str(out),
        )
        assert result.exit_code == 0, result.output
        records = [json.loads(line) for line in out.read_text().splitlines()]
        assert records[0]["complete"] is False
        assert [r["seq"] for r in records if "hash" in r] == [5, 8, 11]
        assert [r["seq"] for r in records if r.get("record") == "inclusion"] == [5, 8, 11]
        verified = filled(audit, "verify", "--file", str(out))
        assert verified.exit_code == 0, verified.output

    def test_export_to_standard_output(self, filled: Eucora) -> None:
        result = filled(audit, "export", "--pr", "1")
        assert result.exit_code == 0
        assert result.stdout.splitlines()[0].startswith('{"complete":false')

    def test_a_bad_since_is_a_usage_error(self, filled: Eucora) -> None:
        result = filled(audit, "export", "--since", "last tuesday")
        assert result.exit_code == 2
        assert "--since" in result.output

    def test_a_tampered_log_is_not_exported(self, filled: Eucora, tmp_path: Path) -> None:
        for log in filled.log():
            edit_event(log.engine, 3, actor="mallory")
        result = filled(audit, "export", "-o", str(tmp_path / "x.jsonl"))
        assert result.exit_code == 1
        assert "refusing to sign a checkpoint: event 3 was edited" in result.output

    def test_a_missing_export_file_is_a_usage_error(self, filled: Eucora, tmp_path: Path) -> None:
        load_or_create_signer(filled.home)
        result = filled(audit, "verify", "--file", str(tmp_path / "missing.jsonl"))
        assert result.exit_code == 2
        assert "missing.jsonl" in result.output

    def test_an_export_needs_a_key_to_verify(self, tmp_path: Path) -> None:
        (tmp_path / "x.jsonl").write_text("{}\n")
        result = Eucora(tmp_path / "empty", "sqlite:///unused.db")(
            audit, "verify", "--file", str(tmp_path / "x.jsonl")
        )
        assert result.exit_code == 2
        assert "--public-key" in result.output

    def test_the_configured_signing_key_signs(self, filled: Eucora, tmp_path: Path) -> None:
        signing_key = encode_signer_key("example.com/audit", b"\x01" * 32)
        out = tmp_path / "a.jsonl"
        result = filled(audit, "export", "-o", str(out), EUCORA_SIGNING_KEY=signing_key)
        assert result.exit_code == 0, result.output
        note = json.loads(out.read_text().splitlines()[1])["note"]
        verify_checkpoint(note, verifier_keys(tmp_path, signing_key), origin="example.com/audit")
        assert not (keys_dir(filled.home) / SIGNER_FILE).exists()

    def test_the_evidence_pem_key_signs_checkpoints_too(
        self, filled: Eucora, tmp_path: Path
    ) -> None:
        """EUCORA_SIGNING_KEY as the evidence signer takes it (a PEM file) signs checkpoints."""
        files = generate_key_pair(tmp_path / "keys")
        result = filled(audit, "checkpoint", EUCORA_SIGNING_KEY=str(files.private_key))
        assert result.exit_code == 0, result.output
        keys = verifier_keys(tmp_path, str(files.private_key))
        origin = audit_origin(filled.home)  # a new log: named after the installation
        assert origin != DEFAULT_KEY_NAME
        assert verify_checkpoint(result.output, keys, origin=origin).size == 12
        pem = files.private_key.read_text()
        assert verifier_keys(tmp_path, pem) == keys

    @pytest.mark.parametrize("key", ["s3cret", "PRIVATE+KEY+s3cret", "-----BEGIN s3cret"])
    def test_a_malformed_signing_key_is_a_usage_error(self, filled: Eucora, key: str) -> None:
        result = filled(audit, "export", EUCORA_SIGNING_KEY=key)
        assert result.exit_code == 2
        assert "eucora: error:" in result.output
        assert "s3cret" not in result.output


class TestShowAndCheckpoint:
    def test_show_tells_the_story_of_one_pull_request(self, filled: Eucora) -> None:
        result = filled(audit, "show", "--pr", "2")
        assert result.exit_code == 0
        lines = result.output.splitlines()
        assert lines[0].startswith("pull request #2: 4 events, 2027-01-04T09:00:01.000000Z to")
        assert [line.split()[0] for line in lines[1:]] == ["#2", "#5", "#8", "#11"]

    def test_show_without_events(self, filled: Eucora) -> None:
        result = filled(audit, "show", "--pr", "99", "--repo", "acme/intents")
        assert result.exit_code == 0
        assert result.output == "acme/intents#99: no audit events\n"

    def test_show_needs_a_pull_request(self, filled: Eucora) -> None:
        assert filled(audit, "show").exit_code == 2

    def test_checkpoint_prints_the_signed_note(self, filled: Eucora) -> None:
        result = filled(audit, "checkpoint")
        assert result.exit_code == 0
        checkpoint = verify_checkpoint(result.output, verifier_keys(filled.home))
        assert checkpoint.size == 12

    def test_checkpoint_of_an_empty_log(self, eucora: Eucora) -> None:
        eucora(db, "upgrade")
        result = eucora(audit, "checkpoint")
        assert result.exit_code == 0
        assert "nothing to sign" in result.output


class TestKeyStore:
    def test_a_key_is_generated_once_and_kept_private(self, tmp_path: Path) -> None:
        first = load_or_create_signer(tmp_path)
        second = load_or_create_signer(tmp_path)
        assert first == second
        key_file = keys_dir(tmp_path) / SIGNER_FILE
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        public = (keys_dir(tmp_path) / VERIFIER_FILE).read_text().strip()
        assert public == first.verifier.verifier_key
        assert verifier_keys(tmp_path) == [public]
        assert read_verifier_key(str(keys_dir(tmp_path) / VERIFIER_FILE)) == public
        assert read_verifier_key(public) == public

    def test_no_key_is_created_by_reading(self, tmp_path: Path) -> None:
        assert load_signer(tmp_path) is None
        assert verifier_keys(tmp_path) == []
        assert not keys_dir(tmp_path).exists()

    def test_a_key_readable_by_others_is_refused(self, tmp_path: Path) -> None:
        load_or_create_signer(tmp_path)
        (keys_dir(tmp_path) / SIGNER_FILE).chmod(0o644)
        with pytest.raises(SigningKeyError, match="chmod 600"):
            load_signer(tmp_path)

    def test_a_file_that_is_not_a_key_is_refused(self, tmp_path: Path) -> None:
        (tmp_path / "k").write_text("hello\n")
        with pytest.raises(SigningKeyError, match="not a verifier key"):
            read_verifier_key(str(tmp_path / "k"))
