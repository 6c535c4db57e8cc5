"""The publish task (``bot.flows.publish.Publisher``): one publication claimed, run and reported.

The in-memory outbox (``tests.support.memory.MemoryOutbox``, held to the database outbox's
behaviour by ``tests/support/test_memory.py``), the in-memory GitHub fake and a connector fake we
own (it answers what each test scripts: a result, a transient or permanent error, an unexpected
exception), so every path of a run is exercised without a plane or a database: retries with
Retry-After, attempts used up, refusals, an unconfigured plane, GitHub failing to take a
deployment or its status, a lost lease, and the sweeper closing a change whose reporting failed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.core.evidence import digest_of
from bot.core.github_model import EVIDENCE_MARKER
from bot.core.pack_view import ChangePackView
from bot.core.publishing import MAX_ATTEMPTS
from bot.core.records import NewChange, NewPublication
from bot.errors import (
    GitHubError,
    LeaseLostError,
    PermanentConnectorError,
    TransientConnectorError,
)
from bot.flows.publish import CRASH_LOOP_ATTEMPTS, REPORT_RETRY, Publisher
from connectors.base import Journal, Publication, PublishResult
from tests.support.fake_github import FakeGitHub
from tests.support.memory import MemoryOutbox
from tests.support.plane_publications import intent

REPO = "acme/intents"
START = datetime(2027, 2, 17, 9, 0, tzinfo=UTC)


@dataclass
class Clock:
    now: datetime = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class ScriptedConnector:
    """Answers each publish with the next scripted outcome (a result or an exception)."""

    outcomes: list[Any]
    calls: list[str] = field(default_factory=list)
    during: Any = None
    """Called with the journal inside publish (to lose the lease mid-call)."""

    def publish(self, publication: Publication, journal: Journal) -> PublishResult:
        self.calls.append(publication.idempotency_key)
        if self.during is not None:
            self.during(journal)
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome


@dataclass
class Planes:
    connectors: dict[str, Any]

    def get(self, plane: str) -> Any:
        return self.connectors.get(plane)

    def configured(self) -> tuple[str, ...]:
        return tuple(self.connectors)


@dataclass
class Evidence:
    packs: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def record_pack(self, pack: Mapping[str, Any], **_context: Any) -> str:
        digest = digest_of(pack)
        self.packs[digest] = dict(pack)
        return digest

    def audit(self, type_: str, **fields: Any) -> None:
        self.events.append((type_, fields["payload"]))

    def types(self) -> list[str]:
        return [t for t, _ in self.events]


@dataclass
class Sent:
    messages: list[tuple[int, float]] = field(default_factory=list)
    broken: bool = False

    def send(self, publication_id: int, *, delay: float = 0.0) -> None:
        if self.broken:
            raise ConnectionError("broker down")
        self.messages.append((publication_id, delay))


class Installations:
    def __init__(self, github: FakeGitHub) -> None:
        self.github = github
        self.asked: list[int | None] = []

    def for_installation(self, installation_id: int | None) -> FakeGitHub:
        self.asked.append(installation_id)
        return self.github


RESULT = PublishResult(object_id="app-1", created=True, url="https://plane.example/app-1")


@pytest.fixture
def outbox() -> MemoryOutbox:
    return MemoryOutbox(lease_seconds=60)


@pytest.fixture
def github(tmp_path: Path) -> FakeGitHub:
    return FakeGitHub(tmp_path)


@dataclass
class World:
    publisher: Publisher
    outbox: MemoryOutbox
    github: FakeGitHub
    evidence: Evidence
    queue: Sent
    clock: Clock
    connector: ScriptedConnector
    ids: tuple[int, ...]
    change_id: int


def world(
    outbox: MemoryOutbox,
    github: FakeGitHub,
    outcomes: list[Any],
    *,
    planes: tuple[str, ...] = ("sccm",),
    configured: bool = True,
) -> World:
    clock = Clock()
    connector = ScriptedConnector(outcomes)
    evidence = Evidence()
    queue = Sent()
    publisher = Publisher(
        outbox=outbox,
        queue=queue,
        connectors=Planes(dict.fromkeys(planes, connector) if configured else {}),
        github=Installations(github),
        evidence=evidence,
        clock=clock,
        public_url="https://eucora.example",
        jitter=lambda: 0.5,
    )
    document = intent("windows/7-zip.yaml")
    change, rows, created = outbox.record_change(
        NewChange(
            repository=REPO,
            pr=7,
            installation_id=42,
            head_sha="a" * 40,
            merge_sha="b" * 40,
            check_digest="sha256:" + "c" * 64,
            state="publishing",
            emergency=False,
            facts={
                "mergedAt": "2027-02-17T09:00:00Z",
                "approvals": [
                    {"reviewId": 5, "reviewer": "carol", "teams": ["acme/cab"], "commit": "a" * 40}
                ],
                "decision": {"outcome": "approved", "required": 1, "counted": 1},
            },
            comment_head=f"{EVIDENCE_MARKER}\n### EUCORA check\n",
            correlation_id="delivery-1",
        ),
        [
            NewPublication(
                plane=plane,
                intent_name=f"7-zip-{plane}",
                version="24.08",
                ring="lab",
                target="PS100012",
                path="intents/windows/7-zip.yaml",
                idempotency_key=f"7-zip-{plane}@24.08#lab",
                intent=document,
                evidence_digest="sha256:" + "c" * 64,
            )
            for plane in planes
        ],
        now=clock(),
    )
    assert created
    return World(
        publisher,
        outbox,
        github,
        evidence,
        queue,
        clock,
        connector,
        tuple(r.id for r in rows),
        change.id,
    )


def test_a_publication_that_succeeds_is_deployed_reported_and_closes_the_change(
    outbox: MemoryOutbox, github: FakeGitHub
) -> None:
    w = world(outbox, github, [RESULT])
    [publication_id] = w.ids

    assert w.publisher.run(publication_id) == "succeeded"

    row = outbox.get(publication_id)
    assert row is not None
    assert row.state == "succeeded"
    assert row.result == {
        "object_id": "app-1",
        "created": True,
        "url": "https://plane.example/app-1",
        "details": {},
    }
    [deployment] = github.deployments.values()
    assert (deployment.environment, deployment.ref) == ("sccm/lab", "b" * 40)
    assert deployment.payload["idempotencyKey"] == "7-zip-sccm@24.08#lab"
    assert github.deployment_states(deployment.id) == ["in_progress", "success"]
    assert deployment.statuses[-1]["log_url"] == (
        "https://eucora.example/evidence/sha256:" + "c" * 64
    )
    assert deployment.statuses[-1]["environment_url"] == "https://plane.example/app-1"
    change = outbox.change(w.change_id)
    assert change is not None
    assert change.state == "final"
    pack = ChangePackView.of(w.evidence.packs[str(change.final_digest)])
    assert [p["state"] for p in pack.publications] == ["succeeded"]
    assert (pack.merge_commit, pack.succeeded, pack.failed) == ("b" * 40, 1, 0)
    [comment] = github.comments
    assert "### Publications" in comment.body
    assert "1 of 1 published" in comment.body
    assert str(change.final_digest) in comment.body
    assert w.evidence.types() == [
        "publication.started",
        "publication.succeeded",
        "change.published",
    ]
    # a late duplicate message finds the row final and does nothing
    assert w.publisher.run(publication_id) == "skipped"
    assert w.connector.calls == ["7-zip-sccm@24.08#lab"]


def test_a_transient_error_is_retried_after_the_planes_retry_after(
    outbox: MemoryOutbox, github: FakeGitHub
) -> None:
    w = world(outbox, github, [TransientConnectorError("429 Too Many Requests", 7.0), RESULT])
    [publication_id] = w.ids

    assert w.publisher.run(publication_id) == "retrying"

    row = outbox.get(publication_id)
    assert row is not None
    assert (row.state, row.attempts) == ("pending", 1)
    assert row.not_before == START + timedelta(seconds=7)
    assert row.last_error == "429 Too Many Requests (retry after 7 s)"
    assert w.queue.messages == [(publication_id, 7.0)]
    assert "publication.retry_scheduled" in w.evidence.types()
    # not due yet: a message that arrives early is a no-op
    assert w.publisher.run(publication_id) == "skipped"
    w.clock.advance(7)
    assert w.publisher.run(publication_id) == "succeeded"
    [deployment] = github.deployments.values()  # the same deployment, not a second one
    assert github.deployment_states(deployment.id) == ["in_progress", "in_progress", "success"]


def test_backoff_grows_and_the_last_attempt_fails_for_good(
    outbox: MemoryOutbox, github: FakeGitHub
) -> None:
    errors = [TransientConnectorError("read timeout") for _ in range(MAX_ATTEMPTS)]
    w = world(outbox, github, errors)
    [publication_id] = w.ids
    delays = []
    for _ in range(MAX_ATTEMPTS - 1):
        assert w.publisher.run(publication_id) == "retrying"
        delays.append(w.queue.messages[-1][1])
        w.clock.advance(delays[-1])
    assert delays == sorted(delays)
    assert delays[0] < delays[-1]

    assert w.publisher.run(publication_id) == "failed"

    row = outbox.get(publication_id)
    assert row is not None
    assert (row.state, row.attempts, row.last_error) == ("failed", MAX_ATTEMPTS, "read timeout")
    [deployment] = github.deployments.values()
    assert github.deployment_states(deployment.id)[-1] == "failure"
    assert deployment.statuses[-1]["description"] == "read timeout"
    assert "publication.failed" in w.evidence.types()


def test_a_refusal_fails_at_once_with_the_vendors_message(
    outbox: MemoryOutbox, github: FakeGitHub
) -> None:
    refusal = PermanentConnectorError("POST /AdminService/wmi/SMS_Application: 400 bad XML")
    w = world(outbox, github, [refusal])
    [publication_id] = w.ids

    assert w.publisher.run(publication_id) == "failed"

    row = outbox.get(publication_id)
    assert row is not None
    assert (row.state, row.attempts) == ("failed", 1)
    assert row.last_error == "POST /AdminService/wmi/SMS_Application: 400 bad XML"
    assert w.queue.messages == []
    change = outbox.change(w.change_id)
    assert change is not None
    assert change.state == "final"
    assert "/eucora retry-publish" in github.comments[-1].body


def test_a_plane_that_is_not_configured_fails_naming_what_to_set(
    outbox: MemoryOutbox, github: FakeGitHub
) -> None:
    w = world(outbox, github, [], planes=("ansible",), configured=False)
    [publication_id] = w.ids
    assert w.publisher.run(publication_id) == "failed"
    row = outbox.get(publication_id)
    assert row is not None
    assert "ansible is not configured" in str(row.last_error)
    assert "EUCORA_AWX_URL" in str(row.last_error)


def test_an_unexpected_exception_is_retried_like_a_transient_error(
    outbox: MemoryOutbox, github: FakeGitHub
) -> None:
    w = world(outbox, github, [RuntimeError("a bug"), RESULT])
    [publication_id] = w.ids
    assert w.publisher.run(publication_id) == "retrying"
    row = outbox.get(publication_id)
    assert row is not None
    assert row.last_error == "unexpected RuntimeError: a bug"


def test_github_refusing_the_deployment_does_not_hold_the_plane(
    outbox: MemoryOutbox, github: FakeGitHub
) -> None:
    github.fail_next("create_deployment")
    w = world(outbox, github, [RESULT])
    [publication_id] = w.ids
    assert w.publisher.run(publication_id) == "succeeded"
    assert github.deployments == {}


def test_a_final_status_github_refused_is_reported_again_later(
    outbox: MemoryOutbox, github: FakeGitHub
) -> None:
    w = world(outbox, github, [RESULT, RESULT])
    [publication_id] = w.ids
    # in_progress goes through; the final status meets a GitHub outage
    original = github.create_deployment_status
    posted: list[str] = []

    def flaky(repository: str, deployment_id: int, **status: Any) -> None:
        posted.append(status["state"])
        if status["state"] == "success" and posted.count("success") == 1:
            raise GitHubError("POST statuses: GitHub answered 502")
        original(repository, deployment_id, **status)

    github.create_deployment_status = flaky  # type: ignore[method-assign]

    assert w.publisher.run(publication_id) == "report-delayed"

    row = outbox.get(publication_id)
    assert row is not None
    assert row.state == "pending"
    assert w.queue.messages == [(publication_id, REPORT_RETRY.total_seconds())]
    w.clock.advance(REPORT_RETRY.total_seconds())
    assert w.publisher.run(publication_id) == "succeeded"
    assert len(w.connector.calls) == 2  # the plane is asked again and finds its object
    [deployment] = github.deployments.values()
    assert github.deployment_states(deployment.id)[-1] == "success"


def test_a_worker_that_lost_its_lease_stops_without_recording(
    outbox: MemoryOutbox, github: FakeGitHub
) -> None:
    w = world(outbox, github, [RESULT])
    [publication_id] = w.ids

    def taken_over(journal: Journal) -> None:
        w.clock.advance(120)  # past the 60 s lease: another worker claims the row
        assert outbox.claim(publication_id, now=w.clock()) is not None
        journal.put("job", "1")  # our claim is stale: refused

    w.connector.during = taken_over
    assert w.publisher.run(publication_id) == "lease-lost"
    row = outbox.get(publication_id)
    assert row is not None
    assert row.state == "in_progress"  # the other worker's


def test_the_sweeper_resends_due_rows_and_closes_a_change_whose_report_failed(
    outbox: MemoryOutbox, github: FakeGitHub
) -> None:
    w = world(outbox, github, [RESULT, RESULT], planes=("sccm", "jamf"))
    first, second = w.ids
    assert w.publisher.sweep() == 0  # just due: their messages are still on the way
    w.clock.advance(15)
    assert w.publisher.sweep() == 2  # due for a while: the messages were lost, send again
    assert [i for i, _ in w.queue.messages] == [first, second]

    assert w.publisher.run(first) == "succeeded"
    upsert = github.upsert_comment
    github.upsert_comment = lambda *a, **k: (_ for _ in ()).throw(  # type: ignore[method-assign]
        GitHubError("PATCH comment: 502")
    )
    assert w.publisher.run(second) == "succeeded"  # the change could not be reported
    change = outbox.change(w.change_id)
    assert change is not None
    assert change.state == "publishing"

    github.upsert_comment = upsert  # type: ignore[method-assign]
    w.publisher.sweep()
    change = outbox.change(w.change_id)
    assert change is not None
    assert change.state == "final"
    assert "2 of 2 published" in github.comments[-1].body


def test_a_broker_that_cannot_take_the_message_leaves_the_row_for_the_sweeper(
    outbox: MemoryOutbox, github: FakeGitHub
) -> None:
    w = world(outbox, github, [RESULT])
    w.queue.broken = True
    w.publisher.enqueue(w.ids)  # logged, not raised
    assert outbox.due(now=w.clock()) == list(w.ids)
    unqueued = Publisher(
        outbox=outbox,
        queue=None,
        connectors=w.publisher.connectors,
        github=Installations(github),
        evidence=Evidence(),
        clock=w.clock,
    )
    unqueued.enqueue(w.ids)  # no queue at all: nothing to send
    assert w.publisher.evidence_url(None) is None


def test_lease_lost_error_is_what_a_stale_journal_raises(
    outbox: MemoryOutbox, github: FakeGitHub
) -> None:
    w = world(outbox, github, [])
    [publication_id] = w.ids
    claim = outbox.claim(publication_id, now=w.clock())
    assert claim is not None
    journal = outbox.journal(claim)
    w.clock.advance(120)
    assert outbox.claim(publication_id, now=w.clock()) is not None
    with pytest.raises(LeaseLostError):
        journal.put("job", "1")


def test_a_worker_lost_after_creating_the_deployment_leaves_one_deployment(
    outbox: MemoryOutbox, github: FakeGitHub
) -> None:
    w = world(outbox, github, [RESULT])
    [publication_id] = w.ids
    claim = outbox.claim(publication_id, now=w.clock())
    assert claim is not None
    # The first worker created the deployment, then died before recording its id.
    lost = github.create_deployment(
        REPO,
        ref="b" * 40,
        environment="sccm/lab",
        description="7-zip-sccm 24.08 to lab",
        payload={"publication": publication_id, "idempotencyKey": "7-zip-sccm@24.08#lab"},
    )
    w.clock.advance(3600)  # its lease ran out

    assert w.publisher.run(publication_id) == "succeeded"

    assert list(github.deployments) == [lost]
    assert github.deployment_states(lost) == ["in_progress", "success"]
    row = outbox.get(publication_id)
    assert row is not None
    assert row.deployment_id == lost


def test_a_first_claim_does_not_look_for_an_earlier_deployment(
    outbox: MemoryOutbox, github: FakeGitHub
) -> None:
    w = world(outbox, github, [RESULT])
    github.fail_next("find_deployment", GitHubError("must not be asked"))
    assert w.publisher.run(w.ids[0]) == "succeeded"
    assert len(github.deployments) == 1


def test_a_publication_that_kills_its_worker_every_time_fails_in_the_end(
    outbox: MemoryOutbox, github: FakeGitHub
) -> None:
    w = world(outbox, github, [])
    [publication_id] = w.ids
    for _ in range(CRASH_LOOP_ATTEMPTS):  # each claim's worker dies: the lease expires
        assert outbox.claim(publication_id, now=w.clock()) is not None
        w.clock.advance(120)
    assert w.publisher.run(publication_id) == "failed"
    row = outbox.get(publication_id)
    assert row is not None
    assert row.state == "failed"
    assert "the worker was lost each time" in str(row.last_error)
    assert w.connector.calls == []
