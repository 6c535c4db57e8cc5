"""Which webhook deliveries to ask GitHub to redeliver: a pure choice over GitHub's delivery list.

GitHub does not retry a failed delivery (https://docs.github.com/en/webhooks/using-webhooks/
handling-failed-webhook-deliveries). ``GET /app/hook/deliveries`` lists every attempt: ``id`` is
unique per attempt, ``guid`` (the ``X-GitHub-Delivery`` header) is the same for a delivery and
all its redeliveries. So the attempts are grouped by ``guid`` and, per guid, the newest decides:

* the inbox holds the guid: it arrived (GitHub may still call it failed: a slow acknowledgement);
* the newest attempt succeeded and is a redelivery, or is a ``ping`` (never stored): done;
* the newest attempt is a redelivery asked for less than ``min_gap`` ago: the last run asked;
* otherwise the newest attempt is redelivered, once: ``failed`` (not 2xx, or ``status`` not OK)
  or ``not stored`` (GitHub says it arrived, the inbox does not hold it).

Nothing here reads a clock or the network: ``now`` and the lists are passed in.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.core.durations import parse_since

REDELIVERY_WINDOW = timedelta(days=3)
"""How far back github.com redelivers (GHES 3.16+: 7 days)."""

_ISO_DURATION = re.compile(
    r"P(?:(?P<w>\d+)W)?(?:(?P<d>\d+)D)?(?:T(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?(?:(?P<s>\d+)S)?)?"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Attempt:
    """One attempt of GitHub's delivery list (``GET /app/hook/deliveries`` item)."""

    id: int
    guid: str
    event: str
    action: str | None
    status: str
    status_code: int
    delivered_at: datetime
    redelivery: bool
    installation_id: int | None = None

    @property
    def ok(self) -> bool:
        """GitHub's own verdict: a 2xx answer and status ``OK``."""
        return 200 <= self.status_code < 300 and self.status.upper() == "OK"


@dataclass(frozen=True, slots=True, kw_only=True)
class Choice:
    """One guid and what to do with it: ``redeliver`` the attempt ``attempt_id``, or skip why."""

    guid: str
    event: str
    attempt_id: int
    redeliver: bool
    reason: str


class DeliveryListError(ValueError):
    """An item of GitHub's delivery list is not shaped as GitHub documents it."""


def parse_attempt(item: Mapping[str, Any]) -> Attempt:
    """An ``Attempt`` from one list item; ``DeliveryListError`` names a missing or bad field."""
    try:
        delivered = datetime.fromisoformat(str(item["delivered_at"]))
        installation = item.get("installation_id")
        return Attempt(
            id=int(item["id"]),
            guid=str(item["guid"]),
            event=str(item["event"]),
            action=str(item["action"]) if item.get("action") is not None else None,
            status=str(item["status"]),
            status_code=int(item["status_code"]),
            delivered_at=delivered if delivered.tzinfo else delivered.replace(tzinfo=UTC),
            redelivery=bool(item["redelivery"]),
            installation_id=int(installation) if installation is not None else None,
        )
    except (KeyError, TypeError, ValueError) as error:
        raise DeliveryListError(
            f"GitHub's delivery list holds an item without a valid {error}"
        ) from None


def since_moment(text: str, *, now: datetime) -> datetime:
    """The moment ``--since`` names: ``2h``, ``30m``, ``7d``, ISO 8601 ``P1D``/``PT2H``, or a time.

    Raises ``ValueError`` with a message for people.
    """
    value = text.strip()
    match = _ISO_DURATION.fullmatch(value.upper())
    if match and value.upper() not in {"P", "PT"} and any(match.groupdict().values()):
        parts = {k: int(v or 0) for k, v in match.groupdict().items()}
        return now - timedelta(
            weeks=parts["w"],
            days=parts["d"],
            hours=parts["h"],
            minutes=parts["m"],
            seconds=parts["s"],
        )
    return parse_since(value, now=now)


def choose(  # noqa: PLR0913 - keywords, each a rule's input
    attempts: Iterable[Attempt],
    *,
    stored: AbstractSet[str],
    now: datetime,
    since: datetime,
    min_gap: timedelta = timedelta(0),
    window: timedelta = REDELIVERY_WINDOW,
) -> list[Choice]:
    """One :class:`Choice` per guid delivered since ``since``, oldest first.

    ``stored``: the guids the inbox holds. ``min_gap``: a guid whose newest attempt is a
    redelivery younger than this is left alone (a periodic run asked already). ``window``: how
    far back GitHub redelivers (an older attempt is reported, not asked for).
    """
    newest: dict[str, Attempt] = {}
    first_seen: dict[str, datetime] = {}
    for attempt in attempts:
        if attempt.delivered_at < since:
            continue
        held = newest.get(attempt.guid)
        if held is None or (attempt.delivered_at, attempt.id) > (held.delivered_at, held.id):
            newest[attempt.guid] = attempt
        seen = first_seen.get(attempt.guid)
        first_seen[attempt.guid] = min(seen, attempt.delivered_at) if seen else attempt.delivered_at
    choices = [
        _choice(attempt, stored=stored, now=now, min_gap=min_gap, window=window)
        for attempt in newest.values()
    ]
    return sorted(choices, key=lambda c: (first_seen[c.guid], c.guid))


def _choice(
    attempt: Attempt,
    *,
    stored: AbstractSet[str],
    now: datetime,
    min_gap: timedelta,
    window: timedelta,
) -> Choice:
    def skip(reason: str) -> Choice:
        return Choice(
            guid=attempt.guid,
            event=attempt.event,
            attempt_id=attempt.id,
            redeliver=False,
            reason=reason,
        )

    if attempt.guid in stored:
        return skip("stored")
    if attempt.ok and (attempt.redelivery or attempt.event == "ping"):
        return skip("delivered")
    if attempt.redelivery and now - attempt.delivered_at < min_gap:
        return skip("redelivered recently")
    if now - attempt.delivered_at > window:
        return skip("older than GitHub redelivers")
    return Choice(
        guid=attempt.guid,
        event=attempt.event,
        attempt_id=attempt.id,
        redeliver=True,
        reason="not stored" if attempt.ok else "failed",
    )
