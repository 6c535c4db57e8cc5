"""A local double of the AWX / Automation Platform controller API (``/api/v2``).

Holds job templates and jobs, enforces Bearer (or Basic) auth, and checks every request against
the Swagger subset in ``data/awx/swagger-subset.json`` (cut from ansible/awx by
``scripts/extract_plane_fixtures_awx.py``): the method and path must exist, query parameters must be
declared there or be one of AWX's documented list filters (``name``, ``order_by``); launch bodies,
untyped in that export, are checked against the fields ``JobLaunchSerializer`` accepts. It follows
AWX's launch rules: prompted fields are honoured only when the template's ``ask_*_on_launch`` is
true and are otherwise returned in ``ignored_fields``; a launch answers ``201`` with ``Location``.
A job moves new → pending → running → successful (or the template's configured outcome), one step
per read of the job, so tests can follow it without sleeping. ``creates["launch"]`` counts launches.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from typing import Any, cast

from bot.doubles._console import ConsoleEdit, ConsoleEdits
from bot.doubles._json_double import Call, JsonDouble, Reply

LAUNCH_FIELDS = frozenset(
    {
        "extra_vars", "inventory", "credentials", "credential_passwords", "limit", "job_tags",
        "skip_tags", "job_type", "verbosity", "diff_mode", "scm_branch", "execution_environment",
        "labels", "forks", "job_slice_count", "timeout", "instance_groups",
    }
)  # fmt: skip
"""Fields ``JobLaunchSerializer`` accepts (ansible/awx ``awx/api/serializers.py``)."""

PROMPTS = {
    "limit": "ask_limit_on_launch",
    "extra_vars": "ask_variables_on_launch",
    "credentials": "ask_credential_on_launch",
    "job_tags": "ask_tags_on_launch",
    "skip_tags": "ask_skip_tags_on_launch",
}
"""Launch fields and the template flag that must be true for AWX to honour each."""
SURVEY_TYPES = {
    "text": (str,),
    "textarea": (str,),
    "password": (str,),
    "integer": (int,),
    "float": (int, float),
    "multiplechoice": (str,),
    "multiselect": (list,),
}
"""Survey question types (AWX ``awx/main/models/mixins.py`` ``SurveyJobTemplateMixin``) and
the JSON values an answer of each may be."""
LIST_FILTERS = frozenset({"name", "order_by"})
"""Query parameters AWX documents for every list (filtering.rst, sorting) beyond the Swagger's."""
FINAL = frozenset({"successful", "failed", "error", "canceled"})
_PROGRESS = ("new", "pending", "running")


def _load_swagger() -> dict[str, Any]:
    text = resources.files("bot.doubles").joinpath("data/awx/swagger-subset.json").read_text()
    return dict(json.loads(text))


@dataclass(slots=True)
class JobTemplate:
    """A job template the double holds."""

    id: int
    name: str
    organization: str
    ask_limit_on_launch: bool = True
    ask_variables_on_launch: bool = True
    ask_credential_on_launch: bool = True
    ask_tags_on_launch: bool = True
    ask_skip_tags_on_launch: bool = True
    survey: list[dict[str, Any]] | None = None
    """The survey's questions (``spec``), or ``None`` when the template has no survey."""
    outcome: str = "successful"
    """The status its jobs end with."""
    hosts: tuple[str, ...] = ("ws-001", "ws-002")

    def as_json(self) -> dict[str, Any]:
        """The object as the API serialises it."""
        return {
            "id": self.id,
            "type": "job_template",
            "url": f"/api/v2/job_templates/{self.id}/",
            "name": self.name,
            "summary_fields": {"organization": {"name": self.organization}},
            "ask_limit_on_launch": self.ask_limit_on_launch,
            "ask_variables_on_launch": self.ask_variables_on_launch,
            "ask_credential_on_launch": self.ask_credential_on_launch,
            "ask_tags_on_launch": self.ask_tags_on_launch,
            "ask_skip_tags_on_launch": self.ask_skip_tags_on_launch,
            "survey_enabled": self.survey is not None,
        }


@dataclass(slots=True)
class Credential:
    """A credential the double holds (name, kind and organization; never its secret)."""

    id: int
    name: str
    kind: str = "ssh"
    organization: str = "Default"

    def as_json(self) -> dict[str, Any]:
        """The object as the API serialises it (secrets are never listed)."""
        return {
            "id": self.id,
            "type": "credential",
            "url": f"/api/v2/credentials/{self.id}/",
            "name": self.name,
            "kind": self.kind,
            "summary_fields": {"organization": {"name": self.organization}},
        }


@dataclass(slots=True)
class Job:
    """A job the double launched."""

    id: int
    template: JobTemplate
    extra_vars: dict[str, Any]
    limit: str
    credentials: tuple[Credential, ...] = ()
    job_tags: str = ""
    skip_tags: str = ""
    reads: int = 0
    status: str = "new"
    events: list[str] = field(default_factory=list)
    finished: datetime | None = None

    def as_json(self) -> dict[str, Any]:
        """The object as the API serialises it."""
        return {
            "id": self.id,
            "type": "job",
            "url": f"/api/v2/jobs/{self.id}/",
            "name": self.template.name,
            "job_template": self.template.id,
            "status": self.status,
            "failed": self.status in {"failed", "error"},
            "limit": self.limit,
            "extra_vars": json.dumps(self.extra_vars),
            "job_tags": self.job_tags,
            "skip_tags": self.skip_tags,
            "summary_fields": {
                "credentials": [
                    {"id": c.id, "name": c.name, "kind": c.kind} for c in self.credentials
                ]
            },
            "launch_type": "manual",
            "job_explanation": "" if self.status != "failed" else "playbook failed on ws-002",
            "finished": None
            if self.finished is None
            else self.finished.isoformat().replace("+00:00", "Z"),
        }


class AwxDouble(ConsoleEdits, JsonDouble):
    """AWX on loopback: job templates, launches, jobs, their events and host summaries."""

    plane = "awx"

    def __init__(
        self,
        *,
        token: str = "awx-test-token",  # noqa: S107 - a test double's credential
        basic: tuple[str, str] = ("admin", "awx-test-password"),
        api_prefix: str = "/api/v2",
        steps_to_finish: int = 2,
    ) -> None:
        super().__init__()
        self.token = token
        self.basic = basic
        self.api_prefix = api_prefix.rstrip("/")
        self.steps_to_finish = steps_to_finish
        self.templates: dict[int, JobTemplate] = {}
        self.jobs: dict[int, Job] = {}
        self.credentials: dict[int, Credential] = {}
        self._next_job = 100
        swagger = _load_swagger()
        self._routes = [
            (re.compile("^" + re.sub(r"\{id\}", "[^/]+", path) + "$"), path, item)
            for path, item in swagger["paths"].items()
        ]

    # -- set-up ----------------------------------------------------------------------------
    _console_fields = ("templates", "jobs", "credentials")

    def _console_apply(self, intent: str, kind: ConsoleEdit, group: str, value: str) -> None:
        mine = {i: j for i, j in self.jobs.items() if j.extra_vars.get("eucora_intent") == intent}
        if kind is ConsoleEdit.DELETE:
            for i, template in list(self.templates.items()):
                if template.name == intent:
                    del self.templates[i]
            return
        if not mine:
            raise self.refuse("awx", kind, f"no job of {intent}")
        match kind:
            case ConsoleEdit.REMOVE_GROUP:  # the ring's jobs deleted from the history
                for i, job in mine.items():
                    if job.limit == group:
                        del self.jobs[i]
            case ConsoleEdit.ADD_GROUP:  # relaunched by hand on another limit
                newest = mine[max(mine)]
                self._next_job += 1
                self.jobs[self._next_job] = Job(
                    id=self._next_job,
                    template=newest.template,
                    extra_vars={**newest.extra_vars, "eucora_assignment": value},
                    limit=group,
                    status="successful",
                    finished=newest.finished,
                )
            case _:
                raise self.refuse("awx", kind, "a job's launch vars cannot be edited")

    def add_job_template(self, name: str, organization: str = "Default", **kwargs: Any) -> int:
        """Add a job template; returns its id."""
        template_id = len(self.templates) + 7
        self.templates[template_id] = JobTemplate(template_id, name, organization, **kwargs)
        return template_id

    def add_credential(self, name: str, kind: str = "ssh", organization: str = "Default") -> int:
        """Add a credential; returns its id."""
        credential_id = len(self.credentials) + 3
        self.credentials[credential_id] = Credential(credential_id, name, kind, organization)
        return credential_id

    def environ(self) -> dict[str, str]:
        """The ``EUCORA_AWX_*`` settings that point a connector at this double."""
        return {
            "EUCORA_AWX_URL": self.url,
            "EUCORA_AWX_TOKEN": self.token,
            "EUCORA_AWX_API_PREFIX": self.api_prefix,
        }

    def launches(self) -> list[Job]:
        """Every job launched so far."""
        return list(self.jobs.values())

    # -- serving ---------------------------------------------------------------------------
    def error_body(self, code: str, message: str) -> Any:
        """Django REST Framework's ``{"detail": ...}``."""
        del code
        return {"detail": message}

    def route(self, call: Call) -> Reply:
        """Authenticate, check against the Swagger subset, then answer."""
        if not self._authorised(call):
            return Reply(401, {"detail": "Authentication credentials were not provided."})
        if not call.path.startswith(self.api_prefix + "/"):
            return self._refuse(call, 404, "no such API prefix")
        path = "/api/v2" + call.path[len(self.api_prefix) :]
        operation = self._operation(call, path)
        if operation is None:
            return self._refuse(call, 404, "method and path are not in the AWX description")
        declared = {p["name"] for p in operation.get("parameters", []) if p.get("in") == "query"}
        unknown = set(call.query) - declared - LIST_FILTERS
        if unknown:
            return self._refuse(call, 400, f"undeclared query parameters {sorted(unknown)}")
        takes_body = any(p.get("in") == "body" for p in operation.get("parameters", []))
        if call.body and not takes_body:
            return self._refuse(call, 400, "a request body, which the operation does not declare")
        parts = path.strip("/").split("/")[2:]
        return self._dispatch(call, parts)

    def _authorised(self, call: Call) -> bool:
        header = call.headers.get("authorization", "")
        if header == f"Bearer {self.token}":
            return True
        if header.startswith("Basic "):
            decoded = base64.b64decode(header[6:]).decode()
            return decoded == ":".join(self.basic)
        return False

    def _operation(self, call: Call, path: str) -> dict[str, Any] | None:
        for pattern, _, item in self._routes:
            if pattern.match(path):
                operation = item.get(call.method.lower())
                return dict(operation) if operation else None
        return None

    def _refuse(self, call: Call, status: int, why: str) -> Reply:
        self.violation(f"{call.method} {call.path}: {why}")
        return Reply(status, {"detail": why})

    def _dispatch(self, call: Call, parts: list[str]) -> Reply:  # noqa: C901, PLR0912 - a route table
        match parts:
            case ["job_templates"]:
                names = call.query.get("name")
                found = [t for t in self.templates.values() if not names or t.name == names[0]]
                return _page([t.as_json() for t in found])
            case ["job_templates", ref]:
                template = self._template(ref)
                return Reply(200, template.as_json()) if template else _not_found()
            case ["job_templates", ref, "launch"]:
                template = self._template(ref)
                if template is None:
                    return _not_found()
                if call.method == "GET":
                    return Reply(200, _launch_info(template))
                return self._launch(call, template)
            case ["job_templates", ref, "survey_spec"]:
                template = self._template(ref)
                if template is None:
                    return _not_found()
                if call.method != "GET":
                    return self._refuse(call, 405, "the double serves surveys read-only")
                spec = template.survey or []
                return Reply(200, {"name": "", "description": "", "spec": spec} if spec else {})
            case ["credentials"]:
                wanted = call.query.get("name")
                held = [c for c in self.credentials.values() if not wanted or c.name == wanted[0]]
                return _page([c.as_json() for c in held])
            case ["job_templates", ref, "jobs"]:
                template = self._template(ref)
                if template is None:
                    return _not_found()
                jobs = [j for j in self.jobs.values() if j.template is template]
                if call.query.get("order_by") == ["-id"]:
                    jobs.sort(key=lambda j: -j.id)
                size = int(call.query.get("page_size", ["25"])[0])
                page = int(call.query.get("page", ["1"])[0])
                chunk = jobs[(page - 1) * size : page * size]
                more = len(jobs) > page * size
                return _page([j.as_json() for j in chunk], count=len(jobs), more=more)
            case ["jobs", job_id, *rest]:
                job = self.jobs.get(int(job_id)) if job_id.isdigit() else None
                if job is None:
                    return _not_found()
                return self._job(call, job, rest)
            case ["tokens"]:
                return _page([])
        return _not_found()

    def _template(self, ref: str) -> JobTemplate | None:
        if ref.isdigit():
            return self.templates.get(int(ref))
        if "++" not in ref:
            return None
        name, organization = (p.replace("[+]", "+") for p in ref.split("++", 1))
        return next(
            (
                t
                for t in self.templates.values()
                if t.name == name and t.organization == organization
            ),
            None,
        )

    def _launch(self, call: Call, template: JobTemplate) -> Reply:
        try:
            body = call.json() or {}
        except ValueError:
            return self._refuse(call, 400, "launch body is not JSON")
        if not isinstance(body, dict):
            return self._refuse(call, 400, "launch body is not an object")
        unknown = set(body) - LAUNCH_FIELDS
        if unknown:
            return self._refuse(call, 400, f"launch fields not accepted: {sorted(unknown)}")
        extra_vars = body.get("extra_vars", {})
        if isinstance(extra_vars, str):
            extra_vars = json.loads(extra_vars or "{}")
        ignored: dict[str, Any] = {}
        for name, flag in PROMPTS.items():
            if name in body and not getattr(template, flag):
                ignored[name] = body[name]
        answers = {} if "extra_vars" in ignored else dict(extra_vars)
        problems = _survey_problems(template.survey or [], answers)
        if problems:  # AWX refuses the launch; nothing is created
            return Reply(400, {"variables_needed_to_start": problems})
        credentials = []
        for ref in [] if "credentials" in ignored else body.get("credentials", []):
            credential = self.credentials.get(ref) if isinstance(ref, int) else None
            if credential is None:
                return self._refuse(call, 400, f"credential {ref!r} does not exist")
            credentials.append(credential)
        job = Job(
            id=self._next_job,
            template=template,
            extra_vars=answers,
            limit="" if "limit" in ignored else str(body.get("limit", "")),
            credentials=tuple(credentials),
            job_tags="" if "job_tags" in ignored else str(body.get("job_tags", "")),
            skip_tags="" if "skip_tags" in ignored else str(body.get("skip_tags", "")),
        )
        self._next_job += 1
        self.jobs[job.id] = job
        self.creates["launch"] += 1
        return Reply(
            201,
            {"job": job.id, "ignored_fields": ignored, **job.as_json()},
            {"Location": f"{self.api_prefix}/jobs/{job.id}/"},
        )

    def _job(self, call: Call, job: Job, rest: list[str]) -> Reply:
        match rest:
            case []:
                self._advance(job)
                return Reply(200, job.as_json())
            case ["cancel"]:
                if call.method == "GET":
                    return Reply(200, {"can_cancel": job.status not in FINAL})
                if job.status in FINAL:
                    return Reply(405, {"error": "not allowed"})
                job.status = "canceled"
                return Reply(202)
            case ["job_events"]:
                return _page([{"event": e, "job": job.id} for e in job.events])
            case ["job_host_summaries"]:
                return self._host_summaries(call, job)
        return _not_found()

    def _host_summaries(self, call: Call, job: Job) -> Reply:
        """Host summaries (written by AWX when the play ends): told outcomes, else the template's."""
        if job.status not in FINAL:
            return _page([])
        told = self.outcomes_of(job.limit)
        if told is None:
            failed = job.status == "failed"
            last = len(job.template.hosts) - 1
            rows = [
                _host_summary(host, failures=int(failed and i == last), ok=1)
                for i, host in enumerate(job.template.hosts)
            ]
        else:
            rows = [
                _host_summary(
                    d.name,
                    ok=0 if d.state != "installed" else 2,
                    failures=int(d.state == "failed" and d.code != "unreachable"),
                    dark=int(d.state == "failed" and d.code == "unreachable"),
                    skipped=2 if d.state == "not_applicable" else 0,
                )
                for d in told
                if d.state != "pending"
            ]
        size = int(call.query.get("page_size", ["25"])[0])
        page = int(call.query.get("page", ["1"])[0])
        chunk = rows[(page - 1) * size : page * size]
        return _page(chunk, count=len(rows), more=len(rows) > page * size)

    def _advance(self, job: Job) -> None:
        if job.status in FINAL:
            return
        told = self.outcomes_of(job.limit)
        if told is not None:  # the play runs until every host of the limit has an outcome
            pending = any(d.state == "pending" for d in told)
            failed = any(d.state == "failed" for d in told)
            job.status = "running" if pending else "failed" if failed else "successful"
            if job.status in FINAL:
                job.finished = self.clock()
            return
        job.reads += 1
        if job.reads >= self.steps_to_finish:
            job.status = job.template.outcome
            job.finished = self.clock()
            job.events = ["playbook_on_start", "runner_on_ok", "playbook_on_stats"]
        else:
            job.status = _PROGRESS[min(job.reads, len(_PROGRESS) - 1)]


def _survey_problems(spec: list[dict[str, Any]], answers: dict[str, Any]) -> list[str]:
    """What AWX says of survey answers it refuses (``SurveyJobTemplateMixin._survey_element_validation``)."""
    problems = []
    for question in spec:
        name = str(question["variable"])
        if name not in answers:
            if question.get("required") and question.get("default") in (None, ""):
                problems.append(f"'{name}' value missing")
            continue
        value, kind = answers[name], str(question.get("type", "text"))
        if not isinstance(value, SURVEY_TYPES.get(kind, (str,))) or isinstance(value, bool):
            problems.append(f"Value {value!r} for '{name}' expected to be a {kind}.")
            continue
        choices = question.get("choices") or []
        if isinstance(choices, str):
            choices = choices.split("\n")
        picked: list[Any] = (
            cast("list[Any]", value)
            if kind == "multiselect"
            else [value]
            if kind == "multiplechoice"
            else []
        )
        problems.extend(
            f"Value {item!r} for '{name}' expected to be one of {choices}."
            for item in picked
            if item not in choices
        )
        size = (
            len(value)
            if isinstance(value, str)
            else value
            if kind in ("integer", "float")
            else None
        )
        low, high = question.get("min"), question.get("max")
        if size is not None and low is not None and size < low:
            problems.append(f"'{name}' value {value!r} is too small (must be at least {low}).")
        if size is not None and high is not None and size > high:
            problems.append(f"'{name}' value {value!r} is too large (must be no more than {high}).")
    return problems


def _launch_info(template: JobTemplate) -> dict[str, Any]:
    missing = _survey_problems(template.survey or [], {})
    return {
        "ask_limit_on_launch": template.ask_limit_on_launch,
        "ask_variables_on_launch": template.ask_variables_on_launch,
        "ask_credential_on_launch": template.ask_credential_on_launch,
        "ask_tags_on_launch": template.ask_tags_on_launch,
        "ask_skip_tags_on_launch": template.ask_skip_tags_on_launch,
        "can_start_without_user_input": not missing,
        "passwords_needed_to_start": [],
        "variables_needed_to_start": [p.split("'")[1] for p in missing],
        "survey_enabled": template.survey is not None,
        "job_template_data": {"id": template.id, "name": template.name},
    }


def _host_summary(  # noqa: PLR0913 - the counters AWX keeps per host
    host: str, *, ok: int = 0, failures: int = 0, dark: int = 0, skipped: int = 0, changed: int = 1
) -> dict[str, Any]:
    return {
        "host_name": host,
        "ok": ok,
        "changed": changed if ok else 0,
        "failures": failures,
        "dark": dark,
        "skipped": skipped,
        "failed": bool(failures or dark),
    }


def _page(results: list[dict[str, Any]], *, count: int | None = None, more: bool = False) -> Reply:
    return Reply(
        200,
        {
            "count": len(results) if count is None else count,
            "next": "next" if more else None,
            "previous": None,
            "results": results,
        },
    )


def _not_found() -> Reply:
    return Reply(404, {"detail": "Not found."})
