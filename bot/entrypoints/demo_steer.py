"""The demo's eighth step: the CAB steers a rollout from the merged pull request's comments.

``/eucora halt <intent>`` from the PR's author (not a CAB member) is refused with the reason; the
same from carol of the CAB holds the rollout, and sam (the other CAB team) resumes it. Each
comment goes through the webhook like any delivery; the replies are the bot's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.adapters.storage.rollouts import RolloutStore
from bot.core.rollout_model import RolloutPhase
from bot.doubles.github import GitHubDouble
from bot.doubles.github.events import signed as signed_delivery

Echo = Callable[[str], None]
STEPS = (("dave", "halt"), ("carol", "halt"), ("sam", "resume"))
"""Who comments which command, in order: the author, then one member of each CAB team."""
EXPECTED = (RolloutPhase.ACTIVE, RolloutPhase.HELD, RolloutPhase.ACTIVE)
"""The rollout's phase after each comment."""


def steer(  # noqa: PLR0913, PLR0917 - the scene's cast
    server: Any,
    client: Any,
    double: GitHubDouble,
    pr: Any,
    comment_payload: Callable[[Any, int, Any], dict[str, Any]],
    installation: int,
    echo: Echo,
) -> bool:
    """Run the step; True when each command did what ``EXPECTED`` says and got a reply."""
    echo("\n8. The CAB steers a rollout from the merged pull request's comments")
    store = RolloutStore(server.intake.services.engine)
    active = sorted(
        r.state.intent
        for r in store.of_pr(pr.repository, pr.number)
        if r.state.phase is RolloutPhase.ACTIVE
    )
    if not active:
        echo("   no rollout is active to steer")
        return False
    intent = active[0]
    seen = []
    for (user, verb), expected in zip(STEPS, EXPECTED, strict=True):
        before = {c.id for c in double.comments(pr.repository, pr.number)}
        asked = double.add_comment(pr.repository, pr.number, user, f"/eucora {verb} {intent}")
        payload = comment_payload(pr, installation, asked)
        body, headers = signed_delivery("issue_comment", payload, double.app.webhook_secret)
        client.post("/webhook", data=body, headers=headers)
        server.intake.processor.drain()
        replies = [
            c
            for c in double.comments(pr.repository, pr.number)
            if c.id not in before and c.id != asked.id
        ]
        phase = next(
            r.state.phase for r in store.of_pr(pr.repository, pr.number) if r.state.intent == intent
        )
        reply = replies[-1].body.strip().splitlines()[0] if replies else "(no reply)"
        reply = reply.replace("<code>", "`").replace("</code>", "`")  # markdown, for a terminal
        echo(f"   {user}: /eucora {verb} {intent} -> {phase.value}; the bot: {reply}")
        seen.append(bool(replies) and phase is expected)
    return all(seen)
