"""The git adapter against real repositories: merge-base diffs, renames, rules at base, bare clones."""

from __future__ import annotations

import os
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from bot.adapters.git import GitError, list_blobs, read_commits, read_revision_pair
from bot.core.changes import ChangeKind, FileChange, RevisionPair
from tests.support.gitrepo import ENV, GitRepo

CONFIG = "version: 1\nrequired_approvals: 1\n"
POLICY = "rules:\n  - id: ring-order\n    effect: deny\n"
WAIVER = "waivers: []\n"
# Long enough that a small edit keeps git's similarity index above 50 %.
CHROME = "".join(f"line{i}: value {i}\n" for i in range(20))
ZOOM = "name: zoom\nversion: 6.0\n"


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    """main: config, a policy, a waiver, three intents and a README; then branch ``change``."""
    repo = GitRepo.create(tmp_path / "repo")
    repo.write("eucora.yaml", CONFIG)
    repo.write("policies/rollout.yaml", POLICY)
    repo.write("policies/tests/rollout-test.yaml", "cases: []\n")
    repo.write("waivers/2027.yaml", WAIVER)
    repo.write("intents/windows/chrome.yaml", CHROME)
    repo.write("intents/windows/zoom.yaml", ZOOM)
    repo.write("intents/macos/slack.yml", "name: slack\n")
    repo.write("README.md", "# fleet\n")
    repo.commit("fleet")
    repo.branch("change")
    return repo


def read(repo: GitRepo | Path, base: str = "main", head: str = "change", **kw: str) -> RevisionPair:
    path = repo.path if isinstance(repo, GitRepo) else repo
    return read_revision_pair(path, base, head, **kw)


def only(pair: RevisionPair) -> FileChange:
    assert len(pair.changes) == 1, pair.changes
    return pair.changes[0]


def summary(pair: RevisionPair) -> list[tuple[str, str | None, str | None]]:
    return [
        (c.kind.value, c.base.path if c.base else None, c.head.path if c.head else None)
        for c in pair.changes
    ]


def move(repo: GitRepo, old: str, new: str) -> None:
    (repo.path / new).parent.mkdir(parents=True, exist_ok=True)
    repo.git("mv", old, new)


def remove_object(repo: GitRepo, sha: str) -> None:
    (repo.path / ".git" / "objects" / sha[:2] / sha[2:]).unlink()


def hash_object(data: bytes) -> str:
    return (
        subprocess.run(
            ["git", "hash-object", "--stdin"], input=data, capture_output=True, check=True, env=ENV
        )
        .stdout.decode()
        .strip()
    )


class TestChanges:
    def test_added_intent(self, repo: GitRepo) -> None:
        """A new intent file is ADDED with only a head side, holding the committed bytes."""
        repo.write("intents/linux/osquery.yaml", "name: osquery\n")
        repo.commit("osquery")
        change = only(read(repo))
        assert change.kind is ChangeKind.ADDED
        assert change.base is None
        assert change.head is not None
        assert change.head.path == "intents/linux/osquery.yaml"
        assert change.head.raw == b"name: osquery\n"

    def test_modified_intent(self, repo: GitRepo) -> None:
        """An edited intent is MODIFIED with the old bytes at base and the new bytes at head."""
        repo.edit("intents/windows/zoom.yaml", "6.0", "6.1")
        repo.commit("zoom 6.1")
        change = only(read(repo))
        assert change.kind is ChangeKind.MODIFIED
        assert change.base is not None
        assert change.head is not None
        assert change.base.raw == ZOOM.encode()
        assert change.head.raw == b"name: zoom\nversion: 6.1\n"
        assert change.base.blob_sha != change.head.blob_sha

    def test_deleted_intent(self, repo: GitRepo) -> None:
        """A removed intent is DELETED with only a base side."""
        repo.git("rm", "-q", "intents/macos/slack.yml")
        repo.commit("drop slack")
        change = only(read(repo))
        assert change.kind is ChangeKind.DELETED
        assert change.head is None
        assert change.base is not None
        assert change.path == "intents/macos/slack.yml"
        assert change.base.raw == b"name: slack\n"

    def test_intent_moved_between_folders_is_renamed(self, repo: GitRepo) -> None:
        """An intent moved to another intents folder is one RENAMED change with both sides."""
        move(repo, "intents/windows/chrome.yaml", "intents/shared/chrome.yaml")
        repo.commit("move chrome")
        change = only(read(repo))
        assert change.kind is ChangeKind.RENAMED
        assert change.base is not None
        assert change.head is not None
        assert (change.base.path, change.head.path) == (
            "intents/windows/chrome.yaml",
            "intents/shared/chrome.yaml",
        )
        assert change.base.blob_sha == change.head.blob_sha
        assert change.head.raw == CHROME.encode()

    def test_moved_and_edited_intent_is_renamed(self, repo: GitRepo) -> None:
        """A move with a small edit is still a rename (git's similarity), with both versions."""
        move(repo, "intents/windows/chrome.yaml", "intents/shared/chrome.yaml")
        repo.edit("intents/shared/chrome.yaml", "value 3\n", "value 33\n")
        repo.commit("move and edit chrome")
        change = only(read(repo))
        assert change.kind is ChangeKind.RENAMED
        assert change.base is not None
        assert change.head is not None
        assert change.base.raw == CHROME.encode()
        assert b"value 33\n" in change.head.raw

    def test_rename_out_of_intents_is_a_deletion(self, repo: GitRepo) -> None:
        """An intent moved out of intents/ is DELETED; its new path is listed with other files."""
        move(repo, "intents/windows/chrome.yaml", "archive/chrome.yaml")
        repo.commit("archive chrome")
        pair = read(repo)
        assert summary(pair) == [("deleted", "intents/windows/chrome.yaml", None)]
        assert pair.other_paths == ("archive/chrome.yaml",)

    def test_rename_into_intents_is_an_addition(self, repo: GitRepo) -> None:
        """A file moved into intents/ from elsewhere is ADDED; its old path is an other path."""
        repo.write("drafts/teams.yaml", CHROME.replace("value", "draft"))
        repo.commit("draft")
        move(repo, "drafts/teams.yaml", "intents/windows/teams.yaml")
        repo.commit("promote teams")
        pair = read(repo, "change~1", "change")
        assert summary(pair) == [("added", None, "intents/windows/teams.yaml")]
        assert pair.other_paths == ("drafts/teams.yaml",)

    def test_rename_across_zones_is_split(self, repo: GitRepo) -> None:
        """A file moved from policies/ to intents/ is a deleted policy and an added intent."""
        move(repo, "policies/rollout.yaml", "intents/rollout.yaml")
        repo.commit("misplaced")
        assert summary(read(repo)) == [
            ("added", None, "intents/rollout.yaml"),
            ("deleted", "policies/rollout.yaml", None),
        ]

    def test_config_policies_and_waivers_are_changes(self, repo: GitRepo) -> None:
        """eucora.yaml, eucora.yml, policies/*.yaml and waivers/*.yml are read as changes."""
        repo.edit("eucora.yaml", "1\n", "2\n")
        repo.write("eucora.yml", CONFIG)
        repo.write("policies/privilege.yml", POLICY)
        repo.write("waivers/2028.yml", WAIVER)
        repo.commit("rules")
        assert summary(read(repo)) == [
            ("modified", "eucora.yaml", "eucora.yaml"),
            ("added", None, "eucora.yml"),
            ("added", None, "policies/privilege.yml"),
            ("added", None, "waivers/2028.yml"),
        ]

    def test_other_files_go_to_other_paths(self, repo: GitRepo) -> None:
        """README, scripts, non-YAML intents and nested policy folders are other paths, sorted."""
        repo.edit("README.md", "fleet", "Fleet")
        repo.write("scripts/sync.sh", "#!/bin/sh\n")
        repo.write("intents/windows/notes.txt", "todo\n")
        repo.write("policies/tests/privilege-test.yaml", "cases: []\n")
        repo.write("config.yaml", "x: 1\n")
        repo.commit("misc")
        pair = read(repo)
        assert pair.changes == ()
        assert pair.other_paths == (
            "README.md",
            "config.yaml",
            "intents/windows/notes.txt",
            "policies/tests/privilege-test.yaml",
            "scripts/sync.sh",
        )

    def test_changes_are_sorted_by_path(self, repo: GitRepo) -> None:
        """Changes come sorted by path, whatever their kind."""
        repo.write("intents/zz/last.yaml", "a: 1\n")
        repo.git("rm", "-q", "intents/macos/slack.yml")
        repo.edit("intents/windows/zoom.yaml", "6.0", "7.0")
        repo.write("eucora.yaml", CONFIG + "# note\n")
        repo.commit("several")
        paths = [c.path for c in read(repo).changes]
        assert paths == [
            "eucora.yaml",
            "intents/macos/slack.yml",
            "intents/windows/zoom.yaml",
            "intents/zz/last.yaml",
        ]

    def test_identical_revisions_have_no_changes(self, repo: GitRepo) -> None:
        """Base equal to head gives no changes and no other paths."""
        pair = read(repo, "main", "main")
        assert (pair.changes, pair.other_paths) == ((), ())
        assert pair.base_sha == pair.head_sha == pair.merge_base_sha

    def test_custom_folders_and_config_name(self, repo: GitRepo) -> None:
        """The folder and config names are parameters: other names are then other paths."""
        repo.write("fleet/intents/chrome.yaml", "a: 1\n")
        repo.write("rules/one.yaml", POLICY)
        repo.write("exceptions/one.yaml", WAIVER)
        repo.write("settings.yaml", CONFIG)
        repo.edit("intents/windows/zoom.yaml", "6.0", "7.0")
        repo.commit("custom layout")
        pair = read(
            repo,
            intents_dir="fleet/intents/",
            policies_dir="rules",
            waivers_dir="exceptions",
            config_name="settings.yaml",
        )
        assert [c.path for c in pair.changes] == [
            "exceptions/one.yaml",
            "fleet/intents/chrome.yaml",
            "rules/one.yaml",
            "settings.yaml",
        ]
        assert pair.other_paths == ("intents/windows/zoom.yaml",)
        assert [f.path for f in pair.head_files] == [
            "exceptions/one.yaml",
            "rules/one.yaml",
            "settings.yaml",
        ]


class TestBytes:
    def test_bytes_are_raw_and_blob_shas_are_git_blob_ids(self, repo: GitRepo) -> None:
        """Bytes are not decoded (CRLF, BOM, Latin-1 survive) and blob SHAs equal git hash-object."""
        raw = b"\xef\xbb\xbfname: caf\xe9\r\nversion: 1\r\n\x00"
        (repo.path / "intents/windows/odd.yaml").write_bytes(raw)
        repo.edit("intents/windows/zoom.yaml", "6.0", "6.1")
        repo.commit("odd bytes")
        pair = read(repo)
        sides = [s for c in pair.changes for s in (c.base, c.head) if s is not None]
        sides += [*pair.base_files, *pair.head_files]
        assert len(sides) == 9
        for side in sides:
            assert side.blob_sha == hash_object(side.raw), side.path
        odd = next(c for c in pair.changes if c.path == "intents/windows/odd.yaml")
        assert odd.head is not None
        assert odd.head.raw == raw

    def test_unusual_file_names_survive(self, repo: GitRepo) -> None:
        """Spaces, non-ASCII, newlines and non-UTF-8 bytes in names come through unchanged."""
        names = [
            "intents/über app.yaml",
            "intents/two\nlines.yaml",
            os.fsdecode(b"intents/caf\xe9.yaml"),
        ]
        for name in names:
            (repo.path / name).write_bytes(b"a: 1\n")
        repo.commit("odd names")
        pair = read(repo)
        assert [c.path for c in pair.changes] == sorted(names)
        assert set(list_blobs(repo.path, "change", "intents")) >= set(names)

    def test_submodule_entries_are_other_paths(self, repo: GitRepo) -> None:
        """A gitlink (submodule) has no bytes here: it is an other path even under intents/."""
        commit = repo.git("rev-parse", "HEAD")
        repo.git("update-index", "--add", "--cacheinfo", f"160000,{commit},intents/vendored.yaml")
        repo.git("commit", "-q", "-m", "gitlink")
        pair = read(repo)
        assert pair.changes == ()
        assert pair.other_paths == ("intents/vendored.yaml",)
        assert "intents/vendored.yaml" not in list_blobs(repo.path, "change", "intents")


class TestRevisions:
    def test_revisions_resolve_to_commit_shas(self, repo: GitRepo) -> None:
        """Branches, tags (annotated too), short SHAs and HEAD~n resolve to full commit SHAs."""
        first = repo.git("rev-parse", "change")
        repo.edit("intents/windows/zoom.yaml", "6.0", "6.1")
        second = repo.commit("zoom")
        repo.git("tag", "-a", "-m", "release", "v1", first)
        pair = read(repo, "v1", second[:10])
        assert (pair.base_sha, pair.head_sha, pair.merge_base_sha) == (first, second, first)
        assert read(repo, "HEAD~1", "HEAD") == pair
        assert [c.path for c in pair.changes] == ["intents/windows/zoom.yaml"]

    def test_rules_come_from_base_and_head(self, repo: GitRepo) -> None:
        """base_files hold config, policies and waivers at base; head_files the PR's versions."""
        repo.edit("policies/rollout.yaml", "deny", "warn")
        repo.commit("soften")
        pair = read(repo)
        assert [f.path for f in pair.base_files] == [
            "eucora.yaml",
            "policies/rollout.yaml",
            "waivers/2027.yaml",
        ]
        at_base = {f.path: f.raw for f in pair.base_files}
        at_head = {f.path: f.raw for f in pair.head_files}
        assert at_base["policies/rollout.yaml"] == POLICY.encode()
        assert at_head["policies/rollout.yaml"] == POLICY.replace("deny", "warn").encode()
        assert at_base["eucora.yaml"] == at_head["eucora.yaml"] == CONFIG.encode()
        assert summary(pair) == [("modified", "policies/rollout.yaml", "policies/rollout.yaml")]

    def test_diff_starts_at_merge_base_and_rules_at_base(self, repo: GitRepo) -> None:
        """After main moves on, its own edits are not PR changes, but its rules are the base rules."""
        branch_point = repo.git("rev-parse", "main")
        repo.edit("intents/windows/zoom.yaml", "6.0", "6.1")
        repo.commit("zoom on the PR")
        repo.branch("main", "main")
        repo.edit("intents/windows/chrome.yaml", "value 1\n", "value 100\n")
        repo.edit("policies/rollout.yaml", "deny", "require-cab")
        main = repo.commit("main moves on")
        pair = read(repo)
        assert pair.base_sha == main
        assert pair.merge_base_sha == branch_point
        assert [c.path for c in pair.changes] == ["intents/windows/zoom.yaml"]
        base_policy = next(f for f in pair.base_files if f.path == "policies/rollout.yaml")
        head_policy = next(f for f in pair.head_files if f.path == "policies/rollout.yaml")
        assert b"require-cab" in base_policy.raw
        assert head_policy.raw == POLICY.encode()

    def test_unrelated_histories_diff_from_base(self, repo: GitRepo) -> None:
        """With no common ancestor the merge base is the base itself."""
        repo.git("checkout", "-q", "--orphan", "other")
        repo.git("rm", "-q", "-r", "--cached", ".")
        repo.git("clean", "-q", "-f", "-d", "-x")
        repo.write("intents/new.yaml", "a: 1\n")
        repo.commit("orphan")
        pair = read(repo, "main", "other")
        assert pair.merge_base_sha == pair.base_sha
        assert ("added", None, "intents/new.yaml") in summary(pair)
        assert ("deleted", "intents/windows/zoom.yaml", None) in summary(pair)
        assert "README.md" in pair.other_paths

    def test_bare_clone_reads_the_same(self, repo: GitRepo, tmp_path: Path) -> None:
        """A bare clone gives the same pair; reading never touches the working tree."""
        move(repo, "intents/windows/chrome.yaml", "intents/shared/chrome.yaml")
        repo.edit("policies/rollout.yaml", "deny", "warn")
        repo.edit("README.md", "fleet", "Fleet")
        repo.commit("mixed")
        bare = tmp_path / "bare.git"
        subprocess.run(
            ["git", "clone", "-q", "--bare", str(repo.path), str(bare)], check=True, env=ENV
        )
        here = read(repo)
        there = read(bare)
        assert there.repository == str(bare.resolve())
        assert replace(there, repository=here.repository) == here
        assert len(here.changes) == 2
        assert repo.git("status", "--porcelain") == ""
        assert repo.git("rev-parse", "--abbrev-ref", "HEAD") == "change"

    def test_dollar_in_path_is_literal(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A "$HOME" in the path is a folder name; git never falls back to the current directory."""
        decoy = GitRepo.create(tmp_path / "decoy")
        decoy.write("intents/decoy.yaml", "a: 1\n")
        decoy.commit("decoy")
        monkeypatch.chdir(decoy.path)
        repo = GitRepo.create(tmp_path / "$HOME" / "repo")
        repo.write("intents/a.yaml", "a: 1\n")
        repo.commit("one")
        repo.write("intents/b.yaml", "b: 1\n")
        repo.commit("two")
        assert list(list_blobs(repo.path, "main", "intents")) == [
            "intents/a.yaml",
            "intents/b.yaml",
        ]
        assert [c.path for c in read(repo, "main~1", "main").changes] == ["intents/b.yaml"]

    def test_linked_worktree(self, repo: GitRepo, tmp_path: Path) -> None:
        """A linked worktree (its .git is a file) reads the same as the main checkout."""
        repo.edit("intents/windows/zoom.yaml", "6.0", "6.1")
        repo.commit("zoom")
        repo.git("worktree", "add", "-q", str(tmp_path / "linked"), "main")
        here = read(repo)
        there = read(tmp_path / "linked")
        assert replace(there, repository=here.repository) == here

    def test_repository_is_the_absolute_path(
        self, repo: GitRepo, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A relative repository path is reported resolved."""
        monkeypatch.chdir(repo.path.parent)
        assert read(Path("repo")).repository == str(repo.path.resolve())


class TestErrors:
    @pytest.mark.parametrize(
        "rev", ["no-such-branch", "0" * 40, "main~99", "--output=/tmp/x", "HEAD:README.md"]
    )
    def test_unknown_revision(self, repo: GitRepo, rev: str) -> None:
        """A revision that names no commit is a one-line GitError naming it."""
        with pytest.raises(GitError) as caught:
            read(repo, "main", rev)
        message = str(caught.value)
        assert "\n" not in message
        assert repr(rev) in message
        assert message.startswith("unknown revision")

    def test_empty_revision(self, repo: GitRepo) -> None:
        """An empty revision is refused before git is asked."""
        with pytest.raises(GitError, match="empty revision"):
            read(repo, "", "change")

    def test_not_a_repository(self, tmp_path: Path) -> None:
        """A plain folder is not a git repository: one line naming the path."""
        with pytest.raises(GitError) as caught:
            read_revision_pair(tmp_path, "main", "change")
        assert str(caught.value) == f"not a git repository: {tmp_path.resolve()}"

    def test_missing_path(self, tmp_path: Path) -> None:
        """A path that does not exist is reported the same way."""
        with pytest.raises(GitError, match="not a git repository"):
            list_blobs(tmp_path / "nowhere", "main", "intents")

    def test_subfolder_of_a_repository_is_not_a_repository(self, repo: GitRepo) -> None:
        """Parent folders are not searched: the path given must be the repository."""
        with pytest.raises(GitError, match="not a git repository"):
            read_revision_pair(repo.path / "intents", "main", "change")

    def test_missing_blob(self, repo: GitRepo) -> None:
        """A blob missing from a damaged clone is a one-line GitError, not a ValueError."""
        repo.edit("intents/windows/zoom.yaml", "6.0", "6.1")
        repo.commit("zoom")
        remove_object(repo, repo.git("rev-parse", "change:intents/windows/zoom.yaml"))
        with pytest.raises(GitError) as caught:
            read(repo)
        assert str(caught.value).startswith(f"cannot read git repository {repo.path.resolve()}: ")
        assert "missing" in str(caught.value)
        assert "\n" not in str(caught.value)

    def test_missing_tree(self, repo: GitRepo) -> None:
        """A tree missing from a damaged clone is git's own one-line message."""
        repo.edit("intents/windows/zoom.yaml", "6.0", "6.1")
        repo.commit("zoom")
        remove_object(repo, repo.git("rev-parse", "change:intents/windows"))
        with pytest.raises(
            GitError,
            match=r"^cannot read git repository .*: fatal: unable to read tree [0-9a-f]{40}$",
        ):
            read(repo)

    def test_no_traceback_chain(self, repo: GitRepo) -> None:
        """The GitPython exception is not chained, so no GitPython traceback reaches a user."""
        with pytest.raises(GitError) as caught:
            read(repo, "main", "nope")
        assert caught.value.__cause__ is None
        assert caught.value.__suppress_context__


class TestListBlobs:
    def test_yaml_files_under_a_folder(self, repo: GitRepo) -> None:
        """Every .yaml/.yml file below the folder, recursively, maps to git's blob SHA."""
        repo.write("intents/windows/notes.txt", "todo\n")
        repo.commit("notes")
        blobs = list_blobs(repo.path, "change", "intents")
        assert list(blobs) == [
            "intents/macos/slack.yml",
            "intents/windows/chrome.yaml",
            "intents/windows/zoom.yaml",
        ]
        for path, sha in blobs.items():
            assert sha == repo.git("rev-parse", f"change:{path}")

    def test_at_a_revision(self, repo: GitRepo) -> None:
        """The listing is of the given revision, not of the working tree or another branch."""
        repo.git("rm", "-q", "intents/macos/slack.yml")
        repo.commit("drop slack")
        assert "intents/macos/slack.yml" in list_blobs(repo.path, "main", "intents")
        assert "intents/macos/slack.yml" not in list_blobs(repo.path, "change", "intents")

    def test_nested_folder_and_missing_folder(self, repo: GitRepo) -> None:
        """A nested folder works; a missing folder, or a file, lists nothing."""
        assert list(list_blobs(repo.path, "main", "intents/windows/")) == [
            "intents/windows/chrome.yaml",
            "intents/windows/zoom.yaml",
        ]
        assert list_blobs(repo.path, "main", "nowhere") == {}
        assert list_blobs(repo.path, "main", "README.md") == {}

    def test_unknown_revision(self, repo: GitRepo) -> None:
        """An unknown revision is a GitError, as for read_revision_pair."""
        with pytest.raises(GitError, match="unknown revision 'nope'"):
            list_blobs(repo.path, "nope", "intents")


def test_read_commits_lists_every_commit_of_base_to_head_with_addresses_and_whole_messages(
    tmp_path: Path,
) -> None:
    work = GitRepo.create(tmp_path / "work")
    work.write("a.yaml", "a: 1\n")
    base = work.commit("base")
    work.branch("pr")
    work.write("a.yaml", "a: 2\n")
    work.git("add", "-A")
    message = "intent\n\nbody \x1e with odd bytes\n\nCo-authored-by: Carol <carol@corp.example>"
    work.git("commit", "-q", "--author=Carol <Carol@Home.example>", "-m", message)
    for index in range(300):
        work.git(
            "commit", "-q", "--allow-empty", "--author=Dave <dave@example.com>", "-m", f"f{index}"
        )
    head = work.git("rev-parse", "HEAD")
    bare = tmp_path / "mirror.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(work.path), str(bare)], env=ENV, check=True)

    commits = read_commits(bare, base, head)

    assert len(commits) == 301
    first, last = commits[0], commits[-1]
    assert (first.author_email, first.committer_email) == ("Carol@Home.example", "ada@example.com")
    assert first.message == message
    assert first.author_login is None
    assert (last.sha, last.author_email, last.message) == (head, "dave@example.com", "f299")
    assert read_commits(bare, head, head) == ()
    with pytest.raises(GitError, match="unknown revision"):
        read_commits(bare, base, "f" * 40)
