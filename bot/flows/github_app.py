"""Register EUCORA's GitHub App in one step: the flow behind ``eucora github-app create``.

Serves a page on loopback that hands the shipped manifest to GitHub, waits for GitHub's redirect,
converts its code into the App's credentials and stores them under ``EUCORA_HOME``, where
``eucora serve`` finds them when ``GITHUB_APP_ID`` and friends are unset.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot import resources
from bot.core.app_manifest import (
    AppRegistration,
    ManifestError,
    complete_manifest,
    done_page,
    error_page,
    parse_conversion,
    registration_url,
    start_page,
)
from bot.errors import ConfigError
from bot.ports import AppRegistrar

MANIFEST_FILE = "manifest.json"


def shipped_manifest() -> dict[str, Any]:
    """The manifest template shipped with EUCORA (``github-app/manifest.json``)."""
    path = resources.data_dir("github-app") / MANIFEST_FILE
    loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return loaded


@dataclass(frozen=True, slots=True, kw_only=True)
class AppSetup:
    """What to register, where, and where to keep the result."""

    home: Path
    public_url: str
    github_url: str = "https://github.com"
    api_url: str = "https://api.github.com"
    name: str = "EUCORA"
    org: str | None = None
    port: int = 0
    timeout_seconds: float = 3600.0  # GitHub's code lives one hour


@dataclass(frozen=True, slots=True)
class AppCreated:
    """The App that now exists, and the folder holding its credentials."""

    registration: AppRegistration
    folder: Path


class _Conversion:
    """Runs once, on GitHub's redirect: convert the code, store the credentials, keep the result."""

    def __init__(self, setup: AppSetup, registrar: AppRegistrar) -> None:
        self.setup = setup
        self.registrar = registrar
        self.created: AppCreated | None = None
        self.error: Exception | None = None

    def __call__(self, code: str) -> str:
        try:
            registration = parse_conversion(self.registrar.convert_code(self.setup.api_url, code))
            folder = self.registrar.store_registration(
                self.setup.home, registration, api_url=self.setup.api_url
            )
        except (ManifestError, ConfigError) as error:
            self.error = error
            return error_page(f"The App could not be set up: {error}")
        self.created = AppCreated(registration, folder)
        return done_page(registration)


def create_github_app(
    setup: AppSetup, *, on_ready: Callable[[str], None], registrar: AppRegistrar
) -> AppCreated:
    """Run the manifest flow; ``on_ready(url)`` is told the local page to open in a browser.

    ``registrar`` serves the page, converts GitHub's code and stores the credentials
    (``ManifestRegistrar``, built by ``eucora github-app create``).

    Raises ``ConfigError`` when an App is already stored, ``ManifestError`` for bad options,
    a refused conversion or no answer within ``timeout_seconds``.
    """
    if (existing := registrar.stored_app(setup.home)) is not None:
        raise ConfigError(f"a GitHub App is already stored in {existing}: move it away first")
    state = secrets.token_urlsafe(32)
    action_url = registration_url(setup.github_url, state, setup.org)
    conversion = _Conversion(setup, registrar)
    try:
        server = registrar.page(setup.port, state, conversion)
    except OSError as error:
        raise ManifestError(f"cannot listen on 127.0.0.1:{setup.port}: {error.strerror}") from None
    try:
        manifest = complete_manifest(
            shipped_manifest(),
            name=setup.name,
            public_url=setup.public_url,
            redirect_url=server.redirect_url,
        )
        server.start_page = start_page(action_url, manifest)
        server.start()
        on_ready(server.url)
        if not server.wait(setup.timeout_seconds):
            raise ManifestError(
                f"no answer from GitHub within {setup.timeout_seconds:g} seconds: run the command"
                " again"
            )
    finally:
        server.close()
    if conversion.error is not None:
        raise conversion.error
    assert conversion.created is not None  # noqa: S101 - set whenever no error was
    return conversion.created


__all__ = ["AppCreated", "AppSetup", "create_github_app", "shipped_manifest"]
