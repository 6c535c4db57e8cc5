"""Ports: the small interfaces the flows and entry points need from the outside world.

Each is a ``typing.Protocol`` (structural, so an adapter or a test fake needs no base class); the
adapters implement them, one module per outside thing, and the composition root picks which.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol

from bot.core.app_manifest import AppRegistration
from bot.core.approvals import Review
from bot.core.audit_chain import ChainReport
from bot.core.audit_events import AuditEvent
from bot.core.audit_export import ExportFilters
from bot.core.changes import FileAtRevision, RevisionPair
from bot.core.drift import Observed
from bot.core.drift_state import DriftRow
from bot.core.evidence_verify import InclusionVerdict
from bot.core.github_model import (
    CheckRun,
    DeploymentReviewState,
    Permission,
    PullRequest,
    PullRequestCommit,
    PullRequestReview,
)
from bot.core.records import (
    ChangeRow,
    ExportSummary,
    LedgerEntry,
    NewChange,
    NewPublication,
    PublicationClaim,
    PublicationRow,
)
from bot.core.rollout_model import Promotion, RingOutcomes, RolloutRecord, RolloutState
from bot.core.tlog import Ed25519Signer
from connectors.base import Connector, Journal, Publication, Ring

if TYPE_CHECKING:  # types only: cryptography is imported where keys are read
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

    from bot.core.documents import DocumentKind


class Clock(Protocol):
    """The time now, timezone-aware UTC (injected: the core and the flows never read the clock)."""

    def __call__(self) -> datetime:
        """The current time."""
        ...


class PublicationQueue(Protocol):
    """Runs ``run(publication_id)`` somewhere, after ``delay`` seconds (Celery, or threads here).

    Implemented by ``bot.adapters.publish_queue``; a test records what was sent.
    """

    def send(self, publication_id: int, *, delay: float = 0.0) -> None:
        """Ask for one run of the publication, not before ``delay`` seconds from now."""
        ...


class AuditLog(Protocol):
    """The append-only audit log (``bot.adapters.storage.audit_log.AuditLog``; a test's list)."""

    def append(  # noqa: PLR0913 - one parameter per event field
        self,
        *,
        type: str,  # noqa: A002 - the field is called type
        actor: str,
        correlation_id: str,
        repository: str,
        pr: int | None,
        head_sha: str | None,
        payload: Any,
        time: datetime,
    ) -> AuditEvent:
        """Append one event and return it."""
        ...

    def checkpoint(
        self, signer: Ed25519Signer, origin: str | None = None, *, time: datetime
    ) -> str | None:
        """Sign and store a checkpoint of the whole log; return its note."""
        ...

    def inclusion_proof(
        self, seq: int, size: int | None = None, *, extra: bytes | None = None
    ) -> str:
        """A c2sp.org/tlog-proof@v1 text for event ``seq`` in the latest checkpoint."""
        ...

    def events(
        self,
        *,
        since: datetime | None = None,
        repository: str | None = None,
        pr: int | None = None,
    ) -> list[AuditEvent]:
        """The events matching the filters, in log order."""
        ...

    def latest_checkpoint(self) -> str | None:
        """The newest signed checkpoint note, or ``None`` before the first is signed."""
        ...


class AuditStore(Protocol):
    """What ``eucora audit`` needs from the audit log (``bot.adapters.storage.AuditLog``)."""

    def verify(self, verifier_keys: Sequence[str] | None = None) -> ChainReport:
        """Walk the whole log and its checkpoints."""
        ...

    def checkpoint(
        self, signer: Ed25519Signer, origin: str | None = None, *, time: datetime
    ) -> str | None:
        """Sign and store a checkpoint of the whole log."""
        ...

    def export_jsonl(self, stream: IO[bytes], filters: ExportFilters) -> ExportSummary:
        """Write the signed log as JSON Lines."""
        ...

    def latest_checkpoint(self) -> str | None:
        """The newest signed checkpoint note, or ``None``."""
        ...

    def events(
        self,
        *,
        since: datetime | None = None,
        repository: str | None = None,
        pr: int | None = None,
    ) -> list[AuditEvent]:
        """The events matching the filters, in log order."""
        ...


class Outbox(Protocol):
    """The publications outbox: merged changes and their publications, leased to workers.

    ``bot.adapters.storage.publications.Outbox`` on the database (its docstring has the state
    machine); ``tests.support.memory.MemoryOutbox`` in flow tests. The time is always passed in.
    """

    def record_change(
        self, change: NewChange, publications: Sequence[NewPublication], *, now: datetime
    ) -> tuple[ChangeRow, tuple[PublicationRow, ...], bool]:
        """Record the change and its publications at once; ``True`` when newly created.

        A change already recorded (same repository, PR and merge SHA) is returned as stored.
        """
        ...

    def change(self, change_id: int) -> ChangeRow | None:
        """One change, or ``None``."""
        ...

    def latest_change(self, repository: str, pr: int) -> ChangeRow | None:
        """The PR's most recently recorded change, or ``None``."""
        ...

    def unfinished_changes(self, *, limit: int = 100) -> tuple[ChangeRow, ...]:
        """Changes still ``publishing``."""
        ...

    def publications(self, change_id: int) -> tuple[PublicationRow, ...]:
        """A change's publications, ordered by id."""
        ...

    def get(self, publication_id: int) -> PublicationRow | None:
        """One publication, or ``None``."""
        ...

    def all_final(self, change_id: int) -> bool:
        """Whether the change exists and every one of its publications is final."""
        ...

    def due(self, *, now: datetime, limit: int = 100) -> list[int]:
        """Ids to (re)enqueue: pending rows that are due, in-progress rows whose lease expired."""
        ...

    def claim(self, publication_id: int, *, now: datetime) -> PublicationClaim | None:
        """Lease the publication to a new owner and count the attempt; ``None``: not claimable."""
        ...

    def journal(self, claim: PublicationClaim) -> Journal:
        """The claimed publication's durable notes (writes raise ``LeaseLostError`` once lost)."""
        ...

    def succeed(self, claim: PublicationClaim, result: Mapping[str, Any], *, now: datetime) -> bool:
        """Record the plane's result; ``False`` when the lease was lost."""
        ...

    def retry_later(
        self, claim: PublicationClaim, *, error: str, not_before: datetime, now: datetime
    ) -> bool:
        """Back to ``pending``, due at ``not_before``; ``False`` when the lease was lost."""
        ...

    def fail(self, claim: PublicationClaim, *, error: str, now: datetime) -> bool:
        """``failed`` for good (until a person retries); ``False`` when the lease was lost."""
        ...

    def set_deployment(self, publication_id: int, deployment_id: int) -> None:
        """Remember the GitHub deployment that shows this publication on the PR."""
        ...

    def reopen_failed(self, change_id: int, *, now: datetime) -> tuple[int, ...]:
        """Failed publications back to ``pending``, attempts 0, due now; their ids."""
        ...

    def finalize_change(self, change_id: int, *, final_digest: str, now: datetime) -> bool:
        """Mark a ``publishing`` change ``final`` with its change pack's digest, once."""
        ...

    def set_followup_issue(self, change_id: int, number: int) -> None:
        """Remember the issue opened for the post-implementation review."""
        ...


class ReviewLedger(Protocol):
    """The append-only review ledger (``bot.adapters.storage.reviews.ReviewLedger``).

    ``tests.support.memory.MemoryLedger`` in flow tests.
    """

    def record(self, entry: LedgerEntry) -> bool:
        """Append an arrival; ``False`` when it repeats the review's newest row (a redelivery)."""
        ...

    def entries(self, repository: str, pr: int) -> list[LedgerEntry]:
        """The PR's arrivals, in the order they were recorded."""
        ...

    def reviews(self, repository: str, pr: int) -> list[Review]:
        """The PR's reviews folded from the arrivals (``bot.core.records.fold_reviews``)."""
        ...

    def pull_requests(
        self, *, installation_id: int | None = None, repository: str | None = None
    ) -> list[tuple[str, int]]:
        """The PRs with recorded reviews (of one installation or repository), sorted."""
        ...


class EvidenceStore(Protocol):
    """Write-once, content-addressed evidence packs with their envelopes and proof bundles.

    ``bot.adapters.evidence_store.EvidenceStore`` (files under ``EUCORA_EVIDENCE_DIR``). The
    paths it names are part of its contract: the evidence commands print them and the store's
    files are what an auditor copies. Errors are ``bot.core.errors.EvidenceStoreError`` and its
    subclasses (a malformed or unknown digest, changed bytes, a conflicting envelope or proof).
    """

    def pack_path(self, digest: str) -> Path:
        """Where the pack with this digest lives (whether or not it is stored)."""
        ...

    def proof_path(self, digest: str) -> Path:
        """Where the proof bundle of the pack with this digest lives."""
        ...

    def put(self, pack: Mapping[str, Any]) -> str:
        """Store a pack as canonical JSON and return its digest; storing it again is a no-op."""
        ...

    def get(self, digest: str) -> bytes:
        """The stored bytes of a pack, re-hashed on the way out (``EvidenceNotFoundError``)."""
        ...

    def put_envelope(self, digest: str, envelope: Mapping[str, Any]) -> Path:
        """Store the DSSE envelope of a stored pack; the same again is a no-op."""
        ...

    def get_envelope(self, digest: str) -> bytes | None:
        """The stored envelope bytes of a pack, or ``None`` when it was not signed."""
        ...

    def put_proof(self, digest: str, proof: str) -> Path:
        """Store the proof bundle tying a stored pack to a checkpoint; the same is a no-op."""
        ...

    def get_proof(self, digest: str) -> bytes | None:
        """The stored proof bundle bytes of a pack, or ``None`` when the log has not proven it."""
        ...

    def put_pull_request(self, digest: str, pull_request: Mapping[str, Any]) -> Path:
        """Store (or replace: titles change) the pull request a stored pack judged; not evidence."""
        ...


class TrustedKeySet(Protocol):
    """Public keys trusted for evidence signatures and audit checkpoints alike.

    ``bot.adapters.audit_keys.TrustedKeys``: raw Ed25519 ``public_keys`` (from PEM) and signed-note
    ``verifier_keys``.
    """

    @property
    def public_keys(self) -> tuple[bytes, ...]:
        """Raw Ed25519 public keys."""
        ...

    @property
    def verifier_keys(self) -> tuple[str, ...]:
        """Signed-note verifier keys (``name+id+base64``)."""
        ...

    def ed25519(self) -> list[Ed25519PublicKey]:
        """Every key as a ``cryptography`` public key, for DSSE signatures."""
        ...


class EvidenceKeys(Protocol):
    """The key material the evidence flows sign and verify with, read when first asked for.

    ``bot.adapters.evidence_keys.SettingsKeys`` (``EUCORA_SIGNING_KEY``, the audit key under
    ``EUCORA_HOME``); a key that cannot be read raises ``bot.errors.SigningKeyError`` when asked.
    """

    @property
    def signs_packs(self) -> bool:
        """Whether a pack signing key is configured (every pack stored with it is signed)."""
        ...

    def pack_signer(self) -> Ed25519PrivateKey | None:
        """The key that signs stored packs' envelopes; ``None`` when none is configured."""
        ...

    def checkpoint_signer(self) -> Ed25519Signer:
        """The audit log's checkpoint signer (created once when there is none yet)."""
        ...

    def configured(self) -> TrustedKeySet:
        """The configured signing key's public half and the audit log's verifier keys."""
        ...

    def given(self, values: Sequence[str | bytes]) -> TrustedKeySet:
        """Public keys an auditor gave: PEM or verifier keys, as text, bytes or files."""
        ...


@dataclass(frozen=True, slots=True)
class EvidencePorts:
    """What the evidence flows store packs in and sign and verify them with.

    ``bot.bootstrap.file_evidence`` builds the installation's from ``Settings``.
    """

    store: EvidenceStore
    keys: EvidenceKeys


class EvidenceSource(Protocol):
    """Where stored evidence packs are read from, by digest (the evidence store, or a test dict)."""

    def get(self, digest: str) -> bytes | None:
        """The canonical JSON bytes of the pack stored under ``digest``, or None when unknown.

        ``digest`` is ``sha256:`` and 64 lower-case hex digits; callers check the form first.
        """
        ...


class Revisions(Protocol):
    """The commits of one repository, read by SHA: everything the flows read from git.

    ``GitHub.fetch_revisions`` hands one out holding the commits it was asked for
    (``bot.adapters.revisions.GitRevisions`` over the bare mirror; a local clone for ``eucora
    check``). Every read that fails (a commit it lacks, git failing) raises
    ``bot.errors.GitError``: a failed read is never taken as "no such file" or "no commits".
    """

    def read_file(self, sha: str, path: str) -> bytes | None:
        """The bytes of ``path`` at commit ``sha``; ``None`` only when it has no such file."""
        ...

    def content_hash(self, sha: str, folders: Sequence[str]) -> str:
        """``sha256:`` naming the content of ``folders`` and ``eucora.yaml`` at commit ``sha``.

        Two commits with the same such content have the same hash, whatever else changed.
        """
        ...

    def commits(self, base: str, head: str) -> tuple[PullRequestCommit, ...]:
        """The commits of ``base..head`` (authors, committers, messages)."""
        ...

    def revision_pair(self, base: str, head: str, *, intents_dir: str = "intents") -> RevisionPair:
        """What a pull request from ``head`` into ``base`` changes, and the rules that judge it."""
        ...

    def known_apps(self, sha: str, intents_dir: str, *, cache_file: Path | None) -> frozenset[str]:
        """The app names of every intent under ``intents_dir`` at ``sha`` (``cache_file``: kept)."""
        ...

    def folder(self, sha: str, folder: str) -> tuple[FileAtRevision, ...]:
        """Every YAML file under ``folder`` at ``sha``."""
        ...

    def file_history(
        self, head: str, path: str, *, limit: int
    ) -> Iterator[tuple[str, bytes | None]]:
        """The ``limit`` newest commits from ``head`` touching ``path``, with the file's bytes.

        Newest first, read lazily; ``None``: deleted or unreadable at that commit. The history
        itself failing raises ``GitError``.
        """
        ...


class OpenRevisions(Protocol):
    """Opens the commits of a local clone or bare repository (``GitRevisions``).

    What the entry points hand the Action's flow for its checkout (``eucora check`` and the
    demo open theirs themselves).
    """

    def __call__(self, path: Path) -> Revisions:
        """The commits of the repository at ``path``."""
        ...


class SourceFile(Protocol):
    """One file to validate: its path, the kind its location gives it, and its bytes."""

    @property
    def path(self) -> str:
        """The path as found (under the path it was given as)."""
        ...

    @property
    def kind(self) -> DocumentKind | None:
        """The kind its location decides, or ``None`` when its ``kind:`` says."""
        ...

    @property
    def raw(self) -> bytes:
        """The file's bytes."""
        ...


class ReadSources(Protocol):
    """Reads every file named by or found under some paths (``bot.adapters.workspace``).

    One call for the whole batch (no per-file indirection on the validation hot path).
    """

    def __call__(self, arguments: list[str]) -> tuple[Sequence[SourceFile], Sequence[str]]:
        """The files, and the I/O problems met (one line each)."""
        ...


class GitHub(Protocol):
    """What the flows need from GitHub, for one installation (or one token).

    Implemented by ``bot.adapters.github`` (PyGithub, ``GITHUB_API_URL``) and by fakes in the
    tests. Every method raises ``bot.errors.GitHubError`` when GitHub refuses or fails; rate
    limits (403/429 with ``Retry-After`` or the reset header) are waited out inside, within a
    bound, before that.
    """

    def pull_request(self, repository: str, number: int) -> PullRequest:
        """The pull request as it is now."""
        ...

    def create_check_run(self, repository: str, run: CheckRun) -> int:
        """Create a check run (annotations beyond the first 50 sent by updates); return its id."""
        ...

    def update_check_run(self, repository: str, check_run_id: int, run: CheckRun) -> None:
        """Update a check run in place (annotations in batches of 50)."""
        ...

    def in_progress_check_runs(self, repository: str, head_sha: str, name: str) -> tuple[int, ...]:
        """The ids of this app's (or token's) runs named ``name`` on ``head_sha`` still in progress.

        Every run, not only the newest of the name; other apps' runs are never listed. A failed
        read raises ``GitHubError``: it is never taken as "none".
        """
        ...

    def upsert_comment(self, repository: str, number: int, marker: str, body: str) -> int:
        """Edit the app's own comment holding ``marker`` on the PR, or create it; return its id.

        ``body`` must contain ``marker``; only comments written by this app (or token user) are
        considered, so nobody else's comment is ever edited.
        """
        ...

    def add_comment(self, repository: str, number: int, body: str) -> int:
        """Post a new comment on the PR (replies to comment commands); return its id."""
        ...

    def permission(self, repository: str, user: str) -> Permission:
        """The user's permission on the repository (``none`` for strangers)."""
        ...

    def fetch_revisions(self, repository: str, shas: Sequence[str]) -> Revisions:
        """The commits of ``repository``, holding every commit in ``shas`` (a local bare mirror).

        Cached per repository; fetches only what is missing, authenticating with a token given
        to git in a header for that one command, never written to disk, a URL or a log.
        """
        ...

    def branch_head(self, repository: str, branch: str) -> str:
        """The commit SHA ``branch`` points at now (a branch GitHub does not have is an error)."""
        ...

    def reviews(self, repository: str, number: int) -> tuple[PullRequestReview, ...]:
        """Every submitted review of the PR, oldest first (all pages)."""
        ...

    def pull_commits(self, repository: str, number: int) -> tuple[PullRequestCommit, ...]:
        """The PR's commits (authors, committers, messages), as GitHub lists them (up to 250)."""
        ...

    def commit(self, repository: str, sha: str) -> PullRequestCommit:
        """One commit, its author and committer tied to the accounts their addresses belong to."""
        ...

    def commit_authors(self, email: str) -> frozenset[str]:
        """The accounts commit search ties the author address ``email`` to (empty: unknown)."""
        ...

    def team_members(self, team: str) -> frozenset[str]:
        """The logins of team ``org/slug``'s active members, child teams' members included.

        A team GitHub does not show this installation is an error (the App needs
        ``members: read``), never an empty team.
        """
        ...

    def request_team_review(self, repository: str, number: int, team_slugs: Sequence[str]) -> None:
        """Ask the teams (slugs in the repository's organisation) to review the PR."""
        ...

    def review_deployment(
        self,
        repository: str,
        run_id: int,
        *,
        environment: str,
        state: DeploymentReviewState,
        comment: str,
    ) -> None:
        """Approve or reject a workflow run waiting on this app's deployment protection rule."""
        ...

    def create_deployment(
        self,
        repository: str,
        *,
        ref: str,
        environment: str,
        description: str,
        payload: Mapping[str, Any],
    ) -> int:
        """Record a deployment of ``ref`` (the merge SHA) to ``environment``; return its id.

        Sent with ``auto_merge: false`` and ``required_contexts: []``: EUCORA's own checks gated
        the merge, and GitHub must neither merge the default branch in nor re-check contexts.
        """
        ...

    def find_deployment(
        self, repository: str, *, sha: str, environment: str, payload: Mapping[str, Any]
    ) -> int | None:
        """The newest deployment of ``sha`` to ``environment`` whose payload holds ``payload``.

        How a publication whose worker died between creating its deployment and recording the
        id finds that deployment again, instead of showing the PR a second one.
        """
        ...

    def create_deployment_status(  # noqa: PLR0913 - GitHub's status fields
        self,
        repository: str,
        deployment_id: int,
        *,
        state: str,
        description: str,
        log_url: str | None,
        environment_url: str | None,
    ) -> None:
        """Add a status (``queued``, ``in_progress``, ``success``, ``failure``, ``error``...).

        ``description`` is clipped to GitHub's 140 characters.
        """
        ...

    def create_issue(
        self, repository: str, *, title: str, body: str, labels: Sequence[str] = ()
    ) -> int:
        """Open an issue (e.g. the post-implementation review owed); return its number."""
        ...

    def upsert_issue(
        self, repository: str, *, marker: str, title: str, body: str, labels: Sequence[str]
    ) -> int:
        """Edit the app's own open issue whose body holds ``marker``, or open it; its number.

        ``marker`` is an HTML comment (``<!-- eucora:halted:acme/intents:42 -->``) that ``body``
        must contain: the issue is found again by it, never opened twice. Labels the repository
        lacks are created.
        """
        ...

    def find_issue(self, repository: str, marker: str) -> int | None:
        """The number of the app's own open issue whose body holds ``marker``, or None."""
        ...

    def close_issue(self, repository: str, number: int, *, comment: str) -> None:
        """Comment on issue ``number``, then close it."""
        ...

    def open_change_pull_request(  # noqa: PLR0913 - what a pull request is made of
        self,
        repository: str,
        *,
        base: str,
        branch: str,
        title: str,
        body: str,
        files: Mapping[str, bytes],
        labels: Sequence[str],
    ) -> int:
        """Commit ``files`` on a new ``branch`` from ``base``'s head, open a PR into ``base``.

        The PR is labelled with ``labels``; its number is returned. When an open PR from
        ``branch`` exists, its number is returned and nothing is committed again.
        """
        ...


class GitHubConnector(Protocol):
    """Hands out a :class:`GitHub` for a webhook's installation (cached installation tokens)."""

    def for_installation(self, installation_id: int | None) -> GitHub:
        """The client acting as the app's installation (``None``: token mode, GITHUB_TOKEN)."""
        ...


class AuditTrail(Protocol):
    """Appends one audit event, its time from the clock (``audited_evidence.AuditedEvidence``).

    The one audit port the flows write through: drift, rollouts, publications and the PR flows.
    """

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
        """Append one audit event."""
        ...


class PackRecorder(AuditTrail, Protocol):
    """Stores an evidence pack write-once, audits and proves it; appends audit events.

    ``bot.flows.audited_evidence.AuditedEvidence`` over the evidence store and the audit log.
    """

    def record_pack(
        self,
        pack: Mapping[str, Any],
        *,
        correlation_id: str,
        repository: str,
        pr: int | None,
        head_sha: str | None,
    ) -> str:
        """Store, audit and prove ``pack``; return its digest."""
        ...


class LogInclusion(Protocol):
    """Says whether a pack digest was recorded in the audit log (and proven under a checkpoint).

    ``bot.flows.evidence.ProofBundleInclusion`` checks it offline, from the pack's proof bundle.
    """

    def __call__(self, digest: str) -> InclusionVerdict:
        """Say whether the pack with this digest is in the log, and why."""
        ...  # pragma: no cover


# --- planes ---------------------------------------------------------------------------------------


class ConnectorSet(Protocol):
    """The configured planes (``connectors.registry.Connectors``)."""

    def get(self, plane: str) -> Connector | None:
        """The connector of ``plane``, or ``None`` when it is not configured."""
        ...

    def configured(self) -> tuple[Any, ...]:
        """The planes configured on this installation."""
        ...


class OutcomeReader(Protocol):
    """A plane's connector, as far as reading install outcomes goes."""

    def outcomes(self, publication: Publication) -> RingOutcomes:
        """The ring's install outcomes; raises when the read fails."""
        ...


class OutcomeReaders(Protocol):
    """The configured connectors, by plane name (rollouts read outcomes through them)."""

    def get(self, plane: str) -> OutcomeReader | None:
        """The connector of that plane, or None when it is not configured."""
        ...


class Observer(Protocol):
    """A plane's connector, as far as drift goes."""

    def observe(self, intent: Mapping[str, Any], rings: Sequence[Ring]) -> Observed:
        """What the plane holds for the intent; raises when the read fails."""
        ...


class Observers(Protocol):
    """The configured connectors, by plane name."""

    def get(self, plane: str) -> Observer | None:
        """The connector of that plane, or None when it is not configured."""
        ...


# --- the publisher, as the reconcile pass uses it -------------------------------------------------


class Enqueue(Protocol):
    """The publisher's queue."""

    def enqueue(self, ids: Sequence[int], *, delay: float = 0.0) -> None:
        """Send each publication id to the publish queue (the sweeper re-sends what is lost)."""
        ...


class PromotionSender(Enqueue, Protocol):
    """The publisher: sends outbox rows to the publish queue, reports a ring's deployment."""

    def fail_deployment(self, publication_id: int, description: str) -> None:
        """Mark the publication's GitHub deployment ``failure`` with a one-line reason."""
        ...

    def refresh_comment(self, change_id: int) -> None:
        """Edit the merged PR's sticky comment in place (its rollout section)."""
        ...


# --- rollouts and drift ---------------------------------------------------------------------------


class RolloutStore(Protocol):
    """Where rollouts are kept between passes (``bot.adapters.storage.rollouts``)."""

    def start_published(self, *, now: datetime) -> tuple[RolloutRecord, ...]:
        """Start a rollout for every succeeded merge publication without one."""
        ...

    def live(self, *, limit: int = ...) -> tuple[RolloutRecord, ...]:
        """Rollouts still running or held."""
        ...

    def save(
        self,
        record: RolloutRecord,
        state: RolloutState,
        *,
        now: datetime,
        promotion: Promotion | None = None,
    ) -> tuple[bool, int | None]:
        """Save conditionally on ``record.revision``; record the promotion in the same step."""
        ...

    def step_publication(self, record: RolloutRecord, step: int) -> int | None:
        """The outbox id of the rollout's publication of ring ``step``."""
        ...

    def in_flight(self, record: RolloutRecord, step: int) -> bool:
        """Whether the rollout's publication of ring ``step`` waits or runs."""
        ...

    def owing(self, *, limit: int = ...) -> tuple[RolloutRecord, ...]:
        """Rollouts (halted ones too) still owing an issue GitHub failed to take."""
        ...

    def lease(self, name: str, holder: str, *, now: datetime, seconds: float) -> bool:
        """Take or renew a named lease."""
        ...

    def release(self, name: str, holder: str) -> None:
        """Give a named lease back."""
        ...


class CommandStore(Protocol):
    """The rollouts, as commands read and save them (``bot.adapters.storage.rollouts``)."""

    def get(self, rollout_id: int) -> RolloutRecord | None:
        """One rollout, or ``None``."""
        ...

    def of_pr(self, repository: str, pr: int) -> tuple[RolloutRecord, ...]:
        """The rollouts a merged PR started."""
        ...

    def save(
        self, record: RolloutRecord, state: RolloutState, *, now: datetime
    ) -> tuple[bool, int | None]:
        """Save conditionally on ``record.revision``."""
        ...


class AfterRollouts(Protocol):
    """Work the pass does after the rollouts, under the same lease (the drift pass)."""

    def run(self) -> Any:
        """Run once; the result's ``lines()`` join the pass's report."""
        ...


class DriftState(Protocol):
    """Where the drift pass keeps what it found (``bot.adapters.storage.drift``)."""

    def watched(self) -> tuple[RolloutRecord, ...]:
        """The rollouts whose published rings git wants on the planes."""
        ...

    def get(self, repository: str, plane: str, intent: str) -> DriftRow | None:
        """What the last pass found for that (repository, plane, intent)."""
        ...

    def put(self, row: DriftRow, *, now: datetime) -> None:
        """Save what this pass found."""
        ...

    def published(self, record: RolloutRecord) -> tuple[int, ...] | None:
        """Ring steps whose publication succeeded; ``None`` while one is pending or running."""
        ...

    def reopen(self, record: RolloutRecord, steps: Sequence[int], *, now: datetime) -> list[int]:
        """Put the rollout's publications of those steps back in the outbox; their ids."""
        ...


# --- webhook redelivery ---------------------------------------------------------------------------


class AppDeliveries(Protocol):
    """The app's delivery log on GitHub (``bot.adapters.github_connectors.GitHubAppConnector``)."""

    def hook_deliveries(self, *, since: datetime) -> list[dict[str, Any]]:
        """Every attempt since ``since`` (may reach back further), newest first."""
        ...

    def redeliver(self, delivery_id: int) -> None:
        """Ask GitHub to deliver attempt ``delivery_id`` again."""
        ...


class KnownDeliveries(Protocol):
    """The inbox, asked which delivery guids it holds (``Inbox.known``)."""

    def known(self, delivery_ids: Sequence[str]) -> set[str]:
        """The guids of ``delivery_ids`` stored."""
        ...


# --- registering the GitHub App (``eucora github-app create``) ------------------------------------


class ManifestPage(Protocol):
    """A one-use page on loopback: the form that hands the manifest to GitHub, then its redirect.

    ``start_page`` is the form's HTML, set before :meth:`start`.
    """

    start_page: str

    @property
    def url(self) -> str:
        """The start page's address."""
        ...

    @property
    def redirect_url(self) -> str:
        """Where GitHub sends the person back with the code."""
        ...

    def start(self) -> None:
        """Serve in the background."""
        ...

    def wait(self, timeout: float) -> bool:
        """Block until a redirect was handled (True) or ``timeout`` seconds passed (False)."""
        ...

    def close(self) -> None:
        """Stop serving and release the port."""
        ...


class AppRegistrar(Protocol):
    """What registering the GitHub App needs from outside (``eucora github-app create``).

    The loopback page, GitHub's conversion of its one-time code, and the credentials folder
    under ``EUCORA_HOME`` (written 0700/0600; never printed):
    ``bot.adapters.github_manifest.ManifestRegistrar``.
    """

    def stored_app(self, home: Path) -> Path | None:
        """The folder of an App already stored under ``home``, or ``None``."""
        ...

    def store_registration(
        self, home: Path, registration: AppRegistration, *, api_url: str
    ) -> Path:
        """Store the App's credentials under ``home``; the folder (``ConfigError`` if one is)."""
        ...

    def convert_code(self, api_url: str, code: str) -> Any:
        """GitHub's JSON answer to the conversion of ``code`` (``ManifestError`` when refused)."""
        ...

    def page(self, port: int, state: str, on_code: Callable[[str], str]) -> ManifestPage:
        """Listen on ``127.0.0.1:port`` (``OSError`` when it cannot); ``on_code`` runs once."""
        ...
