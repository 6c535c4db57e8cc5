"""One pace of GitHub requests per installation, for every thread and every process.

GitHub's secondary rate limits (https://docs.github.com/en/rest/using-the-rest-api/
rate-limits-for-the-rest-api#about-secondary-rate-limits and best practices): content-creating
requests (POST, PATCH, PUT, DELETE) spaced by at least a second, no more than 80 a minute and
500 an hour; and when GitHub answers ``Retry-After`` (or an exhausted primary limit with
``x-ratelimit-reset``), nothing more until then. The limits hold per installation whatever the
number of workers, so the pace is shared:

* :class:`RedisPacer` (a broker ``redis://`` is configured): one Lua script per request,
  atomic on the Redis server and timed by the server's own clock (``TIME``): a hold key (until
  when nothing goes), a next-write key (the spacing) and a sorted set of the last hour's writes
  (the sliding minute and hour windows).
* :class:`LocalPacer` (no broker): the same rules under a lock, for one process.

``acquire(key, write=...)`` returns when the request may go (a read waits only for a hold);
a wait longer than ``max_wait`` raises :class:`PaceExceededError` instead of sleeping, so a
worker is not held for an hour and the caller's retry (inbox, outbox) takes over.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from bot.errors import GitHubError

WRITE_SPACING = 1.0
"""Seconds between content-creating requests GitHub advises."""
WRITES_PER_MINUTE = 80
WRITES_PER_HOUR = 500
DEFAULT_MAX_WAIT = 60.0
_PREFIX = "eucora:pace:"


class PaceExceededError(GitHubError):
    """The pace would hold this request longer than the caller waits."""


class Pacer(Protocol):
    """What the GitHub adapter asks before each request and tells after a limit."""

    def acquire(self, key: str, *, write: bool) -> None:
        """Return when a request for ``key`` (an installation) may go; record a write."""
        ...

    def hold(self, key: str, seconds: float) -> None:
        """Nothing for ``key`` for ``seconds`` (see :class:`Pacer`)."""
        """Nothing for ``key`` for ``seconds`` (GitHub said ``Retry-After`` or reset)."""
        ...


@dataclass(frozen=True, slots=True)
class Pace:
    """The limits: spacing of writes, writes per minute and per hour (0: none), the longest wait."""

    spacing: float = WRITE_SPACING
    per_minute: int = WRITES_PER_MINUTE
    per_hour: int = WRITES_PER_HOUR
    max_wait: float = DEFAULT_MAX_WAIT

    @classmethod
    def spaced(cls, seconds: float | None, *, max_wait: float = DEFAULT_MAX_WAIT) -> Pace:
        """GitHub's pace with writes ``seconds`` apart, or none at all for 0.

        0 is for a GHES without secondary limits (``EUCORA_GITHUB_WRITE_INTERVAL=0``): only the
        limits GitHub announces (``Retry-After``, reset) hold then.
        """
        if not seconds:
            return cls(spacing=0.0, per_minute=0, per_hour=0, max_wait=max_wait)
        return cls(spacing=seconds, max_wait=max_wait)


def _give_up(key: str, wait: float, pace: Pace) -> PaceExceededError:
    return PaceExceededError(
        f"GitHub's pace for {key} holds requests for {wait:.0f}s, "
        f"more than the {pace.max_wait:.0f}s EUCORA waits"
    )


@dataclass
class _Window:
    next_write: float = 0.0
    hold_until: float = 0.0
    writes: deque[float] = field(default_factory=deque)


class LocalPacer:
    """The pace in one process (threads share it): no broker configured."""

    def __init__(
        self,
        pace: Pace | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.pace = pace or Pace()
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._keys: dict[str, _Window] = {}

    def _wait(self, key: str, *, write: bool) -> float:
        """Seconds to wait, or 0 with the write recorded (under the lock)."""
        now = self._clock()
        state = self._keys.setdefault(key, _Window())
        if state.hold_until > now:
            return state.hold_until - now
        if not write:
            return 0.0
        while state.writes and state.writes[0] <= now - 3600:
            state.writes.popleft()
        waits = [state.next_write - now]
        if self.pace.per_hour and len(state.writes) >= self.pace.per_hour:
            waits.append(state.writes[-self.pace.per_hour] + 3600 - now)
        minute = [t for t in state.writes if t > now - 60]
        if self.pace.per_minute and len(minute) >= self.pace.per_minute:
            waits.append(minute[-self.pace.per_minute] + 60 - now)
        wait = max(waits)
        if wait > 0:
            return wait
        state.writes.append(now)
        state.next_write = now + self.pace.spacing
        return 0.0

    def acquire(self, key: str, *, write: bool) -> None:
        """Return when a request for ``key`` may go (see :class:`Pacer`)."""
        waited = 0.0
        while True:
            with self._lock:
                wait = self._wait(key, write=write)
            if wait <= 0:
                return
            if waited + wait > self.pace.max_wait:
                raise _give_up(key, waited + wait, self.pace)
            self._sleep(wait)
            waited += wait

    def hold(self, key: str, seconds: float) -> None:
        """Nothing for ``key`` for ``seconds`` (see :class:`Pacer`)."""
        with self._lock:
            state = self._keys.setdefault(key, _Window())
            state.hold_until = max(state.hold_until, self._clock() + max(seconds, 0.0))


_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local hold = tonumber(redis.call('GET', KEYS[1]) or '0')
if hold > now then return hold - now end
if ARGV[1] == '0' then return 0 end
local spacing, per_minute, per_hour = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local wait = tonumber(redis.call('GET', KEYS[2]) or '0') - now
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - 3600000)
local hour = redis.call('ZCARD', KEYS[3])
if per_hour > 0 and hour >= per_hour then
  local oldest = redis.call('ZRANGE', KEYS[3], hour - per_hour, hour - per_hour, 'WITHSCORES')
  wait = math.max(wait, tonumber(oldest[2]) + 3600000 - now)
end
local minute = redis.call('ZCOUNT', KEYS[3], now - 60000 + 1, '+inf')
if per_minute > 0 and minute >= per_minute then
  local nth = hour - per_minute
  local oldest = redis.call('ZRANGE', KEYS[3], nth, nth, 'WITHSCORES')
  wait = math.max(wait, tonumber(oldest[2]) + 60000 - now)
end
if wait > 0 then return wait end
redis.call('ZADD', KEYS[3], now, now .. ':' .. ARGV[5])
redis.call('PEXPIRE', KEYS[3], 3600000)
if spacing > 0 then redis.call('SET', KEYS[2], now + spacing, 'PX', spacing) end
return 0
"""
"""KEYS: hold, next write, the hour's writes. ARGV: write (0/1), spacing ms, per minute, per
hour, a unique id. Returns milliseconds to wait, 0 when the request may go (a write recorded)."""

_HOLD = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local till = now + tonumber(ARGV[1])
local held = tonumber(redis.call('GET', KEYS[1]) or '0')
if till > held then redis.call('SET', KEYS[1], till, 'PX', tonumber(ARGV[1])) end
return 0
"""


class RedisPacer:
    """The pace shared by every process through Redis (``EUCORA_BROKER_URL`` is ``redis://``)."""

    def __init__(
        self,
        client: Any,
        pace: Pace | None = None,
        *,
        prefix: str = _PREFIX,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.pace = pace or Pace()
        self._client = client
        self._prefix = prefix
        self._sleep = sleep
        self._acquire = client.register_script(_ACQUIRE)
        self._hold = client.register_script(_HOLD)

    @classmethod
    def from_url(cls, url: str, pace: Pace | None = None) -> RedisPacer:
        """A pacer on the Redis server at ``url``."""
        import redis  # noqa: PLC0415 - only with a Redis broker

        return cls(redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5), pace)

    def _keys(self, key: str) -> list[str]:
        base = f"{self._prefix}{{{key}}}"  # one hash slot per installation
        return [f"{base}:hold", f"{base}:next", f"{base}:writes"]

    def acquire(self, key: str, *, write: bool) -> None:
        """Return when a request for ``key`` may go (see :class:`Pacer`)."""
        waited = 0.0
        args = [
            "1" if write else "0",
            round(self.pace.spacing * 1000),
            self.pace.per_minute,
            self.pace.per_hour,
            uuid.uuid4().hex,
        ]
        while True:
            wait = int(self._call(self._acquire, self._keys(key), args)) / 1000
            if wait <= 0:
                return
            if waited + wait > self.pace.max_wait:
                raise _give_up(key, waited + wait, self.pace)
            self._sleep(wait)
            waited += wait

    def hold(self, key: str, seconds: float) -> None:
        """Nothing for ``key`` for ``seconds`` (see :class:`Pacer`)."""
        milliseconds = round(seconds * 1000)
        if milliseconds > 0:
            self._call(self._hold, self._keys(key)[:1], [milliseconds])

    def _call(self, script: Any, keys: list[str], args: list[Any]) -> Any:
        import redis  # noqa: PLC0415 - only with a Redis broker

        try:
            return script(keys=keys, args=args)
        except redis.RedisError as error:
            raise GitHubError(
                f"the shared GitHub pace (Redis) is unavailable: {type(error).__name__}"
            ) from None


def pacer_for(broker_url: str | None, pace: Pace | None = None) -> Pacer:
    """The shared pacer for a ``redis://`` (or ``rediss://``) broker, else an in-process one."""
    if broker_url and broker_url.split(":", 1)[0] in {"redis", "rediss"}:
        return RedisPacer.from_url(broker_url, pace)
    return LocalPacer(pace)
