"""A loopback load balancer in front of ``eucora serve`` replicas (what GitHub's deliveries reach).

Each request goes to the next live upstream, round robin (``upstreams()`` is asked every time, so
a replica the test killed is no longer chosen); the upstream's answer is passed back as it is. An
upstream that refuses or cuts the connection is answered ``502 Bad Gateway``, as a real balancer
would answer GitHub: the delivery is then recorded as failed in GitHub's delivery log, for
``eucora redeliver`` to recover.
"""

from __future__ import annotations

import http.client
import itertools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

UPSTREAM_TIMEOUT_SECONDS = 15.0


class Balancer:
    """Round robin over ``upstreams()`` (base URLs such as ``http://127.0.0.1:PORT``)."""

    def __init__(self, upstreams: Callable[[], list[str]]) -> None:
        self.upstreams = upstreams
        self.bad_gateway = 0
        """Requests answered 502 (no live upstream, or it refused or cut the connection)."""
        self._turn = itertools.count()
        self._lock = threading.Lock()
        balancer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib's name
                """No access log."""

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, reply = balancer.forward(self.command, self.path, body, dict(self.headers))
                self.send_response(status)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            do_GET = do_POST  # noqa: N815 - http.server's name

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_port}"

    def forward(
        self, method: str, path: str, body: bytes, headers: dict[str, str]
    ) -> tuple[int, bytes]:
        """Send the request to the next live upstream; its status and body, or 502."""
        live = self.upstreams()
        if not live:
            return self._bad_gateway("no live upstream")
        upstream = urlsplit(live[next(self._turn) % len(live)])
        sent = {k: v for k, v in headers.items() if k.lower() not in {"host", "connection"}}
        connection = http.client.HTTPConnection(
            upstream.hostname or "127.0.0.1", upstream.port, timeout=UPSTREAM_TIMEOUT_SECONDS
        )
        try:
            connection.request(method, path, body=body if method == "POST" else None, headers=sent)
            answer = connection.getresponse()
            return answer.status, answer.read()
        except (OSError, http.client.HTTPException) as error:
            return self._bad_gateway(type(error).__name__)
        finally:
            connection.close()

    def _bad_gateway(self, why: str) -> tuple[int, bytes]:
        with self._lock:
            self.bad_gateway += 1
        return 502, f"bad gateway: {why}".encode()

    def start(self) -> Balancer:
        threading.Thread(target=self._server.serve_forever, name="balancer", daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@contextmanager
def balancing(upstreams: Callable[[], list[str]]) -> Iterator[Balancer]:
    """A started :class:`Balancer`, stopped at the end."""
    balancer = Balancer(upstreams).start()
    try:
        yield balancer
    finally:
        balancer.stop()
