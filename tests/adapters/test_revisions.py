"""``GitRevisions``: the ``Revisions`` port over a real git repository (what the flows read)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.adapters.revisions import GitRevisions
from bot.core.errors import GitError, GitHubError
from bot.flows.rollout_issues import previous_intent
from bot.ports import Revisions
from tests.support.gitrepo import GitRepo

INTENT = "intents/app.yaml"


@pytest.fixture
def history(tmp_path: Path) -> tuple[GitRepo, list[str]]:
    repo = GitRepo.create(tmp_path / "r")
    shas = []
    for version in ("1.0", "1.1"):
        repo.write(INTENT, f"app:\n  version: '{version}'\n")
        repo.write("README.md", f"readme {version}\n")
        shas.append(repo.commit(f"app {version}"))
    repo.git("rm", "-q", INTENT)
    shas.append(repo.commit("retire the app"))
    repo.write("README.md", "unrelated\n")
    repo.commit("docs only")
    return repo, shas


def test_file_history_lists_the_commits_touching_the_file_newest_first(
    history: tuple[GitRepo, list[str]],
) -> None:
    repo, (first, second, deleted) = history
    revisions: Revisions = GitRevisions(repo.path)
    head = repo.git("rev-parse", "HEAD")

    seen = list(revisions.file_history(head, INTENT, limit=10))

    assert [sha for sha, _ in seen] == [deleted, second, first]
    assert [content for _, content in seen] == [
        None,
        b"app:\n  version: '1.1'\n",
        b"app:\n  version: '1.0'\n",
    ]
    assert [sha for sha, _ in revisions.file_history(head, INTENT, limit=1)] == [deleted]


def test_a_history_that_cannot_be_read_raises_instead_of_reading_as_empty(
    history: tuple[GitRepo, list[str]],
) -> None:
    repo, _ = history
    with pytest.raises(GitError, match=r"git failed \(128\)"):
        list(GitRevisions(repo.path).file_history("f" * 40, INTENT, limit=10))


def test_the_rollback_reads_the_previous_version_through_the_port(
    history: tuple[GitRepo, list[str]],
) -> None:
    repo, (first, second, _) = history
    head = repo.git("rev-parse", "HEAD")

    found = previous_intent(GitRevisions(repo.path), head, INTENT, "1.0")

    assert found is not None
    assert (found.sha, found.content) == (first, b"app:\n  version: '1.0'\n")
    assert previous_intent(GitRevisions(repo.path), head, INTENT, "9.9") is None
    assert previous_intent(GitRevisions(repo.path), second, INTENT, "1.1") is not None


def test_a_failed_history_read_is_reported_as_before(
    history: tuple[GitRepo, list[str]],
) -> None:
    repo, _ = history
    with pytest.raises(GitHubError) as raised:
        previous_intent(GitRevisions(repo.path), "f" * 40, INTENT, "1.0")
    assert str(raised.value) == f"reading the history of {INTENT}: git failed (128)"
