"""Settings: the only code that reads the environment.

Every secret ``NAME`` may also be given as ``NAME_FILE``, a path to read it from (as container
platforms mount secrets). Secrets are kept out of ``repr`` so they never reach a log.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_HOME = ".eucora"
DEFAULT_GITHUB_API_URL = "https://api.github.com"


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
    """What EUCORA needs from its environment (DESIGN.md, "Contracts")."""

    home: Path
    database_url: str
    evidence_dir: Path
    public_url: str | None = None
    broker_url: str | None = None
    signing_key: str | None = field(default=None, repr=False)
    github_api_url: str = DEFAULT_GITHUB_API_URL
    github_app_id: str | None = None
    github_private_key: str | None = field(default=None, repr=False)
    github_webhook_secret: str | None = field(default=None, repr=False)
    github_token: str | None = field(default=None, repr=False)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Settings:
        """Build settings from environment variables, with the documented defaults.

        ``EUCORA_HOME`` (default ``./.eucora``) holds the SQLite database, the evidence store and
        the keys unless ``EUCORA_DATABASE_URL`` / ``EUCORA_EVIDENCE_DIR`` point elsewhere.
        """
        home = Path(environ.get("EUCORA_HOME") or DEFAULT_HOME)
        return cls(
            home=home,
            database_url=environ.get("EUCORA_DATABASE_URL")
            or f"sqlite:///{(home / 'eucora.db').as_posix()}",
            evidence_dir=Path(environ.get("EUCORA_EVIDENCE_DIR") or home / "evidence"),
            public_url=environ.get("EUCORA_PUBLIC_URL") or None,
            broker_url=environ.get("EUCORA_BROKER_URL") or None,
            signing_key=read_secret(environ, "EUCORA_SIGNING_KEY"),
            github_api_url=(environ.get("GITHUB_API_URL") or DEFAULT_GITHUB_API_URL).rstrip("/"),
            github_app_id=environ.get("GITHUB_APP_ID") or None,
            github_private_key=read_secret(environ, "GITHUB_PRIVATE_KEY"),
            github_webhook_secret=read_secret(environ, "GITHUB_WEBHOOK_SECRET"),
            github_token=read_secret(environ, "GITHUB_TOKEN"),
        )
