"""Finding the files EUCORA ships: schemas, the default policy pack and the example repository.

An installed wheel carries them under ``bot/_data/``; a source checkout keeps them at the top of the
repository. This module is the one owner of that difference.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

_PACKAGE_DIR = Path(__file__).resolve().parent
_SHIPPED = _PACKAGE_DIR / "_data"
_CHECKOUT = _PACKAGE_DIR.parent

SCHEMA_BASE_URL = "https://eucora.dev/schemas/v1/"


def data_dir(name: str) -> Path:
    """Return the shipped data folder ``name`` (``schemas``, ``policies``, ``examples``)."""
    for base in (_SHIPPED, _CHECKOUT):
        candidate = base / name
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"EUCORA's {name}/ folder is missing from this installation")


def schemas_dir() -> Path:
    """The folder holding the JSON Schemas."""
    return data_dir("schemas")


def load_schema(file_name: str) -> dict[str, Any]:
    """Read one shipped JSON Schema."""
    loaded: dict[str, Any] = json.loads((schemas_dir() / file_name).read_text(encoding="utf-8"))
    return loaded


def example_repository() -> Path:
    """The example intents repository used by ``eucora demo``."""
    return data_dir("examples") / "intents-repo"
