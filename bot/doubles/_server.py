"""What every vendor double shares: a threaded loopback server, auth tokens, faults, violations.

A double is a WSGI app served by werkzeug on ``127.0.0.1`` port 0 in a daemon thread (plain HTTP,
or HTTPS with a throw-away CA from trustme when the client insists on TLS, as MSAL does). It
records every request (so a test can say "plan sent no write"), counts creates per kind (so a test
can say "exactly one"), and writes each departure from the vendor's published description into
:attr:`HttpDouble.violations` instead of failing silently.

Faults are armed per path pattern for the next N matching requests:

* ``"429"`` answers Too Many Requests with ``Retry-After``; ``"500"`` a server error;
* ``"hang"`` holds the request past any sane client timeout (until the double stops);
  ``"hang-after"`` applies it first, then holds the answer (the plane that times out after
  creating the object);
* ``"drop"`` *applies* the request, then closes the connection without answering (the "create
  succeeded, response lost" case every connector has to survive);
* ``"stale"`` answers a lookup as if the object did not exist yet (a replica that lags, or a
  concurrent creator), so the next create meets the plane's duplicate-name answer.

:meth:`HttpDouble.offline` is the plane's outage: for a while (or for the next N connections)
every connection is closed as soon as its request arrives, before anything is applied or
answered (a plane, or the network to it, dropping connections); :attr:`HttpDouble.refused`
counts them.
"""

from __future__ import annotations

import re
import secrets
import socket
import ssl
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, NoReturn, Self

import trustme
from werkzeug.http import http_date
from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler
from werkzeug.wrappers import Request, Response

from bot.doubles._outcomes import Clock, DeviceOutcome, GroupOutcomes, OutcomeBook, real_clock

FaultKind = Literal["429", "500", "hang", "hang-after", "drop", "stale"]

HANG_SECONDS = 60.0
"""How long a hung request is held at most (stopping the double releases it at once)."""


class _ResponseDroppedError(ConnectionAbortedError):
    """Raised after the double closed the socket on purpose; werkzeug treats it as a drop."""


class _QuietHandler(WSGIRequestHandler):
    """No access log on stderr: tests read :attr:`HttpDouble.requests` instead."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Skip the access log line."""

    def date_time_string(self, timestamp: float | None = None) -> str:
        """The ``Date`` header from the double's plane clock (a test may drive it)."""
        clock = getattr(self.server, "plane_clock", None)
        if timestamp is None and clock is not None:
            return http_date(clock())
        return super().date_time_string(timestamp)


@dataclass(slots=True)
class Fault:
    """One armed fault: ``kind`` for the next ``remaining`` requests matching the pattern."""

    kind: FaultKind
    pattern: re.Pattern[str]
    method: str | None
    remaining: int
    retry_after: int = 1
    when: Callable[[Request], bool] | None = None
    """Also required to match, when given (e.g. one Landscape action on the single ``/api/``)."""


@dataclass(frozen=True, slots=True)
class Seen:
    """One request the double received (method, path, query string)."""

    method: str
    path: str
    query: str


class HttpDouble:
    """Base of the vendor doubles; subclasses implement :meth:`handle`."""

    plane = "double"

    def __init__(self, *, tls: bool = False) -> None:
        self.violations: list[str] = []
        self.creates: Counter[str] = Counter()
        self.requests: list[Seen] = []
        self.tokens: set[str] = set()
        self.lock = threading.RLock()
        self._faults: list[Fault] = []
        self._stopping = threading.Event()
        self._tls = tls
        self._server: ThreadedWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._ca_dir: tempfile.TemporaryDirectory[str] | None = None
        self.ca_bundle: str | None = None
        """PEM file of the CA that signed the double's certificate (HTTPS doubles only)."""
        self.clock: Clock = real_clock
        """The plane's own clock (its ``Date`` header, its timestamps); a test may drive it."""
        self.outcomes = OutcomeBook(lambda: self.clock)
        self.refused = 0
        """Requests whose connection was closed unanswered while the double was offline."""
        self._offline_until = 0.0
        self._refusals_left: int | None = None

    # -- life cycle -------------------------------------------------------------------------

    def start(self) -> Self:
        """Serve on a free loopback port in a daemon thread."""
        context = self._tls_context() if self._tls else None
        self._server = ThreadedWSGIServer(
            "127.0.0.1", 0, self._wsgi, handler=_QuietHandler, ssl_context=context
        )
        self._server.daemon_threads = True
        self._server.plane_clock = lambda: self.clock()  # type: ignore[attr-defined]  # noqa: PLW0108 - the clock may be replaced later
        self._thread = threading.Thread(
            target=self._server.serve_forever, name=f"{self.plane}-double", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, release hung requests and remove the throw-away CA."""
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._ca_dir is not None:
            self._ca_dir.cleanup()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Base URL of the double (``http://127.0.0.1:PORT`` or ``https://``)."""
        if self._server is None:
            raise RuntimeError("the double is not started")
        scheme = "https" if self._tls else "http"
        return f"{scheme}://127.0.0.1:{self._server.server_port}"

    def _tls_context(self) -> ssl.SSLContext:
        authority = trustme.CA()
        self._ca_dir = tempfile.TemporaryDirectory(prefix=f"eucora-{self.plane}-ca-")
        bundle = Path(self._ca_dir.name) / "ca.pem"
        authority.cert_pem.write_to_path(str(bundle))
        self.ca_bundle = str(bundle)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        authority.issue_cert("127.0.0.1", "localhost").configure_cert(context)
        return context

    # -- test controls -------------------------------------------------------------------------

    def inject(  # noqa: PLR0913 - what to inject and which requests it hits
        self,
        kind: FaultKind,
        path: str,
        *,
        times: int = 1,
        method: str | None = None,
        retry_after: int = 1,
        when: Callable[[Request], bool] | None = None,
    ) -> None:
        """Arm a fault for the next ``times`` requests whose path matches the regex ``path``.

        ``when``, if given, must also be true of the request (e.g. one Landscape action).
        """
        with self.lock:
            self._faults.append(
                Fault(kind, re.compile(path), method and method.upper(), times, retry_after, when)
            )

    def offline(self, seconds: float, *, refusals: int | None = None) -> None:
        """Close every connection unanswered, applying nothing, for the next ``seconds``.

        With ``refusals``, the outage also ends once that many connections have been closed.
        """
        with self.lock:
            self._offline_until = time.monotonic() + seconds
            self._refusals_left = refusals

    def set_outcomes(  # noqa: PLR0913 - the counts of one group, plus when
        self,
        group: str,
        *,
        installed: int = 0,
        failed: int = 0,
        pending: int = 0,
        not_applicable: int = 0,
        errors: Sequence[tuple[str, str]] = (),
        as_of: datetime | None = None,
        at: datetime | None = None,
    ) -> None:
        """Tell the plane the install outcomes of ``group`` from ``at`` on (``_outcomes.py``)."""
        self.outcomes.tell(
            group,
            installed=installed,
            failed=failed,
            pending=pending,
            not_applicable=not_applicable,
            errors=errors,
            as_of=as_of,
            at=at,
        )

    def outcomes_of(self, group: str) -> list[DeviceOutcome] | None:
        """The devices of ``group`` as the plane knows them now (``None``: nothing told)."""
        entry = self.outcomes.now(group)
        return None if entry is None else entry.devices(group)

    def outcome_entry(self, group: str) -> GroupOutcomes | None:
        """The timeline entry in force for ``group`` now (counts and ``as_of``), if any."""
        return self.outcomes.now(group)

    def data_time(self, group: str) -> datetime:
        """When the plane's summarised data for ``group`` was computed (else its clock)."""
        entry = self.outcomes.now(group)
        return entry.as_of if entry is not None and entry.as_of is not None else self.clock()

    def writes(self) -> list[Seen]:
        """Every request that could have changed state (anything but GET/HEAD and token calls)."""
        with self.lock:
            return [
                seen
                for seen in self.requests
                if seen.method not in {"GET", "HEAD"} and not self.is_token_path(seen.path)
            ]

    def is_token_path(self, path: str) -> bool:
        """Whether ``path`` only issues tokens (not a write on the plane's objects)."""
        return "token" in path

    def violation(self, message: str) -> None:
        """Record a request that departs from the vendor's description."""
        with self.lock:
            self.violations.append(message)

    def issue_token(self) -> str:
        """A fresh bearer token the double will accept."""
        token = secrets.token_urlsafe(24)
        with self.lock:
            self.tokens.add(token)
        return token

    def authorized(self, request: Request) -> bool:
        """Whether the request carries a bearer token this double issued."""
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        with self.lock:
            return scheme.lower() == "bearer" and token in self.tokens

    # -- serving -------------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        """Answer one request (subclasses)."""
        raise NotImplementedError

    def _take_fault(self, request: Request) -> Fault | None:
        with self.lock:
            for fault in self._faults:
                if fault.remaining <= 0:
                    continue
                if fault.method and fault.method != request.method:
                    continue
                if fault.when is not None and not fault.when(request):
                    continue
                if fault.pattern.search(request.path):
                    fault.remaining -= 1
                    return fault
        return None

    def _wsgi(self, environ: dict[str, Any], start_response: Any) -> Any:
        with self.lock:
            offline = time.monotonic() < self._offline_until and self._refusals_left != 0
            if offline:
                self.refused += 1
                if self._refusals_left is not None:
                    self._refusals_left -= 1
        if offline:
            _close(environ)
        request = Request(environ)
        with self.lock:
            self.requests.append(
                Seen(request.method, request.path, request.query_string.decode("latin-1"))
            )
        fault = self._take_fault(request)
        if fault is not None and fault.kind == "hang":
            self._stopping.wait(HANG_SECONDS)
            response = self.fault_response(503, "ServiceUnavailable", "hung request released")
        elif fault is not None and fault.kind == "429":
            response = self.fault_response(429, "TooManyRequests", "Please retry again later.")
            response.headers["Retry-After"] = str(fault.retry_after)
        elif fault is not None and fault.kind == "500":
            response = self.fault_response(500, "InternalServerError", "injected server error")
        else:
            if fault is not None and fault.kind == "stale":
                environ["double.stale"] = True
            response = self.handle(request)
        if fault is not None and fault.kind == "hang-after":
            self._stopping.wait(HANG_SECONDS)
        if fault is not None and fault.kind == "drop":
            _close(environ)
        return response(environ, start_response)

    def fault_response(self, status: int, code: str, message: str) -> Response:
        """The vendor-shaped body of an injected fault (subclasses override the shape)."""
        return Response(f"{code}: {message}", status=status, mimetype="text/plain")


def _close(environ: dict[str, Any]) -> NoReturn:
    """Close the request's connection without an answer (werkzeug takes it as a drop)."""
    sock: socket.socket = environ["werkzeug.socket"]
    sock.shutdown(socket.SHUT_RDWR)
    raise _ResponseDroppedError
