"""A local double of GitHub for the tests: REST operations checked against GitHub's OpenAPI
description, GitHub App authentication, real git over smart HTTP, and injectable faults.

Tests use the ``github_double`` fixture (``tests/support/github_double_fixtures.py``).
"""

from bot.doubles.github.keys import generate_app_key
from bot.doubles.github.server import ApiError, GitHubDouble, Recorded

__all__ = ["ApiError", "GitHubDouble", "Recorded", "generate_app_key"]
