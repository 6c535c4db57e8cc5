"""Pytest fixtures for the GitHub double (imported by ``tests/conftest.py``).

* ``github_app_key``: a session-wide RSA key pair (PEM private, PEM public) for the test app.
* ``github_double``: a started :class:`GitHubDouble` on 127.0.0.1; at teardown it is stopped and
  the test fails if any request or response broke GitHub's OpenAPI description.
* :func:`app_connector`: the adapter's ``GitHubAppConnector`` acting as the double's app, quick to
  give up (no write spacing, short backoff) so the adapter tests stay fast.
* ``github_env``: the environment the bot reads to act as the double's app
  (``GITHUB_API_URL``, ``GITHUB_APP_ID``, ``GITHUB_PRIVATE_KEY``, ``GITHUB_WEBHOOK_SECRET``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.adapters.github_connectors import GitHubAppConnector
from bot.doubles.github import GitHubDouble, generate_app_key


def app_connector(double: GitHubDouble, tmp_path: Path, **options: Any) -> GitHubAppConnector:
    """The connector acting as ``double``'s app, mirrors under ``tmp_path/home/mirrors``."""
    defaults: dict[str, Any] = {
        "seconds_between_writes": None,
        "backoff_factor": 0.01,
        "max_wait": 5.0,
    }
    return GitHubAppConnector(
        api_url=double.url,
        app_id=str(double.app.id),
        private_key=double.app.private_key_pem,
        mirrors_dir=tmp_path / "home" / "mirrors",
        **{**defaults, **options},
    )


@pytest.fixture(scope="session")
def github_app_key() -> tuple[str, str]:
    return generate_app_key()


@pytest.fixture
def github_double(tmp_path: Path, github_app_key: tuple[str, str]) -> Iterator[GitHubDouble]:
    private, public = github_app_key
    double = GitHubDouble(
        tmp_path / "github", private_key_pem=private, public_key_pem=public
    ).start()
    try:
        yield double
    finally:
        double.stop()
    assert double.violations == [], (
        "GitHub double saw requests or responses outside GitHub's description:\n"
        + "\n".join(double.violations)
    )


@pytest.fixture
def github_env(github_double: GitHubDouble) -> dict[str, str]:
    return {
        "GITHUB_API_URL": github_double.url,
        "GITHUB_APP_ID": str(github_double.app.id),
        "GITHUB_PRIVATE_KEY": github_double.app.private_key_pem,
        "GITHUB_WEBHOOK_SECRET": github_double.app.webhook_secret,
    }
