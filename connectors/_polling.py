"""Following a launched job or activity until it ends, with the clock passed in.

A connector that launches something (an AWX job, a Landscape activity) follows it for at most
``timeout`` seconds. When the time is up it raises a transient error: the id is already in the
journal, so the retry follows the same job instead of launching another.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from bot.errors import TransientConnectorError

T = TypeVar("T")


@dataclass(frozen=True, slots=True, kw_only=True)
class Follow:
    """How long and how often to read a launched job back."""

    interval: float = 2.0
    timeout: float = 300.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)

    def until(self, read: Callable[[], T], done: Callable[[T], bool], what: str) -> T:
        """Call ``read`` until ``done`` says so; a transient error names ``what`` on timeout."""
        deadline = self.clock() + self.timeout
        while True:
            value = read()
            if done(value):
                return value
            if self.clock() >= deadline:
                raise TransientConnectorError(
                    f"{what} has not finished after {self.timeout:g} s", self.interval
                )
            self.sleep(self.interval)
