"""The web app: the GitHub webhook, evidence pages by digest, health, readiness and metrics.

``create_app`` is the only way in: nothing is built at import. The app reads evidence through the
:class:`~bot.ports.EvidenceSource` port and renders it with the pure core
(:func:`~bot.core.render.evidence_html.render_evidence_html`); it holds no state of its own.
With a :class:`WebhookIntake` it also serves ``POST /webhook`` (signature checked over the raw
body before anything is parsed, the delivery committed to the inbox before the 202), ``GET
/readyz`` and ``GET /metrics``.

``surface`` splits the routes between two listeners (``eucora serve --admin-listen``): the
public one serves only ``/webhook``, ``/healthz`` and ``/readyz`` (what GitHub and a load
balancer need); the admin one the evidence pages and ``/metrics`` (and the health checks). By
default one app serves everything, as before. :class:`ListenerDispatch` sends each request to
the app of the listening socket it arrived on (its local address, never a header).

Every response carries a strict Content-Security-Policy (the page has no scripts and loads
nothing), ``nosniff`` and ``no-referrer``. Errors are one line of plain text, never a traceback.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from flask import Flask, Response, request
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import HTTPException
from werkzeug.routing import BaseConverter

from bot.adapters.evidence_store import EvidenceStore, EvidenceStoreError, InvalidDigestError
from bot.adapters.inbox_worker import IntakeGate
from bot.adapters.logs import bound_delivery
from bot.adapters.metrics import CONTENT_TYPE, Metrics
from bot.adapters.storage.audit_log import AuditLog
from bot.adapters.storage.inbox import Inbox, Stored
from bot.core.audit_events import AuditEventType
from bot.core.evidence_verify import claimed_key_ids
from bot.core.pack_view import ChangePackView, CheckPackView, PackShapeError
from bot.core.render.evidence_html import (
    IndexEntry,
    PageContext,
    PullRequestRef,
    index_entries,
    render_evidence_html,
    render_evidence_index,
)
from bot.core.webhooks import (
    MAX_BODY_BYTES,
    SIGNATURE_HEADER,
    DeliveryKind,
    Routing,
    WebhookPayloadError,
    body_digest,
    parse_payload,
    route_delivery,
    signature_problem,
)
from bot.entrypoints.rollout_board import RolloutBoard, board_response
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
UNREADABLE_EVIDENCE = (
    "The stored evidence cannot be shown as a page: {error}. Its JSON is served to Accept:"
    " application/json."
)
INTERNAL_ERROR = "Internal error: the evidence could not be shown."
INTERNAL_FAILURE = "Internal error: the request could not be handled; it is logged."

RepositoryUrlFor = Callable[[str], str | None]
TOO_LARGE = f"The body is larger than GitHub's {MAX_BODY_BYTES // (1024 * 1024)} MB cap."
MISSING_DELIVERY = "Missing X-GitHub-Delivery header."
BAD_DELIVERY = "X-GitHub-Delivery must be 1-100 letters, digits, '-', '_' or '.'."
MISSING_EVENT = "Missing X-GitHub-Event header."
BAD_EVENT = "X-GitHub-Event must be 1-100 lower-case letters, digits or '_'."
CRASH_AFTER_COMMIT = "after_commit_before_response"
DATABASE_DOWN = "The database is unavailable: the delivery was not stored; redeliver it later."
_DELIVERY_ID = re.compile(r"\A[A-Za-z0-9._-]{1,100}\Z")
_EVENT = re.compile(r"\A[a-z0-9_]{1,100}\Z")
_OUTCOMES = {
    Stored.STORED: "accepted",
    Stored.DUPLICATE: "duplicate",
    Stored.REPLAY: "replay",
}
log = logging.getLogger("eucora.webhook")


@dataclass(frozen=True, slots=True, kw_only=True)
class WebhookIntake:
    """What ``POST /webhook``, ``/readyz`` and ``/metrics`` need (built by ``bot.bootstrap``)."""

    inbox: Inbox
    secrets: Sequence[str]
    """Webhook secrets accepted (the current one, and the previous during a rotation)."""
    metrics: Metrics
    clock: Callable[[], datetime]
    notify: Callable[[str], None]
    """Wakes the worker for a stored delivery (thread pool or Celery); errors are logged."""
    ready: Callable[[], str | None]
    """Why the service is not ready (database, schema, broker), or None."""
    audit: AuditLog | None = None
    crashpoint: str | None = None
    """``after_commit_before_response``: die (SIGKILL) right after the commit (crash tests)."""
    gate: IntakeGate | None = None
    """Counts the requests in flight, for the embedded drainer to yield to (no broker)."""


class Surface(StrEnum):
    """Which routes an app serves (see the module docstring)."""

    ALL = "all"
    """Everything on one listener (the default)."""
    PUBLIC = "public"
    """``/webhook``, ``/healthz``, ``/readyz``: what may face the internet."""
    ADMIN = "admin"
    """Evidence pages, ``/metrics``, ``/healthz``, ``/readyz``: for the private network."""


class ListenerDispatch:
    """A WSGI app that sends each request to the app of the listener it arrived on.

    ``admin_port``'s requests go to ``admin``, every other to ``public``. The listener is the
    local address of the accepted socket (gunicorn's ``gunicorn.socket``): a ``Host`` header
    cannot move a request from the public listener to the admin one. A request whose socket
    is unknown goes to ``public``.
    """

    def __init__(self, public: Flask, admin: Flask, *, admin_port: int) -> None:
        self.public = public
        self.admin = admin
        self._admin_port = admin_port

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        """Dispatch one request."""
        return self._app_for(environ)(environ, start_response)

    def _app_for(self, environ: dict[str, Any]) -> Flask:
        connection = environ.get("gunicorn.socket")
        try:
            port = connection.getsockname()[1] if connection is not None else None
        except (OSError, IndexError, TypeError):
            port = None
        return self.admin if port == self._admin_port else self.public


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
    if request.path.startswith("/evidence/"):
        return _text(INTERNAL_ERROR, 500)
    return _text(INTERNAL_FAILURE, 500)


def create_app(  # noqa: PLR0913 - keyword-only parts of the app
    *,
    evidence: EvidenceSource,
    repository_url_for: RepositoryUrlFor | None = None,
    intake: WebhookIntake | None = None,
    rollouts: RolloutBoard | None = None,
    surface: Surface = Surface.ALL,
    catalogue: EvidenceCatalogue | None = None,
) -> Flask:
    """Build the web app over an evidence source (and, with ``intake``, the webhook).

    ``surface``: every route (the default), the public ones or the admin ones.

    ``repository_url_for`` maps a pack's ``repository`` (``owner/name``) to its web address
    (``https://github.com/owner/name``), so findings link to their file and line; without it,
    or when it returns None, they are plain text. With ``rollouts`` it serves the rollout board
    (``GET /rollouts``). With ``catalogue`` it serves the index of packs (``GET /evidence/``)
    and each page names its pull request, its linked packs and its signature.
    """
    app = Flask(__name__)
    app.url_map.converters["anything"] = _AnythingConverter
    # Never the interactive debugger or a traceback, even if a test runner sets TESTING.
    app.config.update(DEBUG=False, PROPAGATE_EXCEPTIONS=False, TRAP_HTTP_EXCEPTIONS=False)

    @app.get("/healthz")
    def healthz() -> Response:
        return _text("ok", 200)

    if surface is not Surface.PUBLIC:
        _add_evidence_route(app, evidence, repository_url_for, catalogue)
        if rollouts is not None:

            @app.get("/rollouts")
            def rollout_board() -> Response:
                return board_response(rollouts)

    if intake is not None:
        _add_intake_routes(app, intake, surface)
    app.after_request(_secure)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(500, _internal_error)
    return app


_REPOSITORY = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+\Z")


def github_repository_urls(web_url: str) -> RepositoryUrlFor:
    """``owner/name`` to its address under GitHub's ``web_url``; anything else (a path) to None."""

    def url_for(repository: str) -> str | None:
        if not _REPOSITORY.match(repository) or ".." in repository:
            return None
        return f"{web_url.rstrip('/')}/{repository}"

    return url_for


class EvidenceCatalogue(Protocol):
    """What the server knows of its stored packs beside their bytes (the audit log, the store)."""

    def entries(self) -> Sequence[IndexEntry]:
        """Every stored pack, newest first."""
        ...

    def envelope(self, digest: str) -> bytes | None:
        """The DSSE envelope stored next to the pack, or None when it is unsigned."""
        ...


class AuditCatalogue:
    """The catalogue from the audit log's ``evidence.stored`` events and the evidence store."""

    def __init__(self, log: AuditLog, store: EvidenceStore) -> None:
        self._log = log
        self._store = store

    def entries(self) -> Sequence[IndexEntry]:
        """Every pack the log recorded, newest first, with its pull request's title and author.

        The title, author and address are what the App kept beside a check pack when it
        recorded it (``EvidenceStore.get_pull_request``); a change pack shows its check pack's.
        """
        return [self._described(entry) for entry in index_entries(self._log.events())]

    def _described(self, entry: IndexEntry) -> IndexEntry:
        ref = entry.pull_request
        if ref is None:
            return entry
        facts = self._pull_request(entry.digest)
        if facts is None and entry.kind == "ChangePack":
            check = _check_digest(self._stored(entry.digest))
            facts = self._pull_request(check) if check is not None else None
        if facts is None or facts.get("number") != ref.number:
            return entry
        described = replace(
            ref,
            title=_text_or_none(facts.get("title")),
            author=_text_or_none(facts.get("author")),
            url=_text_or_none(facts.get("url")) or ref.url,
        )
        return replace(entry, pull_request=described)

    def _pull_request(self, digest: str) -> dict[str, Any] | None:
        try:
            return self._store.get_pull_request(digest)
        except InvalidDigestError:
            return None

    def _stored(self, digest: str) -> bytes | None:
        try:
            return self._store.get(digest)
        except EvidenceStoreError:
            return None

    def envelope(self, digest: str) -> bytes | None:
        """The stored envelope's bytes, or None."""
        return self._store.get_envelope(digest)


def _add_evidence_route(
    app: Flask,
    evidence: EvidenceSource,
    repository_url_for: RepositoryUrlFor | None,
    catalogue: EvidenceCatalogue | None,
) -> None:
    if catalogue is not None:

        @app.get("/evidence/")
        def evidence_index() -> Response:
            entries = [_with_url(e, repository_url_for) for e in catalogue.entries()]
            return Response(render_evidence_index(entries), status=200, mimetype="text/html")

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
            try:
                url = repository_url_for(_repository(pack)) if repository_url_for else None
                context = (
                    _page_context(pack, digest, evidence, catalogue, url)
                    if catalogue is not None
                    else None
                )
                page = render_evidence_html(
                    pack, digest=digest, repository_url=url, context=context
                )
            except PackShapeError as error:
                return _text(UNREADABLE_EVIDENCE.format(error=error), 500)
            response = Response(page, status=200, mimetype="text/html")
        response.vary.add("Accept")
        return response


def _text_or_none(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _pull_request_url(repository_url: str | None, number: int) -> str | None:
    return f"{repository_url.rstrip('/')}/pull/{int(number)}" if repository_url else None


def _with_url(entry: IndexEntry, repository_url_for: RepositoryUrlFor | None) -> IndexEntry:
    """The entry with its pull request's address, when the repository has one."""
    ref = entry.pull_request
    if ref is None or ref.url is not None or repository_url_for is None:
        return entry
    url = _pull_request_url(repository_url_for(entry.repository), ref.number)
    return replace(entry, pull_request=replace(ref, url=url))


def _repository(pack: Any) -> str:
    """The repository a stored pack names, read through its view (:class:`PackShapeError`)."""
    kind = pack.get("kind") if isinstance(pack, dict) else None
    if kind == "ChangePack":
        return ChangePackView.of(pack).repository
    if kind == "RolloutPack":
        return str(pack["repository"])
    return CheckPackView.of(pack).repository  # as the page reads any other pack


def _page_context(
    pack: dict[str, Any],
    digest: str,
    evidence: EvidenceSource,
    catalogue: EvidenceCatalogue,
    repository_url: str | None,
) -> PageContext:
    """The pack's pull request, the packs linked to it and the key ids of its signature."""
    entries = catalogue.entries()
    entry = next((e for e in entries if e.digest == digest), None)
    number = pack.get("pullRequest")
    if not isinstance(number, int) and entry is not None and entry.pull_request is not None:
        number = entry.pull_request.number
    ref = None
    if isinstance(number, int):
        known = entry.pull_request if entry is not None else None
        ref = PullRequestRef(
            number=number,
            url=(known.url if known is not None else None)
            or _pull_request_url(repository_url, number),
            title=known.title if known is not None else None,
            author=known.author if known is not None else None,
        )
    related: tuple[tuple[str, str], ...] = ()
    if pack.get("kind") == "CheckPack":
        repository = _repository(pack)
        related = tuple(
            ("Change pack", e.digest)
            for e in entries
            if e.kind == "ChangePack"
            and e.repository == repository
            and _check_digest(evidence.get(e.digest)) == digest
        )
    envelope = catalogue.envelope(digest)
    return PageContext(
        pull_request=ref,
        related=related,
        key_ids=claimed_key_ids(_json_object(envelope)) if envelope is not None else (),
    )


def _check_digest(data: bytes | None) -> str | None:
    """A stored change pack's ``checkDigest``, or None when it cannot be read as one."""
    pack = _json_object(data)
    try:
        return ChangePackView.of(pack).check_digest if pack is not None else None
    except PackShapeError:
        return None


def _json_object(data: bytes | None) -> dict[str, Any] | None:
    try:
        value = json.loads(data) if data is not None else None
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


# --- the webhook -------------------------------------------------------------------------------


def _add_intake_routes(app: Flask, intake: WebhookIntake, surface: Surface) -> None:
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES

    if surface is not Surface.ADMIN:

        @app.post("/webhook")
        def webhook() -> Response:
            if intake.gate is None:
                return _receive(intake)
            with intake.gate.receiving():
                return _receive(intake)

    @app.get("/readyz")
    def readyz() -> Response:
        try:
            problem = intake.ready()
        except Exception as error:  # noqa: BLE001 - readiness reports, never raises
            problem = f"readiness check failed: {type(error).__name__}"
        if problem:
            log.warning("not ready: %s", problem)
            return _text(f"not ready: {problem}", 503)
        return _text("ready", 200)

    if surface is not Surface.PUBLIC:

        @app.get("/metrics")
        def metrics() -> Response:
            return Response(intake.metrics.exposition(), status=200, content_type=CONTENT_TYPE)


def _receive(intake: WebhookIntake) -> Response:
    """Verify, store (committed), then acknowledge one delivery."""
    if (request.content_length or 0) > MAX_BODY_BYTES:
        intake.metrics.delivery("unknown", "too_large")
        return _text(TOO_LARGE, 413)
    body = request.get_data(cache=False)
    problem = signature_problem(body, request.headers.get(SIGNATURE_HEADER), intake.secrets)
    if problem:
        intake.metrics.signature_failure()
        log.warning("webhook refused: %s", problem, extra={"remote": request.remote_addr})
        return _text(problem, 401)
    delivery_id = request.headers.get("X-GitHub-Delivery", "")
    event = request.headers.get("X-GitHub-Event", "")
    refusal = _header_problem(delivery_id, event)
    if refusal:
        intake.metrics.delivery(event if _EVENT.match(event) else "unknown", "bad_request")
        return _text(refusal, 400)
    with bound_delivery(delivery_id):
        return _accept(intake, delivery_id, event, body)


def _accept(intake: WebhookIntake, delivery_id: str, event: str, body: bytes) -> Response:
    """Parse, route and store an authenticated delivery; answer 200 (ping), 202 or 400."""
    try:
        payload = parse_payload(body)
    except WebhookPayloadError as error:
        intake.metrics.delivery(event, "malformed")
        log.warning("webhook refused: %s", error, extra={"event": event})
        return _text(str(error), 400)
    routing = route_delivery(event, payload)
    if routing.kind is DeliveryKind.PING:
        _record(intake, delivery_id, routing, "pong")
        return _text("pong", 200)
    try:
        stored = intake.inbox.store(
            delivery_id=delivery_id,
            routing=routing,
            body=body,
            body_sha256=body_digest(body),
            received_at=intake.clock(),
        )
    except DBAPIError as error:
        # Never 202 for what was not stored: GitHub records the failure and can redeliver.
        intake.metrics.delivery(routing.event, "unavailable")
        log.warning("webhook not stored: the database is unavailable (%s)", type(error).__name__)
        return _text(DATABASE_DOWN, 503)
    if intake.crashpoint == CRASH_AFTER_COMMIT:
        os.kill(os.getpid(), signal.SIGKILL)
    outcome = _OUTCOMES[stored]
    if stored is not Stored.STORED:
        intake.metrics.duplicate(outcome)
    elif routing.kind is DeliveryKind.IGNORED:
        outcome = "ignored"
    _record(intake, delivery_id, routing, outcome)
    if outcome == "accepted":
        try:
            intake.notify(delivery_id)
        except Exception:
            log.warning("could not wake a worker; the sweeper will", exc_info=True)
    return _text(outcome, 202)


def _header_problem(delivery_id: str, event: str) -> str | None:
    if not delivery_id:
        return MISSING_DELIVERY
    if not _DELIVERY_ID.match(delivery_id):
        return BAD_DELIVERY
    if not event:
        return MISSING_EVENT
    if not _EVENT.match(event):
        return BAD_EVENT
    return None


def _record(intake: WebhookIntake, delivery_id: str, routing: Routing, outcome: str) -> None:
    """Count, log and audit one delivery (never its body: only what routes it).

    A delivery that ends here (ping, duplicate, replay, ignored) is audited now; an accepted one
    when the worker settles it (``webhook.processed`` with its outcome), so the acknowledgement
    waits for one durable commit, the inbox row, and not two.
    """
    intake.metrics.delivery(routing.event, outcome)
    facts: dict[str, Any] = {
        "event": routing.event,
        "action": routing.action,
        "kind": routing.kind.value,
        "installation_id": routing.installation_id,
        "outcome": outcome,
    }
    if routing.reason:
        facts["reason"] = routing.reason
    log.info(
        "webhook %s", outcome, extra={**facts, "repository": routing.repository, "pr": routing.pr}
    )
    if intake.audit is None or outcome == "accepted":
        return
    try:
        intake.audit.append(
            type=AuditEventType.WEBHOOK_RECEIVED,
            actor="github",
            correlation_id=delivery_id,
            repository=routing.repository or "",
            pr=routing.pr,
            head_sha=routing.head_sha,
            payload=facts,
            time=intake.clock(),
        )
    except Exception:
        log.exception("could not append the audit event for this delivery")
