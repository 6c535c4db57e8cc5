"""Ansible: launch an AWX / Automation Platform job template, or run the playbook locally.

**AWX mode** (``EUCORA_AWX_URL``). The job template is the one named after the intent
(``metadata.name``), looked up by named URL ``<name>++<organization>`` when
``EUCORA_AWX_ORGANIZATION`` is set, else by ``?name=``. The template must prompt for the limit and
for variables: otherwise AWX would silently drop them (``ignored_fields``) and run the playbook
against the template's whole inventory, so the connector refuses before launching. A launch sends
``limit`` = the ring's target and extra vars ``eucora_intent``, ``eucora_version``,
``eucora_evidence_digest``, ``eucora_ring``, ``eucora_assignment`` and
``eucora_idempotency_key``; the job then follows to a final status.

Exactly one job per publication, even when a response is lost:

1. a journal holding ``awx_job_id`` never launches again: it follows that job;
2. before the first launch the connector journals ``awx_launch_after``, the newest job id of the
   template at that moment;
3. if a launch's answer is lost (timeout, dropped connection, 5xx after the server acted), the
   retry finds ``awx_launch_after`` without ``awx_job_id`` and reads the template's jobs newer than
   it, newest first, looking for one whose extra vars carry this publication's
   ``eucora_idempotency_key``; it adopts that job (journalling its id) instead of launching.

**Local mode** (``EUCORA_ANSIBLE_PLAYBOOK_DIR``, when no AWX URL is set): ansible-runner runs
``<dir>/<intent name>.yml`` (or ``<dir>/site.yml``) in a private data dir, against the configured
inventory or ``localhost`` with a local connection placed in groups named after the ring's target,
with ``limit`` = the target and the same extra vars. The run id
(``eucora-<hash of the idempotency key>``) is journalled first; a journal that holds one never
runs again: it reads the run's recorded status, and a run that left none (the process died
mid-run) is a permanent error for a person to look at, not a second run.

``retire`` cancels the publication's job while it is still running; AWX keeps no standing
assignment to remove (neither does local mode, which forgets its record of the intent).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast
from urllib.parse import quote

import httpx

from bot.core.drift import Marker, Observed
from bot.core.planes import PROFILES
from bot.core.rollout_model import DeviceError, RingOutcomes
from bot.core.semantics import ring_target_problem
from bot.errors import ConfigError, PermanentConnectorError, TransientConnectorError
from connectors import _observe
from connectors._outcomes import count, parse_time, plane_time, sample
from connectors._plane_client import PlaneClient
from connectors._polling import Follow
from connectors.base import (
    Journal,
    Plane,
    PlaneConnector,
    PlaneState,
    PlannedStep,
    Publication,
    PublishResult,
    Ring,
    StepKind,
)
from connectors.settings import AnsibleLocalSettings, AwxSettings, ansible_settings

PLANE: PlaneConnector[AwxSettings | AnsibleLocalSettings] = PlaneConnector(
    profile=PROFILES[Plane.ANSIBLE],
    settings=ansible_settings,
    build=lambda settings, services: build_ansible(settings, follow=services.follow),
)
"""Ansible (a controller or local mode) as the registry finds and builds it."""

JOB_ID = "awx_job_id"
LAUNCH_AFTER = "awx_launch_after"
RUN_ID = "ansible_run_id"
FINAL = frozenset({"successful", "failed", "error", "canceled"})
_PAGE = 50


def limit_of(publication: Publication) -> str:
    """The ring's target as the job's limit: one plain group or host name, never a pattern.

    Validation refuses patterns (``pilot,all``, ``ws:!x``) in the intent; this guards a
    publication made from an intent that was merged before that rule existed.
    """
    target = publication.ring.target
    problem = ring_target_problem("ansible", target)
    if problem is not None:
        raise PermanentConnectorError(f"ansible: {publication.name}: {problem}")
    return target


def settings_of(intent: Mapping[str, Any]) -> Mapping[str, Any]:
    """The intent's ``ansible:`` section (credentials, extra vars, tags), empty when it has none."""
    section = intent.get("ansible")
    return section if isinstance(section, dict) else {}


def extra_vars_of(publication: Publication) -> dict[str, Any]:
    """The extra vars a launch carries: the intent's ``ansible.extraVars``, then ``eucora_*``.

    The ``eucora_*`` vars lead the job back to the change (validation refuses ``eucora_`` names
    in the intent, so these always win).
    """
    return {
        **dict(settings_of(publication.intent).get("extraVars") or {}),
        "eucora_intent": publication.name,
        "eucora_version": publication.version,
        "eucora_evidence_digest": publication.evidence_digest,
        "eucora_ring": publication.ring.name,
        "eucora_assignment": publication.ring.assignment,
        "eucora_idempotency_key": publication.idempotency_key,
    }


_SURVEY_TYPES: Mapping[str, tuple[type, ...]] = {
    "text": (str,),
    "textarea": (str,),
    "password": (str,),
    "integer": (int,),
    "float": (int, float),
    "multiplechoice": (str,),
    "multiselect": (list,),
}


def survey_problem(question: Mapping[str, Any], value: Any) -> str | None:
    """Why AWX's survey would refuse ``value`` for ``question``, or ``None`` when it is fine."""
    kind = str(question.get("type") or "text")
    if isinstance(value, bool) or not isinstance(value, _SURVEY_TYPES.get(kind, (str,))):
        return f"is {json.dumps(value)}, and the survey asks for a {kind}"
    choices = question.get("choices") or []
    options = choices.split("\n") if isinstance(choices, str) else list(choices)
    picked: list[Any] = (
        cast("list[Any]", value)
        if kind == "multiselect"
        else [value]
        if kind == "multiplechoice"
        else []
    )
    outside = [item for item in picked if item not in options]
    if outside:
        return f"is {json.dumps(value)}, and the survey's choices are {', '.join(options)}"
    number = kind in ("integer", "float")
    measure = len(value) if isinstance(value, str) else value if number else None
    low, high = question.get("min"), question.get("max")
    if measure is not None and low is not None and measure < low:
        return f"is {json.dumps(value)}, below the survey's minimum {low}"
    if measure is not None and high is not None and measure > high:
        return f"is {json.dumps(value)}, above the survey's maximum {high}"
    return None


def _awx_message(response: httpx.Response) -> str:
    body = response.json()
    if isinstance(body, dict):
        if "detail" in body:
            return str(body["detail"])
        return "; ".join(f"{key}: {value}" for key, value in body.items())
    return str(body)


class AwxConnector:
    """Ansible through an AWX / Automation Platform controller."""

    plane = Plane.ANSIBLE

    def __init__(
        self,
        settings: AwxSettings,
        *,
        follow: Follow | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._settings = settings
        self._prefix = settings.api_prefix
        self._follow = follow or Follow()
        self._base_url = settings.url.rstrip("/")
        self._http = PlaneClient(
            plane="awx",
            base_url=self._base_url,
            timeout=settings.timeout,
            headers={"Authorization": f"Bearer {settings.token}"},
            secrets=(settings.token,),
            message_of=_awx_message,
            transport=transport,
        )

    def close(self) -> None:
        """Close the HTTP connections."""
        self._http.close()

    # -- the interface ---------------------------------------------------------------------
    def plan(self, publication: Publication) -> tuple[PlannedStep, ...]:
        """Read the template and its prompts; describe the launch (GET requests only)."""
        template = self._template(publication.name)
        self._check_prompts(template, publication)
        credentials = self._credential_ids(publication)
        settings = settings_of(publication.intent)
        names = settings.get("credentials") or ()
        pairs = zip(names, credentials, strict=True)
        sent = (
            [f"credentials {', '.join(f'{n} (id {i})' for n, i in pairs)}"] if credentials else []
        )
        sent += [
            f"{label} {settings[key]}"
            for key, label in (("jobTags", "job tags"), ("skipTags", "skip tags"))
            if settings.get(key)
        ]
        extra = sorted(settings.get("extraVars") or {})
        if extra:
            sent.append(f"extra vars {', '.join(extra)}")
        return (
            PlannedStep(
                kind=StepKind.LAUNCH,
                description=(
                    f"launch AWX job template '{template['name']}' (id {template['id']}) with"
                    f" limit '{limit_of(publication)}' for {publication.name}"
                    f" {publication.version} (ring {publication.ring.name})"
                    + (f"; {'; '.join(sent)}" if sent else "")
                ),
            ),
        )

    def publish(self, publication: Publication, journal: Journal) -> PublishResult:
        """Launch at most one job for the publication and follow it to a final status."""
        job_id = journal.get(JOB_ID)
        created = False
        template: dict[str, Any] | None = None
        if job_id is None:
            template = self._template(publication.name)
            self._check_prompts(template, publication)
            job_id = self._adopt_lost_launch(template, publication, journal)
            if job_id is None:
                job_id = self._launch(template, publication, journal)
                created = True
        job = self._follow.until(
            lambda: self._job(job_id),
            lambda job: job["status"] in FINAL,
            f"awx: job {job_id}",
        )
        if job["status"] != "successful":
            explanation = job.get("job_explanation") or "see the job's output"
            raise PermanentConnectorError(
                f"awx: job {job_id} ended {job['status']}: {self._http.redact(explanation)}"
            )
        return PublishResult(
            object_id=str(job_id),
            created=created,
            details={
                "job_id": str(job_id),
                "status": str(job["status"]),
                "job_template": str(job.get("job_template", template and template["id"])),
                "limit": str(job.get("limit", "")),
                **self._host_counts(job_id),
            },
            url=f"{self._base_url}/#/jobs/playbook/{job_id}/output",
        )

    def state(self, intent_name: str) -> PlaneState:
        """The template and the newest EUCORA job per ring (reads only)."""
        template = self._find_template(intent_name)
        if template is None:
            return PlaneState(present=False)
        rings: dict[str, str] = {}
        version: str | None = None
        read: dict[str, Any] | None = None
        listing = self._http.json(
            "GET",
            f"{self._prefix}/job_templates/{template['id']}/jobs/",
            params={"order_by": "-id", "page_size": _PAGE},
        )
        for summary in listing["results"]:
            job = self._job(str(summary["id"]))
            extra = _extra_vars(job)
            if extra.get("eucora_intent") != intent_name:
                continue
            version = version or extra.get("eucora_version")
            rings.setdefault(str(extra.get("eucora_ring")), str(job["status"]))
            read = read if read is not None else read_job_settings(job)
        return PlaneState(
            present=True,
            version=version,
            rings=rings,
            object_id=str(template["id"]),
            details={"job_template": str(template["name"])},
            settings={"ansible": read} if read else {},
        )

    def observe(self, intent: Mapping[str, Any], rings: Sequence[Ring]) -> Observed:
        """The template and the intent's EUCORA jobs for drift: each newest-version job's limit.

        AWX holds no assignment: a ring is "assigned" by a job of the newest version launched
        with the ring's target as its limit (``eucora_assignment`` its intent); the marker is
        the newest job's ``eucora_*`` extra vars. A job launched by hand on another limit with
        the intent's vars is an extra group.
        """
        del rings
        name = _observe.intent_name(intent)
        template = self._find_template(name)
        if template is None:
            return _observe.absent()
        listing = self._http.json(
            "GET",
            f"{self._prefix}/job_templates/{template['id']}/jobs/",
            params={"order_by": "-id", "page_size": _PAGE},
        )
        jobs = []
        for summary in listing["results"]:
            job = self._job(str(summary["id"]))
            if _extra_vars(job).get("eucora_intent") == name:
                jobs.append(job)
        if not jobs:
            return Observed(present=True, marker=Marker(name=name, version="", evidence=""))
        newest = _extra_vars(jobs[0])
        version = str(newest.get("eucora_version", ""))
        return Observed(
            present=True,
            version=version or None,
            marker=Marker(
                name=name, version=version, evidence=str(newest.get("eucora_evidence_digest", ""))
            ),
            assignments=_observe.assignments(
                (str(job.get("limit", "")), str(_extra_vars(job).get("eucora_assignment")))
                for job in jobs
                if str(_extra_vars(job).get("eucora_version", "")) == version
            ),
        )

    def retire(self, intent_name: str, journal: Journal) -> None:
        """Cancel the publication's job if it is still running (AWX holds no assignment)."""
        del intent_name
        job_id = journal.get(JOB_ID)
        if job_id is None:
            return
        job = self._job(job_id)
        if job["status"] not in FINAL:
            # The cancel operation declares no body: AWX takes an empty POST.
            self._http.request("POST", f"{self._prefix}/jobs/{job_id}/cancel/")

    def outcomes(self, publication: Publication) -> RingOutcomes:
        """The publication's job and its host summaries (``ok``, ``failures``, ``dark``).

        AWX writes a job's host summaries when its play ends: while the job runs, the ring's
        devices are all pending. A host with failures or unreachable (``dark``) failed; one with
        ``ok`` and nothing failed installed; one where every task skipped is not applicable.
        ``as_of`` is the job's ``finished`` time, or the controller's ``Date`` while it runs.
        """
        template = self._template(publication.name)
        job_id = self._job_of(template, publication)
        response = self._http.request("GET", f"{self._prefix}/jobs/{job_id}/")
        job = self._http.decode(response, "GET job")
        status = str(job.get("status"))
        devices = publication.ring.devices
        if status not in FINAL:
            return RingOutcomes(
                targeted=devices,
                installed=0,
                failed=0,
                pending=devices,
                as_of=plane_time(response, lambda: datetime.now(UTC)),
            )
        hosts = self._all_host_summaries(job_id)
        where = f"awx: job {job_id} host summary"
        reading = host_outcomes(
            (
                (str(h.get("host_name")), tuple(count(h, k, where) for k in _COUNTERS))
                for h in hosts
            ),
            str(job.get("job_explanation") or ""),
        )
        pending = max(devices - len(hosts), 0) if status in {"error", "canceled"} else 0
        finished = job.get("finished")
        as_of = (
            parse_time(finished, f"awx: job {job_id} finished")
            if finished
            else plane_time(response, lambda: datetime.now(UTC))
        )
        return reading.with_pending(pending, as_of)

    def _job_of(self, template: dict[str, Any], publication: Publication) -> str:
        """The newest job of the template launched for this publication (its idempotency key)."""
        page = 1
        while True:
            listing = self._http.json(
                "GET",
                f"{self._prefix}/job_templates/{template['id']}/jobs/",
                params={"order_by": "-id", "page_size": _PAGE, "page": page},
            )
            for summary in listing["results"]:
                job = self._job(str(summary["id"]))
                if _extra_vars(job).get("eucora_idempotency_key") == publication.idempotency_key:
                    return str(job["id"])
            if not listing.get("next"):
                raise PermanentConnectorError(
                    f"awx: no job of template '{template['name']}' was launched for"
                    f" {publication.idempotency_key}"
                )
            page += 1

    def _all_host_summaries(self, job_id: str) -> list[dict[str, Any]]:
        hosts: list[dict[str, Any]] = []
        page = 1
        while True:
            listing = self._http.json(
                "GET",
                f"{self._prefix}/jobs/{job_id}/job_host_summaries/",
                params={"page_size": _PAGE, "page": page},
            )
            hosts += listing["results"]
            if not listing.get("next"):
                return hosts
            page += 1

    # -- steps -----------------------------------------------------------------------------
    def _find_template(self, name: str) -> dict[str, Any] | None:
        organization = self._settings.organization
        if organization:
            named = f"{_named(name)}++{_named(organization)}"
            response = self._http.request(
                "GET", f"{self._prefix}/job_templates/{named}/", allow=(404,)
            )
            if response.status_code == 404:
                return None
            return dict(self._http.decode(response, "GET job template"))
        listing = self._http.json("GET", f"{self._prefix}/job_templates/", params={"name": name})
        results = listing["results"]
        if len(results) > 1:
            raise PermanentConnectorError(
                f"awx: {len(results)} job templates are named '{name}':"
                " set EUCORA_AWX_ORGANIZATION to choose one"
            )
        return dict(results[0]) if results else None

    def _template(self, name: str) -> dict[str, Any]:
        template = self._find_template(name)
        if template is None:
            raise PermanentConnectorError(
                f"awx: no job template named '{name}'"
                + (
                    f" in organization '{self._settings.organization}'"
                    if self._settings.organization
                    else ""
                )
            )
        return template

    def _check_prompts(self, template: dict[str, Any], publication: Publication) -> None:
        """The template prompts for everything the launch sends, and the survey takes the vars."""
        info = self._http.json("GET", f"{self._prefix}/job_templates/{template['id']}/launch/")
        settings = settings_of(publication.intent)
        wanted = ["ask_limit_on_launch", "ask_variables_on_launch"] + [
            flag
            for key, flag in (
                ("credentials", "ask_credential_on_launch"),
                ("jobTags", "ask_tags_on_launch"),
                ("skipTags", "ask_skip_tags_on_launch"),
            )
            if settings.get(key)
        ]
        missing = [flag for flag in wanted if not info.get(flag)]
        if missing:
            raise PermanentConnectorError(
                f"awx: job template '{template['name']}' must prompt on launch for"
                f" {' and '.join(missing)}: otherwise AWX ignores the ring's limit or the"
                " change's variables"
            )
        given = extra_vars_of(publication)
        unanswered = [v for v in info.get("variables_needed_to_start") or () if v not in given]
        if info.get("passwords_needed_to_start") or unanswered:
            raise PermanentConnectorError(
                f"awx: job template '{template['name']}' needs passwords or survey answers"
                f" to start{' (' + ', '.join(unanswered) + ')' if unanswered else ''}, which"
                " EUCORA does not supply: answer the survey in ansible.extraVars"
            )
        if info.get("survey_enabled"):
            self._check_survey(template, dict(settings.get("extraVars") or {}))

    def _check_survey(self, template: dict[str, Any], answers: Mapping[str, Any]) -> None:
        """ansible.extraVars that the template's survey asks for are answers it would accept."""
        survey = self._http.json(
            "GET", f"{self._prefix}/job_templates/{template['id']}/survey_spec/"
        )
        for question in survey.get("spec") or ():
            name = str(question.get("variable"))
            if name in answers and (problem := survey_problem(question, answers[name])):
                raise PermanentConnectorError(
                    f"awx: ansible.extraVars.{name} {problem} (job template"
                    f" '{template['name']}', question '{question.get('question_name', name)}')"
                )

    def _credential_ids(self, publication: Publication) -> list[str]:
        """``ansible.credentials`` resolved by name to AWX ids, in the intent's order."""
        ids = []
        for name in settings_of(publication.intent).get("credentials") or ():
            found = self._http.json("GET", f"{self._prefix}/credentials/", params={"name": name})
            results = [c for c in found["results"] if c.get("name") == name]
            if len(results) != 1:
                why = "no credential is" if not results else f"{len(results)} credentials are"
                raise PermanentConnectorError(
                    f"awx: ansible.credentials: {why} named '{name}' in AWX (credentials are"
                    " matched by exact name: create it, or fix the name in the intent)"
                )
            ids.append(str(results[0]["id"]))
        return ids

    def _newest_job_id(self, template_id: int) -> int:
        listing = self._http.json(
            "GET",
            f"{self._prefix}/job_templates/{template_id}/jobs/",
            params={"order_by": "-id", "page_size": 1},
        )
        results = listing["results"]
        return int(results[0]["id"]) if results else 0

    def _adopt_lost_launch(
        self, template: dict[str, Any], publication: Publication, journal: Journal
    ) -> str | None:
        """The job a previous attempt launched but never heard back about, if any."""
        marker = journal.get(LAUNCH_AFTER)
        if marker is None:
            journal.put(LAUNCH_AFTER, str(self._newest_job_id(template["id"])))
            return None
        page = 1
        while True:
            listing = self._http.json(
                "GET",
                f"{self._prefix}/job_templates/{template['id']}/jobs/",
                params={"order_by": "-id", "page_size": _PAGE, "page": page},
            )
            for summary in listing["results"]:
                if int(summary["id"]) <= int(marker):
                    return None
                job = self._job(str(summary["id"]))
                if _extra_vars(job).get("eucora_idempotency_key") == publication.idempotency_key:
                    job_id = str(job["id"])
                    journal.put(JOB_ID, job_id)
                    return job_id
            if not listing.get("next"):
                return None
            page += 1

    def _launch(self, template: dict[str, Any], publication: Publication, journal: Journal) -> str:
        request: dict[str, Any] = {
            "extra_vars": extra_vars_of(publication),
            "limit": limit_of(publication),
        }
        credentials = self._credential_ids(publication)
        if credentials:
            request["credentials"] = [int(c) for c in credentials]
        settings = settings_of(publication.intent)
        for key, field in (("jobTags", "job_tags"), ("skipTags", "skip_tags")):
            if settings.get(key):
                request[field] = str(settings[key])
        body = self._http.json(
            "POST", f"{self._prefix}/job_templates/{template['id']}/launch/", json=request
        )
        job_id = str(body["job"])
        journal.put(JOB_ID, job_id)
        ignored = body.get("ignored_fields") or {}
        if ignored:
            raise PermanentConnectorError(
                f"awx: job {job_id} was launched but AWX ignored {sorted(ignored)}:"
                " check the template's prompts"
            )
        return job_id

    def _job(self, job_id: str) -> dict[str, Any]:
        return dict(self._http.json("GET", f"{self._prefix}/jobs/{job_id}/"))

    def _host_counts(self, job_id: str) -> dict[str, str]:
        listing = self._http.json("GET", f"{self._prefix}/jobs/{job_id}/job_host_summaries/")
        hosts = listing["results"]
        return {
            "hosts": str(len(hosts)),
            "hosts_failed": str(sum(1 for h in hosts if h.get("failed"))),
        }


_COUNTERS = ("ok", "failures", "dark", "skipped")


@dataclass(frozen=True, slots=True)
class HostReading:
    """Host results of one play, counted as a ring's outcomes (AWX and ansible-runner alike)."""

    installed: int
    failed: int
    skipped: int
    errors: list[DeviceError]

    def with_pending(self, pending: int, as_of: datetime) -> RingOutcomes:
        """The reading as ``RingOutcomes``, with hosts not yet reported and the data's time."""
        return RingOutcomes(
            targeted=self.installed + self.failed + self.skipped + pending,
            installed=self.installed,
            failed=self.failed,
            pending=pending,
            not_applicable=self.skipped,
            as_of=as_of,
            errors=sample(self.errors),
        )


def host_outcomes(hosts: Iterable[tuple[str, tuple[int, ...]]], explanation: str) -> HostReading:
    """Count ``(host, ok, failures, dark, skipped)`` rows: failed, installed or not applicable."""
    installed = failed = skipped = 0
    errors: list[DeviceError] = []
    for host, (ok, failures, dark, _skipped) in hosts:
        if failures or dark:
            failed += 1
            code = "unreachable" if dark else "failed"
            message = explanation or f"{failures} task(s) failed, {dark} unreachable"
            errors.append(DeviceError(host, code, message))
        elif ok:
            installed += 1
        else:
            skipped += 1
    return HostReading(installed, failed, skipped, errors)


def _named(name: str) -> str:
    """A name as AWX's named URLs spell it: ``+`` as ``[+]``, then percent-encoded."""
    return quote(name.replace("+", "[+]"), safe="[]")


def read_job_settings(job: Mapping[str, Any]) -> dict[str, Any]:
    """A job's launch settings in the words of the intent's ``ansible:`` section.

    The credentials by name (``summary_fields``), the extra vars other than ``eucora_*``, and
    the job and skip tags; a setting the job does not have is left out.
    """
    found: dict[str, Any] = {}
    names = [
        str(c.get("name"))
        for c in (job.get("summary_fields") or {}).get("credentials") or ()
        if isinstance(c, dict)
    ]
    if names:
        found["credentials"] = names
    extra = {k: v for k, v in _extra_vars(job).items() if not str(k).startswith("eucora_")}
    if extra:
        found["extraVars"] = extra
    for key, field in (("jobTags", "job_tags"), ("skipTags", "skip_tags")):
        if job.get(field):
            found[key] = str(job[field])
    return found


def _extra_vars(job: Mapping[str, Any]) -> dict[str, Any]:
    raw = job.get("extra_vars") or "{}"
    try:
        value = json.loads(raw) if isinstance(raw, str) else raw
    except json.JSONDecodeError:
        return {}
    return dict(value) if isinstance(value, dict) else {}


# -- local mode ---------------------------------------------------------------------------------
_GROUP = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def groups_of(target: str) -> list[str]:
    """The plain, non-negated group names of an Ansible host pattern (``a:b:&c:!d`` → a, b, c)."""
    groups = []
    for token in re.split(r"[:,]", target):
        name = token.strip()
        if name.startswith("!"):
            continue
        name = name.lstrip("&")
        if _GROUP.match(name) and name != "all" and name not in groups:
            groups.append(name)
    return groups


def _refuse_credentials(publication: Publication) -> None:
    if settings_of(publication.intent).get("credentials"):
        raise PermanentConnectorError(
            f"ansible: {publication.name}: ansible.credentials name AWX credentials, and local"
            " mode (EUCORA_ANSIBLE_PLAYBOOK_DIR) runs without a controller: set EUCORA_AWX_URL,"
            " or remove them and give the playbook its credentials in the inventory"
        )


class LocalAnsibleConnector:
    """Ansible run on this machine by ansible-runner (the demo and small sites)."""

    plane = Plane.ANSIBLE

    def __init__(self, settings: AnsibleLocalSettings) -> None:
        self._settings = settings

    def plan(self, publication: Publication) -> tuple[PlannedStep, ...]:
        """Name the playbook that would run (reads the playbook directory only)."""
        _refuse_credentials(publication)
        playbook = self._playbook(publication.name)
        return (
            PlannedStep(
                kind=StepKind.LAUNCH,
                description=(
                    f"run playbook {playbook.name} locally with limit"
                    f" '{limit_of(publication)}' for {publication.name} {publication.version}"
                    f" (ring {publication.ring.name})"
                ),
            ),
        )

    def publish(self, publication: Publication, journal: Journal) -> PublishResult:
        """Run the playbook at most once for the publication; report how it ended."""
        run_id = journal.get(RUN_ID)
        created = run_id is None
        if run_id is None:
            _refuse_credentials(publication)
            playbook = self._playbook(publication.name)
            run_id = self.run_id(publication)
            journal.put(RUN_ID, run_id)
            status, rc = self._run(publication, playbook, run_id)
        else:
            status, rc = self._recorded(run_id)
        self._remember(publication, status, run_id)
        if status != "successful":
            raise PermanentConnectorError(
                f"ansible: local run {run_id} ended {status} (rc {rc});"
                f" see {self._settings.data_dir / 'artifacts' / run_id / 'stdout'}"
            )
        return PublishResult(
            object_id=run_id,
            created=created,
            details={"run_id": run_id, "status": status, "rc": str(rc)},
        )

    def state(self, intent_name: str) -> PlaneState:
        """What the local runs recorded for the intent."""
        record = self._record_path(intent_name)
        if not record.is_file():
            return PlaneState(present=False)
        data = json.loads(record.read_text(encoding="utf-8"))
        return PlaneState(
            present=True,
            version=data.get("version"),
            rings=dict(data.get("rings", {})),
            object_id=data.get("run_id"),
        )

    def observe(self, intent: Mapping[str, Any], rings: Sequence[Ring]) -> Observed:
        """What the local runs recorded, for drift: each recorded ring on its target."""
        name = _observe.intent_name(intent)
        record = self._record_path(name)
        if not record.is_file():
            return _observe.absent()
        data = json.loads(record.read_text(encoding="utf-8"))
        version = data.get("version")
        targets = [_observe.target_of(rings, str(ring)) for ring in data.get("rings", {})]
        return Observed(
            present=True,
            version=version,
            marker=Marker(name=name, version=str(version or ""), evidence=""),
            assignments=_observe.assignments(
                (target, "required") for target in targets if target is not None
            ),
        )

    def outcomes(self, publication: Publication) -> RingOutcomes:
        """The run's per-host results, from ansible-runner's ``playbook_on_stats`` event.

        ansible-runner records every event of a run under ``artifacts/<run id>/job_events``;
        the stats event holds ``ok``, ``failures``, ``dark`` and ``skipped`` per host and its
        ``created`` time is ``as_of``. A run with no artifacts, or none with stats, raises.
        """
        run_id = self.run_id(publication)
        events = self._settings.data_dir / "artifacts" / run_id / "job_events"
        if not events.is_dir():
            raise PermanentConnectorError(
                f"ansible: no local run {run_id} recorded for {publication.idempotency_key}"
            )
        stats = None
        for path in sorted(events.glob("*.json")):
            try:
                event = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as error:
                raise TransientConnectorError(f"ansible: {path.name}: {error}") from None
            if isinstance(event, dict) and event.get("event") == "playbook_on_stats":
                stats = event
        if stats is None:
            raise TransientConnectorError(f"ansible: local run {run_id} has no host results yet")
        data = stats.get("event_data") or {}
        where = f"ansible: local run {run_id} stats"
        per = {k: data.get(k) or {} for k in _COUNTERS}
        hosts = sorted({h for counters in per.values() for h in counters})
        reading = host_outcomes(
            (
                (h, tuple(count(per[k], h, where) if h in per[k] else 0 for k in _COUNTERS))
                for h in hosts
            ),
            "",
        )
        return reading.with_pending(0, parse_time(stats.get("created"), where))

    @staticmethod
    def run_id(publication: Publication) -> str:
        """The local run's id, derived from the publication's idempotency key."""
        return "eucora-" + hashlib.sha256(publication.idempotency_key.encode()).hexdigest()[:20]

    def retire(self, intent_name: str, journal: Journal) -> None:
        """Forget the intent locally (a finished local run has nothing to cancel)."""
        del journal
        self._record_path(intent_name).unlink(missing_ok=True)

    # -- steps -----------------------------------------------------------------------------
    def _playbook(self, name: str) -> Path:
        for candidate in (f"{name}.yml", f"{name}.yaml", "site.yml"):
            path = self._settings.playbook_dir / candidate
            if path.is_file():
                return path
        raise ConfigError(
            f"EUCORA_ANSIBLE_PLAYBOOK_DIR: neither {name}.yml nor site.yml is in"
            f" {self._settings.playbook_dir}"
        )

    def _inventory(self, publication: Publication, run_id: str) -> str:
        if self._settings.inventory is not None:
            return str(self._settings.inventory.resolve())
        local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
        inventory = {
            "all": {
                "hosts": {"localhost": local},
                "children": {
                    group: {"hosts": {"localhost": {}}}
                    for group in groups_of(publication.ring.target)
                },
            }
        }
        path = self._settings.data_dir / "inventories" / f"{run_id}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(inventory), encoding="utf-8")
        return str(path.resolve())

    def _run(self, publication: Publication, playbook: Path, run_id: str) -> tuple[str, int]:
        import ansible_runner  # noqa: PLC0415 - heavy import, only when a playbook runs

        self._settings.data_dir.mkdir(parents=True, exist_ok=True)
        # ansible-playbook sits next to this interpreter when EUCORA runs from a virtualenv
        # that is not activated: put that directory first on the run's PATH.
        bin_dir = Path(sys.executable).parent
        path = os.pathsep.join(p for p in (str(bin_dir), os.environ.get("PATH", "")) if p)
        runner = ansible_runner.run(
            private_data_dir=str(self._settings.data_dir.resolve()),
            playbook=str(playbook.resolve()),
            inventory=self._inventory(publication, run_id),
            extravars={**self._settings.extra_vars, **extra_vars_of(publication)},
            limit=limit_of(publication),
            tags=settings_of(publication.intent).get("jobTags") or None,
            skip_tags=settings_of(publication.intent).get("skipTags") or None,
            ident=run_id,
            quiet=True,
            envvars={"PATH": path, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_RETRY_FILES_ENABLED": "0"},
        )
        return str(runner.status), int(runner.rc)

    def _recorded(self, run_id: str) -> tuple[str, int]:
        artifacts = self._settings.data_dir / "artifacts" / run_id
        status_file, rc_file = artifacts / "status", artifacts / "rc"
        if not status_file.is_file():
            raise PermanentConnectorError(
                f"ansible: local run {run_id} was started but left no final status in"
                f" {artifacts}; not running it again"
            )
        rc = rc_file.read_text(encoding="utf-8").strip() if rc_file.is_file() else "-1"
        return status_file.read_text(encoding="utf-8").strip(), int(rc or -1)

    def _record_path(self, intent_name: str) -> Path:
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", intent_name)
        return self._settings.data_dir / "eucora-state" / f"{safe}.json"

    def _remember(self, publication: Publication, status: str, run_id: str) -> None:
        path = self._record_path(publication.name)
        path.parent.mkdir(parents=True, exist_ok=True)
        data = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
        data.setdefault("rings", {})[publication.ring.name] = status
        data["version"] = publication.version
        data["run_id"] = run_id
        path.write_text(json.dumps(data, sort_keys=True), encoding="utf-8")


def build_ansible(
    settings: AwxSettings | AnsibleLocalSettings, *, follow: Follow | None = None
) -> AwxConnector | LocalAnsibleConnector:
    """The controller's connector for AWX settings, else the local one."""
    if isinstance(settings, AwxSettings):
        return AwxConnector(settings, follow=follow)
    return LocalAnsibleConnector(settings)


def build_ansible_connector(
    awx: AwxSettings | None, local: AnsibleLocalSettings | None, *, follow: Follow | None = None
) -> AwxConnector | LocalAnsibleConnector | None:
    """AWX when configured, else local mode when configured, else ``None``."""
    settings = awx if awx is not None else local
    return None if settings is None else build_ansible(settings, follow=follow)
