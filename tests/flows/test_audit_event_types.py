"""The flows append the audit event types of ``bot.core.audit_events.AuditEventType``."""

from __future__ import annotations

from bot.core.audit_events import AuditEventType as T
from bot.core.evidence_proof import EVIDENCE_EVENT_TYPE
from bot.flows import approvals, merge, publish, recording


def test_the_flows_constants_are_members_with_their_stored_strings() -> None:
    pairs = [
        (merge.ACCEPTED, T.MERGE_ACCEPTED),
        (merge.REFUSED, T.MERGE_REFUSED),
        (merge.RECORDED, T.PUBLICATION_RECORDED),
        (merge.FOLLOWUP, T.FOLLOWUP_OPENED),
        (merge.NOTHING, T.MERGE_NOTHING_TO_PUBLISH),
        (merge.RETRY_REQUESTED, T.PUBLICATION_RETRY_REQUESTED),
        (approvals.REVIEW_REQUESTED, T.APPROVAL_REVIEW_REQUESTED),
        (approvals.DECIDED, T.APPROVAL_DECIDED),
        (approvals.COUNTED, T.APPROVAL_COUNTED),
        (approvals.REFUSED, T.APPROVAL_REFUSED),
        (approvals.RECORDED, T.APPROVAL_REVIEW_RECORDED),
        (approvals.DEPLOYMENT_ANSWERED, T.APPROVAL_DEPLOYMENT_REVIEWED),
        (publish.STARTED, T.PUBLICATION_STARTED),
        (publish.SUCCEEDED, T.PUBLICATION_SUCCEEDED),
        (publish.RETRYING, T.PUBLICATION_RETRY_SCHEDULED),
        (publish.FAILED, T.PUBLICATION_FAILED),
        (publish.REPORT_DELAYED, T.PUBLICATION_REPORT_DELAYED),
        (publish.CHANGE_PUBLISHED, T.CHANGE_PUBLISHED),
        (recording.EVALUATED, T.PULL_REQUEST_EVALUATED),
        (EVIDENCE_EVENT_TYPE, T.EVIDENCE_STORED),
    ]
    for constant, member in pairs:
        assert constant == member.value, (constant, member)
    assert merge.REFUSED != approvals.REFUSED
