"""The transparency-log core: RFC 9162 proofs, C2SP signed notes, checkpoints and tlog-proof bundles."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from bot.core.tlog import (
    EMPTY_ROOT,
    Checkpoint,
    CompactRange,
    Ed25519Signer,
    FormatError,
    NoteError,
    ProofBundle,
    ProofError,
    TailTree,
    TlogError,
    consistency_proof,
    consistency_proof_size,
    encode_signer_key,
    encode_verifier_key,
    format_checkpoint,
    format_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    note_verifier_keys,
    parse_checkpoint,
    parse_proof,
    parse_signer_key,
    parse_verifier_key,
    root_hash,
    sign_checkpoint,
    sign_note,
    verify_checkpoint,
    verify_consistency,
    verify_inclusion,
    verify_note,
    verify_proof_bundle,
)

TESTDATA = Path(__file__).resolve().parents[1] / "fixtures" / "tlog" / "testdata"


def b64(text: str) -> bytes:
    return base64.b64decode(text)


def enc(data: bytes) -> str:
    return base64.b64encode(data).decode()


def vector_files(kind: str) -> list[Path]:
    return sorted((TESTDATA / kind).rglob("*.json"))


def vector_id(path: Path) -> str:
    return path.relative_to(TESTDATA).as_posix()


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


# --- transparency-dev/merkle vectors -------------------------------------------------------------

INCLUSION = vector_files("inclusion")
CONSISTENCY = vector_files("consistency")


def test_every_vector_is_collected() -> None:
    assert len(INCLUSION) + len(CONSISTENCY) == 196
    assert any(load(p)["wantErr"] for p in INCLUSION)
    assert any(not load(p)["wantErr"] for p in CONSISTENCY)


@pytest.mark.parametrize("path", INCLUSION, ids=vector_id)
def test_inclusion_vector(path: Path) -> None:
    v = load(path)
    args = (
        b64(v["leafHash"]),
        v["leafIdx"],
        v["treeSize"],
        [b64(p) for p in v["proof"] or []],
        b64(v["root"]),
    )
    if v["wantErr"]:
        with pytest.raises(ProofError):
            verify_inclusion(*args)
    else:
        verify_inclusion(*args)


@pytest.mark.parametrize("path", CONSISTENCY, ids=vector_id)
def test_consistency_vector(path: Path) -> None:
    v = load(path)
    args = (
        v["size1"],
        v["size2"],
        [b64(p) for p in v["proof"] or []],
        b64(v["root1"]),
        b64(v["root2"]),
    )
    if v["wantErr"]:
        with pytest.raises(ProofError):
            verify_consistency(*args)
    else:
        verify_consistency(*args)


def test_proof_error_is_a_value_error() -> None:
    assert issubclass(ProofError, ValueError)
    assert issubclass(ProofError, TlogError)


# --- RFC 6962 hashing ----------------------------------------------------------------------------


def test_rfc6962_hash_vectors() -> None:
    # From transparency-dev/merkle rfc6962/rfc6962_test.go.
    assert root_hash([]).hex() == (
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )
    assert leaf_hash(b"").hex() == (
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    )
    assert leaf_hash(b"L123456").hex() == (
        "395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56"
    )
    assert node_hash(b"N123", b"N456").hex() == (
        "aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb"
    )


def leaves(n: int) -> list[bytes]:
    return [leaf_hash(i.to_bytes(4, "big")) for i in range(n)]


def split(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(hashes: list[bytes]) -> bytes:
    """RFC 9162 §2.1.1 MTH, recursively, as written in the RFC."""
    if not hashes:
        return EMPTY_ROOT
    if len(hashes) == 1:
        return hashes[0]
    k = split(len(hashes))
    return node_hash(ref_mth(hashes[:k]), ref_mth(hashes[k:]))


def ref_path(m: int, hashes: list[bytes]) -> list[bytes]:
    """RFC 9162 §2.1.3.1 PATH(m, D[n])."""
    if len(hashes) == 1:
        return []
    k = split(len(hashes))
    if m < k:
        return [*ref_path(m, hashes[:k]), ref_mth(hashes[k:])]
    return [*ref_path(m - k, hashes[k:]), ref_mth(hashes[:k])]


def ref_subproof(m: int, hashes: list[bytes], whole: bool) -> list[bytes]:
    """RFC 9162 §2.1.4.1 SUBPROOF(m, D[n], b)."""
    if m == len(hashes):
        return [] if whole else [ref_mth(hashes)]
    k = split(len(hashes))
    if m <= k:
        return [*ref_subproof(m, hashes[:k], whole), ref_mth(hashes[k:])]
    return [*ref_subproof(m - k, hashes[k:], False), ref_mth(hashes[:k])]


def test_root_hash_is_the_rfc_mth() -> None:
    hashes = leaves(130)
    for n in range(131):
        assert root_hash(hashes[:n]) == ref_mth(hashes[:n])


def test_root_hash_refuses_a_short_leaf_hash() -> None:
    with pytest.raises(ValueError, match="32"):
        root_hash([b"\x00" * 31])


def test_compact_range_equals_root_hash_for_every_size_up_to_300() -> None:
    hashes = leaves(300)
    frontier = CompactRange()
    assert frontier.root() == root_hash([])
    for n in range(1, 301):
        frontier = frontier.append(hashes[n - 1])
        assert frontier.size == n
        assert len(frontier.hashes) == n.bit_count()
        assert frontier.root() == root_hash(hashes[:n])
    assert CompactRange().extend(hashes) == frontier


def test_compact_range_resumes_from_stored_state() -> None:
    hashes = leaves(77)
    stored = CompactRange().extend(hashes[:50])
    resumed = CompactRange(stored.size, stored.hashes).extend(hashes[50:])
    assert resumed.root() == root_hash(hashes)


@pytest.mark.parametrize(
    ("size", "hashes"),
    [(-1, ()), (1, ()), (2, (EMPTY_ROOT, EMPTY_ROOT)), (1, (b"short",)), (2**64, ())],
)
def test_compact_range_refuses_inconsistent_state(size: int, hashes: tuple[bytes, ...]) -> None:
    with pytest.raises(ValueError):
        CompactRange(size, hashes)


def test_compact_range_refuses_a_short_leaf_hash() -> None:
    with pytest.raises(ValueError, match="32"):
        CompactRange().append(b"\x01" * 33)


# --- generated proofs: sizes 1..64 ---------------------------------------------------------------

HASHES = leaves(64)
ROOTS = [root_hash(HASHES[:n]) for n in range(65)]


def test_every_inclusion_proof_up_to_64_verifies() -> None:
    for size in range(1, 65):
        for index in range(size):
            proof = inclusion_proof(HASHES, index, size)
            assert proof == ref_path(index, HASHES[:size])
            verify_inclusion(HASHES[index], index, size, proof, ROOTS[size])


def test_every_consistency_proof_up_to_64_verifies() -> None:
    for new in range(1, 65):
        for old in range(1, new + 1):
            proof = consistency_proof(HASHES, old, new)
            assert proof == ref_subproof(old, HASHES[:new], True)
            verify_consistency(old, new, proof, ROOTS[old], ROOTS[new])


def flip(data: bytes, position: int, mask: int) -> bytes:
    return data[:position] + bytes([data[position] ^ mask]) + data[position + 1 :]


def single_byte_flips(
    proof: list[bytes], first: bytes, second: bytes
) -> list[tuple[list[bytes], bytes, bytes]]:
    """Every copy of (proof, first, second) with exactly one byte flipped somewhere."""
    cases = []
    for position in range(32):
        cases.append((proof, flip(first, position, 0x01), second))
        cases.append((proof, first, flip(second, position, 0x01)))
        for which in range(len(proof)):
            path = list(proof)
            path[which] = flip(path[which], position, 0x01)
            cases.append((path, first, second))
    return cases


@pytest.mark.slow
@pytest.mark.parametrize("size", range(1, 65))
def test_flipping_any_byte_of_any_proof_breaks_it(size: int) -> None:
    """Exhaustive: every byte of every proof, root and leaf hash of this size (both proofs)."""
    for index in range(size):
        proof = inclusion_proof(HASHES, index, size)
        for path, leaf, root in single_byte_flips(proof, HASHES[index], ROOTS[size]):
            with pytest.raises(ProofError):
                verify_inclusion(leaf, index, size, path, root)
    for old in range(1, size + 1):
        proof = consistency_proof(HASHES, old, size)
        for path, old_root, new_root in single_byte_flips(proof, ROOTS[old], ROOTS[size]):
            with pytest.raises(ProofError):
                verify_consistency(old, size, path, old_root, new_root)


@st.composite
def inclusion_cases(draw: st.DrawFn) -> tuple[int, int, list[bytes]]:
    size = draw(st.integers(1, 64))
    index = draw(st.integers(0, size - 1))
    return size, index, inclusion_proof(HASHES, index, size)


@given(
    case=inclusion_cases(),
    target=st.integers(0, 65),
    position=st.integers(0, 31),
    mask=st.integers(1, 255),
)
def test_flipping_a_byte_breaks_an_inclusion_proof(
    case: tuple[int, int, list[bytes]], target: int, position: int, mask: int
) -> None:
    size, index, proof = case
    leaf, root, path = HASHES[index], ROOTS[size], list(proof)
    choice = target % (len(proof) + 2)
    if choice == len(proof):
        leaf = flip(leaf, position, mask)
    elif choice == len(proof) + 1:
        root = flip(root, position, mask)
    else:
        path[choice] = flip(path[choice], position, mask)
    with pytest.raises(ProofError):
        verify_inclusion(leaf, index, size, path, root)


@st.composite
def consistency_cases(draw: st.DrawFn) -> tuple[int, int, list[bytes]]:
    new = draw(st.integers(1, 64))
    old = draw(st.integers(1, new))
    return old, new, consistency_proof(HASHES, old, new)


@given(
    case=consistency_cases(),
    target=st.integers(0, 65),
    position=st.integers(0, 31),
    mask=st.integers(1, 255),
)
def test_flipping_a_byte_breaks_a_consistency_proof(
    case: tuple[int, int, list[bytes]], target: int, position: int, mask: int
) -> None:
    old, new, proof = case
    old_root, new_root, path = ROOTS[old], ROOTS[new], list(proof)
    choice = target % (len(proof) + 2)
    if choice == len(proof):
        old_root = flip(old_root, position, mask)
    elif choice == len(proof) + 1:
        new_root = flip(new_root, position, mask)
    else:
        path[choice] = flip(path[choice], position, mask)
    with pytest.raises(ProofError):
        verify_consistency(old, new, path, old_root, new_root)


@given(case=inclusion_cases(), other=st.integers(0, 63))
def test_an_inclusion_proof_does_not_verify_at_another_index_or_size(
    case: tuple[int, int, list[bytes]], other: int
) -> None:
    size, index, proof = case
    if other != index and other < size:
        with pytest.raises(ProofError):
            verify_inclusion(HASHES[index], other, size, proof, ROOTS[size])
    other_size = other + 1
    if other_size != size and index < other_size:
        with pytest.raises(ProofError):
            verify_inclusion(HASHES[index], index, other_size, proof, ROOTS[other_size])


@given(case=consistency_cases(), extra=st.sampled_from(["drop", "append", "prepend"]))
def test_a_consistency_proof_with_a_hash_more_or_less_fails(
    case: tuple[int, int, list[bytes]], extra: str
) -> None:
    old, new, proof = case
    assume(old != new)
    path = {"drop": proof[:-1], "append": [*proof, EMPTY_ROOT], "prepend": [EMPTY_ROOT, *proof]}
    with pytest.raises(ProofError):
        verify_consistency(old, new, path[extra], ROOTS[old], ROOTS[new])


@pytest.mark.parametrize(("index", "size"), [(-1, 4), (4, 4), (0, 0), (0, 65)])
def test_inclusion_proof_refuses_impossible_arguments(index: int, size: int) -> None:
    with pytest.raises(ValueError):
        inclusion_proof(HASHES, index, size)


@pytest.mark.parametrize(("old", "new"), [(0, 4), (5, 4), (1, 65), (-1, 3)])
def test_consistency_proof_refuses_impossible_arguments(old: int, new: int) -> None:
    with pytest.raises(ValueError):
        consistency_proof(HASHES, old, new)


def test_a_large_tree_needs_a_hash_per_level() -> None:
    hashes = [hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range((1 << 17) + 5)]
    root = root_hash(hashes)
    assert CompactRange().extend(hashes).root() == root
    proof = inclusion_proof(hashes, 77_777, len(hashes))
    assert len(proof) == 18
    verify_inclusion(hashes[77_777], 77_777, len(hashes), proof, root)
    old = consistency_proof(hashes, 100_000, len(hashes))
    verify_consistency(100_000, len(hashes), old, root_hash(hashes[:100_000]), root)


# --- c2sp.org/signed-note ------------------------------------------------------------------------

# The worked example of c2sp.org/signed-note ("Verifier keys" > "Example"), BSD-1-Clause data.
SPEC_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
SPEC_NOTE = (
    "This is an example message.\n"
    "\n"
    "\u2014 example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n"
)
# The note at the top of the same specification, signed by a key the spec does not publish.
QUASIMODO = (
    "Ognuno sta solo sul cuor della terra\n"
    "trafitto da un raggio di sole:\n"
    "\n"
    "ed \u00e8 subito sera.\n"
    "\n"
    "\u2014 quasimodo.example/salvatore NnugSzTjtVAewIS+Z/iJhUPeFDkO/5QQ2i5ddnGITLlC+EhfLW9oJKONrMouFSQU0xMcXxj99ihAQwaqP3ZekRwNtIc=\n"
)
# The example of golang.org/x/mod/sumdb/note (package documentation), the reference implementation.
GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
GO_NOTE = (
    GO_TEXT
    + "\n\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)

SEED = bytes(range(32))
NAME = "eucora.example/audit/v1"
SIGNER = Ed25519Signer(NAME, SEED)
VKEY = SIGNER.verifier.verifier_key


def test_the_signed_note_spec_example_verifies() -> None:
    verifier = parse_verifier_key(SPEC_VKEY)
    assert verifier.name == "example.com/foo"
    assert verifier.key_id.hex() == "530d903a"
    assert encode_verifier_key(verifier.name, verifier.public_key) == SPEC_VKEY
    note = verify_note(SPEC_NOTE, [SPEC_VKEY])
    assert note.text == "This is an example message.\n"
    assert [(s.name, s.key_id.hex()) for s in note.signatures] == [("example.com/foo", "530d903a")]
    assert note.unverified == ()


def test_the_go_reference_example_signs_byte_for_byte() -> None:
    signer = parse_signer_key(GO_SKEY)
    assert signer.name == "PeterNeumann"
    assert signer.key_id.hex() == "c74f20a3"
    assert encode_signer_key(signer.name, signer.private_key) == GO_SKEY
    assert signer.verifier.verifier_key == GO_VKEY
    assert sign_note(GO_TEXT, signer.name, signer.private_key) == GO_NOTE
    assert verify_note(GO_NOTE, [GO_VKEY]).text == GO_TEXT


def test_a_note_from_an_unknown_key_is_refused() -> None:
    with pytest.raises(NoteError, match="no signature from a known key"):
        verify_note(QUASIMODO, [SPEC_VKEY])
    with pytest.raises(NoteError):
        verify_note(SPEC_NOTE, [])


def test_signer_repr_hides_the_private_key() -> None:
    assert SEED.hex() not in repr(SIGNER)
    assert repr(SEED) not in repr(SIGNER)


def test_sign_and_verify_round_trip_with_multiline_text() -> None:
    text = "line one\n\nline three after a blank line\n\u00e9t\u00e9\n"
    note = sign_note(text, NAME, SEED)
    opened = verify_note(note, [VKEY])
    assert opened.text == text
    assert opened.signatures[0].line == note.splitlines()[-1]


def test_unknown_signatures_are_set_aside_and_a_known_one_suffices() -> None:
    other = Ed25519Signer("witness.example", bytes(32))
    signed = sign_note(GO_TEXT, NAME, SEED)
    cosigned = sign_note(GO_TEXT, other.name, other.private_key)
    note = signed + cosigned.split("\n\n")[-1]
    opened = verify_note(note, [VKEY])
    assert [s.name for s in opened.signatures] == [NAME]
    assert [s.name for s in opened.unverified] == ["witness.example"]
    both = verify_note(note, [VKEY, other.verifier.verifier_key])
    assert [s.name for s in both.signatures] == [NAME, "witness.example"]


def test_a_key_sharing_only_the_name_or_only_the_id_is_unknown() -> None:
    note = sign_note(GO_TEXT, NAME, SEED)
    same_name = Ed25519Signer(NAME, bytes(32)).verifier.verifier_key
    with pytest.raises(NoteError, match="known key"):
        verify_note(note, [same_name])
    line = note.splitlines()[-1]
    renamed = note.replace(line, line.replace(NAME, "other.example/log"))
    with pytest.raises(NoteError, match="known key"):
        verify_note(renamed, [VKEY])


def test_a_bad_signature_from_a_known_key_rejects_the_note() -> None:
    note = sign_note(GO_TEXT, NAME, SEED)
    forged = sign_note(GO_TEXT + "more\n", NAME, SEED).split("\n\n")[-1]
    with pytest.raises(NoteError, match="does not verify"):
        verify_note(note + forged, [VKEY])
    with pytest.raises(NoteError, match="does not verify"):
        verify_note(note.replace("If you", "If we"), [VKEY])


def test_a_repeated_signature_is_counted_once() -> None:
    note = sign_note(GO_TEXT, NAME, SEED)
    twice = note + note.split("\n\n")[-1]
    assert len(verify_note(twice, [VKEY]).signatures) == 1


def test_sixteen_signatures_are_accepted_and_a_hundred_and_one_are_not() -> None:
    signers = [Ed25519Signer(f"w{i}.example", bytes([i]) * 32) for i in range(16)]
    lines = "".join(sign_note(GO_TEXT, s.name, s.private_key).split("\n\n")[-1] for s in signers)
    note = GO_TEXT + "\n" + lines
    opened = verify_note(note, [s.verifier.verifier_key for s in signers])
    assert len(opened.signatures) == 16
    many = GO_TEXT + "\n" + lines.splitlines(keepends=True)[0] * 101
    with pytest.raises(NoteError, match="at most"):
        verify_note(many, [signers[0].verifier.verifier_key])


GOOD = sign_note(GO_TEXT, NAME, SEED)
GOOD_LINE = GOOD.splitlines()[-1]
GOOD_SIG = GOOD_LINE.split(" ")[-1]


@pytest.mark.parametrize(
    "note",
    [
        pytest.param(GOOD.rstrip("\n"), id="no-final-newline"),
        pytest.param(GOOD + "\n", id="blank-line-at-end"),
        pytest.param(GOOD.replace("\n\n", "\n"), id="no-blank-line"),
        pytest.param(GOOD.replace(",\n", ",\r\n"), id="carriage-return"),
        pytest.param(GOOD.replace("If you", "If\tyou"), id="tab"),
        pytest.param(GOOD.replace("If you", "If\ud800you"), id="lone-surrogate"),
        pytest.param(GOOD.replace("\u2014 ", "- "), id="hyphen-not-em-dash"),
        pytest.param(GOOD.replace("\u2014 ", "\u2014"), id="no-space-after-dash"),
        pytest.param(GOOD.replace(f" {NAME} ", " "), id="no-name"),
        pytest.param(GOOD.replace(f" {NAME} ", f" {NAME}+x "), id="plus-in-name"),
        pytest.param(GOOD.replace(f" {NAME} ", f" {NAME}\u00a0x "), id="nbsp-in-name"),
        pytest.param(GOOD.replace(GOOD_SIG, GOOD_SIG + " "), id="trailing-space"),
        pytest.param(GOOD.replace(GOOD_SIG, GOOD_SIG.rstrip("=")), id="unpadded-base64"),
        pytest.param(GOOD.replace(GOOD_SIG, "-" + GOOD_SIG[1:]), id="url-safe-alphabet"),
        pytest.param(GOOD.replace(GOOD_SIG, "AAAA"), id="key-id-only"),
        pytest.param(GOOD.replace(GOOD_SIG, ""), id="empty-signature"),
        pytest.param(GOOD + "\u2014 \n", id="empty-signature-line"),
        pytest.param(GO_TEXT + "\n", id="no-signatures"),
    ],
)
def test_malformed_notes_are_refused(note: str) -> None:
    with pytest.raises(NoteError):
        verify_note(note, [VKEY])


def test_non_canonical_base64_in_a_signature_is_refused() -> None:
    raw = b64(GOOD_SIG)
    assert enc(raw) == GOOD_SIG
    assert GOOD_SIG.endswith("=")
    # 68 bytes end in one padding character: the last data character carries two spare bits.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    last = GOOD_SIG[-2]
    sibling = alphabet[alphabet.index(last) ^ 1]
    lax = GOOD_SIG[:-2] + sibling + "="
    assert base64.b64decode(lax) == raw
    with pytest.raises(NoteError, match="canonical"):
        verify_note(GOOD.replace(GOOD_SIG, lax), [VKEY])


@pytest.mark.parametrize(
    "vkey",
    [
        pytest.param(SPEC_VKEY.replace("530d903a", "530D903A"), id="uppercase-id"),
        pytest.param(SPEC_VKEY.replace("530d903a", "530d903b"), id="wrong-id"),
        pytest.param(SPEC_VKEY.replace("530d903a", "530d903"), id="short-id"),
        pytest.param(SPEC_VKEY.replace("+Aeky", "+Aiky"), id="type-2"),
        pytest.param(SPEC_VKEY[:-4], id="short-key"),
        pytest.param("example.com/foo+530d903a", id="no-key"),
        pytest.param("+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k", id="empty-name"),
        pytest.param(SPEC_VKEY.replace("example.com/foo", "example com"), id="space-in-name"),
        pytest.param(SPEC_VKEY + "=", id="bad-base64"),
    ],
)
def test_malformed_verifier_keys_are_refused(vkey: str) -> None:
    with pytest.raises(FormatError):
        parse_verifier_key(vkey)
    with pytest.raises(FormatError):
        verify_note(SPEC_NOTE, [vkey])


@pytest.mark.parametrize(
    "skey",
    [
        pytest.param(GO_SKEY.removeprefix("PRIVATE+KEY+"), id="no-prefix"),
        pytest.param(GO_SKEY.replace("c74f20a3", "c74f20a4"), id="wrong-id"),
        pytest.param(GO_SKEY.replace("+AYEK", "+AoEK"), id="type-2"),
        pytest.param(GO_SKEY.replace("PeterNeumann", "Peter+Neumann"), id="plus-in-name"),
    ],
)
def test_malformed_signer_keys_are_refused(skey: str) -> None:
    with pytest.raises(FormatError):
        parse_signer_key(skey)


def test_two_different_keys_with_one_name_and_id_are_ambiguous() -> None:
    # Two seeds whose public keys collide in the 32-bit key ID for this name (a birthday search).
    seeds = [hashlib.sha256(b"seed" + i.to_bytes(8, "big")).digest() for i in (10213, 54487)]
    vkeys = [Ed25519Signer("collide.example", seed).verifier.verifier_key for seed in seeds]
    assert vkeys[0] != vkeys[1]
    assert vkeys[0].split("+")[1] == vkeys[1].split("+")[1] == "9e79fcb1"
    note = sign_note(GO_TEXT, "collide.example", seeds[0])
    assert verify_note(note, [vkeys[0], vkeys[0]]).text == GO_TEXT  # a repeated key is fine
    with pytest.raises(FormatError, match="share"):
        verify_note(note, vkeys)


@pytest.mark.parametrize(
    ("text", "name", "key"),
    [
        ("no newline", NAME, SEED),
        ("carriage\r\n", NAME, SEED),
        ("ok\n", "", SEED),
        ("ok\n", "has space", SEED),
        ("ok\n", "has+plus", SEED),
        ("ok\n", NAME, SEED[:31]),
    ],
)
def test_sign_note_refuses_what_could_not_be_opened(text: str, name: str, key: bytes) -> None:
    with pytest.raises(TlogError):
        sign_note(text, name, key)


def test_a_verifier_refuses_a_signature_of_the_wrong_length() -> None:
    assert not SIGNER.verifier.verify(b"message", SIGNER.sign(b"message")[:63])
    assert SIGNER.verifier.verify(b"message", SIGNER.sign(b"message"))


# --- c2sp.org/tlog-checkpoint --------------------------------------------------------------------

SPEC_CHECKPOINT = (
    "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
)


def test_the_spec_checkpoint_body_parses_and_formats_back() -> None:
    checkpoint = parse_checkpoint(SPEC_CHECKPOINT)
    assert checkpoint.origin == "example.com/behind-the-sofa"
    assert checkpoint.size == 20852163
    assert checkpoint.root == b64("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=")
    assert checkpoint.extensions == ()
    assert format_checkpoint(checkpoint) == SPEC_CHECKPOINT


def test_the_empty_tree_checkpoint() -> None:
    text = format_checkpoint(Checkpoint("log.example", 0, EMPTY_ROOT))
    assert text == f"log.example\n0\n{enc(EMPTY_ROOT)}\n"
    assert parse_checkpoint(text).size == 0
    with pytest.raises(FormatError, match="empty tree"):
        Checkpoint("log.example", 0, ROOTS[1])


ROOT_LINE = "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I="


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("o\n5\n" + ROOT_LINE, id="no-final-newline"),
        pytest.param("o\n5\n", id="no-root"),
        pytest.param("\n5\n" + ROOT_LINE + "\n", id="empty-origin"),
        pytest.param("o\n05\n" + ROOT_LINE + "\n", id="leading-zero"),
        pytest.param("o\n+5\n" + ROOT_LINE + "\n", id="plus-sign"),
        pytest.param("o\n-5\n" + ROOT_LINE + "\n", id="negative"),
        pytest.param("o\n 5\n" + ROOT_LINE + "\n", id="space"),
        pytest.param("o\n5_0\n" + ROOT_LINE + "\n", id="underscore"),
        pytest.param("o\n\u0665\n" + ROOT_LINE + "\n", id="arabic-digit"),
        pytest.param("o\n18446744073709551616\n" + ROOT_LINE + "\n", id="2**64"),
        pytest.param("o\n5\n" + ROOT_LINE[:-4] + "\n", id="short-root"),
        pytest.param("o\n5\n" + ROOT_LINE.rstrip("=") + "\n", id="unpadded-root"),
        pytest.param("o\n5\n" + ROOT_LINE.replace("2I=", "2J=") + "\n", id="non-canonical-root"),
        pytest.param("o\n5\n" + ROOT_LINE + "\n\n", id="empty-extension"),
        pytest.param("o\n5\n" + ROOT_LINE + "\next\n\nmore\n", id="blank-between-extensions"),
        pytest.param("o\r\n5\n" + ROOT_LINE + "\n", id="carriage-return"),
    ],
)
def test_malformed_checkpoints_are_refused(text: str) -> None:
    with pytest.raises(FormatError):
        parse_checkpoint(text)


@pytest.mark.parametrize(
    ("origin", "size", "root", "extensions"),
    [
        ("", 1, EMPTY_ROOT, ()),
        ("two\nlines", 1, EMPTY_ROOT, ()),
        ("o", -1, EMPTY_ROOT, ()),
        ("o", 2**64, EMPTY_ROOT, ()),
        ("o", 1, EMPTY_ROOT[:31], ()),
        ("o", 1, EMPTY_ROOT, ("",)),
        ("o", 1, EMPTY_ROOT, ("a\nb",)),
        ("o", 1, EMPTY_ROOT, ("bell\x07",)),
    ],
)
def test_a_checkpoint_refuses_impossible_fields(
    origin: str, size: int, root: bytes, extensions: tuple[str, ...]
) -> None:
    with pytest.raises(FormatError):
        Checkpoint(origin, size, root, extensions)


def test_the_largest_size_fits() -> None:
    text = f"o\n{2**64 - 1}\n{ROOT_LINE}\n"
    assert parse_checkpoint(text).size == 2**64 - 1


line_text = st.text(st.characters(exclude_categories=("Cs", "Cc")), min_size=1, max_size=30).filter(
    lambda s: "\n" not in s
)


@given(
    origin=line_text,
    size=st.integers(1, 2**64 - 1),
    root=st.binary(min_size=32, max_size=32),
    extensions=st.lists(line_text, max_size=3).map(tuple),
)
def test_checkpoint_format_parse_round_trip(
    origin: str, size: int, root: bytes, extensions: tuple[str, ...]
) -> None:
    checkpoint = Checkpoint(origin, size, root, extensions)
    assert parse_checkpoint(format_checkpoint(checkpoint)) == checkpoint


def test_a_signed_checkpoint_verifies_with_its_origin() -> None:
    checkpoint = Checkpoint(NAME, 12, ROOTS[12], ("ext line",))
    signed = sign_checkpoint(checkpoint, NAME, SEED)
    assert verify_checkpoint(signed, [VKEY]) == checkpoint
    assert verify_checkpoint(signed, [VKEY], origin=NAME) == checkpoint
    with pytest.raises(NoteError, match="origin"):
        verify_checkpoint(signed, [VKEY], origin="other.example/log")
    with pytest.raises(NoteError):
        verify_checkpoint(signed.replace("\n12\n", "\n13\n"), [VKEY])


# --- c2sp.org/tlog-proof@v1 ----------------------------------------------------------------------

LOG = [f"event {i}".encode() for i in range(21)]
LOG_HASHES = [leaf_hash(d) for d in LOG]
LOG_CHECKPOINT = Checkpoint(NAME, len(LOG), root_hash(LOG_HASHES))
SIGNED_CHECKPOINT = sign_checkpoint(LOG_CHECKPOINT, NAME, SEED)


def bundle_for(index: int, extra: bytes | None = None) -> ProofBundle:
    proof = tuple(inclusion_proof(LOG_HASHES, index, len(LOG)))
    return ProofBundle(index, proof, SIGNED_CHECKPOINT, extra)


def test_proof_bundle_text_matches_the_spec_layout() -> None:
    bundle = bundle_for(13, extra=b"pack sha256:abc")
    text = format_proof(bundle)
    lines = text.split("\n")
    assert lines[0] == "c2sp.org/tlog-proof@v1"
    assert lines[1] == "extra " + enc(b"pack sha256:abc")
    assert lines[2] == "index 13"
    assert lines[3 : 3 + len(bundle.proof)] == [enc(h) for h in bundle.proof]
    assert lines[3 + len(bundle.proof)] == ""
    assert text.endswith("\n\n" + SIGNED_CHECKPOINT)
    assert parse_proof(text) == bundle


def test_every_proof_bundle_round_trips_and_verifies() -> None:
    for index, data in enumerate(LOG):
        text = format_proof(bundle_for(index))
        assert parse_proof(text) == bundle_for(index)
        assert verify_proof_bundle(text, data, [VKEY]) == LOG_CHECKPOINT
        assert verify_proof_bundle(text, LOG_HASHES[index], [VKEY], leaf_is_hash=True)
        assert verify_proof_bundle(text, data, [VKEY], origin=NAME) == LOG_CHECKPOINT


def test_a_proof_bundle_for_a_single_leaf_log_has_no_hash_lines() -> None:
    checkpoint = sign_checkpoint(Checkpoint(NAME, 1, LOG_HASHES[0]), NAME, SEED)
    text = format_proof(ProofBundle(0, (), checkpoint))
    assert text.startswith("c2sp.org/tlog-proof@v1\nindex 0\n\n")
    assert verify_proof_bundle(text, LOG[0], [VKEY]).size == 1


def test_a_proof_bundle_fails_for_another_leaf_key_or_origin() -> None:
    text = format_proof(bundle_for(4))
    with pytest.raises(ProofError):
        verify_proof_bundle(text, LOG[5], [VKEY])
    with pytest.raises(ProofError):
        verify_proof_bundle(text, LOG[4], [VKEY], leaf_is_hash=True)
    with pytest.raises(NoteError):
        verify_proof_bundle(text, LOG[4], [SPEC_VKEY])
    with pytest.raises(NoteError, match="origin"):
        verify_proof_bundle(text, LOG[4], [VKEY], origin="other.example/log")
    moved = text.replace("index 4\n", "index 5\n")
    with pytest.raises(ProofError):
        verify_proof_bundle(moved, LOG[4], [VKEY])


def test_a_proof_bundle_beyond_the_checkpoint_fails() -> None:
    small = sign_checkpoint(Checkpoint(NAME, 4, root_hash(LOG_HASHES[:4])), NAME, SEED)
    text = format_proof(ProofBundle(6, tuple(inclusion_proof(LOG_HASHES, 6, 8)), small))
    with pytest.raises(ProofError, match="not in a tree"):
        verify_proof_bundle(text, LOG[6], [VKEY])


def test_the_spec_example_with_elided_signatures_is_refused() -> None:
    example = (
        "c2sp.org/tlog-proof@v1\n"
        "extra YWdlLXYxLjIuMS1kYXJ3aW4tYXJtNjQudGFyLmd6kYXJ3aW4tYXJ\n"
        "index 73894\n"
        "gSKyXoYZUgZ6jduWYrkDOARinOMGJveXjgMkBTcdPlQ=\n"
        "B95lDa8R83lS8n0eG+o0buTxRKQTYFi//1U8anccXmA=\n"
        "\n"
        "example.com/fancylog\n"
        "109482\n"
        "sFodV/vSp5O8n9a8QpW6PRY97tfOSW5bsc2Xl/EQi08=\n"
        "\n"
        "\u2014 example.com/fancylog hI2DJw[...]1roloI=\n"
    )
    with pytest.raises(TlogError):
        parse_proof(example)


VALID_PROOF = format_proof(bundle_for(9))
PROOF_LINES = VALID_PROOF.split("\n")


def replace_line(number: int, line: str) -> str:
    return "\n".join([*PROOF_LINES[:number], line, *PROOF_LINES[number + 1 :]])


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(VALID_PROOF.replace("@v1", "@v2"), id="wrong-header"),
        pytest.param(VALID_PROOF.replace("\n", "\r\n", 1), id="crlf-header"),
        pytest.param(VALID_PROOF.replace("index 9\n", ""), id="no-index"),
        pytest.param(VALID_PROOF.replace("index 9", "index 09"), id="leading-zero-index"),
        pytest.param(VALID_PROOF.replace("index 9", "index  9"), id="two-spaces"),
        pytest.param(VALID_PROOF.replace("index 9", "index -9"), id="negative-index"),
        pytest.param(
            VALID_PROOF.replace("index 9", "index 18446744073709551616"), id="index-2**64"
        ),
        pytest.param(VALID_PROOF.replace("\nindex", "\nextra \nindex"), id="empty-extra"),
        pytest.param(VALID_PROOF.replace("\nindex", "\nextra !!\nindex"), id="bad-extra"),
        pytest.param(
            VALID_PROOF.replace("index 9\n", "index 9\nextra QQ==\n"), id="extra-after-index"
        ),
        pytest.param(replace_line(2, PROOF_LINES[2][:-4]), id="short-hash"),
        pytest.param(replace_line(2, PROOF_LINES[2].rstrip("=")), id="unpadded-hash"),
        pytest.param(replace_line(2, PROOF_LINES[2] + " "), id="trailing-space"),
        pytest.param(VALID_PROOF.split("\n\n")[0] + "\n", id="no-checkpoint"),
        pytest.param(VALID_PROOF.split("\n\n")[0], id="truncated"),
        pytest.param(VALID_PROOF.replace("\n\n", "\n", 1), id="no-blank-line"),
        pytest.param(VALID_PROOF.replace("\n\n", "\n\n\n", 1), id="two-blank-lines"),
        pytest.param(VALID_PROOF[:-1], id="checkpoint-without-final-newline"),
        pytest.param(VALID_PROOF.replace(f"\n{len(LOG)}\n", "\nmany\n"), id="bad-checkpoint"),
    ],
)
def test_malformed_proof_bundles_are_refused(text: str) -> None:
    with pytest.raises(TlogError):
        parse_proof(text)
    with pytest.raises(TlogError):
        verify_proof_bundle(text, LOG[9], [VKEY])


def test_more_than_64_proof_hashes_are_refused() -> None:
    padded = VALID_PROOF.replace("index 9\n", "index 9\n" + f"{enc(EMPTY_ROOT)}\n" * 65)
    with pytest.raises(FormatError, match="at most 64"):
        parse_proof(padded)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"index": -1},
        {"index": 2**64},
        {"proof": (b"short",)},
        {"proof": (EMPTY_ROOT,) * 65},
        {"extra": b""},
        {"checkpoint": "not a note"},
        {"checkpoint": GOOD},
    ],
)
def test_a_proof_bundle_refuses_impossible_fields(kwargs: dict[str, Any]) -> None:
    fields: dict[str, Any] = {
        "index": 1,
        "proof": (EMPTY_ROOT,),
        "checkpoint": SIGNED_CHECKPOINT,
        "extra": None,
    }
    with pytest.raises(TlogError):
        ProofBundle(**(fields | kwargs))


@given(
    position=st.integers(0, len(VALID_PROOF) - 1),
    replacement=st.characters(max_codepoint=0x2100),
)
def test_any_single_character_change_to_a_proof_bundle_fails(
    position: int, replacement: str
) -> None:
    assume(VALID_PROOF[position] != replacement)
    mutated = VALID_PROOF[:position] + replacement + VALID_PROOF[position + 1 :]
    with pytest.raises(TlogError):
        verify_proof_bundle(mutated, LOG[9], [VKEY])


@given(position=st.integers(0, len(VALID_PROOF) - 1))
def test_deleting_any_character_of_a_proof_bundle_fails(position: int) -> None:
    mutated = VALID_PROOF[:position] + VALID_PROOF[position + 1 :]
    with pytest.raises(TlogError):
        verify_proof_bundle(mutated, LOG[9], [VKEY])


# --- trees known by a frontier and a tail ---------------------------------------------------------


def test_a_tail_tree_gives_every_root_and_proof_of_the_full_tree() -> None:
    """From every prefix size, the frontier plus the tail reproduce the leaf-list answers."""
    hashes = leaves(40)
    for start in range(41):
        tree = TailTree(CompactRange().extend(hashes[:start]), tuple(hashes[start:]))
        assert tree.size == 40
        for size in range(start, 41):
            assert tree.root(size) == (root_hash(hashes[:size]) if size else EMPTY_ROOT)
            for index in range(start, size):
                assert tree.inclusion_proof(index, size) == inclusion_proof(hashes, index, size)
            for old in range(max(start, 1), size + 1):
                assert tree.consistency_proof(old, size) == consistency_proof(hashes, old, size)


def test_a_tail_tree_refuses_what_needs_older_leaves() -> None:
    hashes = leaves(11)
    tree = TailTree(CompactRange().extend(hashes[:6]), tuple(hashes[6:]))
    with pytest.raises(ValueError, match="needs leaves before the tail"):
        tree.inclusion_proof(2)
    with pytest.raises(ValueError, match="outside"):
        tree.root(5)
    with pytest.raises(ValueError, match="beyond"):
        tree.inclusion_proof(7, 12)
    with pytest.raises(ValueError, match="beyond"):
        tree.consistency_proof(7, 12)
    with pytest.raises(ValueError, match="no subtree"):
        tree.subtree(3, 3)
    with pytest.raises(ValueError, match="leaf hash"):
        TailTree(CompactRange(), (b"short",))


def test_consistency_proof_size_is_the_length_of_the_proof() -> None:
    hashes = leaves(64)
    for new in range(1, 65):
        for old in range(1, new + 1):
            assert consistency_proof_size(old, new) == len(consistency_proof(hashes, old, new))
    with pytest.raises(ValueError, match="no consistency proof"):
        consistency_proof_size(0, 3)


def test_a_raw_public_key_verifies_under_the_name_its_signature_line_gives() -> None:
    signer = Ed25519Signer("eucora/audit", hashlib.sha256(b"raw").digest())
    stranger = Ed25519Signer("eucora/audit", hashlib.sha256(b"stranger").digest())
    note = sign_note("hello\n", signer.name, signer.private_key)
    keys = note_verifier_keys(note, signer.public_key)
    assert keys == [signer.verifier.verifier_key]
    assert verify_note(note, keys).text == "hello\n"
    assert note_verifier_keys(note, stranger.public_key) == []
    renamed = note.replace("— eucora/audit ", "— eucora/other ")
    assert note_verifier_keys(renamed, signer.public_key) == []
    with pytest.raises(FormatError, match="32 bytes"):
        note_verifier_keys(note, b"short")
    with pytest.raises(NoteError):
        note_verifier_keys("no signatures\n", signer.public_key)
