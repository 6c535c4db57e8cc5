"""Read an MSI's own properties (ProductCode, ProductVersion, UpgradeCode) from the file.

An MSI is an OLE compound file (read with ``olefile``). Its database tables are streams whose
names are compressed: the table marker U+4840, then the name's characters packed two to a code
point from a 64-letter alphabet (``0-9A-Za-z._``; U+3800 + a + 64·b for a pair, U+4800 + a for a
lone one). Every string in every table is an index into the string pool: ``_StringPool`` holds a
4-byte header (code page; bit 31 set when string indexes are 3 bytes wide instead of 2) and then
per string its length and reference count (2 bytes each; a zero length with a non-zero count
announces a string of 64 KiB or more, whose length is the next entry's two words, low word
first), and ``_StringData`` the strings one
after the other in the code page. Index 0 is the null string. ``Property`` has two string
columns, stored column after column: every row's ``Property`` index, then every row's ``Value``.

The format is documented by Microsoft (Windows Installer database, "Table and stream names") and
implemented independently by msitools (libmsi) and the Rust ``msi`` crate; this reads only what
the Property table needs.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import olefile

from connectors.intunewin import MsiInfo

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz._"
_TABLE_MARK = 0x4840
_PAIR_BASE, _SINGLE_BASE = 0x3800, 0x4800
_LONG_REFS = 0x8000_0000


class MsiError(ValueError):
    """The file is not an MSI EUCORA can read, or its tables are damaged."""


@dataclass(frozen=True, slots=True)
class MsiProperties:
    """What an MSI's Property table says of the product."""

    product_code: str
    product_version: str
    upgrade_code: str | None
    product_name: str | None = None
    manufacturer: str | None = None


def decode_stream_name(name: str) -> str:
    """A stream name as Windows Installer writes it, decoded (tables get a leading ``!``)."""
    out = []
    for char in name:
        point = ord(char)
        if point == _TABLE_MARK:
            out.append("!")
        elif _PAIR_BASE <= point < _SINGLE_BASE:
            packed = point - _PAIR_BASE
            out.append(_ALPHABET[packed & 0x3F] + _ALPHABET[(packed >> 6) & 0x3F])
        elif _SINGLE_BASE <= point < _TABLE_MARK:
            out.append(_ALPHABET[point - _SINGLE_BASE])
        else:
            out.append(char)
    return "".join(out)


def _streams(data: bytes) -> dict[str, bytes]:
    if not olefile.isOleFile(io.BytesIO(data)):
        raise MsiError("not an MSI: the file is not an OLE compound file")
    try:
        with olefile.OleFileIO(io.BytesIO(data)) as ole:
            return {
                decode_stream_name(entry[0]): ole.openstream(entry).read()
                for entry in ole.listdir(streams=True, storages=False)
                if len(entry) == 1
            }
    except (OSError, ValueError) as error:  # how olefile reports a damaged compound file
        raise MsiError(f"not a readable MSI: {error}") from None


def _string_pool(pool: bytes, data: bytes) -> tuple[list[str], int]:
    """The pool's strings (index 0 is the null string) and the width of a string index."""
    if len(pool) < 4:
        raise MsiError("the MSI's string pool has no header")
    header = int.from_bytes(pool[:4], "little")
    width = 3 if header & _LONG_REFS else 2
    codepage = header & ~_LONG_REFS
    encoding = "utf-8" if codepage == 65001 else f"cp{codepage}" if codepage else "cp1252"
    strings = [""]
    offset, position = 0, 4
    while position + 4 <= len(pool):
        length = int.from_bytes(pool[position : position + 2], "little")
        count = int.from_bytes(pool[position + 2 : position + 4], "little")
        position += 4
        if length == 0 and count != 0:  # a long string: its length fills the next entry
            if position + 4 > len(pool):
                raise MsiError("the MSI's string pool ends inside a long string's length")
            low = int.from_bytes(pool[position : position + 2], "little")
            length = low | int.from_bytes(pool[position + 2 : position + 4], "little") << 16
            position += 4
        if offset + length > len(data):
            raise MsiError("the MSI's string data is shorter than its pool says")
        try:
            strings.append(data[offset : offset + length].decode(encoding))
        except (LookupError, UnicodeDecodeError):
            raise MsiError(f"an MSI string is not in its code page {codepage}") from None
        offset += length
    return strings, width


def read_msi_properties(data: bytes) -> MsiProperties:
    """The product's codes and version from the MSI's Property table."""
    streams = _streams(data)
    missing = [n for n in ("!_StringPool", "!_StringData", "!Property") if n not in streams]
    if missing:
        raise MsiError(f"not an MSI database: no {', '.join(m[1:] for m in missing)} table")
    strings, width = _string_pool(streams["!_StringPool"], streams["!_StringData"])
    table = streams["!Property"]
    row = 2 * width
    if len(table) % row:
        raise MsiError("the MSI's Property table is not a whole number of rows")
    rows = len(table) // row

    def cell(column: int, index: int) -> str:
        start = (column * rows + index) * width
        ref = int.from_bytes(table[start : start + width], "little")
        if ref >= len(strings):
            raise MsiError(f"the MSI's Property table names string {ref}, beyond its pool")
        return strings[ref]

    properties = {cell(0, i): cell(1, i) for i in range(rows)}
    if not properties.get("ProductCode") or not properties.get("ProductVersion"):
        raise MsiError("the MSI's Property table has no ProductCode or ProductVersion")
    return MsiProperties(
        product_code=properties["ProductCode"],
        product_version=properties["ProductVersion"],
        upgrade_code=properties.get("UpgradeCode") or None,
        product_name=properties.get("ProductName") or None,
        manufacturer=properties.get("Manufacturer") or None,
    )


def disagreements(found: MsiProperties, stated: dict[str, str | None]) -> list[str]:
    """Each property the intent states that the MSI says otherwise, naming both values.

    GUIDs compare without regard to case (Windows Installer does); versions as written.
    """
    actual = {
        "productCode": found.product_code,
        "productVersion": found.product_version,
        "upgradeCode": found.upgrade_code,
    }
    out = []
    for key, value in stated.items():
        if value is None:
            continue
        have = actual.get(key)
        same = (have or "").upper() == value.upper() if key != "productVersion" else have == value
        if not same:
            out.append(f"{key}: the intent says {value}, the MSI's Property table says {have}")
    return out


def is_compound_file(data: bytes) -> bool:
    """Whether ``data`` starts as an OLE compound file (as every MSI does)."""
    return data[:8] == bytes(olefile.MAGIC)


def checked_msi_info(data: bytes, stated: MsiInfo | None) -> MsiInfo | None:
    """The MSI's codes read from the file, checked against what the intent states.

    ``stated`` is what the intent says (``package.msi``, an ``msiProductCode`` detection); a
    product or upgrade code it gives that the file's Property table contradicts is an
    :class:`MsiError` naming both. The version is the file's ``ProductVersion`` (which need not
    be the app's version: Chrome's MSI, for one, encodes it differently). A file that is not a
    compound file is taken on the intent's word, as before this reader existed.
    """
    if not is_compound_file(data):
        return stated
    found = read_msi_properties(data)
    claims: dict[str, str | None] = (
        {"productCode": stated.product_code, "upgradeCode": stated.upgrade_code} if stated else {}
    )
    problems = disagreements(found, claims)
    if problems:
        raise MsiError("; ".join(problems) + ": correct package.msi (or the detection rule)")
    return MsiInfo(
        product_code=found.product_code,
        product_version=found.product_version,
        upgrade_code=found.upgrade_code,
        per_user=stated.per_user if stated else False,
    )
