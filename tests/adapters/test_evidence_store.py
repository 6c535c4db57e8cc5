"""The filesystem evidence store: write-once by digest, tamper evidence, no path traversal."""

from __future__ import annotations

import hashlib
import os
import stat
import threading
from pathlib import Path
from typing import Any

import pytest

from bot.adapters.evidence_store import (
    EnvelopeConflictError,
    EvidenceNotFoundError,
    EvidenceStore,
    EvidenceStoreError,
    InvalidDigestError,
    TamperedEvidenceError,
    parse_digest,
)
from bot.core.evidence import canonical_json, digest_of
from bot.errors import StorageError

PACK: dict[str, Any] = {"kind": "CheckPack", "head": "abc", "labels": ["é"], "n": 3}
OTHER: dict[str, Any] = {"kind": "CheckPack", "head": "def"}
ENVELOPE: dict[str, Any] = {"payload": "e30=", "payloadType": "x", "signatures": []}


@pytest.fixture
def store(tmp_path: Path) -> EvidenceStore:
    return EvidenceStore(tmp_path / "evidence")


def force_write(path: Path, data: bytes) -> None:
    """Edit a stored (read-only) file as an intruder would."""
    path.chmod(0o644)
    path.write_bytes(data)


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


class TestPut:
    def test_returns_the_digest_and_writes_canonical_bytes(self, store: EvidenceStore) -> None:
        """The file holds the canonical JSON and its address is the sha256 of those bytes."""
        digest = store.put(PACK)
        assert digest == digest_of(PACK)
        hex_digest = digest.removeprefix("sha256:")
        path = store.root / "sha256" / hex_digest[:2] / f"{hex_digest}.json"
        assert store.pack_path(digest) == path
        assert path.read_bytes() == canonical_json(PACK)
        assert hashlib.sha256(path.read_bytes()).hexdigest() == hex_digest

    def test_stored_files_are_read_only(self, store: EvidenceStore) -> None:
        """Nothing is meant to edit a stored pack."""
        mode = stat.S_IMODE(store.pack_path(store.put(PACK)).stat().st_mode)
        assert mode == 0o444

    def test_a_second_put_is_a_no_op(self, store: EvidenceStore) -> None:
        """Writing the same pack again changes nothing on disk (same file, same inode)."""
        path = store.pack_path(store.put(PACK))
        before = path.stat()
        assert store.put(dict(reversed(PACK.items()))) == digest_of(PACK)
        after = path.stat()
        assert (before.st_ino, before.st_mtime_ns) == (after.st_ino, after.st_mtime_ns)
        assert files_under(store.root) == [path]

    def test_a_different_body_under_the_digest_is_refused(self, store: EvidenceStore) -> None:
        """A file at the pack's address with other bytes is tamper evidence: refused, kept."""
        path = store.pack_path(store.put(PACK))
        force_write(path, b'{"kind":"forged"}')
        with pytest.raises(TamperedEvidenceError, match="was changed"):
            store.put(PACK)
        assert path.read_bytes() == b'{"kind":"forged"}'

    def test_non_canonical_bytes_of_the_same_pack_are_refused(self, store: EvidenceStore) -> None:
        """Even the same JSON value in other bytes is not what the digest names."""
        path = store.pack_path(store.put(PACK))
        force_write(path, canonical_json(PACK) + b"\n")
        with pytest.raises(TamperedEvidenceError):
            store.put(PACK)

    def test_no_temporary_files_are_left(self, store: EvidenceStore) -> None:
        """The temporary file is renamed into place."""
        store.put(PACK)
        store.put(OTHER)
        assert all(not p.name.startswith(".") for p in files_under(store.root))

    def test_a_failed_write_leaves_nothing(
        self, store: EvidenceStore, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A crash before the rename leaves neither the pack nor a temporary file."""

        def broken_fsync(fd: int) -> None:
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(os, "fsync", broken_fsync)
        with pytest.raises(OSError, match="No space"):
            store.put(PACK)
        assert files_under(store.root) == []
        assert not store.exists(digest_of(PACK))

    def test_concurrent_puts_of_one_pack(self, store: EvidenceStore) -> None:
        """Writers racing on one digest all succeed and leave one intact file."""
        errors: list[BaseException] = []

        def put() -> None:
            try:
                store.put(PACK)
            except BaseException as error:  # noqa: BLE001 - collected for the assertion
                errors.append(error)

        threads = [threading.Thread(target=put) for _ in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert files_under(store.root) == [store.pack_path(digest_of(PACK))]
        assert store.get(digest_of(PACK)) == canonical_json(PACK)


class TestGet:
    def test_returns_the_stored_bytes(self, store: EvidenceStore) -> None:
        """A read gives back exactly the canonical bytes."""
        assert store.get(store.put(PACK)) == canonical_json(PACK)

    def test_an_edited_file_is_refused(self, store: EvidenceStore) -> None:
        """Bytes that no longer hash to their digest are refused on read."""
        digest = store.put(PACK)
        force_write(store.pack_path(digest), canonical_json({**PACK, "n": 4}))
        with pytest.raises(TamperedEvidenceError, match="hash to sha256:"):
            store.get(digest)

    def test_a_missing_pack(self, store: EvidenceStore) -> None:
        """An unknown digest is reported as not found."""
        with pytest.raises(EvidenceNotFoundError, match="no evidence pack"):
            store.get(digest_of(OTHER))
        assert not store.exists(digest_of(OTHER))

    def test_exists(self, store: EvidenceStore) -> None:
        """exists tells stored digests from others."""
        digest = store.put(PACK)
        assert store.exists(digest)
        assert not store.exists(digest_of(OTHER))


BAD_DIGESTS = [
    "",
    "sha256:",
    "sha256:" + "a" * 63,
    "sha256:" + "a" * 65,
    "sha256:" + "A" * 64,
    "sha512:" + "a" * 64,
    "a" * 64,
    "sha256:" + "a" * 64 + "\n",
    "sha256:../../../../etc/passwd",
    "sha256:" + "a" * 62 + "/.",
    "sha256:" + "g" * 64,
]


class TestDigests:
    @pytest.mark.parametrize("digest", BAD_DIGESTS)
    def test_malformed_digests_are_refused_everywhere(
        self, store: EvidenceStore, digest: str
    ) -> None:
        """No method builds a path from a digest that is not sha256:<64 lowercase hex>."""
        for call in (
            store.get,
            store.exists,
            store.get_envelope,
            store.pack_path,
            store.envelope_path,
            lambda d: store.put_envelope(d, ENVELOPE),
        ):
            with pytest.raises(InvalidDigestError, match="is not a digest"):
                call(digest)
        assert not store.root.exists()

    def test_not_a_string(self) -> None:
        """Non-strings are not digests either."""
        with pytest.raises(InvalidDigestError):
            parse_digest(None)  # type: ignore[arg-type]

    def test_errors_share_a_base(self) -> None:
        """Callers can catch every store failure at once; a bad digest is also a ValueError."""
        for error in (InvalidDigestError, EvidenceNotFoundError, TamperedEvidenceError):
            assert issubclass(error, EvidenceStoreError)
            assert issubclass(error, StorageError)
        assert issubclass(InvalidDigestError, ValueError)


class TestEnvelopes:
    def test_stored_next_to_the_pack(self, store: EvidenceStore) -> None:
        """The envelope is <hex>.dsse.json beside <hex>.json, as canonical JSON."""
        digest = store.put(PACK)
        path = store.put_envelope(digest, ENVELOPE)
        assert path == store.pack_path(digest).with_name(
            digest.removeprefix("sha256:") + ".dsse.json"
        )
        assert store.get_envelope(digest) == canonical_json(ENVELOPE)

    def test_absent_until_signed(self, store: EvidenceStore) -> None:
        """An unsigned pack has no envelope."""
        assert store.get_envelope(store.put(PACK)) is None

    def test_needs_the_pack(self, store: EvidenceStore) -> None:
        """An envelope for a pack that is not stored is refused."""
        with pytest.raises(EvidenceNotFoundError):
            store.put_envelope(digest_of(PACK), ENVELOPE)

    def test_the_same_envelope_again_is_a_no_op(self, store: EvidenceStore) -> None:
        """Re-signing with the same key gives the same bytes: nothing to do."""
        digest = store.put(PACK)
        path = store.put_envelope(digest, ENVELOPE)
        before = path.stat()
        store.put_envelope(digest, dict(ENVELOPE))
        assert (path.stat().st_ino, path.stat().st_mtime_ns) == (before.st_ino, before.st_mtime_ns)

    def test_a_different_envelope_is_refused(self, store: EvidenceStore) -> None:
        """Stored envelopes are never replaced."""
        digest = store.put(PACK)
        store.put_envelope(digest, ENVELOPE)
        with pytest.raises(EnvelopeConflictError, match="different envelope"):
            store.put_envelope(digest, {**ENVELOPE, "payloadType": "y"})
        assert store.get_envelope(digest) == canonical_json(ENVELOPE)


class TestPullRequestBesideThePack:
    """What the App knew of a check pack's pull request: beside the pack, never in it."""

    FACTS: dict[str, Any] = {  # noqa: RUF012 - read only
        "number": 7,
        "title": "Chrome 132 <script>alert(1)</script>",
        "author": "ada",
        "url": "https://github.com/contoso/intents/pull/7",
    }

    def test_stored_next_to_the_pack_and_read_back(self, store: EvidenceStore) -> None:
        digest = store.put(PACK)
        path = store.put_pull_request(digest, self.FACTS)
        assert path.parent == store.pack_path(digest).parent
        assert path.name == f"{parse_digest(digest)}.pull.json"
        assert store.get_pull_request(digest) == self.FACTS

    def test_the_pack_bytes_and_digest_do_not_change(self, store: EvidenceStore) -> None:
        digest = store.put(PACK)
        store.put_pull_request(digest, self.FACTS)
        assert store.get(digest) == canonical_json(PACK)
        assert digest == digest_of(PACK)

    def test_a_new_title_replaces_the_old(self, store: EvidenceStore) -> None:
        digest = store.put(PACK)
        store.put_pull_request(digest, self.FACTS)
        store.put_pull_request(digest, self.FACTS | {"title": "Chrome 132.0.6834.83"})
        facts = store.get_pull_request(digest)
        assert facts is not None
        assert facts["title"] == "Chrome 132.0.6834.83"

    def test_absent_or_unreadable_is_none(self, store: EvidenceStore) -> None:
        digest = store.put(PACK)
        assert store.get_pull_request(digest) is None
        store.put_pull_request(digest, self.FACTS)
        store.pull_path(digest).write_bytes(b"{not json")
        assert store.get_pull_request(digest) is None

    def test_needs_the_pack(self, store: EvidenceStore) -> None:
        with pytest.raises(EvidenceNotFoundError):
            store.put_pull_request(digest_of(OTHER), self.FACTS)

    def test_malformed_digests_are_refused(self, store: EvidenceStore) -> None:
        with pytest.raises(InvalidDigestError):
            store.get_pull_request("sha256:../../etc/passwd")
