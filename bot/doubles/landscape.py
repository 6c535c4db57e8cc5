"""A local double of Canonical Landscape's legacy API (``POST /api/``, signed requests).

Holds computers (with tags), scripts and activities. Every request must carry a valid HMAC-SHA256
signature (version 2, as Landscape documents it) from the configured access key, and is checked
against ``data/landscape/schemas-subset.json`` (cut from the landscape-api client's own
``schemas.json`` by ``scripts/extract_plane_fixtures_landscape.py``): the action and version must
exist, unknown and missing arguments are refused, and each value must parse as its declared
type (``integer``, ``boolean``, ``unicode``, ``unicode title``, ``unicode line``, base64 ``data``,
``list`` as ``name.1``, ``name.2``…). Errors come back as Landscape's ``{"error", "message"}``.

``ExecuteScript`` and ``InstallPackages`` create an ActivityGroup with one child activity per
computer the query selects, counted in ``creates["launch"]``; each ``GetActivities`` read moves a
child one step, undelivered → delivered → succeeded (or ``child_outcome``). ``CreateScript``
refuses a title that exists with ``DuplicateScript``, as Landscape does.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from typing import Any
from urllib.parse import quote

from bot.doubles._console import ConsoleEdit, ConsoleEdits
from bot.doubles._json_double import Call, JsonDouble, Reply
from bot.doubles._outcomes import DeviceOutcome
from bot.doubles._server import FaultKind

SIGNED = frozenset(
    {"action", "version", "access_key_id", "signature_method", "signature_version", "timestamp"}
)
FINAL = frozenset({"succeeded", "failed", "canceled"})
_STEPS = ("undelivered", "delivered")


def _load_schemas() -> dict[str, Any]:
    text = resources.files("bot.doubles").joinpath("data/landscape/schemas-subset.json").read_text()
    return {k: v for k, v in json.loads(text).items() if not k.startswith("x-")}


def signature(secret: str, method: str, host: str, path: str, params: dict[str, str]) -> str:
    """Landscape's request signature: base64 HMAC-SHA256 over the canonical request."""
    canonical = "&".join(
        f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in sorted(params.items())
    )
    string_to_sign = f"{method}\n{host.lower()}\n{path}\n{canonical}"
    digest = hmac.new(secret.encode(), string_to_sign.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


class LandscapeError(Exception):
    """An error answer: Landscape's code and message."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(code, message, status)
        self.code, self.message, self.status = code, message, status


@dataclass(slots=True)
class Computer:
    """A registered computer."""

    id: int
    title: str
    tags: set[str]


@dataclass(slots=True)
class Script:
    """A stored script."""

    id: int
    title: str
    code: str
    time_limit: int
    username: str | None

    def as_json(self) -> dict[str, Any]:
        """The script as GetScripts returns it."""
        return {
            "id": self.id,
            "title": self.title,
            "time_limit": self.time_limit,
            "username": self.username,
            "creator": {"name": "EUCORA", "email": "eucora@example.com", "id": 1},
            "access_group": "global",
            "attachments": [],
        }


@dataclass(slots=True)
class Activity:
    """An activity: a group (parent_id ``None``) or one computer's part of it."""

    id: int
    summary: str
    parent_id: int | None
    computer_id: int | None
    type: str
    creation_time: datetime
    activity_status: str = "undelivered"
    result_text: str | None = None
    children: list[Activity] = field(default_factory=list)
    tag: str | None = None
    """The tag the group was launched on (``tag:<tag>``): where told outcomes apply."""
    completion_time: datetime | None = None
    result_code: int | None = None

    def as_json(self) -> dict[str, Any]:
        """The activity as GetActivities returns it."""
        return {
            "id": self.id,
            "summary": self.summary,
            "parent_id": self.parent_id,
            "computer_id": self.computer_id,
            "type": self.type,
            "activity_status": self.activity_status,
            "creation_time": self.creation_time.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "result_text": self.result_text,
            "result_code": None
            if self.activity_status not in FINAL
            else self.result_code
            if self.result_code is not None
            else 0,
            "completion_time": None
            if self.completion_time is None
            else self.completion_time.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "creator": {"name": "EUCORA", "email": "eucora@example.com", "id": 1},
        }


class LandscapeDouble(ConsoleEdits, JsonDouble):
    """Landscape's legacy API on loopback."""

    plane = "landscape"

    def __init__(
        self,
        *,
        key: str = "LANDSCAPEKEY0001",
        secret: str = "landscape-test-secret",  # noqa: S107 - a test double's credential
    ) -> None:
        super().__init__()
        self.key, self.secret = key, secret
        self.schemas = _load_schemas()
        self.computers: dict[int, Computer] = {}
        self.scripts: dict[int, Script] = {}
        self.activities: dict[int, Activity] = {}
        self.reboots: list[tuple[list[int], str | None]] = []
        """RebootComputers calls: the computer ids and ``deliver_after``."""
        self.child_outcome = "succeeded"
        self.steps_to_finish = 2
        self._next_id = 1000

    # -- set-up ----------------------------------------------------------------------------
    _console_fields = ("scripts",)

    def _console_apply(self, intent: str, kind: ConsoleEdit, group: str, value: str) -> None:
        mine = {i: s for i, s in self.scripts.items() if s.title.split(" ")[1:2] == [intent]}
        if not mine:
            raise self.refuse("landscape", kind, f"no script of {intent}")
        on_tag = {
            a.summary.removeprefix("Run script: ")
            for a in self.activities.values()
            if a.parent_id is None and a.tag == group
        }
        match kind:
            case ConsoleEdit.VERSION:
                for script in mine.values():
                    words = script.title.split(" ")
                    script.title = " ".join([*words[:2], value, *words[3:]])
            case ConsoleEdit.REMOVE_GROUP:
                for i, script in mine.items():
                    if script.title in on_tag:
                        del self.scripts[i]
            case ConsoleEdit.DELETE:
                for i in mine:
                    del self.scripts[i]
            case _:
                raise self.refuse(
                    "landscape",
                    kind,
                    "a script holds no assignment and its title is its marker",
                )

    def add_computer(self, title: str, *tags: str) -> int:
        """Register a computer with tags; returns its id."""
        computer_id = len(self.computers) + 1
        self.computers[computer_id] = Computer(computer_id, title, set(tags))
        return computer_id

    def environ(self) -> dict[str, str]:
        """The ``EUCORA_LANDSCAPE_*`` settings that point a connector at this double."""
        return {
            "EUCORA_LANDSCAPE_URL": self.url,
            "EUCORA_LANDSCAPE_KEY": self.key,
            "EUCORA_LANDSCAPE_SECRET": self.secret,
        }

    def inject_action(self, kind: FaultKind, action: str, *, times: int = 1) -> None:
        """Fault the next ``times`` calls of one action (e.g. ``ExecuteScript``)."""
        self.inject(kind, "^/api/$", times=times, when=lambda r: r.form.get("action") == action)

    def groups(self) -> list[Activity]:
        """Every ActivityGroup launched so far."""
        return [a for a in self.activities.values() if a.parent_id is None]

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    # -- serving ---------------------------------------------------------------------------
    def route(self, call: Call) -> Reply:
        """Verify the signature, check the call against the schema, run the action."""
        if call.path != "/api/":
            return self._refuse(call, LandscapeError("NotFound", "no such path", 404))
        if call.method != "POST":
            return self._refuse(call, LandscapeError("MethodNotAllowed", "POST only", 405))
        fields = call.form
        params = {k: v[-1] for k, v in fields.items()}
        try:
            self._authenticate(call, params)
            action, arguments = self._validate(params)
            result = getattr(self, f"_do_{action}")(arguments)
        except LandscapeError as error:
            if error.status in {400, 404, 405}:
                return self._refuse(call, error)
            return Reply(error.status, {"error": error.code, "message": error.message})
        return Reply(200, result)

    def _refuse(self, call: Call, error: LandscapeError) -> Reply:
        expected = {"DuplicateScript", "UnknownComputers", "InvalidActivityStatusChange"}
        if error.code not in expected:
            self.violation(f"{call.method} {call.path}: {error.code}: {error.message}")
        return Reply(error.status, {"error": error.code, "message": error.message})

    def _authenticate(self, call: Call, params: dict[str, str]) -> None:
        if params.get("access_key_id") != self.key:
            raise LandscapeError("InvalidCredentials", "unknown access key", 401)
        if params.get("signature_method") != "HmacSHA256" or params.get("signature_version") != "2":
            raise LandscapeError("AuthFailure", "signature method must be HmacSHA256 v2", 401)
        try:
            datetime.strptime(params.get("timestamp", ""), "%Y-%m-%dT%H:%M:%SZ")  # noqa: DTZ007
        except ValueError:
            raise LandscapeError("AuthFailure", "timestamp is not ISO 8601 UTC", 401) from None
        signed = {k: v for k, v in params.items() if k != "signature"}
        host = call.headers.get("host", "")
        expected = signature(self.secret, "POST", host, "/api/", signed)
        if not hmac.compare_digest(expected, params.get("signature", "")):
            raise LandscapeError("SignatureDoesNotMatch", "the signature does not match", 401)

    def _validate(  # noqa: C901, PLR0912 - one check per rule of the schema
        self, params: dict[str, str]
    ) -> tuple[str, dict[str, Any]]:
        action, version = params.get("action", ""), params.get("version", "")
        if action not in self.schemas:
            raise LandscapeError("UnknownAction", f"action {action!r} is not known")
        schema = self.schemas[action].get(version)
        if schema is None:
            raise LandscapeError("UnknownVersion", f"{action} has no version {version!r}")
        declared = {p["name"]: p for p in schema["parameters"]}
        supplied: dict[str, dict[int, str]] = {}
        arguments: dict[str, Any] = {}
        for name, value in params.items():
            if name in SIGNED or name == "signature":
                continue
            base, _, index = name.partition(".")
            if base not in declared:
                raise LandscapeError("UnknownParameter", f"{action} takes no argument {base!r}")
            if index:
                if declared[base]["type"] != "list" or not index.isdigit():
                    raise LandscapeError("InvalidParameter", f"{name} is not a list item")
                supplied.setdefault(base, {})[int(index)] = value
            else:
                if declared[base]["type"] == "list":
                    raise LandscapeError("InvalidParameter", f"{base} must be sent as {base}.1…")
                arguments[base] = _convert(base, declared[base], value)
        for base, items in supplied.items():
            if sorted(items) != list(range(1, len(items) + 1)):
                raise LandscapeError("InvalidParameter", f"{base}.N must count from 1")
            item = declared[base].get("item", {"type": "unicode"})
            arguments[base] = [_convert(base, item, items[i]) for i in sorted(items)]
        for name, parameter in declared.items():
            if name not in arguments and not parameter.get("optional"):
                raise LandscapeError("MissingParameter", f"{action} needs {name!r}")
            arguments.setdefault(name, parameter.get("default"))
        return action, arguments

    # -- actions ---------------------------------------------------------------------------
    def _do_GetComputers(self, args: dict[str, Any]) -> list[dict[str, Any]]:  # noqa: N802
        return [
            {"id": c.id, "title": c.title, "hostname": c.title, "tags": sorted(c.tags)}
            for c in self._select(args["query"] or "")
        ]

    def _do_GetScripts(self, args: dict[str, Any]) -> list[dict[str, Any]]:  # noqa: N802
        scripts = [s.as_json() for s in self.scripts.values()]
        return scripts[args["offset"] : args["offset"] + args["limit"]]

    def _do_CreateScript(self, args: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        if any(s.title == args["title"] for s in self.scripts.values()):
            raise LandscapeError("DuplicateScript", f"a script named {args['title']!r} exists")
        code = args["code"]
        if not code.strip():
            raise LandscapeError("EmptyScriptCode", "the script is empty")
        if not code.startswith("#!"):
            raise LandscapeError("EmptyScriptInterpreter", "the script has no #! line")
        script = Script(self._new_id(), args["title"], code, args["time_limit"], args["username"])
        self.scripts[script.id] = script
        self.creates["script"] += 1
        return script.as_json()

    def _do_EditScript(self, args: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        script = self._script(args["script_id"])
        for name in ("title", "time_limit", "code", "username"):
            if args.get(name) is not None:
                setattr(script, name, args[name])
        return script.as_json()

    def _do_RemoveScript(self, args: dict[str, Any]) -> None:  # noqa: N802
        del self.scripts[self._script(args["script_id"]).id]

    def _do_ExecuteScript(self, args: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        script = self._script(args["script_id"])
        if not (args["username"] or script.username):
            raise LandscapeError("RequiresUser", "the script has no user to run as")
        return self._launch(f"Run script: {script.title}", "ExecuteScriptRequest", args["query"])

    def _do_GetScriptCode(self, args: dict[str, Any]) -> str:  # noqa: N802
        return self._script(args["script_id"]).code

    def _do_RebootComputers(self, args: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        unknown = [i for i in args["computer_ids"] if i not in self.computers]
        if unknown:
            raise LandscapeError("UnknownComputer", f"no computer {unknown[0]}")
        when = args["deliver_after"]
        if when is not None:
            try:
                datetime.strptime(when, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
            except ValueError:
                raise LandscapeError(
                    "InvalidTime", f"deliver_after {when!r} is not a time"
                ) from None
        query = " ".join(f"id:{i}" for i in args["computer_ids"])
        group = self._launch(
            "Restart computers", "RestartRequest", query, union=True, count="reboot"
        )
        self.reboots.append((list(args["computer_ids"]), when))
        return group

    def _do_InstallPackages(self, args: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        summary = f"Install packages {', '.join(args['packages'])}"
        return self._launch(summary, "ChangePackagesRequest", args["query"])

    def _do_GetActivities(self, args: dict[str, Any]) -> list[dict[str, Any]]:  # noqa: N802
        found = self._find(args["query"] or "")
        for activity in found:
            self._advance(activity)
        return [a.as_json() for a in found[args["offset"] : args["offset"] + args["limit"]]]

    def _do_CancelActivities(self, args: dict[str, Any]) -> list[int]:  # noqa: N802
        found = [a for a in self._find(args["query"]) if a.activity_status not in FINAL]
        if not found:
            raise LandscapeError("InvalidActivityStatusChange", "nothing left to cancel")
        for activity in found:
            activity.activity_status = "canceled"
        return [a.id for a in found]

    # -- behaviour -------------------------------------------------------------------------
    def _script(self, script_id: int) -> Script:
        if script_id not in self.scripts:
            raise LandscapeError("UnknownScript", f"no script {script_id}")
        return self.scripts[script_id]

    def _launch(
        self, summary: str, kind: str, query: str, *, union: bool = False, count: str = "launch"
    ) -> dict[str, Any]:
        tag = query.removeprefix("tag:") if query.startswith("tag:") and " " not in query else None
        told = self.outcomes_of(tag) if tag is not None else None
        have = len(self._select(query)) if told is not None else 0
        for device in (told or [])[have:]:  # the told group's devices are its computers
            self.add_computer(device.name, str(tag))
        computers = (
            [self.computers[int(t[3:])] for t in query.split()] if union else self._select(query)
        )
        if not computers:
            raise LandscapeError("UnknownComputers", f"no computer matches {query!r}")
        now = datetime.now(UTC)
        group = Activity(self._new_id(), summary, None, None, "ActivityGroup", now, tag=tag)
        self.activities[group.id] = group
        for computer in computers:
            child = Activity(self._new_id(), summary, group.id, computer.id, kind, now)
            group.children.append(child)
            self.activities[child.id] = child
        self.creates[count] += 1
        return group.as_json()

    def _select(self, query: str) -> list[Computer]:
        selected = list(self.computers.values())
        for token in query.split():
            criterion, _, value = token.partition(":")
            if criterion == "tag":
                selected = [c for c in selected if value in c.tags]
            elif criterion == "id" and value.isdigit():
                selected = [c for c in selected if c.id == int(value)]
            else:
                raise LandscapeError("InvalidQuery", f"unsupported computer query {token!r}")
        return selected

    def _activity_query(self, query: str) -> list[tuple[str, Any]]:
        """The activity query as (criterion, value) pairs, all ANDed; unknown is InvalidQuery."""
        criteria: list[tuple[str, Any]] = []
        for token in query.split():
            criterion, _, value = token.partition(":")
            if criterion == "created-after":
                try:
                    after = datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
                except ValueError:
                    raise LandscapeError("InvalidQuery", f"bad time {value!r}") from None
                criteria.append((criterion, after))
            elif criterion in {"id", "parent-id", "status", "type"}:
                criteria.append((criterion, value))
            else:
                raise LandscapeError("InvalidQuery", f"unsupported activity query {token!r}")
        return criteria

    def _find(self, query: str) -> list[Activity]:
        criteria = self._activity_query(query)
        return [a for a in self.activities.values() if all(_holds(a, *c) for c in criteria)]

    def _apply(self, activity: Activity, device: DeviceOutcome) -> None:
        """A computer's part of an activity as the test told it: status, code and output."""
        activity.activity_status = _TOLD_STATUS[device.state]
        if activity.activity_status in FINAL:
            activity.completion_time = self.clock()
        if device.state == "failed":
            activity.result_code = int(device.code) if device.code.isdigit() else 1
            activity.result_text = device.message or device.code

    def _advance(self, activity: Activity) -> None:
        if activity.parent_id is None:
            statuses = {child.activity_status for child in activity.children}
            activity.activity_status = "succeeded" if statuses == {"succeeded"} else min(statuses)
            return
        if activity.activity_status in FINAL:
            return
        parent = self.activities.get(activity.parent_id)
        told = self.outcomes_of(parent.tag) if parent is not None and parent.tag else None
        if told is not None and parent is not None:
            self._apply(activity, told[parent.children.index(activity) % len(told)])
            return
        step = _STEPS.index(activity.activity_status) + 1
        if step >= self.steps_to_finish:
            activity.activity_status = self.child_outcome
            activity.result_text = "ok" if self.child_outcome == "succeeded" else "exit 1"
        else:
            activity.activity_status = _STEPS[step]


_TOLD_STATUS = {
    "installed": "succeeded",
    "failed": "failed",
    "pending": "delivered",
    "not_applicable": "canceled",
}


def _holds(activity: Activity, criterion: str, value: Any) -> bool:
    if criterion == "created-after":
        return bool(activity.creation_time >= value)
    field_value = {
        "id": activity.id,
        "parent-id": activity.parent_id,
        "status": activity.activity_status,
        "type": activity.type,
    }[criterion]
    return str(field_value) == str(value)


def _convert(name: str, parameter: dict[str, Any], value: str) -> Any:
    kind = parameter["type"]
    if kind == "integer":
        if not value.lstrip("-").isdigit():
            raise LandscapeError("InvalidParameter", f"{name} must be an integer, not {value!r}")
        return int(value)
    if kind == "boolean":
        if value.lower() not in {"true", "false"}:
            raise LandscapeError("InvalidParameter", f"{name} must be true or false")
        return value.lower() == "true"
    if kind == "data":
        try:
            return base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise LandscapeError("ScriptEncoding", f"{name} is not base64 UTF-8") from None
    if kind == "unicode title" and not value.strip():
        raise LandscapeError("InvalidParameter", f"{name} must not be empty")
    if kind == "unicode line" and "\n" in value:
        raise LandscapeError("InvalidParameter", f"{name} must be one line")
    if kind in {"unicode", "unicode title", "unicode line"}:
        return value
    raise LandscapeError("InvalidParameter", f"{name}: type {kind!r} is not supported here")
