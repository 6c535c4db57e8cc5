"""The ``.intunewin`` builder and reader, and Intune publishing a built and a prebuilt package."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.core.schema import compile_schema
from bot.doubles.intune import IntuneDouble
from bot.errors import PermanentConnectorError
from connectors import intunewin
from connectors._polling import Follow
from connectors.artifacts import MemoryArtifactSource
from connectors.intune import IntuneConnector
from connectors.intunewin import IntuneWinError, Keys, MsiInfo
from connectors.settings import IntuneSettings
from tests.support.plane_publications import DictJournal, publication

from .conftest import load_intent

ROOT = Path(__file__).resolve().parents[2]

FOLDER = {
    "setup.exe": b"MZ" + bytes(range(256)) * 40,
    "config/settings.ini": b"[main]\nsilent=1\n",
    "readme.txt": b"how to install",
}
PRODUCT = "{8A69D345-D564-463C-AFF1-A69D9E530F96}"


def test_round_trip_build_parse_decrypt_gives_the_same_files() -> None:
    built = intunewin.build(FOLDER, "setup.exe")
    parsed = intunewin.parse(built.to_bytes())
    assert parsed == built
    assert intunewin.open_package(parsed) == FOLDER
    detection = parsed.detection
    assert (detection.name, detection.setup_file, detection.file_name) == (
        "setup.exe",
        "setup.exe",
        "IntunePackage.intunewin",
    )
    plain = intunewin.open_payload(parsed.payload, detection.encryption)
    assert detection.unencrypted_size == len(plain)
    assert detection.encryption.file_digest == hashlib.sha256(plain).digest()


def test_the_outer_zip_has_the_documented_layout() -> None:
    data = intunewin.build(FOLDER, "setup.exe").to_bytes()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert sorted(archive.namelist()) == [
            "IntuneWinPackage/Contents/IntunePackage.intunewin",
            "IntuneWinPackage/Metadata/Detection.xml",
        ]


def test_payload_is_mac_then_iv_then_whole_aes_blocks_under_the_given_keys() -> None:
    keys = Keys(b"k" * 32, b"m" * 32, b"i" * 16)
    payload, info = intunewin.seal(b"x" * 33, keys)
    assert len(payload) == 32 + 16 + 48  # 33 bytes pad to three AES blocks
    assert payload[32:48] == keys.iv == info.iv
    assert payload[:32] == info.mac
    assert set(info.graph()) == {
        "encryptionKey",
        "macKey",
        "initializationVector",
        "mac",
        "profileIdentifier",
        "fileDigest",
        "fileDigestAlgorithm",
    }
    assert intunewin.seal(b"x" * 33, keys) == (payload, info)  # a pure function of its inputs


def test_fresh_keys_each_build() -> None:
    first, second = intunewin.build(FOLDER, "setup.exe"), intunewin.build(FOLDER, "setup.exe")
    assert first.detection.encryption.encryption_key != second.detection.encryption.encryption_key
    assert first.detection.encryption.file_digest == second.detection.encryption.file_digest


@pytest.mark.parametrize("where", [5, 40, -1])
def test_a_tampered_payload_is_refused_by_its_mac(where: int) -> None:
    built = intunewin.build(FOLDER, "setup.exe")
    tampered = bytearray(built.payload)
    tampered[where] ^= 0x01
    with pytest.raises(IntuneWinError, match="MAC does not verify"):
        intunewin.open_payload(bytes(tampered), built.detection.encryption)


def test_other_keys_do_not_open_a_payload() -> None:
    built = intunewin.build(FOLDER, "setup.exe")
    other = intunewin.build(FOLDER, "setup.exe").detection.encryption
    with pytest.raises(IntuneWinError, match="MAC does not verify"):
        intunewin.open_payload(built.payload, other)


def test_msi_info_is_written_and_read_back() -> None:
    msi = MsiInfo(PRODUCT, "131.0.6778.86", "{C1DFDF69-5945-32F2-A35E-EE94C99C7CF4}")
    built = intunewin.build({"chrome.msi": b"msi"}, "chrome.msi", msi=msi)
    assert intunewin.parse(built.to_bytes()).detection.msi == msi
    assert b"<MsiProductCode>" + PRODUCT.encode() in built.detection.xml()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"not a zip", "not a .intunewin"),
        (b"PK\x05\x06" + b"\0" * 18, "no IntuneWinPackage/Metadata/Detection.xml"),
    ],
)
def test_what_is_not_an_intunewin_is_refused(data: bytes, message: str) -> None:
    with pytest.raises(IntuneWinError, match=message):
        intunewin.parse(data)


def test_a_detection_xml_without_its_keys_is_refused() -> None:
    built = intunewin.build(FOLDER, "setup.exe")
    xml = built.detection.xml().replace(b"<MacKey>", b"<Other>").replace(b"</MacKey>", b"</Other>")
    with pytest.raises(IntuneWinError, match="EncryptionInfo/MacKey is missing"):
        intunewin.parse_detection(xml)


def test_the_setup_file_must_be_in_the_folder_and_paths_stay_inside() -> None:
    with pytest.raises(IntuneWinError, match=r"'install\.exe' is not among"):
        intunewin.build(FOLDER, "install.exe")
    with pytest.raises(IntuneWinError, match="not a relative path"):
        intunewin.build({"../evil.exe": b"x"}, "../evil.exe")


# -- publishing through the Intune double ------------------------------------------------------


@pytest.fixture(scope="module")
def double() -> Iterator[IntuneDouble]:
    with IntuneDouble() as started:
        yield started


@pytest.fixture(autouse=True)
def fresh(double: IntuneDouble) -> Iterator[None]:
    with double.lock:
        double.apps.clear()
        double.creates.clear()
        double.violations.clear()
    yield
    assert double.violations == []


def publish_with(double: IntuneDouble, intent: dict[str, Any], data: bytes) -> dict[str, Any]:
    """Publish ``intent`` whose package URL serves ``data``; the uploaded content, opened."""
    intent["package"]["sha256"] = hashlib.sha256(data).hexdigest()
    settings = IntuneSettings.from_environ(double.environ())
    assert settings is not None
    connector = IntuneConnector(
        settings,
        artifacts=MemoryArtifactSource({intent["package"]["url"]: data}),
        follow=Follow(interval=0.0, timeout=5.0, sleep=lambda _s: None),
    )
    try:
        result = connector.publish(publication(intent), DictJournal())
    finally:
        connector.close()
    app = double.apps[result.object_id]
    [stored] = app.versions["1"].values()
    assert stored.state == "commitFileSuccess"
    assert app.body["publishingState"] == "published"
    return {"app": app.body, "file": stored}


def test_an_installer_is_wrapped_into_a_intunewin_that_publishes(double: IntuneDouble) -> None:
    intent = load_intent("windows/google-chrome.yaml")
    intent["package"]["msi"] = {"productCode": PRODUCT}
    seen = publish_with(double, intent, b"chrome msi bytes")
    assert seen["app"]["setupFilePath"] == "googlechromestandaloneenterprise64.msi"
    assert seen["app"]["fileName"] == "google-chrome-131.0.6778.86.intunewin"
    assert seen["app"]["uninstallCommandLine"] == f"msiexec /x {PRODUCT} /qn"
    assert seen["file"].body["name"] == "IntunePackage.intunewin"


def test_a_prebuilt_intunewin_publishes_as_it_is(double: IntuneDouble) -> None:
    prebuilt = intunewin.build(FOLDER, "setup.exe")
    intent = load_intent("windows/notepad-plus-plus.yaml")
    intent["package"]["type"] = "intunewin"
    seen = publish_with(double, intent, prebuilt.to_bytes())
    assert seen["file"].blob == prebuilt.payload  # uploaded unchanged
    assert seen["file"].body["size"] == prebuilt.detection.unencrypted_size
    assert seen["app"]["setupFilePath"] == "setup.exe"  # what Detection.xml says


def test_a_win32_package_that_is_a_intunewin_is_read_not_wrapped_again(
    double: IntuneDouble,
) -> None:
    prebuilt = intunewin.build(FOLDER, "setup.exe")
    intent = load_intent("windows/notepad-plus-plus.yaml")
    assert intent["package"]["type"] == "win32"
    seen = publish_with(double, intent, prebuilt.to_bytes())
    assert seen["file"].blob == prebuilt.payload


def test_a_zipped_setup_folder_is_unpacked_into_the_content(double: IntuneDouble) -> None:
    intent = load_intent("windows/notepad-plus-plus.yaml")
    intent["package"] |= {"type": "exe", "setupFolder": True, "installCommand": "setup.exe /S"}
    seen = publish_with(double, intent, intunewin.zip_folder(FOLDER))
    assert seen["app"]["setupFilePath"] == "setup.exe"


def test_a_broken_prebuilt_package_is_a_permanent_error_naming_it(double: IntuneDouble) -> None:
    intent = load_intent("windows/notepad-plus-plus.yaml")
    intent["package"]["type"] = "intunewin"
    with pytest.raises(
        PermanentConnectorError, match=r"notepad-plus-plus: package https://.*not a \.intunewin"
    ):
        publish_with(double, intent, b"an exe, not a package")


def test_the_intent_schema_takes_intunewin_packages_and_their_intune_fields() -> None:
    schema = compile_schema(
        json.loads((ROOT / "schemas" / "deployment-intent.schema.json").read_text("utf-8"))
    )
    intent = load_intent("windows/notepad-plus-plus.yaml")
    intent["package"] |= {
        "type": "intunewin",
        "setupFile": "npp.8.7.1.Installer.x64.exe",
        "architectures": ["x64", "arm64"],
        "msi": {"productCode": PRODUCT},
    }
    assert schema.raw_findings(intent) == ()
    intent["package"]["architectures"] = ["amd64"]
    intent["package"]["setupFile"] = "C:\\setup.exe"
    assert {f.pointer for f in schema.raw_findings(intent)} == {
        "/package/architectures/0",
        "/package/setupFile",
    }
