"""Settings: the only code that reads the environment.

Every secret ``NAME`` may also be given as ``NAME_FILE``, a path to read it from (as container
platforms mount secrets).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

DEFAULT_HOME = ".eucora"


class SettingsError(ValueError):
    """The environment asks for something impossible (an unreadable secret file...)."""


def read_secret(environ: Mapping[str, str], name: str) -> str | None:
    """Return a secret from ``NAME`` or from the file named by ``NAME_FILE``."""
    value = environ.get(name)
    if value:
        return value
    file_name = environ.get(f"{name}_FILE")
    if not file_name:
        return None
    try:
        return Path(file_name).read_text(encoding="utf-8").strip()
    except OSError as error:
        raise SettingsError(f"{name}_FILE: cannot read {file_name}: {error.strerror}") from error


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """What EUCORA needs from its environment."""

    home: Path

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Settings:
        """Build settings from environment variables, with the documented defaults."""
        return cls(home=Path(environ.get("EUCORA_HOME") or DEFAULT_HOME))
