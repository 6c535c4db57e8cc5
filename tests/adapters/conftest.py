"""Adapter fixtures: a real Redis server for the queue tests (one per session)."""

from __future__ import annotations

from tests.support.redis import redis_server  # noqa: F401 - pytest finds fixtures by name
