"""Jamf Pro: a package record (Jamf Pro API) and one policy per ring (Classic API XML).

Policies exist only in the Classic API, so the policy is written as ``<policy>`` XML; the package
goes through the Jamf Pro API (``/api/v1/packages``) and its file through ``…/upload``. Names are
the idempotency keys, as Jamf enforces unique names:

* package ``"<intent> <version>"``, file ``<intent>-<version><ext>``, ``notes`` holding the marker
  ``eucora intent=… version=… evidence=sha256:…``;
* policy ``"EUCORA <intent> [<ring>]"``, one per ring, updated in place when the version changes
  (the plan says "replace version V"); its Self Service description holds the same marker.

A ``required`` ring installs at check-in once per computer; an ``available`` ring is a Self
Service policy. A create answered ``409`` ("Duplicate name" on Classic, ``DUPLICATE_FIELD`` on the
Pro API) means someone got there first: the object is found by name and updated.
"""

from __future__ import annotations

import html
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote
from xml.etree.ElementTree import Element, SubElement, tostring

import httpx
from defusedxml import ElementTree

from bot.core.drift import Observed
from bot.core.plane_settings import JAMF_TRIGGERS
from bot.core.planes import PROFILES
from bot.core.rollout_model import DeviceError, RingOutcomes
from bot.errors import PermanentConnectorError, TransientConnectorError

from . import _observe
from ._http import new_client, send, vendor_message
from ._outcomes import plane_time, sample
from .artifacts import ArtifactSource, artifact_file_name, fetch_artifact
from .base import (
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
from .settings import JamfSettings

PLANE = PlaneConnector(
    profile=PROFILES[Plane.JAMF],
    settings=JamfSettings.from_environ,
    build=lambda settings, services: JamfConnector(settings, artifacts=services.artifacts),
)
"""Jamf Pro as the registry finds and builds it."""

POLICY_PREFIX = "EUCORA "
_RESTART = {
    "doNotRestart": "Do not restart",
    "restart": "Restart",
    "restartIfRequired": "Restart if a package or update requires it",
    "restartImmediately": "Restart immediately",
}
"""``jamf.restart`` choices and the Classic policy's ``reboot`` values."""
_TAGS = re.compile(r"<[^>]+>")
TOKEN_MARGIN = 30.0
"""A token this close to expiry is renewed before use."""


def marker(publication: Publication) -> str:
    """What ties a Jamf object back to the change: intent, version and evidence digest."""
    return (
        f"eucora intent={publication.name} version={publication.version}"
        f" evidence={publication.evidence_digest}"
    )


def package_name(publication: Publication) -> str:
    """The package's unique name: intent and version."""
    return f"{publication.name} {publication.version}"


def policy_name(intent_name: str, ring_name: str) -> str:
    """The ring's policy name (stable across versions, so a new version updates it)."""
    return f"{POLICY_PREFIX}{intent_name} [{ring_name}]"


@dataclass(frozen=True, slots=True)
class _Policy:
    """What the connector reads back from a Classic policy."""

    id: int
    name: str
    enabled: bool
    groups: tuple[str, ...]
    package_ids: tuple[str, ...]
    self_service: bool
    description: str
    settings: Mapping[str, Any]
    """The policy's ``jamf`` settings in the intent's words (:func:`read_policy_settings`)."""
    excluded: tuple[str, ...]

    @classmethod
    def from_xml(cls, text: str) -> _Policy:
        root = ElementTree.fromstring(text)
        return cls(
            id=int(root.findtext("general/id") or 0),
            name=root.findtext("general/name") or "",
            enabled=(root.findtext("general/enabled") or "").strip() == "true",
            groups=tuple(
                (g.findtext("name") or g.findtext("id") or "")
                for g in root.iterfind("scope/computer_groups/computer_group")
            ),
            package_ids=tuple(
                p.findtext("id") or ""
                for p in root.iterfind("package_configuration/packages/package")
            ),
            self_service=(root.findtext("self_service/use_for_self_service") or "") == "true",
            description=root.findtext("self_service/self_service_description") or "",
            settings=read_policy_settings(root),
            excluded=tuple(
                g.findtext("name") or ""
                for g in root.iterfind("scope/exclusions/computer_groups/computer_group")
            ),
        )

    @property
    def version(self) -> str | None:
        for word in self.description.split():
            if word.startswith("version="):
                return word.removeprefix("version=")
        return None


class JamfConnector:
    """Publishes intents to Jamf Pro."""

    plane = Plane.JAMF

    def __init__(
        self,
        settings: JamfSettings,
        *,
        artifacts: ArtifactSource,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._settings = settings
        self._artifacts = artifacts
        self._client = new_client(
            settings.url,
            ca_bundle=settings.ca_bundle,
            timeout=settings.timeout,
            transport=transport,
        )
        self._token: str | None = None
        self._token_expires = 0.0

    def close(self) -> None:
        """Close the HTTP connections."""
        self._client.close()

    # -- wire ------------------------------------------------------------------------------

    def _bearer(self) -> str:
        if self._token is None or time.monotonic() > self._token_expires - TOKEN_MARGIN:
            response = self._send(
                "POST",
                "/api/v1/oauth/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": self._settings.client_id,
                    "client_secret": self._settings.client_secret,
                },
            )
            body = response.json()
            self._token = str(body["access_token"])
            self._token_expires = time.monotonic() + float(body.get("expires_in", 300))
        return self._token

    def _send(
        self, method: str, path: str, *, accept: tuple[int, ...] = (), **kwargs: Any
    ) -> httpx.Response:
        secrets = (self._settings.client_secret, self._token)
        return send(
            self._client, method, path, plane="jamf", secrets=secrets, accept=accept, **kwargs
        )

    def _call(
        self, method: str, path: str, *, accept: tuple[int, ...] = (), **kwargs: Any
    ) -> httpx.Response:
        """One authorised call; a token Jamf no longer accepts (401) is renewed once."""
        extra = kwargs.pop("headers", {})
        for attempt in (1, 2):
            headers = {"Authorization": f"Bearer {self._bearer()}", **extra}
            allow = (*accept, 401) if attempt == 1 else accept
            response = self._send(method, path, accept=allow, headers=headers, **kwargs)
            if response.status_code != 401 or 401 in accept:
                return response
            self._token = None
        return response  # pragma: no cover -- the second attempt raises on 401

    # -- lookups ---------------------------------------------------------------------------

    def _find_package(self, name: str) -> dict[str, Any] | None:
        escaped = name.replace("\\", "\\\\").replace('"', '\\"')
        response = self._call(
            "GET",
            "/api/v1/packages",
            params={"filter": f'packageName=="{escaped}"', "page": 0, "page-size": 100},
        )
        results = response.json().get("results", [])
        found: dict[str, Any] | None = next(
            (p for p in results if p.get("packageName") == name), None
        )
        return found

    def _get_package(self, package_id: str) -> dict[str, Any] | None:
        response = self._call("GET", f"/api/v1/packages/{package_id}", accept=(404,))
        if response.status_code == 404:
            return None
        found: dict[str, Any] = response.json()
        return found

    def _find_policy(self, name: str) -> _Policy | None:
        response = self._call(
            "GET",
            f"/JSSResource/policies/name/{quote(name, safe='')}",
            accept=(404,),
            headers={"Accept": "application/xml"},
        )
        if response.status_code == 404:
            return None
        return _Policy.from_xml(response.text)

    def _policies_of(self, intent_name: str) -> list[_Policy]:
        response = self._call("GET", "/JSSResource/policies", headers={"Accept": "application/xml"})
        prefix = f"{POLICY_PREFIX}{intent_name} ["
        found = []
        for entry in ElementTree.fromstring(response.text).iterfind("policy"):
            if (entry.findtext("name") or "").startswith(prefix):
                detail = self._call(
                    "GET",
                    f"/JSSResource/policies/id/{entry.findtext('id')}",
                    headers={"Accept": "application/xml"},
                )
                found.append(_Policy.from_xml(detail.text))
        return found

    # -- Connector -------------------------------------------------------------------------

    def plan(self, publication: Publication) -> tuple[PlannedStep, ...]:
        """The steps :meth:`publish` would take, from GETs only."""
        _refuse_uninstall(publication)
        steps: list[PlannedStep] = []
        name = package_name(publication)
        file_name = artifact_file_name(publication.intent)
        size = publication.intent["package"].get("sizeBytes")
        package = self._find_package(name)
        if package is None:
            steps.append(_step(StepKind.CREATE, f"create package '{name}' ({file_name})"))
        if package is None or not package.get("size"):
            shown = f"{size} bytes" if size is not None else "size unknown"
            steps.append(_step(StepKind.UPLOAD, f"upload file {file_name} ({shown})"))
        ring = publication.ring
        policy_title = policy_name(publication.name, ring.name)
        how = _how(ring.assignment)
        policy = self._find_policy(policy_title)
        if policy is None:
            steps.append(_step(StepKind.CREATE, f"create policy '{policy_title}'"))
            steps.append(_step(StepKind.ASSIGN, f"scope to computer group {ring.target} {how}"))
            return tuple(steps)
        replaced = package is None or policy.package_ids != (str(package["id"]),)
        if replaced:
            old = policy.version or "unknown"
            steps.append(
                _step(StepKind.REPLACE, f"replace version {old} in policy '{policy_title}'")
            )
        if policy.groups != (ring.target,) or policy.self_service != (
            ring.assignment == "available"
        ):
            steps.append(_step(StepKind.ASSIGN, f"scope to computer group {ring.target} {how}"))
        elif not replaced and (
            policy.description != self_service_description(publication) or not policy.enabled
        ):
            steps.append(_step(StepKind.UPDATE, f"update policy '{policy_title}'"))
        if not steps:
            steps.append(_step(StepKind.NOTHING, f"policy '{policy_title}' already holds {name}"))
        return tuple(steps)

    def publish(self, publication: Publication, journal: Journal) -> PublishResult:
        """Find-or-create the package and upload it, then find-or-create the ring's policy."""
        _refuse_uninstall(publication)
        package = self._ensure_package(publication)
        journal.put("jamf.package_id", str(package["id"]))
        if not package.get("size"):
            self._upload(publication, str(package["id"]))
        policy_id, created = self._ensure_policy(publication, str(package["id"]))
        journal.put("jamf.policy_id", str(policy_id))
        return PublishResult(
            object_id=str(policy_id),
            created=created,
            details={"package_id": str(package["id"]), "policy_id": str(policy_id)},
            url=f"{self._settings.url.rstrip('/')}/policies.html?id={policy_id}",
        )

    def state(self, intent_name: str) -> PlaneState:
        """The intent's ring policies as Jamf holds them, and the settings they hold.

        ``settings`` is ``{"jamf": ..., "rings": {ring: {"jamf": {"excludeGroups": ...}}}}`` in
        the words of the intent's ``jamf`` sections; a setting left at the connector's default is
        left out, as an intent that does not mention it says it. The ``jamf`` section is the
        one the ring policies agree on; policies that disagree (a publication under way) each
        add theirs to their ring as ``policy``.
        """
        policies = self._policies_of(intent_name)
        if not policies:
            return PlaneState(present=False)
        rings = {}
        for policy in policies:
            if not policy.enabled or not policy.groups:
                rings[_ring_of(policy)] = "retired"
            else:
                rings[_ring_of(policy)] = "available" if policy.self_service else "required"
        versions = sorted({p.version for p in policies if p.version})
        return PlaneState(
            present=True,
            version=versions[-1] if len(versions) == 1 else ",".join(versions) or None,
            rings=rings,
            object_id=str(policies[0].id),
            details={p.name: str(p.id) for p in policies},
            settings=self._read_settings(policies),
        )

    def _read_settings(self, policies: list[_Policy]) -> dict[str, Any]:
        packages: dict[str, dict[str, Any] | None] = {}
        sections = []
        for policy in policies:
            section = dict(policy.settings)
            for package_id in policy.package_ids[:1]:
                if package_id not in packages:
                    packages[package_id] = self._get_package(package_id)
                section.update(_read_package(packages[package_id], section))
            if not section.get("selfService"):
                section.pop("selfService", None)
            sections.append(section)
        rings: dict[str, Any] = {}
        agreed = all(section == sections[0] for section in sections)
        for policy, section in zip(policies, sections, strict=True):
            ring: dict[str, Any] = {}
            if policy.excluded:
                ring["jamf"] = {"excludeGroups": list(policy.excluded)}
            if not agreed:
                ring["policy"] = section
            rings[_ring_of(policy)] = ring
        return {"jamf": sections[0], "rings": rings} if agreed else {"rings": rings}

    def observe(self, intent: Mapping[str, Any], rings: Sequence[Ring]) -> Observed:
        """The intent's ring policies for drift: scoped groups, how each offers it, the marker.

        A policy that is disabled assigns nothing. The marker is the last ``eucora ...`` line of
        the Self Service description; a policy without it leaves the intent unmarked.
        """
        del rings
        policies = self._policies_of(_observe.intent_name(intent))
        if not policies:
            return _observe.absent()
        markers = [_observe.parse_marker(p.description) for p in policies]
        versions = sorted({m.version for m in markers if m is not None})
        how = {True: "available", False: "required"}
        return Observed(
            present=True,
            version=",".join(versions) or None,
            marker=None if any(m is None for m in markers) else markers[0],
            assignments=_observe.assignments(
                (group, how[p.self_service]) for p in policies if p.enabled for group in p.groups
            ),
        )

    def retire(self, intent_name: str, journal: Journal) -> None:
        """Disable every ring policy of the intent and empty its scope (history is kept)."""
        for policy in self._policies_of(intent_name):
            root = Element("policy")
            general = SubElement(root, "general")
            SubElement(general, "name").text = policy.name
            SubElement(general, "enabled").text = "false"
            scope = SubElement(root, "scope")
            SubElement(scope, "all_computers").text = "false"
            SubElement(scope, "computer_groups")
            self._call(
                "PUT",
                f"/JSSResource/policies/id/{policy.id}",
                content=tostring(root, encoding="unicode"),
                headers={"Content-Type": "application/xml"},
            )
            journal.put(f"jamf.retired.{policy.id}", "true")

    # -- steps -----------------------------------------------------------------------------

    def outcomes(self, publication: Publication) -> RingOutcomes:
        """The ring's group members and each one's newest policy log for the ring's policy.

        Jamf keeps no per-policy log listing: the ring's computer group is read
        (``/JSSResource/computergroups/name/<target>``), then each member's history
        (``computerhistory/id/<id>/subset/PolicyLogs``). The member's newest ``policy_log`` of
        the ring's policy (by ``date_time_epoch``) says ``Completed`` (installed) or ``Failed``;
        a member with none is pending. Jamf has no "not applicable". The data is live, so
        ``as_of`` is Jamf's ``Date`` header on the group read.
        """
        name = policy_name(publication.name, publication.ring.name)
        policy = self._find_policy(name)
        if policy is None:
            raise PermanentConnectorError(f"jamf: no policy '{name}' to read back")
        target = publication.ring.target
        response = self._call(
            "GET",
            f"/JSSResource/computergroups/name/{quote(target, safe='')}",
            headers={"Accept": "application/xml"},
        )
        members = [
            (c.findtext("id") or "", c.findtext("name") or "")
            for c in _xml(response.text, "computer group").iterfind("computers/computer")
        ]
        installed = pending = 0
        errors: list[DeviceError] = []
        for computer_id, computer in members:
            history = self._call(
                "GET",
                f"/JSSResource/computerhistory/id/{computer_id}/subset/PolicyLogs",
                headers={"Accept": "application/xml"},
            )
            logs = [
                log
                for log in _xml(history.text, "computer history").iterfind("policy_logs/policy_log")
                if (log.findtext("policy_id") or "").strip() == str(policy.id)
            ]
            if not logs:
                pending += 1
                continue
            newest = max(logs, key=lambda log: int(log.findtext("date_time_epoch") or 0))
            status = (newest.findtext("status") or "").strip()
            if status == "Completed":
                installed += 1
            elif status == "Failed":
                when = newest.findtext("date_time_utc") or "?"
                errors.append(DeviceError(computer, "Failed", f"policy {name} failed at {when}"))
            else:
                pending += 1
        return RingOutcomes(
            targeted=len(members),
            installed=installed,
            failed=len(errors),
            pending=pending,
            as_of=plane_time(response, lambda: datetime.now(UTC)),
            errors=sample(errors),
        )

    def _package_body(self, publication: Publication) -> dict[str, Any]:
        options = (publication.intent.get("jamf") or {}).get("package") or {}
        return {
            "packageName": package_name(publication),
            "fileName": artifact_file_name(publication.intent),
            "categoryId": "-1",
            "priority": options.get("priority", 10),
            "osInstall": False,
            "fillUserTemplate": bool(options.get("fillUserTemplate", False)),
            "rebootRequired": bool(options.get("rebootRequired", False)),
            "suppressEula": False,
            "suppressFromDock": False,
            "suppressRegistration": False,
            "suppressUpdates": False,
            "info": f"{publication.intent['app']['name']} {publication.version}",
            "notes": marker(publication),
            "sha256": str(publication.intent["package"]["sha256"]),
        }

    def _ensure_package(self, publication: Publication) -> dict[str, Any]:
        body = self._package_body(publication)
        found = self._find_package(body["packageName"])
        if found is None:
            response = self._call("POST", "/api/v1/packages", json=body, accept=(409,))
            if response.status_code != 409:
                package = self._get_package(str(response.json()["id"]))
                if package is not None:
                    return package
            found = self._find_package(body["packageName"])
            if found is None:
                raise TransientConnectorError(
                    f"jamf: package '{body['packageName']}' is said to exist but cannot be found"
                )
        if found.get("notes") != body["notes"] or found.get("fileName") != body["fileName"]:
            self._call("PUT", f"/api/v1/packages/{found['id']}", json=body)
            found = {**found, **body, "id": found["id"]}
        return found

    def _upload(self, publication: Publication, package_id: str) -> None:
        artifact = fetch_artifact(
            self._artifacts, publication.intent, artifact_file_name(publication.intent)
        )
        self._call(
            "POST",
            f"/api/v1/packages/{package_id}/upload",
            files={"file": (artifact.file_name, artifact.data, "application/octet-stream")},
        )

    def _policy_xml(self, publication: Publication, package_id: str) -> str:
        ring = publication.ring
        available = ring.assignment == "available"
        settings = publication.intent.get("jamf") or {}
        ring_settings = next(
            (r.get("jamf") or {} for r in publication.intent["rings"] if r["name"] == ring.name),
            {},
        )
        triggers = set(settings.get("triggers") or (() if available else ("recurringCheckin",)))
        root = Element("policy")
        general = SubElement(root, "general")
        SubElement(general, "name").text = policy_name(publication.name, ring.name)
        SubElement(general, "enabled").text = "true"
        for trigger, element in JAMF_TRIGGERS.items():
            SubElement(general, element).text = "true" if trigger in triggers else "false"
        if settings.get("customEvent"):
            SubElement(general, "trigger_other").text = str(settings["customEvent"])
        default = "Ongoing" if available else "Once per computer"
        SubElement(general, "frequency").text = str(settings.get("frequency", default))
        scope = SubElement(root, "scope")
        SubElement(scope, "all_computers").text = "false"
        group = SubElement(SubElement(scope, "computer_groups"), "computer_group")
        SubElement(group, "name").text = ring.target
        excluded = SubElement(SubElement(scope, "exclusions"), "computer_groups")
        for name in ring_settings.get("excludeGroups") or ():
            SubElement(SubElement(excluded, "computer_group"), "name").text = str(name)
        service = SubElement(root, "self_service")
        shown = settings.get("selfService") or {}
        SubElement(service, "use_for_self_service").text = "true" if available else "false"
        SubElement(service, "self_service_display_name").text = str(
            shown.get("displayName") or publication.intent["app"]["name"]
        )
        if shown.get("installButtonText"):
            SubElement(service, "install_button_text").text = str(shown["installButtonText"])
        if "featureOnMainPage" in shown:
            SubElement(service, "feature_on_main_page").text = str(
                bool(shown["featureOnMainPage"])
            ).lower()
        SubElement(service, "self_service_description").text = self_service_description(publication)
        if shown.get("category"):
            category = SubElement(SubElement(service, "self_service_categories"), "category")
            SubElement(category, "name").text = str(shown["category"])
            SubElement(category, "display_in").text = "true"
        _add_scripts_and_restart(root, settings)
        packages = SubElement(SubElement(root, "package_configuration"), "packages")
        SubElement(packages, "size").text = "1"
        package = SubElement(packages, "package")
        SubElement(package, "id").text = package_id
        SubElement(package, "action").text = "Install"
        SubElement(SubElement(root, "maintenance"), "recon").text = "true"
        return tostring(root, encoding="unicode")

    def _ensure_policy(self, publication: Publication, package_id: str) -> tuple[int, bool]:
        name = policy_name(publication.name, publication.ring.name)
        body = self._policy_xml(publication, package_id)
        headers = {"Content-Type": "application/xml"}
        existing = self._find_policy(name)
        if existing is None:
            response = self._call(
                "POST", "/JSSResource/policies/id/0", content=body, headers=headers, accept=(409,)
            )
            if response.status_code != 409:
                return _policy_id(response.text), True
            if "duplicate name" not in response.text.lower():
                raise PermanentConnectorError(
                    f"jamf: POST /JSSResource/policies/id/0 answered HTTP 409:"
                    f" {vendor_message(response)}"
                )
            existing = self._find_policy(name)
            if existing is None:
                raise TransientConnectorError(f"jamf: policy '{name}' exists but cannot be found")
        self._call("PUT", f"/JSSResource/policies/id/{existing.id}", content=body, headers=headers)
        return existing.id, False


def _xml(text: str, what: str) -> Element:
    """A Classic XML answer; one that does not parse is the plane's fault (a retry)."""
    try:
        root: Element = ElementTree.fromstring(text)
    except ElementTree.ParseError:
        raise TransientConnectorError(f"jamf: the {what} answer is not XML") from None
    return root


def _add_scripts_and_restart(root: Element, settings: dict[str, Any]) -> None:
    """The policy's ``scripts`` (before/after, parameters 4-11) and ``reboot`` options."""
    scripts = settings.get("scripts") or ()
    if scripts:
        listed = SubElement(root, "scripts")
        SubElement(listed, "size").text = str(len(scripts))
        for entry in scripts:
            script = SubElement(listed, "script")
            SubElement(script, "name").text = str(entry["name"])
            SubElement(script, "priority").text = str(entry.get("priority", "after")).title()
            for number, value in enumerate(entry.get("parameters") or (), start=4):
                SubElement(script, f"parameter{number}").text = str(value)
    restart = settings.get("restart") or {}
    if restart:
        reboot = SubElement(root, "reboot")
        for key, element in (("userLoggedIn", "user_logged_in"),
                             ("noUserLoggedIn", "no_user_logged_in")):  # fmt: skip
            if key in restart:
                SubElement(reboot, element).text = _RESTART[str(restart[key])]
        if "minutesUntilReboot" in restart:
            SubElement(reboot, "minutes_until_reboot").text = str(restart["minutesUntilReboot"])
        if "message" in restart:
            SubElement(reboot, "message").text = str(restart["message"])


def _ring_of(policy: _Policy) -> str:
    return policy.name.rsplit("[", 1)[1].rstrip("]")


def read_policy_settings(root: Element) -> dict[str, Any]:
    """A Classic ``<policy>``'s settings in the words of the intent's ``jamf`` section.

    The defaults :meth:`JamfConnector._policy_xml` fills in (a required ring's check-in trigger
    and once per computer, an available ring's ongoing Self Service policy, scripts after the
    package) are left out. The Self Service display name is kept: the app's name it defaults
    to is not in the policy, so :func:`_read_package` drops it when it is the package's.
    """
    available = (root.findtext("self_service/use_for_self_service") or "") == "true"
    section: dict[str, Any] = {}
    triggers = [
        trigger
        for trigger, element in JAMF_TRIGGERS.items()
        if (root.findtext(f"general/{element}") or "").strip() == "true"
    ]
    if triggers != ([] if available else ["recurringCheckin"]):
        section["triggers"] = triggers
    if root.findtext("general/trigger_other"):
        section["customEvent"] = root.findtext("general/trigger_other")
    frequency = root.findtext("general/frequency")
    if frequency and frequency != ("Ongoing" if available else "Once per computer"):
        section["frequency"] = frequency
    shown = _read_self_service(root)
    if shown:
        section["selfService"] = shown
    scripts = [_read_script(script) for script in root.iterfind("scripts/script")]
    if scripts:
        section["scripts"] = scripts
    restart = _read_restart(root)
    if restart:
        section["restart"] = restart
    return section


def _read_self_service(root: Element) -> dict[str, Any]:
    shown: dict[str, Any] = {}
    if root.findtext("self_service/self_service_display_name"):
        shown["displayName"] = root.findtext("self_service/self_service_display_name")
    category = root.findtext("self_service/self_service_categories/category/name")
    if category:
        shown["category"] = category
    if root.findtext("self_service/install_button_text"):
        shown["installButtonText"] = root.findtext("self_service/install_button_text")
    if (root.findtext("self_service/feature_on_main_page") or "") == "true":
        shown["featureOnMainPage"] = True
    described, _, tail = (root.findtext("self_service/self_service_description") or "").rpartition(
        "\n\n"
    )
    if described and tail.startswith("eucora "):
        shown["description"] = described
    return shown


def _read_script(script: Element) -> dict[str, Any]:
    found: dict[str, Any] = {"name": script.findtext("name") or ""}
    if (script.findtext("priority") or "After").lower() != "after":
        found["priority"] = (script.findtext("priority") or "").lower()
    parameters = []
    for number in range(4, 12):
        value = script.findtext(f"parameter{number}")
        if value is None:
            break
        parameters.append(value)
    if parameters:
        found["parameters"] = parameters
    return found


def _read_restart(root: Element) -> dict[str, Any]:
    words = {v: k for k, v in _RESTART.items()}
    restart: dict[str, Any] = {}
    for key, element in (("userLoggedIn", "user_logged_in"),
                         ("noUserLoggedIn", "no_user_logged_in")):  # fmt: skip
        value = root.findtext(f"reboot/{element}")
        if value in words:
            restart[key] = words[value]
    minutes = root.findtext("reboot/minutes_until_reboot")
    if minutes is not None and minutes.strip().isdigit():
        restart["minutesUntilReboot"] = int(minutes)
    if root.findtext("reboot/message") is not None:
        restart["message"] = root.findtext("reboot/message")
    return restart


def _read_package(package: Mapping[str, Any] | None, section: Mapping[str, Any]) -> dict[str, Any]:
    """The package record's flags as ``jamf.package``, and the display name's default dropped.

    The record's ``info`` is ``"<app name> <version>"`` (:meth:`JamfConnector._package_body`).
    """
    found: dict[str, Any] = {}
    if package is None:
        return found
    options: dict[str, Any] = {}
    if package.get("priority", 10) != 10:
        options["priority"] = package["priority"]
    for key in ("fillUserTemplate", "rebootRequired"):
        if package.get(key):
            options[key] = True
    if options:
        found["package"] = options
    shown = dict(section.get("selfService") or {})
    app = str(package.get("info") or "").rsplit(" ", 1)[0]
    if shown.get("displayName") == app:
        del shown["displayName"]
        found["selfService"] = shown
    return found


def self_service_description(publication: Publication) -> str:
    """The policy's Self Service description: the intent's text, if any, then the marker."""
    shown = ((publication.intent.get("jamf") or {}).get("selfService")) or {}
    described = f"{shown['description']}\n\n" if shown.get("description") else ""
    return described + marker(publication)


def _refuse_uninstall(publication: Publication) -> None:
    if publication.ring.assignment == "uninstall":
        raise PermanentConnectorError(
            f"jamf: ring {publication.ring.name} asks to uninstall, which a Jamf package policy"
            " cannot do (use a script policy)"
        )


def _how(assignment: str) -> str:
    return "as available (Self Service)" if assignment == "available" else f"as {assignment}"


def _step(kind: StepKind, description: str) -> PlannedStep:
    return PlannedStep(kind=kind, description=description)


def _policy_id(text: str) -> int:
    try:
        return int(ElementTree.fromstring(text).findtext("id") or "")
    except (ElementTree.ParseError, ValueError):
        raise TransientConnectorError(
            f"jamf: unreadable policy create answer {_html_text(text)[:200]}"
        ) from None


def _html_text(text: str) -> str:
    return " ".join(html.unescape(_TAGS.sub(" ", text)).split())
