"""Evidence end to end: a real check's pack stored, signed, shown and verified (flows and CLI)."""

from __future__ import annotations

import base64
import json
import shutil
import stat
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)
from securesystemslib.dsse import Envelope
from securesystemslib.signer import CryptoSigner, SSlibKey

from bot.adapters.evidence_store import (
    EvidenceNotFoundError,
    EvidenceStore,
    InvalidDigestError,
    TamperedEvidenceError,
)
from bot.adapters.pem_keys import (
    PRIVATE_KEY_NAME,
    PUBLIC_KEY_NAME,
    KeyFileError,
    generate_key_pair,
    load_private_key,
    load_public_key,
)
from bot.adapters.revisions import GitRevisions
from bot.adapters.storage import AuditLog, create_database_engine, upgrade_schema
from bot.bootstrap import file_evidence
from bot.core.attestation import CHECK_PREDICATE_TYPE, PAYLOAD_TYPE, key_id, sign_envelope
from bot.core.evidence import canonical_json
from bot.core.evidence_verify import CheckStatus, InclusionVerdict, VerifyReport
from bot.entrypoints.commands_evidence import evidence_group, keys_group
from bot.flows.check import CheckedChange, check_fetched
from bot.flows.evidence import (
    EvidenceContext,
    EvidenceRefError,
    RecordedEvidence,
    record_check_evidence,
    show,
    store_check_pack,
    verify,
)
from bot.settings import Settings
from tests.conftest import EXAMPLES
from tests.support.gitrepo import GitRepo

WEDNESDAY = datetime.fromisoformat("2027-02-17T10:00:00+01:00")
CHROME = "intents/windows/google-chrome.yaml"
ENV_NAMES = (
    "EUCORA_HOME",
    "EUCORA_EVIDENCE_DIR",
    "EUCORA_SIGNING_KEY",
    "EUCORA_SIGNING_KEY_FILE",
)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[CheckedChange, CheckedChange]:
    """Two real checks of the example repository: a Chrome upgrade, then a Firefox-free edit."""
    repo = GitRepo.create(
        tmp_path_factory.mktemp("git") / "repo", template=EXAMPLES / "intents-repo"
    )
    repo.branch("change")
    repo.edit(CHROME, 'version: "131.0.6778.86"', 'version: "131.0.6778.109"')
    repo.commit("Chrome 131.0.6778.109")
    first = check_fetched(GitRevisions(repo.path), "main", "change", now=WEDNESDAY)
    second = check_fetched(
        GitRevisions(repo.path), "main", "change", now=WEDNESDAY.replace(hour=11)
    )
    assert first.digest != second.digest
    return first, second


@pytest.fixture
def run(runs: tuple[CheckedChange, CheckedChange]) -> CheckedChange:
    return runs[0]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def keys(home: Path) -> Path:
    """A generated key pair under <home>/keys; returns the folder."""
    generate_key_pair(home / "keys")
    return home / "keys"


def settings_for(home: Path, **environ: str) -> Settings:
    return Settings.from_environ({"EUCORA_HOME": str(home), **environ})


@pytest.fixture
def unsigned(home: Path) -> Settings:
    return settings_for(home)


@pytest.fixture
def signing(home: Path, keys: Path) -> Settings:
    return settings_for(home, EUCORA_SIGNING_KEY_FILE=str(keys / PRIVATE_KEY_NAME))


def statuses(report: VerifyReport) -> dict[str, CheckStatus]:
    return {c.name: c.status for c in report.checks}


def public_pem(keys: Path) -> bytes:
    return (keys / PUBLIC_KEY_NAME).read_bytes()


def other_public_pem() -> bytes:
    return (
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    )


def record(run: CheckedChange, settings: Settings) -> RecordedEvidence:
    """Store, record in the audit log under <home> (SQLite), sign a checkpoint, write the proof."""
    engine = create_database_engine(settings.database_url)
    upgrade_schema(engine)
    try:
        return record_check_evidence(
            run,
            file_evidence(settings),
            log=AuditLog(engine),
            context=EvidenceContext(
                actor="eucora[bot]", correlation_id="delivery-1", repository="acme/intents", pr=7
            ),
            now=WEDNESDAY,
        )
    finally:
        engine.dispose()


def force_write(path: Path, data: bytes) -> None:
    path.chmod(0o644)
    path.write_bytes(data)


class TestStore:
    def test_unsigned(self, run: CheckedChange, unsigned: Settings) -> None:
        """Without a signing key the pack is stored under <home>/evidence, and only the pack."""
        stored = store_check_pack(run, file_evidence(unsigned))
        assert stored.digest == run.digest
        assert stored.path == EvidenceStore(unsigned.home / "evidence").pack_path(run.digest)
        assert stored.path.read_bytes() == canonical_json(run.pack)
        assert (stored.envelope_path, stored.key_id) == (None, None)

    def test_the_evidence_dir_setting_is_the_root(self, run: CheckedChange, tmp_path: Path) -> None:
        """EUCORA_EVIDENCE_DIR moves the store."""
        settings = settings_for(tmp_path / "home", EUCORA_EVIDENCE_DIR=str(tmp_path / "elsewhere"))
        assert store_check_pack(run, file_evidence(settings)).path.is_relative_to(
            tmp_path / "elsewhere"
        )

    def test_signed(self, run: CheckedChange, signing: Settings, keys: Path) -> None:
        """With a signing key the envelope is stored beside the pack and names the key."""
        stored = store_check_pack(run, file_evidence(signing))
        public = load_public_key(keys / PUBLIC_KEY_NAME)
        assert stored.key_id == key_id(public)
        assert stored.envelope_path is not None
        envelope = json.loads(stored.envelope_path.read_bytes())
        assert envelope["payloadType"] == PAYLOAD_TYPE
        statement = json.loads(base64.b64decode(envelope["payload"]))
        assert statement["predicateType"] == CHECK_PREDICATE_TYPE
        assert statement["predicate"] == run.pack
        assert statement["subject"][0]["digest"] == {"sha256": run.digest.removeprefix("sha256:")}
        assert statement["subject"][1]["digest"] == {"gitCommit": run.pack["head"]}

    def test_a_key_given_as_pem_text(self, run: CheckedChange, home: Path, keys: Path) -> None:
        """EUCORA_SIGNING_KEY may hold the PEM itself (as secrets are often passed)."""
        pem = (keys / PRIVATE_KEY_NAME).read_text()
        stored = store_check_pack(run, file_evidence(settings_for(home, EUCORA_SIGNING_KEY=pem)))
        assert stored.key_id == key_id(load_public_key(keys / PUBLIC_KEY_NAME))

    def test_storing_again_is_a_no_op(self, run: CheckedChange, signing: Settings) -> None:
        """The same check stored twice gives the same files, byte for byte."""
        first = store_check_pack(run, file_evidence(signing))
        assert first.envelope_path is not None
        envelope = first.envelope_path.read_bytes()
        assert store_check_pack(run, file_evidence(signing)) == first
        assert first.envelope_path.read_bytes() == envelope

    def test_a_different_body_under_the_digest_is_refused(
        self, run: CheckedChange, unsigned: Settings
    ) -> None:
        """A stored pack that was edited is not silently repaired."""
        stored = store_check_pack(run, file_evidence(unsigned))
        force_write(stored.path, b"{}")
        with pytest.raises(TamperedEvidenceError):
            store_check_pack(run, file_evidence(unsigned))

    def test_our_stored_envelope_verifies_with_securesystemslib(
        self, run: CheckedChange, signing: Settings, keys: Path
    ) -> None:
        """The envelope of a real pack verifies with an independent DSSE implementation."""
        stored = store_check_pack(run, file_evidence(signing))
        assert stored.envelope_path is not None
        envelope = Envelope.from_dict(json.loads(stored.envelope_path.read_bytes()))
        public = load_public_key(keys / PUBLIC_KEY_NAME)
        envelope.verify([SSlibKey.from_crypto(public, key_id(public), "ed25519")], 1)
        assert json.loads(envelope.payload)["predicate"] == run.pack


class TestVerify:
    def test_unsigned_pack(self, run: CheckedChange, unsigned: Settings) -> None:
        """An unsigned pack verifies by digest; the signature and the log are skipped."""
        store_check_pack(run, file_evidence(unsigned))
        report = verify(run.digest, file_evidence(unsigned))
        assert report.ok
        assert report.digest == run.digest
        assert statuses(report) == {
            "digest": CheckStatus.OK,
            "signature": CheckStatus.SKIPPED,
            "statement": CheckStatus.SKIPPED,
            "inclusion": CheckStatus.SKIPPED,
        }

    def test_signed_pack_with_the_configured_key(
        self, run: CheckedChange, signing: Settings, keys: Path
    ) -> None:
        """Digest, signature and statement all hold with the configured key's public half."""
        store_check_pack(run, file_evidence(signing))
        report = verify(run.digest, file_evidence(signing))
        assert report.ok, report.checks
        assert statuses(report)["signature"] is CheckStatus.OK
        assert statuses(report)["statement"] is CheckStatus.OK
        assert report.key_ids == (key_id(load_public_key(keys / PUBLIC_KEY_NAME)),)

    def test_signed_pack_with_an_explicit_public_key(
        self, run: CheckedChange, signing: Settings, home: Path, keys: Path
    ) -> None:
        """A verifier without the private key checks with the public key file."""
        record(run, signing)
        report = verify(
            run.digest, file_evidence(settings_for(home)), public_key_pem=public_pem(keys)
        )
        assert report.ok, report.checks
        assert statuses(report)["inclusion"] is CheckStatus.OK

    def test_another_public_key_fails(self, run: CheckedChange, signing: Settings) -> None:
        """A signature by another key does not hold."""
        store_check_pack(run, file_evidence(signing))
        report = verify(run.digest, file_evidence(signing), public_key_pem=other_public_pem())
        assert not report.ok
        assert statuses(report)["signature"] is CheckStatus.FAILED

    def test_an_explicit_key_requires_a_signature(
        self, run: CheckedChange, unsigned: Settings, keys: Path
    ) -> None:
        """Asking for a key's signature on an unsigned pack fails."""
        store_check_pack(run, file_evidence(unsigned))
        report = verify(run.digest, file_evidence(unsigned), public_key_pem=public_pem(keys))
        assert not report.ok
        assert statuses(report)["signature"] is CheckStatus.FAILED

    def test_signed_but_no_key_to_check(
        self, run: CheckedChange, signing: Settings, home: Path
    ) -> None:
        """A signature nobody can check does not count as verified."""
        store_check_pack(run, file_evidence(signing))
        report = verify(run.digest, file_evidence(settings_for(home)))
        assert not report.ok
        assert "--public-key" in next(c.detail for c in report.checks if c.name == "signature")

    def test_an_edited_pack_fails_the_digest(self, run: CheckedChange, signing: Settings) -> None:
        """Tampering with the stored pack is caught by the digest and by the statement."""
        stored = store_check_pack(run, file_evidence(signing))
        forged = {**run.pack, "decision": {"conclusion": "pass", "reasons": ["forged"]}}
        force_write(stored.path, canonical_json(forged))
        report = verify(run.digest, file_evidence(signing))
        assert not report.ok
        assert statuses(report)["digest"] is CheckStatus.FAILED
        assert statuses(report)["statement"] is CheckStatus.FAILED

    def test_an_edited_envelope_fails_the_signature(
        self, run: CheckedChange, signing: Settings
    ) -> None:
        """Tampering with the envelope's payload breaks the signature."""
        stored = store_check_pack(run, file_evidence(signing))
        assert stored.envelope_path is not None
        envelope = json.loads(stored.envelope_path.read_bytes())
        statement = json.loads(base64.b64decode(envelope["payload"]))
        statement["predicate"]["decision"]["reasons"] = ["forged"]
        envelope["payload"] = base64.b64encode(canonical_json(statement)).decode()
        force_write(stored.envelope_path, canonical_json(envelope))
        report = verify(run.digest, file_evidence(signing))
        assert not report.ok
        assert statuses(report)["signature"] is CheckStatus.FAILED

    def test_an_unreadable_envelope_fails_the_signature(
        self, run: CheckedChange, signing: Settings
    ) -> None:
        """An envelope that is not JSON does not verify (and does not crash)."""
        stored = store_check_pack(run, file_evidence(signing))
        assert stored.envelope_path is not None
        force_write(stored.envelope_path, b"garbage")
        assert (
            statuses(verify(run.digest, file_evidence(signing)))["signature"] is CheckStatus.FAILED
        )

    def test_an_envelope_moved_from_another_pack_fails_the_statement(
        self, runs: tuple[CheckedChange, CheckedChange], signing: Settings
    ) -> None:
        """A genuine signature over another pack does not vouch for this one."""
        first, second = runs
        stored_first = store_check_pack(first, file_evidence(signing))
        stored_second = store_check_pack(second, file_evidence(signing))
        assert stored_first.envelope_path is not None
        assert stored_second.envelope_path is not None
        force_write(stored_first.envelope_path, stored_second.envelope_path.read_bytes())
        report = verify(first.digest, file_evidence(signing))
        assert statuses(report)["signature"] is CheckStatus.OK
        assert statuses(report)["statement"] is CheckStatus.FAILED
        assert not report.ok

    def test_a_statement_about_another_kind_fails(
        self, run: CheckedChange, signing: Settings, keys: Path
    ) -> None:
        """The predicate type must be the one for the pack's kind."""
        store = EvidenceStore(signing.evidence_dir)
        digest = store.put(run.pack)
        statement = {
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [{"digest": {"sha256": digest.removeprefix("sha256:")}}],
            "predicateType": "https://slsa.dev/verification_summary/v1",
            "predicate": run.pack,
        }
        store.put_envelope(
            digest, sign_envelope(statement, load_private_key(keys / PRIVATE_KEY_NAME))
        )
        report = verify(digest, file_evidence(signing))
        assert statuses(report)["statement"] is CheckStatus.FAILED

    def test_log_inclusion(self, run: CheckedChange, signing: Settings) -> None:
        """The audit log is asked about the digest; its verdict is a check."""
        store_check_pack(run, file_evidence(signing))
        asked: list[str] = []

        def in_log(digest: str) -> InclusionVerdict:
            asked.append(digest)
            return InclusionVerdict(ok=True, why="leaf 7 under checkpoint 12")

        report = verify(run.digest, file_evidence(signing), inclusion=in_log)
        assert asked == [run.digest]
        assert report.ok
        assert next(c for c in report.checks if c.name == "inclusion").detail.startswith("leaf 7")

        def not_in_log(digest: str) -> InclusionVerdict:
            return InclusionVerdict(ok=False, why="not in the log")

        report = verify(run.digest, file_evidence(signing), inclusion=not_in_log)
        assert not report.ok
        assert statuses(report)["inclusion"] is CheckStatus.FAILED

    def test_a_bare_hex_digest(self, run: CheckedChange, unsigned: Settings) -> None:
        """64 hex digits without the prefix name a digest too."""
        store_check_pack(run, file_evidence(unsigned))
        assert verify(run.digest.removeprefix("sha256:"), file_evidence(unsigned)).ok

    @pytest.mark.parametrize("ref", ["sha256:../../etc/passwd", "sha256:" + "F" * 64])
    def test_a_malformed_digest(self, unsigned: Settings, ref: str) -> None:
        """A malformed digest is a usage error, never a path."""
        with pytest.raises(InvalidDigestError):
            verify(ref, file_evidence(unsigned))

    def test_an_unknown_digest(self, run: CheckedChange, unsigned: Settings) -> None:
        """A digest with nothing stored is not found."""
        with pytest.raises(EvidenceNotFoundError):
            verify(run.digest, file_evidence(unsigned))

    def test_neither_file_nor_digest(self, unsigned: Settings) -> None:
        """Anything else is a reference error."""
        with pytest.raises(EvidenceRefError, match="no such file"):
            verify("no-such-pack.json", file_evidence(unsigned))


class TestVerifyFiles:
    def test_a_pack_file_elsewhere_finds_its_envelope_in_the_store(
        self, run: CheckedChange, signing: Settings, tmp_path: Path
    ) -> None:
        """`eucora check --evidence-out` writes a pack; its signature is looked up by digest."""
        store_check_pack(run, file_evidence(signing))
        out = tmp_path / "pack.json"
        out.write_text(json.dumps(run.pack, indent=2), encoding="utf-8")
        report = verify(str(out), file_evidence(signing))
        assert report.ok, report.checks
        assert report.digest == run.digest
        assert statuses(report)["signature"] is CheckStatus.OK

    def test_a_copied_store_file_and_its_envelope(
        self, run: CheckedChange, signing: Settings, tmp_path: Path, home: Path, keys: Path
    ) -> None:
        """A pack copied out of the store with its .dsse.json and .tlog-proof verifies alone."""
        recorded = record(run, signing)
        stored = recorded.stored
        assert stored.envelope_path is not None
        pem = public_pem(keys)
        copied = tmp_path / "copy"
        copied.mkdir()
        shutil.copy(stored.path, copied)
        shutil.copy(stored.envelope_path, copied)
        shutil.copy(recorded.proof_path, copied)
        shutil.rmtree(home)  # no database, no store, no private key: only the public key
        report = verify(
            str(copied / stored.path.name),
            file_evidence(settings_for(tmp_path / "elsewhere")),
            public_key_pem=pem,
        )
        assert report.ok, report.checks
        assert statuses(report)["inclusion"] is CheckStatus.OK

    def test_a_store_file_whose_name_lies(
        self, runs: tuple[CheckedChange, CheckedChange], unsigned: Settings, tmp_path: Path
    ) -> None:
        """A <hex>.json file whose bytes hash to something else fails the digest."""
        first, second = runs
        name = first.digest.removeprefix("sha256:") + ".json"
        (tmp_path / name).write_bytes(canonical_json(second.pack))
        report = verify(str(tmp_path / name), file_evidence(unsigned))
        assert statuses(report)["digest"] is CheckStatus.FAILED
        assert not report.ok

    def test_an_envelope_file(self, run: CheckedChange, signing: Settings) -> None:
        """An envelope alone verifies: its pack is the signed predicate."""
        stored = store_check_pack(run, file_evidence(signing))
        assert stored.envelope_path is not None
        report = verify(str(stored.envelope_path), file_evidence(signing))
        assert report.ok, report.checks
        assert report.digest == run.digest
        assert [c.name for c in report.checks] == ["digest", "signature", "statement", "inclusion"]

    def test_an_envelope_file_with_the_wrong_key(
        self, run: CheckedChange, signing: Settings
    ) -> None:
        """An envelope whose signature fails tells nothing about its pack."""
        stored = store_check_pack(run, file_evidence(signing))
        assert stored.envelope_path is not None
        report = verify(
            str(stored.envelope_path), file_evidence(signing), public_key_pem=other_public_pem()
        )
        assert not report.ok
        assert report.digest == ""

    def test_an_envelope_signed_by_securesystemslib(
        self, run: CheckedChange, unsigned: Settings, tmp_path: Path
    ) -> None:
        """An envelope made by another implementation over our statement verifies here."""
        from bot.core.attestation import statement_for

        signer = CryptoSigner.generate_ed25519()
        envelope = Envelope(canonical_json(statement_for(run.pack, run.digest)), PAYLOAD_TYPE, {})
        envelope.sign(signer)
        path = tmp_path / "theirs.dsse.json"
        path.write_text(json.dumps(envelope.to_dict()), encoding="utf-8")
        public = bytes.fromhex(signer.public_key.keyval["public"])
        pem = Ed25519PublicKey.from_public_bytes(public).public_bytes(
            Encoding.PEM, PublicFormat.SubjectPublicKeyInfo
        )
        report = verify(str(path), file_evidence(unsigned), public_key_pem=pem)
        assert statuses(report)["signature"] is CheckStatus.OK
        assert statuses(report)["statement"] is CheckStatus.OK
        assert report.digest == run.digest
        # An auditor's key asks for the log's proof too, and this envelope was never recorded.
        assert statuses(report)["inclusion"] is CheckStatus.FAILED

    @pytest.mark.parametrize("content", [b"not json", b"[1, 2]", b"\xff"])
    def test_a_file_that_is_not_evidence(
        self, unsigned: Settings, tmp_path: Path, content: bytes
    ) -> None:
        """A file that is not a JSON object is a reference error."""
        path = tmp_path / "x.json"
        path.write_bytes(content)
        with pytest.raises(EvidenceRefError):
            verify(str(path), file_evidence(unsigned))


class TestShow:
    def test_by_digest(self, run: CheckedChange, signing: Settings, keys: Path) -> None:
        """show gives the pack, its envelope and the keyids it claims."""
        store_check_pack(run, file_evidence(signing))
        shown = show(run.digest, file_evidence(signing).store)
        assert shown.pack == run.pack
        assert shown.digest == run.digest
        assert shown.envelope is not None
        assert shown.key_ids == (key_id(load_public_key(keys / PUBLIC_KEY_NAME)),)

    def test_an_envelope_file(self, run: CheckedChange, signing: Settings) -> None:
        """An envelope file shows the pack inside it."""
        stored = store_check_pack(run, file_evidence(signing))
        shown = show(str(stored.envelope_path), file_evidence(signing).store)
        assert shown.pack == run.pack
        assert shown.digest == run.digest

    def test_tampered(self, run: CheckedChange, unsigned: Settings) -> None:
        """show refuses a pack whose bytes no longer match its digest."""
        stored = store_check_pack(run, file_evidence(unsigned))
        force_write(stored.path, b"{}")
        with pytest.raises(TamperedEvidenceError):
            show(run.digest, file_evidence(unsigned).store)

    def test_an_envelope_without_a_statement(self, unsigned: Settings, tmp_path: Path) -> None:
        """An envelope whose payload is not a Statement object cannot be shown."""
        path = tmp_path / "bad.dsse.json"
        path.write_text(
            json.dumps({"payload": "W10=", "payloadType": PAYLOAD_TYPE, "signatures": []})
        )
        with pytest.raises(EvidenceRefError):
            show(str(path), file_evidence(unsigned).store)


class TestKeys:
    def test_generate(self, tmp_path: Path) -> None:
        """A PKCS#8 private key (0600) and an SPKI public key in a 0700 folder."""
        folder = tmp_path / "a" / "keys"
        files = generate_key_pair(folder)
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        assert stat.S_IMODE(files.private_key.stat().st_mode) == 0o600
        assert files.private_key.read_text().startswith("-----BEGIN PRIVATE KEY-----")
        assert files.public_key.read_text().startswith("-----BEGIN PUBLIC KEY-----")
        private = load_private_key(files.private_key)
        assert (
            key_id(private.public_key())
            == files.key_id
            == key_id(load_public_key(files.public_key))
        )

    def test_never_overwrites(self, keys: Path) -> None:
        """An existing key is kept."""
        before = (keys / PRIVATE_KEY_NAME).read_bytes()
        with pytest.raises(KeyFileError, match="already exists"):
            generate_key_pair(keys)
        assert (keys / PRIVATE_KEY_NAME).read_bytes() == before

    def test_refuses_a_folder_open_to_others(self, tmp_path: Path) -> None:
        """A private key is not written where other users can read or swap it."""
        folder = tmp_path / "shared"
        folder.mkdir()
        folder.chmod(0o755)
        with pytest.raises(KeyFileError, match="open to other users"):
            generate_key_pair(folder)
        assert list(folder.iterdir()) == []

    def test_reading_bad_keys(self, tmp_path: Path, keys: Path) -> None:
        """Wrong kinds of keys and files give clear errors."""
        with pytest.raises(KeyFileError, match="cannot read"):
            load_private_key(tmp_path / "missing.pem")
        with pytest.raises(KeyFileError, match="not a PEM private key"):
            load_private_key("-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n")
        with pytest.raises(KeyFileError, match="private key; give the public key"):
            load_public_key(keys / PRIVATE_KEY_NAME)
        with pytest.raises(KeyFileError, match="not a PEM public key"):
            load_public_key(b"hello")
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.serialization import BestAvailableEncryption

        ec_key = ec.generate_private_key(ec.SECP256R1())
        ec_pem = ec_key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode()
        with pytest.raises(KeyFileError, match="Ed25519"):
            load_private_key(ec_pem)
        with pytest.raises(KeyFileError, match="Ed25519"):
            load_public_key(
                ec_key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
            )
        encrypted = (
            Ed25519PrivateKey.generate()
            .private_bytes(Encoding.PEM, PrivateFormat.PKCS8, BestAvailableEncryption(b"pw"))
            .decode()
        )
        with pytest.raises(KeyFileError, match="encrypted"):
            load_private_key(encrypted)


# --- the CLI --------------------------------------------------------------------------------------


def invoke(command: Any, args: list[str], home: Path, **environ: str) -> Result:
    env: dict[str, str | None] = dict.fromkeys(ENV_NAMES)
    env.update({"EUCORA_HOME": str(home), **environ})
    return CliRunner().invoke(command, args, env=env)


class TestCli:
    def test_keys_generate_then_sign_then_verify(self, run: CheckedChange, home: Path) -> None:
        """keys generate writes <home>/keys; packs signed with it verify with its public key."""
        result = invoke(keys_group, ["generate"], home)
        assert result.exit_code == 0, result.output
        assert f"EUCORA_SIGNING_KEY_FILE={home / 'keys' / PRIVATE_KEY_NAME}" in result.output
        record(
            run, settings_for(home, EUCORA_SIGNING_KEY_FILE=str(home / "keys" / PRIVATE_KEY_NAME))
        )
        public = str(home / "keys" / PUBLIC_KEY_NAME)
        result = invoke(evidence_group, ["verify", run.digest, "--public-key", public], home)
        assert result.exit_code == 0, result.output
        assert result.output.rstrip().endswith(f"{run.digest}: verified")
        assert "OK      signature" in result.output

    def test_keys_generate_twice_is_a_usage_error(self, home: Path, tmp_path: Path) -> None:
        """The second generate refuses to overwrite: exit 2, one line, no traceback."""
        out = str(tmp_path / "k")
        assert invoke(keys_group, ["generate", "--out", out], home).exit_code == 0
        result = invoke(keys_group, ["generate", "--out", out], home)
        assert result.exit_code == 2
        assert "already exists" in result.output
        assert "Traceback" not in result.output

    def test_show(self, run: CheckedChange, signing: Settings, home: Path) -> None:
        """show prints the pack as JSON; the digest and the claimed signer go to stderr."""
        store_check_pack(run, file_evidence(signing))
        result = invoke(evidence_group, ["show", run.digest], home)
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout) == run.pack
        assert f"digest: {run.digest}" in result.stderr
        assert "(not verified)" in result.stderr
        result = invoke(evidence_group, ["show", run.digest, "--envelope"], home)
        assert json.loads(result.stdout)["payloadType"] == PAYLOAD_TYPE

    def test_show_unsigned_envelope_is_a_usage_error(
        self, run: CheckedChange, unsigned: Settings, home: Path
    ) -> None:
        """Asking for the envelope of an unsigned pack exits 2."""
        store_check_pack(run, file_evidence(unsigned))
        result = invoke(evidence_group, ["show", run.digest, "--envelope"], home)
        assert result.exit_code == 2
        assert "not signed" in result.stderr

    def test_show_tampered_exits_1(
        self, run: CheckedChange, unsigned: Settings, home: Path
    ) -> None:
        """A pack that no longer matches its digest is evidence that does not hold."""
        force_write(store_check_pack(run, file_evidence(unsigned)).path, b"{}")
        result = invoke(evidence_group, ["show", run.digest], home)
        assert result.exit_code == 1
        assert "was changed" in result.stderr

    @pytest.mark.parametrize(
        "ref", ["sha256:nope", "sha256:" + "0" * 64, "missing.json", "sha256:../../x"]
    )
    def test_bad_references_exit_2(self, home: Path, ref: str) -> None:
        """Malformed or unknown digests and missing files are usage errors."""
        for command in (["show", ref], ["verify", ref]):
            result = invoke(evidence_group, command, home)
            assert result.exit_code == 2, result.output
            assert result.stderr.startswith("eucora: error: ")
            assert "Traceback" not in result.output

    def test_verify_tampered_exits_1(
        self, run: CheckedChange, signing: Settings, home: Path
    ) -> None:
        """A tampered pack fails verification with exit 1 and says which check failed."""
        force_write(store_check_pack(run, file_evidence(signing)).path, b"{}")
        result = invoke(
            evidence_group,
            ["verify", run.digest],
            home,
            EUCORA_SIGNING_KEY_FILE=str(home / "keys" / PRIVATE_KEY_NAME),
        )
        assert result.exit_code == 1
        assert "FAILED  digest" in result.stdout
        assert "NOT verified" in result.stdout

    def test_verify_wrong_key_exits_1(
        self, run: CheckedChange, signing: Settings, home: Path, tmp_path: Path
    ) -> None:
        """A signature that does not hold for the given key exits 1."""
        store_check_pack(run, file_evidence(signing))
        wrong = tmp_path / "wrong.pub.pem"
        wrong.write_bytes(other_public_pem())
        result = invoke(evidence_group, ["verify", run.digest, "--public-key", str(wrong)], home)
        assert result.exit_code == 1
        assert "FAILED  signature" in result.stdout

    def test_verify_with_a_configured_key_fails_an_unsigned_pack(
        self, run: CheckedChange, signing: Settings, home: Path
    ) -> None:
        """With EUCORA_SIGNING_KEY set every pack is signed: a missing envelope is not verified.

        The envelope is removed after storing, as someone stripping the signature would.
        """
        stored = store_check_pack(run, file_evidence(signing))
        assert stored.envelope_path is not None
        stored.envelope_path.unlink()
        result = invoke(
            evidence_group,
            ["verify", run.digest],
            home,
            EUCORA_SIGNING_KEY_FILE=str(home / "keys" / PRIVATE_KEY_NAME),
        )
        assert result.exit_code == 1, result.output
        assert "FAILED  signature" in result.stdout
        assert "EUCORA_SIGNING_KEY" in result.stdout
        assert result.stdout.rstrip().endswith(f"{run.digest}: NOT verified")

    def test_verify_with_a_public_key_fails_an_unsigned_pack(
        self, run: CheckedChange, unsigned: Settings, home: Path, keys: Path
    ) -> None:
        """A key the auditor asked to trust and no signature: exit 1, never "verified"."""
        store_check_pack(run, file_evidence(unsigned))
        public = str(keys / PUBLIC_KEY_NAME)
        result = invoke(evidence_group, ["verify", run.digest, "--public-key", public], home)
        assert result.exit_code == 1, result.output
        assert "FAILED  signature" in result.stdout
        assert result.stdout.rstrip().endswith(f"{run.digest}: NOT verified")

    def test_verify_without_keys_says_the_pack_is_not_signed(
        self, run: CheckedChange, unsigned: Settings, home: Path
    ) -> None:
        """No key configured or given: the digest holds (exit 0) but the verdict says unsigned."""
        store_check_pack(run, file_evidence(unsigned))
        result = invoke(evidence_group, ["verify", run.digest], home)
        assert result.exit_code == 0, result.output
        last = result.stdout.rstrip().splitlines()[-1]
        assert last == f"{run.digest}: digest holds, NOT signed (no signature was checked)"

    def test_verify_json(self, run: CheckedChange, signing: Settings, home: Path) -> None:
        """--format json gives the report as data."""
        store_check_pack(run, file_evidence(signing))
        result = invoke(
            evidence_group,
            ["verify", run.digest, "--format", "json"],
            home,
            EUCORA_SIGNING_KEY_FILE=str(home / "keys" / PRIVATE_KEY_NAME),
        )
        assert result.exit_code == 0, result.output
        report = json.loads(result.stdout)
        assert report["verified"] is True
        assert [c["name"] for c in report["checks"]] == [
            "digest",
            "signature",
            "statement",
            "inclusion",
        ]

    def test_verify_unreadable_public_key_exits_2(
        self, run: CheckedChange, unsigned: Settings, home: Path, tmp_path: Path
    ) -> None:
        """A missing or malformed key file is a usage error."""
        store_check_pack(run, file_evidence(unsigned))
        missing = str(tmp_path / "missing.pem")
        result = invoke(evidence_group, ["verify", run.digest, "--public-key", missing], home)
        assert result.exit_code == 2
        assert "Traceback" not in result.output
        junk = tmp_path / "junk.pem"
        junk.write_text("junk")
        result = invoke(evidence_group, ["verify", run.digest, "--public-key", str(junk)], home)
        assert result.exit_code == 2
        assert "not a public key (PEM or a verifier key" in result.stderr

    def test_a_bad_signing_key_setting_exits_2(
        self, run: CheckedChange, unsigned: Settings, home: Path, tmp_path: Path
    ) -> None:
        """An unreadable EUCORA_SIGNING_KEY_FILE is reported, not raised."""
        store_check_pack(run, file_evidence(unsigned))
        missing = str(tmp_path / "nope.pem")
        result = invoke(
            evidence_group, ["verify", run.digest], home, EUCORA_SIGNING_KEY_FILE=missing
        )
        assert result.exit_code == 2
        assert "EUCORA_SIGNING_KEY_FILE" in result.stderr
