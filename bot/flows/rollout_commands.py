"""``/eucora promote|halt|resume <intent>``: a CAB member steers a rollout from a comment.

On the merged pull request (its rollouts, by number) or on one of the rollout's issues (found by
the issue's hidden marker). Only members of the CAB teams that ``eucora.yaml`` names on the
default branch may (``cab.teams``, and the teams of the ``cab.routes`` that apply to the
intent); membership is read through the approvals' ``TeamDirectory`` (a team that cannot be
read raises ``GitHubError``: the delivery is retried, never taken as "not a member").
What a command may do is decided in the core (``bot.core.rollout_commands``, ``bot.core.gates``);
the new state is saved conditionally on the revision read (a reconcile pass moving the rollout
at the same moment makes the command apply again to the newer state). The command does not
reconcile: the next pass acts on it. Every command, run or refused, is a ``rollout.command``
audit event, and a reply comment says what happened.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from bot.core.approval_routing import ChangedIntent, steering_teams
from bot.core.errors import GitError
from bot.core.rollout_commands import (
    RolloutCommand,
    apply,
    done_reply,
    no_rollout_reply,
    not_cab_reply,
    refused_reply,
    rollout_of_issue,
    unknown_intent_reply,
    usage_reply,
)
from bot.core.rollout_model import RolloutRecord
from bot.errors import GitHubError
from bot.flows.config_at_revision import read_config
from bot.flows.pull_request import EvidenceRecorder
from bot.flows.team_directory import TeamDirectory
from bot.ports import CommandStore, GitHub

ROLLOUT_COMMAND = "rollout.command"
SAVE_ATTEMPTS = 3
"""A command applies again to a newer state this many times before it gives up (and says so)."""


class RolloutCommands:
    """Runs rollout commands (see the module docstring)."""

    def __init__(
        self, *, store: CommandStore, teams: TeamDirectory, clock: Callable[[], datetime]
    ) -> None:
        self._store = store
        self._teams = teams
        self._clock = clock

    def run(  # noqa: PLR0913 - keyword-only facts of one comment
        self,
        github: GitHub,
        evidence: EvidenceRecorder,
        repository: str,
        number: int,
        command: RolloutCommand,
        *,
        user: str,
        issue: Mapping[str, Any],
        correlation_id: str,
    ) -> str:
        """Answer ``command`` from ``user`` on issue or pull request ``number``; the outcome."""

        def audit(outcome: str, record: RolloutRecord | None, **more: Any) -> None:
            evidence.audit(
                ROLLOUT_COMMAND,
                correlation_id=correlation_id,
                repository=repository,
                pr=record.pr if record is not None else number,
                head_sha=None,
                payload={
                    "command": command.verb.value,
                    "intent": command.intent,
                    "ring": command.ring,
                    "user": user,
                    "on": number,
                    "outcome": outcome,
                    "rollout": record.id if record is not None else None,
                    **more,
                },
            )

        def reply(outcome: str, record: RolloutRecord | None, body: str, **more: Any) -> str:
            audit(outcome, record, **more)
            github.add_comment(repository, number, body)
            return outcome

        records = self._rollouts(repository, number, issue)
        if not records:
            return reply("no-rollout", None, no_rollout_reply(user, command))
        config = self._default_config(github, records[0])
        teams = _teams_of(config, records)
        if not self._is_member(github, teams, user):
            return reply("refused", records[0], not_cab_reply(user, command, teams))
        intents = [r.state.intent for r in records]
        if not command.intent:
            return reply("usage", records[0], usage_reply(user, command, intents))
        chosen = [r for r in records if r.state.intent == command.intent]
        if not chosen:
            return reply("unknown-intent", records[0], unknown_intent_reply(user, command, intents))
        teams = _teams_of(config, chosen[-1:])
        if not self._is_member(github, teams, user):
            return reply("refused", chosen[-1], not_cab_reply(user, command, teams))
        outcome, record, body, why = self._apply(chosen[-1], command, user)
        return reply(outcome, record, body, **({"why": why} if why else {}))

    def _apply(
        self, record: RolloutRecord, command: RolloutCommand, user: str
    ) -> tuple[str, RolloutRecord, str, str | None]:
        """Apply and save conditionally, again on the newer state when a pass moved it first."""
        for _ in range(SAVE_ATTEMPTS):
            after = apply(record.state, command, user)
            if isinstance(after, str):
                return "not-applied", record, refused_reply(user, command, after), after
            saved, _ = self._store.save(record, after, now=self._clock())
            if saved:
                return "applied", record, done_reply(user, command, after), None
            newer = self._store.get(record.id)
            if newer is None:
                break
            record = newer
        why = "the rollout kept changing while the command was applied; run it again"
        return "not-applied", record, refused_reply(user, command, why), why

    def _rollouts(
        self, repository: str, number: int, issue: Mapping[str, Any]
    ) -> tuple[RolloutRecord, ...]:
        """The merged PR's rollouts; on a rollout issue, those of the PR it was rolled out by."""
        if "pull_request" in issue:
            return self._store.of_pr(repository, number)
        rollout_id = rollout_of_issue(str(issue.get("body") or ""), repository)
        found = self._store.get(rollout_id) if rollout_id is not None else None
        if found is None or found.repository.casefold() != repository.casefold():
            return ()
        return self._store.of_pr(found.repository, found.pr)

    @staticmethod
    def _default_config(github: GitHub, record: RolloutRecord) -> Mapping[str, Any]:
        """``eucora.yaml`` at the head of the default branch."""
        branch = github.pull_request(record.repository, record.pr).default_branch or "main"
        sha = github.branch_head(record.repository, branch)
        mirror = github.fetch_revisions(record.repository, [sha])
        try:
            config = read_config(mirror, sha)
        except GitError as error:
            raise GitHubError(f"reading eucora.yaml of {record.repository}: {error}") from error
        return config

    def _is_member(self, github: GitHub, teams: Sequence[str], user: str) -> bool:
        login = user.casefold()
        return any(
            login in {m.casefold() for m in self._teams.members(github, team)} for team in teams
        )


def _teams_of(config: Mapping[str, Any], records: Sequence[RolloutRecord]) -> tuple[str, ...]:
    """The teams that may steer any of ``records`` (see ``steering_teams``)."""
    teams: dict[str, None] = {}
    for record in records:
        intent = ChangedIntent.of(record.path, documents=[record.intent])
        teams.update(dict.fromkeys(steering_teams(config, intent)))
    return tuple(teams)
