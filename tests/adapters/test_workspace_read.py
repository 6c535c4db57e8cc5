"""Reading a working tree's files for ``eucora validate`` (``bot.adapters.workspace.read_file``)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from bot.adapters.workspace import _CHUNK, read_file, read_sources


@pytest.mark.parametrize("size", [0, 1, _CHUNK - 1, _CHUNK, _CHUNK + 1, 3 * _CHUNK + 5])
def test_every_byte_is_read_whatever_the_size(tmp_path: Path, size: int) -> None:
    """Files of one read, exactly one read, and several reads come back whole and unchanged
    (line ends included: no translation)."""
    raw = random.Random(size).randbytes(size).replace(b"\0", b"\r\n")[:size]
    path = tmp_path / "file.yaml"
    path.write_bytes(raw)
    assert read_file(str(path)) == raw


def test_a_file_that_cannot_be_read_raises_and_leaves_no_descriptor_open(tmp_path: Path) -> None:
    folder = tmp_path / "folder.yaml"
    folder.mkdir()
    before = len(list(Path("/proc/self/fd").iterdir()))
    for _ in range(50):
        with pytest.raises(IsADirectoryError):
            read_file(str(folder))
    assert len(list(Path("/proc/self/fd").iterdir())) == before


def test_sources_hold_the_bytes_of_each_file_in_order(tmp_path: Path) -> None:
    intents = tmp_path / "intents"
    intents.mkdir()
    (tmp_path / "eucora.yaml").write_bytes(b"apiVersion: eucora.dev/v1\n")
    big = b"a: " + b"x" * (2 * _CHUNK) + b"\n"
    (intents / "b.yaml").write_bytes(big)
    (intents / "a.yaml").write_bytes(b"")
    sources, problems = read_sources([str(tmp_path)])
    assert problems == []
    assert [(Path(s.path).name, s.raw) for s in sources] == [
        ("eucora.yaml", b"apiVersion: eucora.dev/v1\n"),
        ("a.yaml", b""),
        ("b.yaml", big),
    ]
