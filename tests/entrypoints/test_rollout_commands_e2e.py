"""Rollout commands end to end: ``/eucora promote|halt|resume`` as signed ``issue_comment``
webhooks into the app, on the merged pull request or on the rollout's issue.

The fixtures of ``test_rollouts_e2e`` (GitHub double, five plane doubles, SQLite, a test clock);
the CAB is ``acme/cab`` (carol, sam), dave has write access but is not on the CAB. A command
saves the rollout's new state; the next reconcile pass acts on it.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

from bot.adapters.storage import AuditLog
from bot.adapters.storage.rollouts import RolloutStore
from bot.core.render.rollout_issues import HELD_LABEL
from bot.core.rollout_model import RolloutPhase
from bot.doubles.github.state import Issue
from tests.entrypoints import test_rollout_issues_e2e, test_rollouts_e2e
from tests.entrypoints.test_publish_e2e import REPO
from tests.entrypoints.test_rollouts_e2e import CHROME_RINGS, at, reconcile, rollout
from tests.support import webhooks

app = test_rollouts_e2e.app
planes = test_rollouts_e2e.planes
clock = test_rollouts_e2e.clock
merged = test_rollouts_e2e.merged
rolling = test_rollouts_e2e.rolling
source = test_rollout_issues_e2e.source  # 7-zip rolls back to 24.08
LAB, LAB_DEVICES = CHROME_RINGS["lab"]
_COMMENT_IDS = itertools.count(7_000_000)
MONDAY = datetime(2027, 3, 1, 10, 0, tzinfo=UTC)  # the lab ring's start has passed


def command(app: Any, number: int, user: str, body: str, *, issue: Any = None) -> str:
    """Deliver ``body`` as ``user``'s comment on PR ``number`` (or on ``issue``); the reply."""

    def adjust(payload: dict[str, Any]) -> None:
        payload["comment"]["id"] = next(_COMMENT_IDS)  # each comment its own (not a replay)
        if issue is not None:
            payload["issue"]["body"] = issue.body
            payload["issue"]["title"] = issue.title

    number = issue.number if issue is not None else number
    delivery = webhooks.build(
        "issue_comment",
        "created",
        secret=app.secret,
        repository=REPO,
        number=number,
        sender=user,
        comment_body=body,
        on_pull_request=issue is None,
        installation_id=app.installation,
        adjust=adjust,
    )
    assert app.post(delivery) == 202
    app.drain()
    replies = [c for c in app.double.comments(REPO, number) if c.body.startswith(f"@{user} ")]
    assert replies, f"no reply to {user}'s {body!r}"
    return str(replies[-1].body)


def commands_audited(app: Any) -> list[dict[str, Any]]:
    log = AuditLog(app.server.intake.services.engine)
    return [dict(e.payload) for e in log.events(repository=REPO) if e.type == "rollout.command"]


def chrome(app: Any) -> Any:
    return rollout(app, "google-chrome").state


def soaking_chrome(app: Any, planes: Any, clock: Any, rolling: Any) -> None:
    """Chrome's lab ring all installed on Monday; on Thursday morning 30 min of soak are left
    (the pilot ring's start has passed)."""
    reconciler, publisher = rolling
    at(clock, planes, MONDAY)
    reconcile(app, reconciler, publisher)
    planes.intune.set_outcomes(LAB, installed=LAB_DEVICES)
    reconcile(app, reconciler, publisher)
    at(clock, planes, datetime(2027, 3, 4, 9, 30, tzinfo=UTC))
    planes.intune.set_outcomes(LAB, installed=LAB_DEVICES)
    report = reconcile(app, reconciler, publisher)
    assert not any(p.startswith("google-chrome") for p in report.promoted), report.lines()
    assert chrome(app).rings[0].reporting_since is not None


def test_promote_by_a_cab_member_waives_the_soak_and_the_next_pass_promotes(
    app: Any, planes: Any, clock: Any, merged: Any, rolling: Any
) -> None:
    soaking_chrome(app, planes, clock, rolling)
    reply = command(app, merged.number, "carol", "/eucora promote google-chrome lab")
    assert "done" in reply
    assert "soak of lab is waived" in reply
    assert chrome(app).rings[0].soak_waived_by == "carol"

    report = reconcile(app, *rolling)
    assert any(p.startswith("google-chrome") and p.endswith("to pilot") for p in report.promoted)
    assert chrome(app).rings[chrome(app).current].name == "pilot"
    [audited] = commands_audited(app)
    assert audited["command"] == "promote"
    assert audited["user"] == "carol"
    assert audited["outcome"] == "applied"
    assert audited["intent"] == "google-chrome"


def test_promote_is_refused_politely_for_someone_not_on_the_cab(
    app: Any, planes: Any, clock: Any, merged: Any, rolling: Any
) -> None:
    soaking_chrome(app, planes, clock, rolling)
    reply = command(app, merged.number, "dave", "/eucora promote google-chrome")
    assert "sorry" in reply
    assert "acme/cab" in reply
    assert chrome(app).rings[0].soak_waived_by is None
    report = reconcile(app, *rolling)
    assert not any(p.startswith("google-chrome") for p in report.promoted)
    [audited] = commands_audited(app)
    assert (audited["user"], audited["outcome"]) == ("dave", "refused")


def test_promote_never_skips_a_ring_and_an_unknown_intent_names_what_the_pr_rolled_out(
    app: Any, planes: Any, clock: Any, merged: Any, rolling: Any
) -> None:
    soaking_chrome(app, planes, clock, rolling)
    reply = command(app, merged.number, "carol", "/eucora promote google-chrome broad")
    assert "not applied" in reply
    assert "never skipped" in reply
    reply = command(app, merged.number, "carol", "/eucora promote firefox")
    assert "no intent named" in reply
    rolled = RolloutStore(app.server.intake.services.engine).of_pr(REPO, merged.number)
    assert len(rolled) == 5
    for record in rolled:
        assert f"<code>{record.state.intent}</code>" in reply
    assert chrome(app).rings[0].soak_waived_by is None


def test_promote_never_passes_a_failed_gate(
    app: Any, planes: Any, clock: Any, merged: Any, rolling: Any
) -> None:
    reconciler, publisher = rolling
    at(clock, planes, MONDAY)
    reconcile(app, reconciler, publisher)
    planes.intune.set_outcomes(LAB, installed=6, pending=6)  # too few reported to pass
    reconcile(app, reconciler, publisher)
    reply = command(app, merged.number, "sam", "/eucora promote google-chrome")
    assert "done" in reply
    # a failure after the waiver still halts: the waiver is of the soak only
    planes.intune.set_outcomes(LAB, installed=6, failed=1, pending=5)
    report = reconcile(app, reconciler, publisher)
    assert any(h.startswith("google-chrome") for h in report.halted), report.lines()
    assert not any(p.startswith("google-chrome") for p in report.promoted)
    # and a halted rollout is not promoted by command either
    reply = command(app, merged.number, "sam", "/eucora promote google-chrome")
    assert "not applied" in reply
    assert "halted" in reply
    assert chrome(app).phase is RolloutPhase.HALTED


def test_halt_then_resume(app: Any, planes: Any, clock: Any, merged: Any, rolling: Any) -> None:
    reconciler, publisher = rolling
    at(clock, planes, MONDAY)
    reconcile(app, reconciler, publisher)
    planes.intune.set_outcomes(LAB, installed=LAB_DEVICES)
    reconcile(app, reconciler, publisher)
    reply = command(app, merged.number, "carol", "/eucora halt google-chrome")
    assert "held at lab" in reply
    assert chrome(app).phase is RolloutPhase.HELD
    assert chrome(app).reason == "halted by @carol"

    at(clock, planes, datetime(2027, 3, 4, 10, 30, tzinfo=UTC))  # soaked, pilot's start passed
    planes.intune.set_outcomes(LAB, installed=LAB_DEVICES)
    report = reconcile(app, reconciler, publisher)
    assert not any(p.startswith("google-chrome") for p in report.promoted), report.lines()
    assert any("the rollout is held" in w for w in report.waiting), report.lines()

    reply = command(app, merged.number, "sam", "/eucora resume google-chrome")
    assert "runs again" in reply
    report = reconcile(app, reconciler, publisher)
    assert any(p.startswith("google-chrome") and p.endswith("to pilot") for p in report.promoted)
    outcomes = [(a["command"], a["outcome"]) for a in commands_audited(app)]
    assert outcomes == [("halt", "applied"), ("resume", "applied")]


def test_held_past_the_deadline_opens_its_issue_and_a_promote_there_runs_it_again(
    app: Any, planes: Any, clock: Any, merged: Any, rolling: Any
) -> None:
    reconciler, publisher = rolling
    at(clock, planes, MONDAY)
    reconcile(app, reconciler, publisher)
    planes.intune.set_outcomes(LAB, installed=6, pending=6)
    reconcile(app, reconciler, publisher)
    at(clock, planes, datetime(2027, 3, 1, 17, 0, tzinfo=UTC))  # past the lab's deadline
    planes.intune.set_outcomes(LAB, installed=6, pending=6)
    report = reconcile(app, reconciler, publisher)
    assert any(h.startswith("google-chrome") for h in report.held), report.lines()
    assert chrome(app).phase is RolloutPhase.HELD
    [issue] = [i for i in app.double.issues.values() if HELD_LABEL in i.labels]
    assert "6 of 12 devices have not reported" in (issue.body or "")

    # the command on the issue (not the PR) finds the rollout by the issue's marker
    reply = command(app, 0, "carol", "/eucora promote google-chrome", issue=issue)
    assert "done" in reply
    assert chrome(app).phase is RolloutPhase.ACTIVE
    at(clock, planes, datetime(2027, 3, 4, 9, 0, tzinfo=UTC))  # the pilot's start
    planes.intune.set_outcomes(LAB, installed=6, pending=6)
    report = reconcile(app, reconciler, publisher)
    assert any(p.startswith("google-chrome") and p.endswith("to pilot") for p in report.promoted)
    [audited] = commands_audited(app)
    assert audited["on"] == issue.number
    assert audited["rollout"] == rollout(app, "google-chrome").id


def test_a_command_on_an_unrelated_issue_says_nothing_rolls_out_from_there(
    app: Any, planes: Any, clock: Any, merged: Any, rolling: Any
) -> None:
    at(clock, planes, MONDAY)
    reconcile(app, *rolling)
    github = app.double
    issue = Issue(github._next_number(REPO), REPO, "printer", "it is jammed", [], "eve")
    github.issues[(REPO, issue.number)] = issue
    reply = command(app, 0, "carol", "/eucora halt google-chrome", issue=issue)
    assert "nothing is rolling out from here" in reply
    assert chrome(app).phase is RolloutPhase.ACTIVE


def test_a_team_whose_route_applies_to_the_intent_may_halt_it_and_other_teams_may_not(
    app: Any, source: Any, merged: Any, rolling: Any
) -> None:
    """``cab.routes``: the Intune CAB (its route applies to Chrome, an Intune intent) may halt
    Chrome's rollout; the mac CAB (macOS only) may not, nor dave (on no CAB)."""
    app.double.add_team("acme", "intune-cab", ["maria"])
    app.double.add_team("acme", "mac-cab", ["mark"])
    source.git("fetch", "-q", str(app.double.repositories[REPO].bare_path), "main")
    source.git("checkout", "-q", "-B", "main", "FETCH_HEAD")
    source.edit(
        "eucora.yaml",
        "    - acme/cab\n",
        "    - acme/cab\n  routes:\n"
        "    - name: intune\n      when:\n        planes: [intune]\n      teams: [acme/intune-cab]\n"
        "    - name: macos\n      when:\n        platforms: [macos]\n      teams: [acme/mac-cab]\n",
    )
    source.commit("Intune and macOS changes need their own CABs")
    app.double.push(REPO, source.path, "main")
    reconcile(app, *rolling)
    reply = command(app, merged.number, "maria", "/eucora halt google-chrome")
    assert "held at lab" in reply, reply
    assert chrome(app).reason == "halted by @maria"
    reply = command(app, merged.number, "mark", "/eucora resume google-chrome")
    assert "sorry" in reply, reply
    assert "(acme/cab, acme/intune-cab)" in reply, reply  # Chrome's teams: the mac CAB is not
    reply = command(app, merged.number, "dave", "/eucora resume google-chrome")
    assert "sorry" in reply, reply
    assert "acme/cab" in reply, reply
    assert chrome(app).phase is RolloutPhase.HELD
    outcomes = [(a["user"], a["outcome"]) for a in commands_audited(app)]
    assert outcomes == [("maria", "applied"), ("mark", "refused"), ("dave", "refused")]
