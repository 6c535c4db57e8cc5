"""A local double of GitHub for the tests: REST operations checked against GitHub's OpenAPI
description, GitHub App authentication, real git over smart HTTP, and injectable faults.

Use the ``github_double`` fixture (``fixtures.py``, registered in ``tests/conftest.py``).
"""

from tests.support.github_double.server import ApiError, GitHubDouble, Recorded

__all__ = ["ApiError", "GitHubDouble", "Recorded"]
