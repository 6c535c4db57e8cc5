"""``eucora.yaml`` at a revision, read from the repository's mirror.

The base revision's configuration is what a CAB decision reads (teams, quorum, whether approvals
survive a push that changes no intent); the default branch's is what publishing reads.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.catalog import build_document_validator
from bot.core.documents import DocumentKind
from bot.core.repo_config import CONFIG_NAMES
from bot.ports import Revisions


def read_config(mirror: Revisions, sha: str) -> Mapping[str, Any]:
    """``eucora.yaml`` at ``sha`` (empty when missing or invalid: the defaults apply).

    A mirror that cannot be read raises (``GitError``): that is never "no configuration".
    """
    for name in CONFIG_NAMES:
        raw = mirror.read_file(sha, name)
        if raw is not None:
            doc = build_document_validator().validate(raw, name, DocumentKind.CONFIG)
            return doc.data if doc.ok and isinstance(doc.data, dict) else {}
    return {}
