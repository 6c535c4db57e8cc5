"""The Ansible connector against the AWX double, and local mode with a real ansible-runner run."""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.doubles.awx import AwxDouble
from bot.errors import PermanentConnectorError, TransientConnectorError
from connectors._polling import Follow
from connectors.ansible import (
    JOB_ID,
    LAUNCH_AFTER,
    RUN_ID,
    AwxConnector,
    LocalAnsibleConnector,
    build_ansible_connector,
    groups_of,
)
from connectors.base import Plane, StepKind
from connectors.settings import AnsibleLocalSettings, AwxSettings
from tests.support.plane_publications import (
    CLIENT_TIMEOUT,
    ROOT,
    DictJournal,
    intent,
    no_wait,
    publication,
)

TOKEN = "awx-secret-token-9f2c"  # noqa: S105 - the double's test credential
CIS = "linux/cis-hardening.yaml"


@pytest.fixture
def awx() -> Iterator[AwxDouble]:
    double = AwxDouble(token=TOKEN)
    double.add_job_template("cis-ubuntu-2404-l1", organization="Contoso")
    with double:
        yield double
    assert double.violations == []


def connector(double: AwxDouble, **kwargs: object) -> AwxConnector:
    settings = AwxSettings(url=double.url, token=TOKEN, timeout=CLIENT_TIMEOUT, **kwargs)  # type: ignore[arg-type]
    return AwxConnector(settings, follow=no_wait())


def test_publish_launches_one_job_with_the_change_in_its_extra_vars(awx: AwxDouble) -> None:
    pub = publication(intent(CIS))
    journal = DictJournal()

    result = connector(awx).publish(pub, journal)

    assert awx.creates["launch"] == 1
    job = awx.launches()[0]
    assert job.limit == "ws_lab"
    assert job.extra_vars == {
        "cis_level": "1",  # the example's ansible.extraVars
        "cis_profile": "workstation",
        "eucora_intent": "cis-ubuntu-2404-l1",
        "eucora_version": "1.3.0",
        "eucora_evidence_digest": pub.evidence_digest,
        "eucora_ring": "lab",
        "eucora_assignment": "required",
        "eucora_idempotency_key": pub.idempotency_key,
    }
    assert result.created is True
    assert result.object_id == str(job.id)
    assert result.details["status"] == "successful"
    assert result.details["hosts"] == "2"
    assert journal.values[JOB_ID] == str(job.id)
    # The marker is journalled before the launch, the job id right after it.
    assert [key for key, _ in journal.writes] == [LAUNCH_AFTER, JOB_ID]


def test_a_second_publish_follows_the_journalled_job_and_never_launches(awx: AwxDouble) -> None:
    pub = publication(intent(CIS))
    journal = DictJournal()
    first = connector(awx).publish(pub, journal)
    second = connector(awx).publish(pub, journal)
    assert awx.creates["launch"] == 1
    assert second.object_id == first.object_id
    assert second.created is False


def test_named_url_lookup_with_an_organization(awx: AwxDouble) -> None:
    result = connector(awx, organization="Contoso").publish(publication(intent(CIS)), DictJournal())
    assert result.details["status"] == "successful"
    assert any("++Contoso" in path for path in (seen.path for seen in awx.requests))
    with pytest.raises(PermanentConnectorError, match=r"no job template named .* in organization"):
        connector(awx, organization="Elsewhere").publish(publication(intent(CIS)), DictJournal())


@pytest.mark.parametrize("kind", ["drop", "hang-after", "hang", "500"])
def test_a_launch_whose_answer_is_lost_is_adopted_not_repeated(awx: AwxDouble, kind: str) -> None:
    pub = publication(intent(CIS))
    journal = DictJournal()
    awx.inject(kind, "/launch/$", method="POST")  # type: ignore[arg-type]
    with pytest.raises(TransientConnectorError):
        connector(awx).publish(pub, journal)
    # "500" and "hang" never reach the launch; "drop" and "hang-after" launch, then lose the answer.
    launched = awx.creates["launch"]
    assert launched == (1 if kind in {"drop", "hang-after"} else 0)
    assert JOB_ID not in journal.values

    result = connector(awx).publish(pub, journal)

    assert awx.creates["launch"] == 1
    assert journal.values[JOB_ID] == result.object_id == str(awx.launches()[0].id)
    assert result.created is (launched == 0)


def test_adoption_ignores_jobs_of_other_publications(awx: AwxDouble) -> None:
    lab, pilot = publication(intent(CIS), 0), publication(intent(CIS), 1)
    journal = DictJournal()
    awx.inject("drop", "/launch/$", method="POST")
    with pytest.raises(TransientConnectorError):
        connector(awx).publish(lab, journal)
    connector(awx).publish(pilot, DictJournal())  # someone else's job, newer than the marker
    connector(awx).publish(lab, journal)
    assert awx.creates["launch"] == 2
    assert {job.extra_vars["eucora_ring"] for job in awx.launches()} == {"lab", "pilot"}


def test_throttling_is_transient_with_retry_after(awx: AwxDouble) -> None:
    awx.inject("429", "", retry_after=7)
    with pytest.raises(TransientConnectorError) as caught:
        connector(awx).publish(publication(intent(CIS)), DictJournal())
    assert caught.value.retry_after == 7
    assert "429" in str(caught.value)
    # The error crosses Celery's pickling intact.
    again = pickle.loads(pickle.dumps(caught.value))  # noqa: S301 - our own bytes
    assert (str(again), again.retry_after) == (str(caught.value), 7)


def test_a_job_still_running_is_transient_and_the_retry_follows_it(awx: AwxDouble) -> None:
    awx.steps_to_finish = 50
    ticks = iter(range(1000))
    follow = Follow(interval=1.0, timeout=3.0, sleep=lambda _s: None, clock=lambda: next(ticks))
    settings = AwxSettings(url=awx.url, token=TOKEN, timeout=CLIENT_TIMEOUT)
    journal = DictJournal()
    pub = publication(intent(CIS))
    with pytest.raises(TransientConnectorError, match="has not finished") as caught:
        AwxConnector(settings, follow=follow).publish(pub, journal)
    assert caught.value.retry_after == 1.0
    awx.steps_to_finish = 1
    result = AwxConnector(settings, follow=no_wait()).publish(pub, journal)
    assert result.details["status"] == "successful"
    assert awx.creates["launch"] == 1


def test_a_failed_job_is_permanent_with_awx_explanation(awx: AwxDouble) -> None:
    awx.templates[next(iter(awx.templates))].outcome = "failed"
    journal = DictJournal()
    with pytest.raises(PermanentConnectorError, match="ended failed: playbook failed"):
        connector(awx).publish(publication(intent(CIS)), journal)
    assert JOB_ID in journal.values


def test_a_template_that_would_ignore_the_limit_is_refused_before_launch(awx: AwxDouble) -> None:
    awx.templates[next(iter(awx.templates))].ask_limit_on_launch = False
    with pytest.raises(PermanentConnectorError, match="ask_limit_on_launch"):
        connector(awx).publish(publication(intent(CIS)), DictJournal())
    assert awx.creates["launch"] == 0


def test_missing_template_and_refused_token_are_permanent_without_the_token(awx: AwxDouble) -> None:
    other = intent(CIS, metadata={"name": "no-such-template", "owner": "x/y"})
    with pytest.raises(PermanentConnectorError, match="no job template named 'no-such-template'"):
        connector(awx).publish(publication(other), DictJournal())
    bad = AwxConnector(AwxSettings(url=awx.url, token="wrong-token-123", timeout=CLIENT_TIMEOUT))  # noqa: S106
    with pytest.raises(PermanentConnectorError) as caught:
        bad.plan(publication(intent(CIS)))
    assert "401" in str(caught.value)
    assert "wrong-token-123" not in str(caught.value)
    assert TOKEN not in str(caught.value)


def test_two_templates_with_one_name_need_an_organization(awx: AwxDouble) -> None:
    awx.add_job_template("cis-ubuntu-2404-l1", organization="Other")
    with pytest.raises(PermanentConnectorError, match="EUCORA_AWX_ORGANIZATION"):
        connector(awx).plan(publication(intent(CIS)))


@pytest.mark.parametrize("target", ["pilot,all", "pilot:all", "ws_all:!ws_exempt", "ws_*"])
def test_a_host_pattern_target_is_never_sent_as_the_limit(awx: AwxDouble, target: str) -> None:
    document = intent(CIS)
    document["rings"][0]["target"] = target
    connector_ = connector(awx)
    with pytest.raises(PermanentConnectorError, match="would be read as a host pattern"):
        connector_.plan(publication(document))
    with pytest.raises(PermanentConnectorError, match="would be read as a host pattern"):
        connector_.publish(publication(document), DictJournal())
    assert awx.creates["launch"] == 0
    assert awx.launches() == []


def test_plan_sends_only_reads(awx: AwxDouble) -> None:
    steps = connector(awx).plan(publication(intent(CIS), 1))
    assert [s.kind for s in steps] == [StepKind.LAUNCH]
    assert "limit 'ws_pilot'" in steps[0].description
    assert {seen.method for seen in awx.requests} == {"GET"}
    assert awx.creates["launch"] == 0


def test_state_reads_back_the_newest_job_per_ring_and_retire_cancels(awx: AwxDouble) -> None:
    conn = connector(awx)
    assert conn.state("cis-ubuntu-2404-l1").rings == {}
    assert conn.state("no-such-template").present is False
    conn.publish(publication(intent(CIS), 0), DictJournal())
    state = conn.state("cis-ubuntu-2404-l1")
    assert state.present is True
    assert state.version == "1.3.0"
    assert state.rings == {"lab": "successful"}

    # A job still running when the intent is retired is cancelled.
    awx.steps_to_finish = 50
    journal = DictJournal()
    with pytest.raises(TransientConnectorError):
        AwxConnector(
            AwxSettings(url=awx.url, token=TOKEN, timeout=CLIENT_TIMEOUT),
            follow=Follow(interval=0.0, timeout=0.0, sleep=lambda _s: None),
        ).publish(publication(intent(CIS), 1), journal)
    conn.retire("cis-ubuntu-2404-l1", journal)
    assert awx.jobs[int(journal.values[JOB_ID])].status == "canceled"
    conn.retire("cis-ubuntu-2404-l1", DictJournal())  # nothing journalled: nothing to do
    conn.close()


def test_a_gateway_prefix_is_honoured() -> None:
    double = AwxDouble(token=TOKEN, api_prefix="/api/controller/v2")
    double.add_job_template("cis-ubuntu-2404-l1")
    with double:
        settings = AwxSettings(url=double.url, token=TOKEN, api_prefix="/api/controller/v2")
        result = AwxConnector(settings, follow=no_wait()).publish(
            publication(intent(CIS)), DictJournal()
        )
    assert result.details["status"] == "successful"
    assert double.violations == []


def test_the_doubles_environ_configures_the_connector(awx: AwxDouble) -> None:
    settings = AwxSettings.from_environ(awx.environ())
    assert settings is not None
    built = build_ansible_connector(settings, None, follow=no_wait())
    assert isinstance(built, AwxConnector)
    assert built.publish(publication(intent(CIS)), DictJournal()).details["status"] == "successful"


def test_build_picks_awx_then_local_then_nothing(tmp_path: Path) -> None:
    awx_settings = AwxSettings(url="http://127.0.0.1:9", token=TOKEN)
    local = AnsibleLocalSettings(playbook_dir=tmp_path, data_dir=tmp_path)
    assert isinstance(build_ansible_connector(awx_settings, local), AwxConnector)
    built = build_ansible_connector(None, local)
    assert isinstance(built, LocalAnsibleConnector)
    assert built.plane is Plane.ANSIBLE
    assert build_ansible_connector(None, None) is None


def test_groups_of_host_patterns() -> None:
    assert groups_of("ws_all:!ws_exempt") == ["ws_all"]
    assert groups_of("web,db:&prod") == ["web", "db", "prod"]
    assert groups_of("all") == []
    assert groups_of("10.0.0.*") == []


# -- local mode: a real ansible-runner run against localhost ---------------------------------------
@pytest.fixture
def local(tmp_path: Path) -> tuple[LocalAnsibleConnector, Path]:
    markers = tmp_path / "markers"
    settings = AnsibleLocalSettings(
        playbook_dir=ROOT / "examples" / "ansible",
        data_dir=tmp_path / "runner",
        extra_vars={"eucora_marker_dir": str(markers)},
    )
    return LocalAnsibleConnector(settings), markers


@pytest.mark.slow
def test_local_mode_runs_the_example_playbook_once(
    local: tuple[LocalAnsibleConnector, Path],
) -> None:
    conn, markers = local
    pub = publication(intent(CIS), 2)  # target ws_broad
    journal = DictJournal()

    plan = conn.plan(pub)
    assert not markers.exists(), "plan ran something"
    assert "site.yml" in plan[0].description

    result = conn.publish(pub, journal)

    marker = markers / "cis-ubuntu-2404-l1-1.3.0.txt"
    text = marker.read_text()
    assert "ring=broad" in text
    assert f"key={pub.idempotency_key}" in text
    assert f"evidence={pub.evidence_digest}" in text
    assert "host=localhost" in text
    assert result.created is True
    assert result.details["status"] == "successful"
    assert journal.writes == [(RUN_ID, result.object_id)]

    # A second publish reads the recorded run instead of running the playbook again.
    marker.unlink()
    again = conn.publish(pub, journal)
    assert again.created is False
    assert again.object_id == result.object_id
    assert not marker.exists()

    state = conn.state("cis-ubuntu-2404-l1")
    assert (state.present, state.version, dict(state.rings)) == (
        True,
        "1.3.0",
        {"broad": "successful"},
    )
    conn.retire("cis-ubuntu-2404-l1", journal)
    assert conn.state("cis-ubuntu-2404-l1").present is False


@pytest.mark.slow
def test_local_mode_failure_is_permanent(tmp_path: Path) -> None:
    playbooks = tmp_path / "playbooks"
    playbooks.mkdir()
    (playbooks / "cis-ubuntu-2404-l1.yml").write_text(
        "- hosts: all\n  gather_facts: false\n  tasks:\n"
        "    - ansible.builtin.fail:\n        msg: refused on purpose\n"
    )
    conn = LocalAnsibleConnector(
        AnsibleLocalSettings(playbook_dir=playbooks, data_dir=tmp_path / "runner")
    )
    with pytest.raises(PermanentConnectorError, match="ended failed"):
        conn.publish(publication(intent(CIS)), DictJournal())


def test_local_mode_never_reruns_a_run_that_left_no_status(
    local: tuple[LocalAnsibleConnector, Path],
) -> None:
    conn, markers = local
    journal = DictJournal()
    journal.put(RUN_ID, "eucora-interrupted")
    with pytest.raises(PermanentConnectorError, match="left no final status"):
        conn.publish(publication(intent(CIS)), journal)
    assert not markers.exists()


def test_local_mode_without_a_playbook_is_a_config_error(tmp_path: Path) -> None:
    conn = LocalAnsibleConnector(AnsibleLocalSettings(playbook_dir=tmp_path, data_dir=tmp_path))
    from bot.errors import ConfigError

    with pytest.raises(ConfigError, match=r"neither cis-ubuntu-2404-l1\.yml nor site\.yml"):
        conn.plan(publication(intent(CIS)))


def test_local_state_record_is_plain_json(local: tuple[LocalAnsibleConnector, Path]) -> None:
    conn, _ = local
    assert conn.state("anything").present is False
    record = conn._record_path("a/b c")
    assert record.name == "a_b_c.json"
