"""The drift issue's commands, as data: ``/eucora remediate`` and ``/eucora adopt``.

Pure: parsing a comment (the command stands alone on its line, as every command does), finding
the (intent, plane) a drift issue is about (its hidden marker) and the replies. The flow
(``bot.flows.drift``) checks who asked, acts and answers on GitHub.
"""

from __future__ import annotations

import re
from enum import StrEnum

from bot.core.render.formatting import escape_markdown


class DriftVerb(StrEnum):
    """What a writer may ask on a drift issue."""

    REMEDIATE = "remediate"
    ADOPT = "adopt"

    @property
    def text(self) -> str:
        """The command as it is written (for replies and the audit trail)."""
        return f"/eucora {self.value}"


_WORDS = "|".join(verb.value for verb in DriftVerb)
_COMMAND = re.compile(rf"^[ \t]*/eucora[ \t]+({_WORDS})[ \t]*$", re.MULTILINE)
_MARKER = re.compile(r"<!-- eucora:drift plane=(?P<plane>[^\s>]+) intent=(?P<intent>[^\s>]+) -->")
MAX_NAME = 200
"""Longer plane or intent names in a marker are not names (nothing is looked up for them)."""


def parse_drift_command(body: str) -> DriftVerb | None:
    """The first drift command on a line of its own in a comment, or ``None``.

    Quoting one or mentioning it in prose does not trigger it; a word after it is not a command.
    """
    match = _COMMAND.search(body)
    return DriftVerb(match.group(1)) if match is not None else None


def drift_of_issue(body: str) -> tuple[str, str] | None:
    """The (intent, plane) a drift issue is about (its hidden marker), or ``None``.

    The marker names no repository: the caller looks the drift up in the repository the issue
    belongs to, and accepts it only when that drift's issue is this one.
    """
    match = _MARKER.search(body)
    if match is None or max(len(match["plane"]), len(match["intent"])) > MAX_NAME:
        return None
    return match["intent"], match["plane"]


# --- replies --------------------------------------------------------------------------------------


def _who(user: str) -> str:
    return f"@{escape_markdown(user)}"


def _code(verb: DriftVerb) -> str:
    return f"<code>{verb.text}</code>"


def _name(intent: str, plane: str) -> str:
    return f"<code>{escape_markdown(intent)}</code> on {escape_markdown(plane)}"


def not_writer_reply(user: str, verb: DriftVerb) -> str:
    """The polite answer to someone without write access to the repository."""
    return (
        f"{_who(user)} sorry, {_code(verb)} can only be run by people with write access to this "
        "repository. Ask one of them to run it."
    )


def no_drift_reply(user: str, verb: DriftVerb) -> str:
    """The answer on an issue that is not the open drift issue of an intent of this repository."""
    return (
        f"{_who(user)} {_code(verb)} is for the drift issue EUCORA opened for an intent of this "
        "repository: no drift belongs to this issue."
    )


def remediated_reply(user: str, intent: str, plane: str, *, queued: bool) -> str:
    """What ``/eucora remediate`` did."""
    if not queued:
        return (
            f"{_who(user)} nothing was sent for {_name(intent, plane)}: no published ring of it "
            "could be put back now (a publication is in flight); the next reconcile pass "
            "compares again. This command is recorded in the audit trail."
        )
    return (
        f"{_who(user)} done: git's state of {_name(intent, plane)} is being published again. "
        "The next reconcile pass compares the plane with git and closes this issue when they "
        "agree. This command is recorded in the audit trail."
    )


def adopted_reply(user: str, intent: str, plane: str, pull_request: int) -> str:
    """What ``/eucora adopt`` did."""
    return (
        f"{_who(user)} done: #{int(pull_request)} writes {escape_markdown(plane)}'s state into "
        f"<code>{escape_markdown(intent)}</code>. It is checked and approved like any change; "
        "this issue closes once it is merged and published. This command is recorded in the "
        "audit trail."
    )
