"""One call to GitHub: paced, its token renewed after a 401, any failure one line with no secrets.

:class:`GitHubCalls` is what every part of the adapter (``bot.adapters.github``) stands on: the
client, the call wrapper (the pace, the metrics observer, the last rate limit seen), the renewal of
a token GitHub refused early, raw GET/POST/PATCH and list pages, read conditionally where asked.
Every failure becomes a one-line :class:`bot.errors.GitHubError` that names the call and GitHub's
answer, with anything shaped like a token, a JWT or a key removed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar

import requests
from github import Github, GithubException

from bot.adapters.github_rate_limits import ConditionalCache, PaceStep, RateLimitSeen, unpaced
from bot.adapters.mirror import MirrorStore
from bot.core.redact import Redactor
from bot.errors import GitHubError

_REDACT = Redactor()


def scrub(text: str) -> str:
    """``text`` on one line, with anything shaped like a credential replaced by ``[redacted]``."""
    return " ".join(_REDACT(text).split())[:500]


def _reason(error: BaseException) -> str:
    """GitHub's own message for a failed call, or the transport's, in a few words."""
    if isinstance(error, GithubException):
        data = error.data
        message = data.get("message") if isinstance(data, dict) else None
        errors = data.get("errors") if isinstance(data, dict) else None
        detail = (
            f" ({errors[0].get('message') or errors[0].get('code')})"
            if errors and isinstance(errors, list) and isinstance(errors[0], dict)
            else ""
        )
        return f"GitHub answered {error.status}: {message or 'no message'}{detail}"
    if isinstance(error, requests.exceptions.RetryError):
        return "GitHub kept failing after retries"
    if isinstance(error, requests.exceptions.Timeout):
        return "GitHub did not answer in time"
    if isinstance(error, requests.exceptions.ConnectionError):
        return "connection to GitHub failed or was dropped"
    return type(error).__name__


@contextmanager
def calling(what: str) -> Iterator[None]:
    """Turn whatever PyGithub or the transport raises into a one-line, secret-free GitHubError."""
    try:
        yield
    except GitHubError:
        raise
    except (GithubException, requests.exceptions.RequestException) as error:
        status = error.status if isinstance(error, GithubException) else None
        raise GitHubError(scrub(f"{what}: {_reason(error)}"), status=status) from None


_T = TypeVar("_T")

CallObserver = Callable[[str, str], None]
"""Told ``(operation, "ok" | "error")`` after each port call: the hook for API call metrics."""


def _ignore(operation: str, outcome: str) -> None:
    """The default observer: nobody is counting."""


class GitHubCalls:
    """One client's way of calling GitHub: what each part of the adapter is built on.

    The parts (check runs, issues, reviews, deployments) subclass it, and
    :class:`bot.adapters.github.GitHubAdapter` joins them; only this class keeps state.
    """

    def __init__(  # noqa: PLR0913
        self,
        client: Github,
        *,
        identity: Callable[[], str],
        token: Callable[[], str],
        mirrors: MirrorStore,
        rate_limit: RateLimitSeen,
        clone_urls: dict[str, str],
        observe: CallObserver | None = None,
        renew: Callable[[], None] | None = None,
        pace: PaceStep = unpaced,
        conditional: ConditionalCache | None = None,
        app_id: int | None = None,
    ) -> None:
        self._gh = client
        self._app_id = app_id
        self._pace = pace
        self._conditional = conditional or ConditionalCache()
        self._renew = renew
        self._observe: CallObserver = observe or _ignore
        self._identity = identity
        self._token = token
        self._mirrors = mirrors
        self._rate_limit = rate_limit
        self._clone_urls = clone_urls

    @contextmanager
    def _call(self, operation: str, what: str) -> Iterator[None]:
        outcome = "error"
        try:
            with calling(what):
                self._pace(write=False)  # a limit GitHub announced holds reads too
                yield
            outcome = "ok"
        finally:
            self._rate_limit.note(self._gh)
            self._observe(operation, outcome)

    def _renewing(self, action: Callable[[], _T], *, write: bool = False) -> _T:
        """Run one step; on a 401 drop the cached token (revoked early) and run it once more.

        A 401 means GitHub did nothing, so even a POST may be sent again. ``write``: the step is
        one content-creating request, sent at the installation's pace.
        """
        try:
            if write:
                self._pace(write=True)
            return action()
        except GithubException as error:
            if error.status != 401 or self._renew is None:
                raise
            self._renew()
            if write:
                self._pace(write=True)
            return action()

    def _repo(self, repository: str) -> Any:
        return self._gh.get_repo(repository)  # the client is lazy: no request until needed

    def _get(self, url: str) -> dict[str, Any]:
        """One GET through PyGithub's requester."""
        _, data = self._renewing(lambda: self._gh.requester.requestJsonAndCheck("GET", url))
        return data if isinstance(data, dict) else {}

    def _post(self, url: str, body: dict[str, Any]) -> dict[str, Any]:
        """One POST through PyGithub's requester (write spacing, limits, never replayed)."""
        _, data = self._renewing(
            lambda: self._gh.requester.requestJsonAndCheck("POST", url, input=body), write=True
        )
        return data if isinstance(data, dict) else {}

    def _patch(self, url: str, body: dict[str, Any]) -> dict[str, Any]:
        """One PATCH through PyGithub's requester (write spacing, limits)."""
        _, data = self._renewing(
            lambda: self._gh.requester.requestJsonAndCheck("PATCH", url, input=body), write=True
        )
        return data if isinstance(data, dict) else {}

    def _raw_pages(
        self, url: str, parameters: Mapping[str, Any], *, pages: int
    ) -> Iterator[dict[str, Any]]:
        """The items of up to ``pages`` pages of 100 of a GitHub list, read as they are needed."""
        for page in range(1, pages + 1):
            _, items = self._gh.requester.requestJsonAndCheck(
                "GET", url, parameters={**parameters, "per_page": 100, "page": page}
            )
            yield from items or []
            if len(items or []) < 100:
                return

    def _conditional_pages(self, url: str, *, pages: int) -> list[dict[str, Any]]:
        """Every item of up to ``pages`` pages of 100, each page read with ``If-None-Match``.

        A page GitHub answers 304 (unchanged since its ``ETag``) is taken from the cache.
        """
        found: list[dict[str, Any]] = []
        for page in range(1, pages + 1):
            items = self._conditional_page(f"{url}?per_page=100&page={page}")
            found.extend(items)
            if len(items) < 100:
                break
        return found

    def _conditional_page(self, url: str) -> list[dict[str, Any]]:
        requester = self._gh.requester
        cached = self._conditional.get(url)
        headers = {"If-None-Match": cached[0]} if cached else {}
        status, answer_headers, output = requester.requestJson("GET", url, headers=headers)
        if status == 304 and cached is not None:
            return cached[1]
        try:
            data = json.loads(output) if output else None
        except ValueError:
            data = None
        if status >= 400 or status == 304:
            detail = data if isinstance(data, dict) else {}
            raise requester.createException(status, answer_headers, detail)
        items = data if data is not None else []
        if not isinstance(items, list):
            raise GitHubError(f"GitHub answered {url.partition('?')[0]} with no list")
        etag = answer_headers.get("etag")
        if etag:
            self._conditional.put(url, etag, items)
        return items
