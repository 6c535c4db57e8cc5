"""The web app: evidence pages by digest, and a health check.

``create_app`` is the only way in: nothing is built at import. The app reads evidence through the
:class:`~bot.ports.EvidenceSource` port and renders it with the pure core
(:func:`~bot.core.render.evidence_html.render_evidence_html`); it holds no state of its own.

Every response carries a strict Content-Security-Policy (the page has no scripts and loads
nothing), ``nosniff`` and ``no-referrer``. Errors are one line of plain text, never a traceback.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException
from werkzeug.routing import BaseConverter

from bot.core.render.evidence_html import render_evidence_html
from bot.ports import EvidenceSource

DIGEST_PATTERN = re.compile(r"^sha256:[0-9a-f]{64}\Z")
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; "
        "form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
BAD_DIGEST = "Bad digest: expected sha256: followed by 64 lower-case hex digits."
UNKNOWN_DIGEST = "No evidence is stored under this digest."
CORRUPT_EVIDENCE = "The stored evidence does not match its digest; it is not shown."
INTERNAL_ERROR = "Internal error: the evidence could not be shown."

RepositoryUrlFor = Callable[[str], str | None]


class _AnythingConverter(BaseConverter):
    """The rest of the path as it is, slashes and newlines included (``path`` stops at a newline).

    So that whatever follows ``/evidence/`` reaches the view and is refused with a reason (400)
    rather than falling through to a bare 404.
    """

    regex = "(?s:.+)"
    part_isolating = False


def _text(body: str, status: int) -> Response:
    return Response(body, status=status, mimetype="text/plain")


def _secure(response: Response) -> Response:
    response.headers.update(SECURITY_HEADERS)
    return response


def _http_error(error: HTTPException) -> Response:
    """Any HTTP error as one line of plain text (the status line), keeping headers like Allow."""
    response = _text(f"{error.code} {error.name}", error.code or 500)
    for name, value in error.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value
    return response


def _internal_error(_error: Exception) -> Response:
    """An unexpected failure: logged by Flask, shown as a plain message (no traceback)."""
    return _text(INTERNAL_ERROR, 500)


def create_app(
    *, evidence: EvidenceSource, repository_url_for: RepositoryUrlFor | None = None
) -> Flask:
    """Build the web app over an evidence source.

    ``repository_url_for`` maps a pack's ``repository`` (``owner/name``) to its web address
    (``https://github.com/owner/name``), so findings link to their file and line; without it,
    or when it returns None, they are plain text.
    """
    app = Flask(__name__)
    app.url_map.converters["anything"] = _AnythingConverter
    # Never the interactive debugger or a traceback, even if a test runner sets TESTING.
    app.config.update(DEBUG=False, PROPAGATE_EXCEPTIONS=False, TRAP_HTTP_EXCEPTIONS=False)

    @app.get("/healthz")
    def healthz() -> Response:
        return _text("ok", 200)

    @app.get("/evidence/<anything:digest>")
    def evidence_page(digest: str) -> Response:
        if not DIGEST_PATTERN.match(digest):
            return _text(BAD_DIGEST, 400)
        data = evidence.get(digest)
        if data is None:
            return _text(UNKNOWN_DIGEST, 404)
        if "sha256:" + hashlib.sha256(data).hexdigest() != digest:
            app.logger.error("evidence %s does not match its digest", digest)
            return _text(CORRUPT_EVIDENCE, 500)
        offered = ("text/html", "application/json")
        wanted = request.accept_mimetypes.best_match(offered, default="text/html")
        if wanted == "application/json":
            response = Response(data, status=200, mimetype="application/json")
        else:
            pack = json.loads(data)
            url = repository_url_for(str(pack["repository"])) if repository_url_for else None
            page = render_evidence_html(pack, digest=digest, repository_url=url)
            response = Response(page, status=200, mimetype="text/html")
        response.vary.add("Accept")
        return response

    app.after_request(_secure)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(500, _internal_error)
    return app
