"""Shared fixtures: the repository's own example data and validators built from the shipped schemas."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

from bot.catalog import build_document_validator
from bot.core.documents import DocumentValidator
from tests.support.github_double_fixtures import (  # noqa: F401 (fixtures for every test)
    github_app_key,
    github_double,
    github_env,
)

# 200 examples per property in the suite; HYPOTHESIS_PROFILE=thorough for 5,000 before changing a guard.
settings.register_profile("default", max_examples=200, deadline=None)
settings.register_profile("thorough", max_examples=5000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


@pytest.fixture(scope="session")
def validator() -> DocumentValidator:
    """The validator as the CLI builds it (fast path on)."""
    return build_document_validator()


@pytest.fixture(scope="session")
def reference_validator() -> DocumentValidator:
    """The same validator forced down the reference path."""
    return build_document_validator(fast_path=False)
