"""``POST /webhook`` counts itself in flight for the embedded drainer to yield to, errors included."""

from __future__ import annotations

from dataclasses import replace

from bot.adapters.inbox_worker import IntakeGate
from bot.entrypoints.web import WebhookIntake, create_app
from tests.entrypoints.test_webhook import NoEvidence, engine, intake, post, wakeups  # noqa: F401
from tests.support.webhooks import pr_payload


def test_a_request_is_in_flight_until_it_is_answered(intake: WebhookIntake) -> None:  # noqa: F811
    gate = IntakeGate()
    seen: list[int] = []

    def notify(_delivery_id: str) -> None:  # called after the commit, before the 202
        seen.append(gate.in_flight)

    app = create_app(evidence=NoEvidence(), intake=replace(intake, gate=gate, notify=notify))
    response = post(app, pr_payload(), delivery="d-1")
    assert response.status_code == 202
    assert seen == [1]
    assert gate.in_flight == 0
    refused = post(app, pr_payload(), delivery="d-2", X_Hub_Signature_256="sha256=" + "0" * 64)
    assert refused.status_code == 401
    assert gate.in_flight == 0
