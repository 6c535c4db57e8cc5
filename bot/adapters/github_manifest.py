"""The two outside things of GitHub's manifest flow: a page served on loopback, and the conversion.

``ManifestPageServer`` serves the form that hands the manifest to GitHub and receives GitHub's
redirect with the code; ``convert_manifest_code`` exchanges the code for the App's credentials
(``POST /app-manifests/{code}/conversions``, no authentication: the code is the proof).
"""

from __future__ import annotations

import hmac
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from bot import __version__
from bot.adapters.app_credentials import store_registration, stored_app
from bot.core.app_manifest import AppRegistration, ManifestError, conversion_path, error_page

CONVERSION_TIMEOUT_SECONDS = 30
ANSWER_MAX_BYTES = 1024 * 1024


def convert_manifest_code(api_url: str, code: str) -> Any:
    """GitHub's JSON answer to the conversion of ``code`` (raises ManifestError when refused)."""
    url = api_url.rstrip("/") + conversion_path(code)
    request = urllib.request.Request(  # noqa: S310 - the URL is GITHUB_API_URL, http(s) only
        url,
        method="POST",
        data=b"",
        headers={
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
            "User-Agent": f"eucora/{__version__}",
        },
    )
    if urlsplit(url).scheme not in {"http", "https"}:
        raise ManifestError(f"GITHUB_API_URL {api_url!r} is not an http(s) URL")
    try:
        with urllib.request.urlopen(request, timeout=CONVERSION_TIMEOUT_SECONDS) as answer:  # noqa: S310
            body = answer.read(ANSWER_MAX_BYTES + 1)
    except urllib.error.HTTPError as error:
        why = {
            404: "the code is unknown, already used or more than an hour old",
            422: "GitHub refused the manifest",
        }.get(error.code, "GitHub refused the conversion")
        raise ManifestError(f"{why} (HTTP {error.code} from {api_url})") from None
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise ManifestError(f"cannot reach {api_url}: {reason}") from None
    if len(body) > ANSWER_MAX_BYTES:
        raise ManifestError("GitHub's answer to the conversion is too large")
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ManifestError("GitHub's answer to the conversion is not JSON") from None


class ManifestPageServer:
    """A one-use HTTP server on 127.0.0.1: the start page at ``/``, GitHub's redirect after it.

    ``on_code(code)`` runs for the first redirect whose ``state`` matches and returns the page to
    show; after it, :meth:`wait` returns. Requests are not logged (the code is a credential
    until it is used), and only ``Host`` names of loopback are served (no DNS rebinding).
    """

    def __init__(self, port: int, state: str, on_code: Callable[[str], str]) -> None:
        self._state = state
        self._on_code = on_code
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._handled = False
        self.start_page = ""
        self._server = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """The start page's address."""
        return f"http://127.0.0.1:{self.port}/"

    @property
    def redirect_url(self) -> str:
        """Where GitHub sends the person back with the code."""
        return f"http://127.0.0.1:{self.port}/callback"

    def start(self) -> None:
        """Serve in a background thread."""
        self._thread.start()

    def wait(self, timeout: float) -> bool:
        """Block until a redirect was handled (True) or ``timeout`` seconds passed (False)."""
        return self._done.wait(timeout)

    def close(self) -> None:
        """Stop serving and release the port."""
        if self._thread.is_alive():  # shutdown() waits for a serve_forever that never ran
            self._server.shutdown()
        self._server.server_close()

    def _callback(self, query: str) -> tuple[HTTPStatus, str, bool]:
        params = parse_qs(query)
        state = (params.get("state") or [""])[0]
        code = (params.get("code") or [""])[0]
        if not hmac.compare_digest(state.encode(), self._state.encode()):
            page = error_page("This answer is not for the App being created here (wrong state).")
            return HTTPStatus.BAD_REQUEST, page, False
        with self._lock:
            if self._handled:
                page = error_page("This App has already been created.")
                return HTTPStatus.CONFLICT, page, False
            self._handled = True
            try:
                page = self._on_code(code)
            except BaseException:
                self._done.set()
                raise
        return HTTPStatus.OK, page, True

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            server_version = "eucora"
            sys_version = ""

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                """Log nothing: the callback's query holds the code."""

            def do_GET(self) -> None:
                host = (self.headers.get("Host") or "").rsplit(":", 1)[0]
                if host not in {"127.0.0.1", "localhost"}:
                    self._send(HTTPStatus.FORBIDDEN, error_page("Use http://127.0.0.1/."))
                    return
                path, _, query = self.path.partition("?")
                if path == "/":
                    self._send(HTTPStatus.OK, server.start_page)
                elif path == "/callback":
                    status, page, finished = server._callback(query)
                    try:
                        self._send(status, page)
                    finally:
                        if finished:  # the page is out: the command may stop the server
                            server._done.set()
                else:
                    self._send(HTTPStatus.NOT_FOUND, error_page("Nothing here."))

            def _send(self, status: HTTPStatus, page: str) -> None:
                body = page.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.send_header("Referrer-Policy", "no-referrer")
                self.send_header("X-Content-Type-Options", "nosniff")
                self.send_header(
                    "Content-Security-Policy",
                    "default-src 'none'; style-src 'unsafe-inline'; form-action https: http:",
                )
                self.end_headers()
                self.wfile.write(body)

        return Handler


class ManifestRegistrar:
    """``bot.ports.AppRegistrar``: this module's page and conversion, and the credentials folder."""

    def stored_app(self, home: Path) -> Path | None:
        """The folder of an App already stored under ``home``, or ``None``."""
        return stored_app(home)

    def store_registration(
        self, home: Path, registration: AppRegistration, *, api_url: str
    ) -> Path:
        """Store the App's credentials under ``home``; return the folder."""
        return store_registration(home, registration, api_url=api_url)

    def convert_code(self, api_url: str, code: str) -> Any:
        """GitHub's JSON answer to the conversion of ``code``."""
        return convert_manifest_code(api_url, code)

    def page(self, port: int, state: str, on_code: Callable[[str], str]) -> ManifestPageServer:
        """A :class:`ManifestPageServer` listening on ``127.0.0.1:port``."""
        return ManifestPageServer(port, state, on_code)
