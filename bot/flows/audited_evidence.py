"""Evidence and audit for the bot's flows: store the pack, append the event, sign a checkpoint.

:class:`AuditedEvidence` is the ``EvidenceRecorder`` the PR flows use in production: the evidence
store (write-once by digest, signed when a key is configured) and the audit log on the database,
with a signed checkpoint and an offline proof bundle for each recorded pack
(``bot.flows.evidence.record_check_evidence``), so the checkpoint the PR comment publishes
always covers the pack it talks about.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from bot.core.audit_events import AuditEventType
from bot.core.errors import EvidenceNotFoundError
from bot.core.github_model import PullRequest
from bot.core.pack_view import CheckPackView
from bot.flows.check import CheckedChange
from bot.flows.evidence import (
    EvidenceContext,
    RecordedEvidence,
    record_check_evidence,
    record_evidence,
)
from bot.flows.pull_request import ACTOR, Recorded, StoredPack
from bot.ports import AuditLog, Clock, EvidencePorts

EVALUATED = AuditEventType.PULL_REQUEST_EVALUATED


def pull_request_facts(pull: PullRequest) -> dict[str, Any]:
    """What the evidence page shows of a pull request: number, title, author, address."""
    return {
        "number": pull.number,
        "title": pull.title,
        "author": pull.author,
        "url": pull.html_url,
    }


class AuditedEvidence:
    """Records check packs in the evidence store and the audit log (see the module docstring)."""

    def __init__(self, log: AuditLog, *, evidence: EvidencePorts, clock: Clock) -> None:
        self._log = log
        self._evidence = evidence
        self._clock = clock
        self._store = evidence.store

    def record_check(
        self,
        run: CheckedChange,
        *,
        correlation_id: str,
        pr: int | None,
        pull: PullRequest | None = None,
    ) -> Recorded:
        """Append ``pull_request.evaluated``, then store and prove the pack under a checkpoint.

        The evaluated event comes first, so the checkpoint signed while recording the pack
        covers both: the one the PR comment publishes already holds this evaluation. With
        ``pull``, its number, title, author and address are kept beside the pack for the
        evidence page (:meth:`EvidenceStore.put_pull_request`; the pack's bytes do not change).
        """
        pack = CheckPackView.of(run.pack)
        repository, head = pack.repository, pack.head
        self.audit(
            EVALUATED,
            correlation_id=correlation_id,
            repository=repository,
            pr=pr,
            head_sha=head,
            payload={
                "digest": run.digest,
                "base": pack.base,
                "conclusion": pack.conclusion,
                "score": pack.risk_score,
                "tier": pack.risk_tier,
                "requiredApprovals": pack.approvals_required,
            },
        )
        recorded = self._record(
            record_check_evidence,
            run,
            correlation_id=correlation_id,
            repository=repository,
            pr=pr,
            head_sha=head,
        )
        if pull is not None:
            self._store.put_pull_request(recorded.digest, pull_request_facts(pull))
        return Recorded(digest=recorded.digest, checkpoint=recorded.checkpoint_note)

    def record_pack(
        self,
        pack: Mapping[str, Any],
        *,
        correlation_id: str,
        repository: str,
        pr: int | None,
        head_sha: str | None,
    ) -> str:
        """Store any pack (the change pack at merge), audit it, prove it; return its digest."""
        return self._record(
            record_evidence,
            pack,
            correlation_id=correlation_id,
            repository=repository,
            pr=pr,
            head_sha=head_sha,
        ).digest

    def _record(  # noqa: PLR0913 - the recorder, its subject and the event's context
        self,
        recorder: Callable[..., RecordedEvidence],
        subject: Any,
        *,
        correlation_id: str,
        repository: str,
        pr: int | None,
        head_sha: str | None,
    ) -> RecordedEvidence:
        """Run ``recorder`` (``record_evidence`` or ``record_check_evidence``) on ``subject``."""
        return recorder(
            subject,
            self._evidence,
            log=self._log,
            context=EvidenceContext(
                actor=ACTOR,
                correlation_id=correlation_id,
                repository=repository,
                pr=pr,
                head_sha=head_sha,
            ),
            now=self._clock(),
        )

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

    def latest_checkpoint(self) -> str | None:
        """The newest signed checkpoint note (the comment publishes it)."""
        return self._log.latest_checkpoint()

    def audit_events(
        self, repository: str, pr: int
    ) -> list[tuple[str, str | None, dict[str, Any]]]:
        """The PR's audit events as ``(type, head_sha, payload)``, oldest first."""
        return [
            (event.type, event.head_sha, dict(event.payload))
            for event in self._log.events(repository=repository, pr=pr)
        ]
