"""The loopback server under the Configuration Manager, Landscape and AWX doubles.

A double subclasses :class:`HttpDouble` and implements :meth:`HttpDouble.route`. The base class
runs a threaded stdlib HTTP server on ``127.0.0.1`` (port 0), serialises the handlers with one
lock (so the double's state needs no locking of its own), keeps the request log, the
``violations`` list (requests that do not match the vendor's description) and the ``counts`` of
creates and launches, and applies injected faults:

``throttle``  answer 429 with ``Retry-After`` (nothing applied)
``error``     answer 500 (nothing applied)
``hang``      apply the request, then stall past the client's timeout and close without answering
``drop``      apply the request, then close the connection without answering

``hang`` and ``drop`` apply first on purpose: "the job was launched but the response was lost" is
the case a connector must survive without launching twice.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal, Self
from urllib.parse import parse_qs, unquote, urlsplit

FaultKind = Literal["throttle", "error", "hang", "drop"]


@dataclass(frozen=True, slots=True)
class Request:
    """One request as a double sees it."""

    method: str
    path: str
    """Percent-decoded path, without the query string."""
    query: Mapping[str, list[str]]
    headers: Mapping[str, str]
    """Header names lower-cased."""
    body: bytes

    def json(self) -> Any:
        """The body as JSON (``None`` when empty); raises ``ValueError`` when it is not JSON."""
        return json.loads(self.body) if self.body else None

    def form(self) -> dict[str, list[str]]:
        """The body as ``application/x-www-form-urlencoded`` fields."""
        return parse_qs(self.body.decode("utf-8"), keep_blank_values=True)


@dataclass(slots=True)
class Response:
    """What a route answers."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class _Fault:
    kind: FaultKind
    remaining: int
    method: str | None
    path: str | None
    retry_after: int
    when: Callable[[Request], bool] | None = None


class HttpDouble:
    """A vendor API double on loopback: state, validation, counts and faults."""

    name = "double"

    def __init__(self, *, hang_seconds: float = 3.0) -> None:
        self.hang_seconds = hang_seconds
        self.violations: list[str] = []
        self.requests: list[tuple[str, str]] = []
        self.counts: Counter[str] = Counter()
        self._faults: list[_Fault] = []
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>`` once started."""
        if self._server is None:
            raise RuntimeError(f"{self.name} double is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> HttpDouble:
        """Listen on a free loopback port and serve in a daemon thread."""
        double = self

        class Handler(_Handler):
            owner = double

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        server.block_on_close = False
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, name=f"{self.name}-double", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release any hanging request."""
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- faults ----------------------------------------------------------------------------
    def inject(  # noqa: PLR0913 - what to inject and which requests it hits
        self,
        kind: FaultKind,
        *,
        times: int = 1,
        method: str | None = None,
        path: str | None = None,
        retry_after: int = 1,
        when: Callable[[Request], bool] | None = None,
    ) -> None:
        """Fault the next ``times`` matching requests.

        A request matches when its method is ``method``, its path contains ``path`` and
        ``when(request)`` is true (each test skipped when not given).
        """
        with self._lock:
            self._faults.append(_Fault(kind, times, method, path, retry_after, when))

    def _take_fault(self, request: Request) -> _Fault | None:
        for fault in self._faults:
            if fault.remaining <= 0:
                continue
            if fault.method and fault.method != request.method:
                continue
            if fault.path and fault.path not in request.path:
                continue
            if fault.when is not None and not fault.when(request):
                continue
            fault.remaining -= 1
            return fault
        return None

    # -- what subclasses use ---------------------------------------------------------------
    def violation(self, message: str) -> None:
        """Record a request that does not follow the vendor's description."""
        self.violations.append(message)

    def route(self, request: Request) -> Response:
        """Answer one request (subclasses)."""
        raise NotImplementedError

    # -- the server side -------------------------------------------------------------------
    def _serve(self, request: Request) -> tuple[Response | None, float]:
        """The response to write (``None``: close without one) and how long to stall first."""
        with self._lock:
            self.requests.append((request.method, request.path))
            fault = self._take_fault(request)
            if fault is not None and fault.kind == "throttle":
                return Response(
                    429, {"detail": "throttled"}, {"Retry-After": str(fault.retry_after)}
                ), 0.0
            if fault is not None and fault.kind == "error":
                return Response(500, {"detail": "injected server error"}), 0.0
            try:
                response = self.route(request)
            except Exception as error:  # noqa: BLE001 - a double bug must answer, not hang
                self.violation(f"{request.method} {request.path}: double failed: {error!r}")
                response = Response(500, {"detail": f"double failed: {error!r}"})
            if fault is not None and fault.kind == "drop":
                return None, 0.0
            if fault is not None and fault.kind == "hang":
                return None, self.hang_seconds
            return response, 0.0


class _Handler(BaseHTTPRequestHandler):
    owner: HttpDouble
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        """Keep test output quiet."""

    def _handle(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        request = Request(
            method=self.command,
            path=unquote(parts.path),
            query=parse_qs(parts.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
        )
        response, stall = self.owner._serve(request)  # noqa: SLF001 - the handler is the server
        if response is None:
            if stall:
                self.owner._stopping.wait(stall)  # noqa: SLF001
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        payload = b"" if response.body is None else json.dumps(response.body).encode()
        try:
            self.send_response(response.status)
            for name, value in response.headers.items():
                self.send_header(name, value)
            if payload:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except OSError:
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle  # noqa: N815 - stdlib names
