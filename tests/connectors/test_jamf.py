"""The Jamf connector against the Jamf double: find-or-create, faults, plan, state, retire, errors."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from bot.doubles.jamf import JamfDouble
from bot.errors import PermanentConnectorError, TransientConnectorError
from bot.settings import SettingsError
from connectors.base import StepKind
from connectors.jamf import JamfConnector, policy_name
from connectors.settings import JamfSettings
from tests.support.plane_publications import DictJournal, publication

from .conftest import artifacts_for, load_intent

GROUPS = {"EUC Lab Macs": 1, "EUC Pilot Macs": 2, "Early Adopters - Mac": 3, "All Managed Macs": 4}
SECRET = "jamf-secret-value"  # noqa: S105 -- the double's test credential


@pytest.fixture
def double() -> Iterator[JamfDouble]:
    with JamfDouble(client_secret=SECRET, computer_groups=GROUPS) as started:
        yield started
    assert started.violations == []


@pytest.fixture
def intent() -> dict[str, Any]:
    return load_intent("macos/zoom.yaml")


def connect(
    double: JamfDouble, *intents: dict[str, Any], secret: str = SECRET, timeout: float = 5.0
) -> JamfConnector:
    environ = double.environ() | {
        "EUCORA_JAMF_CLIENT_SECRET": secret,
        "EUCORA_JAMF_TIMEOUT": str(timeout),
    }
    settings = JamfSettings.from_environ(environ)
    assert settings is not None
    return JamfConnector(settings, artifacts=artifacts_for(*intents))


def test_publish_creates_one_package_one_upload_one_policy(
    double: JamfDouble, intent: dict[str, Any], journal: DictJournal
) -> None:
    connector = connect(double, intent)
    result = connector.publish(publication(intent), journal)
    assert result.created is True
    assert double.creates == {"package": 1, "upload": 1, "policy": 1}
    [package] = double.packages.values()
    assert package["packageName"] == "zoom-macos 6.2.11.43613"
    assert package["fileName"] == "zoom-macos-6.2.11.43613.pkg"
    assert "evidence=sha256:abab" in package["notes"]
    assert "version=6.2.11.43613" in package["notes"]
    assert package["uploadedSha256"] == intent["package"]["sha256"]
    [policy] = double.policies.values()
    assert policy["general"]["name"] == "EUCORA zoom-macos [lab]"
    assert policy["scope"]["computer_groups"] == [{"computer_group": {"name": "EUC Lab Macs"}}]
    assert policy["self_service"]["use_for_self_service"] is False
    assert policy["general"]["trigger_checkin"] is True
    assert policy["package_configuration"]["packages"][1] == {
        "package": {"id": int(package["id"]), "action": "Install"}
    }
    assert "evidence=sha256:abab" in policy["self_service"]["self_service_description"]
    assert journal.values == {"jamf.package_id": package["id"], "jamf.policy_id": result.object_id}
    assert result.url
    assert result.url.endswith(f"policies.html?id={result.object_id}")


def test_publishing_twice_keeps_one_of_each(
    double: JamfDouble, intent: dict[str, Any], journal: DictJournal
) -> None:
    connector = connect(double, intent)
    first = connector.publish(publication(intent), journal)
    second = connector.publish(publication(intent), journal)
    assert second.created is False
    assert second.object_id == first.object_id
    assert double.creates == {"package": 1, "upload": 1, "policy": 1}


def test_available_ring_is_a_self_service_policy(
    double: JamfDouble, intent: dict[str, Any], journal: DictJournal
) -> None:
    connect(double, intent).publish(publication(intent, 2), journal)
    [policy] = double.policies.values()
    assert policy["self_service"]["use_for_self_service"] is True
    assert policy["general"]["frequency"] == "Ongoing"
    assert policy["general"]["trigger_checkin"] is False


@pytest.mark.parametrize(
    "fault",
    [
        ("drop", r"^/api/v1/packages$", "POST"),
        ("drop", r"^/JSSResource/policies/id/0$", "POST"),
        ("drop", r"/upload$", "POST"),
        ("500", r"^/JSSResource/policies/id/0$", "POST"),
        ("429", r"^/api/v1/packages$", "POST"),
        ("hang", r"^/JSSResource/policies/name/", "GET"),
        ("hang-after", r"^/JSSResource/policies/id/0$", "POST"),
        ("hang-after", r"^/api/v1/packages$", "POST"),
    ],
)
def test_a_fault_then_a_retry_ends_with_exactly_one_of_each(
    double: JamfDouble,
    intent: dict[str, Any],
    journal: DictJournal,
    fault: tuple[Any, str, str],
) -> None:
    kind, path, method = fault
    connector = connect(double, intent, timeout=2.0)
    double.inject(kind, path, method=method)
    with pytest.raises(TransientConnectorError):
        connector.publish(publication(intent), journal)
    connector.publish(publication(intent), journal)
    assert double.creates == {"package": 1, "upload": 1, "policy": 1}
    assert len(double.policies) == 1
    assert len(double.packages) == 1


def test_429_carries_retry_after(
    double: JamfDouble, intent: dict[str, Any], journal: DictJournal
) -> None:
    double.inject("429", r"^/api/v1/packages$", method="GET", retry_after=7)
    with pytest.raises(TransientConnectorError) as caught:
        connect(double, intent).publish(publication(intent), journal)
    assert caught.value.retry_after == 7
    assert "HTTP 429" in str(caught.value)


def test_duplicate_name_on_create_finds_and_updates(
    double: JamfDouble, intent: dict[str, Any], journal: DictJournal
) -> None:
    connector = connect(double, intent)
    connector.publish(publication(intent), journal)
    intent["rings"][0]["assignment"] = "available"
    # The lookups miss (a lagging node): both creates meet Jamf's duplicate-name answers.
    double.inject("stale", r"^/JSSResource/policies/name/", method="GET")
    double.inject("stale", r"^/api/v1/packages$", method="GET")
    result = connector.publish(publication(intent, digest="sha256:" + "cd" * 32), journal)
    assert result.created is False
    assert double.creates == {"package": 1, "upload": 1, "policy": 1}
    [policy] = double.policies.values()
    assert policy["self_service"]["use_for_self_service"] is True
    assert "sha256:cdcd" in policy["self_service"]["self_service_description"]
    [package] = double.packages.values()
    assert "sha256:cdcd" in package["notes"]


def test_plan_is_read_only_and_lists_the_steps_for_a_new_package(
    double: JamfDouble, intent: dict[str, Any]
) -> None:
    steps = connect(double, intent).plan(publication(intent))
    assert double.writes() == []
    assert [(s.kind, s.description) for s in steps] == [
        (StepKind.CREATE, "create package 'zoom-macos 6.2.11.43613' (zoom-macos-6.2.11.43613.pkg)"),
        (
            StepKind.UPLOAD,
            f"upload file zoom-macos-6.2.11.43613.pkg ({intent['package']['sizeBytes']} bytes)",
        ),
        (StepKind.CREATE, "create policy 'EUCORA zoom-macos [lab]'"),
        (StepKind.ASSIGN, "scope to computer group EUC Lab Macs as required"),
    ]


def test_plan_for_a_new_version_replaces_the_old_one(
    double: JamfDouble, intent: dict[str, Any], journal: DictJournal
) -> None:
    newer = load_intent("macos/zoom.yaml", version="6.3.0.50000")
    connector = connect(double, intent, newer)
    connector.publish(publication(intent), journal)
    writes_before = len(double.writes())
    steps = connector.plan(publication(newer))
    assert len(double.writes()) == writes_before
    assert [s.kind for s in steps] == [StepKind.CREATE, StepKind.UPLOAD, StepKind.REPLACE]
    assert (
        steps[2].description == "replace version 6.2.11.43613 in policy 'EUCORA zoom-macos [lab]'"
    )
    connector.publish(publication(newer), journal)
    assert double.creates == {"package": 2, "upload": 2, "policy": 1}
    assert connector.state("zoom-macos").version == "6.3.0.50000"
    assert [s.kind for s in connector.plan(publication(newer))] == [StepKind.NOTHING]


def test_state_reads_back_and_retire_empties_the_scope(
    double: JamfDouble, intent: dict[str, Any], journal: DictJournal
) -> None:
    connector = connect(double, intent)
    assert connector.state("zoom-macos").present is False
    connector.publish(publication(intent, 0), journal)
    connector.publish(publication(intent, 2), journal)
    state = connector.state("zoom-macos")
    assert state.present
    assert state.version == "6.2.11.43613"
    assert state.rings == {"lab": "required", "early": "available"}
    connector.retire("zoom-macos", journal)
    assert connector.state("zoom-macos").rings == {"lab": "retired", "early": "retired"}
    for policy in double.policies.values():
        assert policy["general"]["enabled"] is False
        assert policy["scope"]["computer_groups"] == []


def test_refused_credentials_are_permanent_without_the_secret(
    double: JamfDouble, intent: dict[str, Any], journal: DictJournal
) -> None:
    wrong = "not-the-right-secret-1234"
    with pytest.raises(PermanentConnectorError) as caught:
        connect(double, intent, secret=wrong).publish(publication(intent), journal)
    assert "invalid_client" in str(caught.value)
    assert wrong not in str(caught.value)
    assert SECRET not in str(caught.value)


def test_unknown_group_is_permanent_with_the_vendor_message(
    double: JamfDouble, intent: dict[str, Any], journal: DictJournal
) -> None:
    intent["rings"][0]["target"] = "No Such Group"
    with pytest.raises(PermanentConnectorError) as caught:
        connect(double, intent).publish(publication(intent), journal)
    assert "Problem with computer group No Such Group" in str(caught.value)


def test_uninstall_rings_are_refused(
    double: JamfDouble, intent: dict[str, Any], journal: DictJournal
) -> None:
    intent["rings"][0]["assignment"] = "uninstall"
    with pytest.raises(PermanentConnectorError, match="uninstall"):
        connect(double, intent).publish(publication(intent), journal)
    assert double.writes() == []


def test_a_closed_port_is_transient(intent: dict[str, Any], journal: DictJournal) -> None:
    settings = JamfSettings(
        url="http://127.0.0.1:9", client_id="x", client_secret=SECRET, timeout=1.0
    )
    connector = JamfConnector(settings, artifacts=artifacts_for(intent))
    with pytest.raises(TransientConnectorError, match="failed") as caught:
        connector.publish(publication(intent), journal)
    assert SECRET not in str(caught.value)


def test_settings_from_environ(tmp_path: Any) -> None:
    assert JamfSettings.from_environ({}) is None
    secret_file = tmp_path / "secret"
    secret_file.write_text("from-file\n")
    settings = JamfSettings.from_environ(
        {
            "EUCORA_JAMF_URL": "https://jamf.example",
            "EUCORA_JAMF_CLIENT_ID": "id",
            "EUCORA_JAMF_CLIENT_SECRET_FILE": str(secret_file),
        }
    )
    assert settings is not None
    assert settings.client_secret == "from-file"  # noqa: S105
    assert "from-file" not in repr(settings)
    with pytest.raises(SettingsError, match="EUCORA_JAMF_CLIENT_ID"):
        JamfSettings.from_environ({"EUCORA_JAMF_URL": "https://jamf.example"})


def test_policy_name_is_stable_across_versions() -> None:
    assert policy_name("zoom-macos", "lab") == "EUCORA zoom-macos [lab]"
    assert httpx  # the connector's HTTP client library


def test_a_token_jamf_forgot_is_renewed_once(
    double: JamfDouble, intent: dict[str, Any], journal: DictJournal
) -> None:
    connector = connect(double, intent)
    connector.publish(publication(intent), journal)
    double.tokens.clear()  # the server restarted, or the token was invalidated
    assert connector.publish(publication(intent), journal).created is False
    assert sum(seen.path.endswith("/oauth/token") for seen in double.requests) == 2
