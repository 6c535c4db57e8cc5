"""The pace: spacing, the minute and hour windows, announced holds; in-process and on Redis."""

from __future__ import annotations

import pytest
import redis

from bot.adapters.pacer import LocalPacer, Pace, PaceExceededError, RedisPacer
from tests.support.redis import RedisServer


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_writes_are_spaced_and_reads_are_not() -> None:
    clock = Clock()
    pacer = LocalPacer(Pace(spacing=1.0), clock=clock, sleep=clock.sleep)
    for _ in range(3):
        pacer.acquire("i:1", write=True)
        pacer.acquire("i:1", write=False)
    assert clock.slept == [1.0, 1.0]
    pacer.acquire("i:2", write=True)  # another installation has its own pace
    assert clock.slept == [1.0, 1.0]


def test_the_minute_and_hour_windows_hold() -> None:
    clock = Clock()
    pacer = LocalPacer(
        Pace(spacing=0.0, per_minute=3, per_hour=5, max_wait=4000), clock=clock, sleep=clock.sleep
    )
    for _ in range(3):
        pacer.acquire("k", write=True)
    pacer.acquire("k", write=True)  # the fourth waits for the minute to turn
    assert clock.now == pytest.approx(1060.0)
    pacer.acquire("k", write=True)
    pacer.acquire("k", write=True)  # the sixth waits for the hour
    assert clock.now == pytest.approx(4600.0)


def test_a_hold_stops_reads_and_writes_and_a_long_one_is_refused() -> None:
    clock = Clock()
    pacer = LocalPacer(Pace(max_wait=10), clock=clock, sleep=clock.sleep)
    pacer.hold("k", 5)
    pacer.acquire("k", write=False)
    assert clock.slept == [5.0]
    pacer.hold("k", 60)
    with pytest.raises(PaceExceededError, match="holds requests for 60s, more than the 10s"):
        pacer.acquire("k", write=True)


def test_the_redis_pace_spaces_writes_and_honours_holds(redis_server: RedisServer) -> None:
    client = redis.Redis.from_url(redis_server.url(7))
    slept: list[float] = []
    pacer = RedisPacer(client, Pace(spacing=0.2, per_minute=2), sleep=slept.append, prefix="t1:")
    pacer.acquire("k", write=True)
    with pytest.raises(PaceExceededError):  # the sleep is a recorder: the spacing never passes
        RedisPacer(
            client, Pace(spacing=0.2, max_wait=0.1), sleep=slept.append, prefix="t1:"
        ).acquire("k", write=True)
    pacer.hold("k", 30)
    with pytest.raises(PaceExceededError, match="holds requests for 30s"):
        RedisPacer(client, Pace(max_wait=5), prefix="t1:").acquire("k", write=False)


def test_a_redis_outage_is_a_github_error_naming_the_pace() -> None:
    client = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5)
    with pytest.raises(Exception, match="shared GitHub pace"):
        RedisPacer(client).acquire("k", write=True)
