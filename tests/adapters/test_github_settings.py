"""GitHub settings: read from the environment (or *_FILE), secrets kept out of repr."""

from __future__ import annotations

from bot.settings import DEFAULT_GITHUB_API_URL, Settings


def test_github_settings_from_environment_and_files(tmp_path):
    key_file = tmp_path / "key.pem"
    key_file.write_text("-----BEGIN PRIVATE KEY-----\nMIIsecret\n-----END PRIVATE KEY-----\n")
    settings = Settings.from_environ(
        {
            "EUCORA_HOME": str(tmp_path),
            "GITHUB_API_URL": "http://127.0.0.1:9/api/v3/",
            "GITHUB_APP_ID": "1234",
            "GITHUB_PRIVATE_KEY_FILE": str(key_file),
            "GITHUB_WEBHOOK_SECRET": "hook-secret-value",
            "GITHUB_TOKEN": "ghs_tokenvalue0123456789",
        }
    )
    assert settings.github_api_url == "http://127.0.0.1:9/api/v3"
    assert settings.github_app_id == "1234"
    assert settings.github_private_key.startswith("-----BEGIN PRIVATE KEY-----")
    assert settings.github_webhook_secret == "hook-secret-value"  # noqa: S105
    assert settings.github_token == "ghs_tokenvalue0123456789"  # noqa: S105
    shown = repr(settings)
    for secret in ("MIIsecret", "hook-secret-value", "ghs_tokenvalue"):
        assert secret not in shown


def test_github_defaults(tmp_path):
    settings = Settings.from_environ({"EUCORA_HOME": str(tmp_path)})
    assert settings.github_api_url == DEFAULT_GITHUB_API_URL == "https://api.github.com"
    assert settings.github_app_id is None
    assert settings.github_private_key is None
    assert settings.github_webhook_secret is None
    assert settings.github_token is None


def test_the_write_interval_defaults_to_github_s_advice_and_is_bounded() -> None:
    from bot.settings import Settings, SettingsError

    assert Settings.from_environ({}).github_write_interval == 1.0
    assert Settings.from_environ({"EUCORA_GITHUB_WRITE_INTERVAL": "0"}).github_write_interval == 0
    for bad in ("soon", "-1", "120"):
        try:
            Settings.from_environ({"EUCORA_GITHUB_WRITE_INTERVAL": bad})
        except SettingsError as error:
            assert "EUCORA_GITHUB_WRITE_INTERVAL" in str(error)
        else:
            raise AssertionError(f"{bad!r} was accepted")
