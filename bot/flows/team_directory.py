"""The CAB teams' active members, from the GitHub API, cached for a short time.

Forgotten when a ``membership`` webhook names the team (``review_deliveries.on_membership``), and
all at once before a lasting decision (``publication_judgement.judge_publication``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from bot.ports import GitHub

DEFAULT_TEAM_TTL = timedelta(seconds=60)
"""How long a team's member list is trusted without a membership webhook."""


class TeamDirectory:
    """Active members of CAB teams, from the GitHub API, cached for ``ttl``.

    A ``membership`` webhook forgets the team at once (:meth:`forget`), so a member removed
    from the CAB stops counting on the next decision, not a TTL later.
    """

    def __init__(self, clock: Callable[[], datetime], ttl: timedelta = DEFAULT_TEAM_TTL) -> None:
        self._clock = clock
        self._ttl = ttl
        self._cache: dict[str, tuple[frozenset[str], datetime]] = {}
        self._guard = threading.Lock()

    def members(self, github: GitHub, team: str) -> frozenset[str]:
        """The team's active members (child teams' included), fetched when stale."""
        key = team.casefold()
        now = self._clock()
        with self._guard:
            cached = self._cache.get(key)
        if cached is not None and now - cached[1] < self._ttl:
            return cached[0]
        found = github.team_members(team)
        with self._guard:
            self._cache[key] = (found, now)
        return found

    def forget(self, team: str | None = None) -> None:
        """Drop one team's cached members (all teams when ``team`` is ``None``)."""
        with self._guard:
            if team is None:
                self._cache.clear()
            else:
                self._cache.pop(team.casefold(), None)
