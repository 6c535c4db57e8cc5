"""The approvals flow's own parts: the CAB team cache and the ignored deliveries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.flows.deployment_protection import on_deployment
from bot.flows.review_deliveries import on_membership, on_review
from bot.flows.team_directory import TeamDirectory


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


class Teams:
    """Answers team_members like GitHub, counting the calls."""

    def __init__(self) -> None:
        self.members = {"acme/cab": frozenset({"carol", "sam"})}
        self.calls = 0

    def team_members(self, team: str) -> frozenset[str]:
        self.calls += 1
        return self.members[team]


def test_members_are_cached_for_the_ttl_and_forgotten_on_a_membership_event() -> None:
    clock, github = Clock(), Teams()
    directory = TeamDirectory(clock, ttl=timedelta(seconds=60))
    assert directory.members(github, "acme/cab") == {"carol", "sam"}  # type: ignore[arg-type]
    github.members["acme/cab"] = frozenset({"sam"})
    assert directory.members(github, "ACME/cab") == {"carol", "sam"}  # type: ignore[arg-type]
    assert github.calls == 1

    clock.now += timedelta(seconds=61)
    assert directory.members(github, "acme/cab") == {"sam"}  # type: ignore[arg-type]
    github.members["acme/cab"] = frozenset({"sam", "tom"})
    directory.forget("Acme/Cab")
    assert directory.members(github, "acme/cab") == {"sam", "tom"}  # type: ignore[arg-type]
    github.members["acme/cab"] = frozenset()
    directory.forget()
    assert directory.members(github, "acme/cab") == frozenset()  # type: ignore[arg-type]
    assert github.calls == 4


class NoApprovals:
    """A context without an approvals judge (the Action's token mode before approvals)."""

    approvals = None


def test_without_an_approvals_judge_review_membership_and_deployment_are_ignored() -> None:
    context = NoApprovals()
    payload = {"repository": {"full_name": "acme/intents"}}
    assert on_review(context, payload, installation_id=1, correlation_id="d") == "ignored"  # type: ignore[arg-type]
    assert on_membership(context, payload, installation_id=1, correlation_id="d") == "ignored"  # type: ignore[arg-type]
    assert on_deployment(context, payload, correlation_id="d") == "ignored"  # type: ignore[arg-type]
