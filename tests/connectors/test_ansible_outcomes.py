"""Reading a ring's outcomes back from AWX job host summaries and ansible-runner's host results."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.core.rollout_model import DeviceError
from bot.doubles.awx import AwxDouble
from bot.errors import PermanentConnectorError, TransientConnectorError
from connectors._polling import Follow
from connectors.ansible import AwxConnector, LocalAnsibleConnector
from connectors.settings import AnsibleLocalSettings, AwxSettings
from tests.support.plane_publications import (
    CLIENT_TIMEOUT,
    DictJournal,
    intent,
    no_wait,
    publication,
)

TOKEN = "awx-secret-token-9f2c"  # noqa: S105 - the double's test credential
CIS = "linux/cis-hardening.yaml"
PLANE_NOW = datetime(2025, 5, 6, 7, 8, 9, tzinfo=UTC)


@pytest.fixture
def awx() -> Iterator[AwxDouble]:
    double = AwxDouble(token=TOKEN)
    double.add_job_template("cis-ubuntu-2404-l1", organization="Contoso")
    double.clock = lambda: PLANE_NOW
    with double:
        yield double
    assert double.violations == []


def connector(double: AwxDouble, follow: Follow | None = None) -> AwxConnector:
    settings = AwxSettings(url=double.url, token=TOKEN, timeout=CLIENT_TIMEOUT)  # type: ignore[call-arg]
    return AwxConnector(settings, follow=follow or no_wait())


def test_a_finished_job_counts_its_host_summaries(awx: AwxDouble) -> None:
    pub = publication(intent(CIS))
    awx.set_outcomes(
        pub.ring.target,
        installed=52,
        failed=2,
        not_applicable=1,
        errors=[("unreachable", ""), ("failed", "")],
    )
    with pytest.raises(PermanentConnectorError):  # the job failed on two hosts
        connector(awx).publish(pub, DictJournal())

    read = connector(awx).outcomes(pub)

    assert (read.targeted, read.installed, read.failed, read.pending, read.not_applicable) == (
        55,
        52,
        2,
        0,
        1,
    )
    assert read.as_of == PLANE_NOW  # the job's ``finished``
    target = pub.ring.target
    assert read.errors == (
        DeviceError(f"{target}-053", "unreachable", "playbook failed on ws-002"),
        DeviceError(f"{target}-054", "failed", "playbook failed on ws-002"),
    )
    pages = [s for s in awx.requests if "job_host_summaries" in s.path]
    assert len(pages) == 2, "55 hosts at 50 per page is two pages: every page must be read"


def test_a_running_job_is_all_pending_as_of_the_controller_clock(awx: AwxDouble) -> None:
    pub = publication(intent(CIS))
    awx.set_outcomes(pub.ring.target, installed=3, pending=4)
    stopped = Follow(interval=0.0, timeout=0.0, sleep=lambda _s: None)
    with pytest.raises(TransientConnectorError):  # still running when the follow gives up
        connector(awx, stopped).publish(pub, DictJournal())

    read = connector(awx).outcomes(pub)

    devices = pub.ring.devices
    assert (read.targeted, read.installed, read.failed, read.pending) == (devices, 0, 0, devices)
    assert read.as_of == PLANE_NOW  # the controller's Date header, not this machine's clock


def test_a_5xx_on_host_summaries_raises(awx: AwxDouble) -> None:
    pub = publication(intent(CIS))
    awx.set_outcomes(pub.ring.target, installed=3)
    connector(awx).publish(pub, DictJournal())
    awx.inject("500", "job_host_summaries")

    with pytest.raises(TransientConnectorError, match="HTTP 500"):
        connector(awx).outcomes(pub)


def test_a_publication_never_launched_is_an_error(awx: AwxDouble) -> None:
    with pytest.raises(PermanentConnectorError, match="no job of template"):
        connector(awx).outcomes(publication(intent(CIS)))


def _local(tmp_path: Path) -> LocalAnsibleConnector:
    return LocalAnsibleConnector(AnsibleLocalSettings(playbook_dir=tmp_path, data_dir=tmp_path))  # type: ignore[call-arg]


def _record_stats(tmp_path: Path, run_id: str, stats: dict[str, dict[str, int]]) -> None:
    """The events ansible-runner writes under artifacts/<ident>/job_events (its own format)."""
    events = tmp_path / "artifacts" / run_id / "job_events"
    events.mkdir(parents=True)
    start = {"event": "playbook_on_start", "counter": 1, "created": "2025-05-06T07:00:00.000001"}
    end = {
        "event": "playbook_on_stats",
        "counter": 9,
        "created": "2025-05-06T07:01:30.123456",
        "event_data": {**stats, "changed": {}, "processed": {}, "ignored": {}, "rescued": {}},
    }
    for event in (start, end):
        name = f"{event['counter']}-{event['event']}.json"
        (events / name).write_text(json.dumps(event), encoding="utf-8")


def test_local_mode_reads_the_runner_host_results(tmp_path: Path) -> None:
    pub = publication(intent(CIS))
    local = _local(tmp_path)
    _record_stats(
        tmp_path,
        local.run_id(pub),
        {
            "ok": {"web1": 5, "web2": 5, "web3": 2},
            "failures": {"web3": 1},
            "dark": {"web4": 1},
            "skipped": {"web5": 3},
        },
    )

    read = local.outcomes(pub)

    assert (read.targeted, read.installed, read.failed, read.not_applicable) == (5, 2, 2, 1)
    assert read.as_of == datetime(2025, 5, 6, 7, 1, 30, 123456, tzinfo=UTC)
    assert [(e.device, e.code) for e in read.errors] == [
        ("web3", "failed"),
        ("web4", "unreachable"),
    ]


def test_local_mode_without_a_run_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(PermanentConnectorError, match="no local run"):
        _local(tmp_path).outcomes(publication(intent(CIS)))
