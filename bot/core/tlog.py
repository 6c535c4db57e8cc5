"""A transparency log's pure parts: RFC 6962 Merkle hashing, proofs, signed notes and checkpoints.

* Hashing, inclusion and consistency proofs: RFC 9162 §2.1 (the hashing is RFC 6962's).
* Signed notes with Ed25519 keys: c2sp.org/signed-note (key strings as golang.org/x/mod/sumdb/note).
* Checkpoints (the signed tree head): c2sp.org/tlog-checkpoint.
* Offline proof bundles: c2sp.org/tlog-proof@v1.

Everything is a function of its arguments: keys, texts and leaves come in, nothing reads a file, the
clock or randomness (the caller generates keys). Base64 is the standard alphabet with padding, and
parsers accept only its canonical form, so every change to a hash line changes the hash.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()
SIGNATURE_TYPE_ED25519 = 0x01
MAX_NOTE_SIGNATURES = 100
MAX_UINT64 = 2**64 - 1
PROOF_HEADER = "c2sp.org/tlog-proof@v1"

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"
_ED25519_KEY_SIZE = 32
_ED25519_SIGNATURE_SIZE = 64
_KEY_ID_SIZE = 4
_SIGNATURE_PREFIX = "\u2014 "  # em dash, space
_SIGNER_KEY_PREFIX = "PRIVATE+KEY+"
_MAX_PROOF_HASHES = 64  # a tree of at most 2**64 leaves is at most 64 levels deep
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")
_DECIMAL = re.compile(r"0|[1-9][0-9]*")
_KEY_ID_HEX = re.compile(r"[0-9a-f]{8}")


class TlogError(ValueError):
    """Anything in a log artefact that does not hold: the base of the errors below."""


class ProofError(TlogError):
    """A Merkle inclusion or consistency proof does not verify (RFC 9162 §2.1.3.2, §2.1.4.2)."""


class NoteError(TlogError):
    """A signed note is malformed, carries a bad signature, or has none from a known key."""


class FormatError(TlogError):
    """A key, checkpoint or proof bundle is not in the form its specification requires."""


# --- RFC 9162 §2.1.1: hashing ---------------------------------------------------------------------


def leaf_hash(data: bytes) -> bytes:
    """The hash of a leaf: SHA-256(0x00 || data) (RFC 9162 §2.1.1)."""
    return hashlib.sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """The hash of an interior node: SHA-256(0x01 || left || right) (RFC 9162 §2.1.1)."""
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


def root_hash(leaf_hashes: Sequence[bytes]) -> bytes:
    """The Merkle tree hash MTH of the leaf hashes; SHA-256("") for none (RFC 9162 §2.1.1).

    Pairs neighbours level by level and carries an odd last node up unchanged, which is the
    same tree as the RFC's split at the largest power of two below n: O(n) time, no recursion.
    """
    for h in leaf_hashes:
        _require_hash(h, "leaf hash", ValueError)
    return _mth(list(leaf_hashes))


def _mth(level: list[bytes]) -> bytes:
    if not level:
        return EMPTY_ROOT
    sha256 = hashlib.sha256
    while len(level) > 1:
        carried = level[-1] if len(level) % 2 else None
        level = [
            sha256(_NODE_PREFIX + left + right).digest()
            for left, right in zip(level[0::2], level[1::2], strict=False)
        ]
        if carried is not None:
            level.append(carried)
    return level[0]


def _split(n: int) -> int:
    """The largest power of two strictly below ``n`` (n > 1), where RFC 9162 §2.1.1 splits."""
    return 1 << ((n - 1).bit_length() - 1)


@dataclass(frozen=True, slots=True)
class CompactRange:
    """The frontier of a log of ``size`` leaves: the roots of its perfect subtrees, largest first.

    There is one hash per set bit of ``size`` (so at most 64), enough to append a leaf and give
    the root without the leaves: what a log that grows one event at a time keeps (RFC 9162 §2.1.1).
    """

    size: int = 0
    hashes: tuple[bytes, ...] = ()

    def __post_init__(self) -> None:
        if not 0 <= self.size <= MAX_UINT64:
            raise ValueError(f"size {self.size} is outside 0..2**64-1")
        if len(self.hashes) != self.size.bit_count():
            raise ValueError(
                f"a range of {self.size} leaves has {self.size.bit_count()} subtree hashes,"
                f" not {len(self.hashes)}"
            )
        for h in self.hashes:
            _require_hash(h, "subtree hash", ValueError)

    def append(self, leaf_hash: bytes) -> CompactRange:
        """The range with one more leaf hash: merges the equal-sized subtrees on the right."""
        return self.extend((leaf_hash,))

    def extend(self, leaf_hashes: Iterable[bytes]) -> CompactRange:
        """The range with the leaf hashes appended in order, amortised O(1) hashes each."""
        size = self.size
        hashes = list(self.hashes)
        for leaf in leaf_hashes:
            _require_hash(leaf, "leaf hash", ValueError)
            merged, carry = leaf, size
            while carry & 1:
                merged = node_hash(hashes.pop(), merged)
                carry >>= 1
            hashes.append(merged)
            size += 1
        return CompactRange(size, tuple(hashes))

    def root(self) -> bytes:
        """The tree hash of the leaves so far, folding the subtrees from the right."""
        if not self.hashes:
            return EMPTY_ROOT
        root = self.hashes[-1]
        for h in reversed(self.hashes[:-1]):
            root = node_hash(h, root)
        return root


# --- RFC 9162 §2.1.3 and §2.1.4: proofs -----------------------------------------------------------


def inclusion_proof(leaf_hashes: Sequence[bytes], index: int, size: int) -> list[bytes]:
    """The audit path PATH(index, D[0:size]) from the leaf's sibling up (RFC 9162 §2.1.3.1)."""
    _check_tree_size(leaf_hashes, size)
    return _audit_path(lambda low, high: _mth(list(leaf_hashes[low:high])), index, size)


def consistency_proof(leaf_hashes: Sequence[bytes], old_size: int, new_size: int) -> list[bytes]:
    """PROOF(old_size, D[0:new_size]) (RFC 9162 §2.1.4.1); empty when the sizes are equal."""
    _check_tree_size(leaf_hashes, new_size)
    return _consistency_path(
        lambda low, high: _mth(list(leaf_hashes[low:high])), old_size, new_size
    )


def consistency_proof_size(old_size: int, new_size: int) -> int:
    """How many hashes PROOF(old_size, D[0:new_size]) holds: a function of the sizes alone."""
    if not 0 < old_size <= new_size:
        raise ValueError(f"no consistency proof from size {old_size} to size {new_size}")
    return len(_consistency_path(lambda _low, _high: b"", old_size, new_size))


def _audit_path(subtree: Callable[[int, int], bytes], index: int, size: int) -> list[bytes]:
    """PATH(index, D[0:size]) with ``subtree(low, high)`` giving MTH(D[low:high])."""
    if not 0 <= index < size:
        raise ValueError(f"index {index} is not in a tree of {size} leaves")
    path: list[bytes] = []
    low, high = 0, size
    while high - low > 1:
        middle = low + _split(high - low)
        if index < middle:
            path.append(subtree(middle, high))
            high = middle
        else:
            path.append(subtree(low, middle))
            low = middle
    path.reverse()
    return path


def _consistency_path(
    subtree: Callable[[int, int], bytes], old_size: int, new_size: int
) -> list[bytes]:
    """PROOF(old_size, D[0:new_size]) with ``subtree(low, high)`` giving MTH(D[low:high])."""
    if not 0 < old_size <= new_size:
        raise ValueError(f"no consistency proof from size {old_size} to size {new_size}")
    proof: list[bytes] = []
    low, high, boundary, whole = 0, new_size, old_size, True
    while boundary != high - low:
        k = _split(high - low)
        if boundary <= k:
            proof.append(subtree(low + k, high))
            high = low + k
        else:
            proof.append(subtree(low, low + k))
            low, boundary, whole = low + k, boundary - k, False
    if not whole:
        proof.append(subtree(low, high))
    proof.reverse()
    return proof


@dataclass(frozen=True, slots=True)
class TailTree:
    """A tree known by the compact range of its first leaves and the hashes of the leaves after.

    What a log keeps to sign its next checkpoint and prove its newest leaves without reading its
    old ones: the subtree hashes of the ``prefix`` (the last checkpoint's frontier) and the leaf
    hashes appended since. Every root from the prefix's size on, every consistency proof from
    such a size, and the inclusion proof of every leaf of the tail follow (RFC 9162 §2.1.3.1,
    §2.1.4.1); asking for what needs older leaves raises ``ValueError``.
    """

    prefix: CompactRange
    tail: tuple[bytes, ...] = ()
    _blocks: dict[tuple[int, int], bytes] = field(init=False, repr=False, compare=False)
    _bounds: frozenset[int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for h in self.tail:
            _require_hash(h, "leaf hash", ValueError)
        blocks: dict[tuple[int, int], bytes] = {}
        low, remaining = 0, self.prefix.size
        for h in self.prefix.hashes:
            width = 1 << (remaining.bit_length() - 1)
            blocks[(low, low + width)] = h
            low, remaining = low + width, remaining - width
        object.__setattr__(self, "_blocks", blocks)
        object.__setattr__(self, "_bounds", frozenset({0, *(high for _, high in blocks)}))

    @property
    def size(self) -> int:
        """The number of leaves: the prefix's and the tail's."""
        return self.prefix.size + len(self.tail)

    def subtree(self, low: int, high: int) -> bytes:
        """MTH(D[low:high]) (RFC 9162 §2.1.1), from the prefix's subtrees and the tail."""
        if not 0 <= low < high <= self.size:
            raise ValueError(f"no subtree [{low}, {high}) in a tree of {self.size} leaves")
        start = self.prefix.size
        if low >= start:
            return _mth(list(self.tail[low - start : high - start]))
        known = self._blocks.get((low, high))
        if known is not None:
            return known
        if high <= start and not {low, high} <= self._bounds:
            raise ValueError(f"the subtree [{low}, {high}) needs leaves before the tail")
        k = _split(high - low)
        return node_hash(self.subtree(low, low + k), self.subtree(low + k, high))

    def root(self, size: int | None = None) -> bytes:
        """The tree hash of the first ``size`` leaves (all by default), ``size`` >= the prefix's."""
        size = self.size if size is None else size
        if not self.prefix.size <= size <= self.size:
            raise ValueError(f"size {size} is outside {self.prefix.size}..{self.size}")
        return self.subtree(0, size) if size else EMPTY_ROOT

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """PATH(index, D[0:size]) for a leaf of the tail (RFC 9162 §2.1.3.1)."""
        size = self.size if size is None else size
        if size > self.size:
            raise ValueError(f"size {size} is beyond the {self.size} leaves known")
        return _audit_path(self.subtree, index, size)

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        """PROOF(old_size, D[0:new_size]) for an old size at least the prefix's (§2.1.4.1)."""
        new_size = self.size if new_size is None else new_size
        if new_size > self.size:
            raise ValueError(f"size {new_size} is beyond the {self.size} leaves known")
        return _consistency_path(self.subtree, old_size, new_size)


class MerkleLevels:
    """Every perfect subtree hash of a list of leaf hashes: any root or proof in O(log n).

    ``inclusion_proof`` and ``consistency_proof`` above hash the leaves again (O(n) per proof); a
    log of a million events exporting proofs for a few hundred of them keeps the levels instead
    (about two hashes per leaf) and walks the same paths (RFC 9162 §2.1.3.1 and §2.1.4.1).
    """

    __slots__ = ("_levels",)

    def __init__(self, leaf_hashes: Sequence[bytes]) -> None:
        levels = [list(leaf_hashes)]
        sha256 = hashlib.sha256
        while len(levels[-1]) > 1:
            below = levels[-1]
            levels.append(
                [
                    sha256(_NODE_PREFIX + below[i] + below[i + 1]).digest()
                    for i in range(0, len(below) - 1, 2)
                ]
            )
        self._levels = levels

    @property
    def size(self) -> int:
        """The number of leaves."""
        return len(self._levels[0])

    def subtree(self, low: int, high: int) -> bytes:
        """MTH(D[low:high]) for ``low`` aligned to a power of two at least ``high - low``.

        Those are the only subtrees the proofs of RFC 9162 §2.1.3.1 and §2.1.4.1 ask for.
        """
        if high == low:
            return EMPTY_ROOT
        blocks: list[bytes] = []
        position, remaining = low, high - low
        for level in reversed(range(remaining.bit_length())):
            if remaining >> level & 1:
                blocks.append(self._levels[level][position >> level])
                position += 1 << level
        root = blocks[-1]
        for block in reversed(blocks[:-1]):
            root = node_hash(block, root)
        return root

    def root(self, size: int | None = None) -> bytes:
        """The tree hash of the first ``size`` leaves (all by default)."""
        size = self.size if size is None else size
        self._check_size(size)
        return self.subtree(0, size)

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """PATH(index, D[0:size]) (RFC 9162 §2.1.3.1), as ``inclusion_proof`` gives it."""
        self._check_size(size)
        return _audit_path(self.subtree, index, size)

    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        """PROOF(old_size, D[0:new_size]) (RFC 9162 §2.1.4.1), as ``consistency_proof`` gives it."""
        self._check_size(new_size)
        return _consistency_path(self.subtree, old_size, new_size)

    def _check_size(self, size: int) -> None:
        if not 0 <= size <= self.size:
            raise ValueError(f"size {size} is outside the {self.size} leaves given")


def verify_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that the leaf hash is at ``index`` in the tree of ``size`` with ``root``.

    RFC 9162 §2.1.3.2, with every hash required to be 32 bytes. Raises ``ProofError``.
    """
    if not 0 <= index < size:
        raise ProofError(f"index {index} is not in a tree of {size} leaves")
    _require_hash(leaf_hash, "leaf hash", ProofError)
    _require_hash(root, "root", ProofError)
    for h in proof:
        _require_hash(h, "proof hash", ProofError)
    fn, sn, r = index, size - 1, leaf_hash
    for p in proof:
        if sn == 0:
            raise ProofError("inclusion proof has more hashes than needed")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while fn and not fn & 1:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError(f"inclusion proof of {len(proof)} hashes is too short")
    if r != root:
        raise ProofError("inclusion proof leads to a different root")


def verify_consistency(
    old_size: int, new_size: int, proof: Sequence[bytes], old_root: bytes, new_root: bytes
) -> None:
    """Check that the tree of ``new_size`` with ``new_root`` extends the one of ``old_size``.

    RFC 9162 §2.1.4.2, checked in the order of transparency-dev/merkle (the test vectors): a
    smaller new size and an old size of 0 are refused; equal sizes need an empty proof and equal
    roots (compared as bytes, as the vectors ask); otherwise every hash must be 32 bytes.
    """
    if new_size < old_size:
        raise ProofError(f"new size {new_size} is smaller than old size {old_size}")
    if old_size < 1:
        raise ProofError("a consistency proof from the empty tree proves nothing")
    if old_size == new_size:
        if proof:
            raise ProofError("equal sizes take an empty consistency proof")
        if old_root != new_root:
            raise ProofError("equal sizes but different roots")
        return
    if not proof:
        raise ProofError("empty consistency proof between different sizes")
    _require_hash(old_root, "old root", ProofError)
    _require_hash(new_root, "new root", ProofError)
    for h in proof:
        _require_hash(h, "proof hash", ProofError)
    fr, sr = _consistency_roots(old_size, new_size, proof, old_root)
    if fr != old_root:
        raise ProofError("consistency proof leads to a different old root")
    if sr != new_root:
        raise ProofError("consistency proof leads to a different new root")


def _consistency_roots(
    old_size: int, new_size: int, proof: Sequence[bytes], old_root: bytes
) -> tuple[bytes, bytes]:
    """The old and new roots a consistency proof leads to (RFC 9162 §2.1.4.2 steps 2 to 7)."""
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("consistency proof has more hashes than needed")
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while fn and not fn & 1:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("consistency proof is too short")
    return fr, sr


def _check_tree_size(leaf_hashes: Sequence[bytes], size: int) -> None:
    if not 0 <= size <= len(leaf_hashes):
        raise ValueError(f"size {size} is outside the {len(leaf_hashes)} leaves given")
    for h in leaf_hashes[:size]:
        _require_hash(h, "leaf hash", ValueError)


def _require_hash(value: bytes, what: str, error: type[ValueError]) -> None:
    if len(value) != HASH_SIZE:
        raise error(f"{what} is {len(value)} bytes, not {HASH_SIZE}")


# --- c2sp.org/signed-note: Ed25519 keys and notes -------------------------------------------------


def key_id(name: str, public_key: bytes, signature_type: int = SIGNATURE_TYPE_ED25519) -> bytes:
    """SHA-256(name || 0x0A || type || public key)[:4] (c2sp.org/signed-note, "Signatures")."""
    material = name.encode() + b"\n" + bytes([signature_type]) + public_key
    return hashlib.sha256(material).digest()[:_KEY_ID_SIZE]


def is_valid_key_name(name: str) -> bool:
    """Non-empty, no Unicode space, no ``+``, no control character (c2sp.org/signed-note)."""
    return (
        bool(name)
        and "+" not in name
        and not any(c.isspace() for c in name)
        and _CONTROL.search(name) is None
        and _encodable(name)
    )


@dataclass(frozen=True, slots=True)
class Ed25519Verifier:
    """A named Ed25519 public key that checks note signatures (c2sp.org/signed-note)."""

    name: str
    public_key: bytes

    def __post_init__(self) -> None:
        _require_key(self.name, self.public_key, "public key")

    @property
    def key_id(self) -> bytes:
        """The 4-byte key ID carried in front of each signature."""
        return key_id(self.name, self.public_key)

    @property
    def verifier_key(self) -> str:
        """The ``name+hex(key id)+base64(0x01 || key)`` text form."""
        return encode_verifier_key(self.name, self.public_key)

    def verify(self, message: bytes, signature: bytes) -> bool:
        """Whether ``signature`` (without the key ID) signs ``message`` (RFC 8032)."""
        if len(signature) != _ED25519_SIGNATURE_SIZE:
            return False
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, message)
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True, slots=True)
class Ed25519Signer:
    """A named Ed25519 private key (the 32-byte RFC 8032 seed) that signs notes."""

    name: str
    private_key: bytes = field(repr=False)

    def __post_init__(self) -> None:
        _require_key(self.name, self.private_key, "private key")

    @property
    def public_key(self) -> bytes:
        """The 32-byte public key of the seed."""
        return (
            Ed25519PrivateKey.from_private_bytes(self.private_key).public_key().public_bytes_raw()
        )

    @property
    def key_id(self) -> bytes:
        """The 4-byte key ID of the public key."""
        return key_id(self.name, self.public_key)

    @property
    def verifier(self) -> Ed25519Verifier:
        """The matching verifier."""
        return Ed25519Verifier(self.name, self.public_key)

    def sign(self, message: bytes) -> bytes:
        """The 64-byte Ed25519 signature of ``message`` (deterministic, RFC 8032)."""
        return Ed25519PrivateKey.from_private_bytes(self.private_key).sign(message)


def encode_verifier_key(name: str, public_key: bytes) -> str:
    """``name+hex(key id)+base64(0x01 || public key)`` (c2sp.org/signed-note, "Verifier keys")."""
    _require_key(name, public_key, "public key")
    encoded = _b64encode(bytes([SIGNATURE_TYPE_ED25519]) + public_key)
    return f"{name}+{key_id(name, public_key).hex()}+{encoded}"


def encode_signer_key(name: str, private_key: bytes) -> str:
    """``PRIVATE+KEY+name+hex(key id)+base64(0x01 || seed)``, as golang.org/x/mod/sumdb/note.

    The key ID is the one of the matching public key, so both strings carry the same ID.
    """
    signer = Ed25519Signer(name, private_key)
    encoded = _b64encode(bytes([SIGNATURE_TYPE_ED25519]) + private_key)
    return f"{_SIGNER_KEY_PREFIX}{name}+{signer.key_id.hex()}+{encoded}"


def parse_verifier_key(verifier_key: str) -> Ed25519Verifier:
    """The verifier of an encoded verifier key; its key ID must match (c2sp.org/signed-note)."""
    name, public_key = _parse_key(verifier_key, "verifier key")
    verifier = Ed25519Verifier(name, public_key)
    _check_key_id(verifier_key, verifier.key_id)
    return verifier


def parse_signer_key(signer_key: str) -> Ed25519Signer:
    """The signer of an encoded ``PRIVATE+KEY+…`` key; the ID must match its public key."""
    if not signer_key.startswith(_SIGNER_KEY_PREFIX):
        raise FormatError(f"a signer key starts with {_SIGNER_KEY_PREFIX!r}")
    rest = signer_key.removeprefix(_SIGNER_KEY_PREFIX)
    name, private_key = _parse_key(rest, "signer key")
    signer = Ed25519Signer(name, private_key)
    _check_key_id(rest, signer.key_id)
    return signer


def _parse_key(text: str, what: str) -> tuple[str, bytes]:
    parts = text.split("+", 2)
    if len(parts) != 3:
        raise FormatError(f"a {what} is name+keyid+key")
    name, hex_id, encoded = parts
    if not is_valid_key_name(name):
        raise FormatError(f"{what} has an invalid key name {name!r}")
    if _KEY_ID_HEX.fullmatch(hex_id) is None:
        raise FormatError(f"{what} key ID must be 8 lowercase hex digits")
    material = _b64decode(encoded, what)
    if not material or material[0] != SIGNATURE_TYPE_ED25519:
        raise FormatError(f"{what} is not an Ed25519 (type 0x01) key")
    if len(material) != 1 + _ED25519_KEY_SIZE:
        raise FormatError(f"{what} holds {len(material) - 1} key bytes, not 32")
    return name, material[1:]


def _check_key_id(text: str, expected: bytes) -> None:
    if text.split("+", 2)[1] != expected.hex():
        raise FormatError("key ID does not match the key name and key")


def _require_key(name: str, key: bytes, what: str) -> None:
    if not is_valid_key_name(name):
        raise FormatError(f"invalid key name {name!r}")
    if len(key) != _ED25519_KEY_SIZE:
        raise FormatError(f"an Ed25519 {what} is 32 bytes, not {len(key)}")


@dataclass(frozen=True, slots=True)
class NoteSignature:
    """One signature line: the key name, the 4-byte key ID and the signature bytes after it."""

    name: str
    key_id: bytes
    signature: bytes

    @property
    def line(self) -> str:
        """The line as it appears in a note, without the newline."""
        return f"{_SIGNATURE_PREFIX}{self.name} {_b64encode(self.key_id + self.signature)}"


@dataclass(frozen=True, slots=True)
class Note:
    """A verified note: its text, the signatures that verified, and those from unknown keys."""

    text: str
    signatures: tuple[NoteSignature, ...]
    unverified: tuple[NoteSignature, ...] = ()


def sign_note(text: str, name: str, private_key: bytes) -> str:
    """The signed note: text, a blank line, one Ed25519 signature line (c2sp.org/signed-note)."""
    _check_note_text(text)
    signer = Ed25519Signer(name, private_key)
    line = NoteSignature(name, signer.key_id, signer.sign(text.encode())).line
    return f"{text}\n{line}\n"


def verify_note(note: str, verifier_keys: Sequence[str]) -> Note:
    """Open a signed note with the given verifier keys (c2sp.org/signed-note).

    Signatures from unknown keys (name and ID not both known) are set aside; every signature from
    a known key must verify; at least one must. At most ``MAX_NOTE_SIGNATURES`` lines.
    """
    verifiers = _verifier_map(verifier_keys)
    text, lines = _split_note(note)
    message = text.encode()
    verified: dict[tuple[str, bytes], NoteSignature] = {}
    unverified: dict[tuple[str, bytes, bytes], NoteSignature] = {}
    for signature in lines:
        verifier = verifiers.get((signature.name, signature.key_id))
        if verifier is None:
            unverified.setdefault(
                (signature.name, signature.key_id, signature.signature), signature
            )
            continue
        if not verifier.verify(message, signature.signature):
            raise NoteError(
                f"the signature by {signature.name}+{signature.key_id.hex()} does not verify"
            )
        verified.setdefault((signature.name, signature.key_id), signature)
    if not verified:
        others = ", ".join(sorted({f"{s.name}+{s.key_id.hex()}" for s in unverified.values()}))
        raise NoteError(
            "no signature from a known key"
            + (
                f": signed by {others}, a key not given (after a key change, give the earlier"
                " key too)"
                if others
                else ""
            )
        )
    return Note(text, tuple(verified.values()), tuple(unverified.values()))


def note_verifier_keys(note: str, public_key: bytes) -> list[str]:
    """The verifier keys a raw Ed25519 public key has under the key names that signed ``note``.

    A PEM public key carries no signed-note key name; a signature line names its key, and the
    key ID it carries binds that name to a key (c2sp.org/signed-note). So the lines whose ID
    this key has under their name give its verifier keys; none when it signed nothing here.
    Raises ``NoteError`` for a malformed note.
    """
    if len(public_key) != _ED25519_KEY_SIZE:
        raise FormatError(f"an Ed25519 public key is 32 bytes, not {len(public_key)}")
    _, lines = _split_note(note)
    keys: dict[str, None] = {}
    for line in lines:
        if key_id(line.name, public_key) == line.key_id:
            keys.setdefault(encode_verifier_key(line.name, public_key))
    return list(keys)


def _verifier_map(verifier_keys: Sequence[str]) -> dict[tuple[str, bytes], Ed25519Verifier]:
    verifiers: dict[tuple[str, bytes], Ed25519Verifier] = {}
    for verifier_key in verifier_keys:
        verifier = parse_verifier_key(verifier_key)
        known = verifiers.setdefault((verifier.name, verifier.key_id), verifier)
        if known != verifier:
            raise FormatError(f"two verifier keys share {verifier.name}+{verifier.key_id.hex()}")
    return verifiers


def _split_note(note: str) -> tuple[str, list[NoteSignature]]:
    """Text and signature lines of a note, refusing every malformed shape (c2sp.org/signed-note)."""
    if not _encodable(note) or _CONTROL.search(note) is not None:
        raise NoteError("a note is UTF-8 without control characters other than newline")
    split = note.rfind("\n\n")
    if split < 0:
        raise NoteError("a note has a blank line before its signatures")
    text, block = note[: split + 1], note[split + 2 :]
    if not block.endswith("\n"):
        raise NoteError("a note ends with signature lines, each ending in a newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_NOTE_SIGNATURES:
        raise NoteError(f"a note has at most {MAX_NOTE_SIGNATURES} signatures")
    signatures = []
    for line in lines:
        if not line.startswith(_SIGNATURE_PREFIX):
            raise NoteError("a signature line starts with an em dash and a space")
        name, _, encoded = line.removeprefix(_SIGNATURE_PREFIX).partition(" ")
        if not is_valid_key_name(name):
            raise NoteError(f"invalid key name {name!r} in a signature line")
        try:
            raw = _b64decode(encoded, "signature")
        except FormatError as exc:
            raise NoteError(str(exc)) from exc
        if len(raw) <= _KEY_ID_SIZE:
            raise NoteError("a signature is a 4-byte key ID and at least one byte")
        signatures.append(NoteSignature(name, raw[:_KEY_ID_SIZE], raw[_KEY_ID_SIZE:]))
    return text, signatures


def _check_note_text(text: str) -> None:
    if not text.endswith("\n"):
        raise NoteError("note text ends with a newline")
    if not _encodable(text) or _CONTROL.search(text) is not None:
        raise NoteError("note text is UTF-8 without control characters other than newline")


# --- c2sp.org/tlog-checkpoint ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A log's tree head: origin, size and RFC 6962 root, and opaque extension lines.

    c2sp.org/tlog-checkpoint: the origin and every extension line are non-empty single lines; the
    size fits in 64 bits; the root is 32 bytes, and SHA-256("") when the tree is empty.
    """

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_line(self.origin, "checkpoint origin")
        if not 0 <= self.size <= MAX_UINT64:
            raise FormatError(f"checkpoint size {self.size} is outside 0..2**64-1")
        _require_hash(self.root, "checkpoint root", FormatError)
        if self.size == 0 and self.root != EMPTY_ROOT:
            raise FormatError("the root of the empty tree is SHA-256 of nothing")
        for extension in self.extensions:
            _check_line(extension, "checkpoint extension line")


def format_checkpoint(checkpoint: Checkpoint) -> str:
    """The note text: origin, decimal size, base64 root, extension lines, each with a newline."""
    lines = [checkpoint.origin, str(checkpoint.size), _b64encode(checkpoint.root)]
    return "".join(f"{line}\n" for line in (*lines, *checkpoint.extensions))


def parse_checkpoint(text: str) -> Checkpoint:
    """The checkpoint in a note text, refusing anything c2sp.org/tlog-checkpoint does not allow."""
    if not text.endswith("\n"):
        raise FormatError("checkpoint text ends with a newline")
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise FormatError("a checkpoint has an origin, a size and a root line")
    origin, size, root, *extensions = lines
    return Checkpoint(
        origin=origin,
        size=_parse_decimal(size, "checkpoint size"),
        root=_b64decode(root, "checkpoint root"),
        extensions=tuple(extensions),
    )


def sign_checkpoint(checkpoint: Checkpoint, name: str, private_key: bytes) -> str:
    """The checkpoint as a signed note; the key name should be the origin (tlog-checkpoint)."""
    return sign_note(format_checkpoint(checkpoint), name, private_key)


def verify_checkpoint(
    signed_checkpoint: str, verifier_keys: Sequence[str], *, origin: str | None = None
) -> Checkpoint:
    """The checkpoint in a note signed by a known key, with the expected origin if one is given."""
    checkpoint = parse_checkpoint(verify_note(signed_checkpoint, verifier_keys).text)
    if origin is not None and checkpoint.origin != origin:
        raise NoteError(f"checkpoint origin {checkpoint.origin!r} is not {origin!r}")
    return checkpoint


def _check_line(value: str, what: str) -> None:
    if not value or "\n" in value or _CONTROL.search(value) is not None or not _encodable(value):
        raise FormatError(f"{what} must be one non-empty line of text")


# --- c2sp.org/tlog-proof@v1 -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProofBundle:
    """An offline proof that the leaf at ``index`` is in the log (c2sp.org/tlog-proof@v1).

    ``checkpoint`` is the signed checkpoint note, verbatim; ``extra`` is opaque, unauthenticated
    data for the application (omitted when ``None``). The leaf itself is not in the bundle.
    """

    index: int
    proof: tuple[bytes, ...]
    checkpoint: str
    extra: bytes | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.index <= MAX_UINT64:
            raise FormatError(f"index {self.index} is outside 0..2**64-1")
        if len(self.proof) > _MAX_PROOF_HASHES:
            raise FormatError(f"an inclusion proof has at most {_MAX_PROOF_HASHES} hashes")
        for h in self.proof:
            _require_hash(h, "proof hash", FormatError)
        if self.extra is not None and not self.extra:
            raise FormatError("extra data is omitted, not empty")
        text, _ = _split_note(self.checkpoint)
        parse_checkpoint(text)


def format_proof(bundle: ProofBundle) -> str:
    """The ``.tlog-proof`` text: header, extra, index, proof hashes, blank line, checkpoint."""
    lines = [PROOF_HEADER]
    if bundle.extra is not None:
        lines.append(f"extra {_b64encode(bundle.extra)}")
    lines.append(f"index {bundle.index}")
    lines.extend(_b64encode(h) for h in bundle.proof)
    return "".join(f"{line}\n" for line in lines) + "\n" + bundle.checkpoint


def parse_proof(text: str) -> ProofBundle:
    """Parse a ``.tlog-proof`` text strictly (c2sp.org/tlog-proof@v1); checks no signature."""
    line, rest = _next_line(text)
    if line != PROOF_HEADER:
        raise FormatError(f"a tlog proof starts with {PROOF_HEADER!r}")
    line, rest = _next_line(rest)
    extra = None
    if line.startswith("extra "):
        extra = _b64decode(line.removeprefix("extra "), "extra data")
        line, rest = _next_line(rest)
    if not line.startswith("index "):
        raise FormatError("a tlog proof has an 'index N' line after the header")
    index = _parse_decimal(line.removeprefix("index "), "index")
    proof: list[bytes] = []
    line, rest = _next_line(rest)
    while line:
        if len(proof) == _MAX_PROOF_HASHES:
            raise FormatError(f"an inclusion proof has at most {_MAX_PROOF_HASHES} hashes")
        proof.append(_b64decode(line, "proof hash"))
        line, rest = _next_line(rest)
    return ProofBundle(index=index, proof=tuple(proof), checkpoint=rest, extra=extra)


def verify_proof_bundle(
    bundle_text: str,
    leaf: bytes,
    verifier_keys: Sequence[str],
    *,
    leaf_is_hash: bool = False,
    origin: str | None = None,
) -> Checkpoint:
    """Check a ``.tlog-proof`` for a leaf offline; returns the checkpoint it is included in.

    ``leaf`` is the leaf's data, or its hash with ``leaf_is_hash``. Steps of c2sp.org/tlog-proof:
    the checkpoint is signed by a known key (and has ``origin`` if given), then the inclusion
    proof binds the leaf hash to its root. Witness cosignatures are not checked here.
    """
    bundle = parse_proof(bundle_text)
    hashed = leaf if leaf_is_hash else leaf_hash(leaf)
    checkpoint = verify_checkpoint(bundle.checkpoint, verifier_keys, origin=origin)
    verify_inclusion(hashed, bundle.index, checkpoint.size, bundle.proof, checkpoint.root)
    return checkpoint


def _next_line(text: str) -> tuple[str, str]:
    line, newline, rest = text.partition("\n")
    if not newline:
        raise FormatError("tlog proof ends before its checkpoint")
    return line, rest


# --- shared text helpers --------------------------------------------------------------------------


def _b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _b64decode(text: str, what: str) -> bytes:
    """Standard base64 with padding (RFC 4648 §4), only in its canonical form."""
    try:
        data = base64.b64decode(text, validate=True)
    except ValueError as exc:
        raise FormatError(f"{what} is not base64") from exc
    if not text or _b64encode(data) != text:
        raise FormatError(f"{what} is not canonical base64")
    return data


def _parse_decimal(text: str, what: str) -> int:
    """An ASCII decimal without leading zeros, at most 2**64-1."""
    if _DECIMAL.fullmatch(text) is None or len(text) > 20 or int(text) > MAX_UINT64:
        raise FormatError(f"{what} {text!r} is not a decimal number below 2**64")
    return int(text)


def _encodable(text: str) -> bool:
    """Whether the text is valid UTF-8 once encoded (no lone surrogates)."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True
