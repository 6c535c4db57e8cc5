"""In-memory fakes of the storage ports (fakes we own): the outbox, the review ledger, git reads.

For flow tests whose flow has no reason to need SQLite or git. Each keeps the contract its port
states in ``bot.ports`` and the database adapter's behaviour where a flow can see it (the
outbox's state machine and leases, the merge's own publications listed as step 0, JSON-decoded
copies handed out, the ledger's redelivery rule); ``tests/support/test_memory.py`` runs the same
scenarios on the fake and on the adapter and expects the same rows.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.core.approvals import Review
from bot.core.changes import FileAtRevision, RevisionPair
from bot.core.errors import GitError, LeaseLostError, StorageError
from bot.core.evidence import canonical_json
from bot.core.github_model import PullRequestCommit
from bot.core.publishing import FINAL_STATES, PublicationState
from bot.core.records import (
    ChangeRow,
    LedgerEntry,
    NewChange,
    NewPublication,
    PublicationClaim,
    PublicationRow,
    fold_reviews,
)

_FINAL = {state.value for state in FINAL_STATES}
_PENDING = PublicationState.PENDING.value
_IN_PROGRESS = PublicationState.IN_PROGRESS.value
ERROR_LIMIT = 2000


def _decoded(value: Mapping[str, Any]) -> dict[str, Any]:
    """What a JSON column gives back: a fresh, decoded copy (tuples read back as lists)."""
    return dict(json.loads(canonical_json(dict(value))))


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("outbox times need a time zone")
    return moment.astimezone(UTC)


def _clip(error: str) -> str:
    return error if len(error) <= ERROR_LIMIT else error[: ERROR_LIMIT - 1] + "…"


@dataclass
class _Lease:
    owner: str | None = None
    until: datetime | None = None


@dataclass
class MemoryJournal:
    """A claimed publication's notes (``connectors.base.Journal``); writes need the lease."""

    outbox: MemoryOutbox
    claim: PublicationClaim

    def get(self, key: str) -> str | None:
        """A value saved earlier for this publication."""
        return self.outbox.rows[self.claim.row.id].journal.get(key)

    def put(self, key: str, value: str) -> None:
        """Save ``value`` under ``key``; ``LeaseLostError`` once the lease is lost."""
        row = self.outbox.owned(self.claim)
        if row is None:
            raise LeaseLostError(
                f"publication {self.claim.row.id} ({self.claim.row.idempotency_key} on"
                f" {self.claim.row.plane}): this worker's lease was lost, another one runs it now"
            )
        self.outbox.rows[row.id] = replace(row, journal=row.journal | {key: value})


@dataclass
class MemoryOutbox:
    """``bot.ports.Outbox`` in memory (``bot.adapters.storage.publications.Outbox``'s behaviour)."""

    lease_seconds: float = 900.0
    changes: dict[int, ChangeRow] = field(default_factory=dict)
    rows: dict[int, PublicationRow] = field(default_factory=dict)
    leases: dict[int, _Lease] = field(default_factory=dict)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    # --- recording ----------------------------------------------------------------------------

    def record_change(
        self, change: NewChange, publications: Sequence[NewPublication], *, now: datetime
    ) -> tuple[ChangeRow, tuple[PublicationRow, ...], bool]:
        """Record the change and its publications at once; a known merge comes back as stored."""
        for known in self.changes.values():
            if (known.repository, known.pr, known.merge_sha) == (
                change.repository,
                change.pr,
                change.merge_sha,
            ):
                return known, self.publications(known.id), False
        keys = [(p.plane, p.idempotency_key) for p in publications]
        if len(set(keys)) != len(keys):  # unique per change, plane and key, as in the table
            raise StorageError(
                f"could not record the merge of {change.repository}#{change.pr}"
                f" ({change.merge_sha}): two publications with one plane and idempotency key"
            )
        change_id = next(self._ids)
        self.changes[change_id] = ChangeRow(
            id=change_id,
            repository=change.repository,
            pr=change.pr,
            installation_id=change.installation_id,
            head_sha=change.head_sha,
            merge_sha=change.merge_sha,
            check_digest=change.check_digest,
            state=change.state,
            emergency=change.emergency,
            facts=_decoded(change.facts),
            comment_head=change.comment_head,
            followup_issue=None,
            final_digest=None,
            correlation_id=change.correlation_id,
        )
        for p in publications:
            row_id = next(self._ids)
            self.rows[row_id] = PublicationRow(
                id=row_id,
                change_id=change_id,
                repository=change.repository,
                pr=change.pr,
                plane=p.plane,
                intent_name=p.intent_name,
                version=p.version,
                ring=p.ring,
                target=p.target,
                path=p.path,
                idempotency_key=p.idempotency_key,
                intent=_decoded(p.intent),
                evidence_digest=p.evidence_digest,
                state=_PENDING,
                attempts=0,
                not_before=_utc(now),
                last_error=None,
                result=None,
                journal={},
                deployment_id=None,
                lease_owner=None,
                action=p.action,
            )
            self.leases[row_id] = _Lease()
        return self.changes[change_id], self.publications(change_id), True

    # --- reading ------------------------------------------------------------------------------

    def change(self, change_id: int) -> ChangeRow | None:
        """One change, or ``None``."""
        return self.changes.get(change_id)

    def latest_change(self, repository: str, pr: int) -> ChangeRow | None:
        """The PR's most recently recorded change, or ``None``."""
        mine = [c for c in self.changes.values() if (c.repository, c.pr) == (repository, pr)]
        return max(mine, key=lambda c: c.id, default=None)

    def unfinished_changes(self, *, limit: int = 100) -> tuple[ChangeRow, ...]:
        """Changes still ``publishing``, oldest first."""
        return tuple(c for _, c in sorted(self.changes.items()) if c.state == "publishing")[:limit]

    def publications(self, change_id: int) -> tuple[PublicationRow, ...]:
        """The merge's own publications (step 0), ordered by id."""
        return tuple(
            r for _, r in sorted(self.rows.items()) if r.change_id == change_id and r.step == 0
        )

    def get(self, publication_id: int) -> PublicationRow | None:
        """One publication, or ``None``."""
        return self.rows.get(publication_id)

    def all_final(self, change_id: int) -> bool:
        """Whether the change exists and every one of its publications is final."""
        return change_id in self.changes and not self._unfinished(change_id)

    def due(self, *, now: datetime, limit: int = 100) -> list[int]:
        """Pending rows that are due, in-progress rows whose lease expired; by id."""
        return [i for i in sorted(self.rows) if self._claimable(i, _utc(now))][:limit]

    # --- workers ------------------------------------------------------------------------------

    def claim(self, publication_id: int, *, now: datetime) -> PublicationClaim | None:
        """Lease the publication to a new owner and count the attempt; ``None``: not claimable."""
        moment = _utc(now)
        if publication_id not in self.rows or not self._claimable(publication_id, moment):
            return None
        owner = uuid.uuid4().hex
        self.leases[publication_id] = _Lease(owner, moment + timedelta(seconds=self.lease_seconds))
        row = self.rows[publication_id]
        row = replace(row, state=_IN_PROGRESS, attempts=row.attempts + 1, lease_owner=owner)
        self.rows[publication_id] = row
        return PublicationClaim(row=row, owner=owner)

    def journal(self, claim: PublicationClaim) -> MemoryJournal:
        """The claimed publication's journal."""
        return MemoryJournal(self, claim)

    def succeed(self, claim: PublicationClaim, result: Mapping[str, Any], *, now: datetime) -> bool:
        """Record the plane's result; ``False`` when the lease was lost."""
        return self._settle(claim, state="succeeded", result=_decoded(result), last_error=None)

    def retry_later(
        self, claim: PublicationClaim, *, error: str, not_before: datetime, now: datetime
    ) -> bool:
        """Back to ``pending``, due at ``not_before``; ``False`` when the lease was lost."""
        return self._settle(
            claim, state=_PENDING, not_before=_utc(not_before), last_error=_clip(error)
        )

    def fail(self, claim: PublicationClaim, *, error: str, now: datetime) -> bool:
        """``failed`` for good; ``False`` when the lease was lost."""
        return self._settle(claim, state="failed", last_error=_clip(error))

    def set_deployment(self, publication_id: int, deployment_id: int) -> None:
        """Remember the GitHub deployment of the publication."""
        if publication_id in self.rows:
            self.rows[publication_id] = replace(
                self.rows[publication_id], deployment_id=deployment_id
            )

    # --- people and the change ----------------------------------------------------------------

    def reopen_failed(self, change_id: int, *, now: datetime) -> tuple[int, ...]:
        """Failed publications back to ``pending``, attempts 0, due now; a final change reopens."""
        ids = tuple(
            i
            for i, r in sorted(self.rows.items())
            if r.change_id == change_id and r.state == "failed"
        )
        for i in ids:
            self.rows[i] = replace(
                self.rows[i], state=_PENDING, attempts=0, not_before=_utc(now), lease_owner=None
            )
            self.leases[i] = _Lease()
        change = self.changes.get(change_id)
        if ids and change is not None and change.state == "final":
            self.changes[change_id] = replace(change, state="publishing", final_digest=None)
        return ids

    def finalize_change(self, change_id: int, *, final_digest: str, now: datetime) -> bool:
        """Mark a ``publishing`` change ``final`` once, when every publication is final."""
        change = self.changes.get(change_id)
        if change is None or change.state != "publishing" or self._unfinished(change_id):
            return False
        self.changes[change_id] = replace(change, state="final", final_digest=final_digest)
        return True

    def set_followup_issue(self, change_id: int, number: int) -> None:
        """Remember the post-implementation review's issue."""
        if change_id in self.changes:
            self.changes[change_id] = replace(self.changes[change_id], followup_issue=number)

    # --- for the fake's own use and for tests -------------------------------------------------

    def owned(self, claim: PublicationClaim) -> PublicationRow | None:
        """The claimed row while the claim still holds its lease."""
        row = self.rows.get(claim.row.id)
        lease = self.leases.get(claim.row.id)
        if row is None or lease is None or row.state != _IN_PROGRESS or lease.owner != claim.owner:
            return None
        return row

    def _settle(self, claim: PublicationClaim, **values: Any) -> bool:
        row = self.owned(claim)
        if row is None:
            return False
        self.rows[row.id] = replace(row, lease_owner=None, **values)
        self.leases[row.id] = _Lease()
        return True

    def _claimable(self, publication_id: int, moment: datetime) -> bool:
        row, lease = self.rows[publication_id], self.leases[publication_id]
        if row.state == _PENDING:
            return row.not_before <= moment
        return row.state == _IN_PROGRESS and lease.until is not None and lease.until < moment

    def _unfinished(self, change_id: int) -> int:
        return sum(1 for r in self.publications(change_id) if r.state not in _FINAL)


@dataclass
class MemoryLedger:
    """``bot.ports.ReviewLedger`` in memory: append-only, a redelivery recorded once."""

    rows: list[LedgerEntry] = field(default_factory=list)

    def record(self, entry: LedgerEntry) -> bool:
        """Append an arrival; ``False`` when it repeats the review's newest row."""
        same = [
            e
            for e in self.rows
            if (e.repository, e.pr, e.review.id) == (entry.repository, entry.pr, entry.review.id)
        ]
        if same and (same[-1].review.state, same[-1].action, same[-1].review.commit_id) == (
            entry.review.state,
            entry.action,
            entry.review.commit_id,
        ):
            return False
        self.rows.append(entry)
        return True

    def entries(self, repository: str, pr: int) -> list[LedgerEntry]:
        """The PR's arrivals, in the order recorded."""
        return [e for e in self.rows if (e.repository, e.pr) == (repository, pr)]

    def reviews(self, repository: str, pr: int) -> list[Review]:
        """The PR's reviews folded from the arrivals."""
        return fold_reviews(self.entries(repository, pr))

    def pull_requests(
        self, *, installation_id: int | None = None, repository: str | None = None
    ) -> list[tuple[str, int]]:
        """The PRs with recorded reviews (of one installation or repository), sorted."""
        return sorted(
            {
                (e.repository, e.pr)
                for e in self.rows
                if (installation_id is None or e.installation_id == installation_id)
                and (repository is None or e.repository == repository)
            }
        )


@dataclass
class MemoryRevisions:
    """``bot.ports.Revisions`` over files given per commit: ``files[sha][path] = bytes``.

    ``history[path]`` lists the commits touching a file, newest first. A commit it does not
    hold raises ``GitError``, as the mirror does. What a test does not set (the revision pair,
    the commits of a PR) raises too: that flow wants real git (``GitRevisions``).
    """

    files: dict[str, dict[str, bytes]] = field(default_factory=dict)
    history: dict[str, list[str]] = field(default_factory=dict)
    reads: list[tuple[str, str]] = field(default_factory=list)

    def _commit(self, sha: str) -> dict[str, bytes]:
        if sha not in self.files:
            raise GitError(f"cannot list {sha[:12]}: not in the mirror")
        return self.files[sha]

    def read_file(self, sha: str, path: str) -> bytes | None:
        """The file at ``sha``; ``None`` when the commit has no such file."""
        self.reads.append((sha, path))
        return self._commit(sha).get(path.strip("/"))

    def content_hash(self, sha: str, folders: Sequence[str]) -> str:
        """A hash of the files under ``folders`` and ``eucora.yaml``/``eucora.yml`` at ``sha``."""
        roots = tuple(f.strip("/") + "/" for f in folders)
        named = {
            p: b
            for p, b in self._commit(sha).items()
            if p.startswith(roots) or p in ("eucora.yaml", "eucora.yml")
        }
        return (
            "sha256:"
            + hashlib.sha256(canonical_json({p: b.hex() for p, b in named.items()})).hexdigest()
        )

    def commits(self, base: str, head: str) -> tuple[PullRequestCommit, ...]:
        """Not held here: a flow reading commits is tested on git."""
        raise GitError(f"no commits {base[:12]}..{head[:12]} in memory")

    def revision_pair(self, base: str, head: str, *, intents_dir: str = "intents") -> RevisionPair:
        """Not held here: the check is tested on git."""
        raise GitError(f"no revision pair {base[:12]}..{head[:12]} in memory")

    def known_apps(self, sha: str, intents_dir: str, *, cache_file: Path | None) -> frozenset[str]:
        """Not held here: the check is tested on git."""
        raise GitError(f"no fleet index at {sha[:12]} in memory")

    def folder(self, sha: str, folder: str) -> tuple[FileAtRevision, ...]:
        """Not held here: the check is tested on git."""
        raise GitError(f"no folder {folder} at {sha[:12]} in memory")

    def file_history(
        self, head: str, path: str, *, limit: int
    ) -> Iterator[tuple[str, bytes | None]]:
        """The commits ``history[path]`` names (whatever ``head``), newest first, with the file."""
        for sha in self.history.get(path, [])[:limit]:
            yield sha, self._commit(sha).get(path)
