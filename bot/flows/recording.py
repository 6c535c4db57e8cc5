"""Evidence and audit for the bot's flows: store the pack, append the event, sign a checkpoint.

:class:`AuditedEvidence` is the ``EvidenceRecorder`` the PR flows use in production: the evidence
store (write-once by digest, signed when a key is configured) and the audit log on the database,
with a signed checkpoint after each recorded pack, so the newest checkpoint that the PR comment
publishes always covers the pack it talks about.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from bot.adapters.evidence_store import EvidenceNotFoundError, EvidenceStore
from bot.adapters.storage.audit_log import AuditLog
from bot.core.tlog import Ed25519Signer
from bot.flows.check import CheckRun
from bot.flows.evidence import store_check_pack
from bot.flows.pull_request import ACTOR, Recorded, StoredPack
from bot.settings import Settings

EVALUATED = "pull_request.evaluated"


class AuditedEvidence:
    """Records check packs in the evidence store and the audit log (see the module docstring)."""

    def __init__(
        self,
        settings: Settings,
        log: AuditLog,
        *,
        signer: Ed25519Signer | None,
        clock: Callable[[], datetime],
        store: EvidenceStore | None = None,
    ) -> None:
        self._settings = settings
        self._log = log
        self._signer = signer
        self._clock = clock
        self._store = store if store is not None else EvidenceStore(settings.evidence_dir)

    def record_check(self, run: CheckRun, *, correlation_id: str, pr: int | None) -> Recorded:
        """Store the pack, append ``pull_request.evaluated``, sign a checkpoint of the log."""
        stored = store_check_pack(run, self._settings, store=self._store)
        pack = run.pack
        self.audit(
            EVALUATED,
            correlation_id=correlation_id,
            repository=str(pack["repository"]),
            pr=pr,
            head_sha=str(pack["head"]),
            payload={
                "digest": stored.digest,
                "base": pack["base"],
                "conclusion": pack["decision"]["conclusion"],
                "score": pack["risk"]["score"],
                "tier": pack["risk"]["tier"],
                "requiredApprovals": pack["approvals"]["required"],
            },
        )
        checkpoint = None
        if self._signer is not None:
            checkpoint = self._log.checkpoint(self._signer, time=self._clock())
        return Recorded(digest=stored.digest, checkpoint=checkpoint)

    def latest_pack(self, repository: str, pr: int, head_sha: str) -> StoredPack | None:
        """The newest pack recorded for the PR at ``head_sha`` (from the audit log's events)."""
        events = self._log.events(repository=repository, pr=pr)
        for event in reversed(events):
            if event.type != EVALUATED or event.head_sha != head_sha:
                continue
            digest = str(event.payload["digest"])
            try:
                data = self._store.get(digest)
            except EvidenceNotFoundError:
                return None
            return StoredPack(digest=digest, pack=json.loads(data))
        return None

    def audit(  # noqa: PLR0913 - one parameter per audit field
        self,
        type_: str,
        *,
        correlation_id: str,
        repository: str,
        pr: int | None,
        head_sha: str | None,
        payload: dict[str, Any],
    ) -> None:
        """Append one event to the audit log, as the bot."""
        self._log.append(
            type=type_,
            actor=ACTOR,
            correlation_id=correlation_id,
            repository=repository,
            pr=pr,
            head_sha=head_sha,
            payload=payload,
            time=self._clock(),
        )
