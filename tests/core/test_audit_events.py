"""The audit event types: one enum whose values are the strings stored in every event's ``type``."""

from __future__ import annotations

from bot.core.audit_events import GENESIS_HASH, AuditEventType, seal_event

STORED_TYPES = {
    "drift.detected",
    "drift.resolved",
    "drift.remediated",
    "drift.adopted",
    "drift.read_failed",
    "drift.command_refused",
    "webhook.redelivery_requested",
    "webhook.redelivery_failed",
    "rollout.started",
    "rollout.decided",
    "rollout.promoted",
    "rollout.halted",
    "rollout.held",
    "rollout.alert",
    "rollout.completed",
    "webhook.received",
    "webhook.processed",
    "pull_request.checked",
    "pull_request.evaluated",
    "pull_request.evaluation_failed",
    "comment_command.accepted",
    "comment_command.refused",
    "evidence.stored",
    "approval.review_requested",
    "approval.decided",
    "approval.counted",
    "approval.refused",
    "approval.review_recorded",
    "approval.deployment_reviewed",
    "merge.accepted",
    "merge.refused",
    "merge.nothing_to_publish",
    "publication.recorded",
    "publication.retry_requested",
    "publication.started",
    "publication.succeeded",
    "publication.retry_scheduled",
    "publication.failed",
    "publication.report_delayed",
    "change.published",
    "followup.opened",
}
"""The ``type`` strings the product has written (hashed into stored events: never renamed)."""


def test_the_values_are_exactly_the_stored_strings() -> None:
    assert {member.value for member in AuditEventType} == STORED_TYPES
    assert len(AuditEventType) == len(STORED_TYPES)


def test_the_two_refused_events_have_distinct_names() -> None:
    assert AuditEventType.MERGE_REFUSED == "merge.refused"
    assert AuditEventType.APPROVAL_REFUSED == "approval.refused"
    assert AuditEventType.COMMENT_COMMAND_REFUSED == "comment_command.refused"


def test_an_enum_type_seals_to_the_same_event_as_its_text() -> None:
    fields = {
        "seq": 1,
        "time": "2027-01-04T09:00:00.000000Z",
        "actor": "eucora[bot]",
        "correlation_id": "d-1",
        "repository": "acme/intents",
        "pr": 7,
        "head_sha": None,
        "payload": {"a": 1},
        "prev_hash": GENESIS_HASH,
    }
    by_member = seal_event(type=AuditEventType.MERGE_REFUSED, **fields)
    by_text = seal_event(type="merge.refused", **fields)
    assert by_member == by_text
    assert type(by_member.type) is str
