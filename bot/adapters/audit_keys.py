"""The signing key store: the Ed25519 key that signs audit checkpoints, under ``<home>/keys/``.

``EUCORA_SIGNING_KEY`` (or ``EUCORA_SIGNING_KEY_FILE``), when set, is the key, in any of the forms
the evidence signer takes too (``bot.adapters.pem_keys``): PKCS#8 PEM text or the path of a
PEM file, which sign as ``DEFAULT_KEY_NAME``; or a signed-note signer key
``PRIVATE+KEY+<name>+<key id>+<base64>`` (golang.org/x/mod/sumdb/note, as
``bot.core.tlog.encode_signer_key`` writes it), whose name becomes the checkpoints' origin.
Otherwise a key pair is generated once and kept in ``<home>/keys/audit.key`` (mode 0600, refused
when others can read it). Whichever key signs, its verifier key is in ``<home>/keys/audit.pub``,
the text an auditor is given to check exports offline; a key that signed before it (the key was
turned on or changed) is kept in ``<home>/keys/audit.pub.previous``, so the home still verifies
the checkpoints it signed.

The origin (the log's name in its checkpoints, c2sp.org/tlog-checkpoint) is ``audit_origin``:
``EUCORA_AUDIT_ORIGIN``, else the one stored in ``<home>/keys/audit.origin`` when the log began,
else ``eucora/audit`` for a log begun before origins were named (its checkpoints are signed under
that name and must keep verifying), else one derived from the installation for a new log.
"""

from __future__ import annotations

import os
import socket
import stat
import tempfile
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from bot.adapters.pem_keys import load_private_key, public_key_from_pem
from bot.core.tlog import (
    Ed25519Signer,
    TlogError,
    encode_signer_key,
    parse_signer_key,
    parse_verifier_key,
)
from bot.errors import SigningKeyError
from bot.settings import Settings

DEFAULT_KEY_NAME = "eucora/audit"
"""The origin of every log begun before origins were named after their installation."""
KEYS_DIR = "keys"
SIGNER_FILE = "audit.key"
VERIFIER_FILE = "audit.pub"
PREVIOUS_VERIFIERS_FILE = "audit.pub.previous"
ORIGIN_FILE = "audit.origin"
_PRIVATE_MODE = 0o600
_SIGNER_KEY_PREFIX = "PRIVATE+KEY+"
_PEM_MARKER = "-----BEGIN "


def keys_dir(home: Path) -> Path:
    """Where the key store keeps its files."""
    return home / KEYS_DIR


def parse_signing_key(value: str, name: str = DEFAULT_KEY_NAME) -> Ed25519Signer:
    """The signer of a configured key: note signer key, PEM text or PEM file path.

    A PEM key signs under ``name`` (the log's origin); a note signer key under its own name.
    Raises ``SigningKeyError`` saying what is wrong, never quoting the key (a path is not a key:
    a missing file is named).
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
        if _looks_like_path(text):
            raise SigningKeyError(f"the signing key file {text} was not found")
        raise SigningKeyError(
            "the signing key is neither PEM, a PEM file, nor a signed-note signer key"
            " (PRIVATE+KEY+name+id+key)"
        )
    private_key = load_private_key(text)
    return Ed25519Signer(name, private_key.private_bytes_raw())


def _looks_like_path(text: str) -> bool:
    """A value that names a file (and so may be quoted in an error), not pasted key material."""
    return not any(c.isspace() for c in text) and (
        "/" in text or os.sep in text or text.endswith((".pem", ".key"))
    )


def audit_origin(home: Path, configured: str | None = None, public_url: str | None = None) -> str:
    """The origin of the home's audit log (see the module's docstring); nothing is written."""
    if configured:
        origin = configured.strip()
        if not origin or "+" in origin or any(c.isspace() for c in origin):
            raise SigningKeyError(
                f"EUCORA_AUDIT_ORIGIN {configured!r} is not a log name: no spaces and no '+'"
                " (e.g. intents.contoso.com/eucora/audit)"
            )
        return origin
    folder = keys_dir(home)
    with suppress(OSError):
        stored = (folder / ORIGIN_FILE).read_text(encoding="utf-8").strip()
        if stored:
            return stored
    if (folder / SIGNER_FILE).exists() or (folder / VERIFIER_FILE).exists():
        return DEFAULT_KEY_NAME
    host = urlsplit(public_url).hostname if public_url else None
    return f"{host or socket.gethostname() or 'localhost'}/eucora/audit"


def load_signer(
    home: Path, signing_key: str | None = None, *, origin: str | None = None
) -> Ed25519Signer | None:
    """The configured or stored signer, or ``None`` when there is none yet (nothing is created)."""
    if signing_key:
        return parse_signing_key(signing_key, origin or audit_origin(home))
    path = keys_dir(home) / SIGNER_FILE
    if not path.exists():
        return None
    return _read_signer(path)


def load_or_create_signer(
    home: Path,
    signing_key: str | None = None,
    *,
    name: str | None = None,
    public_url: str | None = None,
) -> Ed25519Signer:
    """The configured or stored signer; generate and store one (once) when there is none.

    ``name`` is the log's origin (``EUCORA_AUDIT_ORIGIN``), else ``audit_origin``'s default. The
    signer's verifier key is written to ``<home>/keys/audit.pub`` (the one before it, if another,
    to ``audit.pub.previous``) and its origin to ``audit.origin``. Two processes starting at once
    end up with the same key: the file is created with a link, which fails for the second, who
    reads the first one's key.
    """
    origin = audit_origin(home, name, public_url)
    folder = keys_dir(home)
    try:
        existing = load_signer(home, signing_key, origin=origin)
        if existing is None:
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            seed = Ed25519PrivateKey.generate().private_bytes_raw()
            _create_exclusively(folder / SIGNER_FILE, encode_signer_key(origin, seed) + "\n")
            existing = _read_signer(folder / SIGNER_FILE)
        _remember(folder, existing)
    except OSError as error:
        raise SigningKeyError(f"cannot store a signing key in {folder}: {error}") from error
    return existing


def audit_signer(settings: Settings) -> Ed25519Signer:
    """The installation's checkpoint signer: ``load_or_create_signer`` with its settings."""
    return load_or_create_signer(
        settings.home,
        settings.signing_key,
        name=settings.audit_origin,
        public_url=settings.public_url,
    )


def check_signing_key(settings: Settings) -> None:
    """Refuse a configured signing key that cannot sign (not found, not a key), before serving.

    Raises ``SigningKeyError`` naming what is wrong (the file's path, never the key).
    """
    if settings.signing_key:
        parse_signing_key(settings.signing_key)


def audit_verifier_keys(settings: Settings) -> list[str]:
    """The verifier keys the installation trusts for its own log (``verifier_keys``)."""
    origin = audit_origin(settings.home, settings.audit_origin, settings.public_url)
    return verifier_keys(settings.home, settings.signing_key, origin=origin)


def _remember(folder: Path, signer: Ed25519Signer) -> None:
    """Keep the signer's verifier key and origin in the home (the previous key is kept too)."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    current = signer.verifier.verifier_key
    verifier = folder / VERIFIER_FILE
    before = verifier.read_text(encoding="utf-8").strip() if verifier.is_file() else ""
    if before != current:
        if before:
            with (folder / PREVIOUS_VERIFIERS_FILE).open("a", encoding="utf-8") as stream:
                stream.write(before + "\n")
        _write_verifier(verifier, signer)
    if not (folder / ORIGIN_FILE).is_file():
        _write_public(folder / ORIGIN_FILE, signer.verifier.name + "\n")


def verifier_keys(
    home: Path, signing_key: str | None = None, *, origin: str | None = None
) -> list[str]:
    """The verifier keys the home trusts for its log: the signer's, then the keys before it.

    Empty when there is no signer yet. The keys before it are those kept in
    ``audit.pub.previous``, the generated ``audit.key`` when a configured key replaced it, and a
    configured key under the name ``eucora/audit`` it signed with before logs were named.
    """
    signer = load_signer(home, signing_key, origin=origin)
    if signer is None:
        return []
    folder = keys_dir(home)
    keys = [signer.verifier.verifier_key]
    with suppress(OSError):
        lines = (folder / PREVIOUS_VERIFIERS_FILE).read_text(encoding="utf-8").splitlines()
        for line in lines:
            with suppress(TlogError):
                keys.append(parse_verifier_key(line.strip()).verifier_key)
    if signing_key and signer.name != DEFAULT_KEY_NAME:
        # A PEM key signed as eucora/audit before logs were named: its earlier checkpoints.
        keys.append(Ed25519Signer(DEFAULT_KEY_NAME, signer.private_key).verifier.verifier_key)
    if signing_key and (folder / SIGNER_FILE).exists():
        with suppress(SigningKeyError):
            keys.append(_read_signer(folder / SIGNER_FILE).verifier.verifier_key)
    return _distinct_names_and_ids(keys)


def _distinct_names_and_ids(keys: list[str]) -> list[str]:
    """The keys without repeats of a name and key id (the verifier refuses two such keys)."""
    seen: dict[tuple[str, bytes], str] = {}
    for key in keys:
        parsed = parse_verifier_key(key)
        seen.setdefault((parsed.name, parsed.key_id), key)
    return list(seen.values())


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
    _write_public(path, signer.verifier.verifier_key + "\n")


def _write_public(path: Path, content: str) -> None:
    """Replace a public file (mode 0644) at once: readers see the old or the new text."""
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".pub-")
    try:
        os.fchmod(descriptor, 0o644)
        with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
            stream.write(content)
        Path(temporary).replace(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
