"""The App's credentials are stored readable by their owner only, whole or not at all."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from bot.adapters.app_credentials import store_registration, stored_app
from bot.core.app_manifest import AppRegistration
from bot.errors import ConfigError
from bot.settings import Settings, SettingsError

PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----\n"


WEBHOOK_SECRET, CLIENT_SECRET = "whsec", "csec"


def registration(webhook_secret: str | None = WEBHOOK_SECRET) -> AppRegistration:
    return AppRegistration(
        app_id=99,
        slug="eucora",
        name="EUCORA",
        owner="contoso",
        html_url="https://github.com/apps/eucora",
        client_id="Iv1.x",
        pem=PEM,
        webhook_secret=webhook_secret,
        client_secret=CLIENT_SECRET,
    )


def test_modes_hold_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        folder = store_registration(tmp_path / "home", registration(), api_url="https://api.x")
    finally:
        os.umask(old)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["app.json", "client-secret", "private-key.pem", "webhook-secret"]
    assert {stat.S_IMODE(p.stat().st_mode) for p in folder.iterdir()} == {0o600}
    assert [p.name for p in (tmp_path / "home").iterdir()] == ["github-app"]  # no staging left


def test_settings_read_the_stored_app(tmp_path: Path) -> None:
    store_registration(tmp_path, registration(webhook_secret=None), api_url="https://ghes.x/api/v3")
    settings = Settings.from_environ({"EUCORA_HOME": str(tmp_path)})
    assert settings.github_app_id == "99"
    assert settings.github_private_key == PEM.strip()
    assert settings.github_webhook_secret is None
    assert settings.github_api_url == "https://ghes.x/api/v3"
    explicit = Settings.from_environ(
        {"EUCORA_HOME": str(tmp_path), "GITHUB_API_URL": "https://api.github.com"}
    )
    assert explicit.github_api_url == "https://api.github.com"


def test_nothing_is_replaced(tmp_path: Path) -> None:
    store_registration(tmp_path, registration(), api_url="https://api.x")
    assert stored_app(tmp_path) == tmp_path / "github-app"
    with pytest.raises(ConfigError, match="already stored"):
        store_registration(tmp_path, registration(), api_url="https://api.x")
    other = tmp_path / "other"
    (other / "github-app").mkdir(parents=True)
    (other / "github-app" / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(ConfigError, match="cannot store the GitHub App"):
        store_registration(other, registration(), api_url="https://api.x")
    assert (other / "github-app" / "notes.txt").read_text(encoding="utf-8") == "mine"
    assert sorted(p.name for p in other.iterdir()) == ["github-app"]


def test_a_broken_stored_app_is_a_settings_error(tmp_path: Path) -> None:
    folder = tmp_path / "github-app"
    folder.mkdir()
    (folder / "app.json").write_text("{}", encoding="utf-8")
    with pytest.raises(SettingsError, match="no numeric id"):
        Settings.from_environ({"EUCORA_HOME": str(tmp_path)})
    (folder / "app.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(SettingsError, match="cannot read the stored GitHub App"):
        Settings.from_environ({"EUCORA_HOME": str(tmp_path)})
    assert (
        Settings.from_environ({"EUCORA_HOME": str(tmp_path), "GITHUB_APP_ID": "1"}).github_app_id
        == "1"
    )
