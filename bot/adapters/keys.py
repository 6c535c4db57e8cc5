"""The signing key store: the Ed25519 key that signs audit checkpoints, under ``<home>/keys/``.

``EUCORA_SIGNING_KEY`` (or ``EUCORA_SIGNING_KEY_FILE``), when set, is the key, in any of the forms
the evidence signer takes too (``bot.adapters.signing_keys``): PKCS#8 PEM text or the path of a
PEM file, which sign as ``DEFAULT_KEY_NAME``; or a signed-note signer key
``PRIVATE+KEY+<name>+<key id>+<base64>`` (golang.org/x/mod/sumdb/note, as
``bot.core.tlog.encode_signer_key`` writes it), whose name becomes the checkpoints' origin.
Otherwise a key pair is generated once and kept in ``<home>/keys/audit.key`` (mode 0600, refused
when others can read it) with its verifier key in ``<home>/keys/audit.pub``, the text an auditor
is given to check exports offline.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from bot.adapters.signing_keys import load_private_key, public_key_from_pem
from bot.core.tlog import (
    Ed25519Signer,
    TlogError,
    encode_signer_key,
    parse_signer_key,
    parse_verifier_key,
)
from bot.errors import SigningKeyError

DEFAULT_KEY_NAME = "eucora/audit"
"""The key name (and so the checkpoint origin) of a generated key."""
KEYS_DIR = "keys"
SIGNER_FILE = "audit.key"
VERIFIER_FILE = "audit.pub"
_PRIVATE_MODE = 0o600
_SIGNER_KEY_PREFIX = "PRIVATE+KEY+"
_PEM_MARKER = "-----BEGIN "


def keys_dir(home: Path) -> Path:
    """Where the key store keeps its files."""
    return home / KEYS_DIR


def parse_signing_key(value: str) -> Ed25519Signer:
    """The signer of a configured key: note signer key, PEM text or PEM file path.

    Raises ``SigningKeyError`` saying what is wrong, never quoting the key.
    """
    text = value.strip()
    if text.startswith(_SIGNER_KEY_PREFIX):
        try:
            return parse_signer_key(text)
        except TlogError as error:
            raise SigningKeyError(
                f"the signing key is not a valid signed-note signer key: {error}"
            ) from error
    if _PEM_MARKER not in text and not Path(text).is_file():
        raise SigningKeyError(
            "the signing key is neither PEM, a PEM file, nor a signed-note signer key"
            " (PRIVATE+KEY+name+id+key)"
        )
    private_key = load_private_key(text)
    return Ed25519Signer(DEFAULT_KEY_NAME, private_key.private_bytes_raw())


def load_signer(home: Path, signing_key: str | None = None) -> Ed25519Signer | None:
    """The configured or stored signer, or ``None`` when there is none yet (nothing is created)."""
    if signing_key:
        return parse_signing_key(signing_key)
    path = keys_dir(home) / SIGNER_FILE
    if not path.exists():
        return None
    return _read_signer(path)


def load_or_create_signer(
    home: Path, signing_key: str | None = None, *, name: str = DEFAULT_KEY_NAME
) -> Ed25519Signer:
    """The configured or stored signer; generate and store one (once) when there is none.

    Two processes starting at once end up with the same key: the file is created with a link,
    which fails for the second, who reads the first one's key.
    """
    existing = load_signer(home, signing_key)
    if existing is not None:
        return existing
    folder = keys_dir(home)
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        seed = Ed25519PrivateKey.generate().private_bytes_raw()
        _create_exclusively(folder / SIGNER_FILE, encode_signer_key(name, seed) + "\n")
        stored = _read_signer(folder / SIGNER_FILE)
        _write_verifier(folder / VERIFIER_FILE, stored)
    except OSError as error:
        raise SigningKeyError(f"cannot store a signing key in {folder}: {error}") from error
    return stored


def verifier_keys(home: Path, signing_key: str | None = None) -> list[str]:
    """The verifier keys of the configured or stored signer (empty when there is none)."""
    signer = load_signer(home, signing_key)
    return [signer.verifier.verifier_key] if signer is not None else []


def read_verifier_key(value: str) -> str:
    """A verifier key given as itself (``name+id+base64``) or as the path of a file holding it."""
    text = value.strip()
    with suppress(TlogError):
        return parse_verifier_key(text).verifier_key
    try:
        content = Path(value).read_text(encoding="utf-8").strip()
    except OSError as error:
        raise SigningKeyError(
            f"{value}: neither a verifier key nor a readable file ({error.strerror})"
        ) from error
    try:
        return parse_verifier_key(content).verifier_key
    except TlogError as error:
        raise SigningKeyError(f"{value}: not a verifier key (name+id+base64): {error}") from error


@dataclass(frozen=True, slots=True)
class TrustedKeys:
    """The public keys an auditor trusts, for evidence signatures and audit checkpoints alike.

    ``public_keys`` are raw Ed25519 keys given as PEM (they check DSSE signatures, and
    checkpoints under the key name their signature lines give); ``verifier_keys`` are signed-note
    verifier keys (they check checkpoints, and their raw key checks DSSE signatures too).
    """

    public_keys: tuple[bytes, ...] = ()
    verifier_keys: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.public_keys or self.verifier_keys)

    def ed25519(self) -> list[Ed25519PublicKey]:
        """Every key as a ``cryptography`` public key, for DSSE signatures."""
        raw = [*self.public_keys, *(parse_verifier_key(k).public_key for k in self.verifier_keys)]
        return [Ed25519PublicKey.from_public_bytes(key) for key in dict.fromkeys(raw)]


def read_trusted_keys(values: Sequence[str | bytes]) -> TrustedKeys:
    """Public keys given as PEM (text, bytes or a file) or verifier keys (text or a file).

    Raises ``SigningKeyError`` (``KeyFileError`` for PEM) naming the value that is not a key.
    """
    public: list[bytes] = []
    verifiers: list[str] = []
    for value in values:
        text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
        if _PEM_MARKER not in text:
            with suppress(TlogError):
                verifiers.append(parse_verifier_key(text.strip()).verifier_key)
                continue
            try:
                text = Path(text).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError, ValueError) as error:
                raise SigningKeyError(
                    f"{value!r}: neither a public key (PEM or name+id+base64) nor a readable file"
                    f" ({getattr(error, 'strerror', None) or error})"
                ) from error
        if _PEM_MARKER in text:
            key = public_key_from_pem(text.encode("utf-8"), "the public key")
            public.append(key.public_bytes_raw())
            continue
        try:
            verifiers.append(parse_verifier_key(text.strip()).verifier_key)
        except TlogError as error:
            raise SigningKeyError(
                f"{value!r}: not a public key (PEM or a verifier key name+id+base64): {error}"
            ) from error
    return TrustedKeys(tuple(dict.fromkeys(public)), tuple(dict.fromkeys(verifiers)))


def _read_signer(path: Path) -> Ed25519Signer:
    try:
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise SigningKeyError(
                f"{path} can be read by others (mode {stat.S_IMODE(mode):04o}): chmod 600 it"
            )
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise SigningKeyError(f"cannot read the signing key {path}: {error.strerror}") from error
    return parse_signing_key(text)


def _create_exclusively(path: Path, content: str) -> None:
    """Write ``content`` to a new file at ``path`` (mode 0600), unless one is already there."""
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".key-")
    try:
        os.fchmod(descriptor, _PRIVATE_MODE)
        with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
            stream.write(content)
            stream.flush()
            os.fsync(stream.fileno())
        with suppress(FileExistsError):
            os.link(temporary, path)
    finally:
        Path(temporary).unlink(missing_ok=True)


def _write_verifier(path: Path, signer: Ed25519Signer) -> None:
    """Write the verifier key next to the signer (readable by all: it is public)."""
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".pub-")
    try:
        os.fchmod(descriptor, 0o644)
        with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
            stream.write(signer.verifier.verifier_key + "\n")
        Path(temporary).replace(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
