"""``eucora demo``, the GitHub App step: a pull request judged through the webhook, in-process.

Starts the GitHub double on 127.0.0.1 (it checks every call against GitHub's description), puts
the demo's git repository behind it, opens a pull request, and sends the app the signed
``pull_request`` webhook GitHub would send. The app stores the delivery, the worker evaluates
the PR through PyGithub and git, exactly as ``eucora serve`` does, and the demo prints the check
runs and the sticky comment the PR got, then asks ``/eucora explain`` as a reviewer would.
Then the CAB reviews: the author's own approval is refused (and says why), a CAB member's
approval counts and turns the ``EUCORA CAB approval`` run green. With the five plane doubles
running (Intune, Jamf Pro, Configuration Manager, Landscape, AWX), the PR's comment carries the
plan of what merging will do; then carol merges, the merge flow records the publications, and
the in-process publisher pushes each intent to its plane: the demo prints the deployments, the
publication table and what each plane now holds.
"""

from __future__ import annotations

import re
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import yaml

from bot.adapters.storage.publications import Outbox
from bot.adapters.storage.rollouts import RolloutStore
from bot.bootstrap import Unqueued, build_reconciler, file_evidence, pull_request_handler_factory
from bot.core.github_model import APPROVAL_CHECK, EVIDENCE_MARKER, POLICY_CHECK
from bot.core.render.rollouts import render_rollouts_text
from bot.core.rollout_model import RolloutPhase
from bot.doubles.github import GitHubDouble, generate_app_key
from bot.doubles.github.events import signed as signed_delivery
from bot.doubles.planes import PlaneDoubles, StandInArtifacts
from bot.entrypoints.demo_steer import steer
from bot.entrypoints.serve import build_server
from bot.flows.evidence import verify as verify_evidence
from bot.settings import Settings
from connectors._polling import Follow
from connectors.registry import Connectors, build_connectors

Echo = Callable[[str], None]
REPOSITORY = "contoso/intents"
COMMENT_LINES = 14
PLAN_LINES = 60
PUBLISH_SECONDS = 30.0
ROLLOUT_START = datetime(2027, 3, 1, 10, 0, tzinfo=UTC)  # after Chrome's lab ring opens
OSQUERY_RINGS = {"euc-lab": 5, "euc-pilot-linux": 30, "linux-workstations": 640}
CHROME_LAB = "6513270e-269e-4d37-b2a7-4de452e6b438"
SHOWN = ("google-chrome", "osquery-linux-servers")
SHOWN_RE = re.compile(r"^\w+ (google-chrome|osquery-linux-servers) ")
ROLLOUT_DAYS = (
    (datetime(2027, 3, 4, 10, 1, tzinfo=UTC), "three days later, the lab's soak is over"),
    (datetime(2027, 3, 4, 10, 6, tzinfo=UTC), "the next pass reads the pilot ring"),
    (datetime(2027, 3, 7, 10, 7, tzinfo=UTC), "Sunday, the pilot's soak is over"),
    (datetime(2027, 3, 8, 9, 0, tzinfo=UTC), "Monday morning"),
    (datetime(2027, 3, 8, 9, 5, tzinfo=UTC), "the next pass reads the broad ring"),
)
"""The merge publishes to all five planes well within this (issue 8 asks for under 30 s)."""
CAB_TEAM = ("contoso", "cab-desktop")
SECURITY_CAB = ("contoso", "security-cab")  # eucora.yaml names both CAB teams
"""A CAB team of the demo repository's ``eucora.yaml`` (``cab.teams``)."""


def pull_request_payload(pr: Any, installation: int, action: str = "opened") -> dict[str, Any]:
    """The fields of GitHub's ``pull_request`` webhook that EUCORA reads, for a double's PR."""
    owner, name = pr.repository.split("/")
    return {
        "action": action,
        "number": pr.number,
        "pull_request": {
            "number": pr.number,
            "state": "open",
            "user": {"login": pr.author, "type": "User"},
            "head": {"sha": pr.head_sha, "ref": pr.head_ref},
            "base": {"sha": pr.base_sha, "ref": pr.base_ref},
            "labels": [{"name": label} for label in pr.labels],
            "id": pr.id,
        },
        "repository": {"full_name": pr.repository, "name": name, "owner": {"login": owner}},
        "installation": {"id": installation},
        "sender": {"login": pr.author, "type": "User"},
    }


def _comment_payload(pr: Any, installation: int, comment: Any) -> dict[str, Any]:
    payload = pull_request_payload(pr, installation, "created")
    del payload["pull_request"], payload["number"]
    payload["issue"] = {"number": pr.number, "pull_request": {"url": "pr"}}
    user = comment.author
    payload["comment"] = {
        "id": comment.id,
        "body": comment.body,
        "created_at": comment.created_at.isoformat(),
        "user": {"login": user, "type": "User"},
    }
    payload["sender"] = {"login": user, "type": "User"}
    return payload


def _review_payload(pr: Any, installation: int, review: Any) -> dict[str, Any]:
    payload = pull_request_payload(pr, installation, "submitted")
    del payload["number"]
    payload["review"] = {
        "id": review.id,
        "user": {"login": review.user, "type": "User"},
        "state": review.state.lower(),
        "commit_id": review.commit_id,
        "submitted_at": review.submitted_at.isoformat(),
    }
    payload["sender"] = {"login": review.user, "type": "User"}
    return payload


def _approval_run(double: GitHubDouble, repository: str) -> Any:
    runs = [r for r in double.check_runs(repository) if r.name == APPROVAL_CHECK]
    return max(runs, key=lambda r: r.id) if runs else None


def _cab_reviews(  # noqa: PLR0913 - the demo's scene
    client: Any,
    drain: Callable[[], int],
    double: GitHubDouble,
    *,
    pr: Any,
    installation: int,
    echo: Echo,
) -> bool:
    """The author approves his own PR (refused, saying why); carol of the CAB approves (green)."""
    seen: list[tuple[str, str]] = []
    for user in ("dave", "carol"):
        review = double.add_review(pr.repository, pr.number, user, "APPROVED")
        payload = _review_payload(pr, installation, review)
        body, headers = signed_delivery("pull_request_review", payload, double.app.webhook_secret)
        client.post("/webhook", data=body, headers=headers)
        drain()
        run = _approval_run(double, pr.repository)
        if run is None:
            return False
        state = run.conclusion or run.status
        echo(f"   {user} approves -> check run {APPROVAL_CHECK!r}: {state} — {run.title}")
        row = next(
            (line for line in (run.summary or "").splitlines() if f"| {review.id} |" in line), ""
        )
        echo(f"     review {review.id}: {row.rsplit('|', 2)[-2].strip() if row else '?'}")
        seen.append((user, state))
    return seen == [("dave", "in_progress"), ("carol", "success")]


def run_github_step(settings: Settings, repo: Path, now: datetime, echo: Echo) -> bool:
    """Run the step; True when the PR got its two check runs and one sticky comment."""
    private, public = generate_app_key()
    intents = [yaml.safe_load(p.read_text("utf-8")) for p in sorted(repo.glob("intents/**/*.yaml"))]
    with (
        tempfile.TemporaryDirectory(prefix="eucora-github-double-") as scratch,
        PlaneDoubles(intents) as planes,
    ):
        double = GitHubDouble(Path(scratch), private_key_pem=private, public_key_pem=public)
        double.start()
        connectors = build_connectors(
            planes.environ(),
            artifacts=StandInArtifacts(),
            follow=Follow(interval=0.02, timeout=20.0),
        )
        try:
            return _pull_request(settings, repo, now, echo, double, planes, connectors)
        finally:
            connectors.close()
            double.stop()


def _pull_request(  # noqa: PLR0913, PLR0917 - the scene's cast
    settings: Settings,
    repo: Path,
    now: datetime,
    echo: Echo,
    double: GitHubDouble,
    planes: PlaneDoubles,
    connectors: Connectors,
) -> bool:
    # A fresh repository name each run: the review ledger and audit log under EUCORA_HOME
    # outlive the double, whose review ids start again at the same number.
    repository = f"{REPOSITORY}-{uuid.uuid4().hex[:8]}"
    installation = double.add_installation(repository.split("/", maxsplit=1)[0]).id
    double.add_repository(repository, installation=double.installations[installation], source=repo)
    pr = double.open_pull_request(repository, head="change", author="dave")
    double.set_permission(repository, "carol", "write")
    double.set_permission(repository, "dave", "write")  # the plan is for writers' PRs only
    double.add_team(*CAB_TEAM, ["carol", "sam"])
    double.add_team(*SECURITY_CAB, ["sam"])
    app_settings = replace(
        settings,
        github_api_url=double.url,
        github_app_id=str(double.app.id),
        github_private_key=private_key(double),
        github_webhook_secret=double.app.webhook_secret,
        github_write_interval=0,  # the double has no secondary rate limits to respect
    )
    server = build_server(
        app_settings,
        partial(pull_request_handler_factory, clock=lambda: now, planes=connectors),
        metrics_dir=False,
    )
    client = server.app.test_client()
    try:
        echo(f"   GitHub double at {double.url}; pull request #{pr.number} opened by dave")
        body, headers = signed_delivery(
            "pull_request", pull_request_payload(pr, installation), double.app.webhook_secret
        )
        answer = client.post("/webhook", data=body, headers=headers)
        echo(f"   POST /webhook (pull_request opened, signed) -> {answer.status_code}")
        server.intake.processor.drain()
        runs = sorted(double.check_runs(repository), key=lambda r: r.id)
        for run in runs:
            state = run.conclusion or run.status
            echo(f"   check run {run.name!r}: {state} — {run.title}")
            if run.annotations:
                echo(f"     {len(run.annotations)} annotations on the intent files")
        comments = double.comments(repository, pr.number)
        sticky = [c for c in comments if c.body.startswith(EVIDENCE_MARKER)]
        if sticky:
            echo(f"   sticky comment by {sticky[0].author} (first lines):")
            for line in sticky[0].body.splitlines()[1 : 1 + COMMENT_LINES]:
                echo(f"   | {line}")
        plan = sticky[0].body.partition("### Plan")[2] if sticky else ""
        if plan:
            echo("   and its plan, read from the five plane doubles before anything is merged:")
            for line in f"### Plan{plan}".splitlines()[:PLAN_LINES]:
                echo(f"   | {line}")
        asked = double.add_comment(repository, pr.number, "carol", "/eucora explain")
        comments = double.comments(repository, pr.number)
        payload = _comment_payload(pr, installation, asked)
        body, headers = signed_delivery("issue_comment", payload, double.app.webhook_secret)
        client.post("/webhook", data=body, headers=headers)
        server.intake.processor.drain()
        replies = [c for c in double.comments(repository, pr.number) if c not in comments]
        if replies:
            echo("   carol asks /eucora explain; the bot replies:")
            for line in replies[-1].body.splitlines()[:6]:
                echo(f"   | {line}")
        names = {r.name for r in runs}
        approved = _cab_reviews(
            client,
            server.intake.processor.drain,
            double,
            pr=pr,
            installation=installation,
            echo=echo,
        )
        published = approved and _merge_and_publish(server, client, double, planes, pr, echo)
        rolled = published and _roll_out(server, double, planes, connectors, pr, echo)
        steered = rolled and steer(server, client, double, pr, _comment_payload, installation, echo)
        return (
            {POLICY_CHECK, APPROVAL_CHECK} <= names
            and len(sticky) == 1
            and bool(replies)
            and approved
            and published
            and rolled
            and steered
            and not double.violations
            and not planes.violations
        )
    finally:
        server.intake.services.engine.dispose()


def _merge_and_publish(  # noqa: PLR0913, PLR0917 - the scene's cast
    server: Any,
    client: Any,
    double: GitHubDouble,
    planes: PlaneDoubles,
    pr: Any,
    echo: Echo,
) -> bool:
    """Carol merges; the publications run in-process; print what each plane now holds."""
    repository, number = pr.repository, pr.number
    echo("\n6. carol merges the pull request: the merge publishes to the five plane doubles")
    runner = server.intake.publications
    runner.start()
    started = time.monotonic()
    try:
        merge_sha = double.merge_pull_request(repository, number, by="carol")
        payload = double.pull_request_event(repository, number, "closed", sender="carol")
        body, headers = double.signed_delivery("pull_request", payload)
        answer = client.post("/webhook", data=body, headers=headers)
        status = answer.status_code
        echo(f"   merge commit {merge_sha[:12]}; POST /webhook (closed, merged) -> {status}")
        server.intake.processor.drain()
        idle = runner.wait_idle(PUBLISH_SECONDS)
    finally:
        runner.stop()
    took = time.monotonic() - started
    for deployment in sorted(double.deployments.values(), key=lambda d: d.id):
        states = " -> ".join(s["state"] for s in deployment.statuses)
        echo(f"   deployment {deployment.environment:<24} {states}")
    sticky = next(
        (c.body for c in double.comments(repository, number) if c.body.startswith(EVIDENCE_MARKER)),
        "",
    )
    table = sticky[sticky.find("### Publications") :] if "### Publications" in sticky else ""
    echo("   the sticky comment's publication table:")
    for line in table.splitlines()[:12]:
        echo(f"   | {line}")
    echo("   what each plane now holds:")
    for plane, holding in planes.holdings():
        echo(f"   {plane:<22} {holding}")
    objects = planes.objects()
    echo(f"   published in {took:.1f} s; objects per plane: {objects}")
    change = Outbox(server.intake.services.engine).latest_change(repository, number)
    digest = change.final_digest if change is not None else None
    verified = False
    if digest:
        report = verify_evidence(digest, file_evidence(server.intake.services.settings))
        verified = report.ok
        checks = ", ".join(f"{c.name} {c.status.value}" for c in report.checks)
        echo(f"   change pack (approvals, merge, every result) stored as {digest}")
        echo(f"   eucora evidence verify {digest[:19]}…: {checks}")
    succeeded = [
        d
        for d in double.deployments.values()
        if d.statuses and d.statuses[-1]["state"] == "success"
    ]
    return (
        idle
        and verified
        and took < PUBLISH_SECONDS
        and len(succeeded) == len(objects)  # one publication per plane
        and all(count == 1 for count in objects.values())
    )


@dataclass
class DemoClock:
    """The reconciler's and the planes' clock: the demo moves it forward by days."""

    now: datetime

    def __call__(self) -> datetime:
        """The demo's moment."""
        return self.now


def _roll_out(  # noqa: PLR0913, PLR0917 - the scene's cast
    server: Any,
    double: GitHubDouble,
    planes: PlaneDoubles,
    connectors: Connectors,
    pr: Any,
    echo: Echo,
) -> bool:
    """Days pass: osquery for servers goes ring by ring; Chrome 132 fails in the lab and halts."""
    echo("\n7. The rollout runs ring by ring: the reconciler reads each ring back from its plane")
    clock = DemoClock(ROLLOUT_START)
    for plane in planes.all:
        plane.clock = clock
    services = server.intake.services
    # The publications run here, one pass after another (the in-process queue stopped after 6).
    unqueued = replace(services, publication_queue=Unqueued())
    reconciler, publisher = build_reconciler(unqueued, clock=clock, planes=connectors)
    store = RolloutStore(services.engine)

    def tick(what: str) -> None:
        report = reconciler.run_once()
        for publication_id in publisher.outbox.due(now=clock()):
            publisher.run(publication_id)
        moved = [
            *(f"promoted {m}" for m in report.promoted),
            *(f"halted {m}" for m in report.halted),
            *(f"held {m}" for m in report.held),
            *(f"completed {m}" for m in report.completed),
            *(f"waiting {m}" for m in report.waiting),
        ]
        shown = [m for m in moved if SHOWN_RE.search(m)] or ["nothing moves"]
        echo(f"   {clock().strftime('%a %d %b %H:%M')}  {what}: " + "; ".join(shown))

    failing = [("0x80070643", "Fatal error during installation")]
    planes.intune.set_outcomes(CHROME_LAB, installed=9, failed=3, errors=failing)
    for group, devices in OSQUERY_RINGS.items():  # told before each ring's activity is launched
        planes.landscape.set_outcomes(group, installed=devices)
    tick("osquery and Chrome in their lab rings")
    for moment, what in ROLLOUT_DAYS:
        clock.now = moment
        tick(what)
    deployments = sorted(double.deployments.values(), key=lambda d: d.id)
    for deployment in deployments:
        if deployment.environment.split("/")[0] in {"intune", "landscape"}:
            states = " -> ".join(s["state"] for s in deployment.statuses)
            echo(f"   deployment {deployment.environment:<24} {states}")
    _print_issues_and_pulls(double, pr, echo)
    records = [r for r in store.of_pr(pr.repository, pr.number) if r.state.intent in SHOWN]
    echo("   eucora rollout status (the other three wait for their rings' schedules):")
    for line in render_rollouts_text(records, now=clock()).splitlines():
        echo(f"   | {line}")
    phases = {r.state.intent: r.state.phase for r in records}
    return (
        phases.get("osquery-linux-servers") is RolloutPhase.COMPLETE
        and phases.get("google-chrome") is RolloutPhase.HALTED
    )


def _print_issues_and_pulls(double: GitHubDouble, pr: Any, echo: Echo) -> None:
    """The issues and pull requests the bot opened beside the merged one (halt, rollback)."""
    for issue in sorted(double.issues.values(), key=lambda i: i.number):
        if issue.repository == pr.repository and issue.number != pr.number:
            echo(f"   issue #{issue.number} {issue.labels}: {issue.title}")
    for (name, number), pull in sorted(double.pulls.items()):
        if name == pr.repository and number != pr.number:
            echo(f"   pull request #{number} by {pull.author} {pull.labels}: {pull.title}")


def private_key(double: GitHubDouble) -> str:
    """The App's private key, as GitHub hands it out when the App is created."""
    return double.app.private_key_pem
