"""Ed25519 signing keys for evidence: generated, written and read as PEM files.

The private key is PKCS#8 PEM, unencrypted (it is meant for ``EUCORA_SIGNING_KEY`` or
``EUCORA_SIGNING_KEY_FILE``, which container platforms mount as secrets), written with mode 0600 in
a folder only its owner can enter (0700). The public key is SubjectPublicKeyInfo PEM, the form
``openssl pkey -pubout``, cosign and securesystemslib read.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
    load_pem_public_key,
)

from bot.core.attestation import key_id
from bot.errors import SigningKeyError

PRIVATE_KEY_NAME = "evidence-signing-key.pem"
PUBLIC_KEY_NAME = "evidence-signing-key.pub.pem"
_PEM_MARKER = "-----BEGIN "
_FOLDER_MODE = 0o700
_PRIVATE_MODE = 0o600
_PUBLIC_MODE = 0o644


class KeyFileError(SigningKeyError):
    """A key cannot be written or read, or is not an Ed25519 key in PEM."""


@dataclass(frozen=True, slots=True)
class KeyPairFiles:
    """Where a generated key pair was written, and the key id signatures will carry."""

    private_key: Path
    public_key: Path
    key_id: str


def generate_key_pair(folder: Path) -> KeyPairFiles:
    """Generate an Ed25519 key pair and write it into ``folder`` (created 0700 if missing).

    Existing keys are never overwritten, and a folder that other users can enter is refused
    (a private key must not land where others can read it or swap it).

    Raises:
        KeyFileError: a key file already exists, or the folder is open to other users.
        OSError: the files cannot be written.
    """
    folder = Path(folder)
    _prepare_folder(folder)
    private_path, public_path = folder / PRIVATE_KEY_NAME, folder / PUBLIC_KEY_NAME
    for path in (private_path, public_path):
        if path.exists():
            raise KeyFileError(f"{path} already exists; refusing to overwrite a key")
    private_key = Ed25519PrivateKey.generate()
    public_key = private_key.public_key()
    _write_new(
        private_path,
        private_key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()),
        _PRIVATE_MODE,
    )
    _write_new(
        public_path,
        public_key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo),
        _PUBLIC_MODE,
    )
    return KeyPairFiles(private_path, public_path, key_id(public_key))


def _prepare_folder(folder: Path) -> None:
    if not folder.exists():
        folder.mkdir(mode=_FOLDER_MODE, parents=True)
        folder.chmod(_FOLDER_MODE)  # mkdir's mode is masked by the umask
        return
    if not folder.is_dir():
        raise KeyFileError(f"{folder} is not a folder")
    mode = stat.S_IMODE(folder.stat().st_mode)
    if mode & 0o077:
        raise KeyFileError(
            f"{folder} is open to other users (mode {mode:04o}); run chmod 700 on it or choose"
            " another folder"
        )


def _write_new(path: Path, data: bytes, mode: int) -> None:
    """Create a file that must not exist yet, with its mode set before any byte is written."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(descriptor, "wb") as stream:
        os.fchmod(stream.fileno(), mode)  # os.open's mode is masked by the umask
        stream.write(data)
        stream.flush()
        os.fsync(stream.fileno())


# --- reading --------------------------------------------------------------------------------------


def load_private_key(value: str | Path) -> Ed25519PrivateKey:
    """Read an Ed25519 private key from PEM text (``Settings.signing_key``) or a PEM file path.

    Raises:
        KeyFileError: the file cannot be read, or the text is not an unencrypted Ed25519 PEM key.
    """
    if isinstance(value, str) and _PEM_MARKER in value:
        return private_key_from_pem(value.encode("utf-8"), "the signing key")
    return private_key_from_pem(_read(Path(value)), str(value))


def private_key_from_pem(data: bytes, where: str) -> Ed25519PrivateKey:
    """Parse an unencrypted PKCS#8 (or OpenSSL traditional) PEM Ed25519 private key."""
    try:
        key = load_pem_private_key(data, password=None)
    except TypeError:
        raise KeyFileError(
            f"{where}: the private key is encrypted; EUCORA needs it unencrypted"
        ) from None
    except ValueError:
        raise KeyFileError(f"{where}: not a PEM private key") from None
    except UnsupportedAlgorithm as error:
        raise KeyFileError(f"{where}: cannot read the private key ({error})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{where}: a {type(key).__name__}, but EUCORA signs with Ed25519")
    return key


def load_public_key(value: str | Path | bytes) -> Ed25519PublicKey:
    """Read an Ed25519 public key from PEM bytes, PEM text or a PEM file path.

    Raises:
        KeyFileError: the file cannot be read, or it is not an Ed25519 public key in PEM.
    """
    if isinstance(value, bytes):
        return public_key_from_pem(value, "the public key")
    if isinstance(value, str) and _PEM_MARKER in value:
        return public_key_from_pem(value.encode("utf-8"), "the public key")
    return public_key_from_pem(_read(Path(value)), str(value))


def public_key_from_pem(data: bytes, where: str) -> Ed25519PublicKey:
    """Parse a SubjectPublicKeyInfo PEM Ed25519 public key."""
    if b"PRIVATE KEY-----" in data:
        raise KeyFileError(f"{where}: this is a private key; give the public key (.pub.pem)")
    try:
        key = load_pem_public_key(data)
    except ValueError:
        raise KeyFileError(f"{where}: not a PEM public key") from None
    except UnsupportedAlgorithm as error:
        raise KeyFileError(f"{where}: cannot read the public key ({error})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise KeyFileError(f"{where}: a {type(key).__name__}, but EUCORA verifies Ed25519")
    return key


def public_key_pem(key: Ed25519PublicKey) -> bytes:
    """The SubjectPublicKeyInfo PEM of a public key."""
    return key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise KeyFileError(f"cannot read {path}: {error.strerror}") from None
