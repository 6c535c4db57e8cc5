"""A small client object over ``connectors/_http.py`` for the SCCM, Landscape and AWX connectors.

It holds one plane's ``httpx`` client (built by :func:`connectors._http.new_client`: explicit
timeouts, no redirects), its secrets and its way of reading the vendor's error body, so each call
site is one line. What can go wrong on the wire becomes the two connector errors of
``bot/errors.py``, as in ``_http.send``:

* timeouts, refused or dropped connections, 5xx and 429 → ``TransientConnectorError`` (with
  ``retry_after`` from a ``Retry-After`` header, in seconds or as an HTTP date);
* any other 4xx → ``PermanentConnectorError`` with the vendor's own message.

Messages name the plane, the method and the path, never the query string (Landscape signs in it)
and never a header; secrets, bearer tokens and JWTs a vendor echoes back are masked by
:func:`connectors._http.redact`. Unlike ``send``, the vendor's message is read by a per-plane
function (Landscape's ``{"error", "message"}`` and AWX's field errors need their own reading).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

import httpx

from bot.errors import PermanentConnectorError, TransientConnectorError
from connectors._http import new_client, redact, retry_after_seconds

MessageOf = Callable[[httpx.Response], str]

_MAX_MESSAGE = 300


def default_message(response: httpx.Response) -> str:
    """The response body as text: the fallback when a plane's error shape is unknown."""
    return response.text


class PlaneClient:
    """An ``httpx.Client`` for one plane that raises connector errors instead of returning them."""

    def __init__(  # noqa: PLR0913 - the plane, where, how to sign in and how to read errors
        self,
        *,
        plane: str,
        base_url: str,
        timeout: float,
        auth: tuple[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        secrets: Sequence[str | None] = (),
        message_of: MessageOf = default_message,
        ca_bundle: str | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.plane = plane
        self._secrets = tuple(s for s in secrets if s)
        self._message_of = message_of
        self._client = new_client(
            base_url, ca_bundle=ca_bundle, timeout=httpx.Timeout(timeout), transport=transport
        )
        if auth is not None:
            self._client.auth = auth
        self._client.headers.update(dict(headers or {}))

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def redact(self, text: str) -> str:
        """``text`` with every configured secret, bearer token and JWT replaced by ``***``."""
        return redact(text, self._secrets)

    def request(  # noqa: PLR0913 - mirrors httpx.Client.request
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Mapping[str, Any] | None = None,
        allow: Collection[int] = (),
    ) -> httpx.Response:
        """Send one request; return a 2xx response, or one whose status is in ``allow``."""
        where = f"{self.plane}: {method} {path.split('?', 1)[0]}"
        try:
            response = self._client.request(method, path, params=params, json=json, data=data)
        except httpx.TimeoutException as error:
            raise TransientConnectorError(f"{where} timed out ({type(error).__name__})") from None
        except httpx.TransportError as error:
            reason = self.redact(str(error)) or type(error).__name__
            raise TransientConnectorError(f"{where} failed: {reason}"[:_MAX_MESSAGE]) from None
        status = response.status_code
        if response.is_success or status in allow:
            return response
        message = self.redact(self._vendor_message(response))
        text = f"{where} answered HTTP {status}: {message}"[:_MAX_MESSAGE]
        if status == 429 or status >= 500:
            retry_after = retry_after_seconds(response.headers.get("Retry-After"))
            raise TransientConnectorError(text, retry_after)
        raise PermanentConnectorError(text)

    def json(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Mapping[str, Any] | None = None,
    ) -> Any:
        """Send one request and decode its JSON body (an undecodable body is transient)."""
        response = self.request(method, path, params=params, json=json, data=data)
        return self.decode(response, f"{method} {path}")

    def decode(self, response: httpx.Response, what: str) -> Any:
        """The JSON body of ``response``; a body that is not JSON is the plane's fault."""
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise TransientConnectorError(
                f"{self.plane}: {what} answered HTTP {response.status_code} with a body that"
                " is not JSON"
            ) from None

    def _vendor_message(self, response: httpx.Response) -> str:
        try:
            message = self._message_of(response)
        except ValueError:
            message = response.text
        message = " ".join(message.split())
        return message or response.reason_phrase or "no message"
