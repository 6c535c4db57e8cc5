"""The Landscape connector against the Landscape double (signed legacy API, schema-checked)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from bot.doubles.landscape import LandscapeDouble
from bot.errors import PermanentConnectorError, TransientConnectorError
from connectors._polling import Follow
from connectors.base import StepKind
from connectors.landscape import (
    ACTIVITY_ID,
    LAUNCH_AFTER,
    REBOOT_ID,
    LandscapeConnector,
    computer_query,
    script_code,
    script_title,
)
from connectors.settings import LandscapeSettings
from tests.support.plane_publications import (
    CLIENT_TIMEOUT,
    DictJournal,
    intent,
    no_wait,
    publication,
)

KEY = "LSKEY0123456789"
SECRET = "landscape-secret-7d1e"  # noqa: S105 - the double's test credential
OSQUERY = "linux/osquery.yaml"


@pytest.fixture
def landscape() -> Iterator[LandscapeDouble]:
    double = LandscapeDouble(key=KEY, secret=SECRET)
    double.add_computer("lab-01", "euc-lab")
    double.add_computer("lab-02", "euc-lab", "linux-workstations")
    double.add_computer("ws-17", "linux-workstations")
    with double:
        yield double
    assert double.violations == []


def connector(double: LandscapeDouble, *, secret: str = SECRET) -> LandscapeConnector:
    settings = LandscapeSettings(url=double.url, key=KEY, secret=secret, timeout=CLIENT_TIMEOUT)
    return LandscapeConnector(settings, follow=no_wait())


def test_publish_creates_one_script_and_runs_it_on_the_tagged_computers(
    landscape: LandscapeDouble,
) -> None:
    pub = publication(intent(OSQUERY))
    journal = DictJournal()

    result = connector(landscape).publish(pub, journal)

    assert landscape.creates["script"] == 1
    assert landscape.creates["launch"] == 1
    (script,) = landscape.scripts.values()
    assert script.title == script_title(pub)
    assert script.title.startswith("eucora osquery-linux 5.14.1-1 lab [")
    assert f"# evidence: {pub.evidence_digest}" in script.code
    assert "sha256sum -c -" in script.code
    assert script.username == "root"
    group, reboot = landscape.groups()
    assert group.summary == f"Run script: {script.title}"
    assert {c.computer_id for c in group.children} == {1, 2}
    assert result.object_id == str(group.id)
    assert result.created is True
    assert result.details["computers"] == "2"
    # The example's lab ring restarts its computers after the install (landscape.reboot).
    assert reboot.summary == "Restart computers"
    assert result.details["reboot_activity_id"] == str(reboot.id)
    # The launch marker goes first, the activity id right after the launch, then the reboot's.
    assert [key for key, _ in journal.writes] == [LAUNCH_AFTER, ACTIVITY_ID, REBOOT_ID]


def test_duplicate_publishes_reuse_the_script_and_never_launch_again(
    landscape: LandscapeDouble,
) -> None:
    pub = publication(intent(OSQUERY))
    journal = DictJournal()
    first = connector(landscape).publish(pub, journal)
    second = connector(landscape).publish(pub, journal)
    # A fresh journal (another task for the same publication) reuses the script by its title.
    connector(landscape).publish(pub, DictJournal())
    assert second.object_id == first.object_id
    assert second.created is False
    assert landscape.creates["script"] == 1
    assert landscape.creates["launch"] == 2  # the journal is what stops a second launch


@pytest.mark.parametrize("kind", ["drop", "hang-after", "hang", "500", "429"])
def test_a_launch_whose_answer_is_lost_is_adopted_not_repeated(
    landscape: LandscapeDouble, kind: str
) -> None:
    pub = publication(intent(OSQUERY))
    journal = DictJournal()
    landscape.inject_action(kind, "ExecuteScript")  # type: ignore[arg-type]
    with pytest.raises(TransientConnectorError):
        connector(landscape).publish(pub, journal)
    # "500", "429" and "hang" never reach the launch; "drop" and "hang-after" launch, then lose
    # the answer.
    launched = landscape.creates["launch"]
    assert launched == (1 if kind in {"drop", "hang-after"} else 0)
    assert ACTIVITY_ID not in journal.values

    result = connector(landscape).publish(pub, journal)

    assert landscape.creates["script"] == 1
    assert landscape.creates["launch"] == 1
    assert result.object_id == journal.values[ACTIVITY_ID] == str(landscape.groups()[0].id)
    assert result.created is (launched == 0)


def test_a_lost_create_script_answer_finds_the_script_by_title(landscape: LandscapeDouble) -> None:
    pub = publication(intent(OSQUERY))
    landscape.inject_action("drop", "CreateScript")
    with pytest.raises(TransientConnectorError):
        connector(landscape).publish(pub, DictJournal())
    connector(landscape).publish(pub, DictJournal())
    assert landscape.creates["script"] == 1
    assert landscape.creates["launch"] == 1


def test_the_doubles_environ_configures_the_connector(landscape: LandscapeDouble) -> None:
    settings = LandscapeSettings.from_environ(landscape.environ())
    assert settings is not None
    conn = LandscapeConnector(settings, follow=no_wait())
    assert conn.publish(publication(intent(OSQUERY)), DictJournal()).created is True


def test_throttling_carries_retry_after(landscape: LandscapeDouble) -> None:
    landscape.inject("429", "", retry_after=12)
    with pytest.raises(TransientConnectorError) as caught:
        connector(landscape).publish(publication(intent(OSQUERY)), DictJournal())
    assert caught.value.retry_after == 12


def test_failed_computers_are_a_permanent_error(landscape: LandscapeDouble) -> None:
    landscape.child_outcome = "failed"
    journal = DictJournal()
    with pytest.raises(PermanentConnectorError, match="2 of 2 computers did not succeed"):
        connector(landscape).publish(publication(intent(OSQUERY)), journal)
    assert ACTIVITY_ID in journal.values


def test_an_activity_still_running_is_transient_and_followed_again(
    landscape: LandscapeDouble,
) -> None:
    landscape.steps_to_finish = 99
    journal = DictJournal()
    pub = publication(intent(OSQUERY))
    settings = LandscapeSettings(url=landscape.url, key=KEY, secret=SECRET)
    quick = Follow(interval=0.5, timeout=0.0, sleep=lambda _s: None)
    with pytest.raises(TransientConnectorError, match="has not finished"):
        LandscapeConnector(settings, follow=quick).publish(pub, journal)
    landscape.steps_to_finish = 2
    result = connector(landscape).publish(pub, journal)
    assert result.created is False
    assert landscape.creates["launch"] == 1


def test_a_tag_without_computers_is_permanent(landscape: LandscapeDouble) -> None:
    document = intent(OSQUERY)
    document["rings"][0]["target"] = "nobody-has-this-tag"
    with pytest.raises(PermanentConnectorError, match="UnknownComputers"):
        connector(landscape).publish(publication(document), DictJournal())
    assert landscape.creates["launch"] == 0


def test_a_wrong_secret_is_refused_and_never_echoed(landscape: LandscapeDouble) -> None:
    wrong = connector(landscape, secret="not-the-secret-42")  # noqa: S106
    with pytest.raises(PermanentConnectorError) as caught:
        wrong.plan(publication(intent(OSQUERY)))
    message = str(caught.value)
    assert "SignatureDoesNotMatch" in message
    assert "not-the-secret-42" not in message
    assert SECRET not in message
    assert KEY not in message


def test_unsupported_package_types_are_refused_before_any_call(landscape: LandscapeDouble) -> None:
    document = intent(OSQUERY)
    document["package"]["type"] = "rpm"
    with pytest.raises(PermanentConnectorError, match="'rpm' is not supported"):
        connector(landscape).plan(publication(document))
    assert landscape.requests == []


def test_plan_is_read_only(landscape: LandscapeDouble) -> None:
    pub = publication(intent(OSQUERY), 2)
    steps = connector(landscape).plan(pub)
    assert [s.kind for s in steps] == [StepKind.CREATE, StepKind.LAUNCH]
    assert "on 2 computers matching 'tag:linux-workstations'" in steps[1].description
    assert landscape.creates == {}
    connector(landscape).publish(pub, DictJournal())
    assert [s.kind for s in connector(landscape).plan(pub)] == [StepKind.LAUNCH]


def test_state_and_retire(landscape: LandscapeDouble) -> None:
    conn = connector(landscape)
    assert conn.state("osquery-linux").present is False
    conn.publish(publication(intent(OSQUERY), 0), DictJournal())
    state = conn.state("osquery-linux")
    assert (state.present, state.version, dict(state.rings)) == (
        True,
        "5.14.1-1",
        {"lab": "succeeded"},
    )

    landscape.steps_to_finish = 99
    journal = DictJournal()
    settings = LandscapeSettings(url=landscape.url, key=KEY, secret=SECRET)
    with pytest.raises(TransientConnectorError):
        LandscapeConnector(
            settings, follow=Follow(interval=0.0, timeout=0.0, sleep=lambda _s: None)
        ).publish(publication(intent(OSQUERY), 2), journal)
    conn.retire("osquery-linux", journal)
    group = landscape.activities[int(journal.values[ACTIVITY_ID])]
    assert {c.activity_status for c in group.children} == {"canceled"}
    assert landscape.scripts == {}
    assert conn.state("osquery-linux").present is False
    conn.close()


def test_script_code_per_package_type() -> None:
    document = intent(OSQUERY)
    code = script_code(publication(document))
    assert code.startswith("#!/bin/sh\n")
    assert "apt-get install -y" in code
    assert document["package"]["sha256"] in code
    document["package"]["type"] = "snap"
    assert "snap install --dangerous" in script_code(publication(document))
    document["package"]["type"] = "script"
    assert 'sh "$work/package.sh"' in script_code(publication(document))


def test_computer_query() -> None:
    assert computer_query("euc-lab") == "tag:euc-lab"
    for query in ("tag:a tag:b", "tag:finance-exec", "euc-lab OR id:1", "id:7"):
        with pytest.raises(PermanentConnectorError, match="would be read as a query"):
            computer_query(query)


@pytest.mark.parametrize("target", ["tag:finance-exec", "euc-lab OR tag:finance-exec"])
def test_a_query_target_merged_before_validation_is_never_sent(
    landscape: LandscapeDouble, target: str
) -> None:
    document = intent(OSQUERY)
    document["rings"][0]["target"] = target
    for call in (
        lambda: connector(landscape).plan(publication(document)),
        lambda: connector(landscape).publish(publication(document), DictJournal()),
    ):
        with pytest.raises(PermanentConnectorError, match="a Landscape target is a tag name"):
            call()
    assert landscape.requests == []  # not even a read: the plane never sees the query


def test_the_signature_matches_landscapes_canonical_form(landscape: LandscapeDouble) -> None:
    """The connector and the double sign independently; a known request must verify."""
    from bot.doubles.landscape import signature

    fixed = datetime(2011, 8, 18, 8, 7, tzinfo=UTC)
    settings = LandscapeSettings(url=landscape.url, key=KEY, secret=SECRET)
    conn = LandscapeConnector(settings, now=lambda: fixed)
    params = {
        "action": "GetComputers",
        "version": "2011-08-01",
        "timestamp": "2011-08-18T08:07:00Z",
    }
    host = landscape.url.removeprefix("http://")
    assert conn._sign(params) == signature(SECRET, "POST", host, "/api/", params)
    assert base64.b64decode(conn._sign(params))
