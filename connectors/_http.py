"""HTTP helpers every connector shares: one client shape, one error mapping.

Connectors talk to planes through :func:`send`, which turns what can go wrong on the wire into
the two errors the publish flow understands (``bot/errors.py``): timeouts, dropped connections,
5xx and 429 become :class:`TransientConnectorError` (with ``retry_after`` when the plane sent
``Retry-After``), every other 4xx a :class:`PermanentConnectorError` carrying the vendor's own
message. Messages name the method and the URL *path* only: query strings may hold signatures
(Azure SAS URLs do), and every known secret is masked before a message leaves this module.
"""

from __future__ import annotations

import email.utils
import html
import json
import re
import ssl
import time
from collections.abc import Callable, Collection, Iterable
from typing import Any

import httpx

from bot.core.redact import Redactor
from bot.errors import PermanentConnectorError, TransientConnectorError

DEFAULT_TIMEOUT = httpx.Timeout(15.0, connect=5.0)
"""Every plane call is bounded: a hung plane costs at most this, then the task retries."""

MAX_MESSAGE = 300
"""Vendor messages are cut to this many characters (HTML error pages can be long)."""

_TAGS = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")


def tls_verify(ca_bundle: str | None) -> ssl.SSLContext | bool:
    """Verification for a plane's TLS: the system store, or a private CA bundle when given."""
    if not ca_bundle:
        return True
    return ssl.create_default_context(cafile=ca_bundle)


def new_client(
    base_url: str,
    *,
    ca_bundle: str | None = None,
    timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
    transport: httpx.BaseTransport | None = None,
) -> httpx.Client:
    """An httpx client for one plane with explicit timeouts and no redirects followed."""
    return httpx.Client(
        base_url=base_url.rstrip("/"),
        timeout=timeout,
        verify=tls_verify(ca_bundle),
        follow_redirects=False,
        transport=transport,
        headers={"User-Agent": "eucora-connector"},
    )


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """``text`` with every known secret, bearer token, JWT... replaced by ``***`` (``Redactor``)."""
    return Redactor(secrets, mask="***")(text)


def retry_after_seconds(value: str | None, *, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds: either delta-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def vendor_message(response: httpx.Response) -> str:
    """The plane's own words from an error response: JSON error fields or an HTML page's text."""
    text = response.text
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    found = _message_from_json(body) if body is not None else None
    if found is None:
        found = _SPACE.sub(" ", html.unescape(_TAGS.sub(" ", text))).strip()
    return found[:MAX_MESSAGE] or response.reason_phrase


def _message_from_json(body: Any) -> str | None:
    """Graph ``{"error": {"code", "message"}}``, Jamf ``{"errors": [{"description"}]}``, OAuth2."""
    if not isinstance(body, dict):
        return None
    error = body.get("error")
    if isinstance(error, dict):
        parts = [str(error.get(k)) for k in ("code", "message") if error.get(k)]
        return ": ".join(parts) or None
    if isinstance(error, str):
        description = body.get("error_description")
        return f"{error}: {description}" if description else error
    errors = body.get("errors")
    if isinstance(errors, list) and errors:
        described = [
            str(e.get("description") or e.get("code")) for e in errors if isinstance(e, dict)
        ]
        return "; ".join(described) or None
    for key in ("message", "detail"):
        if isinstance(body.get(key), str):
            return str(body[key])
    return None


def send(  # noqa: PLR0913 -- keywords keep each plane call readable
    client: httpx.Client,
    method: str,
    url: str,
    *,
    plane: str,
    secrets: Collection[str | None] = (),
    accept: Collection[int] = (),
    **kwargs: Any,
) -> httpx.Response:
    """Send one request: the 2xx (or ``accept``) response, else the classified error."""
    where = f"{plane} {method} {httpx.URL(url).path or url}"
    try:
        response = client.request(method, url, **kwargs)
    except httpx.TimeoutException as error:
        raise TransientConnectorError(f"{where}: timed out ({type(error).__name__})") from None
    except httpx.TransportError as error:
        detail = redact(str(error) or type(error).__name__, secrets)
        raise TransientConnectorError(f"{where}: connection failed: {detail}") from None
    raise_for_status(response, where=where, secrets=secrets, accept=accept)
    return response


def raise_for_status(
    response: httpx.Response,
    *,
    where: str,
    secrets: Collection[str | None] = (),
    accept: Collection[int] = (),
) -> None:
    """Classify a finished response: transient (429, 5xx), permanent (other 4xx), or fine."""
    status = response.status_code
    if status < 400 or status in accept:
        return
    message = redact(f"{where}: HTTP {status}: {vendor_message(response)}", secrets)
    if status == 429 or status >= 500:
        raise TransientConnectorError(
            message, retry_after_seconds(response.headers.get("Retry-After"))
        )
    raise PermanentConnectorError(message)


def poll(
    read: Callable[[], Any],
    done: Callable[[Any], bool],
    *,
    what: str,
    attempts: int = 60,
    interval: float = 0.5,
) -> Any:
    """Call ``read`` until ``done`` says so; a plane that never gets there is a transient error."""
    value = read()
    for _ in range(attempts):
        if done(value):
            return value
        time.sleep(interval)
        value = read()
    if done(value):
        return value
    raise TransientConnectorError(f"{what}: still not done after {attempts} polls")
