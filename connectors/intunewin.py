"""The ``.intunewin`` format Intune's Win32 apps ingest: build one from an installer, or read one.

Learnt from the format's open descriptions (Microsoft's Win32 Content Prep Tool is Windows-only;
independent tools in Go, PowerShell and Python document the same layout); no code was copied.

An ``.intunewin`` is a plain zip::

    IntuneWinPackage/Metadata/Detection.xml        what the package is, and how to decrypt it
    IntuneWinPackage/Contents/IntunePackage.intunewin   the encrypted payload

The payload is the setup folder (one installer, or an installer and its files) zipped, then
encrypted with AES-256-CBC (PKCS7 padding) under a fresh key and IV, and authenticated with an
HMAC-SHA256 (its own key) over ``IV ‖ ciphertext``; the payload's bytes are ``MAC ‖ IV ‖
ciphertext``. ``Detection.xml`` names the setup file, gives the unencrypted zip's size, the keys,
IV, MAC, profile and the SHA-256 of the unencrypted zip (``EncryptionInfo``), and for an MSI its
codes and version (``MsiInfo``). Intune receives the payload as the content file and the
``EncryptionInfo`` as the ``fileEncryptionInfo`` of ``commit``; a device decrypts with it, checks
MAC and digest, unzips and runs the install command in that folder.

Everything here is a pure function of bytes (keys are passed in or drawn by :meth:`Keys.random`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import os
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Self
from xml.etree.ElementTree import Element, SubElement, tostring

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from defusedxml import ElementTree
from defusedxml.common import DefusedXmlException

DETECTION_PATH = "IntuneWinPackage/Metadata/Detection.xml"
CONTENTS_DIR = "IntuneWinPackage/Contents/"
PAYLOAD_NAME = "IntunePackage.intunewin"
PROFILE = "ProfileVersion1"
DIGEST_ALGORITHM = "SHA256"
TOOL_VERSION = "1.8.6.0"
"""The Content Prep Tool version this layout matches (written as ``ToolVersion``)."""
MAC_SIZE, IV_SIZE, KEY_SIZE = 32, 16, 32
MAX_PLAIN_BYTES = 8 * 1024 * 1024 * 1024
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
"""Every zip entry gets this time, so the same files zip to the same bytes."""


class IntuneWinError(ValueError):
    """The bytes are not a usable ``.intunewin`` (or its payload does not verify)."""


@dataclass(frozen=True, slots=True)
class Keys:
    """The secrets one payload is sealed with."""

    encryption_key: bytes
    mac_key: bytes
    iv: bytes

    @classmethod
    def random(cls) -> Self:
        """Fresh keys and IV from the operating system's CSPRNG."""
        return cls(os.urandom(KEY_SIZE), os.urandom(KEY_SIZE), os.urandom(IV_SIZE))


@dataclass(frozen=True, slots=True)
class EncryptionInfo:
    """``Detection.xml``'s ``EncryptionInfo``; :meth:`graph` gives ``fileEncryptionInfo``."""

    encryption_key: bytes
    mac_key: bytes
    iv: bytes
    mac: bytes
    file_digest: bytes
    profile_identifier: str = PROFILE
    file_digest_algorithm: str = DIGEST_ALGORITHM

    def graph(self) -> dict[str, str]:
        """The ``microsoft.graph.fileEncryptionInfo`` JSON (bytes as base64)."""
        return {
            "encryptionKey": _b64(self.encryption_key),
            "macKey": _b64(self.mac_key),
            "initializationVector": _b64(self.iv),
            "mac": _b64(self.mac),
            "profileIdentifier": self.profile_identifier,
            "fileDigest": _b64(self.file_digest),
            "fileDigestAlgorithm": self.file_digest_algorithm,
        }


@dataclass(frozen=True, slots=True)
class MsiInfo:
    """What ``Detection.xml`` says of an MSI setup file (Intune pre-fills detection from it)."""

    product_code: str
    product_version: str
    upgrade_code: str | None = None
    per_user: bool = False


@dataclass(frozen=True, slots=True)
class Detection:
    """``IntuneWinPackage/Metadata/Detection.xml``."""

    name: str
    setup_file: str
    unencrypted_size: int
    encryption: EncryptionInfo
    file_name: str = PAYLOAD_NAME
    msi: MsiInfo | None = None

    def xml(self) -> bytes:
        """The document as the Content Prep Tool writes it (UTF-8)."""
        root = Element("ApplicationInfo", {"ToolVersion": TOOL_VERSION})
        for tag, text in (
            ("Name", self.name),
            ("UnencryptedContentSize", str(self.unencrypted_size)),
            ("FileName", self.file_name),
            ("SetupFile", self.setup_file),
        ):
            SubElement(root, tag).text = text
        info = SubElement(root, "EncryptionInfo")
        for tag, text in (
            ("EncryptionKey", _b64(self.encryption.encryption_key)),
            ("MacKey", _b64(self.encryption.mac_key)),
            ("InitializationVector", _b64(self.encryption.iv)),
            ("Mac", _b64(self.encryption.mac)),
            ("ProfileIdentifier", self.encryption.profile_identifier),
            ("FileDigest", _b64(self.encryption.file_digest)),
            ("FileDigestAlgorithm", self.encryption.file_digest_algorithm),
        ):
            SubElement(info, tag).text = text
        if self.msi is not None:
            msi = SubElement(root, "MsiInfo")
            fields = [
                ("MsiProductCode", self.msi.product_code),
                ("MsiProductVersion", self.msi.product_version),
            ]
            if self.msi.upgrade_code:
                fields.append(("MsiUpgradeCode", self.msi.upgrade_code))
            fields += [
                ("MsiExecutionContext", "User" if self.msi.per_user else "System"),
                ("MsiIsMachineInstall", _flag(not self.msi.per_user)),
                ("MsiIsUserInstall", _flag(self.msi.per_user)),
            ]
            for tag, text in fields:
                SubElement(msi, tag).text = text
        document: bytes = tostring(root, encoding="utf-8", xml_declaration=False)
        return b'<?xml version="1.0" encoding="utf-8"?>\n' + document


@dataclass(frozen=True, slots=True)
class IntuneWin:
    """A ``.intunewin``: its ``Detection.xml`` and its encrypted payload."""

    detection: Detection
    payload: bytes

    def to_bytes(self) -> bytes:
        """The ``.intunewin`` file (the outer zip)."""
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
            _write(archive, CONTENTS_DIR + self.detection.file_name, self.payload, store=True)
            _write(archive, DETECTION_PATH, self.detection.xml())
        return out.getvalue()


# -- building --------------------------------------------------------------------------------


def zip_folder(files: Mapping[str, bytes]) -> bytes:
    """The setup folder as the payload's zip: relative paths, same files → same bytes."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(files):
            _write(archive, _relative(name), files[name])
    return out.getvalue()


def seal(plain: bytes, keys: Keys) -> tuple[bytes, EncryptionInfo]:
    """``MAC ‖ IV ‖ AES-256-CBC(PKCS7(plain))`` and the information that opens it."""
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plain) + padder.finalize()
    encryptor = Cipher(algorithms.AES(keys.encryption_key), modes.CBC(keys.iv)).encryptor()
    ciphertext = encryptor.update(padded) + encryptor.finalize()
    mac = hmac.new(keys.mac_key, keys.iv + ciphertext, hashlib.sha256).digest()
    info = EncryptionInfo(
        encryption_key=keys.encryption_key,
        mac_key=keys.mac_key,
        iv=keys.iv,
        mac=mac,
        file_digest=hashlib.sha256(plain).digest(),
    )
    return mac + keys.iv + ciphertext, info


def build(
    files: Mapping[str, bytes],
    setup_file: str,
    *,
    keys: Keys | None = None,
    msi: MsiInfo | None = None,
) -> IntuneWin:
    """Wrap a setup folder (``files`` by relative path) whose ``setup_file`` the command runs."""
    if _relative(setup_file) not in {_relative(name) for name in files}:
        raise IntuneWinError(f"setup file {setup_file!r} is not among the package's files")
    plain = zip_folder(files)
    payload, info = seal(plain, keys or Keys.random())
    detection = Detection(
        name=PurePosixPath(_relative(setup_file)).name,
        setup_file=_relative(setup_file),
        unencrypted_size=len(plain),
        encryption=info,
        msi=msi,
    )
    return IntuneWin(detection=detection, payload=payload)


# -- reading ---------------------------------------------------------------------------------


def parse(data: bytes) -> IntuneWin:
    """Read a ``.intunewin``: its ``Detection.xml`` and the payload it describes."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = {info.filename.replace("\\", "/"): info for info in archive.infolist()}
            if DETECTION_PATH not in names:
                raise IntuneWinError(f"no {DETECTION_PATH} in the package")
            detection = parse_detection(archive.read(names[DETECTION_PATH]))
            payload_path = CONTENTS_DIR + detection.file_name
            if payload_path not in names:
                raise IntuneWinError(f"no {payload_path} in the package")
            payload = archive.read(names[payload_path])
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as error:
        raise IntuneWinError(f"not a .intunewin (zip): {error}") from None
    return IntuneWin(detection=detection, payload=payload)


def parse_detection(xml: bytes) -> Detection:
    """``Detection.xml`` as data; a missing or malformed field is an :class:`IntuneWinError`."""
    try:
        root = ElementTree.fromstring(xml)
    except (ElementTree.ParseError, DefusedXmlException) as error:
        raise IntuneWinError(f"Detection.xml: {error}") from None
    if _tag(root) != "ApplicationInfo":
        raise IntuneWinError(f"Detection.xml: root is {_tag(root)}, not ApplicationInfo")
    found = {_tag(child): child for child in root}
    info = {_tag(child): (child.text or "").strip() for child in found.get("EncryptionInfo", [])}
    msi = {_tag(child): (child.text or "").strip() for child in found.get("MsiInfo", [])}

    def text(name: str) -> str:
        element = found.get(name)
        value = (element.text or "").strip() if element is not None else ""
        if not value:
            raise IntuneWinError(f"Detection.xml: {name} is missing")
        return value

    size = text("UnencryptedContentSize")
    if not size.isdigit():
        raise IntuneWinError(f"Detection.xml: UnencryptedContentSize {size!r} is not a number")
    file_name = text("FileName")
    if PurePosixPath(file_name.replace("\\", "/")).name != file_name:
        raise IntuneWinError(f"Detection.xml: FileName {file_name!r} is not a plain file name")
    return Detection(
        name=text("Name"),
        setup_file=text("SetupFile"),
        unencrypted_size=int(size),
        file_name=file_name,
        encryption=_encryption_info(info),
        msi=_msi_info(msi),
    )


def _encryption_info(info: Mapping[str, str]) -> EncryptionInfo:
    def secret(name: str, size: int | None) -> bytes:
        if not info.get(name):
            raise IntuneWinError(f"Detection.xml: EncryptionInfo/{name} is missing")
        try:
            raw = base64.b64decode(info[name], validate=True)
        except ValueError:
            raise IntuneWinError(f"Detection.xml: EncryptionInfo/{name} is not base64") from None
        if size is not None and len(raw) != size:
            raise IntuneWinError(f"Detection.xml: EncryptionInfo/{name} is not {size} bytes")
        return raw

    return EncryptionInfo(
        encryption_key=secret("EncryptionKey", KEY_SIZE),
        mac_key=secret("MacKey", KEY_SIZE),
        iv=secret("InitializationVector", IV_SIZE),
        mac=secret("Mac", MAC_SIZE),
        file_digest=secret("FileDigest", None),
        profile_identifier=info.get("ProfileIdentifier") or PROFILE,
        file_digest_algorithm=info.get("FileDigestAlgorithm") or DIGEST_ALGORITHM,
    )


def _msi_info(msi: Mapping[str, str]) -> MsiInfo | None:
    if not msi.get("MsiProductCode"):
        return None
    return MsiInfo(
        product_code=msi["MsiProductCode"],
        product_version=msi.get("MsiProductVersion", ""),
        upgrade_code=msi.get("MsiUpgradeCode") or None,
        per_user=msi.get("MsiExecutionContext", "").lower() == "user",
    )


def open_payload(payload: bytes, info: EncryptionInfo) -> bytes:
    """The unencrypted zip: the MAC is checked first, then the padding, then the digest."""
    if len(payload) < MAC_SIZE + IV_SIZE + 16 or (len(payload) - MAC_SIZE - IV_SIZE) % 16:
        raise IntuneWinError("payload is too short or not whole AES blocks")
    mac, iv, ciphertext = payload[:MAC_SIZE], payload[MAC_SIZE : MAC_SIZE + IV_SIZE], payload[48:]
    expected = hmac.new(info.mac_key, iv + ciphertext, hashlib.sha256).digest()
    if not hmac.compare_digest(mac, expected) or not hmac.compare_digest(mac, info.mac):
        raise IntuneWinError("payload MAC does not verify: altered, or not sealed with these keys")
    if iv != info.iv:
        raise IntuneWinError("payload IV is not the one in the encryption info")
    decryptor = Cipher(algorithms.AES(info.encryption_key), modes.CBC(iv)).decryptor()
    padded = decryptor.update(ciphertext) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    try:
        plain = unpadder.update(padded) + unpadder.finalize()
    except ValueError:
        raise IntuneWinError("payload padding is invalid: wrong encryption key") from None
    if not hmac.compare_digest(hashlib.sha256(plain).digest(), info.file_digest):
        raise IntuneWinError("payload digest is not the FileDigest")
    return plain


def unzip(plain: bytes) -> dict[str, bytes]:
    """The setup folder's files by relative path (bounded by :data:`MAX_PLAIN_BYTES`)."""
    try:
        with zipfile.ZipFile(io.BytesIO(plain)) as archive:
            entries = [i for i in archive.infolist() if not i.is_dir()]
            if sum(i.file_size for i in entries) > MAX_PLAIN_BYTES:
                raise IntuneWinError("payload unpacks to more than allowed")
            return {_relative(i.filename): archive.read(i) for i in entries}
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as error:
        raise IntuneWinError(f"payload is not a zip: {error}") from None


def open_package(package: IntuneWin) -> dict[str, bytes]:
    """Decrypt and unzip a package with its own ``Detection.xml`` (what a device does)."""
    plain = open_payload(package.payload, package.detection.encryption)
    if len(plain) != package.detection.unencrypted_size:
        raise IntuneWinError("payload size is not UnencryptedContentSize")
    return unzip(plain)


# -- helpers ---------------------------------------------------------------------------------


def _write(archive: zipfile.ZipFile, name: str, data: bytes, *, store: bool = False) -> None:
    entry = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
    entry.compress_type = zipfile.ZIP_STORED if store else zipfile.ZIP_DEFLATED
    entry.external_attr = 0o644 << 16
    archive.writestr(entry, data)


def _relative(name: str) -> str:
    """A safe relative POSIX path (no drive, root, ``..``); refuses anything else."""
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or not path.parts or ":" in path.parts[0]:
        raise IntuneWinError(f"file name {name!r} is not a relative path inside the package")
    return str(path)


def _tag(element: Element) -> str:
    return str(element.tag).rsplit("}", 1)[-1]


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _flag(value: bool) -> str:
    return "true" if value else "false"
