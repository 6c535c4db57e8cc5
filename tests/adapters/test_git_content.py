"""The content hash and file reads of the approvals flow, on a real git repository."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.adapters.git import GitError
from bot.adapters.git_content import content_hash, read_file
from tests.support.gitrepo import GitRepo

FOLDERS = ("intents", "policies")


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    repo = GitRepo.create(tmp_path / "r")
    repo.write("intents/a.yaml", "name: a\n")
    repo.write("policies/p.yaml", "rules: []\n")
    repo.write("eucora.yaml", "kind: EucoraConfig\n")
    repo.write("README.md", "hello\n")
    repo.commit("start")
    return repo


def test_the_hash_follows_intents_policies_and_config_but_not_other_files(repo: GitRepo) -> None:
    git_dir = repo.path / ".git"
    first = content_hash(git_dir, repo.git("rev-parse", "HEAD"), FOLDERS)
    repo.write("README.md", "hello again\n")
    readme = content_hash(git_dir, repo.commit("readme"), FOLDERS)
    assert readme == first
    assert first.startswith("sha256:")
    for path, text in [
        ("intents/a.yaml", "name: a2\n"),
        ("policies/q.yaml", "rules: [x]\n"),
        ("eucora.yaml", "kind: EucoraConfig # changed\n"),
    ]:
        repo.write(path, text)
        changed = content_hash(git_dir, repo.commit(path), FOLDERS)
        assert changed != first
        first = changed


def test_read_file_and_bad_revisions(repo: GitRepo) -> None:
    git_dir = repo.path / ".git"
    head = repo.git("rev-parse", "HEAD")
    assert read_file(git_dir, head, "eucora.yaml") == b"kind: EucoraConfig\n"
    assert read_file(git_dir, head, "missing.yaml") is None
    with pytest.raises(GitError, match="not a commit SHA"):
        content_hash(git_dir, "HEAD; rm -rf /", FOLDERS)
    with pytest.raises(GitError, match="cannot list"):
        content_hash(git_dir, "0" * 40, FOLDERS)
