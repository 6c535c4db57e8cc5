"""The GitHub connectors: as a GitHub App (a JWT, then installation tokens) or with one token.

As a GitHub App, a JWT signed with ``GITHUB_PRIVATE_KEY`` buys installation tokens, cached per
installation until five minutes before they expire (and replaced at once when GitHub refuses
one early with a 401); with ``GITHUB_TOKEN`` that token is used. :func:`connector_from_settings`
picks one from the settings; either gives a :class:`bot.adapters.github.GitHubAdapter` per
installation, all sharing one pace (``bot.adapters.github_rate_limits``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography.hazmat.primitives.serialization import load_pem_private_key
from github import Auth, Github, GithubException, GithubIntegration

from bot.adapters.github import GitHubAdapter
from bot.adapters.github_calls import CallObserver, calling
from bot.adapters.github_rate_limits import (
    DEFAULT_MAX_WAIT,
    BoundedRetry,
    ConditionalCache,
    RateLimitSeen,
)
from bot.adapters.mirror import MirrorStore
from bot.adapters.pacer import LocalPacer, Pace, Pacer, pacer_for
from bot.errors import ConfigError, GitHubError
from bot.settings import Settings

TOKEN_REFRESH_MARGIN = timedelta(minutes=5)
ACTIONS_BOT = "github-actions[bot]"
MAX_DELIVERY_PAGES = 100
"""App webhook deliveries read back at most (10,000 attempts)."""


APP_PACE_KEY = "app"
"""The pace of the app's own requests (JWT: deliveries, redeliveries)."""
TOKEN_PACE_KEY = "token"  # noqa: S105 - a name, not a secret
"""The pace of the one token (``GITHUB_TOKEN``)."""


def _utcnow() -> datetime:
    return datetime.now(UTC)


class _InstallationToken(Auth.Auth):
    """Asks the connector for the installation's current token on every request."""

    def __init__(self, current: Callable[[], str]) -> None:
        self._current = current

    @property
    def token_type(self) -> str:
        return "token"

    @property
    def token(self) -> str:
        return self._current()

    @property
    def _masked_token(self) -> str:
        return "(masked)"


def _pace(seconds_between_writes: float | None, max_wait: float) -> Pace:
    return Pace.spaced(seconds_between_writes, max_wait=max_wait)


def next_cursor(link: str) -> str | None:
    """The ``cursor`` of the ``rel="next"`` URL in a ``Link`` header, if there is one."""
    for part in link.split(","):
        url, _, rel = part.partition(";")
        if 'rel="next"' in rel:
            query = parse_qs(urlsplit(url.strip().strip("<>")).query)
            values = query.get("cursor")
            return values[0] if values else None
    return None


def _older(item: Any, since: datetime) -> bool:
    """Whether a delivery list item was delivered before ``since`` (unknown: not older)."""
    text = item.get("delivered_at") if isinstance(item, dict) else None
    try:
        moment = datetime.fromisoformat(str(text))
    except ValueError:
        return False
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)) < since


class _TokenCache:
    """Installation tokens by installation, refreshed five minutes before they expire."""

    def __init__(
        self, mint: Callable[[int], tuple[str, datetime]], clock: Callable[[], datetime]
    ) -> None:
        self._mint = mint
        self._clock = clock
        self._tokens: dict[int, tuple[str, datetime]] = {}
        self._locks: dict[int, threading.Lock] = {}
        self._guard = threading.Lock()

    def token(self, installation_id: int) -> str:
        with self._guard:
            lock = self._locks.setdefault(installation_id, threading.Lock())
        with lock:
            cached = self._tokens.get(installation_id)
            if cached is None or cached[1] - TOKEN_REFRESH_MARGIN <= self._clock():
                cached = self._mint(installation_id)
                self._tokens[installation_id] = cached
            return cached[0]

    def invalidate(self, installation_id: int) -> None:
        """Forget the installation's token (GitHub refused it before its time)."""
        with self._guard:
            self._tokens.pop(installation_id, None)


def _load_private_key(pem: str) -> str:
    text = pem.strip()
    if "\\n" in text and "\n" not in text:  # a PEM pasted into one line of a .env file
        text = text.replace("\\n", "\n")
    try:
        load_pem_private_key(text.encode(), password=None)
    except (ValueError, TypeError):
        raise ConfigError("GITHUB_PRIVATE_KEY is not an unencrypted PEM private key") from None
    return text + "\n"


class GitHubAppConnector:
    """:class:`bot.ports.GitHubConnector` as a GitHub App: JWT, then installation tokens."""

    def __init__(  # noqa: PLR0913
        self,
        *,
        api_url: str,
        app_id: str,
        private_key: str,
        mirrors_dir: Path,
        clock: Callable[[], datetime] = _utcnow,
        max_wait: float = DEFAULT_MAX_WAIT,
        backoff_factor: float = 0.5,
        seconds_between_writes: float | None = 1.0,
        timeout: int = 15,
        on_call: CallObserver | None = None,
        pacer: Pacer | None = None,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self._on_call = on_call
        self._max_wait = max_wait
        self._backoff = backoff_factor
        # The pace replaces PyGithub's own spacing (one process's): shared, per installation.
        self.pacer: Pacer = pacer or LocalPacer(_pace(seconds_between_writes, max_wait))
        self._options: dict[str, Any] = {
            "base_url": self.api_url,
            "timeout": timeout,
            "per_page": 100,
            "seconds_between_requests": None,
            "seconds_between_writes": None,
        }
        self._integration = GithubIntegration(
            auth=Auth.AppAuth(app_id, _load_private_key(private_key)),
            base_url=self.api_url,
            timeout=timeout,
            retry=BoundedRetry(
                max_wait,
                on_limit=partial(self.pacer.hold, APP_PACE_KEY),
                backoff_factor=backoff_factor,
            ),
        )
        self._conditional = ConditionalCache()
        self._tokens = _TokenCache(self._mint, clock)
        self._mirrors = MirrorStore(mirrors_dir)
        self._rate_limit = RateLimitSeen()
        self._clone_urls: dict[str, str] = {}
        self._clients: dict[int, GitHubAdapter] = {}
        self._guard = threading.Lock()
        self._bot_login: str | None = None
        # A client ID (``Iv1.…``) also signs the JWT; then the runs are told apart by the slug.
        self._app_id = int(app_id) if app_id.strip().isdigit() else None

    @property
    def rate_limit_remaining(self) -> int | None:
        """The last ``x-ratelimit-remaining`` GitHub sent (None before any call)."""
        return self._rate_limit.remaining

    def _mint(self, installation_id: int) -> tuple[str, datetime]:
        with calling(f"getting a token for installation {installation_id}"):
            grant = self._integration.get_access_token(installation_id)
            return grant.token, grant.expires_at

    def installation_token(self, installation_id: int) -> str:
        """The installation's token, from the cache while it has five minutes left."""
        return self._tokens.token(installation_id)

    def bot_login(self) -> str:
        """The app's user, ``<slug>[bot]`` (``GET /app``, once)."""
        if self._bot_login is None:
            with calling("reading the app"):
                self._bot_login = f"{self._integration.get_app().slug}[bot]"
        return self._bot_login

    def for_installation(self, installation_id: int | None) -> GitHubAdapter:
        """The client acting as installation ``installation_id`` (one per installation)."""
        if installation_id is None:
            raise GitHubError("a GitHub App needs the installation id of the event")
        with self._guard:
            if installation_id not in self._clients:
                current = lambda: self.installation_token(installation_id)  # noqa: E731
                key = f"installation:{installation_id}"
                retry = BoundedRetry(
                    self._max_wait,
                    on_limit=partial(self.pacer.hold, key),
                    backoff_factor=self._backoff,
                )
                client = Github(
                    auth=_InstallationToken(current), lazy=True, retry=retry, **self._options
                )
                self._clients[installation_id] = GitHubAdapter(
                    client,
                    identity=self.bot_login,
                    token=current,
                    mirrors=self._mirrors,
                    rate_limit=self._rate_limit,
                    clone_urls=self._clone_urls,
                    observe=self._on_call,
                    renew=lambda: self._tokens.invalidate(installation_id),
                    pace=partial(self.pacer.acquire, key),
                    conditional=self._conditional,
                    app_id=self._app_id,
                )
            return self._clients[installation_id]

    def hook_deliveries(self, *, since: datetime) -> list[dict[str, Any]]:
        """The app's webhook delivery attempts since ``since`` (``GET /app/hook/deliveries``).

        Newest first, 100 a page, following the ``cursor`` of the ``Link`` header's ``next``
        until a page reaches back past ``since`` (at most :data:`MAX_DELIVERY_PAGES` pages).
        A failed page is a :class:`GitHubError`, never an empty list.
        """
        found: list[dict[str, Any]] = []
        cursor: str | None = None
        requester = self._integration.requester
        with calling("listing the app's webhook deliveries"):
            for _ in range(MAX_DELIVERY_PAGES):
                self.pacer.acquire(APP_PACE_KEY, write=False)
                parameters: dict[str, Any] = {"per_page": 100}
                if cursor:
                    parameters["cursor"] = cursor
                headers, items = requester.requestJsonAndCheck(
                    "GET", "/app/hook/deliveries", parameters=parameters
                )
                if not isinstance(items, list):
                    raise GitHubError("GitHub answered the delivery list with no list")
                found.extend(items)
                cursor = next_cursor(headers.get("link", ""))
                if cursor is None or not items or _older(items[-1], since):
                    break
        return found

    def redeliver(self, delivery_id: int) -> None:
        """Ask GitHub to deliver attempt ``delivery_id`` again (``POST .../attempts``, 202)."""
        url = f"/app/hook/deliveries/{int(delivery_id)}/attempts"
        with calling(f"asking GitHub to redeliver delivery {delivery_id}"):
            self.pacer.acquire(APP_PACE_KEY, write=True)
            self._integration.requester.requestJsonAndCheck("POST", url)


class GitHubTokenConnector:
    """:class:`bot.ports.GitHubConnector` with one token (``GITHUB_TOKEN``: Actions, or a PAT)."""

    def __init__(  # noqa: PLR0913
        self,
        *,
        api_url: str,
        token: str,
        mirrors_dir: Path,
        max_wait: float = DEFAULT_MAX_WAIT,
        backoff_factor: float = 0.5,
        seconds_between_writes: float | None = 1.0,
        timeout: int = 15,
        on_call: CallObserver | None = None,
        pacer: Pacer | None = None,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self._token = token
        self._rate_limit = RateLimitSeen()
        self.pacer: Pacer = pacer or LocalPacer(_pace(seconds_between_writes, max_wait))
        self._client = Github(
            auth=Auth.Token(token),
            base_url=self.api_url,
            timeout=timeout,
            per_page=100,
            seconds_between_requests=None,
            seconds_between_writes=None,
            retry=BoundedRetry(
                max_wait,
                on_limit=partial(self.pacer.hold, TOKEN_PACE_KEY),
                backoff_factor=backoff_factor,
            ),
            lazy=True,
        )
        self._login: str | None = None
        self._adapter = GitHubAdapter(
            self._client,
            identity=self.login,
            token=lambda: self._token,
            mirrors=MirrorStore(mirrors_dir),
            rate_limit=self._rate_limit,
            clone_urls={},
            observe=on_call,
            pace=partial(self.pacer.acquire, TOKEN_PACE_KEY),
        )

    @property
    def rate_limit_remaining(self) -> int | None:
        """The last ``x-ratelimit-remaining`` GitHub sent (None before any call)."""
        return self._rate_limit.remaining

    def login(self) -> str:
        """Who the token writes as: its user, or ``github-actions[bot]`` for Actions' token."""
        if self._login is None:
            with calling("reading the token's user"):
                try:
                    self._login = self._client.get_user().login
                except GithubException as error:
                    if error.status != 403:  # Actions' token may not read /user
                        raise
                    self._login = ACTIONS_BOT
        return self._login

    def for_installation(self, installation_id: int | None) -> GitHubAdapter:  # noqa: ARG002 (one token serves all)
        """The one client (the token acts the same for every installation)."""
        return self._adapter


def connector_from_settings(
    settings: Settings, **options: Any
) -> GitHubAppConnector | GitHubTokenConnector:
    """The connector the settings ask for: the App when its id and key are set, else the token."""
    mirrors = settings.home / "mirrors"
    options.setdefault("seconds_between_writes", settings.github_write_interval or None)
    if "pacer" not in options:
        max_wait = float(options.get("max_wait", DEFAULT_MAX_WAIT))
        pace = _pace(options["seconds_between_writes"], max_wait)
        options["pacer"] = pacer_for(settings.broker_url, pace)
    if settings.github_app_id and settings.github_private_key:
        return GitHubAppConnector(
            api_url=settings.github_api_url,
            app_id=settings.github_app_id,
            private_key=settings.github_private_key,
            mirrors_dir=mirrors,
            **options,
        )
    if settings.github_token:
        return GitHubTokenConnector(
            api_url=settings.github_api_url,
            token=settings.github_token,
            mirrors_dir=mirrors,
            **options,
        )
    raise ConfigError(
        "GitHub is not configured: set GITHUB_APP_ID and GITHUB_PRIVATE_KEY, or GITHUB_TOKEN"
    )
