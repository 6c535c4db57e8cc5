"""Real commits in the double's bare repositories: merging a pull request, committing to a branch.

GitHub merges on the server without a working tree; so does this, with git's plumbing
(``merge-tree --write-tree``, ``commit-tree``, ``update-ref`` with the expected old value), so
the merge commit is a real commit any client can fetch, and a merge whose base moved after the
approved head has a tree that differs from that head's (the "stale base" case).
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

GITHUB_COMMITTER = ("GitHub", "noreply@github.com")
"""Who commits server-side merges on github.com (the merging user is the author)."""


class MergeConflictError(Exception):
    """The head does not merge cleanly into the base (GitHub: "not mergeable")."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Identity:
    name: str
    email: str


def user_identity(login: str) -> Identity:
    """A user as GitHub writes them into commits it makes for them (no-reply address)."""
    return Identity(name=login, email=f"{login}@users.noreply.github.com")


def _run(
    bare: Path, env: Mapping[str, str], *args: str, stdin: bytes | None = None, check: bool = True
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        ["git", *args], cwd=bare, env=dict(env), input=stdin, capture_output=True, check=check
    )


def _commit_env(base: Mapping[str, str], author: Identity) -> dict[str, str]:
    name, email = GITHUB_COMMITTER
    return {
        **base,
        "GIT_AUTHOR_NAME": author.name,
        "GIT_AUTHOR_EMAIL": author.email,
        "GIT_COMMITTER_NAME": name,
        "GIT_COMMITTER_EMAIL": email,
    }


def merge(  # noqa: PLR0913 - one knob per field GitHub's merge endpoint takes
    bare: Path,
    env: Mapping[str, str],
    *,
    base_ref: str,
    head_sha: str,
    method: str,
    author: Identity,
    message: str,
) -> str:
    """Merge ``head_sha`` into branch ``base_ref`` (``merge`` or ``squash``); the new commit.

    The branch is moved only if it still points where it did (``update-ref`` with the old
    value), as a concurrent push would make GitHub refuse too.
    """
    if method not in {"merge", "squash"}:
        raise ValueError(f"the double does not perform {method} merges")
    base_sha = _run(bare, env, "rev-parse", "--verify", f"refs/heads/{base_ref}^{{commit}}")
    base = base_sha.stdout.decode().strip()
    tree = _run(bare, env, "merge-tree", "--write-tree", base, head_sha, check=False)
    if tree.returncode != 0:
        raise MergeConflictError(tree.stdout.decode().splitlines()[0] if tree.stdout else "")
    tree_sha = tree.stdout.decode().split()[0]
    parents = ["-p", base, "-p", head_sha] if method == "merge" else ["-p", base]
    made = _run(
        bare,
        _commit_env(env, author),
        "commit-tree",
        tree_sha,
        *parents,
        stdin=message.encode(),
    )
    commit = made.stdout.decode().strip()
    _run(bare, env, "update-ref", f"refs/heads/{base_ref}", commit, base)
    return commit


def commit_files(  # noqa: PLR0913 - where, what and who
    bare: Path,
    env: Mapping[str, str],
    *,
    branch: str,
    files: Mapping[str, str | None],
    message: str,
    author: Identity,
) -> str:
    """A commit on ``branch`` writing ``files`` (path → text; None deletes), as the web editor."""
    parent = (
        _run(bare, env, "rev-parse", "--verify", f"refs/heads/{branch}^{{commit}}")
        .stdout.decode()
        .strip()
    )
    with tempfile.TemporaryDirectory() as scratch:
        index_env = {**env, "GIT_INDEX_FILE": str(Path(scratch) / "index")}
        _run(bare, index_env, "read-tree", parent)
        entries = []  # --index-info works without a work tree; mode 0 removes the path
        for path, text in files.items():
            if text is None:
                entries.append(f"0 {'0' * 40}\t{path}")
                continue
            blob = _run(bare, env, "hash-object", "-w", "--stdin", stdin=text.encode())
            entries.append(f"100644 {blob.stdout.decode().strip()}\t{path}")
        _run(bare, index_env, "update-index", "--index-info", stdin="\n".join(entries).encode())
        tree = _run(bare, index_env, "write-tree").stdout.decode().strip()
    commit_env = {
        **_commit_env(env, author),
        "GIT_COMMITTER_NAME": author.name,
        "GIT_COMMITTER_EMAIL": author.email,
    }
    made = _run(bare, commit_env, "commit-tree", tree, "-p", parent, stdin=message.encode())
    commit = made.stdout.decode().strip()
    _run(bare, env, "update-ref", f"refs/heads/{branch}", commit, parent)
    return commit


def default_message(
    *, method: str, number: int, title: str, head_label: str, commits: list[str]
) -> tuple[str, str]:
    """GitHub's default commit title and body for a merge or a squash."""
    if method == "squash":
        return f"{title} (#{number})", "\n\n".join(f"* {c}" for c in commits)
    return f"Merge pull request #{number} from {head_label}", title


def write_blob(bare: Path, env: Mapping[str, str], data: bytes) -> str:
    """Store ``data`` as a blob (``POST .../git/blobs``); its SHA."""
    return _run(bare, env, "hash-object", "-w", "--stdin", stdin=data).stdout.decode().strip()


def write_tree(
    bare: Path,
    env: Mapping[str, str],
    base_tree: str | None,
    entries: Sequence[tuple[str, str, str | None]],
) -> str:
    """A tree from ``base_tree`` with ``entries`` (path, mode, blob SHA; None deletes) applied."""
    with tempfile.TemporaryDirectory() as scratch:
        index_env = {**env, "GIT_INDEX_FILE": str(Path(scratch) / "index")}
        if base_tree:
            _run(bare, index_env, "read-tree", base_tree)
        lines = [
            f"0 {'0' * 40}\t{path}" if sha is None else f"{mode} {sha}\t{path}"
            for path, mode, sha in entries
        ]
        _run(bare, index_env, "update-index", "--index-info", stdin="\n".join(lines).encode())
        return _run(bare, index_env, "write-tree").stdout.decode().strip()


def write_commit(  # noqa: PLR0913 - where, what and who
    bare: Path,
    env: Mapping[str, str],
    *,
    tree: str,
    parents: Sequence[str],
    message: str,
    author: Identity,
) -> str:
    """A commit object (``POST .../git/commits``), no ref moved; its SHA."""
    commit_env = {
        **_commit_env(env, author),
        "GIT_COMMITTER_NAME": author.name,
        "GIT_COMMITTER_EMAIL": author.email,
    }
    args = [arg for parent in parents for arg in ("-p", parent)]
    made = _run(bare, commit_env, "commit-tree", tree, *args, stdin=message.encode())
    return made.stdout.decode().strip()
