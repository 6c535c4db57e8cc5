"""Plane settings from the environment: which planes are configured, secrets from files."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.settings import SettingsError
from connectors.settings import (
    DEFAULT_TIMEOUT,
    AnsibleLocalSettings,
    AwxSettings,
    LandscapeSettings,
    SccmSettings,
    ansible_settings,
)


def test_unconfigured_planes_are_none() -> None:
    for cls in (SccmSettings, LandscapeSettings, AwxSettings, AnsibleLocalSettings):
        assert cls.from_environ({}) is None


def test_sccm_basic_or_bearer_and_secrets_from_files(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("from-a-file\n")
    settings = SccmSettings.from_environ(
        {
            "EUCORA_SCCM_URL": "https://cm01.contoso.com",
            "EUCORA_SCCM_USERNAME": "CONTOSO\\svc",
            "EUCORA_SCCM_PASSWORD_FILE": str(secret),
            "EUCORA_SCCM_TIMEOUT": "7.5",
        }
    )
    assert settings is not None
    assert (settings.password, settings.timeout) == ("from-a-file", 7.5)
    assert "from-a-file" not in repr(settings)
    token = SccmSettings.from_environ({"EUCORA_SCCM_URL": "u", "EUCORA_SCCM_TOKEN": "t0k"})
    assert token is not None
    assert token.token == "t0k"  # noqa: S105
    assert token.timeout == DEFAULT_TIMEOUT
    with pytest.raises(SettingsError, match="neither EUCORA_SCCM_TOKEN nor"):
        SccmSettings.from_environ({"EUCORA_SCCM_URL": "u", "EUCORA_SCCM_USERNAME": "x"})


@pytest.mark.parametrize("raw", ["soon", "0", "-1"])
def test_bad_timeouts_say_which_variable(raw: str) -> None:
    with pytest.raises(SettingsError, match="EUCORA_SCCM_TIMEOUT"):
        SccmSettings.from_environ(
            {"EUCORA_SCCM_URL": "u", "EUCORA_SCCM_TOKEN": "t", "EUCORA_SCCM_TIMEOUT": raw}
        )


def test_landscape_needs_key_and_secret() -> None:
    settings = LandscapeSettings.from_environ(
        {
            "EUCORA_LANDSCAPE_URL": "https://landscape.contoso.com",
            "EUCORA_LANDSCAPE_KEY": "K",
            "EUCORA_LANDSCAPE_SECRET": "S3CRET",
            "EUCORA_LANDSCAPE_SCRIPT_USER": "landscape",
        }
    )
    assert settings is not None
    assert (settings.key, settings.script_user) == ("K", "landscape")
    assert "S3CRET" not in repr(settings)
    with pytest.raises(SettingsError, match="EUCORA_LANDSCAPE_SECRET is not"):
        LandscapeSettings.from_environ({"EUCORA_LANDSCAPE_URL": "u", "EUCORA_LANDSCAPE_KEY": "K"})


def test_awx_token_prefix_and_organization() -> None:
    settings = AwxSettings.from_environ(
        {
            "EUCORA_AWX_URL": "https://aap.contoso.com",
            "EUCORA_AWX_TOKEN": "tok",
            "EUCORA_AWX_API_PREFIX": "/api/controller/v2/",
            "EUCORA_AWX_ORGANIZATION": "Contoso",
        }
    )
    assert settings is not None
    assert (settings.api_prefix, settings.organization) == ("/api/controller/v2", "Contoso")
    assert "tok" not in repr(settings)
    with pytest.raises(SettingsError, match="EUCORA_AWX_TOKEN is not"):
        AwxSettings.from_environ({"EUCORA_AWX_URL": "u"})


def test_ansible_local_mode(tmp_path: Path) -> None:
    settings = AnsibleLocalSettings.from_environ(
        {
            "EUCORA_ANSIBLE_PLAYBOOK_DIR": str(tmp_path),
            "EUCORA_HOME": str(tmp_path / "home"),
            "EUCORA_ANSIBLE_EXTRA_VARS": '{"eucora_marker_dir": "/tmp/m", "n": 1}',
            "EUCORA_ANSIBLE_INVENTORY": str(tmp_path / "hosts.yml"),
        }
    )
    assert settings is not None
    assert settings.data_dir == tmp_path / "home" / "ansible-runner"
    assert settings.extra_vars == {"eucora_marker_dir": "/tmp/m", "n": "1"}
    assert settings.inventory == tmp_path / "hosts.yml"
    with pytest.raises(SettingsError, match=r"not JSON \(line 1, column 2\)"):
        AnsibleLocalSettings.from_environ(
            {"EUCORA_ANSIBLE_PLAYBOOK_DIR": "x", "EUCORA_ANSIBLE_EXTRA_VARS": "{oops"}
        )
    with pytest.raises(SettingsError, match="must be a JSON object"):
        AnsibleLocalSettings.from_environ(
            {"EUCORA_ANSIBLE_PLAYBOOK_DIR": "x", "EUCORA_ANSIBLE_EXTRA_VARS": "[1]"}
        )


def test_ansible_is_a_controller_before_local_mode_and_reads_both(tmp_path: Path) -> None:
    local = {"EUCORA_ANSIBLE_PLAYBOOK_DIR": str(tmp_path), "EUCORA_HOME": str(tmp_path)}
    controller = {"EUCORA_AWX_URL": "https://awx.contoso.com", "EUCORA_AWX_TOKEN": "tok"}
    assert ansible_settings({}) is None
    assert isinstance(ansible_settings(local), AnsibleLocalSettings)
    assert isinstance(ansible_settings({**local, **controller}), AwxSettings)
    # A bad local setting is an error even when the controller wins, as before the profiles.
    with pytest.raises(SettingsError, match="EUCORA_ANSIBLE_EXTRA_VARS"):
        ansible_settings({**local, **controller, "EUCORA_ANSIBLE_EXTRA_VARS": "[1]"})
