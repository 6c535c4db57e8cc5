"""Two cheap reads of a mirror for the approvals flow: a file at a revision, a content hash.

The content hash names what a CAB member approved: the intent, policy and configuration content
at a commit (``git ls-tree`` of the intents and policies folders' trees and the config file's
blob: their object ids already hash every file below them), so two heads with the same such
content have the same hash whatever else (a README) changed. Only tree entries are read.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
from collections.abc import Sequence
from pathlib import Path

from bot.adapters.git import GitError
from bot.core.repo_config import CONFIG_NAMES

_SHA = re.compile(r"^[0-9a-f]{40}(?:[0-9a-f]{24})?$")
_TIMEOUT = 30


def _git(mirror: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(  # noqa: S603 - fixed git arguments, revisions checked as SHAs
            ["git", f"--git-dir={mirror}", *args],  # noqa: S607 - git from PATH, as GitPython
            capture_output=True,
            check=False,
            timeout=_TIMEOUT,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise GitError(f"cannot run git in {mirror}: {error}") from None


def _checked(sha: str) -> str:
    if not _SHA.match(sha):
        raise GitError(f"not a commit SHA: {sha!r}")
    return sha


def content_hash(mirror: Path, sha: str, folders: Sequence[str]) -> str:
    """``sha256:`` of the tree entries of ``folders`` and the config file at commit ``sha``."""
    paths = [*(f.strip("/") for f in folders), *CONFIG_NAMES]
    done = _git(mirror, "ls-tree", "--full-tree", _checked(sha), "--", *paths)
    if done.returncode != 0:
        raise GitError(f"cannot list {sha[:12]} in {mirror}: {_reason(done)}")
    entries = sorted(done.stdout.decode("utf-8", "surrogateescape").splitlines())
    return "sha256:" + hashlib.sha256("\n".join(entries).encode()).hexdigest()


def read_file(mirror: Path, sha: str, path: str) -> bytes | None:
    """The bytes of ``path`` at commit ``sha``, or ``None`` when the commit has no such file.

    A commit the mirror lacks, or git failing, raises ``GitError``: a read that failed is never
    taken as "no such file" (no ``eucora.yaml`` would mean no freeze windows).
    """
    listed = _git(mirror, "ls-tree", "-z", "--full-tree", _checked(sha), "--", path)
    if listed.returncode != 0:
        raise GitError(f"cannot list {path} at {sha[:12]} in {mirror}: {_reason(listed)}")
    entry = listed.stdout.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
    meta, _, name = entry.partition("\t")
    fields = meta.split()
    if name != path.strip("/") or len(fields) != 3 or fields[1] != "blob":
        return None
    done = _git(mirror, "cat-file", "blob", fields[2])
    if done.returncode != 0:
        raise GitError(f"cannot read {path} at {sha[:12]} in {mirror}: {_reason(done)}")
    return done.stdout


def _reason(done: subprocess.CompletedProcess[bytes]) -> str:
    return " ".join(done.stderr.decode("utf-8", "replace").strip().splitlines()[:1])
