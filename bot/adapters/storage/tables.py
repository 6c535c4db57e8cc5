"""The database tables, as SQLAlchemy Core: what the code reads and writes.

The migrations under ``migrations/versions`` create exactly these (and the triggers that make the
audit tables append-only); a test compares the two so they cannot drift apart.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
    text,
)

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

# SQLite makes only an INTEGER PRIMARY KEY the rowid; BIGINT elsewhere.
_SEQUENCE = BigInteger().with_variant(Integer(), "sqlite")

audit_events = Table(
    "audit_events",
    metadata,
    Column("seq", _SEQUENCE, primary_key=True, autoincrement=False),
    Column("time", Text, nullable=False),
    Column("type", Text, nullable=False),
    Column("actor", Text, nullable=False),
    Column("correlation_id", Text, nullable=False),
    Column("repository", Text, nullable=False),
    Column("pr", BigInteger, nullable=True),
    Column("head_sha", Text, nullable=True),
    Column("payload", Text, nullable=False),
    Column("prev_hash", Text, nullable=False),
    Column("hash", Text, nullable=False, unique=True),
    CheckConstraint("seq >= 1", name="seq_positive"),
    Index(None, "repository", "pr"),
    Index(None, "time"),
    Index(None, "correlation_id"),
)
"""The audit trail: one row per event, ``seq`` from 1 without gaps; see ``bot.core.audit_events``.

``payload`` is canonical JSON text; ``prev_hash`` and ``hash`` are lowercase hex SHA-256.
"""

audit_checkpoints = Table(
    "audit_checkpoints",
    metadata,
    Column("size", BigInteger, primary_key=True, autoincrement=False),
    Column("origin", Text, nullable=False),
    Column("root", LargeBinary, nullable=False),
    Column("note", Text, nullable=False),
    Column("consistency", LargeBinary, nullable=False),
    Column("signed_at", Text, nullable=False),
    CheckConstraint("size >= 1", name="size_positive"),
)
"""Signed checkpoints of the audit tree: ``note`` is the C2SP signed note, the authority;
``size`` and ``root`` index it; ``consistency`` is the RFC 9162 proof from the previous
checkpoint (32-byte hashes, concatenated; empty for the first)."""

inbox = Table(
    "inbox",
    metadata,
    Column("seq", _SEQUENCE, primary_key=True, autoincrement=True),
    Column("delivery_id", Text, nullable=False, unique=True),
    Column("body_sha256", Text, nullable=False, index=True),
    Column("event", Text, nullable=False),
    Column("action", Text, nullable=True),
    Column("kind", Text, nullable=False),
    Column("installation_id", BigInteger, nullable=True),
    Column("repository", Text, nullable=True),
    Column("pr", BigInteger, nullable=True),
    Column("head_sha", Text, nullable=True),
    Column("serial_key", Text, nullable=True),
    Column("coalesce_key", Text, nullable=True),
    Column("body", LargeBinary, nullable=False),
    Column("received_at", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("outcome", Text, nullable=True),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("not_before", Text, nullable=False),
    Column("lease_owner", Text, nullable=True),
    Column("lease_until", Text, nullable=True),
    Column("finished_at", Text, nullable=True),
    Column("merged_into", Text, nullable=True),
    Column("error", Text, nullable=True),
    CheckConstraint(
        "status IN ('pending', 'running', 'done', 'failed', 'collapsed', 'superseded', 'ignored')",
        name="status_known",
    ),
    Index(None, "status", "not_before"),
    Index(None, "serial_key", "status"),
    Index(None, "coalesce_key", "status"),
    Index(
        "ix_inbox_one_running_per_serial_key",
        "serial_key",
        unique=True,
        sqlite_where=text("status = 'running'"),
        postgresql_where=text("status = 'running'"),
    ),
)
"""Webhook deliveries, stored before they are acknowledged: see ``bot.adapters.storage.inbox``.

``seq`` orders deliveries as received; ``delivery_id`` (``X-GitHub-Delivery``) is unique (a
redelivery is not stored twice); ``body_sha256`` is indexed, not unique: a body repeats after the
replay window, or when a timeless event's state goes back (migration 0005). Times are
RFC 3339 UTC text with microseconds, so they sort as text. The partial unique index lets at most
one delivery per ``serial_key`` (one pull request) run at a time, whatever the number of workers.
"""

review_ledger = Table(
    "review_ledger",
    metadata,
    Column("seq", _SEQUENCE, primary_key=True, autoincrement=True),
    Column("installation_id", BigInteger, nullable=True),
    Column("repository", Text, nullable=False),
    Column("pr", BigInteger, nullable=False),
    Column("review_id", BigInteger, nullable=False),
    Column("reviewer", Text, nullable=False),
    Column("reviewer_is_bot", Boolean, nullable=False),
    Column("state", Text, nullable=False),
    Column("action", Text, nullable=False),
    Column("commit_id", Text, nullable=False),
    Column("pr_head_sha", Text, nullable=True),
    Column("content_hash", Text, nullable=True),
    Column("submitted_at", Text, nullable=False),
    Column("recorded_at", Text, nullable=False),
    Column("source", Text, nullable=False),
    Index(None, "repository", "pr"),
    Index(None, "installation_id"),
)
"""Every pull request review as it arrived (``bot.adapters.storage.reviews``), append-only.

One row per webhook (submitted, edited, dismissed) or per review found only through the API
(``source`` ``api``). ``commit_id`` and ``content_hash`` are the review's commit and the hash of
the intent, policy and config content there, as recorded then; times are RFC 3339 UTC text.
"""

changes = Table(
    "changes",
    metadata,
    Column("id", _SEQUENCE, primary_key=True, autoincrement=True),
    Column("repository", Text, nullable=False),
    Column("pr", BigInteger, nullable=False),
    Column("installation_id", BigInteger, nullable=True),
    Column("head_sha", Text, nullable=False),
    Column("merge_sha", Text, nullable=False),
    Column("check_digest", Text, nullable=True),
    Column("state", Text, nullable=False),
    Column("emergency", Boolean, nullable=False),
    Column("facts_json", Text, nullable=False),
    Column("comment_head", Text, nullable=False),
    Column("followup_issue", BigInteger, nullable=True),
    Column("final_digest", Text, nullable=True),
    Column("correlation_id", Text, nullable=False),
    Column("created_at", Text, nullable=False),
    Column("updated_at", Text, nullable=False),
    CheckConstraint("state IN ('publishing', 'refused', 'final')", name="state_known"),
    UniqueConstraint("repository", "pr", "merge_sha"),
)
"""Merged pull requests, one row per merge (``bot.adapters.storage.publications``).

UNIQUE (``repository``, ``pr``, ``merge_sha``) makes a redelivered merge event record nothing
new. ``facts_json`` is canonical JSON (what the change pack needs besides the publications);
times are RFC 3339 UTC text, as in the inbox.
"""

publications = Table(
    "publications",
    metadata,
    Column("id", _SEQUENCE, primary_key=True, autoincrement=True),
    Column(
        "change_id",
        _SEQUENCE,
        ForeignKey("changes.id", name="fk_publications_change_id_changes"),
        nullable=False,
    ),
    Column("repository", Text, nullable=False),
    Column("pr", BigInteger, nullable=False),
    Column("plane", Text, nullable=False),
    Column("intent_name", Text, nullable=False),
    Column("version", Text, nullable=False),
    Column("ring", Text, nullable=False),
    Column("target", Text, nullable=False),
    Column("path", Text, nullable=False),
    Column("idempotency_key", Text, nullable=False),
    Column("intent_json", Text, nullable=False),
    Column("evidence_digest", Text, nullable=False),
    Column("state", Text, nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("not_before", Text, nullable=False),
    Column("lease_owner", Text, nullable=True),
    Column("lease_until", Text, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("result_json", Text, nullable=True),
    Column("journal_json", Text, nullable=False, server_default="{}"),
    Column("deployment_id", BigInteger, nullable=True),
    Column("created_at", Text, nullable=False),
    Column("updated_at", Text, nullable=False),
    Column("step", Integer, nullable=False, server_default="0"),
    Column("action", Text, nullable=False, server_default="publish"),
    CheckConstraint(
        "state IN ('pending', 'in_progress', 'succeeded', 'failed')", name="state_known"
    ),
    CheckConstraint("action IN ('publish', 'retire')", name="action_known"),
    UniqueConstraint("change_id", "plane", "idempotency_key"),
    Index(None, "state", "not_before"),
)
"""The outbox: one row per (intent, plane, ring) to publish, leased to workers.

``step`` 0 rows are the merge's own (the first ring; the change pack lists them); a ring the
reconciler promotes is a row of its ring's index (migration 0006). ``action`` is ``retire`` for
a deleted intent removed from its plane by the merge (``publish`` otherwise; migration 0006).

Recorded in the change's transaction, before any plane is called. The unique key makes each
publication exist once per change; ``journal_json`` holds what a connector must remember across
attempts (a launched job's id); ``(state, not_before)`` serves the sweeper.
"""

rollouts = Table(
    "rollouts",
    metadata,
    Column("id", _SEQUENCE, primary_key=True, autoincrement=True),
    Column(
        "change_id",
        _SEQUENCE,
        ForeignKey("changes.id", name="fk_rollouts_change_id_changes"),
        nullable=False,
    ),
    Column("repository", Text, nullable=False),
    Column("pr", BigInteger, nullable=False),
    Column("installation_id", BigInteger, nullable=True),
    Column("merge_sha", Text, nullable=False),
    Column("path", Text, nullable=False),
    Column("plane", Text, nullable=False),
    Column("intent_name", Text, nullable=False),
    Column("version", Text, nullable=False),
    Column("intent_json", Text, nullable=False),
    Column("evidence_digest", Text, nullable=False),
    Column("emergency", Boolean, nullable=False),
    Column("state_json", Text, nullable=False),
    Column("phase", Text, nullable=False),
    Column("revision", Integer, nullable=False, server_default="0"),
    Column("created_at", Text, nullable=False),
    Column("updated_at", Text, nullable=False),
    CheckConstraint(
        "phase IN ('active', 'held', 'halted', 'complete', 'superseded')", name="phase_known"
    ),
    UniqueConstraint("change_id", "plane", "intent_name"),
    Index(None, "phase"),
    Index(None, "repository", "plane", "intent_name"),
)
"""Rollouts: one row per (merged change, plane, intent) whose first ring was published.

``state_json`` is ``bot.core.rollout_model.state_to_json`` as canonical JSON; ``phase`` repeats
its phase for the listing; ``revision`` grows with every save, so two reconcilers racing on one
rollout cannot both move it (``bot.adapters.storage.rollouts``).
"""

leases = Table(
    "leases",
    metadata,
    Column("name", Text, primary_key=True),
    Column("holder", Text, nullable=False),
    Column("until", Text, nullable=False),
)
"""Named leases for work one replica at a time does (the reconcile pass): holder and expiry."""

drift = Table(
    "drift",
    metadata,
    Column("id", _SEQUENCE, primary_key=True, autoincrement=True),
    Column("repository", Text, nullable=False),
    Column("plane", Text, nullable=False),
    Column("intent_name", Text, nullable=False),
    Column("rollout_id", BigInteger, nullable=False),
    Column("items_json", Text, nullable=False),
    Column("since_json", Text, nullable=False),
    Column("open", Boolean, nullable=False),
    Column("issue_number", BigInteger, nullable=True),
    Column("remediations", Integer, nullable=False, server_default="0"),
    Column("next_remediation", Text, nullable=True),
    Column("error", Text, nullable=True),
    Column("updated_at", Text, nullable=False),
    UniqueConstraint("repository", "plane", "intent_name"),
    Index(None, "open", "plane"),
)
"""Drift: what the last drift pass found per (repository, plane, intent).

``items_json`` is the open drift items (field, kind, git, plane) as canonical JSON, ``since_json``
when each field was first seen drifting; ``remediations`` and ``next_remediation`` are the backoff
of remediate mode (``bot.flows.drift``); ``error`` the last failed read (not drift). The metric
``eucora_drift_open`` counts the open rows by plane at scrape time.
"""
