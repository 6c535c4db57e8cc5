"""One HTTP client for the planes: explicit timeouts, and errors that say whose fault they are.

Every connector sends its requests through :class:`PlaneClient`, which turns what can go wrong on
the wire into the two connector errors of ``bot/errors.py``:

* timeouts, refused or dropped connections, 5xx and 429 → ``TransientConnectorError`` (with
  ``retry_after`` from a ``Retry-After`` header, in seconds or as an HTTP date);
* any other 4xx → ``PermanentConnectorError`` with the vendor's own message.

Messages name the plane, the method and the path, never the query string (Landscape signs in it)
and never a header; any configured secret that a vendor echoes back is replaced by ``***``.
"""

from __future__ import annotations

import email.utils
import re
import ssl
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

import httpx

from bot.errors import PermanentConnectorError, TransientConnectorError

MessageOf = Callable[[httpx.Response], str]

_MAX_MESSAGE = 300
_BEARER = re.compile(r"(?i)bearer\s+[A-Za-z0-9._~+/=-]+")
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date), or ``None``."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def default_message(response: httpx.Response) -> str:
    """The response body as text: the fallback when a plane's error shape is unknown."""
    return response.text


def tls_verify(ca_bundle: str | None) -> ssl.SSLContext | bool:
    """Verification for a plane's TLS: the system store, or a private CA's PEM bundle."""
    if not ca_bundle:
        return True
    return ssl.create_default_context(cafile=ca_bundle)


class PlaneClient:
    """An ``httpx.Client`` for one plane that raises connector errors instead of returning them."""

    def __init__(  # noqa: PLR0913 - the plane, where, how to sign in and how to read errors
        self,
        *,
        plane: str,
        base_url: str,
        timeout: float,
        auth: httpx.Auth | tuple[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        secrets: Sequence[str | None] = (),
        message_of: MessageOf = default_message,
        transport: httpx.BaseTransport | None = None,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        self.plane = plane
        self._secrets = tuple(s for s in secrets if s)
        self._message_of = message_of
        self._client = httpx.Client(
            base_url=base_url,
            timeout=httpx.Timeout(timeout),
            auth=auth,
            headers=dict(headers or {}),
            transport=transport,
            follow_redirects=False,
            verify=verify,
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    @property
    def http(self) -> httpx.Client:
        """The underlying client, for a library that sends its own requests (MSAL's token calls)."""
        return self._client

    def redact(self, text: str) -> str:
        """``text`` with every configured secret, bearer token and JWT replaced by ``***``."""
        for secret in self._secrets:
            text = text.replace(secret, "***")
        text = _BEARER.sub("Bearer ***", text)
        return _JWT.sub("***", text)

    def request(  # noqa: PLR0913 - mirrors httpx.Client.request
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Mapping[str, Any] | None = None,
        allow: Collection[int] = (),
        **extra: Any,
    ) -> httpx.Response:
        """Send one request; return a 2xx response, or one whose status is in ``allow``.

        ``extra`` goes to httpx as is (``headers``, ``content``, ``files``).
        """
        where = f"{self.plane}: {method} {path.split('?', 1)[0]}"
        try:
            response = self._client.request(
                method, path, params=params, json=json, data=data, **extra
            )
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
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
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
