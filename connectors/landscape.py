"""Canonical Landscape: run a per-publication script on the computers of the ring's tag.

**Which API.** Landscape's legacy API (``POST /api/``, requests signed with the access key and
secret, HMAC-SHA256 version 2). Script execution and package installation exist only there (the
REST API v2 reads scripts, activities and computers but cannot run or install anything), and it is
the API with a machine-readable description (the landscape-api client's ``schemas.json``), which
the double checks every request against.

**What runs.** A script object per publication, found or created by its title
``eucora <intent> <version> <ring> [<12 hex of sha256(idempotency key)>]`` (Landscape keeps titles
unique and answers ``DuplicateScript``, so a lost answer or a race finds the existing one). Its code
downloads ``package.url``, checks ``package.sha256`` and installs it (``deb``: ``apt-get
install``; ``snap``: ``snap install --dangerous``; ``script``: runs it), and carries the intent,
version, ring, evidence digest and idempotency key in its header comment. ``ExecuteScript`` runs it
on ``tag:<ring target>`` (a target that is not a plain tag name is refused, never used as a query).
A ring whose assignment is ``uninstall`` gets a script that removes the package
(``apt-get remove`` by the deb's package name, ``snap remove``), never one that installs it.
``InstallPackages`` was not chosen: it installs whatever version the APT pockets offer, ignores the
intent's url and hash, and leaves nothing on the activity that leads back to the change.

**Settings** (``landscape:``, issue 20). ``source: repository`` installs ``packageName`` at the
intent's version from the APT repositories the computers already use (``apt-get install
name=version``: pinned, unlike ``InstallPackages``) instead of downloading ``package.url``;
``timeLimitSeconds`` is the script's ``time_limit`` and ``runAs`` the user it runs as (both on
``CreateScript``, the user on ``ExecuteScript`` too); ``reboot: afterInstall`` (at the top or per
ring, with ``rebootDelayMinutes``) restarts the ring's computers with ``RebootComputers`` once every
one has succeeded, ``deliver_after`` the delay later. The reboot's activity id is journalled
(``landscape_reboot_id``) so a retry does not restart them twice. The script's header records the
settings (``# landscape-settings: {...}``), and :meth:`LandscapeConnector.state` reads them back
with ``GetScriptCode``, taking ``time_limit`` and ``username`` from the script itself.

**Exactly one activity.** The returned ActivityGroup id is journalled (``landscape_activity_id``)
before anything else; a journal holding one never launches again and follows that group. Before
the first launch the connector journals ``landscape_launch_after`` (the time, less a 10-minute
margin for clock skew); a retry that finds it without an activity id looks for a group created
since whose summary is ``Run script: <title>`` and adopts it, so a launch whose answer was lost is
not repeated. The group is followed (``GetActivities parent-id:<id>``) until every computer's
activity has ended; any failure is a permanent error naming how many computers failed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import shlex
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from bot.core.drift import Marker, Observed
from bot.core.planes import PROFILES
from bot.core.rollout_model import DeviceError, RingOutcomes
from bot.core.semantics import ring_target_problem
from bot.errors import PermanentConnectorError, TransientConnectorError
from connectors import _observe
from connectors._outcomes import plane_time, sample
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
from connectors.settings import LandscapeSettings

PLANE = PlaneConnector(
    profile=PROFILES[Plane.LANDSCAPE],
    settings=LandscapeSettings.from_environ,
    build=lambda settings, services: LandscapeConnector(settings, follow=services.follow),
)
"""Landscape as the registry finds and builds it."""

API_VERSION = "2011-08-01"
ACTIVITY_ID = "landscape_activity_id"
REBOOT_ID = "landscape_reboot_id"
SETTINGS_HEADER = "# landscape-settings: "
LAUNCH_AFTER = "landscape_launch_after"
FINAL = frozenset({"succeeded", "failed", "canceled"})
TIME_LIMIT = 1800
_PAGE = 100
_SKEW = timedelta(minutes=10)
_TITLE = re.compile(r"^eucora (?P<intent>\S+) (?P<version>\S+) (?P<ring>\S+) \[[0-9a-f]{12}\]$")
_INSTALL = {
    "deb": ("package.deb", 'DEBIAN_FRONTEND=noninteractive apt-get install -y "$work/package.deb"'),
    "snap": ("package.snap", 'snap install --dangerous "$work/package.snap"'),
    "script": ("package.sh", 'sh "$work/package.sh"'),
}


def script_title(publication: Publication) -> str:
    """The publication's script title: readable, and unique per idempotency key."""
    digest = hashlib.sha256(publication.idempotency_key.encode()).hexdigest()[:12]
    return f"eucora {publication.name} {publication.version} {publication.ring.name} [{digest}]"


def settings_of(publication: Publication) -> tuple[dict[str, Any], dict[str, Any]]:
    """The intent's ``landscape:`` section and the publication's ring's (each empty if none)."""
    top = publication.intent.get("landscape")
    ring = next(
        (
            r.get("landscape")
            for r in publication.intent.get("rings") or ()
            if isinstance(r, dict) and r.get("name") == publication.ring.name
        ),
        None,
    )
    return (dict(top) if isinstance(top, dict) else {}), (
        dict(ring) if isinstance(ring, dict) else {}
    )


def reboot_of(publication: Publication) -> tuple[bool, int]:
    """Whether the ring's computers restart after the install, and after how many minutes."""
    top, ring = settings_of(publication)
    merged = {**top, **ring}
    return merged.get("reboot", "never") == "afterInstall", int(merged.get("rebootDelayMinutes", 0))


def _settings_header(publication: Publication) -> list[str]:
    top, ring = settings_of(publication)
    if not top and not ring:
        return []  # scripts of intents without settings stay byte-identical
    recorded = {key: value for key, value in (("landscape", top), ("ring", ring)) if value}
    return [SETTINGS_HEADER + json.dumps(recorded, sort_keys=True, separators=(",", ":"))]


def script_code(publication: Publication) -> str:
    """The shell script that fetches, verifies and installs the intent's package."""
    package = publication.intent["package"]
    kind = str(package["type"])
    if kind not in _INSTALL:
        raise PermanentConnectorError(
            f"landscape: package type {kind!r} is not supported (deb, snap or script)"
        )
    filename, install = _INSTALL[kind]
    top, _ = settings_of(publication)
    fetch: list[str] = []
    if publication.ring.assignment == "uninstall":
        install = _removal(publication, kind, top)
    elif top.get("source") == "repository":
        if kind != "deb" or not top.get("packageName"):
            raise PermanentConnectorError(
                f"landscape: {publication.name}: source repository installs a deb package by"
                " landscape.packageName from the computers' APT repositories"
            )
        pinned = shlex.quote(f"{top['packageName']}={publication.version}")
        install = f"DEBIAN_FRONTEND=noninteractive apt-get install -y {pinned}"
    else:
        fetch = [
            f"curl -fsSL --proto '=https' -o \"$work/{filename}\" {shlex.quote(package['url'])}",
            f'echo {shlex.quote(package["sha256"] + "  ")}"$work/{filename}" | sha256sum -c -',
        ]
    return "\n".join(
        [
            "#!/bin/sh",
            "# Managed by EUCORA: do not edit.",
            f"# intent: {publication.name}",
            f"# version: {publication.version}",
            f"# ring: {publication.ring.name}",
            f"# evidence: {publication.evidence_digest}",
            f"# idempotency-key: {publication.idempotency_key}",
            *_settings_header(publication),
            "set -eu",
            'work="$(mktemp -d)"',
            "trap 'rm -rf \"$work\"' EXIT",
            *fetch,
            install,
            "",
        ]
    )


def _removal(publication: Publication, kind: str, top: Mapping[str, Any]) -> str:
    """The command that removes the package on a ring whose assignment is ``uninstall``.

    Never the install: a script that installed on an uninstall ring would do the opposite of
    what the ring says. A deb is removed by its package name (``landscape.packageName``, else
    the detection rule's), a snap by its name; a script has no removal to run.
    """
    detection = publication.intent["package"].get("detection") or {}
    name = top.get("packageName") or detection.get("packageName")
    if kind == "deb" and name:
        return f"DEBIAN_FRONTEND=noninteractive apt-get remove -y {shlex.quote(str(name))}"
    if kind == "snap" and name:
        return f"snap remove {shlex.quote(str(name))}"
    raise PermanentConnectorError(
        f"landscape: {publication.name}: ring {publication.ring.name} asks to uninstall, and a"
        f" {kind} package names nothing to remove: give landscape.packageName (or a"
        " packageVersion detection's packageName)"
    )


def computer_query(target: str) -> str:
    """The Landscape computer query for a ring target: ``tag:<target>``, for a plain tag only.

    Validation refuses anything else in the intent (``tag:x``, ``a OR b`` would be queries that
    reach other computers than the ring declares); this guards an intent merged before that.
    """
    problem = ring_target_problem("landscape", target)
    if problem is not None:
        raise PermanentConnectorError(f"landscape: {problem}")
    return f"tag:{target}"


def _landscape_message(response: httpx.Response) -> str:
    body = response.json()
    if isinstance(body, dict) and "error" in body:
        return f"{body['error']}: {body.get('message', '')}"
    return str(body)


class LandscapeConnector:
    """Landscape through its legacy, signed API."""

    plane = Plane.LANDSCAPE

    def __init__(
        self,
        settings: LandscapeSettings,
        *,
        follow: Follow | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._settings = settings
        self._follow = follow or Follow()
        self._now = now
        parts = urlsplit(settings.url)
        self._host = parts.netloc.lower()
        self._path = (parts.path.rstrip("/") or "") + "/api/"
        self._http = PlaneClient(
            plane="landscape",
            base_url=f"{parts.scheme}://{parts.netloc}",
            timeout=settings.timeout,
            secrets=(settings.secret, settings.key),
            message_of=_landscape_message,
            transport=transport,
        )

    def close(self) -> None:
        """Close the HTTP connections."""
        self._http.close()

    # -- the interface ---------------------------------------------------------------------
    def plan(self, publication: Publication) -> tuple[PlannedStep, ...]:
        """Find the script and count the ring's computers (read-only actions only)."""
        title = script_title(publication)
        script_code(publication)  # an unsupported package type fails the plan, not the merge
        query = computer_query(publication.ring.target)
        computers = self._call("GetComputers", query=query)
        steps = []
        if self._find_script(title) is None:
            steps.append(PlannedStep(kind=StepKind.CREATE, description=f"create script '{title}'"))
        top, _ = settings_of(publication)
        how = [f"as {self._user(publication)}", f"time limit {self._time_limit(publication)} s"]
        if top.get("source") == "repository":
            how.append(f"{top['packageName']} from the computers' APT repositories")
        steps.append(
            PlannedStep(
                kind=StepKind.LAUNCH,
                description=(
                    f"run script '{title}' on {len(computers)} computers matching '{query}'"
                    f" ({'removes' if publication.ring.assignment == 'uninstall' else 'installs'}"
                    f" {publication.name} {publication.version}"
                    + (f"; {', '.join(how)})" if top else ")")
                ),
            )
        )
        reboot, delay = reboot_of(publication)
        if reboot:
            steps.append(
                PlannedStep(
                    kind=StepKind.LAUNCH,
                    description=(
                        "restart those computers once every one has installed it"
                        + (f", {delay} minutes later" if delay else "")
                        + " (RebootComputers)"
                    ),
                )
            )
        return tuple(steps)

    def publish(self, publication: Publication, journal: Journal) -> PublishResult:
        """Launch at most one activity for the publication and follow it to the end."""
        activity_id = journal.get(ACTIVITY_ID)
        created = False
        script_id = ""
        if activity_id is None:
            query = computer_query(publication.ring.target)  # a query fails before any call
            title = script_title(publication)
            script = self._find_or_create_script(publication, title)
            script_id = str(script["id"])
            activity_id = self._adopt_lost_launch(title, journal)
            if activity_id is None:
                group = self._call(
                    "ExecuteScript",
                    query=query,
                    script_id=script_id,
                    username=self._user(publication),
                )
                activity_id = str(group["id"])
                journal.put(ACTIVITY_ID, activity_id)
                created = True
        children = self._follow.until(
            lambda: self._call("GetActivities", query=f"parent-id:{activity_id}"),
            lambda found: all(c["activity_status"] in FINAL for c in found),
            f"landscape: activity {activity_id}",
        )
        failed = [c for c in children if c["activity_status"] != "succeeded"]
        if failed:
            first = self._http.redact(str(failed[0].get("result_text") or "no output"))
            raise PermanentConnectorError(
                f"landscape: activity {activity_id}: {len(failed)} of {len(children)} computers"
                f" did not succeed (computer {failed[0].get('computer_id')}:"
                f" {failed[0]['activity_status']}: {first})"
            )
        reboot = self._reboot(publication, children, journal)
        return PublishResult(
            object_id=activity_id,
            created=created,
            details={
                "activity_id": activity_id,
                "script_id": script_id,
                "computers": str(len(children)),
                "succeeded": str(len(children)),
                **({"reboot_activity_id": reboot} if reboot else {}),
            },
        )

    def _reboot(
        self, publication: Publication, children: list[dict[str, Any]], journal: Journal
    ) -> str | None:
        """Restart the ring's computers once (``reboot: afterInstall``); the activity's id."""
        wanted, delay = reboot_of(publication)
        if not wanted:
            return None
        done = journal.get(REBOOT_ID)
        if done is not None:
            return done
        arguments: dict[str, Any] = {
            "computer_ids": sorted({int(c["computer_id"]) for c in children}),
        }
        if delay:
            when = self._now() + timedelta(minutes=delay)
            arguments["deliver_after"] = when.strftime("%Y-%m-%dT%H:%M:%SZ")
        group = self._call("RebootComputers", **arguments)
        reboot_id = str(group["id"])
        journal.put(REBOOT_ID, reboot_id)
        return reboot_id

    def _user(self, publication: Publication) -> str:
        top, _ = settings_of(publication)
        return str(top.get("runAs") or self._settings.script_user)

    @staticmethod
    def _time_limit(publication: Publication) -> int:
        top, _ = settings_of(publication)
        return int(top.get("timeLimitSeconds", TIME_LIMIT))

    def state(self, intent_name: str) -> PlaneState:
        """The intent's scripts and the status of the activity each one ran (reads only)."""
        scripts = [
            (match, script)
            for script in self._all_scripts()
            if (match := _TITLE.match(str(script["title"]))) and match["intent"] == intent_name
        ]
        if not scripts:
            return PlaneState(present=False)
        groups = {
            str(a["summary"]): str(a["activity_status"])
            for a in self._call("GetActivities", query="type:ActivityGroup")
        }
        rings = {
            match["ring"]: groups.get(f"Run script: {script['title']}", "not run")
            for match, script in scripts
        }
        newest = scripts[-1]
        return PlaneState(
            present=True,
            version=newest[0]["version"],
            rings=rings,
            object_id=str(newest[1]["id"]),
            settings=self._read_settings(
                [(m, s) for m, s in scripts if m["version"] == newest[0]["version"]]
            ),
        )

    def _read_settings(self, scripts: list[tuple[re.Match[str], dict[str, Any]]]) -> dict[str, Any]:
        """The settings the version's scripts hold, in the intent's words (empty if none)."""
        top: dict[str, Any] = {}
        rings: dict[str, Any] = {}
        for match, script in scripts:
            code = str(self._call("GetScriptCode", script_id=str(script["id"])))
            line = next((x for x in code.splitlines() if x.startswith(SETTINGS_HEADER)), None)
            if line is None:
                continue
            recorded = json.loads(line.removeprefix(SETTINGS_HEADER))
            top = dict(recorded.get("landscape") or {})
            # What the script object holds wins over what its header says was asked for.
            if "timeLimitSeconds" in top:
                top["timeLimitSeconds"] = int(script["time_limit"])
            if "runAs" in top:
                top["runAs"] = script.get("username")
            if recorded.get("ring"):
                rings[match["ring"]] = dict(recorded["ring"])
        found: dict[str, Any] = {"landscape": top} if top else {}
        if rings:
            found["rings"] = rings
        return found

    def observe(self, intent: Mapping[str, Any], rings: Sequence[Ring]) -> Observed:
        """The intent's scripts for drift: the newest version's script per ring, on its ring's tag.

        Landscape keeps no assignment: a ring's script (titled ``eucora <intent> <version>
        <ring> [key]``, the marker) is what runs on ``tag:<target>``, so a ring whose script is
        gone is a removed group. The title carries no evidence digest (the script's header does,
        and ``GetScripts`` does not return the code).
        """
        name = _observe.intent_name(intent)
        scripts = [
            match
            for script in self._all_scripts()
            if (match := _TITLE.match(str(script["title"]))) and match["intent"] == name
        ]
        if not scripts:
            return _observe.absent()
        version = scripts[-1]["version"]
        targets = [
            _observe.target_of(rings, match["ring"])
            for match in scripts
            if match["version"] == version
        ]
        return Observed(
            present=True,
            version=version,
            marker=Marker(name=name, version=version, evidence=""),
            assignments=_observe.assignments(
                (target, "required") for target in targets if target is not None
            ),
        )

    def retire(self, intent_name: str, journal: Journal) -> None:
        """Cancel the publication's unfinished activities and remove the intent's scripts."""
        activity_id = journal.get(ACTIVITY_ID)
        if activity_id is not None:
            # Finished activities cannot be cancelled: InvalidActivityStatusChange is fine.
            response = self._request(
                "CancelActivities", allow=(400,), query=f"parent-id:{activity_id}"
            )
            body = self._http.decode(response, "CancelActivities")
            if response.status_code == 400 and not (
                isinstance(body, dict) and body.get("error") == "InvalidActivityStatusChange"
            ):
                raise PermanentConnectorError(
                    f"landscape: CancelActivities answered HTTP 400:"
                    f" {self._http.redact(_landscape_message(response))}"
                )
        for script in self._all_scripts():
            match = _TITLE.match(str(script["title"]))
            if match and match["intent"] == intent_name:
                self._call("RemoveScript", script_id=str(script["id"]))

    def outcomes(self, publication: Publication) -> RingOutcomes:
        """The child activities (one per computer) of the publication's activity group.

        The group is the newest ``ActivityGroup`` whose summary is ``Run script: <title>``; its
        children are read page by page (``GetActivities`` ``parent-id:N``). ``succeeded`` is
        installed, ``failed`` failed (``result_code``, ``result_text``), ``canceled`` not
        applicable (it never runs), anything else (undelivered, unapproved, delivered,
        scheduled) pending. Landscape answers live, so ``as_of`` is its ``Date`` header.
        """
        summary = f"Run script: {script_title(publication)}"
        groups = [
            a
            for a in self._activities("type:ActivityGroup")[0]
            if a.get("summary") == summary and a.get("parent_id") in (None, "None")
        ]
        if not groups:
            raise PermanentConnectorError(f"landscape: no activity '{summary}' to read back")
        group_id = max(int(a["id"]) for a in groups)
        children, response = self._activities(f"parent-id:{group_id}")
        if not children:
            raise TransientConnectorError(f"landscape: activity {group_id} has no computers")
        statuses = [str(c.get("activity_status")) for c in children]
        failed = [c for c in children if c.get("activity_status") == "failed"]
        return RingOutcomes(
            targeted=len(children),
            installed=statuses.count("succeeded"),
            failed=len(failed),
            pending=sum(1 for s in statuses if s not in FINAL),
            not_applicable=statuses.count("canceled"),
            as_of=plane_time(response, self._now),
            errors=sample(
                DeviceError(
                    device=str(c.get("computer_id")),
                    code=str(c.get("result_code")),
                    message=self._http.redact(str(c.get("result_text") or "")),
                )
                for c in failed
            ),
        )

    def _activities(self, query: str) -> tuple[list[dict[str, Any]], httpx.Response]:
        """Every activity the query selects, page by page, and the last page's response."""
        found: list[dict[str, Any]] = []
        while True:
            response = self._request(
                "GetActivities", query=query, offset=str(len(found)), limit=str(_PAGE)
            )
            page = self._http.decode(response, "GetActivities")
            if not isinstance(page, list):
                raise TransientConnectorError("landscape: GetActivities answered no list")
            found += page
            if len(page) < _PAGE:
                return found, response

    # -- steps -----------------------------------------------------------------------------
    def _all_scripts(self) -> list[dict[str, Any]]:
        return list(self._call("GetScripts"))

    def _find_script(self, title: str) -> dict[str, Any] | None:
        return next((s for s in self._all_scripts() if s["title"] == title), None)

    def _find_or_create_script(self, publication: Publication, title: str) -> dict[str, Any]:
        found = self._find_script(title)
        if found is not None:
            return found
        code = base64.b64encode(script_code(publication).encode()).decode()
        response = self._request(
            "CreateScript",
            allow=(400,),
            title=title,
            time_limit=str(self._time_limit(publication)),
            code=code,
            username=self._user(publication),
        )
        body = self._http.decode(response, "CreateScript")
        if response.status_code == 400:
            if isinstance(body, dict) and body.get("error") == "DuplicateScript":
                found = self._find_script(title)
                if found is not None:
                    return found
            raise PermanentConnectorError(
                f"landscape: CreateScript answered HTTP 400:"
                f" {self._http.redact(_landscape_message(response))}"
            )
        return dict(body)

    def _adopt_lost_launch(self, title: str, journal: Journal) -> str | None:
        marker = journal.get(LAUNCH_AFTER)
        if marker is None:
            journal.put(LAUNCH_AFTER, (self._now() - _SKEW).strftime("%Y-%m-%dT%H:%M:%SZ"))
            return None
        summary = f"Run script: {title}"
        for activity in self._call("GetActivities", query=f"created-after:{marker}"):
            if activity.get("summary") == summary and activity.get("parent_id") in (None, "None"):
                activity_id = str(activity["id"])
                journal.put(ACTIVITY_ID, activity_id)
                return activity_id
        return None

    # -- the signed call -------------------------------------------------------------------
    def _call(self, action: str, **arguments: Any) -> Any:
        response = self._request(action, **arguments)
        return self._http.decode(response, action)

    def _request(
        self, action: str, *, allow: tuple[int, ...] = (), **arguments: Any
    ) -> httpx.Response:
        params = {
            "action": action,
            "version": API_VERSION,
            "access_key_id": self._settings.key,
            "signature_method": "HmacSHA256",
            "signature_version": "2",
            "timestamp": self._now().strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        for name, value in arguments.items():
            if isinstance(value, list):  # a list is sent as name.1, name.2, ...
                params.update({f"{name}.{i}": str(v) for i, v in enumerate(value, 1)})
            else:
                params[name] = value
        params["signature"] = self._sign(params)
        return self._http.request("POST", self._path, data=params, allow=allow)

    def _sign(self, params: dict[str, str]) -> str:
        canonical = "&".join(
            f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in sorted(params.items())
        )
        string_to_sign = f"POST\n{self._host}\n{self._path}\n{canonical}"
        digest = hmac.new(
            self._settings.secret.encode(), string_to_sign.encode(), hashlib.sha256
        ).digest()
        return base64.b64encode(digest).decode()
