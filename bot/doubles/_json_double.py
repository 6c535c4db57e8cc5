"""JSON-over-HTTP doubles (Configuration Manager, Landscape, AWX) on the shared loopback server.

:class:`JsonDouble` sits on :class:`bot.doubles._server.HttpDouble` (the server, faults, request
log and ``violations``) and lets a double answer with plain values: :meth:`JsonDouble.route`
receives a :class:`Call` (method, decoded path, query and form fields as lists, lower-cased
headers, body bytes) and returns a :class:`Reply` (status, JSON body, headers). Routes run under
the double's lock, so a double's state needs no locking of its own, and a bug in a route answers
500 and is recorded as a violation instead of hanging the client.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from werkzeug.wrappers import Request, Response

from bot.doubles._server import HttpDouble


@dataclass(frozen=True, slots=True)
class Call:
    """One request as a JSON double sees it."""

    method: str
    path: str
    query: Mapping[str, list[str]]
    headers: Mapping[str, str]
    """Header names lower-cased."""
    body: bytes
    form: Mapping[str, list[str]] = field(default_factory=dict)
    """``application/x-www-form-urlencoded`` fields, when the body is a form."""

    def json(self) -> Any:
        """The body as JSON (``None`` when empty); raises ``ValueError`` when it is not JSON."""
        return json.loads(self.body) if self.body else None


@dataclass(slots=True)
class Reply:
    """What a route answers."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


class JsonDouble(HttpDouble):
    """A double whose routes take a :class:`Call` and give a :class:`Reply`."""

    def route(self, call: Call) -> Reply:
        """Answer one call (subclasses)."""
        raise NotImplementedError

    def handle(self, request: Request) -> Response:
        """Convert, route under the lock, convert back."""
        form = request.form.to_dict(flat=False)  # before the body: form parsing reads it
        call = Call(
            method=request.method,
            path=request.path,
            query=request.args.to_dict(flat=False),
            headers={k.lower(): v for k, v in request.headers.items()},
            body=request.get_data(cache=True),
            form=form,
        )
        with self.lock:
            try:
                reply = self.route(call)
            except Exception as error:  # noqa: BLE001 - a double bug must answer, not hang
                self.violation(f"{call.method} {call.path}: double failed: {error!r}")
                reply = Reply(500, {"detail": f"double failed: {error!r}"})
        payload = "" if reply.body is None else json.dumps(reply.body)
        return Response(
            payload,
            status=reply.status,
            headers=reply.headers,
            mimetype="application/json" if payload else None,
        )

    def fault_response(self, status: int, code: str, message: str) -> Response:
        """Injected faults in this plane's error shape (:meth:`error_body`)."""
        return Response(
            json.dumps(self.error_body(code, message)), status=status, mimetype="application/json"
        )

    def error_body(self, code: str, message: str) -> Any:
        """The plane's error body (subclasses)."""
        return {"error": code, "message": message}
