# ruff: noqa: F811 - fixtures shared with test_evidence are parameters here
"""Evidence in the audit log: recording a pack, its proof bundle, and verifying it offline.

A real check's pack is stored, recorded in a real SQLite audit log, covered by a signed
checkpoint and proven by a .tlog-proof next to it; `eucora evidence verify` then checks it with
only the public key, and fails (exit 1, no traceback) when any byte of the bundle changes.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from bot.adapters.audit_keys import VERIFIER_FILE, keys_dir, load_or_create_signer, load_signer
from bot.adapters.evidence_store import EvidenceStore, EvidenceStoreError, TamperedEvidenceError
from bot.adapters.pem_keys import PUBLIC_KEY_NAME
from bot.adapters.storage import AuditLog, create_database_engine, upgrade_schema
from bot.bootstrap import file_evidence
from bot.core.audit_events import leaf_data
from bot.core.evidence_proof import EVIDENCE_EVENT_TYPE, evidence_event_payload
from bot.core.evidence_verify import CheckStatus
from bot.core.tlog import Ed25519Signer
from bot.entrypoints.commands_evidence import evidence_group
from bot.flows.audit import latest_checkpoint
from bot.flows.check import CheckedChange
from bot.flows.evidence import (
    EvidenceContext,
    RecordedEvidence,
    record_check_evidence,
    record_evidence,
    store_check_pack,
    verify,
)
from bot.settings import Settings
from tests.flows.test_evidence import (  # noqa: F401 - pytest finds fixtures by name
    WEDNESDAY,
    home,
    invoke,
    keys,
    run,
    runs,
    settings_for,
    signing,
    statuses,
    unsigned,
)

CONTEXT = EvidenceContext(
    actor="eucora[bot]",
    correlation_id="delivery-1",
    repository="acme/intents",
    pr=7,
    head_sha="c" * 40,
)


@pytest.fixture
def engine(home: Path) -> Iterator[Engine]:
    built = create_database_engine(f"sqlite:///{home / 'eucora.db'}")
    upgrade_schema(built)
    yield built
    built.dispose()


@pytest.fixture
def log(engine: Engine) -> AuditLog:
    return AuditLog(engine)


def record(run: CheckedChange, settings: Settings, log: Any, **kwargs: Any) -> RecordedEvidence:
    return record_check_evidence(
        run, file_evidence(settings), log=log, context=CONTEXT, now=WEDNESDAY, **kwargs
    )


class TestRecord:
    def test_recording_stores_appends_signs_and_proves(
        self, run: CheckedChange, signing: Settings, log: AuditLog, keys: Path
    ) -> None:
        recorded = record(run, signing, log)
        store = EvidenceStore(signing.evidence_dir)
        assert recorded.digest == run.digest
        assert recorded.stored.path == store.pack_path(run.digest)
        assert recorded.proof_path == store.proof_path(run.digest)
        assert recorded.proof_path.read_text(encoding="utf-8") == recorded.proof_text
        assert recorded.proof_path.name.endswith(".tlog-proof")
        (event,) = log.events()
        assert (event.seq, event.type, event.pr) == (recorded.seq, EVIDENCE_EVENT_TYPE, 7)
        assert event.payload == evidence_event_payload(
            run.digest, run.pack["kind"], recorded.stored.key_id
        )
        assert recorded.checkpoint_note == log.latest_checkpoint() == latest_checkpoint(log)
        assert recorded.checkpoint_note in recorded.proof_text
        report = verify(
            run.digest,
            file_evidence(settings_for(signing.home)),
            public_keys=[str(keys / PUBLIC_KEY_NAME)],
        )
        assert report.ok, report.checks
        assert "audit event 1 records it" in next(
            c.detail for c in report.checks if c.name == "inclusion"
        )

    def test_recording_again_changes_nothing(
        self, run: CheckedChange, signing: Settings, log: AuditLog
    ) -> None:
        first = record(run, signing, log)
        assert record(run, signing, log) == first
        assert log.size() == 1
        assert len(log.checkpoints()) == 1

    def test_each_pack_gets_its_own_event_and_checkpoint(
        self, runs: tuple[CheckedChange, CheckedChange], signing: Settings, log: AuditLog
    ) -> None:
        first, second = (record(r, signing, log) for r in runs)
        assert (first.seq, second.seq) == (1, 2)
        assert [c.size for c in log.checkpoints()] == [1, 2]
        assert log.verify().ok

    def test_a_crash_after_the_append_is_repaired_without_a_second_event(
        self, run: CheckedChange, signing: Settings, log: AuditLog
    ) -> None:
        """The event was appended, then the process died: recording again reuses it."""
        log.append(
            type=EVIDENCE_EVENT_TYPE,
            actor="eucora[bot]",
            correlation_id="delivery-1",
            repository="acme/intents",
            pr=7,
            head_sha=None,
            payload=evidence_event_payload(run.digest, "check", None),
            time=WEDNESDAY,
        )
        recorded = record(run, signing, log)
        assert recorded.seq == 1
        assert log.size() == 1
        assert verify(run.digest, file_evidence(signing)).ok

    def test_the_first_proof_written_wins_a_race(
        self, run: CheckedChange, signing: Settings, log: AuditLog
    ) -> None:
        """Two recorders of one pack: the bundle stored first is the one both return."""

        class RacingLog:
            """The real log, with another recorder storing its bundle just before ours."""

            def __init__(self, inner: AuditLog) -> None:
                self.inner = inner

            def __getattr__(self, name: str) -> Any:
                return getattr(self.inner, name)

            def inclusion_proof(self, seq: int, size: int | None = None, **kw: Any) -> str:
                rival = self.inner.append(
                    type=EVIDENCE_EVENT_TYPE,
                    actor="rival",
                    correlation_id="delivery-2",
                    repository="acme/intents",
                    pr=8,
                    head_sha=None,
                    payload=evidence_event_payload(run.digest, "check", None),
                    time=WEDNESDAY,
                )
                signer = load_or_create_signer(signing.home, signing.signing_key)
                self.inner.checkpoint(signer, time=WEDNESDAY)
                rival_proof = self.inner.inclusion_proof(rival.seq, extra=leaf_data(rival))
                EvidenceStore(signing.evidence_dir).put_proof(run.digest, rival_proof)
                return self.inner.inclusion_proof(seq, size, **kw)

        recorded = record(run, signing, RacingLog(log))
        assert recorded.seq == 2  # the rival's event, whose bundle was stored first
        assert recorded.proof_path.read_text(encoding="utf-8") == recorded.proof_text
        assert verify(run.digest, file_evidence(signing)).ok

    def test_a_tampered_stored_proof_is_tamper_evidence(
        self, run: CheckedChange, signing: Settings, log: AuditLog
    ) -> None:
        recorded = record(run, signing, log)
        recorded.proof_path.chmod(0o644)
        recorded.proof_path.write_text("c2sp.org/tlog-proof@v1\nindex 0\n\nnot a note\n")
        with pytest.raises(TamperedEvidenceError, match="not a proof bundle"):
            record(run, signing, log)

    def test_a_changed_pack_is_refused(
        self, run: CheckedChange, signing: Settings, log: AuditLog
    ) -> None:
        changed = CheckedChange(
            result=run.result, pack={**run.pack, "kind": "x"}, digest=run.digest
        )
        with pytest.raises(EvidenceStoreError, match="now hashes to"):
            record(changed, signing, log)
        assert log.size() == 0

    def test_without_a_configured_key_the_audit_key_is_created_and_used(
        self, run: CheckedChange, unsigned: Settings, log: AuditLog
    ) -> None:
        """No EUCORA_SIGNING_KEY: the pack is unsigned, its checkpoint signed by <home>/keys."""
        record_evidence(run.pack, file_evidence(unsigned), log=log, context=CONTEXT, now=WEDNESDAY)
        report = verify(run.digest, file_evidence(unsigned))
        assert statuses(report)["signature"] is CheckStatus.SKIPPED
        assert statuses(report)["inclusion"] is CheckStatus.OK
        audit_pub = str(keys_dir(unsigned.home) / VERIFIER_FILE)
        report = verify(run.digest, file_evidence(unsigned), public_keys=[audit_pub])
        assert statuses(report)["inclusion"] is CheckStatus.OK
        assert statuses(report)["signature"] is CheckStatus.FAILED  # an auditor asks for both


class TestVerifyOffline:
    @pytest.fixture
    def copied(
        self, run: CheckedChange, signing: Settings, log: AuditLog, tmp_path: Path, keys: Path
    ) -> tuple[Path, Path, Path]:
        """The pack, its envelope, its bundle and the public key, copied away from <home>."""
        recorded = record(run, signing, log)
        folder = tmp_path / "auditor"
        folder.mkdir()
        for path in (recorded.stored.path, recorded.stored.envelope_path, recorded.proof_path):
            assert path is not None
            shutil.copy(path, folder)
        public = folder / "eucora.pub.pem"
        shutil.copy(keys / PUBLIC_KEY_NAME, public)
        return folder / recorded.stored.path.name, folder / recorded.proof_path.name, public

    def test_a_copied_pack_verifies_with_only_the_public_key(
        self, copied: tuple[Path, Path, Path], tmp_path: Path
    ) -> None:
        pack, _, public = copied
        result = invoke(
            evidence_group, ["verify", str(pack), "--public-key", str(public)], tmp_path / "empty"
        )
        assert result.exit_code == 0, result.output
        assert "OK      inclusion" in result.output

    def test_the_verifier_key_form_works_too(
        self, copied: tuple[Path, Path, Path], tmp_path: Path, signing: Settings
    ) -> None:
        pack, _, _ = copied
        signer = load_signer(signing.home, signing.signing_key)
        assert signer is not None
        vkey = signer.verifier.verifier_key
        result = invoke(evidence_group, ["verify", str(pack), "--public-key", vkey], tmp_path / "e")
        assert result.exit_code == 0, result.output

    def test_the_bundle_can_be_named(self, copied: tuple[Path, Path, Path], tmp_path: Path) -> None:
        pack, proof, public = copied
        named = tmp_path / "elsewhere.tlog-proof"
        shutil.move(proof, named)
        args = ["verify", str(pack), "--public-key", str(public)]
        result = invoke(evidence_group, args, tmp_path / "empty")
        assert result.exit_code == 1
        assert "FAILED  inclusion" in result.output
        assert "no proof bundle" in result.output
        result = invoke(evidence_group, [*args, "--proof", str(named)], tmp_path / "empty")
        assert result.exit_code == 0, result.output
        result = invoke(evidence_group, [*args, "--proof", str(tmp_path / "none")], tmp_path / "e")
        assert result.exit_code == 2
        assert "Traceback" not in result.output

    def test_another_key_fails_the_inclusion(
        self,
        copied: tuple[Path, Path, Path],
        tmp_path: Path,
        runs: tuple[CheckedChange, CheckedChange],
    ) -> None:
        pack, _, _ = copied
        other = tmp_path / "other.pub"
        other.write_text(Ed25519Signer("eucora/audit", b"\x02" * 32).verifier.verifier_key)
        args = ["verify", str(pack), "--public-key", str(other)]
        result = invoke(evidence_group, args, tmp_path / "empty")
        assert result.exit_code == 1
        assert "FAILED  inclusion" in result.output
        assert "FAILED  signature" in result.output

    def test_a_bundle_of_another_pack_fails(
        self,
        copied: tuple[Path, Path, Path],
        tmp_path: Path,
        runs: tuple[CheckedChange, CheckedChange],
        signing: Settings,
        log: AuditLog,
    ) -> None:
        pack, proof, public = copied
        other = record(runs[1], signing, log)
        proof.chmod(0o644)
        proof.write_bytes(other.proof_path.read_bytes())
        result = invoke(
            evidence_group, ["verify", str(pack), "--public-key", str(public)], tmp_path / "e"
        )
        assert result.exit_code == 1
        assert "does not record" in result.output

    def test_changing_any_byte_of_the_bundle_exits_1_without_a_traceback(
        self, copied: tuple[Path, Path, Path], tmp_path: Path
    ) -> None:
        pack, proof, public = copied
        original = proof.read_bytes()
        proof.chmod(0o644)
        args = ["verify", str(pack), "--public-key", str(public)]
        for position in range(len(original)):
            changed = bytearray(original)
            changed[position] ^= 0x01
            proof.write_bytes(bytes(changed))
            result = invoke(evidence_group, args, tmp_path / "empty")
            assert result.exit_code == 1, (position, result.output)
            assert isinstance(result.exception, SystemExit), (position, result.exception)
            assert "FAILED  inclusion" in result.output, position
        proof.write_bytes(original)
        assert invoke(evidence_group, args, tmp_path / "empty").exit_code == 0

    @pytest.mark.parametrize("position", [0, 40, -200, -3])
    def test_a_changed_bundle_fails_in_a_real_process(
        self, copied: tuple[Path, Path, Path], tmp_path: Path, position: int
    ) -> None:
        pack, proof, public = copied
        changed = bytearray(proof.read_bytes())
        changed[position] ^= 0x80  # invalid UTF-8 at the start, or a broken base64 or signature
        proof.chmod(0o644)
        proof.write_bytes(bytes(changed))
        completed = subprocess.run(
            [
                sys.executable,
                "-m",
                "bot",
                "evidence",
                "verify",
                str(pack),
                "--public-key",
                str(public),
            ],
            capture_output=True,
            text=True,
            env={"EUCORA_HOME": str(tmp_path / "empty"), "PATH": "/usr/bin:/bin"},
            check=False,
            timeout=60,
        )
        assert completed.returncode == 1, completed.stderr
        assert "Traceback" not in completed.stdout + completed.stderr
        assert "FAILED  inclusion" in completed.stdout


def test_an_auditor_key_requires_the_proof(
    run: CheckedChange, signing: Settings, keys: Path, tmp_path: Path
) -> None:
    """A pack stored without recording: skipped by default, failed when a key is given."""
    store_check_pack(run, file_evidence(signing))
    report = verify(run.digest, file_evidence(signing))
    assert report.ok
    assert statuses(report)["inclusion"] is CheckStatus.SKIPPED
    report = verify(run.digest, file_evidence(signing), public_keys=[str(keys / PUBLIC_KEY_NAME)])
    assert statuses(report)["inclusion"] is CheckStatus.FAILED
    assert not report.ok


def test_verify_with_no_key_to_check_a_bundle(
    run: CheckedChange, signing: Settings, log: AuditLog, tmp_path: Path
) -> None:
    """A bundle nobody can check does not count as proven."""
    record(run, signing, log)
    bare = Settings.from_environ(
        {"EUCORA_HOME": str(tmp_path / "bare"), "EUCORA_EVIDENCE_DIR": str(signing.evidence_dir)}
    )
    report = verify(run.digest, file_evidence(bare))
    assert statuses(report)["inclusion"] is CheckStatus.FAILED
    assert "no key" in next(c.detail for c in report.checks if c.name == "inclusion")
