"""The Intune connector against the Intune double (HTTPS, MSAL, Graph, Azure blob)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from bot.doubles.intune import IntuneDouble
from bot.errors import PermanentConnectorError, TransientConnectorError
from bot.settings import SettingsError
from connectors._polling import Follow
from connectors.base import StepKind
from connectors.intune import (
    IntuneConnector,
    app_body,
    parse_marker,
)
from connectors.settings import IntuneSettings
from tests.support.plane_publications import DictJournal, publication

from .conftest import artifacts_for, load_intent

CHROME = "windows/google-chrome.yaml"
LAB = "6513270e-269e-4d37-b2a7-4de452e6b438"
PILOT = "d23f0824-128b-4f33-8c5c-7fd0a6a3a450"


@pytest.fixture(scope="module")
def double() -> Iterator[IntuneDouble]:
    with IntuneDouble(page_size=2) as started:
        yield started


@pytest.fixture(autouse=True)
def fresh(double: IntuneDouble) -> Iterator[None]:
    """One double per module (its CA and MSAL discovery are not free); state reset per test."""
    with double.lock:
        double.apps.clear()
        double.creates.clear()
        double.requests.clear()
        double.violations.clear()
        double._faults.clear()
    yield
    assert double.violations == []


@pytest.fixture
def intent() -> dict[str, Any]:
    return load_intent(CHROME)


def connect(
    double: IntuneDouble, *intents: dict[str, Any], secret: str | None = None, timeout: float = 5.0
) -> IntuneConnector:
    environ = double.environ() | {"EUCORA_INTUNE_TIMEOUT": str(timeout)}
    if secret is not None:
        environ["EUCORA_INTUNE_CLIENT_SECRET"] = secret
    settings = IntuneSettings.from_environ(environ)
    assert settings is not None
    follow = Follow(interval=0.0, timeout=5.0, sleep=lambda _s: None)
    return IntuneConnector(settings, artifacts=artifacts_for(*intents), follow=follow)


def only_app(double: IntuneDouble) -> dict[str, Any]:
    [app] = double.apps.values()
    return app.body


def test_publish_creates_one_app_uploads_commits_and_assigns(
    double: IntuneDouble, intent: dict[str, Any], journal: DictJournal
) -> None:
    result = connect(double, intent).publish(publication(intent), journal)
    assert result.created is True
    assert double.creates == {"app": 1, "contentVersion": 1, "contentFile": 1, "assignment": 1}
    app = only_app(double)
    assert app["@odata.type"] == "#microsoft.graph.win32LobApp"
    assert app["displayName"] == "Google Chrome 131.0.6778.86"
    assert parse_marker(app["notes"]) == {
        "intent": "google-chrome",
        "version": "131.0.6778.86",
        "evidence": "sha256:" + "ab" * 32,
    }
    assert app["publishingState"] == "published"
    assert app["committedContentVersion"] == "1"
    [stored] = double.apps[result.object_id].versions["1"].values()
    assert stored.state == "commitFileSuccess"  # the double decrypted it and checked the digest
    [assignment] = double.apps[result.object_id].assignments
    assert assignment["intent"] == "required"
    assert assignment["target"] == {
        "@odata.type": "#microsoft.graph.groupAssignmentTarget",
        "groupId": LAB,
    }
    assert journal.values == {"intune.app_id": result.object_id, "intune.content_version": "1"}


def test_msal_discovers_the_tenant_and_gets_a_token_from_the_double(
    double: IntuneDouble, intent: dict[str, Any], journal: DictJournal
) -> None:
    connect(double, intent).publish(publication(intent), journal)
    paths = [seen.path for seen in double.requests[:2]]
    assert paths == [
        f"/{double.tenant_id}/v2.0/.well-known/openid-configuration",
        f"/{double.tenant_id}/oauth2/v2.0/token",
    ]
    assert sum(seen.path.endswith("/token") for seen in double.requests) == 1  # MSAL caches it


def test_publishing_twice_keeps_one_app_and_one_assignment(
    double: IntuneDouble, intent: dict[str, Any], journal: DictJournal
) -> None:
    connector = connect(double, intent)
    first = connector.publish(publication(intent), journal)
    second = connector.publish(publication(intent), journal)
    assert second.created is False
    assert second.object_id == first.object_id
    assert double.creates == {"app": 1, "contentVersion": 1, "contentFile": 1, "assignment": 1}


def test_a_second_ring_keeps_the_first_ring_assignment(
    double: IntuneDouble, intent: dict[str, Any], journal: DictJournal
) -> None:
    connector = connect(double, intent)
    connector.publish(publication(intent, 0), journal)
    connector.publish(publication(intent, 1), journal)
    assert connector.state("google-chrome").rings == {LAB: "required", PILOT: "required"}
    assert double.creates["app"] == 1


@pytest.mark.parametrize(
    "fault",
    [
        ("drop", r"/mobileApps$", "POST"),
        ("drop", r"/contentVersions$", "POST"),
        ("drop", r"/files$", "POST"),
        ("drop", r"/commit$", "POST"),
        ("drop", r"/assign$", "POST"),
        ("drop", r"^/blob/", "PUT"),
        ("500", r"/mobileApps$", "POST"),
        ("429", r"/assign$", "POST"),
        ("hang", r"/mobileApps$", "GET"),
        ("hang-after", r"/mobileApps$", "POST"),
        ("500", r"/oauth2/v2.0/token$", "POST"),
    ],
)
def test_a_fault_then_a_retry_ends_with_exactly_one_app(
    double: IntuneDouble, intent: dict[str, Any], journal: DictJournal, fault: tuple[Any, str, str]
) -> None:
    kind, path, method = fault
    connector = connect(double, intent, timeout=2.0)
    double.inject(kind, path, method=method)
    with pytest.raises(TransientConnectorError):
        connector.publish(publication(intent), journal)
    result = connector.publish(publication(intent), journal)
    assert double.creates["app"] == 1
    assert len(double.apps) == 1
    app = only_app(double)
    assert app["publishingState"] == "published"
    assert [a["target"]["groupId"] for a in double.apps[result.object_id].assignments] == [LAB]


def test_throttling_carries_retry_after(
    double: IntuneDouble, intent: dict[str, Any], journal: DictJournal
) -> None:
    double.inject("429", r"/mobileApps$", method="GET", retry_after=12)
    with pytest.raises(TransientConnectorError) as caught:
        connect(double, intent).publish(publication(intent), journal)
    assert caught.value.retry_after == 12
    assert "TooManyRequests" in str(caught.value)


def test_plan_is_read_only_and_lists_the_steps_for_a_new_app(
    double: IntuneDouble, intent: dict[str, Any]
) -> None:
    steps = connect(double, intent).plan(publication(intent))
    assert double.writes() == []
    assert [(s.kind, s.description) for s in steps] == [
        (StepKind.CREATE, "create Win32 app 'Google Chrome 131.0.6778.86'"),
        (
            StepKind.UPLOAD,
            (
                "upload file google-chrome-131.0.6778.86.intunewin"
                f" (googlechromestandaloneenterprise64.msi, {intent['package']['sizeBytes']} bytes)"
            ),
        ),
        (StepKind.ASSIGN, f"assign to group {LAB} as required"),
        (StepKind.ASSIGN, "available from 2027-03-01T08:00:00Z"),
        (StepKind.ASSIGN, "installation deadline 2027-03-01T16:00:00Z"),
    ]


def test_a_new_version_replaces_the_old_one_in_the_ring(
    double: IntuneDouble, intent: dict[str, Any], journal: DictJournal
) -> None:
    newer = load_intent(CHROME, version="132.0.6834.83")
    connector = connect(double, intent, newer)
    old = connector.publish(publication(intent), journal)
    writes = len(double.writes())
    steps = connector.plan(publication(newer))
    assert len(double.writes()) == writes
    assert [(s.kind, s.description) for s in steps] == [
        (StepKind.CREATE, "create Win32 app 'Google Chrome 132.0.6834.83'"),
        (
            StepKind.UPLOAD,
            (
                "upload file google-chrome-132.0.6834.83.intunewin"
                f" (googlechromestandaloneenterprise64.msi, {newer['package']['sizeBytes']} bytes)"
            ),
        ),
        (StepKind.ASSIGN, f"assign to group {LAB} as required"),
        (StepKind.ASSIGN, "available from 2027-03-01T08:00:00Z"),
        (StepKind.ASSIGN, "installation deadline 2027-03-01T16:00:00Z"),
        (StepKind.REPLACE, f"replace version 131.0.6778.86 in group {LAB}"),
    ]
    new = connector.publish(publication(newer), journal)
    assert new.details["replaced"] == "131.0.6778.86"
    assert double.apps[old.object_id].assignments == []
    state = connector.state("google-chrome")
    assert state.version == "132.0.6834.83"
    assert state.rings == {LAB: "required"}
    assert [s.kind for s in connector.plan(publication(newer))] == [StepKind.NOTHING]


def test_changed_evidence_updates_the_notes_instead_of_a_new_app(
    double: IntuneDouble, intent: dict[str, Any], journal: DictJournal
) -> None:
    connector = connect(double, intent)
    connector.publish(publication(intent), journal)
    assert [s.kind for s in connector.plan(publication(intent, digest="sha256:" + "cd" * 32))] == [
        StepKind.UPDATE
    ]
    connector.publish(publication(intent, digest="sha256:" + "cd" * 32), journal)
    assert double.creates["app"] == 1
    assert parse_marker(only_app(double)["notes"])["evidence"] == "sha256:" + "cd" * 32


def test_available_and_uninstall_intents(
    double: IntuneDouble, intent: dict[str, Any], journal: DictJournal
) -> None:
    intent["rings"][0]["assignment"] = "available"
    connector = connect(double, intent)
    connector.publish(publication(intent), journal)
    intent["rings"][0]["assignment"] = "uninstall"
    connector.publish(publication(intent), journal)
    assert connector.state("google-chrome").rings == {LAB: "uninstall"}
    assert double.creates["assignment"] == 1  # same group: the assignment's intent changed


def test_macos_pkg_is_a_macos_lob_app(double: IntuneDouble, journal: DictJournal) -> None:
    teams = load_intent("macos/microsoft-teams.yaml")
    steps = connect(double, teams).plan(publication(teams))
    assert steps[0].description == "create macOS app 'Microsoft Teams 24295.606.3238.6194'"
    connect(double, teams).publish(publication(teams), journal)
    app = only_app(double)
    assert app["@odata.type"] == "#microsoft.graph.macOSLobApp"
    assert app["bundleId"] == "com.microsoft.teams2"


def test_retire_removes_every_assignment(
    double: IntuneDouble, intent: dict[str, Any], journal: DictJournal
) -> None:
    connector = connect(double, intent)
    connector.publish(publication(intent, 0), journal)
    connector.publish(publication(intent, 1), journal)
    connector.retire("google-chrome", journal)
    state = connector.state("google-chrome")
    assert state.present is True
    assert state.rings == {}
    assert connector.state("no-such-intent").present is False


def test_wrong_secret_is_permanent_and_never_shown(
    double: IntuneDouble, intent: dict[str, Any], journal: DictJournal
) -> None:
    wrong = "definitely-not-the-secret"
    with pytest.raises(PermanentConnectorError) as caught:
        connect(double, intent, secret=wrong).publish(publication(intent), journal)
    assert "invalid_client" in str(caught.value)
    assert "AADSTS7000215" in str(caught.value)
    assert wrong not in str(caught.value)
    assert double.client_secret not in str(caught.value)


def test_graph_4xx_is_permanent_with_graph_message(
    double: IntuneDouble, intent: dict[str, Any], journal: DictJournal
) -> None:
    connector = connect(double, intent)
    connector.publish(publication(intent), journal)
    app_id = next(iter(double.apps))
    with pytest.raises(PermanentConnectorError, match="ResourceNotFound"):
        connector._call(
            "GET", "/deviceAppManagement/mobileApps/00000000-0000-0000-0000-000000000000"
        )
    assert app_id


def test_unknown_detection_is_refused_before_any_call(
    double: IntuneDouble, intent: dict[str, Any], journal: DictJournal
) -> None:
    intent["package"]["detection"] = {"type": "bundleId", "bundleId": "com.google.Chrome"}
    with pytest.raises(PermanentConnectorError, match="detection 'bundleId'"):
        connect(double, intent).publish(publication(intent), journal)
    assert double.requests == []


def test_a_tampered_artifact_is_refused(
    double: IntuneDouble, intent: dict[str, Any], journal: DictJournal
) -> None:
    intent["package"]["sha256"] = "0" * 64
    with pytest.raises(PermanentConnectorError, match="is not the approved"):
        connect(double, intent).publish(publication(intent), journal)


def test_app_body_is_valid_graph(double: IntuneDouble, intent: dict[str, Any]) -> None:
    assert double.model.check(app_body(publication(intent)), "mobileApp", "body") == []


def test_settings_from_environ(tmp_path: Any) -> None:
    assert IntuneSettings.from_environ({}) is None
    secret = tmp_path / "secret"
    secret.write_text("s3cret-from-file\n")
    settings = IntuneSettings.from_environ(
        {
            "EUCORA_INTUNE_TENANT_ID": "t",
            "EUCORA_INTUNE_CLIENT_ID": "c",
            "EUCORA_INTUNE_CLIENT_SECRET_FILE": str(secret),
        }
    )
    assert settings is not None
    assert settings.url == "https://graph.microsoft.com/v1.0"
    assert settings.authority == "https://login.microsoftonline.com"
    assert "s3cret-from-file" not in repr(settings)
    with pytest.raises(SettingsError, match="EUCORA_INTUNE_CLIENT_ID"):
        IntuneSettings.from_environ({"EUCORA_INTUNE_TENANT_ID": "t"})


def test_a_token_graph_refuses_is_renewed_once(
    double: IntuneDouble, intent: dict[str, Any], journal: DictJournal
) -> None:
    connector = connect(double, intent)
    connector.publish(publication(intent), journal)
    double.tokens.clear()  # revoked or expired early: MSAL's cached token is no good any more
    assert connector.publish(publication(intent), journal).created is False
    assert sum(seen.path.endswith("/oauth2/v2.0/token") for seen in double.requests) == 2


def test_state_spans_versions_and_reports_the_newest(
    double: IntuneDouble, journal: DictJournal
) -> None:
    older = load_intent(CHROME, version="9.0.1")
    newer = load_intent(CHROME, version="10.0.0")
    connector = connect(double, older, newer)
    connector.publish(publication(older, 0), journal)  # lab keeps 9.0.1
    connector.publish(publication(newer, 1), journal)  # pilot gets 10.0.0
    state = connector.state("google-chrome")
    assert state.version == "10.0.0"
    assert state.rings == {LAB: "required", PILOT: "required"}
    assert state.details["groups"] == f"{LAB}=9.0.1,{PILOT}=10.0.0"
    assert state.details["versions"] == "9.0.1,10.0.0"


def test_two_workers_that_both_missed_the_app_converge_on_one(
    double: IntuneDouble, intent: dict[str, Any], journal: DictJournal
) -> None:
    connector = connect(double, intent)
    first = connector.publish(publication(intent), journal)
    # A second worker's lookup misses the app (it ran before the first create was visible):
    double.inject("stale", r"/mobileApps$", method="GET")
    second = connect(double, intent).publish(publication(intent), journal)
    assert double.creates["app"] == 2
    assert list(double.apps) == [first.object_id]  # the newer app was deleted by its creator
    assert second.object_id == first.object_id
    assert second.created is False


# -- the three Win32 body defects, each against Graph's v1.0 model -----------------------------


def test_setup_file_path_is_the_file_the_install_command_runs(
    double: IntuneDouble, intent: dict[str, Any], journal: DictJournal
) -> None:
    # the command runs googlechromestandaloneenterprise64.msi, not google-chrome-<version>.msi
    body = app_body(publication(intent))
    assert body["setupFilePath"] == "googlechromestandaloneenterprise64.msi"
    result = connect(double, intent).publish(publication(intent), journal)
    assert double.apps[result.object_id].body["setupFilePath"] == body["setupFilePath"]
    [stored] = double.apps[result.object_id].versions["1"].values()
    assert stored.state == "commitFileSuccess"  # the double found that file in the content's zip


def test_setup_file_comes_from_the_intent_or_the_command_or_the_url(
    intent: dict[str, Any],
) -> None:
    package = intent["package"]
    package["installCommand"] = "Setup.x64.exe /S /norestart"
    package["uninstallCommand"] = "uninstall.exe /S"
    assert app_body(publication(intent))["setupFilePath"] == "Setup.x64.exe"
    package["installCommand"] = 'powershell.exe -File ".\\install.ps1"'
    assert app_body(publication(intent))["setupFilePath"] == "powershell.exe"
    package["setupFile"] = "install.ps1"
    assert app_body(publication(intent))["setupFilePath"] == "install.ps1"
    del package["setupFile"], package["installCommand"]
    assert (
        app_body(publication(intent))["setupFilePath"] == "googlechromestandaloneenterprise64.msi"
    )


def test_without_an_uninstall_command_the_install_command_is_never_sent_as_uninstall(
    double: IntuneDouble, intent: dict[str, Any]
) -> None:
    assert "uninstallCommand" not in intent["package"]
    body = app_body(publication(intent))
    assert body["uninstallCommandLine"] != body["installCommandLine"]
    assert body["uninstallCommandLine"] == 'msiexec /x "googlechromestandaloneenterprise64.msi" /qn'
    code = "{8A69D345-D564-463C-AFF1-A69D9E530F96}"
    intent["package"]["detection"] = {"type": "msiProductCode", "productCode": code}
    assert app_body(publication(intent))["uninstallCommandLine"] == f"msiexec /x {code} /qn"
    assert double.model.check(app_body(publication(intent)), "mobileApp", "body") == []


def test_a_win32_exe_without_an_uninstall_command_is_refused_before_any_call(
    double: IntuneDouble, intent: dict[str, Any], journal: DictJournal
) -> None:
    intent["package"] |= {"type": "exe", "installCommand": "ChromeSetup.exe /silent /install"}
    with pytest.raises(PermanentConnectorError, match=r"uninstallCommand is required for a Win32"):
        connect(double, intent).publish(publication(intent), journal)
    assert double.requests == []


def test_allowed_architectures_and_intunes_default_return_codes(
    double: IntuneDouble, intent: dict[str, Any]
) -> None:
    body = app_body(publication(intent))
    assert body["allowedArchitectures"] == "x64,arm64"
    assert {(c["returnCode"], c["type"]) for c in body["returnCodes"]} == {
        (0, "success"),
        (1707, "success"),
        (3010, "softReboot"),
        (1641, "hardReboot"),
        (1618, "retry"),
    }
    intent["package"]["architectures"] = ["x86", "x64"]
    narrowed = app_body(publication(intent))
    assert narrowed["allowedArchitectures"] == "x86,x64"
    assert double.model.check(narrowed, "mobileApp", "body") == []
    assert double.model.check(body, "mobileApp", "body") == []
