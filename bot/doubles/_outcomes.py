"""Install outcomes a test tells a plane double, per target group, over time.

Every plane double has the same small control API (on :class:`bot.doubles._server.HttpDouble`):

* ``double.clock``: what the plane's own clock says (a callable returning an aware ``datetime``;
  the real time unless a test drives it). The double stamps its ``Date`` header with it;
* ``double.set_outcomes(group, installed=, failed=, pending=, not_applicable=, errors=, as_of=,
  at=)``: from the moment ``at`` on the double's clock (at once when not given), the devices of
  ``group`` (an Entra group id, a Jamf computer group name, an SCCM collection id, a Landscape tag,
  an Ansible limit) are in these states. ``errors`` are ``(code, message)`` pairs given to the
  failed devices in turn; ``as_of`` is when the plane's summarised data was computed (SCCM's
  ``SummarizationTime``, an Intune report row's time), the clock's time when not given;
* ``double.outcomes_of(group)``: the devices as the double serves them now (``None`` when no
  outcomes were told for the group, so the double keeps its older, step-by-step behaviour).

Calling ``set_outcomes`` again with a later ``at`` scripts a timeline: a test that moves the clock
sees the plane's answers change, as a ring's devices report in.

Each double serves the devices in its vendor's shape; :class:`DeviceOutcome` is the plane-neutral
form they start from. Device names are ``<group>-NNN`` (the same device keeps its name as its state
changes from one entry of the timeline to the next).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

DeviceState = Literal["installed", "failed", "pending", "not_applicable"]
Clock = Callable[[], datetime]


def real_clock() -> datetime:
    """The wall clock, in UTC (the default plane clock)."""
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class DeviceOutcome:
    """One device of a group and where its install stands."""

    index: int
    """0-based position in the group (stable across the timeline)."""
    name: str
    state: DeviceState
    code: str = ""
    message: str = ""


@dataclass(frozen=True, slots=True)
class GroupOutcomes:
    """What one entry of the timeline says about a group."""

    at: datetime | None
    installed: int
    failed: int
    pending: int
    not_applicable: int
    errors: tuple[tuple[str, str], ...]
    as_of: datetime | None

    @property
    def targeted(self) -> int:
        """Devices in the group."""
        return self.installed + self.failed + self.pending + self.not_applicable

    def devices(self, group: str) -> list[DeviceOutcome]:
        """The group's devices: installed first, then failed, pending, not applicable."""
        each: tuple[tuple[DeviceState, int], ...] = (
            ("installed", self.installed),
            ("failed", self.failed),
            ("pending", self.pending),
            ("not_applicable", self.not_applicable),
        )
        states = [state for state, number in each for _ in range(number)]
        devices = []
        failures = 0
        for index, state in enumerate(states):
            code = message = ""
            if state == "failed":
                code, message = (
                    self.errors[failures % len(self.errors)]
                    if self.errors
                    else ("0x87D1041C", "The application was not detected after installation.")
                )
                failures += 1
            devices.append(DeviceOutcome(index, device_name(group, index), state, code, message))
        return devices


def device_name(group: str, index: int) -> str:
    """The name the doubles give the ``index``-th device of ``group``."""
    return f"{group}-{index + 1:03d}"


class OutcomeBook:
    """The timelines of every group a test told outcomes for."""

    def __init__(self, clock: Callable[[], Clock]) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._timelines: dict[str, list[GroupOutcomes]] = {}

    def tell(  # noqa: PLR0913 - the counts of one group, plus when
        self,
        group: str,
        *,
        installed: int = 0,
        failed: int = 0,
        pending: int = 0,
        not_applicable: int = 0,
        errors: Sequence[tuple[str, str]] = (),
        as_of: datetime | None = None,
        at: datetime | None = None,
    ) -> None:
        """Record an entry of ``group``'s timeline (see the module docstring)."""
        counts = (installed, failed, pending, not_applicable)
        if any(c < 0 for c in counts):
            raise ValueError(f"outcome counts cannot be negative: {counts}")
        entry = GroupOutcomes(at, *counts, tuple(errors), as_of)
        with self._lock:
            timeline = self._timelines.setdefault(group, [])
            timeline.append(entry)
            timeline.sort(key=lambda e: e.at or datetime.min.replace(tzinfo=UTC))

    def now(self, group: str) -> GroupOutcomes | None:
        """The entry in force for ``group`` on the plane's clock, or ``None``."""
        now = self._clock()()
        with self._lock:
            timeline = self._timelines.get(group, [])
            current = [e for e in timeline if e.at is None or e.at <= now]
        return current[-1] if current else None

    def groups(self) -> list[str]:
        """Every group with a timeline."""
        with self._lock:
            return list(self._timelines)
