"""What a pull request changes: files at two revisions, and field-level differences of intents.

The git adapter fills :class:`RevisionPair` with bytes and blob SHAs; everything here is pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class ChangeKind(StrEnum):
    """How a file changed between the base and the head revision."""

    ADDED = "added"
    MODIFIED = "modified"
    DELETED = "deleted"
    RENAMED = "renamed"


@dataclass(frozen=True, slots=True)
class FileAtRevision:
    """One file's bytes at one revision, with its git blob SHA (content address)."""

    path: str
    blob_sha: str
    raw: bytes


@dataclass(frozen=True, slots=True)
class FileChange:
    """One changed file: its base and head versions (``None`` where it does not exist)."""

    kind: ChangeKind
    base: FileAtRevision | None
    head: FileAtRevision | None

    @property
    def path(self) -> str:
        """The path at head, or at base for a deleted file."""
        if self.head is not None:
            return self.head.path
        assert self.base is not None  # noqa: S101 - a change has at least one side
        return self.base.path


@dataclass(frozen=True, slots=True)
class RevisionPair:
    """Everything a check needs from git, read once.

    ``changes`` are the changed files under the intents folder plus ``eucora.yaml`` and the policy
    and waiver folders, diffed from the merge base of base and head to head (what GitHub shows as
    the PR's files). ``base_files`` and ``head_files`` hold ``eucora.yaml``, ``policies/*.yaml`` and
    ``waivers/*.yaml`` at the base revision (the rules that judge) and at head (shown as a preview).
    ``other_paths`` lists changed files outside those folders.
    """

    repository: str
    base_sha: str
    head_sha: str
    merge_base_sha: str
    changes: tuple[FileChange, ...]
    base_files: tuple[FileAtRevision, ...]
    head_files: tuple[FileAtRevision, ...]
    other_paths: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class FieldDiff:
    """One changed field of an intent: JSON pointer, old and new values, line at head (or base)."""

    pointer: str
    old: Any
    new: Any
    line: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """Plain data for the evidence pack."""
        return {"path": self.pointer, "old": self.old, "new": self.new, "line": self.line}


_MISSING = object()


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def diff_values(old: Any, new: Any, pointer: str = "") -> list[tuple[str, Any, Any]]:
    """List the leaf-level differences between two JSON-like values, in a stable order.

    Maps are compared key by key; lists of maps that all carry a distinct ``name`` (rings, Jamf
    scripts) or ``code`` (return codes in plane settings) are compared by that key, so inserting a
    ring or a return code shows as one added item rather than every later one changed; other
    lists are compared by index. Missing values are ``None``.
    """
    if old == new:
        return []
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[tuple[str, Any, Any]] = []
        for key in sorted(set(old) | set(new)):
            out.extend(diff_values(old.get(key), new.get(key), f"{pointer}/{_escape(str(key))}"))
        return out
    if isinstance(old, list) and isinstance(new, list):
        key = next((k for k in _KEYS if _keyed(old, k) and _keyed(new, k)), None)
        if key is not None:
            return _diff_keyed(old, new, pointer, key)
        out = []
        for index in range(max(len(old), len(new))):
            a = old[index] if index < len(old) else None
            b = new[index] if index < len(new) else None
            out.extend(diff_values(a, b, f"{pointer}/{index}"))
        return out
    return [(pointer, old, new)]


_KEYS = ("name", "code")
"""The fields that identify an item of a list of maps, tried in this order."""


def _keyed(items: list[Any], key: str) -> bool:
    values = [i.get(key) for i in items if isinstance(i, dict)]
    return (
        len(values) == len(items)
        and all(isinstance(v, str if key == "name" else int) for v in values)
        and not any(isinstance(v, bool) for v in values)
        and len(set(values)) == len(values)
    )


def _diff_keyed(
    old: list[Any], new: list[Any], pointer: str, key: str
) -> list[tuple[str, Any, Any]]:
    old_by_key = {item[key]: item for item in old}
    new_index = {item[key]: index for index, item in enumerate(new)}
    out: list[tuple[str, Any, Any]] = []
    for index, item in enumerate(new):
        out.extend(diff_values(old_by_key.get(item[key]), item, f"{pointer}/{index}"))
    out.extend(
        (f"{pointer}/{index}", item, None)
        for index, item in enumerate(old)
        if item[key] not in new_index
    )
    return out
