"""Separation of duties end to end: who wrote a change cannot approve it, however the commits
name them. Signed webhooks into the app, PyGithub and git against the GitHub double (every
request checked against GitHub's description), the review ledger and audit log on SQLite.

The PR's commits are read from the mirror (``base..head``), not from GitHub's list of at most
250; every address is tied to a GitHub account (GitHub's attribution, commit search), and an
address tied to nobody stops every CAB approval counting and is said on the CAB check.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.core.approvals import REASON_TEXT, Reason
from bot.core.render.formatting import escape_markdown
from tests.conftest import EXAMPLES
from tests.entrypoints.test_approvals_e2e import (
    NEW_APP,
    REPO,
    app,  # noqa: F401 - the fixture
    approval_run,
    audit_types,
    opened,
    review,
)
from tests.entrypoints.test_github_app import App
from tests.support.gitrepo import GitRepo

FILLER = 300
"""More commits than GitHub lists for a pull request (250)."""


@pytest.fixture
def base(tmp_path: Path) -> GitRepo:
    """The example repository with the CAB team ``acme/cab`` (carol, sam), and a commit on the
    default branch that carol wrote with her work address (commit search finds it there)."""
    repo = GitRepo.create(
        tmp_path / "src", template=EXAMPLES / "intents-repo", freeze_windows=False
    )
    repo.edit(
        "eucora.yaml", "    - contoso/cab-desktop\n    - contoso/security-cab\n", "    - acme/cab\n"
    )
    repo.commit("the CAB is acme/cab")
    repo.write("README.md", "Intents of acme.\n")
    repo.git("add", "-A")
    repo.git("commit", "-q", "--author=Carol <carol.w@corp.example>", "-m", "a README")
    repo.branch("change")
    return repo


def add_new_app(repo: GitRepo, *, author: str | None = None, message: str = "a new app") -> None:
    text = repo.read("intents/windows/notepad-plus-plus.yaml")
    text = text.replace("name: notepad-plus-plus\n", "name: notepad-plus-plus-x\n", 1)
    text = text.replace("  name: Notepad++\n", "  name: Notepad++ X\n", 1)
    repo.write(NEW_APP, text)
    repo.git("add", "-A")
    repo.git("commit", "-q", *([f"--author={author}"] if author else []), "-m", message)


def not_counted(reason: Reason) -> str:
    return f"not counted: {REASON_TEXT[reason]}"


def test_a_cab_member_who_wrote_the_intent_behind_300_filler_commits_cannot_approve(
    app: App,  # noqa: F811 - the fixture
    base: GitRepo,
) -> None:
    app.double.link_email("carol@home.example", "carol")  # verified on carol's account
    add_new_app(base, author="Carol <carol@home.example>", message="the intent")
    for index in range(FILLER):
        base.git(
            "commit", "-q", "--allow-empty", "--author=Dave <dave@example.com>", "-m", f"f{index}"
        )
    pr = opened(app, base)
    assert len(app.double.pull_request(REPO, pr.number).commits) == FILLER + 1

    review(app, pr, "carol", "APPROVED")

    run = approval_run(app)
    assert (run.status, run.title) == ("in_progress", "Waiting for 1 more CAB approval")
    assert not_counted(Reason.COMMIT_AUTHOR) in run.summary
    assert "approval.counted" not in audit_types(app, pr)
    # GitHub listed the most recent 250 commits; carol's was read from the mirror and tied to
    # her account by reading that one commit
    assert app.double.requests_to("GET", r"/commits/[0-9a-f]{40}$")


def test_a_co_author_named_by_a_real_address_of_a_cab_member_cannot_approve(
    app: App,  # noqa: F811 - the fixture
    base: GitRepo,
) -> None:
    app.double.link_email("carol.w@corp.example", "carol")  # her work address, on main
    add_new_app(base, message="a new app\n\nCo-authored-by: Carol W <Carol.W@corp.example>")
    pr = opened(app, base)

    review(app, pr, "carol", "APPROVED")

    run = approval_run(app)
    assert run.status == "in_progress"
    assert not_counted(Reason.CO_AUTHOR) in run.summary
    assert app.double.requests_to("GET", r"^/search/commits$")
    approved = review(app, pr, "sam", "APPROVED")  # who did not write it still can
    run = approval_run(app)
    assert (run.status, run.conclusion) == ("completed", "success")
    assert f"| {approved.id} | sam | approved |" in run.summary


def test_an_address_tied_to_no_account_is_said_and_no_approval_counts(
    app: App,  # noqa: F811 - the fixture
    base: GitRepo,
) -> None:
    add_new_app(base, message="a new app\n\nCo-authored-by: Someone <someone@elsewhere.example>")
    pr = opened(app, base)

    review(app, pr, "carol", "APPROVED")

    run = approval_run(app)
    assert run.status == "in_progress"
    assert f"tied to no GitHub account: {escape_markdown('someone@elsewhere.example')}." in (
        run.summary
    )
    assert not_counted(Reason.UNRESOLVED) in run.summary
    assert "approval.counted" not in audit_types(app, pr)


def test_a_commit_author_github_ties_to_no_account_is_said_and_no_approval_counts(
    app: App,  # noqa: F811 - the fixture
    base: GitRepo,
) -> None:
    app.double.link_email("carol@private.example", None)  # not verified on any account
    add_new_app(base, author="C <carol@private.example>")
    pr = opened(app, base)

    review(app, pr, "carol", "APPROVED")
    review(app, pr, "sam", "APPROVED")

    run = approval_run(app)
    assert run.status == "in_progress"
    assert escape_markdown("carol@private.example") in run.summary
    assert run.summary.count(not_counted(Reason.UNRESOLVED)) == 2
