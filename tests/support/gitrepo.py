"""Real git repositories for tests and benchmarks, built with the git command line."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "Ada Author",
    "GIT_AUTHOR_EMAIL": "ada@example.com",
    "GIT_COMMITTER_NAME": "Ada Author",
    "GIT_COMMITTER_EMAIL": "ada@example.com",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
}


_FREEZE_WINDOWS = re.compile(r"(?m)^freezeWindows:\n(?:(?:[ ]+.*)?\n)*")


class GitRepo:
    """A working repository with helpers to write files, commit and branch."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def create(
        cls, path: Path, *, template: Path | None = None, freeze_windows: bool = True
    ) -> GitRepo:
        """A repository, from ``template`` when given.

        ``freeze_windows=False`` drops the template's ``freezeWindows`` from ``eucora.yaml``: a
        test that evaluates at the real time (a server, a worker process) would otherwise be
        blocked on weekends and over the year end, when the example's windows are closed.
        """
        if template is not None:
            shutil.copytree(template, path)
            config = path / "eucora.yaml"
            if not freeze_windows and config.is_file():
                text = config.read_text(encoding="utf-8")
                config.write_text(_FREEZE_WINDOWS.sub("", text), encoding="utf-8")
        path.mkdir(parents=True, exist_ok=True)
        repo = cls(path)
        repo.git("init", "-q", "-b", "main")
        if template is not None:
            repo.commit("initial import")
        return repo

    def git(self, *args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=self.path, env=ENV, check=True, capture_output=True, text=True
        ).stdout.strip()

    def write(self, relative: str, text: str) -> None:
        target = self.path / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")

    def read(self, relative: str) -> str:
        return (self.path / relative).read_text(encoding="utf-8")

    def edit(self, relative: str, old: str, new: str) -> None:
        text = self.read(relative)
        assert old in text, f"{old!r} not in {relative}"
        self.write(relative, text.replace(old, new, 1))

    def commit(self, message: str) -> str:
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message)
        return self.git("rev-parse", "HEAD")

    def branch(self, name: str, start: str = "main") -> None:
        self.git("checkout", "-q", "-B", name, start)
