"""Storing a registered GitHub App's credentials under ``EUCORA_HOME``, readable by the owner only.

The layout is the one ``bot.settings.StoredApp`` reads back: a folder (mode 0700) holding
``app.json`` (the public facts) and one file per secret (mode 0600), each created new with its
mode set at creation and moved into place whole, so no other user ever sees a byte of a key.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from bot.core.app_manifest import AppRegistration
from bot.errors import ConfigError
from bot.settings import (
    APP_FACTS_FILE,
    CLIENT_SECRET_FILE,
    GITHUB_APP_DIR,
    PRIVATE_KEY_FILE,
    WEBHOOK_SECRET_FILE,
)

FOLDER_MODE = 0o700
FILE_MODE = 0o600


def app_folder(home: Path) -> Path:
    """The folder the App's credentials live in."""
    return home / GITHUB_APP_DIR


def stored_app(home: Path) -> Path | None:
    """The folder of an App already stored under ``home``, or None."""
    folder = app_folder(home)
    return folder if (folder / APP_FACTS_FILE).exists() else None


def _write_private(folder: Path, name: str, text: str) -> None:
    descriptor = os.open(folder / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
        stream.write(text)
        stream.flush()
        os.fsync(stream.fileno())
    (folder / name).chmod(FILE_MODE)  # whatever the umask


def store_registration(home: Path, registration: AppRegistration, *, api_url: str) -> Path:
    """Write the App's facts and secrets under ``home``; return the folder.

    Refuses to replace an App already stored (its key would be lost). The files are written in a
    private temporary folder beside the target and renamed into place in one step.
    """
    target = app_folder(home)
    if stored_app(home) is not None:
        raise ConfigError(f"a GitHub App is already stored in {target}: move it away first")
    try:
        home.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".github-app-", dir=home))  # created 0700
        try:
            staging.chmod(FOLDER_MODE)
            facts = {**registration.public_facts(), "api_url": api_url}
            _write_private(staging, PRIVATE_KEY_FILE, registration.pem)
            _write_private(staging, CLIENT_SECRET_FILE, registration.client_secret + "\n")
            if registration.webhook_secret is not None:
                _write_private(staging, WEBHOOK_SECRET_FILE, registration.webhook_secret + "\n")
            _write_private(
                staging, APP_FACTS_FILE, json.dumps(facts, indent=2, sort_keys=True) + "\n"
            )
            if target.exists():
                target.rmdir()  # an empty folder left by hand; anything in it stops us here
            staging.rename(target)
        finally:
            if staging.exists():
                shutil.rmtree(staging)
    except OSError as error:
        raise ConfigError(f"cannot store the GitHub App in {target}: {error.strerror}") from None
    return target
