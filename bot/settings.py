"""Settings: the only code that reads the environment.

Every secret ``NAME`` may also be given as ``NAME_FILE``, a path to read it from (as container
platforms mount secrets). Secrets are kept out of ``repr`` so they never reach a log.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_HOME = ".eucora"
_SECRET_NAME = re.compile(
    r"\A(?:GITHUB|EUCORA)_[A-Z0-9_]*(?:SECRET|SECRET_PREVIOUS|PASSWORD|TOKEN|KEY|CREDENTIALS)\Z"
)
DEFAULT_GITHUB_API_URL = "https://api.github.com"
GITHUB_APP_DIR = "github-app"
"""Where ``eucora github-app create`` stores the App it registered, under ``EUCORA_HOME``."""
APP_FACTS_FILE = "app.json"
PRIVATE_KEY_FILE = "private-key.pem"
WEBHOOK_SECRET_FILE = "webhook-secret"  # noqa: S105 - a file name
CLIENT_SECRET_FILE = "client-secret"  # noqa: S105 - a file name


REPLAY_WINDOW_MAX = 7 * 86400.0
"""``EUCORA_REPLAY_WINDOW`` at most: GitHub Enterprise Server redelivers for up to 7 days."""


class SettingsError(ValueError):
    """The environment asks for something impossible (an unreadable secret file...)."""


@dataclass(frozen=True, slots=True)
class StoredApp:
    """The App ``eucora github-app create`` stored: defaults when GITHUB_APP_ID etc. are unset."""

    app_id: str | None = None
    api_url: str | None = None
    private_key: str | None = field(default=None, repr=False)
    webhook_secret: str | None = field(default=None, repr=False)

    @classmethod
    def read(cls, home: Path) -> StoredApp:
        """Read what is stored under ``home`` (nothing stored: all ``None``)."""
        folder = home / GITHUB_APP_DIR
        facts_file = folder / APP_FACTS_FILE
        if not facts_file.is_file():
            return cls()
        try:
            facts = json.loads(facts_file.read_text(encoding="utf-8"))
            key = _optional_text(folder / PRIVATE_KEY_FILE)
            secret = _optional_text(folder / WEBHOOK_SECRET_FILE)
        except (OSError, ValueError) as error:
            raise SettingsError(f"cannot read the stored GitHub App in {folder}: {error}") from None
        if not isinstance(facts, dict) or not isinstance(facts.get("id"), int):
            raise SettingsError(f"{facts_file}: not a stored GitHub App (no numeric id)")
        api_url = facts.get("api_url")
        return cls(
            app_id=str(facts["id"]),
            api_url=api_url if isinstance(api_url, str) and api_url else None,
            private_key=key,
            webhook_secret=secret,
        )

    def secrets(self) -> tuple[str, ...]:
        """The stored secret values, for redaction like the environment's."""
        return tuple(value for value in (self.private_key, self.webhook_secret) if value)


def _optional_text(path: Path) -> str | None:
    return path.read_text(encoding="utf-8").strip() if path.is_file() else None


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


def configured_secrets(environ: Mapping[str, str]) -> tuple[str, ...]:
    """Every secret value the environment holds (``*_SECRET``, ``*_TOKEN``, ``*_KEY``...).

    For redaction: whatever the name, a value given to EUCORA as a secret never reaches a log.
    """
    names = {name.removesuffix("_FILE") for name in environ}
    found = (read_secret(environ, name) for name in sorted(names) if _SECRET_NAME.match(name))
    return tuple(value for value in found if value)


def _seconds(
    environ: Mapping[str, str],
    name: str,
    default: float,
    *,
    minimum: float = 0.0,
    maximum: float = 60.0,
) -> float:
    text = environ.get(name)
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise SettingsError(f"{name}: {text!r} is not a number of seconds") from None
    if not minimum <= value <= maximum:
        raise SettingsError(f"{name}: {text!r} must be between {minimum:g} and {maximum:g} seconds")
    return value


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """What EUCORA needs from its environment (DESIGN.md, "Contracts")."""

    home: Path
    database_url: str
    evidence_dir: Path
    public_url: str | None = None
    broker_url: str | None = None
    signing_key: str | None = field(default=None, repr=False)
    audit_origin: str | None = None
    """``EUCORA_AUDIT_ORIGIN``: the name of the audit log in its signed checkpoints (a new log's
    default comes from ``EUCORA_PUBLIC_URL``'s host; ``bot.adapters.audit_keys.audit_origin``)."""
    github_api_url: str = DEFAULT_GITHUB_API_URL
    github_app_id: str | None = None
    github_private_key: str | None = field(default=None, repr=False)
    github_token: str | None = field(default=None, repr=False)
    github_write_interval: float = 1.0
    """``EUCORA_GITHUB_WRITE_INTERVAL``: seconds between content-creating GitHub requests.

    GitHub asks integrations to space writes by a second to stay clear of its secondary rate
    limits; a GitHub Enterprise Server without them may set 0."""
    github_webhook_secret: str | None = field(default=None, repr=False)
    github_webhook_secret_previous: str | None = field(default=None, repr=False)
    """The secret being rotated out: accepted until the rotation ends."""
    secret_values: tuple[str, ...] = field(default=(), repr=False)
    """Every configured secret's value, for redaction (``configured_secrets``)."""
    publish_lease_seconds: float = 900.0
    """``EUCORA_PUBLISH_LEASE_SECONDS``: how long a worker holds a claimed publication before the
    sweeper may give it to another (a worker that died); longer than the slowest publish."""
    inbox_lease_seconds: float = 60.0
    """``EUCORA_INBOX_LEASE_SECONDS``: how long a claimed webhook delivery stays with its worker
    without a heartbeat (renewed every third of it while the delivery runs): a killed worker's
    delivery, and the PR behind it, is taken over about this long after it died."""
    sweep_seconds: float = 15.0
    """``EUCORA_SWEEP_SECONDS``: how often the sweeper re-sends due and abandoned work."""
    replay_window: float = 300.0
    """``EUCORA_REPLAY_WINDOW``: seconds during which the same webhook body under a new delivery
    id is a replay, not processed (``bot.core.webhooks.is_replay``; 0 turns the check off)."""
    reconcile_interval: float = 300.0
    """``EUCORA_RECONCILE_INTERVAL``: seconds between the reconcile passes ``eucora serve``
    (embedded mode) and ``eucora worker`` run by themselves; 0 turns them off."""
    reconcile_lease_seconds: float = 60.0
    """``EUCORA_RECONCILE_LEASE_SECONDS``: how long the ``reconcile`` lease stays with a replica
    that died in its pass (renewed as the pass goes on): another replica's pass runs this long
    after it died."""
    crashpoint: str | None = None
    """``EUCORA_CRASHPOINT``: where the crash tests make the process kill itself."""
    planes: Mapping[str, str] = field(default_factory=dict, repr=False, hash=False, compare=False)
    """The ``EUCORA_*`` variables, for the plane settings (``connectors.registry``) to read."""

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Settings:
        """Build settings from environment variables, with the documented defaults.

        ``EUCORA_HOME`` (default ``./.eucora``) holds the SQLite database, the evidence store and
        the keys unless ``EUCORA_DATABASE_URL`` / ``EUCORA_EVIDENCE_DIR`` point elsewhere.
        """
        home = Path(environ.get("EUCORA_HOME") or DEFAULT_HOME)
        stored = StoredApp() if environ.get("GITHUB_APP_ID") else StoredApp.read(home)
        return cls(
            home=home,
            database_url=environ.get("EUCORA_DATABASE_URL")
            or f"sqlite:///{(home / 'eucora.db').as_posix()}",
            evidence_dir=Path(environ.get("EUCORA_EVIDENCE_DIR") or home / "evidence"),
            public_url=environ.get("EUCORA_PUBLIC_URL") or None,
            broker_url=environ.get("EUCORA_BROKER_URL") or None,
            signing_key=read_secret(environ, "EUCORA_SIGNING_KEY"),
            audit_origin=environ.get("EUCORA_AUDIT_ORIGIN") or None,
            github_api_url=(
                environ.get("GITHUB_API_URL") or stored.api_url or DEFAULT_GITHUB_API_URL
            ).rstrip("/"),
            github_app_id=environ.get("GITHUB_APP_ID") or stored.app_id,
            github_private_key=read_secret(environ, "GITHUB_PRIVATE_KEY") or stored.private_key,
            github_token=read_secret(environ, "GITHUB_TOKEN"),
            github_write_interval=_seconds(environ, "EUCORA_GITHUB_WRITE_INTERVAL", 1.0),
            github_webhook_secret=read_secret(environ, "GITHUB_WEBHOOK_SECRET")
            or stored.webhook_secret,
            github_webhook_secret_previous=read_secret(environ, "GITHUB_WEBHOOK_SECRET_PREVIOUS"),
            secret_values=configured_secrets(environ) + stored.secrets(),
            publish_lease_seconds=_seconds(
                environ, "EUCORA_PUBLISH_LEASE_SECONDS", 900.0, minimum=1.0, maximum=86400.0
            ),
            inbox_lease_seconds=_seconds(
                environ, "EUCORA_INBOX_LEASE_SECONDS", 60.0, minimum=1.0, maximum=3600.0
            ),
            sweep_seconds=_seconds(
                environ, "EUCORA_SWEEP_SECONDS", 15.0, minimum=0.1, maximum=3600.0
            ),
            replay_window=_seconds(
                environ, "EUCORA_REPLAY_WINDOW", 300.0, maximum=REPLAY_WINDOW_MAX
            ),
            reconcile_interval=_seconds(
                environ, "EUCORA_RECONCILE_INTERVAL", 300.0, maximum=86400.0
            ),
            reconcile_lease_seconds=_seconds(
                environ, "EUCORA_RECONCILE_LEASE_SECONDS", 60.0, minimum=1.0, maximum=3600.0
            ),
            crashpoint=environ.get("EUCORA_CRASHPOINT") or None,
            planes={k: v for k, v in environ.items() if k.startswith("EUCORA_")},
        )
