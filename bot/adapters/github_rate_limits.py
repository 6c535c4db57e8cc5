"""GitHub's rate limits, honoured inside: bounded retries, the write pace, conditional reads.

Limits are honoured inside (https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api):
a 403/429 carrying ``Retry-After`` or an exhausted ``x-ratelimit-remaining`` is waited out when
the wait is within ``max_wait`` seconds, and a POST is never replayed after a server error or a
dropped connection (it may have been done). Content-creating requests keep one pace per
installation (``bot.adapters.pacer``: shared through Redis across processes when a broker is
configured), and a limit GitHub announces to one process holds every process. Lists read again
and again (team members, a PR's commits) are read conditionally: an ``ETag`` remembered per URL,
``If-None-Match``, and a 304 (which GitHub does not count against the rate limit) reuses the
remembered items.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from github import Github, GithubException, GithubRetry

DEFAULT_MAX_WAIT = 60.0


class BoundedRetry(GithubRetry):
    """PyGithub's retry policy, bounded, and never replaying a POST that may have been done.

    GithubRetry waits out 403s that are rate limits (``Retry-After``, or the primary limit's
    reset time) and retries 5xx. Here a 429 is retried too, any single wait beyond
    ``max_rate_limit_wait`` ends the call instead of sleeping, and a POST (which creates
    something) is not sent again after a 5xx or a dropped connection.
    """

    def __init__(
        self,
        max_wait: float = DEFAULT_MAX_WAIT,
        on_limit: Callable[[float], None] | None = None,
        **kwargs: Any,
    ) -> None:
        # urllib3's Retry.new() calls the class again with every parameter: accept them all.
        self._on_limit = on_limit
        kwargs.setdefault("max_rate_limit_wait", max_wait)
        kwargs.setdefault("secondary_rate_wait", min(60.0, max_wait))
        kwargs.setdefault("total", 5)
        kwargs.setdefault("backoff_factor", 0.5)
        kwargs.setdefault("status_forcelist", [429, *range(500, 600)])
        super().__init__(**kwargs)

    def new(self, **kw: Any) -> Any:
        """The next retry state (urllib3 makes one per attempt), keeping ``on_limit``."""
        retry = super().new(**kw)
        retry._on_limit = self._on_limit  # noqa: SLF001 - the same class
        return retry

    def _announce(self, response: Any) -> None:
        """Tell the shared pace about a limit GitHub announced (every process then waits)."""
        if self._on_limit is None or response.status not in {403, 429}:
            return
        headers = response.headers
        if headers.get("Retry-After"):
            self._on_limit(float(self.parse_retry_after(headers["Retry-After"])))
        elif headers.get("x-ratelimit-remaining") == "0" and headers.get("x-ratelimit-reset"):
            self._on_limit(float(headers["x-ratelimit-reset"]) - time.time())

    def is_retry(self, method: str, status_code: int, has_retry_after: bool = False) -> bool:
        """Whether to retry: never a POST after a server error (it may have been done)."""
        if method.upper() == "POST" and status_code >= 500:
            return False
        return super().is_retry(method, status_code, has_retry_after)

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: Any = None,
        error: Exception | None = None,
        _pool: Any = None,
        _stacktrace: Any = None,
    ) -> Any:
        """Count one failure: a dropped POST is not sent again, too long a wait ends the call."""
        if error is not None and (method or "").upper() == "POST" and self._is_read_error(error):
            raise error
        if response is not None:
            self._announce(response)
        if response is not None and response.headers.get("Retry-After"):
            wait = self.parse_retry_after(response.headers["Retry-After"])
            if self.max_rate_limit_wait is not None and wait > self.max_rate_limit_wait:
                bound = self.max_rate_limit_wait
                message = f"rate limited for {wait:.0f}s, more than the {bound:.0f}s EUCORA waits"
                raise GithubException(response.status, {"message": message}, None)
        return super().increment(method, url, response, error, _pool, _stacktrace)


class RateLimitSeen:
    """The last ``x-ratelimit-remaining`` seen on any client (for the metrics)."""

    def __init__(self) -> None:
        self.remaining: int | None = None

    def note(self, client: Github) -> None:
        """Remember the remaining calls ``client`` last saw (when GitHub has said)."""
        remaining, _ = client.requester.rate_limiting
        if remaining >= 0:
            self.remaining = remaining


class PaceStep(Protocol):
    """Waits until one request of this client may go (``write``: a content-creating one)."""

    def __call__(self, *, write: bool) -> None:
        """Return when the request may go."""


def unpaced(*, write: bool) -> None:
    """The default pace: none (tests that build an adapter by hand)."""


class ConditionalCache:
    """``ETag`` and items per URL (with its query), for conditional reads; thread-safe, bounded."""

    def __init__(self, limit: int = 2048) -> None:
        self._limit = limit
        self._items: dict[str, tuple[str, list[Any]]] = {}
        self._lock = threading.Lock()

    def get(self, url: str) -> tuple[str, list[Any]] | None:
        """The remembered ``(etag, items)`` of ``url``."""
        with self._lock:
            return self._items.get(url)

    def put(self, url: str, etag: str, items: list[Any]) -> None:
        """Remember ``url``'s items under its ``etag`` (the oldest goes beyond the limit)."""
        with self._lock:
            self._items.pop(url, None)
            if len(self._items) >= self._limit:
                self._items.pop(next(iter(self._items)))
            self._items[url] = (etag, items)
