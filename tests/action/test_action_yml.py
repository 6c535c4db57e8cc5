"""The composite action, run step by step here with real payloads, git and runner files."""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from pathlib import Path

import pytest

from bot.core.github_model import EVIDENCE_MARKER
from bot.doubles.github import GitHubDouble
from tests.conftest import EXAMPLES, ROOT
from tests.support import webhooks
from tests.support.actions_runner import (
    Context,
    action_outputs,
    default_inputs,
    load_action,
    run_step,
    runner_environment,
)
from tests.support.gitrepo import GitRepo

ACTION = load_action(ROOT / "action.yml")
STEPS = ACTION["runs"]["steps"]
CHROME = "intents/windows/google-chrome.yaml"
VENV_BIN = Path(sys.executable).parent

SECRET = "webhook-secret-unused-here"  # noqa: S105 - signs the test payloads only
FORK_TOKEN = "ghs_read-only-fork-token"  # noqa: S105


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    """The example repository without its freeze windows: the action checks at the real now."""
    path = tmp_path / "intents"
    shutil.copytree(EXAMPLES / "intents-repo", path)
    config = (path / "eucora.yaml").read_text(encoding="utf-8")
    before, rest = config.split("\nfreezeWindows:\n", 1)
    (path / "eucora.yaml").write_text(before + "\npaths:" + rest.split("\npaths:", 1)[1])
    repo = GitRepo.create(path)
    repo.commit("initial import")
    repo.branch("change")
    return repo


class Runner:
    """One job: the event file, the summary file, and the contexts the steps see."""

    def __init__(self, tmp: Path, repo: GitRepo, event: str, payload: dict, **env: str) -> None:
        self.env = runner_environment(tmp, path_dirs=[VENV_BIN])
        event_path = tmp / "event.json"
        event_path.write_text(json.dumps(payload), encoding="utf-8")
        self.summary = tmp / "step-summary.md"
        self.summary.write_text("", encoding="utf-8")
        self.env |= {
            "GITHUB_EVENT_NAME": event,
            "GITHUB_EVENT_PATH": str(event_path),
            "GITHUB_WORKSPACE": str(repo.path),
            "GITHUB_REPOSITORY": payload["repository"]["full_name"],
            "GITHUB_STEP_SUMMARY": str(self.summary),
            "GITHUB_API_URL": "http://127.0.0.1:9",  # nothing listens: no call may be made
            **env,
        }
        self.context = Context(
            inputs={},
            github={
                "action_path": str(ROOT),
                "workspace": str(repo.path),
                "token": "ghs_not-a-real-token",
                "event_name": event,
            },
            runner={"temp": self.env["RUNNER_TEMP"], "os": "Linux"},
        )
        self.context.inputs = default_inputs(ACTION, self.context)
        self.cwd = repo.path

    def step(self, step_id: str):
        [step] = [s for s in STEPS if s.get("id") == step_id]
        return run_step(step, self.context, base_env=self.env, cwd=self.cwd)


def pr_payload(repo: GitRepo, **changes) -> dict:
    return webhooks.build(
        "pull_request",
        "opened",
        secret=SECRET,
        repository="contoso/intents",
        number=42,
        base_sha=repo.git("rev-parse", "main"),
        head_sha=repo.git("rev-parse", "change"),
        **changes,
    ).payload


def test_the_action_is_composite_python_then_install_at_its_ref_then_check() -> None:
    assert ACTION["runs"]["using"] == "composite"
    setup, install, check = STEPS
    assert setup["uses"].startswith("actions/setup-python@")
    assert setup["with"]["python-version"] == "${{ inputs.python-version }}"
    assert '"${{ github.action_path }}"' in install["run"]
    assert "pip install" in install["run"]
    assert check["run"].startswith("eucora action")
    assert set(ACTION["outputs"]) == {
        "decision",
        "risk-tier",
        "risk-score",
        "digest",
        "evidence-file",
        "approvals",
    }
    for name, spec in ACTION["outputs"].items():
        assert spec["value"] == f"${{{{ steps.check.outputs.{name} }}}}"


@pytest.mark.slow
def test_the_install_step_resolves_the_action_path_as_a_python_project(
    tmp_path: Path, repo: GitRepo
) -> None:
    # --dry-run, building with this environment's hatchling: resolves and builds the project
    # at action_path without installing it over the one under test
    runner = Runner(
        tmp_path,
        repo,
        "pull_request",
        pr_payload(repo),
        PIP_DRY_RUN="1",
        PIP_NO_BUILD_ISOLATION="0",
        PIP_REPORT=str(tmp_path / "pip-report.json"),
    )
    [install] = [s for s in STEPS if "action_path" in str(s.get("run", ""))]
    result = run_step(install, runner.context, base_env=runner.env, cwd=runner.cwd)
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "pip-report.json").read_text(encoding="utf-8"))
    assert [i["metadata"]["name"] for i in report["install"]] == ["eucora"]


def test_a_pull_request_that_passes(tmp_path: Path, repo: GitRepo) -> None:
    repo.edit(CHROME, 'version: "131.0.6778.86"', 'version: "131.0.6778.109"')
    repo.commit("Chrome 131.0.6778.109")
    runner = Runner(tmp_path, repo, "pull_request", pr_payload(repo))
    result = runner.step("check")
    assert result.returncode == 0, result.stdout + result.stderr
    outputs = action_outputs(ACTION, runner.context)
    assert outputs == result.outputs
    assert outputs["decision"] == "pass"
    assert outputs["risk-tier"] in {"low", "medium", "high", "critical"}
    assert 0 <= int(outputs["risk-score"]) <= 100
    evidence = Path(outputs["evidence-file"])
    assert evidence.parent == Path(runner.env["RUNNER_TEMP"])
    pack_bytes = evidence.read_bytes()
    assert outputs["digest"] == "sha256:" + hashlib.sha256(pack_bytes).hexdigest()
    pack = json.loads(pack_bytes)
    assert pack["decision"]["conclusion"] == "pass"
    assert [c["intent"] for c in pack["changes"]] == ["google-chrome"]
    summary = runner.summary.read_text(encoding="utf-8")
    assert "### EUCORA check" in summary
    assert EVIDENCE_MARKER in summary
    assert outputs["digest"] in summary
    assert len(summary.encode()) <= 1024 * 1024
    assert "no comment: no GITHUB_TOKEN given" in result.stdout
    assert f"evidence digest: {outputs['digest']}" in result.stdout


def test_a_blocked_pull_request_fails_the_step_with_annotations(
    tmp_path: Path, repo: GitRepo
) -> None:
    text = repo.read(CHROME)
    assert "https://" in text
    repo.write(CHROME, text.replace("https://", "http://", 1))
    repo.commit("download over plain http")
    runner = Runner(tmp_path, repo, "pull_request", pr_payload(repo))
    result = runner.step("check")
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.outputs["decision"] == "blocked"
    errors = [line for line in result.stdout.splitlines() if line.startswith("::error ")]
    assert errors
    assert all(f"file={CHROME}" in line for line in errors)
    assert "❌ **Blocked**" in runner.summary.read_text(encoding="utf-8")


def test_the_emergency_label_comes_from_the_payload(tmp_path: Path, repo: GitRepo) -> None:
    repo.edit(CHROME, 'version: "131.0.6778.86"', 'version: "131.0.6778.109"')
    repo.commit("Chrome 131.0.6778.109")
    results = []
    for name, labels in (("plain", []), ("labelled", ["eucora:emergency", "docs"])):
        (tmp_path / name).mkdir()
        runner = Runner(tmp_path / name, repo, "pull_request", pr_payload(repo, labels=labels))
        results.append(runner.step("check"))
    plain, labelled = results
    assert (plain.returncode, labelled.returncode) == (0, 1)
    packs = [json.loads(Path(r.outputs["evidence-file"]).read_bytes()) for r in results]
    assert [pack["labels"] for pack in packs] == [[], ["docs", "eucora:emergency"]]
    # an emergency must say why it cannot wait: the label alone blocks this intent
    assert "title=rule.change.emergency-needs-reason" in labelled.stdout


def test_a_merge_group(tmp_path: Path, repo: GitRepo) -> None:
    repo.edit(CHROME, 'version: "131.0.6778.86"', 'version: "131.0.6778.109"')
    repo.commit("Chrome 131.0.6778.109")
    payload = webhooks.build(
        "merge_group",
        "checks_requested",
        secret=SECRET,
        repository="contoso/intents",
        base_sha=repo.git("rev-parse", "main"),
        head_sha=repo.git("rev-parse", "change"),
    ).payload
    runner = Runner(tmp_path, repo, "merge_group", payload)
    runner.env["GITHUB_TOKEN"] = "ghs_would-be-used-if-there-were-a-pr"  # noqa: S105
    result = runner.step("check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.outputs["decision"] == "pass"
    assert "merge group" in result.stdout
    assert "no comment: a merge group has no pull request" in result.stdout


def test_a_fork_pull_request_with_a_token_gets_no_comment_and_no_failure(
    tmp_path: Path, repo: GitRepo
) -> None:
    repo.edit(CHROME, 'version: "131.0.6778.86"', 'version: "131.0.6778.109"')
    repo.commit("Chrome 131.0.6778.109")

    def fork(payload: dict) -> None:
        payload["pull_request"]["head"]["repo"]["full_name"] = "mallory/intents"

    runner = Runner(tmp_path, repo, "pull_request", pr_payload(repo, adjust=fork))
    runner.context.inputs["token"] = FORK_TOKEN
    result = runner.step("check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no comment: the pull request comes from a fork" in result.stdout
    assert FORK_TOKEN not in result.stdout + result.stderr


def test_revisions_missing_from_a_shallow_checkout_are_a_clear_error(
    tmp_path: Path, repo: GitRepo
) -> None:
    payload = pr_payload(repo)
    payload["pull_request"]["head"]["sha"] = "f" * 40
    runner = Runner(tmp_path, repo, "pull_request", payload)
    result = runner.step("check")
    assert result.returncode == 2
    assert "fetch-depth: 0" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.outputs == {}


@pytest.mark.parametrize(
    ("event", "payload_text", "message"),
    [
        ("push", '{"repository": {"full_name": "a/b"}}', "not 'push'"),
        ("pull_request", "{not json", "event.json:1:2: the event payload is not JSON"),
    ],
)
def test_unusable_events_exit_2_with_one_line(
    tmp_path: Path, repo: GitRepo, event: str, payload_text: str, message: str
) -> None:
    runner = Runner(tmp_path, repo, event, {"repository": {"full_name": "a/b"}})
    Path(runner.env["GITHUB_EVENT_PATH"]).write_text(payload_text, encoding="utf-8")
    result = runner.step("check")
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stdout.startswith("::error title=EUCORA::")


def test_outside_a_runner_the_command_says_so(tmp_path: Path, repo: GitRepo) -> None:
    runner = Runner(tmp_path, repo, "pull_request", pr_payload(repo))
    del runner.env["GITHUB_EVENT_PATH"]
    result = runner.step("check")
    assert result.returncode == 2
    assert "GITHUB_EVENT_PATH is not set" in result.stderr


@pytest.fixture
def actions_github(tmp_path: Path, github_app_key: tuple[str, str]):
    """The GitHub double as Actions sees it: GITHUB_TOKEN is an installation token of the
    ``github-actions`` app, so its comments are written by ``github-actions[bot]``."""
    private, public = github_app_key
    double = GitHubDouble(
        tmp_path / "github", private_key_pem=private, public_key_pem=public, slug="github-actions"
    ).start()
    try:
        yield double
    finally:
        double.stop()
    assert double.violations == []


def test_with_a_token_the_sticky_comment_is_posted_once_and_kept_up_to_date(
    tmp_path: Path, repo: GitRepo, actions_github: GitHubDouble
) -> None:
    repo.edit(CHROME, 'version: "131.0.6778.86"', 'version: "131.0.6778.109"')
    repo.commit("Chrome 131.0.6778.109")
    installation = actions_github.add_installation("contoso")
    actions_github.add_repository("contoso/intents", installation=installation, source=repo.path)
    pr = actions_github.open_pull_request(
        "contoso/intents", head="change", base="main", author="dave"
    )
    token = actions_github.installation_token(installation.id)
    bodies = []
    for attempt in ("first", "again", "moved"):
        if attempt == "moved":
            repo.edit(CHROME, 'version: "131.0.6778.109"', 'version: "131.0.6778.110"')
            repo.commit("Chrome 131.0.6778.110")
            [pr] = actions_github.push("contoso/intents", repo.path, "change")
        payload = webhooks.pull_request_event(
            pr, "synchronize", secret=SECRET, installation_id=None
        ).payload
        (tmp_path / attempt).mkdir()
        runner = Runner(
            tmp_path / attempt, repo, "pull_request", payload, GITHUB_API_URL=actions_github.url
        )
        runner.context.inputs["token"] = token
        result = runner.step("check")
        assert result.returncode == 0, result.stdout + result.stderr
        assert "sticky comment" in result.stdout
        assert token not in result.stdout + result.stderr
        [comment] = actions_github.comments("contoso/intents", pr.number)
        assert comment.author == "github-actions[bot]"
        assert comment.body.startswith(EVIDENCE_MARKER)
        assert result.outputs["digest"] in comment.body
        bodies.append((comment.id, comment.body))
    assert len({comment_id for comment_id, _ in bodies}) == 1  # one comment, edited in place
    assert "131.0.6778.110" not in bodies[1][1]
    assert "131.0.6778.110" in bodies[2][1]


def test_a_refused_comment_warns_without_failing_the_check(
    tmp_path: Path, repo: GitRepo, actions_github: GitHubDouble
) -> None:
    repo.edit(CHROME, 'version: "131.0.6778.86"', 'version: "131.0.6778.109"')
    repo.commit("Chrome 131.0.6778.109")
    installation = actions_github.add_installation("contoso")
    actions_github.add_repository("contoso/intents", installation=installation, source=repo.path)
    pr = actions_github.open_pull_request("contoso/intents", head="change", base="main")
    payload = webhooks.pull_request_event(pr, "opened", secret=SECRET, installation_id=None).payload
    actions_github.fail(403, 5, message="Resource not accessible by integration", method="POST")
    runner = Runner(tmp_path, repo, "pull_request", payload, GITHUB_API_URL=actions_github.url)
    runner.context.inputs["token"] = actions_github.installation_token(installation.id)
    result = runner.step("check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "::warning title=EUCORA::the sticky comment could not be posted" in result.stdout
    assert result.outputs["decision"] == "pass"


# --- CAB approvals in the Action --------------------------------------------------------------


def _approvals_scene(repo: GitRepo, double: GitHubDouble):
    """A change needing one CAB approval, opened by dave (a CAB member), its commit by ada.

    Two installations hold the repository: the ``github-actions`` app behind the workflow's
    ``GITHUB_TOKEN`` (no organization Members permission: team reads are 403) and the EUCORA App
    whose installation token is the ``approvals-token`` (Members: read).
    """
    repo.edit(CHROME, 'version: "131.0.6778.86"', 'version: "131.0.6778.109"')
    repo.commit("Chrome 131.0.6778.109")  # authored and committed by ada@example.com: ada
    workflow = double.add_installation("contoso", permissions={})
    app = double.add_installation("contoso")
    double.add_repository("contoso/intents", installation=workflow, source=repo.path)
    app.repositories.add("contoso/intents")
    double.add_team("contoso", "cab-desktop", ["carol", "dave", "ada"])
    double.add_team("contoso", "security-cab", ["sam"])
    pr = double.open_pull_request("contoso/intents", head="change", base="main", author="dave")
    return pr, double.installation_token(workflow.id), double.installation_token(app.id)


def _run(tmp: Path, repo: GitRepo, double: GitHubDouble, event: str, payload: dict, **inputs):
    tmp.mkdir()
    runner = Runner(tmp, repo, event, payload, GITHUB_API_URL=double.url)
    runner.context.inputs.update(inputs)
    return runner, runner.step("check")


def test_with_an_app_token_the_action_decides_the_cab_check_and_refuses_the_authors_approval(
    tmp_path: Path, repo: GitRepo, actions_github: GitHubDouble
) -> None:
    pr, workflow_token, app_token = _approvals_scene(repo, actions_github)
    own = actions_github.add_review("contoso/intents", pr.number, "dave", "APPROVED")
    by_committer = actions_github.add_review("contoso/intents", pr.number, "ada", "APPROVED")
    opened = webhooks.pull_request_event(pr, "opened", secret=SECRET, installation_id=None)
    tokens = {"token": workflow_token, "approvals-token": app_token}
    runner, result = _run(
        tmp_path / "opened", repo, actions_github, "pull_request", opened.payload, **tokens
    )
    pack = json.loads(Path(result.outputs["evidence-file"]).read_bytes())
    assert (pack["decision"]["conclusion"], pack["approvals"]["required"]) == ("pass", 1)
    # the policy passes, the approvals are not met: the step fails (exit 1), saying why
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.outputs["approvals"] == "waiting"
    assert "::error title=EUCORA CAB approval::waiting for 1 more CAB approval" in result.stdout
    summary = runner.summary.read_text(encoding="utf-8")
    [comment] = actions_github.comments("contoso/intents", pr.number)
    for shown in (summary, comment.body, result.stdout):
        assert "CAB teams: contoso/cab-desktop, contoso/security-cab" in shown
        assert f"refused: dave (review {own.id}): the pull request's author cannot approve" in shown
        assert (
            f"refused: ada (review {by_committer.id}): an author of a commit in the pull request"
            in shown
        )
    # the App's explanation (bot.core.pr_report): the count, its teams, the tier thresholds, rules
    assert (
        "Risk tier medium: 1 approval from members of contoso/cab-desktop, contoso/security-cab"
        " (0 counted); approvals per tier (risk.approvals): low 0, medium 1, high 2, critical 2"
    ) in summary
    assert "Separation of duties: only the reviewer's latest review counts" in summary
    assert result.stdout.count(
        "BLOCKED — waiting for CAB approval: 0 of 1 from contoso/cab-desktop or"
        " contoso/security-cab"
    )
    assert "CAB approvals (decided by this step)" in summary
    assert app_token not in result.stdout + result.stderr + summary + comment.body

    # a CAB member who wrote none of it approves: the pull_request_review run passes
    carol = actions_github.add_review("contoso/intents", pr.number, "carol", "APPROVED")
    review = webhooks.review_event(pr, carol, secret=SECRET, installation_id=None)
    runner, result = _run(
        tmp_path / "reviewed", repo, actions_github, "pull_request_review", review.payload, **tokens
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.outputs["approvals"] == "approved"
    summary = runner.summary.read_text(encoding="utf-8")
    assert "✅ Approved: 1 CAB approval of 1." in summary
    assert f"counted: carol (review {carol.id}) for contoso/cab-desktop" in summary
    assert "refused: dave" in summary  # still shown, still refused
    [again] = actions_github.comments("contoso/intents", pr.number)
    assert again.id == comment.id
    assert f"counted: carol (review {carol.id})" in again.body
    assert "::error title=EUCORA CAB approval" not in result.stdout


def test_without_an_approvals_token_the_check_says_approvals_are_not_enforced(
    tmp_path: Path, repo: GitRepo, actions_github: GitHubDouble
) -> None:
    pr, workflow_token, _ = _approvals_scene(repo, actions_github)
    actions_github.add_review("contoso/intents", pr.number, "dave", "APPROVED")
    opened = webhooks.pull_request_event(pr, "opened", secret=SECRET, installation_id=None)
    runner, result = _run(
        tmp_path / "run", repo, actions_github, "pull_request", opened.payload, token=workflow_token
    )
    assert result.returncode == 0, result.stdout + result.stderr  # as before: nothing decided
    assert result.outputs["approvals"] == "not-enforced"
    summary = runner.summary.read_text(encoding="utf-8")
    [comment] = actions_github.comments("contoso/intents", pr.number)
    for shown in (summary, comment.body):
        assert "### CAB approvals: NOT enforced" in shown
        assert "Passing this step does not mean the change is approved" in shown
        assert "`approvals-token`" in shown
        assert "actions/create-github-app-token" in shown
        assert "decided by this step" not in shown
        assert "refused" not in shown  # no review was judged
        assert (
            "**PASS (policy) — CAB approvals not enforced: risk tier medium needs 1 CAB approval;"
            " no approvals-token given**" in shown
        )
    assert (
        "::warning title=EUCORA CAB approval::CAB approvals are not enforced: risk tier medium"
        " needs 1 CAB approval" in result.stdout
    )
    assert "Approvals are NOT enforced" in result.stdout
    # no team was read with any token
    assert not [r for r in actions_github.requests if "/teams/" in r.path]


def test_a_token_that_cannot_see_the_cab_team_is_an_error_that_says_so(
    tmp_path: Path, repo: GitRepo, actions_github: GitHubDouble
) -> None:
    """The workflow's own GITHUB_TOKEN given as approvals-token: GitHub answers team reads 403."""
    pr, workflow_token, _ = _approvals_scene(repo, actions_github)
    actions_github.add_review("contoso/intents", pr.number, "carol", "APPROVED")
    opened = webhooks.pull_request_event(pr, "opened", secret=SECRET, installation_id=None)
    runner, result = _run(
        tmp_path / "run",
        repo,
        actions_github,
        "pull_request",
        opened.payload,
        token=workflow_token,
        **{"approvals-token": workflow_token},
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.outputs["approvals"] == "error"
    summary = runner.summary.read_text(encoding="utf-8")
    assert "### CAB approvals: could not be decided" in summary
    assert "the approvals token cannot see CAB team contoso/cab-desktop" in summary
    assert "403" in summary
    assert "Members: read" in summary
    assert "::error title=EUCORA CAB approval::could not be decided" in result.stdout
    for shown in (summary, result.stdout):
        assert "not an active member" not in shown
        assert "waiting for" not in shown


MAC_ROUTE = """\
  routes:
    - name: macos
      description: macOS changes need the mac CAB
      when:
        platforms: [macos]
      teams: [contoso/mac-cab]
"""


def test_the_action_decides_routed_approvals_as_the_app_does(
    tmp_path: Path, repo: GitRepo, actions_github: GitHubDouble
) -> None:
    """``cab.routes``: a macOS change needs the mac CAB in the Action too, the route named."""
    repo.git("checkout", "-q", "main")
    repo.edit(
        "eucora.yaml",
        "  approvalsSurviveNonIntentPush",
        MAC_ROUTE + "  approvalsSurviveNonIntentPush",
    )
    repo.commit("macOS changes need the mac CAB")
    repo.branch("change")
    repo.edit("intents/macos/zoom.yaml", "6.2.11.43613", "6.2.12.44000")
    repo.commit("Zoom 6.2.12")
    workflow = actions_github.add_installation("contoso", permissions={})
    app = actions_github.add_installation("contoso")
    actions_github.add_repository("contoso/intents", installation=workflow, source=repo.path)
    app.repositories.add("contoso/intents")
    actions_github.add_team("contoso", "cab-desktop", ["carol"])
    actions_github.add_team("contoso", "security-cab", ["sam"])
    actions_github.add_team("contoso", "mac-cab", ["mia"])
    pr = actions_github.open_pull_request(
        "contoso/intents", head="change", base="main", author="dave"
    )
    carol = actions_github.add_review("contoso/intents", pr.number, "carol", "APPROVED")
    tokens = {
        "token": actions_github.installation_token(workflow.id),
        "approvals-token": actions_github.installation_token(app.id),
    }
    review = webhooks.review_event(pr, carol, secret=SECRET, installation_id=None)
    runner, result = _run(
        tmp_path / "carol", repo, actions_github, "pull_request_review", review.payload, **tokens
    )
    pack = json.loads(Path(result.outputs["evidence-file"]).read_bytes())
    assert [r["route"] for r in pack["approvals"]["routes"]] == ["macos"]
    # the tier's count is met by carol; the mac CAB's approval is missing: the step fails
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.outputs["approvals"] == "waiting"
    assert (
        "::error title=EUCORA CAB approval::waiting for 1 more approval from contoso/mac-cab"
        " (route macos)" in result.stdout
    )
    summary = runner.summary.read_text(encoding="utf-8")
    [comment] = actions_github.comments("contoso/intents", pr.number)
    for shown in (summary, comment.body, result.stdout):
        # each requirement explained, with the App's words (bot.core.pr_report)
        assert "route macos: 0 of 1 approval from contoso/mac-cab" in shown
        assert "matched intents/macos/zoom.yaml: platform macos" in shown
        assert "route macos: members of contoso/mac-cab (mia)" in shown
        assert "approvals per tier (risk.approvals): low 0, medium 1, high 2, critical 2" in shown
        assert "Separation of duties:" in shown
        assert "CAB teams: contoso/cab-desktop, contoso/security-cab, contoso/mac-cab" in shown
    assert result.stdout.count("BLOCKED — waiting for CAB approval: 0 of 1 from contoso/mac-cab")
    for shown in (summary, comment.body):  # the verdict heads the check, the policy's "passed" too
        assert "✅ **Policy passed**" in shown
        assert (
            "**BLOCKED — waiting for CAB approval: 0 of 1 from contoso/mac-cab (route macos)**"
            in shown
        )
        assert "May merge once approved" not in shown
    # the mac CAB's members were read with the approvals token, as the App reads them
    assert [r.status for r in actions_github.requests if r.path.endswith("/mac-cab/members")]

    mia = actions_github.add_review("contoso/intents", pr.number, "mia", "APPROVED")
    review = webhooks.review_event(pr, mia, secret=SECRET, installation_id=None)
    runner, result = _run(
        tmp_path / "mia", repo, actions_github, "pull_request_review", review.payload, **tokens
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.outputs["approvals"] == "approved"
    summary = runner.summary.read_text(encoding="utf-8")
    assert "route macos: 1 of 1 approval from contoso/mac-cab (mia)" in summary
    assert "PASS — approved by carol (contoso/cab-desktop), mia (contoso/mac-cab)" in result.stdout
    assert "::error title=EUCORA CAB approval" not in result.stdout
