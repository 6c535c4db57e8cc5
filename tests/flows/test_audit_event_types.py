"""The flows append the audit event types of ``bot.core.audit_events.AuditEventType``.

The stored strings are hashed into every event: they are pinned here, and the flows name them
only through the enum (no inline string, no module constant of their own).
"""

from __future__ import annotations

import ast
from pathlib import Path

from bot.core.audit_events import AuditEventType as T
from bot.core.evidence_proof import EVIDENCE_EVENT_TYPE
from bot.flows import audited_evidence, publish

FLOWS = Path(__file__).resolve().parents[2] / "bot" / "flows"
PINNED = {
    T.MERGE_ACCEPTED: "merge.accepted",
    T.MERGE_REFUSED: "merge.refused",
    T.PUBLICATION_RECORDED: "publication.recorded",
    T.FOLLOWUP_OPENED: "followup.opened",
    T.MERGE_NOTHING_TO_PUBLISH: "merge.nothing_to_publish",
    T.PUBLICATION_RETRY_REQUESTED: "publication.retry_requested",
    T.APPROVAL_REVIEW_REQUESTED: "approval.review_requested",
    T.APPROVAL_DECIDED: "approval.decided",
    T.APPROVAL_COUNTED: "approval.counted",
    T.APPROVAL_REFUSED: "approval.refused",
    T.APPROVAL_REVIEW_RECORDED: "approval.review_recorded",
    T.APPROVAL_DEPLOYMENT_REVIEWED: "approval.deployment_reviewed",
    T.PULL_REQUEST_EVALUATION_FAILED: "pull_request.evaluation_failed",
    T.COMMENT_COMMAND_ACCEPTED: "comment_command.accepted",
    T.COMMENT_COMMAND_REFUSED: "comment_command.refused",
    T.PUBLICATION_STARTED: "publication.started",
    T.PUBLICATION_SUCCEEDED: "publication.succeeded",
    T.PUBLICATION_RETRY_SCHEDULED: "publication.retry_scheduled",
    T.PUBLICATION_FAILED: "publication.failed",
    T.PUBLICATION_REPORT_DELAYED: "publication.report_delayed",
    T.CHANGE_PUBLISHED: "change.published",
    T.PULL_REQUEST_EVALUATED: "pull_request.evaluated",
    T.EVIDENCE_STORED: "evidence.stored",
}


def test_the_event_types_keep_their_stored_strings() -> None:
    for member, stored in PINNED.items():
        assert member.value == stored
    assert T.MERGE_REFUSED != T.APPROVAL_REFUSED
    assert EVIDENCE_EVENT_TYPE == T.EVIDENCE_STORED
    assert audited_evidence.EVALUATED is T.PULL_REQUEST_EVALUATED
    assert publish.STARTED == T.PUBLICATION_STARTED


def test_the_flows_spell_no_event_type_inline() -> None:
    """merge.py, approvals.py and pull_request.py used string constants and inline strings."""
    stored = {member.value for member in T}
    inline = {
        (path.name, node.lineno, node.value)
        for path in FLOWS.glob("*.py")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Constant) and node.value in stored
    }
    assert inline == set()
