"""The repository's ``eucora.yaml``: its file names, and a typed read-only view of it.

The document is validated by ``bot.core.documents``; this view reads the validated dict once, so
the places that need a folder (the check, the approvals' content hash, ``eucora validate``)
resolve ``paths.*`` alike, with the same guard against ``..``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

CONFIG_NAMES: tuple[str, ...] = ("eucora.yaml", "eucora.yml")
"""The names ``eucora.yaml`` may have at a repository's root, in the order they are looked for."""
DEFAULT_FOLDERS: Mapping[str, str] = {
    "intents": "intents",
    "policies": "policies",
    "waivers": "waivers",
}


def configured_folder(paths: Any, name: str) -> str:
    """``paths.<name>`` when it is a relative folder without ``..``, else the default folder.

    ``paths`` is the ``paths`` mapping of ``eucora.yaml`` (anything else reads as unset).
    """
    value = paths.get(name) if isinstance(paths, Mapping) else None
    if isinstance(value, str) and ".." not in value.split("/"):
        return value
    return DEFAULT_FOLDERS.get(name, name)


@dataclass(frozen=True, slots=True)
class RepoConfig:
    """A parsed ``eucora.yaml``, read-only (``{}`` when missing or invalid: the defaults apply)."""

    data: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, value: Any) -> RepoConfig:
        """The view of a validated document's data (anything but a mapping reads as empty)."""
        return cls(value if isinstance(value, Mapping) else {})

    def folder(self, name: str) -> str:
        """Where the repository keeps ``name`` (``intents``, ``policies``, ``waivers``)."""
        return configured_folder(self.data.get("paths"), name)

    @property
    def intents(self) -> str:
        """The intents folder (``paths.intents``, default ``intents``)."""
        return self.folder("intents")

    @property
    def policies(self) -> str:
        """The policies folder (``paths.policies``, default ``policies``)."""
        return self.folder("policies")
