"""The publication lease and the sweeper's interval: defaults, shortened for tests, bounded."""

from __future__ import annotations

import pytest

from bot.settings import Settings, SettingsError


def test_defaults_hold_a_lease_for_fifteen_minutes_and_sweep_every_fifteen_seconds() -> None:
    settings = Settings.from_environ({})
    assert settings.publish_lease_seconds == 900.0
    assert settings.sweep_seconds == 15.0


def test_the_webhook_replay_window_is_five_minutes_unless_set() -> None:
    assert Settings.from_environ({}).replay_window == 300.0
    assert Settings.from_environ({"EUCORA_REPLAY_WINDOW": "0"}).replay_window == 0.0
    assert Settings.from_environ({"EUCORA_REPLAY_WINDOW": "604800"}).replay_window == 604800.0


def test_both_can_be_shortened() -> None:
    settings = Settings.from_environ(
        {"EUCORA_PUBLISH_LEASE_SECONDS": "4", "EUCORA_SWEEP_SECONDS": "0.5"}
    )
    assert (settings.publish_lease_seconds, settings.sweep_seconds) == (4.0, 0.5)


@pytest.mark.parametrize(
    ("name", "bad", "said"),
    [
        ("EUCORA_PUBLISH_LEASE_SECONDS", "soon", "is not a number of seconds"),
        ("EUCORA_PUBLISH_LEASE_SECONDS", "0", "must be between 1 and 86400 seconds"),
        ("EUCORA_PUBLISH_LEASE_SECONDS", "100000", "must be between 1 and 86400 seconds"),
        ("EUCORA_SWEEP_SECONDS", "0", "must be between 0.1 and 3600 seconds"),
        ("EUCORA_SWEEP_SECONDS", "-1", "must be between 0.1 and 3600 seconds"),
        ("EUCORA_REPLAY_WINDOW", "-1", "must be between 0 and 604800 seconds"),
        ("EUCORA_REPLAY_WINDOW", "5m", "is not a number of seconds"),
    ],
)
def test_a_bad_value_is_one_line_naming_the_variable(name: str, bad: str, said: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_environ({name: bad})
    assert str(caught.value) == f"{name}: {bad!r} {said}"
