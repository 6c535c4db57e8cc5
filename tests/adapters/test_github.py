"""The GitHub adapter against the GitHub double: every port method, auth, limits, the mirror."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.adapters.github_calls import scrub
from bot.adapters.github_connectors import (
    GitHubAppConnector,
    GitHubTokenConnector,
    connector_from_settings,
)
from bot.core.github_model import (
    EVIDENCE_MARKER,
    POLICY_CHECK,
    Annotation,
    AnnotationLevel,
    CheckConclusion,
    CheckRun,
    CheckRunOutput,
    CheckStatus,
    Permission,
)
from bot.doubles.github import generate_app_key
from bot.errors import ConfigError, GitHubError
from bot.settings import Settings
from tests.support.github_double_fixtures import app_connector
from tests.support.gitrepo import GitRepo

REPO = "acme/intents"


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def scene(github_double, tmp_path):
    source = GitRepo.create(tmp_path / "source")
    source.write("intents/app.yaml", "name: app\n")
    base = source.commit("base")
    source.branch("feature")
    source.write("intents/app.yaml", "name: app\nversion: 2\n")
    head = source.commit("head")
    installation = github_double.add_installation("acme")
    github_double.add_repository(REPO, installation=installation, source=source.path)
    pr = github_double.open_pull_request(
        REPO, head="feature", author="dave", labels=["eucora:emergency"]
    )
    return {"source": source, "base": base, "head": head, "installation": installation, "pr": pr}


@pytest.fixture
def connector(github_double, tmp_path):
    return app_connector(github_double, tmp_path)


@pytest.fixture
def github(connector, scene):
    return connector.for_installation(scene["installation"].id)


def annotations(count):
    return tuple(
        Annotation(
            path="intents/app.yaml",
            start_line=n + 1,
            end_line=n + 1,
            level=AnnotationLevel.FAILURE,
            message=f"finding {n}",
            title="schema",
            start_column=1,
            end_column=4,
        )
        for n in range(count)
    )


# -- pull requests -------------------------------------------------------------------------------


def test_pull_request_is_read_as_core_data(github, scene):
    pr = github.pull_request(REPO, scene["pr"].number)
    assert (pr.repository, pr.number) == (REPO, scene["pr"].number)
    assert (pr.head_sha, pr.base_sha) == (scene["head"], scene["base"])
    assert (pr.head_ref, pr.base_ref) == ("feature", "main")
    assert pr.author == "dave"
    assert pr.labels == ("eucora:emergency",)
    assert (pr.state, pr.merged, pr.draft) == ("open", False, False)
    assert (pr.head_repository, pr.from_fork) == (REPO, False)
    assert pr.title == scene["pr"].title  # the evidence page names the PR by it


def test_a_pull_request_from_a_fork_says_so(github, github_double):
    fork = github_double.open_pull_request(REPO, head="feature", fork="mallory/intents")
    pr = github.pull_request(REPO, fork.number)
    assert (pr.head_repository, pr.from_fork) == ("mallory/intents", True)


def test_unknown_pull_request_is_a_one_line_github_error(github):
    with pytest.raises(
        GitHubError, match=r"reading pull request acme/intents#99: GitHub answered 404: Not Found"
    ) as caught:
        github.pull_request(REPO, 99)
    assert "\n" not in str(caught.value)


# -- authentication --------------------------------------------------------------------------------


def test_the_app_authenticates_with_a_jwt_the_double_verifies_and_caches_the_token(
    github_double, github, scene
):
    github.pull_request(REPO, 1)
    github.pull_request(REPO, 1)
    github.permission(REPO, "dave")
    minted = github_double.requests_to("POST", r"/app/installations/\d+/access_tokens")
    assert [(r.status, r.caller) for r in minted] == [(201, "app")]
    assert github_double.tokens_issued == 1
    reads = github_double.requests_to("GET", r"/pulls/1$")
    assert {r.caller for r in reads} == {"installation"}


def test_installation_token_is_refreshed_five_minutes_before_it_expires(
    github_double, tmp_path, scene
):
    clock = Clock()
    connector = app_connector(github_double, tmp_path, clock=clock)
    github = connector.for_installation(scene["installation"].id)
    github.pull_request(REPO, 1)
    first = connector.installation_token(scene["installation"].id)
    clock.now += timedelta(minutes=54)
    github.pull_request(REPO, 1)
    assert connector.installation_token(scene["installation"].id) == first
    assert github_double.tokens_issued == 1
    clock.now += timedelta(minutes=2)  # 56 minutes in: less than 5 minutes left
    github_double.token_lifetime = timedelta(hours=2)  # the next token outlives the fake clock
    github.pull_request(REPO, 1)
    assert connector.installation_token(scene["installation"].id) != first
    assert github_double.tokens_issued == 2


def test_tokens_are_minted_once_under_concurrency(github_double, connector, scene):
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(8) as pool:
        tokens = set(
            pool.map(lambda _: connector.installation_token(scene["installation"].id), range(16))
        )
    assert len(tokens) == 1
    assert github_double.tokens_issued == 1


def test_a_jwt_from_the_wrong_key_is_refused_without_leaking_it(github_double, tmp_path, scene):
    other_private, _ = generate_app_key()
    connector = GitHubAppConnector(
        api_url=github_double.url,
        app_id=str(github_double.app.id),
        private_key=other_private,
        mirrors_dir=tmp_path / "m",
        seconds_between_writes=None,
    )
    with pytest.raises(GitHubError, match="GitHub answered 401") as caught:
        connector.for_installation(scene["installation"].id).pull_request(REPO, 1)
    message = str(caught.value)
    assert "PRIVATE KEY" not in message
    assert "eyJ" not in message
    assert other_private.splitlines()[1] not in message


def test_a_repository_outside_the_installation_is_not_found(github_double, github, tmp_path):
    github_double.add_repository("other/repo")
    with pytest.raises(GitHubError, match="404"):
        github.pull_request("other/repo", 1)


def test_the_app_connector_needs_an_installation(connector):
    with pytest.raises(GitHubError, match="installation id"):
        connector.for_installation(None)


# -- check runs ------------------------------------------------------------------------------------


def test_120_annotations_go_in_three_requests_with_title_and_summary_each_time(
    github_double, github, scene
):
    run = CheckRun(
        name=POLICY_CHECK,
        head_sha=scene["head"],
        status=CheckStatus.COMPLETED,
        conclusion=CheckConclusion.FAILURE,
        output=CheckRunOutput(
            title="3 findings", summary="**blocked**", text="details", annotations=annotations(120)
        ),
        external_id="pack:sha256:abc",
        details_url="https://eucora.example/evidence/sha256:abc",
    )
    run_id = github.create_check_run(REPO, run)
    created = github_double.runs[run_id]
    assert [len(b) for b in created.annotation_batches] == [50, 50, 20]
    assert [a["message"] for a in created.annotations] == [f"finding {n}" for n in range(120)]
    assert (created.status, created.conclusion, created.name) == (
        "completed",
        "failure",
        POLICY_CHECK,
    )
    assert created.external_id == "pack:sha256:abc"
    assert created.head_sha == scene["head"]
    posts = github_double.requests_to("POST", r"/check-runs$")
    patches = github_double.requests_to("PATCH", rf"/check-runs/{run_id}$")
    assert (len(posts), len(patches)) == (1, 2)
    for request in [*posts, *patches]:
        assert request.body["output"]["title"] == "3 findings"
        assert request.body["output"]["summary"] == "**blocked**"
    first = created.annotations[0]
    assert (first["start_column"], first["end_column"], first["annotation_level"]) == (
        1,
        4,
        "failure",
    )


def test_update_check_run_completes_in_place_and_batches(github_double, github, scene):
    run_id = github.create_check_run(
        REPO, CheckRun(name=POLICY_CHECK, head_sha=scene["head"], status=CheckStatus.IN_PROGRESS)
    )
    assert github_double.runs[run_id].status == "in_progress"
    assert github_double.runs[run_id].conclusion is None
    github.update_check_run(
        REPO,
        run_id,
        CheckRun(
            name=POLICY_CHECK,
            head_sha=scene["head"],
            status=CheckStatus.COMPLETED,
            conclusion=CheckConclusion.SUCCESS,
            output=CheckRunOutput(title="ok", summary="all good", annotations=annotations(60)),
        ),
    )
    updated = github_double.runs[run_id]
    assert (updated.status, updated.conclusion, updated.title) == ("completed", "success", "ok")
    assert [len(b) for b in updated.annotation_batches] == [50, 10]
    assert len(github_double.check_runs(REPO)) == 1


def test_annotations_over_several_lines_carry_no_columns(github_double, github, scene):
    note = Annotation(
        path="a.yaml",
        start_line=2,
        end_line=5,
        level=AnnotationLevel.WARNING,
        message="m",
        start_column=3,
        end_column=9,
    )
    run = CheckRun(
        name=POLICY_CHECK,
        head_sha=scene["head"],
        status=CheckStatus.COMPLETED,
        conclusion=CheckConclusion.NEUTRAL,
        output=CheckRunOutput(title="t", summary="s", annotations=(note,)),
    )
    run_id = github.create_check_run(REPO, run)
    sent = github_double.runs[run_id].annotations[0]
    assert "start_column" not in sent
    assert "end_column" not in sent


def test_an_overlong_summary_is_cut_to_githubs_limit(github_double, github, scene):
    run = CheckRun(
        name=POLICY_CHECK,
        head_sha=scene["head"],
        status=CheckStatus.COMPLETED,
        conclusion=CheckConclusion.FAILURE,
        output=CheckRunOutput(title="t", summary="x" * 70_000),
    )
    run_id = github.create_check_run(REPO, run)
    summary = github_double.runs[run_id].summary
    assert len(summary) == 65_535
    assert summary.endswith("(truncated)")


# -- comments --------------------------------------------------------------------------------------


def test_sticky_comment_is_created_once_then_edited_in_place(github_double, github, scene):
    number = scene["pr"].number
    # Someone else quoting the marker must never be edited.
    github_double.add_comment(REPO, number, "mallory", f"{EVIDENCE_MARKER} fake verdict")
    first = github.upsert_comment(REPO, number, EVIDENCE_MARKER, f"{EVIDENCE_MARKER}\nverdict 1")
    second = github.upsert_comment(REPO, number, EVIDENCE_MARKER, f"{EVIDENCE_MARKER}\nverdict 2")
    assert first == second
    comments = github_double.comments(REPO, number)
    assert [(c.author, c.body) for c in comments] == [
        ("mallory", f"{EVIDENCE_MARKER} fake verdict"),
        ("eucora-test[bot]", f"{EVIDENCE_MARKER}\nverdict 2"),
    ]
    assert comments[1].edits == 1
    # The app's identity comes from GET /app, once.
    assert len(github_double.requests_to("GET", r"^/app$")) == 1


def test_unchanged_sticky_comment_is_not_sent_again(github_double, github, scene):
    body = f"{EVIDENCE_MARKER}\nsame"
    github.upsert_comment(REPO, 1, EVIDENCE_MARKER, body)
    github.upsert_comment(REPO, 1, EVIDENCE_MARKER, body)
    assert github_double.requests_to("PATCH", r"/issues/comments/") == []
    assert len(github_double.requests_to("POST", r"/issues/1/comments$")) == 1


def test_sticky_comment_found_beyond_the_first_page(github_double, github, scene):
    for n in range(120):
        github_double.add_comment(REPO, 1, "chatty", f"comment {n}")
    created = github_double.add_comment(REPO, 1, "eucora-test[bot]", f"{EVIDENCE_MARKER}\nold")
    assert github.upsert_comment(REPO, 1, EVIDENCE_MARKER, f"{EVIDENCE_MARKER}\nnew") == created.id
    assert github_double.comment_store[created.id].body.endswith("new")


def test_an_overlong_comment_is_cut_to_githubs_limit_keeping_its_marker(github_double, github):
    sticky = github.upsert_comment(REPO, 1, EVIDENCE_MARKER, "x" * 70_000 + EVIDENCE_MARKER)
    body = github_double.comment_store[sticky].body
    assert len(body) <= 65_536
    assert body.startswith(EVIDENCE_MARKER)
    assert body.endswith("(truncated)")
    reply = github.add_comment(REPO, 1, "y" * 70_000)
    assert len(github_double.comment_store[reply].body) == 65_536


def test_a_comment_body_without_its_marker_is_a_bug(github):
    with pytest.raises(ValueError, match="marker"):
        github.upsert_comment(REPO, 1, EVIDENCE_MARKER, "no marker")


def test_add_comment_posts_a_reply(github_double, github):
    comment_id = github.add_comment(REPO, 1, "risk factors: ...")
    assert github_double.comment_store[comment_id].body == "risk factors: ..."
    assert github_double.comment_store[comment_id].author == "eucora-test[bot]"


# -- permissions -----------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["admin", "maintain", "write", "triage", "read"])
def test_permission_reads_the_role(github_double, github, role):
    github_double.set_permission(REPO, "erin", role)
    assert github.permission(REPO, "erin") == Permission(role)


def test_strangers_have_no_permission(github):
    assert github.permission(REPO, "stranger") == Permission.NONE
    assert not github.permission(REPO, "stranger").can_write


# -- limits and faults -----------------------------------------------------------------------------


def test_secondary_rate_limit_403_is_waited_out_with_retry_after(github_double, github):
    github_double.secondary_rate_limit(1, retry_after=1, path=r"/pulls/1$")
    started = time.monotonic()
    assert github.pull_request(REPO, 1).number == 1
    assert time.monotonic() - started >= 1.0
    assert [r.status for r in github_double.requests_to("GET", r"/pulls/1$")] == [403, 200]


def test_429_with_retry_after_is_waited_out_even_for_a_post(github_double, github):
    github_double.secondary_rate_limit(
        1, retry_after=1, status=429, method="POST", path=r"/comments$"
    )
    started = time.monotonic()
    github.add_comment(REPO, 1, "hello")
    assert time.monotonic() - started >= 1.0
    assert [r.status for r in github_double.requests_to("POST", r"/comments$")] == [429, 201]
    assert len(github_double.comments(REPO, 1)) == 1


def test_a_wait_longer_than_the_bound_fails_at_once(github_double, github):
    github_double.secondary_rate_limit(1, retry_after=3600, path=r"/pulls/1$")
    started = time.monotonic()
    with pytest.raises(GitHubError, match="rate limited for 3600s"):
        github.pull_request(REPO, 1)
    assert time.monotonic() - started < 5


def test_primary_rate_limit_waits_for_the_reset(github_double, github):
    github_double.primary_rate_limit(1, reset_in=1, path=r"/pulls/1$")
    assert github.pull_request(REPO, 1).number == 1
    assert [r.status for r in github_double.requests_to("GET", r"/pulls/1$")] == [403, 200]


def test_a_primary_limit_resetting_beyond_the_bound_fails_at_once(github_double, github):
    github_double.primary_rate_limit(1, reset_in=3600, path=r"/pulls/1$")
    started = time.monotonic()
    with pytest.raises(GitHubError, match="GitHub answered 403: API rate limit exceeded"):
        github.pull_request(REPO, 1)
    assert time.monotonic() - started < 5


def test_a_403_that_is_no_rate_limit_is_not_retried(github_double, github):
    github_double.fail(403, 1, path=r"/pulls/1$", message="Resource not accessible by integration")
    with pytest.raises(
        GitHubError, match="GitHub answered 403: Resource not accessible by integration"
    ):
        github.pull_request(REPO, 1)
    assert len(github_double.requests_to("GET", r"/pulls/1$")) == 1


def test_rate_limit_remaining_is_exposed(github_double, connector, github):
    assert connector.rate_limit_remaining is None
    github.pull_request(REPO, 1)
    github.pull_request(REPO, 1)
    assert connector.rate_limit_remaining == github_double.rate_remaining < 5000


def test_every_port_call_is_reported_to_the_observer(github_double, tmp_path, scene):
    seen = []
    connector = app_connector(
        github_double, tmp_path, on_call=lambda op, outcome: seen.append((op, outcome))
    )
    github = connector.for_installation(scene["installation"].id)
    github.pull_request(REPO, 1)
    with pytest.raises(GitHubError):
        github.pull_request(REPO, 404)
    github.permission(REPO, "dave")
    github.fetch_revisions(REPO, [scene["head"]])
    with pytest.raises(GitHubError):
        github.fetch_revisions(REPO, ["f" * 40])
    assert seen == [
        ("pull_request", "ok"),
        ("pull_request", "error"),
        ("permission", "ok"),
        ("repository", "ok"),
        ("fetch_revisions", "ok"),
        ("fetch_revisions", "error"),
    ]


def test_server_errors_on_reads_are_retried(github_double, github):
    github_double.fail(502, 2, path=r"/pulls/1$", message="Bad Gateway")
    assert github.pull_request(REPO, 1).number == 1
    assert [r.status for r in github_double.requests_to("GET", r"/pulls/1$")] == [502, 502, 200]


def test_a_post_is_not_replayed_after_a_server_error(github_double, github):
    github_double.fail(500, 1, method="POST", path=r"/comments$")
    with pytest.raises(GitHubError, match="commenting on acme/intents#1: GitHub answered 500"):
        github.add_comment(REPO, 1, "hello")
    assert len(github_double.requests_to("POST", r"/comments$")) == 1


def test_a_dropped_connection_is_retried_for_reads(github_double, github):
    github_double.drop_connections(1, method="GET", path=r"/pulls/1$")
    assert github.pull_request(REPO, 1).number == 1
    assert len(github_double.requests_to("GET", r"/pulls/1$")) == 2


def test_a_dropped_post_is_reported_not_replayed(github_double, github):
    github_double.drop_connections(1, method="POST", path=r"/check-runs$")
    run = CheckRun(name=POLICY_CHECK, head_sha="a" * 40, status=CheckStatus.QUEUED)
    with pytest.raises(GitHubError, match="connection to GitHub failed or was dropped"):
        github.create_check_run(REPO, run)
    assert len(github_double.requests_to("POST", r"/check-runs$")) == 1


def test_persistent_server_errors_end_in_a_github_error(github_double, github):
    github_double.fail(503, 20, path=r"/pulls/1$", message="Unavailable")
    with pytest.raises(GitHubError, match="reading pull request acme/intents#1"):
        github.pull_request(REPO, 1)


# -- the mirror ------------------------------------------------------------------------------------


def _all_text(root: Path) -> str:
    return "\n".join(p.read_bytes().decode("latin-1") for p in root.rglob("*") if p.is_file())


def test_fetch_brings_base_and_head_without_the_token_touching_disk_or_logs(  # noqa: PLR0913, PLR0917
    github_double, connector, github, scene, tmp_path, caplog
):
    caplog.set_level(logging.DEBUG)
    mirror = github.fetch_revisions(REPO, [scene["base"], scene["head"]]).path
    assert mirror == tmp_path / "home" / "mirrors" / "acme" / "intents.git"
    source = scene["source"]
    for sha in (scene["base"], scene["head"]):
        assert source.git("--git-dir", str(mirror), "cat-file", "-t", sha) == "commit"
    token = connector.installation_token(scene["installation"].id)
    assert token.startswith("ghs_")
    assert token not in _all_text(mirror)
    assert "extraheader" not in (mirror / "config").read_text().lower()
    assert token not in caplog.text
    assert "eyJ" not in caplog.text  # nor the app's JWT
    assert "PRIVATE KEY" not in caplog.text
    git_requests = [r for r in github_double.requests if r.caller == "git"]
    assert git_requests
    assert all(r.status == 200 for r in git_requests)


def test_fetch_asks_only_for_missing_commits(github_double, github, scene):
    github.fetch_revisions(REPO, [scene["base"], scene["head"]])
    before = len([r for r in github_double.requests if r.caller == "git"])
    github.fetch_revisions(REPO, [scene["head"], scene["base"]])
    assert len([r for r in github_double.requests if r.caller == "git"]) == before
    source = scene["source"]
    source.write("intents/app.yaml", "name: app\nversion: 3\n")
    newer = source.commit("force-pushed head")
    moved = github_double.push(REPO, source.path, "feature")
    assert [pr.head_sha for pr in moved] == [newer]
    mirror = github.fetch_revisions(REPO, [scene["base"], newer]).path
    assert source.git("--git-dir", str(mirror), "cat-file", "-t", newer) == "commit"
    assert len([r for r in github_double.requests if r.caller == "git"]) > before


def test_concurrent_fetches_of_one_repository_do_not_collide(github, scene):
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(4) as pool:
        paths = set(
            pool.map(
                lambda _: github.fetch_revisions(REPO, [scene["base"], scene["head"]]), range(4)
            )
        )
    assert len(paths) == 1


def test_fetch_of_an_unknown_sha_fails_without_the_token(connector, github, scene):
    with pytest.raises(GitHubError, match="git fetch of acme/intents") as caught:
        github.fetch_revisions(REPO, ["0" * 40])
    token = connector.installation_token(scene["installation"].id)
    assert token not in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("bad", ["HEAD", "main", "--upload-pack=evil", "a" * 39])
def test_fetch_refuses_anything_but_a_sha(github, bad):
    with pytest.raises(GitHubError, match="not a commit SHA"):
        github.fetch_revisions(REPO, [bad])


def test_fetch_with_a_refused_token_fails_cleanly(github_double, tmp_path, scene):
    token = github_double.add_user_token("dave")
    adapter = GitHubTokenConnector(
        api_url=github_double.url,
        token=token,
        mirrors_dir=tmp_path / "m",
        seconds_between_writes=None,
    ).for_installation(None)
    adapter.clone_url(REPO)
    github_double.tokens.pop(token)  # revoked after the clone URL was read
    with pytest.raises(GitHubError, match="git fetch of acme/intents failed") as caught:
        adapter.fetch_revisions(REPO, [scene["head"]])
    assert token not in str(caught.value)


# -- token mode ------------------------------------------------------------------------------------


def test_token_mode_acts_as_the_tokens_user(github_double, tmp_path, scene):
    token = github_double.add_user_token("robot-user")
    connector = GitHubTokenConnector(
        api_url=github_double.url,
        token=token,
        mirrors_dir=tmp_path / "m",
        seconds_between_writes=None,
    )
    github = connector.for_installation(None)
    assert connector.for_installation(123) is github
    github_double.add_comment(
        REPO, 1, "eucora-test[bot]", f"{EVIDENCE_MARKER}\nthe app's, not ours"
    )
    comment_id = github.upsert_comment(REPO, 1, EVIDENCE_MARKER, f"{EVIDENCE_MARKER}\nmine")
    assert github_double.comment_store[comment_id].author == "robot-user"
    assert github.pull_request(REPO, 1).head_sha == scene["head"]
    mirror = github.fetch_revisions(REPO, [scene["head"]]).path
    assert token not in _all_text(mirror)
    assert connector.rate_limit_remaining is not None


def test_token_mode_with_an_actions_token_writes_as_github_actions(github_double, tmp_path, scene):
    github_double.app.slug = (
        "github-actions"  # Actions' GITHUB_TOKEN is an installation token of that app
    )
    token = github_double.installation_token(scene["installation"].id)
    github = GitHubTokenConnector(
        api_url=github_double.url,
        token=token,
        mirrors_dir=tmp_path / "m",
        seconds_between_writes=None,
    ).for_installation(None)
    first = github.upsert_comment(REPO, 1, EVIDENCE_MARKER, f"{EVIDENCE_MARKER}\none")
    assert github.upsert_comment(REPO, 1, EVIDENCE_MARKER, f"{EVIDENCE_MARKER}\ntwo") == first
    assert github_double.comment_store[first].author == "github-actions[bot]"


# -- configuration and secrets ---------------------------------------------------------------------


def test_connector_from_settings_picks_app_then_token(github_double, tmp_path):
    base = {"EUCORA_HOME": str(tmp_path), "GITHUB_API_URL": github_double.url}
    app = connector_from_settings(
        Settings.from_environ(
            {
                **base,
                "GITHUB_APP_ID": str(github_double.app.id),
                "GITHUB_PRIVATE_KEY": github_double.app.private_key_pem,
            }
        )
    )
    assert isinstance(app, GitHubAppConnector)
    assert app.api_url == github_double.url
    token = connector_from_settings(Settings.from_environ({**base, "GITHUB_TOKEN": "ghp_x"}))
    assert isinstance(token, GitHubTokenConnector)
    with pytest.raises(ConfigError, match="GITHUB_APP_ID and GITHUB_PRIVATE_KEY, or GITHUB_TOKEN"):
        connector_from_settings(Settings.from_environ(base))


def test_a_one_line_pem_with_escaped_newlines_is_accepted(github_double, tmp_path, scene):
    one_line = github_double.app.private_key_pem.strip().replace("\n", "\\n")
    connector = GitHubAppConnector(
        api_url=github_double.url,
        app_id=str(github_double.app.id),
        private_key=one_line,
        mirrors_dir=tmp_path / "m",
        seconds_between_writes=None,
    )
    assert connector.for_installation(scene["installation"].id).pull_request(REPO, 1).number == 1


def test_a_malformed_private_key_is_a_config_error_that_does_not_echo_it(tmp_path):
    with pytest.raises(
        ConfigError, match="GITHUB_PRIVATE_KEY is not an unencrypted PEM private key"
    ) as caught:
        GitHubAppConnector(
            api_url="http://127.0.0.1:9",
            app_id="1",
            private_key="-----BEGIN RSA PRIVATE KEY-----\nsecretstuff\n-----END RSA PRIVATE KEY-----",
            mirrors_dir=tmp_path,
        )
    assert "secretstuff" not in str(caught.value)


@pytest.mark.parametrize(
    "secret",
    [
        "ghp_" + "A1b2" * 9,
        "gho_" + "A1b2" * 9,
        "ghu_" + "A1b2" * 9,
        "ghs_" + "A1b2" * 9,
        "ghs_" + "A1b2C3d4" * 30,  # the long new installation-token form
        "ghr_" + "A1b2" * 19,
        "github_pat_11ABCDEFG0" + "x" * 70,
        "v1." + "0123456789abcdef" * 2 + "01234567",
        "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiIxIn0.c2lnbmF0dXJl",
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----",
        "Authorization: Basic eC1hY2Nlc3MtdG9rZW46Z2hzX3NlY3JldA==",
    ],
)
def test_scrub_removes_every_credential_shape(secret):
    cleaned = scrub(f"before {secret} after")
    assert secret not in cleaned
    assert "[redacted]" in cleaned
    assert cleaned.startswith("before")
    assert "\n" not in cleaned


def test_a_ghes_style_api_url_with_a_path_works(github_app_key, tmp_path):
    from bot.doubles.github import GitHubDouble

    private, public = github_app_key
    ghes = GitHubDouble(
        tmp_path / "ghes", private_key_pem=private, public_key_pem=public, api_prefix="/api/v3"
    ).start()
    try:
        source = GitRepo.create(tmp_path / "src")
        source.write("intents/a.yaml", "a: 1\n")
        base = source.commit("base")
        source.branch("feature")
        source.write("intents/a.yaml", "a: 2\n")
        head = source.commit("head")
        installation = ghes.add_installation("acme")
        ghes.add_repository(REPO, installation=installation, source=source.path)
        ghes.open_pull_request(REPO, head="feature")
        for n in range(3):
            ghes.add_comment(REPO, 1, "chatty", f"c{n}")
        assert ghes.url.endswith("/api/v3")
        github = app_connector(ghes, tmp_path).for_installation(installation.id)
        assert github.pull_request(REPO, 1).head_sha == head
        comment_id = github.upsert_comment(REPO, 1, EVIDENCE_MARKER, f"{EVIDENCE_MARKER}\nok")
        assert ghes.comment_store[comment_id].author == "eucora-test[bot]"
        mirror = github.fetch_revisions(REPO, [base, head]).path
        assert source.git("--git-dir", str(mirror), "cat-file", "-t", head) == "commit"
        assert all(r.path.startswith("/api/v3/") for r in ghes.requests if r.caller != "git")
    finally:
        ghes.stop()
    assert ghes.violations == []


def test_a_token_revoked_early_is_replaced_once(github_double, connector, github, scene):
    github.pull_request(REPO, 1)
    revoked = connector.installation_token(scene["installation"].id)
    github_double.tokens.pop(revoked)  # GitHub forgot it before its time
    assert github.pull_request(REPO, 1).number == 1
    github_double.tokens.pop(connector.installation_token(scene["installation"].id))
    comment_id = github.add_comment(REPO, 1, "after a revocation")
    assert github_double.comment_store[comment_id].body == "after a revocation"
    assert github_double.tokens_issued == 3
    assert [r.status for r in github_double.requests_to("POST", r"/comments$")] == [401, 201]


def test_annotation_batches_survive_a_revocation_between_requests(github_double, github, scene):
    # Revoked between the POST and the first PATCH: only that PATCH is sent again, no second run.
    github_double.revoke_token_after(1, method="POST", path=r"/check-runs$")
    run = CheckRun(
        name=POLICY_CHECK,
        head_sha=scene["head"],
        status=CheckStatus.COMPLETED,
        conclusion=CheckConclusion.FAILURE,
        output=CheckRunOutput(title="t", summary="s", annotations=annotations(60)),
    )
    run_id = github.create_check_run(REPO, run)
    assert [len(b) for b in github_double.runs[run_id].annotation_batches] == [50, 10]
    assert len(github_double.check_runs(REPO)) == 1
    assert [r.status for r in github_double.requests_to("POST", r"/check-runs$")] == [201]
    assert [r.status for r in github_double.requests_to("PATCH", rf"/check-runs/{run_id}$")] == [
        401,
        200,
    ]


def test_token_mode_reports_a_refused_token(github_double, tmp_path):
    token = github_double.add_user_token("dave")
    github = GitHubTokenConnector(
        api_url=github_double.url,
        token=token,
        mirrors_dir=tmp_path / "m",
        seconds_between_writes=None,
    ).for_installation(None)
    github_double.tokens.pop(token)
    with pytest.raises(GitHubError, match="GitHub answered 401: Bad credentials") as caught:
        github.pull_request(REPO, 1)
    assert token not in str(caught.value)


def test_the_default_branch_and_its_head_are_read_never_guessed(github_double, github, scene):
    assert github.pull_request(REPO, 1).default_branch == "main"
    assert github.branch_head(REPO, "main") == scene["base"]
    with pytest.raises(GitHubError, match="has no branch nowhere"):
        github.branch_head(REPO, "nowhere")
    with pytest.raises(GitHubError, match="not a branch name"):
        github.branch_head(REPO, "--upload-pack=evil")
