"""``eucora serve``: the web app under gunicorn (threads), never Flask's development server.

Today the app serves the evidence pages and ``/healthz``; the webhook, readiness and metrics
endpoints arrive with the GitHub App work and are served the same way.
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication

from bot.adapters.evidence_store import EvidenceNotFoundError, EvidenceStore


class StoreSource:
    """The evidence store as the web app's ``EvidenceSource``: unknown digests are ``None``."""

    def __init__(self, store: EvidenceStore) -> None:
        self._store = store

    def get(self, digest: str) -> bytes | None:
        """The stored pack's canonical bytes (re-hashed on read), or ``None``."""
        try:
            return self._store.get(digest)
        except EvidenceNotFoundError:
            return None


class GunicornServer(BaseApplication):  # type: ignore[misc]
    """Run a Flask app in gunicorn's threaded workers with explicit settings (no config files)."""

    def __init__(self, app: Flask, options: dict[str, Any]) -> None:
        self._app = app
        self._options = options
        super().__init__()

    def load_config(self) -> None:
        """Apply our options, nothing from the command line or the environment."""
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        """The WSGI application."""
        return self._app


def gunicorn_options(host: str, port: int, workers: int, threads: int) -> dict[str, Any]:
    """Gunicorn settings: the gthread worker (a slow client does not block a worker)."""
    return {
        "bind": f"{host}:{port}",
        "workers": workers,
        "threads": threads,
        "worker_class": "gthread",
        "accesslog": "-",
        "errorlog": "-",
        "timeout": 60,
        "graceful_timeout": 10,
    }
