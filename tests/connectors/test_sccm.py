"""The Configuration Manager connector against the AdminService double."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.doubles.sccm import SccmDouble, parse_digest
from bot.errors import PermanentConnectorError, TransientConnectorError
from connectors.base import Plane, StepKind
from connectors.sccm import (
    ASSIGNMENT_ID,
    CI_ID,
    SccmConnector,
    application_model,
    assignment_name,
    display_name,
)
from connectors.settings import SccmSettings
from tests.support.plane_publications import CLIENT_TIMEOUT, DictJournal, intent, publication

USER = "CONTOSO\\svc-eucora"
PASSWORD = "sccm-secret-31f0"  # noqa: S105 - the double's test credential
TOKEN = "entra-token-x"  # noqa: S105 - the double's test credential
WRONG = "wrong-password-77"
ZIP = "windows/7-zip.yaml"
APP = "application"
DEPLOYMENT = "deployment"


@pytest.fixture
def sccm() -> Iterator[SccmDouble]:
    double = SccmDouble(username=USER, password=PASSWORD, token=TOKEN)
    double.add_collection("PS100012", "EUC lab", members=3)
    double.add_collection("PS100013", "EUC pilot", members=5)
    with double:
        yield double
    assert double.violations == []


def connector(double: SccmDouble, **kwargs: str) -> SccmConnector:
    options = {"username": USER, "password": PASSWORD, **kwargs}
    return SccmConnector(SccmSettings(url=double.url, timeout=CLIENT_TIMEOUT, **options))  # type: ignore[arg-type]


def test_publish_creates_the_application_and_one_required_deployment(sccm: SccmDouble) -> None:
    pub = publication(intent(ZIP))
    journal = DictJournal()

    result = connector(sccm).publish(pub, journal)

    (app,) = sccm.applications.values()
    assert app["LocalizedDisplayName"] == "7-zip 24.08"
    assert pub.evidence_digest in app["LocalizedDescription"]
    assert app["SoftwareVersion"] == "24.08"
    (deployment,) = sccm.assignments.values()
    assert deployment["AssignmentName"] == "7-zip 24.08 lab -> PS100012"
    assert deployment["TargetCollectionID"] == "PS100012"
    assert deployment["AssignedCIs"] == [app["CI_ID"]]
    # Required is OfferTypeID 0 with DesiredConfigType 1 (install), per the class reference.
    assert (deployment["OfferTypeID"], deployment["DesiredConfigType"]) == (0, 1)
    assert deployment["StartTime"] == "2027-01-11T09:00:00Z"
    assert deployment["EnforcementDeadline"] == "2027-01-11T15:00:00Z"
    assert pub.idempotency_key in deployment["AssignmentDescription"]
    assert result.object_id == str(deployment["AssignmentID"])
    assert result.created is True
    assert result.details["application_created"] == "true"
    assert journal.values == {CI_ID: str(app["CI_ID"]), ASSIGNMENT_ID: result.object_id}


@pytest.mark.parametrize(
    ("assignment", "expected"),
    [("available", (2, 1)), ("uninstall", (0, 2))],
)
def test_available_and_uninstall_map_to_offer_type_and_desired_config(
    sccm: SccmDouble, assignment: str, expected: tuple[int, int]
) -> None:
    document = intent(ZIP)
    document["rings"][0]["assignment"] = assignment
    connector(sccm).publish(publication(document), DictJournal())
    (deployment,) = sccm.assignments.values()
    assert (deployment["OfferTypeID"], deployment["DesiredConfigType"]) == expected
    assert ("EnforcementDeadline" in deployment) is (assignment != "available")


def test_duplicate_publishes_and_a_second_ring_reuse_the_application(sccm: SccmDouble) -> None:
    document = intent(ZIP)
    conn = connector(sccm)
    first = conn.publish(publication(document, 0), DictJournal())
    again = conn.publish(publication(document, 0), DictJournal())
    pilot = conn.publish(publication(document, 1), DictJournal())
    assert again.object_id == first.object_id
    assert again.created is False
    assert pilot.created is True
    assert pilot.details["application_created"] == "false"
    assert sccm.creates[APP] == 1
    assert sccm.creates[DEPLOYMENT] == 2


@pytest.mark.parametrize("kind", ["drop", "hang-after", "hang", "500", "429"])
@pytest.mark.parametrize("target", ["SMS_Application", "SMS_ApplicationAssignment"])
def test_a_lost_create_answer_never_makes_a_second_object(
    sccm: SccmDouble, kind: str, target: str
) -> None:
    pub = publication(intent(ZIP))
    sccm.inject(kind, f"/wmi/{target}$", method="POST", retry_after=3)  # type: ignore[arg-type]
    with pytest.raises(TransientConnectorError) as caught:
        connector(sccm).publish(pub, DictJournal())
    if kind == "429":
        assert caught.value.retry_after == 3
    result = connector(sccm).publish(pub, DictJournal())
    assert sccm.creates[APP] == 1
    assert sccm.creates[DEPLOYMENT] == 1
    assert result.object_id == str(next(iter(sccm.assignments)))


def test_a_409_on_create_finds_the_existing_application(sccm: SccmDouble) -> None:
    pub = publication(intent(ZIP))
    conn = connector(sccm)
    # Someone created the application between our lookup and our create.
    conn._find_or_create_application(pub, display_name(pub))
    assert sccm.creates[APP] == 1
    original = conn._find_application
    calls = iter([None])
    conn._find_application = lambda name: next(calls, None) or original(name)  # type: ignore[method-assign]
    application, created = conn._find_or_create_application(pub, display_name(pub))
    assert created is False
    assert application["LocalizedDisplayName"] == "7-zip 24.08"
    assert sccm.creates[APP] == 1


def test_the_doubles_environ_configures_the_connector(sccm: SccmDouble) -> None:
    settings = SccmSettings.from_environ(sccm.environ())
    assert settings is not None
    assert SccmConnector(settings).publish(publication(intent(ZIP)), DictJournal()).created


def test_bearer_token_auth(sccm: SccmDouble) -> None:
    conn = SccmConnector(SccmSettings(url=sccm.url + "/AdminService", token=TOKEN))
    assert conn.publish(publication(intent(ZIP)), DictJournal()).created is True


def test_refused_credentials_are_permanent_and_not_echoed(sccm: SccmDouble) -> None:
    conn = connector(sccm, password=WRONG)
    with pytest.raises(PermanentConnectorError) as caught:
        conn.plan(publication(intent(ZIP)))
    message = str(caught.value)
    assert "401" in message
    assert WRONG not in message
    assert PASSWORD not in message


def test_a_missing_collection_is_permanent(sccm: SccmDouble) -> None:
    document = intent(ZIP)
    document["rings"][0]["target"] = "PS1FFFFF"
    with pytest.raises(PermanentConnectorError, match="collection PS1FFFFF does not exist"):
        connector(sccm).publish(publication(document), DictJournal())
    assert sccm.creates == {}


def test_unsupported_package_type_is_permanent() -> None:
    document = intent(ZIP)
    document["package"]["type"] = "msix"
    with pytest.raises(PermanentConnectorError, match="'msix' is not supported"):
        application_model(publication(document))


def test_plan_is_read_only_and_says_what_would_happen(sccm: SccmDouble) -> None:
    pub = publication(intent(ZIP))
    steps = connector(sccm).plan(pub)
    assert [s.kind for s in steps] == [StepKind.CREATE, StepKind.ASSIGN]
    assert "create application '7-zip 24.08'" in steps[0].description
    assert "PS100012 (EUC lab, 3 devices) as required" in steps[1].description
    assert {seen.method for seen in sccm.requests} == {"GET"}
    connector(sccm).publish(pub, DictJournal())
    assert [s.kind for s in connector(sccm).plan(pub)] == [StepKind.NOTHING]


def test_state_reads_application_deployments_and_device_status(sccm: SccmDouble) -> None:
    conn = connector(sccm)
    assert conn.state("7-zip").present is False
    conn.publish(publication(intent(ZIP), 0), DictJournal())
    conn.publish(publication(intent(ZIP), 1), DictJournal())
    state = conn.state("7-zip")
    assert state.present is True
    assert state.version == "24.08"
    assert dict(state.rings) == {"lab": "required", "pilot": "required"}
    assert state.details["lab.in_progress"] == "3"
    later = conn.state("7-zip")
    assert later.details["lab.success"] == "3"
    assert later.details["pilot.success"] == "5"
    assert conn.plane is Plane.SCCM


def test_retire_removes_the_deployments(sccm: SccmDouble) -> None:
    conn = connector(sccm)
    conn.publish(publication(intent(ZIP), 0), DictJournal())
    conn.retire("7-zip", DictJournal())
    assert sccm.assignments == {}
    assert conn.state("7-zip").rings == {}
    conn.retire("7-zip", DictJournal())  # nothing left: nothing to do
    conn.close()


def test_the_application_model_is_an_app_mgmt_digest() -> None:
    pub = publication(intent(ZIP))
    facts = parse_digest(application_model(pub))
    assert facts["title"] == display_name(pub)
    assert facts["version"] == "24.08"
    assert facts["publisher"] == "Igor Pavlov"
    assert facts["deployment_types"] == 1
    assert "{23170F69-40C1-2702-2408-000001000000}" in application_model(pub)
    assert assignment_name(pub) == "7-zip 24.08 lab -> PS100012"
