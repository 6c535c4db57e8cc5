"""Worker processes for the inbox concurrency tests (spawned, so importable by name)."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def drain_from_process(url: str, out: str, start: Any, hold: float) -> None:
    """Claim and complete deliveries until none is left; log ``id pr start end pid`` lines."""
    from bot.adapters.storage import create_database_engine
    from bot.adapters.storage.inbox import Inbox

    engine = create_database_engine(url)
    inbox = Inbox(engine)
    with engine.connect():
        pass
    start.wait(60)
    lines = []
    idle = 0
    while idle < 20:  # a second with nothing to claim: the others have finished too
        claim = inbox.claim(now=datetime.now(UTC))
        if claim is None:
            idle += 1
            time.sleep(0.05)
            continue
        idle = 0
        began = time.monotonic()
        time.sleep(hold)
        ended = time.monotonic()
        assert inbox.complete(claim, outcome="evaluated", now=datetime.now(UTC))
        lines.append(
            f"{claim.delivery.delivery_id} {claim.delivery.pr} {began} {ended} {os.getpid()}"
        )
    Path(out).write_text("\n".join(lines) + "\n")
    engine.dispose()


def churn_from_process(url: str, prefix: str, count: int, start: Any) -> None:
    """Store ``count`` deliveries, each claimed and failed at once: writes that read first.

    Run next to another such process, the two interleave every kind of inbox write; any
    "database is locked" ends the process with an exception (a non-zero exit code).
    """
    from bot.adapters.storage import create_database_engine
    from bot.adapters.storage.inbox import Inbox
    from bot.core.webhooks import DeliveryKind, Routing, body_digest

    engine = create_database_engine(url)
    inbox = Inbox(engine, max_attempts=1)
    start.wait(60)
    for i in range(count):
        body = f'{{"id": "{prefix}{i}"}}'.encode()
        inbox.store(
            delivery_id=f"{prefix}{i}",
            routing=Routing(
                event="issue_comment",
                action="created",
                kind=DeliveryKind.COMMAND,
                installation_id=42,
                repository="acme/intents",
                pr=i,
                head_sha=None,
                reason="",
            ),
            body=body,
            body_sha256=body_digest(body),
            received_at=datetime.now(UTC),
        )
        claim = inbox.claim(now=datetime.now(UTC), prefer=f"{prefix}{i}")
        if claim is not None:
            inbox.fail(claim, reason="churn", now=datetime.now(UTC))
        inbox.release_expired(now=datetime.now(UTC))
    engine.dispose()
