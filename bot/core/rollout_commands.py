"""The rollout commands of a comment, as data: ``/eucora promote|halt|resume <intent> [<ring>]``.

Pure: parsing a comment, finding the rollout an issue is about (its hidden marker), applying a
command to a rollout's state (:mod:`bot.core.gates` decides what each may do) and the replies.
The flow (``bot.flows.rollout_commands``) checks who asked, saves and answers on GitHub.

- ``promote`` waives the watched ring's soak and wait for reports, never a failed gate, never a
  ring (``<ring>``, when given, must be the watched one);
- ``halt`` holds the rollout until ``resume`` (a failed gate's halt is final and stays so);
- ``resume`` runs a held rollout again; its gate is decided afresh on the next pass.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from bot.core import gates
from bot.core.render.formatting import escape_markdown
from bot.core.rollout_model import RolloutState


class RolloutVerb(StrEnum):
    """What a CAB member may ask of a running rollout."""

    PROMOTE = "promote"
    HALT = "halt"
    RESUME = "resume"


@dataclass(frozen=True, slots=True)
class RolloutCommand:
    """One parsed command; ``intent`` is empty when the comment named none."""

    verb: RolloutVerb
    intent: str
    ring: str | None = None

    @property
    def text(self) -> str:
        """The command as it is written (for replies and the audit trail)."""
        return " ".join(p for p in ("/eucora", self.verb.value, self.intent, self.ring) if p)


_WORDS = "|".join(verb.value for verb in RolloutVerb)
_COMMAND = re.compile(
    rf"^[ \t]*/eucora[ \t]+({_WORDS})(?:[ \t]+([^\s]+))?(?:[ \t]+([^\s]+))?[ \t]*$", re.MULTILINE
)
_MARKER = re.compile(r"<!-- eucora:(?:halted|held|stuck):(?P<repository>[^:\s]+):(?P<id>\d+) -->")
MAX_NAME = 200
"""Longer intent or ring names are not names (nothing is looked up for them)."""


def parse_rollout_command(body: str) -> RolloutCommand | None:
    """The first rollout command on a line of its own in a comment, or ``None``.

    As for the other commands, quoting or mentioning one in prose does not trigger it. A ring
    given to ``halt`` or ``resume`` is ignored; a third word is not a command.
    """
    match = _COMMAND.search(body)
    if match is None:
        return None
    verb = RolloutVerb(match.group(1))
    intent = (match.group(2) or "")[:MAX_NAME]
    ring = match.group(3)[:MAX_NAME] if match.group(3) and verb is RolloutVerb.PROMOTE else None
    return RolloutCommand(verb, intent, ring)


def rollout_of_issue(body: str, repository: str) -> int | None:
    """The rollout an EUCORA issue is about (its hidden marker), when it is of ``repository``."""
    for match in _MARKER.finditer(body):
        if match["repository"].casefold() == repository.casefold():
            return int(match["id"])
    return None


def apply(state: RolloutState, command: RolloutCommand, by: str) -> RolloutState | str:
    """The rollout's state after ``command`` from ``by``, or why it does not apply."""
    if command.verb is RolloutVerb.PROMOTE:
        return gates.promote(state, command.ring, by)
    if command.verb is RolloutVerb.HALT:
        return gates.halt(state, by)
    return gates.resume(state, by)


# --- replies --------------------------------------------------------------------------------------


def _who(user: str) -> str:
    return f"@{escape_markdown(user)}"


def _code(command: RolloutCommand) -> str:
    return f"<code>{escape_markdown(command.text)}</code>"


def not_cab_reply(user: str, command: RolloutCommand, teams: Sequence[str]) -> str:
    """The polite answer to someone who is not a CAB member."""
    who = ", ".join(escape_markdown(t) for t in teams) or "no CAB team is configured"
    return (
        f"{_who(user)} sorry, {_code(command)} can only be run by members of the CAB teams "
        f"named in `eucora.yaml` on the default branch ({who}). Ask a CAB member to run it."
    )


def usage_reply(user: str, command: RolloutCommand, intents: Sequence[str]) -> str:
    """The answer to a command that names no intent."""
    ring = " [<ring>]" if command.verb is RolloutVerb.PROMOTE else ""
    return (
        f"{_who(user)} `/eucora {command.verb.value}` needs the intent it is about: "
        f"`/eucora {command.verb.value} <intent>{ring}`. {_rolled_out(intents)}"
    )


def unknown_intent_reply(user: str, command: RolloutCommand, intents: Sequence[str]) -> str:
    """The answer to a command naming an intent this pull request did not roll out."""
    return (
        f"{_who(user)} this pull request rolled out no intent named "
        f"<code>{escape_markdown(command.intent)}</code>. {_rolled_out(intents)}"
    )


def no_rollout_reply(user: str, command: RolloutCommand) -> str:
    """The answer on a pull request or issue that no rollout belongs to."""
    return (
        f"{_who(user)} {_code(command)} is for the merged pull request of a rollout, or the "
        "rollout's issue: nothing is rolling out from here."
    )


def refused_reply(user: str, command: RolloutCommand, why: str) -> str:
    """The answer when the rollout's state does not allow the command."""
    return f"{_who(user)} {_code(command)} was not applied: {escape_markdown(why)}."


def done_reply(user: str, command: RolloutCommand, state: RolloutState) -> str:
    """What happened, and what happens next."""
    name = f"{escape_markdown(state.intent)} {escape_markdown(state.version)}"
    ring = escape_markdown(state.rings[state.current].name) if state.rings else "?"
    if command.verb is RolloutVerb.PROMOTE:
        what = (
            f"the soak of {ring} is waived for {name}. The next reconcile pass promotes the "
            "next ring if the gate holds no failure (a failed gate still halts)"
        )
    elif command.verb is RolloutVerb.HALT:
        what = (
            f"{name} is held at {ring}: no ring is promoted until <code>/eucora resume "
            f"{escape_markdown(state.intent)}</code>"
        )
    else:
        what = f"{name} runs again from {ring}; the next reconcile pass decides its gate afresh"
    return f"{_who(user)} done: {what}. This command is recorded in the audit trail."


def _rolled_out(intents: Sequence[str]) -> str:
    if not intents:
        return "It rolled out no intent."
    names = ", ".join(f"<code>{escape_markdown(i)}</code>" for i in sorted(set(intents)))
    return f"It rolled out: {names}."
