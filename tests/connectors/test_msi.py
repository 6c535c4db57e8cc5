"""Reading an MSI's Property table (connectors/msi.py), and Intune publishing what the file says.

``tests/fixtures/msi/tiny.msi`` is a real MSI made with msitools (see the README beside it).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.doubles.intune import IntuneDouble
from bot.errors import PermanentConnectorError
from connectors import intunewin
from connectors.intunewin import MsiInfo
from connectors.msi import (
    MsiError,
    MsiProperties,
    checked_msi_info,
    decode_stream_name,
    read_msi_properties,
)

from .conftest import load_intent
from .test_intunewin import publish_with

TINY = (Path(__file__).resolve().parents[1] / "fixtures" / "msi" / "tiny.msi").read_bytes()
PRODUCT = "{6F2A1C3B-9D4E-4F5A-8B7C-1D2E3F4A5B6C}"
UPGRADE = "{0A1B2C3D-4E5F-4061-8273-94A5B6C7D8E9}"


@pytest.fixture
def double() -> Iterator[IntuneDouble]:
    with IntuneDouble() as started:
        yield started
        assert started.violations == []


def test_the_property_table_of_a_real_msi_is_read() -> None:
    assert read_msi_properties(TINY) == MsiProperties(
        product_code=PRODUCT,
        product_version="2.4.1",
        upgrade_code=UPGRADE,
        product_name="EUCORA Tiny",
        manufacturer="EUCORA tests",
    )


def test_table_stream_names_decode_as_windows_installer_writes_them() -> None:
    # "Property" packed two letters per code point after the table marker U+4840.
    assert decode_stream_name("\u4840\u4559\u44f2\u4568\u4737") == "!Property"
    assert decode_stream_name("\x05SummaryInformation") == "\x05SummaryInformation"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"MZ\x90\x00 an exe", "not an OLE compound file"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504, "not a readable MSI"),
    ],
)
def test_what_is_not_an_msi_is_refused(data: bytes, message: str) -> None:
    with pytest.raises(MsiError, match=message):
        read_msi_properties(data)


def test_the_files_codes_win_over_the_intents_when_they_agree() -> None:
    stated = MsiInfo(product_code=PRODUCT.lower(), product_version="9.9", per_user=True)

    found = checked_msi_info(TINY, stated)

    assert found == MsiInfo(
        product_code=PRODUCT, product_version="2.4.1", upgrade_code=UPGRADE, per_user=True
    )


def test_a_product_code_the_file_contradicts_names_both() -> None:
    stated = MsiInfo(product_code="{11111111-2222-3333-4444-555555555555}", product_version="1")

    with pytest.raises(MsiError) as caught:
        checked_msi_info(TINY, stated)

    assert str(caught.value) == (
        "productCode: the intent says {11111111-2222-3333-4444-555555555555}, the MSI's"
        f" Property table says {PRODUCT}: correct package.msi (or the detection rule)"
    )


def test_intune_uninstalls_by_the_product_code_read_from_the_file(double: IntuneDouble) -> None:
    """The intent states no code: the uninstall command comes from the MSI's own table."""
    intent = load_intent("windows/google-chrome.yaml")
    intent["package"].pop("msi", None)
    intent["package"].pop("uninstallCommand", None)
    intent["package"]["detection"] = {
        "type": "file",
        "path": "%ProgramFiles%\\EUCORA Tiny",
        "fileOrFolderName": "tiny.exe",
    }

    seen = publish_with(double, intent, TINY)

    assert seen["app"]["uninstallCommandLine"] == f"msiexec /x {PRODUCT} /qn"


def test_intune_refuses_an_msi_whose_upgrade_code_the_intent_misstates(
    double: IntuneDouble,
) -> None:
    intent = load_intent("windows/google-chrome.yaml")
    wrong = "{C1DFDF69-5945-32F2-A35E-EE94C99C7CF4}"
    intent["package"]["msi"] = {"productCode": PRODUCT, "upgradeCode": wrong}

    with pytest.raises(PermanentConnectorError) as caught:
        publish_with(double, intent, TINY)

    assert f"upgradeCode: the intent says {wrong}, the MSI's Property table says {UPGRADE}" in (
        str(caught.value)
    )
    assert double.creates["app"] == 0


def test_the_built_intunewin_holds_the_msi_unchanged() -> None:
    built = intunewin.build({"tiny.msi": TINY}, "tiny.msi", msi=checked_msi_info(TINY, None))
    parsed = intunewin.parse(built.to_bytes())
    assert parsed.detection.msi is not None
    assert parsed.detection.msi.product_code == PRODUCT
    assert parsed.detection.msi.upgrade_code == UPGRADE
    assert intunewin.open_package(parsed) == {"tiny.msi": TINY}
