"""AWX settings of an intent (issue 20): credentials by name, extra vars against the survey, tags.

Against the AWX double, which stores what a launch sends and refuses what AWX refuses (a survey
answer of the wrong type, a credential id that does not exist, prompts the template does not ask).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from bot.doubles.awx import AwxDouble
from bot.errors import PermanentConnectorError
from connectors.ansible import AwxConnector
from connectors.settings import AwxSettings
from tests.support.plane_publications import (
    CLIENT_TIMEOUT,
    DictJournal,
    intent,
    no_wait,
    publication,
)

TOKEN = "awx-secret-token-9f2c"  # noqa: S105 - the double's test credential
CIS = "linux/cis-hardening.yaml"
NAME = "cis-ubuntu-2404-l1"
SURVEY = [
    {
        "question_name": "CIS level",
        "variable": "cis_level",
        "type": "multiplechoice",
        "choices": "1\n2",
        "required": True,
        "default": "",
    },
    {
        "question_name": "Reboot window (minutes)",
        "variable": "reboot_window",
        "type": "integer",
        "min": 0,
        "max": 240,
        "required": False,
    },
]
SETTINGS: dict[str, Any] = {
    "credentials": ["Linux fleet SSH", "Vault: hardening"],
    "extraVars": {"cis_level": "2", "reboot_window": 30},
    "jobTags": "hardening,audit",
    "skipTags": "slow",
}


@pytest.fixture
def awx() -> Iterator[AwxDouble]:
    double = AwxDouble(token=TOKEN)
    double.add_job_template(NAME, organization="Contoso", survey=SURVEY)
    double.add_credential("Linux fleet SSH")
    double.add_credential("Vault: hardening", kind="vault")
    with double:
        yield double


def connector(double: AwxDouble) -> AwxConnector:
    settings = AwxSettings(url=double.url, token=TOKEN, timeout=CLIENT_TIMEOUT)
    return AwxConnector(settings, follow=no_wait())


def test_the_settings_are_sent_with_the_launch_and_read_back_equal(awx: AwxDouble) -> None:
    document = intent(CIS, ansible=SETTINGS)
    pub = publication(document)
    plane = connector(awx)

    steps = plane.plan(pub)
    plane.publish(pub, DictJournal())

    job = awx.launches()[0]
    assert [c.name for c in job.credentials] == SETTINGS["credentials"]
    assert job.extra_vars["cis_level"] == "2"
    assert job.extra_vars["reboot_window"] == 30
    assert job.extra_vars["eucora_intent"] == NAME
    assert (job.job_tags, job.skip_tags) == ("hardening,audit", "slow")
    assert plane.state(NAME).settings == {"ansible": SETTINGS}
    assert "credentials Linux fleet SSH (id 3), Vault: hardening (id 4)" in steps[0].description
    assert "extra vars cis_level, reboot_window" in steps[0].description
    assert awx.violations == []


def test_a_credential_not_in_awx_is_a_clear_error_before_any_launch(awx: AwxDouble) -> None:
    pub = publication(intent(CIS, ansible={**SETTINGS, "credentials": ["Linux fleet SHH"]}))

    with pytest.raises(PermanentConnectorError, match="no credential is named 'Linux fleet SHH'"):
        connector(awx).publish(pub, DictJournal())

    assert awx.creates["launch"] == 0


def test_two_credentials_of_one_name_are_refused_as_ambiguous(awx: AwxDouble) -> None:
    awx.add_credential("Linux fleet SSH", organization="Other")
    pub = publication(intent(CIS, ansible=SETTINGS))

    with pytest.raises(PermanentConnectorError, match="2 credentials are named 'Linux fleet SSH'"):
        connector(awx).plan(pub)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"cis_level": "3"}, r"cis_level is \"3\", and the survey's choices are 1, 2"),
        ({"cis_level": "1", "reboot_window": "30"}, r"reboot_window is \"30\", and the survey"),
        ({"cis_level": "1", "reboot_window": 600}, "above the survey's maximum 240"),
    ],
)
def test_extra_vars_the_survey_would_refuse_stop_the_launch(
    awx: AwxDouble, extra: dict[str, Any], message: str
) -> None:
    pub = publication(intent(CIS, ansible={"extraVars": extra}))

    with pytest.raises(PermanentConnectorError, match=message):
        connector(awx).publish(pub, DictJournal())

    assert awx.creates["launch"] == 0


def test_a_required_survey_answer_left_out_is_named(awx: AwxDouble) -> None:
    pub = publication(intent(CIS, ansible={"extraVars": {"reboot_window": 5}}))

    with pytest.raises(PermanentConnectorError, match=r"survey answers to start \(cis_level\)"):
        connector(awx).plan(pub)


def test_the_double_refuses_survey_answers_as_awx_does(awx: AwxDouble) -> None:
    """What the connector's check guards against: AWX answers 400 and launches nothing."""
    template = next(iter(awx.templates))
    response = httpx.post(
        f"{awx.url}/api/v2/job_templates/{template}/launch/",
        headers={"Authorization": f"Bearer {TOKEN}"},
        json={"extra_vars": {"cis_level": "9"}, "limit": "ws_lab"},
    )

    assert response.status_code == 400
    assert "cis_level" in response.json()["variables_needed_to_start"][0]
    assert awx.creates["launch"] == 0


def test_a_template_that_does_not_prompt_for_credentials_is_refused(awx: AwxDouble) -> None:
    awx.templates[next(iter(awx.templates))].ask_credential_on_launch = False
    pub = publication(intent(CIS, ansible=SETTINGS))

    with pytest.raises(PermanentConnectorError, match="ask_credential_on_launch"):
        connector(awx).publish(pub, DictJournal())

    assert awx.creates["launch"] == 0


def test_an_intent_without_settings_launches_as_before(awx: AwxDouble) -> None:
    awx.templates[next(iter(awx.templates))].survey = None
    document = intent(CIS)
    del document["ansible"]  # the example answers the survey
    pub = publication(document)
    plane = connector(awx)

    plane.publish(pub, DictJournal())

    assert awx.launches()[0].credentials == ()
    assert plane.state(NAME).settings == {}


def test_the_double_refuses_a_credential_id_it_does_not_hold(awx: AwxDouble) -> None:
    template = next(iter(awx.templates))
    response = httpx.post(
        f"{awx.url}/api/v2/job_templates/{template}/launch/",
        headers={"Authorization": f"Bearer {TOKEN}"},
        json={"credentials": [999], "extra_vars": {"cis_level": "1"}, "limit": "ws_lab"},
    )

    assert response.status_code == 400
    assert awx.creates["launch"] == 0
    assert awx.violations == ["POST /api/v2/job_templates/7/launch/: credential 999 does not exist"]
    awx.violations.clear()
