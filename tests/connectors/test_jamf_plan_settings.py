"""The Jamf plan after a publish of an intent with a Self Service description (issue 20).

The policy's Self Service description is the intent's text and then EUCORA's marker; the plan
compared it with the marker alone, so every plan after a publish asked to update the policy.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.doubles.jamf import JamfDouble
from connectors.base import StepKind
from connectors.jamf import JamfConnector
from connectors.settings import JamfSettings
from tests.support.plane_publications import DictJournal, publication

from .conftest import artifacts_for, load_intent

SECRET = "jamf-secret-value"  # noqa: S105 -- the double's test credential


@pytest.fixture
def double() -> Iterator[JamfDouble]:
    groups = {"EUC Pilot Macs": 35, "All Managed Macs": 1350, "Conference Room Macs": 12}
    with JamfDouble(client_secret=SECRET, computer_groups=groups) as started:
        yield started
    assert started.violations == []


def test_the_example_self_service_intent_plans_nothing_after_its_publish(
    double: JamfDouble,
) -> None:
    intent = load_intent("macos/slack.yaml")
    assert intent["jamf"]["selfService"]["description"]  # the example says one
    settings = JamfSettings.from_environ(double.environ() | {"EUCORA_JAMF_CLIENT_SECRET": SECRET})
    assert settings is not None
    connector = JamfConnector(settings, artifacts=artifacts_for(intent))
    for ring in (0, 1):
        connector.publish(publication(intent, ring), DictJournal())

    steps = [connector.plan(publication(intent, ring)) for ring in (0, 1)]

    assert [[s.kind for s in plan] for plan in steps] == [[StepKind.NOTHING]] * 2
    connector.close()
