"""``bot.ports.Revisions`` over a local git repository: a clone, or the bare mirror GitHub fills.

The flows read git only through this port; the reads themselves are the git adapters'
(``bot.adapters.git``, ``bot.adapters.git_content``, ``bot.adapters.fleet``), unchanged. Every
failed read raises ``GitError``: a read that failed is never "no such file".
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.adapters import fleet, git_content
from bot.adapters.git import read_commits, read_revision_pair
from bot.core.changes import FileAtRevision, RevisionPair
from bot.core.errors import GitError
from bot.core.github_model import PullRequestCommit


@dataclass(frozen=True, slots=True)
class GitRevisions:
    """The commits of the git repository at ``path`` (what ``GitHub.fetch_revisions`` hands out)."""

    path: str | Path

    def read_file(self, sha: str, path: str) -> bytes | None:
        """The bytes of ``path`` at commit ``sha``; ``None`` when the commit has no such file."""
        return git_content.read_file(Path(self.path), sha, path)

    def content_hash(self, sha: str, folders: Sequence[str]) -> str:
        """``sha256:`` of the tree entries of ``folders`` and the config file at ``sha``."""
        return git_content.content_hash(Path(self.path), sha, folders)

    def commits(self, base: str, head: str) -> tuple[PullRequestCommit, ...]:
        """The commits of ``base..head``."""
        return read_commits(self.path, base, head)

    def revision_pair(self, base: str, head: str, *, intents_dir: str = "intents") -> RevisionPair:
        """What a pull request from ``head`` into ``base`` changes, and the rules that judge it."""
        return read_revision_pair(self.path, base, head, intents_dir=intents_dir)

    def known_apps(self, sha: str, intents_dir: str, *, cache_file: Path | None) -> frozenset[str]:
        """The app names of every intent under ``intents_dir`` at ``sha``."""
        return fleet.known_apps(self.path, sha, intents_dir, cache_file=cache_file)

    def folder(self, sha: str, folder: str) -> tuple[FileAtRevision, ...]:
        """Every YAML file under ``folder`` at ``sha``."""
        return fleet.read_folder(self.path, sha, folder)

    def file_history(
        self, head: str, path: str, *, limit: int
    ) -> Iterator[tuple[str, bytes | None]]:
        """The ``limit`` newest commits from ``head`` touching ``path``, with the file's bytes.

        Newest first; ``None``: deleted or unreadable at that commit. The history itself failing
        raises ``GitError`` (``git failed (<code>)``).
        """
        try:
            shas = self._git("log", f"-{limit}", "--format=%H", head, "--", path).split()
        except subprocess.CalledProcessError as error:
            raise GitError(f"git failed ({error.returncode})") from None
        for sha in (s.decode() for s in shas):
            try:
                yield sha, self._git("show", f"{sha}:{path}")
            except subprocess.CalledProcessError:
                yield sha, None

    def _git(self, *args: str) -> bytes:
        return subprocess.run(  # noqa: S603 - git with fixed verbs on our own mirror
            ["git", "-C", str(self.path), *args],  # noqa: S607
            capture_output=True,
            check=True,
        ).stdout
