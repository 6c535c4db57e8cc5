"""Bare git mirrors of the repositories EUCORA judges, one per repository, fetched by commit SHA.

``<EUCORA_HOME>/mirrors/<owner>/<name>.git`` keeps every commit fetched so far (under
``refs/eucora/<sha>``, so git never prunes them); a fetch asks only for the SHAs it lacks. The
token goes to git as an ``http.extraHeader`` through ``GIT_CONFIG_COUNT``/``KEY``/``VALUE`` in
the environment of that one command: never on the command line (``ps`` shows it), in the URL
(git prints URLs), in ``config`` or in a log. One lock per mirror (a thread lock and an
``flock`` for other processes) keeps two fetches of the same repository apart.
"""

from __future__ import annotations

import base64
import fcntl
import os
import re
import subprocess
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from bot.errors import GitHubError

_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
_SHA = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")
# Variables that make git print what it sends (headers included) or read other configuration.
_UNSAFE_ENV = re.compile(
    r"^(GIT_TRACE.*|GIT_CURL_VERBOSE|GIT_CONFIG_.*|GIT_DIR|GIT_ASKPASS|SSH_ASKPASS)$"
)
FETCH_TIMEOUT_SECONDS = 300
_BRANCH = re.compile(r"^(?!-)(?!.*\.\.)[A-Za-z0-9._/+-]+$")


def _git_env(token: str | None, base: Mapping[str, str]) -> dict[str, str]:
    env = {k: v for k, v in base.items() if not _UNSAFE_ENV.match(k)}
    env["GIT_TERMINAL_PROMPT"] = "0"
    env["GIT_CONFIG_NOSYSTEM"] = "1"
    env["GIT_CONFIG_GLOBAL"] = os.devnull
    settings = [("credential.helper", ""), ("protocol.version", "2")]
    if token is not None:
        basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
        settings.append(("http.extraHeader", f"Authorization: Basic {basic}"))
    env["GIT_CONFIG_COUNT"] = str(len(settings))
    for index, (key, value) in enumerate(settings):
        env[f"GIT_CONFIG_KEY_{index}"] = key
        env[f"GIT_CONFIG_VALUE_{index}"] = value
    return env


def _first_line(stderr: str) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    fatal = [line for line in lines if line.startswith(("fatal:", "error:"))]
    return (fatal or lines or ["no message"])[0][:300]


class MirrorStore:
    """The mirrors under one directory, with a lock per repository."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    def path(self, repository: str) -> Path:
        """Where the mirror of ``owner/name`` lives; refuses names that could leave the root."""
        owner, _, name = repository.partition("/")
        for part in (owner, name):
            if not _NAME.match(part) or part in {".", ".."}:
                raise GitHubError(f"not a repository name: {repository!r}")
        return self.root / owner / f"{name}.git"

    @contextmanager
    def _locked(self, repository: str, path: Path) -> Iterator[None]:
        with self._locks_guard:
            lock = self._locks.setdefault(repository, threading.Lock())
        path.parent.mkdir(parents=True, exist_ok=True)
        with lock, (path.parent / f"{path.name}.lock").open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _run(
        self, path: Path, *args: str, token: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603 (fixed git arguments; SHAs and URL checked above)
            ["git", "--git-dir", str(path), *args],  # noqa: S607 (git from PATH, as GitPython does)
            env=_git_env(token, os.environ),
            capture_output=True,
            text=True,
            check=False,
            timeout=FETCH_TIMEOUT_SECONDS,
        )

    def _missing(self, path: Path, shas: Sequence[str]) -> list[str]:
        if not shas:
            return []
        result = subprocess.run(  # noqa: S603
            ["git", "--git-dir", str(path), "cat-file", "--batch-check"],  # noqa: S607
            input="".join(f"{sha}^{{commit}}\n" for sha in shas),
            env=_git_env(None, os.environ),
            capture_output=True,
            text=True,
            check=False,
        )
        answers = result.stdout.splitlines()
        return [
            sha for sha, answer in zip(shas, answers, strict=False) if answer.endswith("missing")
        ]

    def ensure(self, repository: str, url: str, shas: Sequence[str], token: str | None) -> Path:
        """The mirror of ``repository`` holding every commit in ``shas``, fetching the rest."""
        wanted = list(dict.fromkeys(shas))
        for sha in wanted:
            if not _SHA.match(sha):
                raise GitHubError(f"not a commit SHA: {sha!r}")
        path = self.path(repository)
        with self._locked(repository, path):
            if not (path / "HEAD").is_file():
                result = subprocess.run(  # noqa: S603
                    ["git", "init", "-q", "--bare", str(path)],  # noqa: S607
                    env=_git_env(None, os.environ),
                    capture_output=True,
                    text=True,
                    check=False,
                )
                if result.returncode != 0:
                    raise GitHubError(f"cannot create mirror {path}: {_first_line(result.stderr)}")
            missing = self._missing(path, wanted)
            if missing:
                refspecs = [f"+{sha}:refs/eucora/{sha}" for sha in missing]
                result = self._run(
                    path, "fetch", "--quiet", "--no-tags", "--", url, *refspecs, token=token
                )
                if result.returncode != 0:
                    raise GitHubError(
                        f"git fetch of {repository} failed: {_first_line(result.stderr)}"
                    )
                still = self._missing(path, missing)
                if still:
                    raise GitHubError(f"git fetch of {repository} did not bring {', '.join(still)}")
        return path

    def branch_head(self, repository: str, url: str, branch: str, token: str | None) -> str:
        """The commit ``branch`` of the remote points at now (``git ls-remote``).

        A branch the remote does not have, or a remote that cannot be read, is an error: never
        an empty answer.
        """
        if not _BRANCH.match(branch):
            raise GitHubError(f"not a branch name EUCORA reads: {branch!r}")
        ref = f"refs/heads/{branch}"
        path = self.ensure(repository, url, (), token)  # the mirror exists: git runs in it
        result = self._run(path, "ls-remote", "--", url, ref, token=token)
        if result.returncode != 0:
            raise GitHubError(f"git ls-remote of {repository} failed: {_first_line(result.stderr)}")
        for line in result.stdout.splitlines():
            sha, _, name = line.partition("\t")
            if name == ref and _SHA.match(sha):
                return sha
        raise GitHubError(f"{repository} has no branch {branch}")
