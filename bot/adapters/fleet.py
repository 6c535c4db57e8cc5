"""The fleet index: which apps the repository already deploys, cheaply, from git.

A check reads only the files a pull request changes; the one fact that needs the whole fleet —
"is this the first intent for this app?" — comes from this index. It lists the intents folder at
the base revision from tree objects alone, and parses only blobs it has not seen before: app names
are cached by blob SHA (content address) in ``$EUCORA_HOME/cache/app-index.json``, so a repository
of 10,000 intents is parsed once, and afterwards only its changed files are.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path

import git
import yaml_rs

from bot.adapters.git import GitError, list_blobs
from bot.core.changes import FileAtRevision


def _app_name(raw: bytes) -> str:
    try:
        data = yaml_rs.loads(raw.decode("utf-8"), parse_datetime=False)
    except (UnicodeDecodeError, yaml_rs.YAMLDecodeError, ValueError):
        return ""
    app = data.get("app") if isinstance(data, dict) else None
    name = app.get("name") if isinstance(app, dict) else None
    return name if isinstance(name, str) else ""


def _load(cache_file: Path | None) -> dict[str, str]:
    if cache_file is None:
        return {}
    try:
        loaded = json.loads(cache_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in loaded.items()} if isinstance(loaded, dict) else {}


def _save(cache_file: Path, index: dict[str, str]) -> None:
    """Write atomically: a concurrent reader sees the old index or the new, never half."""
    cache_file.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=cache_file.parent, suffix=".tmp")
    with os.fdopen(handle, "w", encoding="utf-8") as stream:
        json.dump(index, stream, sort_keys=True)
    Path(temporary).replace(cache_file)


def read_folder(repo_dir: str | Path, rev: str, folder: str) -> tuple[FileAtRevision, ...]:
    """Every YAML file under ``folder`` at ``rev`` (for the policy preview: all intents at head)."""
    blobs = list_blobs(repo_dir, rev, folder)
    try:
        repo = git.Repo(repo_dir)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError) as error:
        raise GitError(f"{repo_dir}: not a git repository") from error
    with contextlib.closing(repo):
        return tuple(
            FileAtRevision(path, sha, repo.odb.stream(bytes.fromhex(sha)).read())
            for path, sha in blobs.items()
        )


def known_apps(
    repo_dir: str | Path, rev: str, intents_dir: str, *, cache_file: Path | None = None
) -> frozenset[str]:
    """The app names of every intent under ``intents_dir`` at ``rev``."""
    blobs = list_blobs(repo_dir, rev, intents_dir)
    index = _load(cache_file)
    missing = sorted({sha for sha in blobs.values() if sha not in index})
    if missing:
        try:
            repo = git.Repo(repo_dir)
        except (git.InvalidGitRepositoryError, git.NoSuchPathError) as error:
            raise GitError(f"{repo_dir}: not a git repository") from error
        with contextlib.closing(repo):
            for sha in missing:
                index[sha] = _app_name(repo.odb.stream(bytes.fromhex(sha)).read())
        if cache_file is not None:
            with contextlib.suppress(OSError):  # a read-only home only costs speed
                _save(cache_file, index)
    return frozenset(index[sha] for sha in blobs.values() if index.get(sha))
