"""Merging publishes, end to end: the GitHub double and all five plane doubles, no broker.

Signed webhooks into the app, the inbox drained, the CAB approving in the double, the PR merged
for real in the double's git repository, the ``closed`` delivery processed by the merge flow,
and the publications run by the in-process publisher against the Intune, Jamf Pro,
Configuration Manager, Landscape and AWX doubles (each checking requests against the vendor's
description). SQLite for the inbox, outbox, review ledger and audit log.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.adapters.evidence_store import EvidenceStore
from bot.adapters.storage import AuditLog, create_database_engine, upgrade_schema
from bot.adapters.storage.publications import Outbox
from bot.bootstrap import pull_request_handler_factory
from bot.core.github_model import EVIDENCE_MARKER
from bot.core.pack_view import ChangePackView
from bot.doubles.github.server import GitHubDouble
from bot.doubles.planes import PlaneDoubles, StandInArtifacts, with_stand_in_package
from bot.entrypoints.serve import build_server
from bot.settings import Settings
from connectors._polling import Follow
from connectors.registry import build_connectors
from tests.conftest import EXAMPLES
from tests.entrypoints.test_approvals_e2e import review
from tests.entrypoints.test_github_app import App
from tests.support import webhooks
from tests.support.gitrepo import GitRepo
from tests.support.packs import VALIDATOR

REPO = "acme/intents"
CAB = ["carol", "sam"]
CHANGED = {
    "intents/windows/google-chrome.yaml": ("131.0.6778.86", "131.0.6778.109"),
    "intents/macos/zoom.yaml": ("6.2.11.43613", "6.2.12.44000"),
    "intents/windows/7-zip.yaml": ('"24.08"', '"24.09"'),
    "intents/linux/osquery.yaml": ("5.14.1-1", "5.14.2-1"),
    "intents/linux/cis-hardening.yaml": ('"1.3.0"', '"1.3.1"'),
}
PLANES = {"intune", "jamf", "sccm", "landscape", "ansible"}


def intents_of(repo: GitRepo, changed: Mapping[str, object]) -> list[dict[str, Any]]:
    """The changed intents' documents, to seed the plane doubles for them."""
    return [yaml.safe_load(repo.read(path)) for path in changed]


def patch_day(path: Path, changed: Mapping[str, tuple[str, str]]) -> GitRepo:
    """The example repository (CAB acme/cab, stand-in installers, no freeze windows) and a
    branch ``change`` bumping the ``changed`` intents (path → (old text, new text))."""
    repo = GitRepo.create(path, template=EXAMPLES / "intents-repo", freeze_windows=False)
    repo.edit(
        "eucora.yaml", "    - contoso/cab-desktop\n    - contoso/security-cab\n", "    - acme/cab\n"
    )
    for intent in changed:
        repo.write(intent, with_stand_in_package(repo.read(intent)))
    repo.commit("the CAB is acme/cab; stand-in installers")
    repo.branch("change")
    for intent, (old, new) in changed.items():
        # 7-zip's package becomes signed: unsigned packages may only go to a single ring
        text = repo.read(intent).replace(old, new).replace("signed: false", "signed: true")
        repo.write(intent, with_stand_in_package(text))
    repo.commit("patch day: one version bump per plane")
    return repo


@pytest.fixture
def source(tmp_path: Path) -> GitRepo:
    """The example repository and a branch bumping one intent per plane."""
    return patch_day(tmp_path / "src", CHANGED)


@pytest.fixture
def planes(source: GitRepo) -> Iterator[PlaneDoubles]:
    with PlaneDoubles(intents_of(source, CHANGED)) as doubles:
        yield doubles
    assert doubles.violations == []


@dataclass
class ShiftedClock:
    """The bot's clock: the real time, moved by ``shift`` (to merge inside a freeze window)."""

    shift: timedelta = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.shift


@pytest.fixture
def clock() -> ShiftedClock:
    return ShiftedClock()


@pytest.fixture
def app(
    tmp_path: Path,
    github_double: GitHubDouble,
    github_env: dict[str, str],
    planes: PlaneDoubles,
    clock: ShiftedClock,
) -> Iterator[App]:
    environ = {
        **github_env,
        **planes.environ(),
        "EUCORA_HOME": str(tmp_path / "home"),
        "EUCORA_PUBLIC_URL": "https://eucora.example",
        "EUCORA_GITHUB_WRITE_INTERVAL": "0",
    }
    settings = Settings.from_environ(environ)
    engine = create_database_engine(settings.database_url)
    upgrade_schema(engine)
    engine.dispose()
    connectors = build_connectors(
        settings.planes,
        artifacts=StandInArtifacts(),
        follow=Follow(interval=0.01, timeout=20.0),
    )
    server = build_server(
        settings,
        partial(pull_request_handler_factory, planes=connectors, clock=clock),
        metrics_dir=False,
    )
    assert server.intake.publications is not None
    server.intake.publications.start()
    installation = github_double.add_installation("acme")
    github_double.add_team("acme", "cab", CAB)
    yield App(server, github_double, installation.id)
    server.intake.publications.stop()
    connectors.close()
    server.intake.services.engine.dispose()


def _open(app: App, source: GitRepo, *, labels: tuple[str, ...] = (), base: str = "main") -> Any:
    app.double.add_repository(
        REPO, installation=app.double.installations[app.installation], source=source.path
    )
    app.double.set_permission(REPO, "dave", "write")  # the plan is for writers' PRs only
    pr = app.double.open_pull_request(REPO, head="change", base=base, author="dave", labels=labels)
    assert app.post(app.pr_event(pr, "opened")) == 202
    app.drain()
    return pr


def _approve(app: App, pr: Any, *users: str) -> None:
    for user in users:
        review(app, pr, user, "APPROVED")


def _merge(app: App, pr: Any, *, tweak: str | None = None) -> str:
    """Merge in the double and deliver GitHub's ``closed`` webhook; return the merge SHA."""
    sha = app.double.merge_pull_request(REPO, pr.number, by="carol")
    payload = app.double.pull_request_event(REPO, pr.number, "closed", sender="carol")
    if tweak is not None:  # a second, different delivery of the same merge
        payload["pull_request"]["title"] = tweak
    body, headers = app.double.signed_delivery("pull_request", payload)
    response = app.client.post("/webhook", data=body, headers=headers)
    assert response.status_code == 202
    app.drain()
    publications = app.server.intake.publications
    assert publications is not None
    assert publications.wait_idle(60.0)
    return sha


def _sticky(app: App, pr: Any) -> str:
    [comment] = [c for c in app.double.comments(REPO, pr.number) if EVIDENCE_MARKER in c.body]
    return comment.body


def _outbox(app: App) -> Outbox:
    return Outbox(app.server.intake.services.engine)


def _audit(app: App, pr: Any) -> list[str]:
    log = AuditLog(app.server.intake.services.engine)
    return [e.type for e in log.events(repository=REPO, pr=pr.number)]


def test_merge_publishes_each_intent_once_to_its_plane_and_reports_on_the_pr(
    app: App, source: GitRepo, planes: PlaneDoubles
) -> None:
    pr = _open(app, source)
    plan = _sticky(app, pr)
    assert "### Plan: what merging will do" in plan  # read-only, before merge
    for plane in PLANES:
        assert f"- **{plane}**:" in plan
    assert planes.objects() == {"intune": 0, "jamf": 0, "sccm": 0, "landscape": 0, "awx": 0}
    _approve(app, pr, "carol", "sam")

    merge_sha = _merge(app, pr)

    assert planes.objects() == {"intune": 1, "jamf": 1, "sccm": 1, "landscape": 1, "awx": 1}
    outbox = _outbox(app)
    change = outbox.latest_change(REPO, pr.number)
    assert change is not None
    assert (change.state, change.merge_sha) == ("final", merge_sha)
    rows = outbox.publications(change.id)
    assert {r.plane for r in rows} == PLANES
    assert {r.state for r in rows} == {"succeeded"}
    # one deployment per publication, environment <plane>/<ring>, green with the evidence link
    deployments = app.double.deployments
    assert sorted(d.environment for d in deployments.values()) == sorted(
        f"{r.plane}/{r.ring}" for r in rows
    )
    for deployment in deployments.values():
        assert deployment.sha == merge_sha
        states = [s["state"] for s in deployment.statuses]
        assert states[0] == "in_progress"
        assert states[-1] == "success"
        assert deployment.statuses[-1]["log_url"].startswith("https://eucora.example/evidence/")
    # the change pack is stored, with every result and the approvals that counted
    assert change.final_digest is not None
    settings = app.server.intake.services.settings
    pack = json.loads(EvidenceStore(settings.evidence_dir).get(change.final_digest))
    VALIDATOR.validate(pack)  # schemas/evidence.schema.json
    view = ChangePackView.of(pack)
    assert view.merge_commit == merge_sha
    assert {p["plane"] for p in view.publications} == PLANES
    assert view.succeeded == len(view.publications)
    assert sorted(a["reviewer"] for a in view.approvals) == CAB
    page = app.client.get(f"/evidence/{change.final_digest}")
    assert page.status_code == 200
    assert "5 of 5 publications succeeded" in page.get_data(as_text=True)
    # the sticky comment's publication table
    sticky = _sticky(app, pr)
    assert "### Publications" in sticky
    assert "5 of 5 published" in sticky
    assert change.final_digest in sticky
    # every step audited
    events = _audit(app, pr)
    assert events.count("publication.recorded") == 5
    assert events.count("publication.succeeded") == 5
    assert {"merge.accepted", "change.published"} <= set(events)


def test_a_second_delivery_of_the_merge_publishes_nothing_again(
    app: App, source: GitRepo, planes: PlaneDoubles
) -> None:
    pr = _open(app, source)
    _approve(app, pr, "carol", "sam")
    _merge(app, pr)
    before = planes.objects()
    payload = app.double.pull_request_event(REPO, pr.number, "closed", sender="carol")
    payload["pull_request"]["title"] = "edited after the merge"  # not a replay: a new body
    body, headers = app.double.signed_delivery("pull_request", payload)
    assert app.client.post("/webhook", data=body, headers=headers).status_code == 202
    app.drain()
    publications = app.server.intake.publications
    assert publications is not None
    assert publications.wait_idle(30.0)
    assert planes.objects() == before
    assert _audit(app, pr).count("merge.accepted") == 1


def test_a_merge_whose_tree_is_not_the_approved_one_publishes_nothing(
    app: App, source: GitRepo, planes: PlaneDoubles
) -> None:
    pr = _open(app, source)
    _approve(app, pr, "carol", "sam")
    # someone edits an intent on main after the approval: the merge brings it in
    text = source.read("intents/macos/slack.yaml").replace("4.41.105", "4.41.999")
    app.double.commit_to_branch(REPO, "main", {"intents/macos/slack.yaml": text})

    _merge(app, pr)

    assert planes.objects() == {"intune": 0, "jamf": 0, "sccm": 0, "landscape": 0, "awx": 0}
    change = _outbox(app).latest_change(REPO, pr.number)
    assert change is not None
    assert change.state == "refused"
    assert "### Merge refused: nothing was published" in _sticky(app, pr)
    notes = [c.body for c in app.double.comments(REPO, pr.number) if c.body.startswith("@dave")]
    assert notes
    assert "not published" in notes[-1]
    assert "merge.refused" in _audit(app, pr)
    assert app.double.deployments == {}


def test_a_merge_without_the_cab_approval_publishes_nothing(
    app: App, source: GitRepo, planes: PlaneDoubles
) -> None:
    pr = _open(app, source)
    _approve(app, pr, "dave")  # the author's own approval does not count
    _merge(app, pr)
    assert sum(planes.objects().values()) == 0
    change = _outbox(app).latest_change(REPO, pr.number)
    assert change is not None
    assert change.state == "refused"
    assert any(p["problem"] == "not_approved" for p in change.facts["problems"])


def test_a_refused_publication_fails_then_retry_publish_by_a_writer_succeeds(
    app: App, source: GitRepo, planes: PlaneDoubles
) -> None:
    # Configuration Manager lacks the first ring's collection: the plane refuses (permanent)
    missing = yaml.safe_load(source.read("intents/windows/7-zip.yaml"))["rings"][0]["target"]
    collection = planes.sccm.collections.pop(missing)
    pr = _open(app, source)
    _approve(app, pr, "carol", "sam")
    _merge(app, pr)

    outbox = _outbox(app)
    change = outbox.latest_change(REPO, pr.number)
    assert change is not None
    [failed] = [r for r in outbox.publications(change.id) if r.state == "failed"]
    assert failed.plane == "sccm"
    assert failed.attempts == 1  # permanent: no retries
    assert failed.last_error
    sticky = _sticky(app, pr)
    assert "4 of 5 published" in sticky
    assert "/eucora retry-publish" in sticky
    sccm_deployment = next(
        d for d in app.double.deployments.values() if d.environment.startswith("sccm/")
    )
    assert sccm_deployment.statuses[-1]["state"] == "failure"

    planes.sccm.collections[missing] = collection
    app.double.set_permission(REPO, "carol", "write")
    _command(app, pr, "carol", "/eucora retry-publish")
    publications = app.server.intake.publications
    assert publications is not None
    assert publications.wait_idle(60.0)

    retried = outbox.get(failed.id)
    assert retried is not None
    assert retried.state == "succeeded"
    assert planes.objects()["sccm"] == 1
    assert "5 of 5 published" in _sticky(app, pr)
    assert "publication.retry_requested" in _audit(app, pr)
    final = outbox.change(change.id)
    assert final is not None
    assert final.state == "final"


def _command(app: App, pr: Any, user: str, body: str) -> None:
    asked = app.double.add_comment(REPO, pr.number, user, body)
    delivery = webhooks.build(
        "issue_comment",
        "created",
        secret=app.secret,
        repository=REPO,
        number=pr.number,
        author=pr.author,
        sender=user,
        comment_body=asked.body,
        installation_id=app.installation,
        adjust=lambda payload: payload["comment"].update(id=asked.id),
    )
    assert app.post(delivery) == 202
    app.drain()


def test_an_emergency_merge_opens_the_post_implementation_review_it_owes(
    tmp_path: Path, app: App, source: GitRepo, planes: PlaneDoubles
) -> None:
    # the base's thresholds make this change critical: only with the emergency label
    source.git("checkout", "-q", "main")
    source.edit(
        "eucora.yaml", "    high: 50\n    critical: 75\n", "    high: 28\n    critical: 30\n"
    )
    source.commit("critical from 30 points")
    source.git("checkout", "-q", "change")
    source.git("merge", "-q", "--no-edit", "main")
    for path in CHANGED:  # an emergency says why it cannot wait
        text = source.read(path).replace(
            "\nchange:\n", '\nchange:\n  emergencyReason: "Exploited in the wild (CVE)"\n', 1
        )
        source.write(path, text)
    source.commit("why this cannot wait")
    pr = _open(app, source, labels=("eucora:emergency",))
    _approve(app, pr, "carol", "sam")

    _merge(app, pr)

    [issue] = app.double.issues.values()
    assert issue.title.startswith(f"Post-implementation review owed: #{pr.number}")
    change = _outbox(app).latest_change(REPO, pr.number)
    assert change is not None
    assert change.emergency
    assert change.followup_issue == issue.number
    settings = app.server.intake.services.settings
    pack = json.loads(EvidenceStore(settings.evidence_dir).get(str(change.final_digest)))
    assert pack["emergency"] is True
    assert pack["postImplementationReview"]["owed"] is True
    assert pack["postImplementationReview"]["issue"] == issue.number
    assert "followup.opened" in _audit(app, pr)
    assert sum(planes.objects().values()) == 5


def test_a_merge_that_changes_no_intent_publishes_nothing_and_says_so(
    tmp_path: Path, app: App, planes: PlaneDoubles
) -> None:
    repo = GitRepo.create(
        tmp_path / "readme", template=EXAMPLES / "intents-repo", freeze_windows=False
    )
    repo.branch("change")
    repo.write("README.md", "# Contoso intents\n\nHow we ship apps.\n")
    repo.commit("a README")
    pr = _open(app, repo)
    _merge(app, pr)
    change = _outbox(app).latest_change(REPO, pr.number)
    assert change is not None
    assert change.state == "final"
    assert _outbox(app).publications(change.id) == ()
    assert "merge.nothing_to_publish" in _audit(app, pr)
    assert app.double.deployments == {}
    _command(app, pr, "carol", "/eucora retry-publish")  # carol may not: no write access
    app.double.set_permission(REPO, "carol", "write")
    _command(app, pr, "carol", "/eucora retry-publish")
    replies = [c.body for c in app.double.comments(REPO, pr.number) if c.body.startswith("@carol")]
    assert "no publication failed" in replies[-1]


def test_the_plan_names_planes_it_cannot_read_or_that_are_not_configured(
    tmp_path: Path,
    github_double: GitHubDouble,
    github_env: dict[str, str],
    planes: PlaneDoubles,
    source: GitRepo,
) -> None:
    environ = {
        **github_env,
        **{k: v for k, v in planes.environ().items() if not k.startswith("EUCORA_AWX_")},
        "EUCORA_HOME": str(tmp_path / "home"),
        "EUCORA_GITHUB_WRITE_INTERVAL": "0",
    }
    settings = Settings.from_environ(environ)
    engine = create_database_engine(settings.database_url)
    upgrade_schema(engine)
    engine.dispose()
    connectors = build_connectors(settings.planes, artifacts=StandInArtifacts())
    server = build_server(
        settings, partial(pull_request_handler_factory, planes=connectors), metrics_dir=False
    )
    installation = github_double.add_installation("acme")
    github_double.add_team("acme", "cab", CAB)
    app = App(server, github_double, installation.id)
    planes.jamf.inject("500", ".*", times=1000)  # Jamf answers 500 to everything
    try:
        pr = _open(app, source)
        plan = _sticky(app, pr)
    finally:
        connectors.close()
        server.intake.services.engine.dispose()
    assert "### Plan: what merging will do" in plan
    assert "ansible" in plan
    assert "not configured" in plan
    assert "jamf" in plan
    assert sum(planes.objects().values()) == 0  # a plan writes nothing


def test_metrics_count_publications_by_state(app: App, source: GitRepo) -> None:
    pr = _open(app, source)
    _approve(app, pr, "carol", "sam")
    _merge(app, pr)
    text = app.server.intake.services.metrics.exposition().decode()
    assert 'eucora_publications{status="succeeded"} 5.0' in text


# --- issue 14: only merges into the default branch (or the branches it lists) publish ---------


NO_APPROVALS = (
    "    medium: 1\n    high: 2\n    critical: 2\n",
    "    medium: 0\n    high: 0\n    critical: 0\n",
)


def _branch_off(source: GitRepo, name: str, *, edit: tuple[str, str] | None = None) -> None:
    """Branch ``name`` off main (its eucora.yaml edited by ``edit``); rebase the change onto it."""
    source.branch(name, "main")
    if edit is not None:
        source.edit("eucora.yaml", *edit)
        source.commit(f"{name}: its own eucora.yaml")
    source.git("checkout", "-q", "change")
    source.git("rebase", "-q", name)


def _list_on_main(source: GitRepo, branch: str) -> None:
    """Main's eucora.yaml lists ``branch`` under publish.branches."""
    source.git("checkout", "-q", "main")
    source.write("eucora.yaml", source.read("eucora.yaml") + f"publish:\n  branches: [{branch}]\n")
    source.commit(f"merges into {branch} publish too")


def _problems(app: App, pr: Any) -> list[str]:
    change = _outbox(app).latest_change(REPO, pr.number)
    assert change is not None
    assert change.state == "refused"
    return [p["problem"] for p in change.facts["problems"]]


def test_a_merge_into_a_side_branch_whose_rules_ask_for_nothing_publishes_nothing(
    app: App, source: GitRepo, planes: PlaneDoubles
) -> None:
    # a developer with push access: a branch whose eucora.yaml needs no approval, a PR into it
    _branch_off(source, "side", edit=NO_APPROVALS)
    pr = _open(app, source, base="side")

    _merge(app, pr)  # unreviewed

    assert sum(planes.objects().values()) == 0
    assert app.double.deployments == {}
    assert _problems(app, pr) == ["not_a_publishing_branch"]
    assert _audit(app, pr).count("merge.refused") == 1
    assert "merge.accepted" not in _audit(app, pr)
    sticky = _sticky(app, pr)
    assert "### Merge refused: nothing was published" in sticky
    assert "publish.branches" in sticky
    [note] = [c.body for c in app.double.comments(REPO, pr.number) if c.body.startswith("@dave")]
    assert "not published" in note
    assert "base branch is side, not main" in note


def test_a_branch_the_default_branch_lists_publishes_under_the_default_branchs_rules(
    app: App, source: GitRepo, planes: PlaneDoubles
) -> None:
    _list_on_main(source, "release")
    _branch_off(source, "release")
    pr = _open(app, source, base="release")
    _approve(app, pr, "carol", "sam")

    _merge(app, pr)

    assert planes.objects() == {"intune": 1, "jamf": 1, "sccm": 1, "landscape": 1, "awx": 1}
    assert "merge.accepted" in _audit(app, pr)


def test_a_listed_branch_whose_own_rules_differ_publishes_nothing(
    app: App, source: GitRepo, planes: PlaneDoubles
) -> None:
    _list_on_main(source, "release")
    _branch_off(source, "release", edit=NO_APPROVALS)  # release asks for no approval: ignored
    pr = _open(app, source, base="release")

    _merge(app, pr)

    assert sum(planes.objects().values()) == 0
    assert _problems(app, pr) == ["rules_differ"]
    assert _audit(app, pr).count("merge.refused") == 1


def test_a_side_branch_cannot_list_itself(app: App, source: GitRepo, planes: PlaneDoubles) -> None:
    own = NO_APPROVALS[0] + "publish:\n  branches: [side]\n"  # not main's eucora.yaml: ignored
    _branch_off(source, "side", edit=(NO_APPROVALS[0], own))
    pr = _open(app, source, base="side")
    _merge(app, pr)
    assert sum(planes.objects().values()) == 0
    assert _problems(app, pr) == ["not_a_publishing_branch"]


# --- issue 14: the emergency label is the evaluated head's, under the configured name -----------


def _freeze(start: datetime, end: datetime) -> str:
    """A one-off freeze window from ``start`` to ``end``, as eucora.yaml's text."""
    return (
        "\nfreezeWindows:\n  - name: audit-week\n    timezone: UTC\n"
        f'    start: "{start:%Y-%m-%dT%H:%M:%SZ}"\n    end: "{end:%Y-%m-%dT%H:%M:%SZ}"\n'
    )


def _emergency_reasons(source: GitRepo) -> None:
    for path in CHANGED:
        text = source.read(path).replace(
            "\nchange:\n", '\nchange:\n  emergencyReason: "Exploited in the wild (CVE)"\n', 1
        )
        source.write(path, text)
    source.commit("why this cannot wait")


def test_an_emergency_under_the_configured_label_publishes_inside_a_freeze_window(
    app: App, source: GitRepo, planes: PlaneDoubles
) -> None:
    source.git("checkout", "-q", "main")
    source.edit("eucora.yaml", 'emergency: "eucora:emergency"', 'emergency: "change:emergency"')
    now = datetime.now(UTC)
    frozen = _freeze(now - timedelta(days=1), now + timedelta(days=1))
    source.write("eucora.yaml", source.read("eucora.yaml") + frozen)
    source.commit("our emergency label; frozen now")
    source.git("checkout", "-q", "change")
    source.git("rebase", "-q", "main")
    _emergency_reasons(source)
    pr = _open(app, source, labels=("change:emergency",))
    _approve(app, pr, "carol", "sam")

    _merge(app, pr)

    change = _outbox(app).latest_change(REPO, pr.number)
    assert change is not None
    assert change.facts.get("problems") is None
    assert change.emergency
    assert "merge.refused" not in _audit(app, pr)
    assert sum(planes.objects().values()) == 5


def test_an_emergency_label_added_after_the_check_does_not_excuse_a_freeze_window(
    app: App, source: GitRepo, planes: PlaneDoubles, clock: ShiftedClock
) -> None:
    start = datetime.now(UTC) + timedelta(days=3)
    source.git("checkout", "-q", "main")
    source.write("eucora.yaml", source.read("eucora.yaml") + _freeze(start, start + timedelta(2)))
    source.commit("a freeze in three days")
    source.git("checkout", "-q", "change")
    source.git("rebase", "-q", "main")
    pr = _open(app, source)  # evaluated before the freeze, without the emergency label
    _approve(app, pr, "carol", "sam")
    clock.shift = timedelta(days=4)  # the merge lands inside the freeze
    app.double.pull_request(REPO, pr.number).labels.append("eucora:emergency")  # no new check

    _merge(app, pr)

    assert sum(planes.objects().values()) == 0
    assert _problems(app, pr) == ["frozen", "labels_changed"]
    change = _outbox(app).latest_change(REPO, pr.number)
    assert change is not None
    assert not change.emergency


# --- issue 14: a GitHub error at merge time is retried, never a refusal for good ----------------


def test_a_team_read_that_fails_at_merge_is_retried_and_then_publishes(
    app: App, source: GitRepo, planes: PlaneDoubles
) -> None:
    pr = _open(app, source)
    _approve(app, pr, "carol", "sam")
    app.double.fail(404, 1, method="GET", path=r"/orgs/acme/teams/cab/members")

    _merge(app, pr)  # the first attempt fails on the team read: nothing recorded

    assert _outbox(app).latest_change(REPO, pr.number) is None
    assert "merge.refused" not in _audit(app, pr)
    time.sleep(2.2)  # the inbox's first retry is due after 2 s
    app.drain()
    publications = app.server.intake.publications
    assert publications is not None
    assert publications.wait_idle(60.0)
    assert planes.objects() == {"intune": 1, "jamf": 1, "sccm": 1, "landscape": 1, "awx": 1}
    assert _audit(app, pr).count("merge.accepted") == 1
