"""Microsoft Intune through Microsoft Graph: LOB app, content upload, group assignment.

One Intune app per intent *version* (``win32LobApp`` on Windows, ``macOSLobApp``/``macOSDmgApp``
on macOS), found again by its ``displayName`` (``"<app name> <version>"``, a ``$filter``) and the
marker in ``notes`` (``eucora intent=… version=… evidence=sha256:…``). Publishing:

1. find-or-create the app (a lost create answer is found by the marker on the retry);
2. unless a content version is committed: reuse a committed or pending content file, or create a
   content version and file, wait for the upload URL, upload the encrypted file to Azure storage in
   blocks, commit with the encryption info, wait for ``commitFileSuccess``, then set
   ``committedContentVersion``;
3. assign to the ring's Entra group with the ring's intent, keeping the app's other assignments
   (``assign`` replaces the whole set);
4. remove the same group's assignment from the intent's other versions ("replace version V").

Four console settings exist only in Microsoft Graph **beta** (v1.0's description has none of them),
so only they go through ``/beta``, and only for an intent that uses them; everything else, and
every body of an intent that does not, stays on v1.0 unchanged: the maximum run time (a beta
``PATCH`` of ``installExperience`` after the v1.0 create), dependencies on other intents' apps and
supersedence of an earlier version of this one (``updateRelationships``, the app's relationships
as a set), and per-ring assignment filters (the assignment target's filter id and type: an intent
with a filter in any ring reads and assigns through beta, so one ring's assign keeps the others'
filters). Microsoft may change beta without notice; docs/intents.md says what that means.

The token comes from MSAL's client-credentials flow against ``EUCORA_INTUNE_AUTHORITY``. MSAL
only accepts ``https`` authorities, so instance discovery is turned off (the authority is
configured, not discovered) and MSAL sends its tenant-discovery and token requests through the
connector's own httpx client: same timeouts, same TLS trust (``EUCORA_INTUNE_CA_BUNDLE`` for a
private CA, as the local double uses), same error mapping.

Content: a Windows app's content is a ``.intunewin`` (:mod:`connectors.intunewin`). A package of
type ``intunewin`` (or ``win32`` whose bytes are one) is read as it is: its ``Detection.xml`` names
the setup file and carries the encryption info, and its encrypted payload is uploaded unchanged.
Any other installer is wrapped here: the installer (or, with ``package.setupFolder``, the files of
the zip the URL serves) is zipped under the name the install command runs, encrypted and
described. A macOS package is encrypted the same way without the zip. ``commit`` sends the
encryption info, and Intune (like the double) refuses content that does not decrypt with it.
"""

from __future__ import annotations

import base64
import csv
import functools
import io
import itertools
import json
import re
import shlex
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any
from urllib.parse import urlsplit

import httpx
import msal
import msal.exceptions

from bot.core.drift import Observed
from bot.core.planes import PROFILES
from bot.core.rollout_model import DeviceError, RingOutcomes
from bot.core.versions import compare_versions
from bot.errors import PermanentConnectorError, TransientConnectorError

from . import _observe
from ._http import new_client, redact, send
from ._outcomes import hex_code, parse_time, sample
from ._polling import Follow
from .artifacts import Artifact, ArtifactSource, artifact_file_name, fetch_artifact
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
from .intunewin import DETECTION_PATH, IntuneWin, IntuneWinError, Keys, MsiInfo, build, parse, seal
from .intunewin import unzip as unzip_folder
from .msi import MsiError, checked_msi_info
from .settings import IntuneSettings

GRAPH_SCOPE = "https://graph.microsoft.com/.default"
APPS = "/deviceAppManagement/mobileApps"
EXPORT_JOBS = "/deviceManagement/reports/exportJobs"
MANAGED_DEVICES = "/deviceManagement/managedDevices"
MEMBER_LOOKUPS = 8
"""Up to this many ring devices, each is looked up in ``managedDevices`` by its Entra id (one
call each); a larger ring reads the whole list once, 1,000 a page, which costs fewer calls."""
REPORT_SELECT = (
    "DeviceId",
    "DeviceName",
    "AppInstallState",
    "AppInstallStateDetails",
    "HexErrorCode",
    "LastModifiedDateTime",
)
"""Pinned columns: Microsoft warns that a report's default columns may change."""
UPLOAD_FOLLOW = Follow(interval=2.0, timeout=900.0)
"""How long content upload and commit states are polled (Microsoft's sample: 10 s, up to ~1 h)."""

PLANE = PlaneConnector(
    profile=PROFILES[Plane.INTUNE],
    settings=IntuneSettings.from_environ,
    build=lambda settings, services: IntuneConnector(
        settings, artifacts=services.artifacts, follow=services.follow or UPLOAD_FOLLOW
    ),
)
"""Intune as the registry finds and builds it."""

BLOCK_SIZE = 6 * 1024 * 1024
"""Azure block size the Microsoft sample uses for content uploads."""
PERMANENT_TOKEN_ERRORS = frozenset(
    {
        "invalid_client",
        "unauthorized_client",
        "invalid_scope",
        "invalid_request",
        "invalid_grant",
        "unsupported_grant_type",
    }
)
_HTTP_STATUS = re.compile(r"HTTP Error: (\d{3})")
_KINDS = {"win32LobApp": "Win32 app", "macOSLobApp": "macOS app", "macOSDmgApp": "macOS DMG app"}
FILTER_ID = "deviceAndAppManagementAssignmentFilterId"
FILTER_TYPE = "deviceAndAppManagementAssignmentFilterType"
RELATIONSHIP_KIND = {
    "#microsoft.graph.mobileAppDependency": "dependencyType",
    "#microsoft.graph.mobileAppSupersedence": "supersedenceType",
}
"""The relationship types EUCORA sends (Graph beta) and the property saying which kind each is."""


def marker(publication: Publication) -> str:
    """What ties the Intune app back to the change: intent, version and evidence digest."""
    return (
        f"eucora intent={publication.name} version={publication.version}"
        f" evidence={publication.evidence_digest}"
    )


def parse_marker(notes: str | None) -> dict[str, str]:
    """The ``key=value`` words of a marker (empty when the notes carry none)."""
    words = (notes or "").split()
    if not words or words[0] != "eucora":
        return {}
    return dict(word.split("=", 1) for word in words[1:] if "=" in word)


def app_type(intent: Mapping[str, Any]) -> str:
    """The Graph type of the app an intent publishes."""
    if intent["platform"] == "windows":
        return "win32LobApp"
    if intent["platform"] == "macos":
        return "macOSDmgApp" if intent["package"]["type"] == "dmg" else "macOSLobApp"
    raise PermanentConnectorError(f"intune: platform {intent['platform']} is not supported")


def display_name(publication: Publication) -> str:
    """The app's name in the Intune console."""
    return f"{publication.intent['app']['name']} {publication.version}"


RETURN_CODES: tuple[tuple[int, str], ...] = (
    (0, "success"),
    (1707, "success"),
    (3010, "softReboot"),
    (1641, "hardReboot"),
    (1618, "retry"),
)
"""Intune's default return codes for a new Win32 app."""
ARCHITECTURES: tuple[str, ...] = ("x64", "arm64")
"""Where a Win32 app installs when the intent does not say: 64-bit Windows, Intel and Arm."""
_MSIEXEC = frozenset({"msiexec", "msiexec.exe"})
_MSI_INSTALL_SWITCHES = frozenset({"/i", "-i", "/package", "-package"})


@dataclass(frozen=True, slots=True)
class Content:
    """What is uploaded for an app: the encrypted bytes and what describes them."""

    name: str
    size: int
    payload: bytes
    encryption: dict[str, str]
    setup_file: str | None = None
    msi: MsiInfo | None = None


def setup_file(intent: Mapping[str, Any]) -> str:
    """The file the install command runs, as the ``.intunewin`` holds it.

    ``package.setupFile`` when given; else the file the install command names (the package of
    ``msiexec /i``, or the command itself when it is a plain file name); else the URL's file name.
    """
    package = intent["package"]
    if package.get("setupFile"):
        return str(package["setupFile"])
    named = _command_file(str(package.get("installCommand") or ""))
    if named is not None:
        return named
    return PurePosixPath(urlsplit(str(package["url"])).path).name or artifact_file_name(intent)


def _command_file(command: str) -> str | None:
    try:
        words = shlex.split(command, posix=False)
    except ValueError:
        return None
    words = [w.strip('"') for w in words]
    if not words:
        return None
    if words[0].lower() in _MSIEXEC:
        after = [b for a, b in itertools.pairwise(words) if a.lower() in _MSI_INSTALL_SWITCHES]
        candidate = after[0] if after else None
    else:
        candidate = words[0]
    if candidate is None or any(c in candidate for c in "\\/%:$"):
        return None
    return candidate if PurePosixPath(candidate).suffix else None


def content_file_name(intent: Mapping[str, Any]) -> str:
    """The app's ``fileName``: ``<intent>-<version>.intunewin`` on Windows, else the package's."""
    name = artifact_file_name(intent)
    if app_type(intent) != "win32LobApp":
        return name
    return f"{intent['metadata']['name']}-{intent['app']['version']}.intunewin"


def app_body(publication: Publication, content: Content | None = None) -> dict[str, Any]:
    """The Graph ``mobileApp`` body for the intent (Win32 or macOS).

    ``content`` (when the package has been read) tells a Win32 app its setup file and MSI codes;
    without it they come from the intent alone.
    """
    intent = publication.intent
    kind = app_type(intent)
    file_name = content_file_name(intent)
    body: dict[str, Any] = {
        "@odata.type": f"#microsoft.graph.{kind}",
        "displayName": display_name(publication),
        "description": intent["metadata"].get("description") or intent["app"]["name"],
        "publisher": intent["app"]["publisher"],
        "developer": intent["app"]["publisher"],
        "owner": intent["metadata"]["owner"],
        "notes": marker(publication),
        "isFeatured": False,
        "fileName": file_name,
    }
    package = intent["package"]
    if kind == "win32LobApp":
        setup = (content.setup_file if content else None) or setup_file(intent)
        msi = (content.msi if content else None) or msi_info(intent)
        install = package.get("installCommand") or _default_install(setup)
        settings = intent.get("intune") or {}
        requirements = settings.get("requirements") or {}
        body |= {
            "setupFilePath": setup,
            "installCommandLine": install,
            "uninstallCommandLine": _uninstall(intent, setup, msi),
            "applicableArchitectures": "none",
            "allowedArchitectures": ",".join(package.get("architectures") or ARCHITECTURES),
            "minimumSupportedWindowsRelease": requirements.get("minimumWindowsRelease", "1607"),
            "installExperience": {
                "@odata.type": "#microsoft.graph.win32LobAppInstallExperience",
                "runAsAccount": "user" if package.get("installContext") == "user" else "system",
                "deviceRestartBehavior": settings.get("restartBehavior", "suppress"),
            },
            "returnCodes": [
                {"returnCode": code, "type": kind_}
                for code, kind_ in return_codes(settings.get("returnCodes") or ())
            ],
            "rules": [
                _detection_rule(intent),
                *(_requirement_rule(rule) for rule in requirements.get("rules") or ()),
            ],
        }
        body |= {
            graph: requirements[key]
            for key, graph in _MINIMUMS.items()
            if requirements.get(key) is not None
        }
    else:
        settings = intent.get("intune") or {}
        bundles = macos_bundles(intent)
        bundle, version = bundles[0]
        minimum = {"@odata.type": "#microsoft.graph.macOSMinimumOperatingSystem", "v10_13": True}
        ignore = bool(settings.get("ignoreVersionDetection", False))
        if kind == "macOSDmgApp":
            body |= {
                "primaryBundleId": bundle,
                "primaryBundleVersion": version,
                "includedApps": [{"bundleId": b, "bundleVersion": v} for b, v in bundles],
                "ignoreVersionDetection": ignore,
                "minimumSupportedOperatingSystem": minimum,
            }
        else:
            body |= {
                "bundleId": bundle,
                "versionNumber": version,
                "buildNumber": version,
                "childApps": [
                    {"bundleId": b, "versionNumber": v, "buildNumber": v} for b, v in bundles
                ],
                "ignoreVersionDetection": ignore,
                "installAsManaged": bool(settings.get("installAsManaged", False)),
                "minimumSupportedOperatingSystem": minimum,
            }
    return body


_MINIMUMS = {
    "minimumFreeDiskSpaceMB": "minimumFreeDiskSpaceInMB",
    "minimumMemoryMB": "minimumMemoryInMB",
    "minimumProcessors": "minimumNumberOfProcessors",
    "minimumCpuSpeedMHz": "minimumCpuSpeedInMHz",
}
"""``intune.requirements`` minimums and the ``win32LobApp`` properties they are sent as."""
_RULE_TYPES = {
    "file": "#microsoft.graph.win32LobAppFileSystemRule",
    "registry": "#microsoft.graph.win32LobAppRegistryRule",
    "script": "#microsoft.graph.win32LobAppPowerShellScriptRule",
}
_FILE_CHECKS = {"exists": "exists", "version": "version", "integer": "sizeInMB"}
_REGISTRY_CHECKS = {"exists": "exists", "doesNotExist": "doesNotExist", "version": "version",
                    "string": "string", "integer": "integer"}  # fmt: skip


def return_codes(custom: Any) -> tuple[tuple[int, str], ...]:
    """Intune's default return codes with the intent's on top (a listed code replaces a default)."""
    given = {int(entry["code"]): str(entry["type"]) for entry in custom}
    kept = tuple((code, kind) for code, kind in RETURN_CODES if code not in given)
    return kept + tuple(given.items())


def macos_bundles(intent: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(bundle id, version) of a macOS app's bundles, the primary first."""
    version = str(intent["app"]["version"])
    listed = (intent.get("intune") or {}).get("bundles")
    if listed:
        return [(str(b["bundleId"]), str(b.get("version") or version)) for b in listed]
    detection = intent["package"].get("detection") or {}
    return [(str(detection.get("bundleId") or intent["metadata"]["name"]), version)]


def _requirement_rule(rule: Mapping[str, Any]) -> dict[str, Any]:
    """One ``intune.requirements.rules`` entry as a Win32 requirement rule."""
    kind, check = str(rule["type"]), str(rule["check"])
    compared = check not in {"exists", "doesNotExist"}
    body: dict[str, Any] = {"@odata.type": _RULE_TYPES[kind], "ruleType": "requirement"}
    operator = str(rule.get("operator", "equal")) if compared else "notConfigured"
    value = rule.get("value") if compared else None
    bits = bool(rule.get("check32BitOn64System", False))
    if kind == "file":
        path = PureWindowsPath(str(rule["path"]))
        return body | {
            "path": str(path.parent),
            "fileOrFolderName": path.name,
            "check32BitOn64System": bits,
            "operationType": _FILE_CHECKS[check],
            "operator": operator,
            "comparisonValue": value,
        }
    if kind == "registry":
        return body | {
            "keyPath": rule["key"],
            "valueName": rule.get("valueName"),
            "check32BitOn64System": bits,
            "operationType": _REGISTRY_CHECKS[check],
            "operator": operator,
            "comparisonValue": value,
        }
    return body | {
        "displayName": "eucora requirement",
        "scriptContent": base64.b64encode(str(rule["script"]).encode()).decode("ascii"),
        "enforceSignatureCheck": False,
        "runAs32Bit": bits,
        "runAsAccount": "system",
        "operationType": check if compared else "string",
        "operator": operator,
        "comparisonValue": value,
    }


def _default_install(setup: str) -> str:
    if _is_msi(setup):
        return f'msiexec /i "{setup}" /qn /norestart'
    return f'"{setup}"'


def _is_msi(setup: str) -> bool:
    return PurePosixPath(setup.replace("\\", "/")).suffix.lower() == ".msi"


def msi_info(intent: Mapping[str, Any]) -> MsiInfo | None:
    """An MSI's codes as the intent gives them (``package.msi``, else an MSI detection rule).

    When the package is read, :func:`connectors.msi.checked_msi_info` replaces these with the
    MSI's own Property table (and refuses codes the file contradicts).
    """
    package = intent["package"]
    given = package.get("msi") or {}
    detection = package.get("detection") or {}
    code = given.get("productCode") or (
        detection.get("productCode") if detection.get("type") == "msiProductCode" else None
    )
    if not code:
        return None
    return MsiInfo(
        product_code=str(code),
        product_version=str(intent["app"]["version"]),
        upgrade_code=given.get("upgradeCode"),
        per_user=package.get("installContext") == "user",
    )


def _uninstall(intent: Mapping[str, Any], setup: str, msi: MsiInfo | None) -> str:
    """The intent's uninstall command; for an MSI, ``msiexec /x`` by product code (or package).

    Never the install command: an ``uninstall`` assignment would install the app again.
    """
    given = intent["package"].get("uninstallCommand")
    if given:
        return str(given)
    if msi is not None:
        return f"msiexec /x {msi.product_code} /qn"
    if _is_msi(setup):
        return f'msiexec /x "{setup}" /qn'
    raise PermanentConnectorError(
        f"intune: intent {intent['metadata']['name']}: package.uninstallCommand is required for"
        f" a Win32 app whose setup file {setup!r} is not an MSI (Intune runs it for uninstall"
        " assignments and rollbacks)"
    )


def prepare_content(intent: Mapping[str, Any], artifact: Artifact) -> Content:
    """The content to upload for the intent's checked artifact (see the module docstring)."""
    name = intent["metadata"]["name"]
    package = intent["package"]
    if app_type(intent) != "win32LobApp":
        payload, info = seal(artifact.data, Keys.random())
        return Content(artifact.file_name, artifact.size, payload, info.graph())
    try:
        prebuilt = _prebuilt(package["type"], artifact.data)
        if prebuilt is None:
            setup = setup_file(intent)
            files = (
                unzip_folder(artifact.data)
                if package.get("setupFolder")
                else {setup: artifact.data}
            )
            msi = (
                checked_msi_info(files.get(setup, b""), msi_info(intent))
                if _is_msi(setup)
                else None
            )
            prebuilt = build(files, setup, msi=msi)
    except (IntuneWinError, MsiError) as error:
        raise PermanentConnectorError(
            f"intune: intent {name}: package {package['url']}: {error}"
        ) from None
    detection = prebuilt.detection
    return Content(
        name=detection.file_name,
        size=detection.unencrypted_size,
        payload=prebuilt.payload,
        encryption=detection.encryption.graph(),
        setup_file=detection.setup_file,
        msi=detection.msi,
    )


def _prebuilt(package_type: str, data: bytes) -> IntuneWin | None:
    """The package as a ``.intunewin`` when it is one (type ``intunewin`` must be)."""
    if package_type == "intunewin" or (package_type == "win32" and _holds_detection(data)):
        return parse(data)
    return None


def _holds_detection(data: bytes) -> bool:
    return data[:4] == b"PK\x03\x04" and DETECTION_PATH.encode() in data


def _detection_rule(intent: Mapping[str, Any]) -> dict[str, Any]:
    detection = intent["package"].get("detection") or {}
    kind = detection.get("type")
    if kind == "msiProductCode":
        return {
            "@odata.type": "#microsoft.graph.win32LobAppProductCodeRule",
            "ruleType": "detection",
            "productCode": detection["productCode"],
            "productVersionOperator": "notConfigured",
        }
    if kind == "registry":
        return {
            "@odata.type": "#microsoft.graph.win32LobAppRegistryRule",
            "ruleType": "detection",
            "keyPath": detection["key"],
            "valueName": detection.get("valueName"),
            "check32BitOn64System": False,
            "operationType": "exists",
            "operator": "notConfigured",
        }
    if kind == "file":
        path = PureWindowsPath(str(detection["path"]))
        version = detection.get("fileVersion")
        return {
            "@odata.type": "#microsoft.graph.win32LobAppFileSystemRule",
            "ruleType": "detection",
            "path": str(path.parent),
            "fileOrFolderName": path.name,
            "check32BitOn64System": False,
            "operationType": "version" if version else "exists",
            "operator": "greaterThanOrEqual" if version else "notConfigured",
            "comparisonValue": version,
        }
    if kind == "script":
        return {
            "@odata.type": "#microsoft.graph.win32LobAppPowerShellScriptRule",
            "ruleType": "detection",
            "displayName": "eucora detection",
            "scriptContent": base64.b64encode(str(detection["script"]).encode()).decode("ascii"),
            "enforceSignatureCheck": False,
            "runAs32Bit": False,
            "runAsAccount": "system",
            "operationType": "notConfigured",
            "operator": "notConfigured",
            "comparisonValue": None,
        }
    raise PermanentConnectorError(
        f"intune: intent {intent['metadata']['name']}: detection {kind!r} cannot be expressed as"
        " a Win32 detection rule (use msiProductCode, file, registry or script)"
    )


def assignment_body(
    group: str,
    intent: str,
    kind: str,
    ring: Mapping[str, Any] | None = None,
    *,
    exclude: bool = False,
) -> dict[str, Any]:
    """One ``mobileAppAssignment`` of the app to an Entra group (or excluding one).

    ``ring`` (the intent's ring) adds its ``intune`` settings and its schedule: ``start`` is the
    assignment's availability, ``deadline`` its installation deadline.
    """
    target_type = "exclusionGroupAssignmentTarget" if exclude else "groupAssignmentTarget"
    body: dict[str, Any] = {
        "@odata.type": "#microsoft.graph.mobileAppAssignment",
        "intent": intent,
        "target": {"@odata.type": f"#microsoft.graph.{target_type}", "groupId": group},
    }
    assignment_filter = ((ring or {}).get("intune") or {}).get("filter")
    if assignment_filter and not exclude:  # Graph beta only: sent through /beta
        body["target"] |= {
            FILTER_ID: assignment_filter["id"],
            FILTER_TYPE: assignment_filter["mode"],
        }
    if kind == "win32LobApp" and not exclude:
        body["settings"] = win32_assignment_settings(ring or {})
    return body


def win32_assignment_settings(ring: Mapping[str, Any]) -> dict[str, Any]:
    """A ring's ``win32LobAppAssignmentSettings``: notifications, delivery, times, restart."""
    settings = ring.get("intune") or {}
    schedule = ring.get("schedule") or {}
    body: dict[str, Any] = {
        "@odata.type": "#microsoft.graph.win32LobAppAssignmentSettings",
        "notifications": settings.get("notifications", "showAll"),
        "deliveryOptimizationPriority": settings.get(
            "deliveryOptimizationPriority", "notConfigured"
        ),
    }
    if schedule.get("start") or schedule.get("deadline"):
        local = bool(settings.get("useLocalTime", False))
        body["installTimeSettings"] = {
            "useLocalTime": local,
            "startDateTime": _graph_time(schedule.get("start"), local),
            "deadlineDateTime": _graph_time(schedule.get("deadline"), local),
        }
    grace = settings.get("restartGracePeriod")
    if grace:
        body["restartSettings"] = {
            "gracePeriodInMinutes": grace["gracePeriodMinutes"],
            "countdownDisplayBeforeRestartInMinutes": grace["countdownMinutes"],
            "restartNotificationSnoozeDurationInMinutes": grace.get("snoozeMinutes"),
        }
    return body


def _graph_time(value: Any, local: bool) -> str | None:
    """An intent timestamp as Graph stores it: UTC ``Z``, or the wall-clock time when local."""
    if not value:
        return None
    moment = datetime.fromisoformat(str(value))
    if local:
        return moment.replace(tzinfo=None).isoformat() + "Z"
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def uses_filters(intent: Mapping[str, Any]) -> bool:
    """Whether any ring of the intent has an assignment filter (its assignments go through beta)."""
    return any((ring.get("intune") or {}).get("filter") for ring in intent.get("rings") or ())


def max_run_time(intent: Mapping[str, Any]) -> int | None:
    """``intune.maxRunTimeMinutes`` of a Win32 intent (sent through beta), if it says one."""
    value = (intent.get("intune") or {}).get("maxRunTimeMinutes")
    return int(value) if value is not None and app_type(intent) == "win32LobApp" else None


def wants_relationships(intent: Mapping[str, Any]) -> bool:
    """Whether the intent says dependencies or supersedence (the app's beta relationships)."""
    settings = intent.get("intune") or {}
    return bool(settings.get("dependencies") or settings.get("supersedes"))


def intent_ring(publication: Publication) -> Mapping[str, Any]:
    """The intent's ring the publication is for (its settings and schedule)."""
    for ring in publication.intent.get("rings") or ():
        if ring.get("name") == publication.ring.name:
            return dict(ring)
    return {}


def ring_assignments(publication: Publication, kind: str) -> list[dict[str, Any]]:
    """The assignments a ring wants: its group, and each group it excludes."""
    ring = publication.ring
    settings = intent_ring(publication)
    wanted = [assignment_body(ring.target, ring.assignment, kind, settings)]
    wanted += [
        assignment_body(group, ring.assignment, kind, exclude=True)
        for group in (settings.get("intune") or {}).get("excludeGroups") or ()
    ]
    return wanted


class IntuneConnector:
    """Publishes intents to Intune through Microsoft Graph."""

    plane = Plane.INTUNE

    def __init__(
        self,
        settings: IntuneSettings,
        *,
        artifacts: ArtifactSource,
        follow: Follow = UPLOAD_FOLLOW,
    ) -> None:
        self._settings = settings
        self._artifacts = artifacts
        self._client = new_client(
            settings.url, ca_bundle=settings.ca_bundle, timeout=settings.timeout
        )
        self._msal: msal.ConfidentialClientApplication | None = None
        self._follow = follow

    def close(self) -> None:
        """Close the HTTP connections."""
        self._client.close()

    # -- wire ------------------------------------------------------------------------------

    def _bearer(self) -> str:
        """A Graph token from MSAL (cached by MSAL until it nears expiry)."""
        settings = self._settings
        try:
            if self._msal is None:
                self._msal = msal.ConfidentialClientApplication(
                    settings.client_id,
                    client_credential=settings.client_secret,
                    authority=f"{settings.authority.rstrip('/')}/{settings.tenant_id}",
                    instance_discovery=False,
                    http_client=self._client,
                )
            result = self._msal.acquire_token_for_client(scopes=[GRAPH_SCOPE])
        except httpx.TimeoutException:
            self._msal = None  # MSAL would replay a failed answer for a minute: start afresh
            raise TransientConnectorError("intune token: timed out") from None
        except (httpx.TransportError, httpx.HTTPStatusError) as error:
            message = redact(
                f"intune token: {type(error).__name__}: {error}", (settings.client_secret,)
            )
            self._msal = None
            raise TransientConnectorError(message) from None
        except msal.exceptions.MsalServiceError as error:
            # MSAL raises this for a token answer that is not OAuth JSON (an HTML 5xx page...).
            status = _HTTP_STATUS.search(str(error))
            code = int(status.group(1)) if status else 500
            message = redact(f"intune token: {error}", (settings.client_secret,))
            if code == 429 or code >= 500:
                self._msal = None
                raise TransientConnectorError(message) from None
            raise PermanentConnectorError(message) from None
        except ValueError as error:
            message = redact(f"intune token: authority refused: {error}", (settings.client_secret,))
            raise PermanentConnectorError(message) from None
        if "access_token" in result:
            return str(result["access_token"])
        error_code = str(result.get("error", "unknown_error"))
        message = redact(
            f"intune token: {error_code}: {result.get('error_description', '')}".strip(),
            (settings.client_secret,),
        )
        if error_code in PERMANENT_TOKEN_ERRORS:
            raise PermanentConnectorError(message)
        self._msal = None
        raise TransientConnectorError(message)

    def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One authorised Graph call; a token Graph no longer accepts (401) is renewed once.

        MSAL would hand back its cached token, so a 401 drops the MSAL application (and with it
        the cache) before the second attempt.
        """
        extra = kwargs.pop("headers", {})
        for attempt in (1, 2):
            headers = {"Authorization": f"Bearer {self._bearer()}", **extra}
            allow = (401,) if attempt == 1 else ()
            response = send(
                self._client,
                method,
                path,
                plane="intune",
                secrets=(self._settings.client_secret,),
                accept=allow,
                headers=headers,
                **kwargs,
            )
            if response.status_code != 401:
                return response
            self._msal = None
        return response  # pragma: no cover -- the second attempt raises on 401

    def _pages(self, path: str, params: Mapping[str, str]) -> Iterator[dict[str, Any]]:
        response = self._call("GET", path, params=dict(params))
        while True:
            body = response.json()
            yield from body.get("value", [])
            link = body.get("@odata.nextLink")
            if not link:
                return
            response = self._call("GET", link)

    # -- lookups ---------------------------------------------------------------------------

    def _apps_of(self, intent_name: str, *, name: str | None = None) -> list[dict[str, Any]]:
        """The intent's apps (every version, or the one with ``name``), by the notes marker."""
        query = "isof('microsoft.graph.mobileLobApp')"
        if name is not None:
            query += " and displayName eq '" + name.replace("'", "''") + "'"
        return [
            app
            for app in self._pages(APPS, {"$filter": query})
            if parse_marker(app.get("notes")).get("intent") == intent_name
        ]

    def _find(self, publication: Publication) -> dict[str, Any] | None:
        """The publication's app; of several (a race), the oldest, which every worker agrees on."""
        found = [
            app
            for app in self._apps_of(publication.name, name=display_name(publication))
            if parse_marker(app.get("notes")).get("version") == publication.version
        ]
        return min(found, key=_age, default=None)

    def _settle(self, publication: Publication, mine: dict[str, Any]) -> dict[str, Any]:
        """After a create, keep the oldest app if another worker created one too; delete ours.

        Graph has no unique key for apps, so two workers that both missed the app both create
        one. Each lists again after its create; the one whose app is not the oldest deletes it
        and carries on with the oldest, so the plane converges on exactly one app.
        """
        winner = self._find(publication) or mine
        if str(winner["id"]) != str(mine["id"]):
            self._call("DELETE", f"{APPS}/{mine['id']}")
        return winner

    @property
    def _beta(self) -> str:
        """Graph beta's root (``EUCORA_INTUNE_URL`` with ``/beta`` for ``/v1.0``)."""
        return self._settings.url.rstrip("/").removesuffix("/v1.0") + "/beta"

    def _assignments(self, app_id: str, *, beta: bool = False) -> list[dict[str, Any]]:
        root = self._beta if beta else ""
        return list(self._pages(f"{root}{APPS}/{app_id}/assignments", {}))

    def _published_app(self, intent_name: str, version: str | None = None) -> dict[str, Any] | None:
        """The intent's newest published app (or the one of ``version``), found by its marker."""
        found = [
            app
            for app in self._apps_of(intent_name)
            if app.get("publishingState") == "published"
            and (version is None or parse_marker(app.get("notes")).get("version") == version)
        ]
        return max(found, key=_version_key, default=None)

    def _relationships_wanted(self, publication: Publication) -> list[dict[str, Any]]:
        """The app's dependencies and supersedence as ``updateRelationships`` takes them.

        A dependency names an intent: its newest published app on Intune. Supersedence names an
        earlier version of this intent: that version's app. Either missing fails the publication
        (and the plan) with what to do.
        """
        intent = publication.intent
        settings = intent.get("intune") or {}
        wanted = []
        for dependency in settings.get("dependencies") or ():
            target = self._published_app(str(dependency["intent"]))
            if target is None:
                raise PermanentConnectorError(
                    f"intune: intent {publication.name} depends on intent {dependency['intent']},"
                    " which has no published app on Intune: publish it first (merge it and let it"
                    " reach Intune), then retry this publication"
                )
            wanted.append(
                {
                    "@odata.type": "#microsoft.graph.mobileAppDependency",
                    "targetId": str(target["id"]),
                    "dependencyType": (
                        "autoInstall" if dependency.get("autoInstall", True) else "detect"
                    ),
                }
            )
        supersedes = settings.get("supersedes")
        if supersedes:
            version = str(supersedes["version"])
            target = self._published_app(publication.name, version)
            if target is None:
                raise PermanentConnectorError(
                    f"intune: intune.supersedes names version {version} of {publication.name},"
                    f" of which Intune holds no published app"
                    f" '{publication.intent['app']['name']} {version}': name a version EUCORA"
                    " published (usually rollback.previousVersion), or remove supersedes"
                )
            wanted.append(
                {
                    "@odata.type": "#microsoft.graph.mobileAppSupersedence",
                    "targetId": str(target["id"]),
                    "supersedenceType": "replace" if supersedes.get("uninstall") else "update",
                }
            )
        return wanted

    def _relationships(self, app_id: str) -> list[dict[str, Any]]:
        """The app's own relationships (``targetType`` child) as sent: type, target, kind."""
        return [
            {
                "@odata.type": kind,
                "targetId": str(held.get("targetId")),
                RELATIONSHIP_KIND[kind]: held.get(RELATIONSHIP_KIND[kind]),
            }
            for held in self._pages(f"{self._beta}{APPS}/{app_id}/relationships", {})
            if held.get("targetType", "child") == "child"
            and (kind := str(held.get("@odata.type"))) in RELATIONSHIP_KIND
        ]

    def _beta_steps(
        self, publication: Publication, app: dict[str, Any] | None
    ) -> list[PlannedStep]:
        """Plan lines for the beta-only settings that would change."""
        steps = []
        intent = publication.intent
        minutes = max_run_time(intent)
        if minutes is not None:
            held = (
                self._call("GET", f"{self._beta}{APPS}/{app['id']}").json()
                if app is not None
                else {}
            )
            if (held.get("installExperience") or {}).get("maxRunTimeInMinutes") != minutes:
                steps.append(
                    _step(
                        StepKind.UPDATE, f"set maximum run time to {minutes} minutes (Graph beta)"
                    )
                )
        if wants_relationships(intent):
            wanted = self._relationships_wanted(publication)
            held_relationships = self._relationships(str(app["id"])) if app is not None else []
            if _sorted(held_relationships) != _sorted(wanted):
                steps += [
                    _step(StepKind.UPDATE, _relationship_line(r, self._apps_by_id(wanted)))
                    for r in wanted
                ]
        return steps

    def _apps_by_id(self, relationships: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        return {
            r["targetId"]: self._call("GET", f"{APPS}/{r['targetId']}").json()
            for r in relationships
        }

    def _publish_beta(
        self,
        publication: Publication,
        app_id: str,
        body: dict[str, Any],
        relationships: list[dict[str, Any]] | None,
    ) -> None:
        """Send the beta-only settings the intent says and the app does not hold yet.

        ``relationships``: the dependencies and supersedence to hold (``None``: the intent says
        none, and the app's relationships are left as they are).
        """
        intent = publication.intent
        minutes = max_run_time(intent)
        if minutes is not None:
            held = self._call("GET", f"{self._beta}{APPS}/{app_id}").json()
            if (held.get("installExperience") or {}).get("maxRunTimeInMinutes") != minutes:
                experience = body["installExperience"] | {"maxRunTimeInMinutes": minutes}
                self._call(
                    "PATCH",
                    f"{self._beta}{APPS}/{app_id}",
                    json={"@odata.type": body["@odata.type"], "installExperience": experience},
                )
        if relationships is not None and _sorted(self._relationships(app_id)) != _sorted(
            relationships
        ):
            self._call(
                "POST",
                f"{self._beta}{APPS}/{app_id}/updateRelationships",
                json={"relationships": relationships},
            )

    def _others_assigned(
        self, publication: Publication
    ) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """(app, assignment) of the intent's other versions assigned to this ring's group."""
        found = []
        for app in self._apps_of(publication.name):
            if parse_marker(app.get("notes")).get("version") == publication.version:
                continue
            found += [
                (app, assignment)
                for assignment in self._assignments(str(app["id"]))
                if _group(assignment) == publication.ring.target and not _excluded(assignment)
            ]
        return found

    # -- Connector -------------------------------------------------------------------------

    def plan(self, publication: Publication) -> tuple[PlannedStep, ...]:
        """The steps :meth:`publish` would take, from GETs only."""
        body = app_body(publication)
        ring = publication.ring
        kind = _KINDS[app_type(publication.intent)]
        steps: list[PlannedStep] = []
        app = self._find(publication)
        if app is None:
            steps.append(_step(StepKind.CREATE, f"create {kind} '{body['displayName']}'"))
        elif app.get("notes") != body["notes"]:
            steps.append(_step(StepKind.UPDATE, f"update notes of '{body['displayName']}'"))
        if app is None or not app.get("committedContentVersion"):
            size = publication.intent["package"].get("sizeBytes")
            shown = f"{size} bytes" if size is not None else "size unknown"
            setup = f"{body['setupFilePath']}, " if "setupFilePath" in body else ""
            steps.append(_step(StepKind.UPLOAD, f"upload file {body['fileName']} ({setup}{shown})"))
        steps += self._beta_steps(publication, app)
        kind_name = app_type(publication.intent)
        wanted = ring_assignments(publication, kind_name)
        mine = {_assignment_key(a) for a in wanted}
        beta = uses_filters(publication.intent)
        held = (
            [
                _as_sent(a)
                for a in self._assignments(str(app["id"]), beta=beta)
                if _assignment_key(a) in mine
            ]
            if app is not None
            else []
        )
        if sorted(map(_canonical, held)) != sorted(map(_canonical, wanted)):
            steps.append(
                _step(StepKind.ASSIGN, f"assign to group {ring.target} as {ring.assignment}")
            )
            steps += [_step(StepKind.ASSIGN, description) for description in _ring_lines(wanted)]
        for other, _ in self._others_assigned(publication):
            version = parse_marker(other.get("notes")).get("version", "?")
            steps.append(
                _step(StepKind.REPLACE, f"replace version {version} in group {ring.target}")
            )
        if not steps:
            steps.append(
                _step(
                    StepKind.NOTHING, f"'{body['displayName']}' already assigned to {ring.target}"
                )
            )
        return tuple(steps)

    def publish(self, publication: Publication, journal: Journal) -> PublishResult:
        """Find-or-create the app, upload and commit its content, assign it, retire older ones."""
        body = app_body(publication)  # refuses what the intent cannot express, before any call
        app = self._find(publication)
        # a dependency or superseded version missing on Intune fails before anything is written
        relationships = (
            self._relationships_wanted(publication)
            if wants_relationships(publication.intent)
            else None
        )
        content = None
        if app is None:  # the package itself completes the body (setup file, MSI codes)
            content = self._content(publication)
            body = app_body(publication, content)
        created = app is None
        if app is None:
            mine = self._call("POST", APPS, json=body).json()
            app = self._settle(publication, mine)
            created = str(app["id"]) == str(mine["id"])
        elif app.get("notes") != body["notes"]:
            patch = {"@odata.type": body["@odata.type"], "notes": body["notes"]}
            self._call("PATCH", f"{APPS}/{app['id']}", json=patch)
        app_id = str(app["id"])
        journal.put("intune.app_id", app_id)
        version = app.get("committedContentVersion")
        if not version:
            version = self._upload(publication, app_id, body, content)
            self._call(
                "PATCH",
                f"{APPS}/{app_id}",
                json={"@odata.type": body["@odata.type"], "committedContentVersion": version},
            )
        journal.put("intune.content_version", str(version))
        self._publish_beta(publication, app_id, body, relationships)
        self._assign(app_id, publication, body["@odata.type"].rsplit(".", 1)[1])
        replaced = []
        for other, assignment in self._others_assigned(publication):
            self._call("DELETE", f"{APPS}/{other['id']}/assignments/{assignment['id']}")
            replaced.append(parse_marker(other.get("notes")).get("version", "?"))
        details = {"app_id": app_id, "content_version": str(version)}
        if replaced:
            details["replaced"] = ",".join(sorted(replaced))
        return PublishResult(
            object_id=app_id,
            created=created,
            details=details,
            url=f"https://intune.microsoft.com/#view/Microsoft_Intune_Apps/SettingsMenu/appId/{app_id}",
        )

    def state(self, intent_name: str) -> PlaneState:
        """What Intune holds for the intent: its newest assigned version and every assignment.

        Intune knows groups, not rings: ``rings`` is keyed by the Entra group id (the ring's
        ``target``), and ``details["groups"]`` says which version each group gets.
        """
        apps = self._apps_of(intent_name)
        if not apps:
            return PlaneState(present=False)
        assigned = sorted(
            ((app, self._assignments(str(app["id"]))) for app in apps),
            key=lambda pair: _version_key(pair[0]),
        )
        rings: dict[str, str] = {}
        groups: dict[str, str] = {}
        for app, assignments in assigned:
            for assignment in assignments:
                if _excluded(assignment):
                    continue
                rings[_group(assignment)] = str(assignment.get("intent"))
                groups[_group(assignment)] = parse_marker(app.get("notes")).get("version", "?")
        live = [pair for pair in assigned if pair[1]] or assigned
        app, assignments = live[-1]
        notes = parse_marker(app.get("notes"))
        settings = self._read_with_beta(app, apps)
        return PlaneState(
            settings=settings,
            present=True,
            version=notes.get("version"),
            rings=rings,
            object_id=str(app["id"]),
            details={
                "publishingState": str(app.get("publishingState")),
                "committedContentVersion": str(app.get("committedContentVersion")),
                "evidence": notes.get("evidence", ""),
                "versions": ",".join(
                    parse_marker(a.get("notes")).get("version", "?") for a, _ in assigned
                ),
                "groups": ",".join(f"{g}={v}" for g, v in sorted(groups.items())),
            },
        )

    def _read_with_beta(self, app: Mapping[str, Any], apps: list[dict[str, Any]]) -> dict[str, Any]:
        """The app's settings, read through beta.

        Beta alone shows filters, relationships and the maximum run time (a v1.0 read leaves
        them out); ``apps`` are the intent's apps (a supersedence names one of them).
        """
        app_id = str(app["id"])
        kind = str(app.get("@odata.type", "")).removeprefix("#microsoft.graph.")
        win32 = kind == "win32LobApp"
        held = self._call("GET", f"{self._beta}{APPS}/{app_id}").json() if win32 else app
        settings = read_settings(held, self._assignments(app_id, beta=True))
        if not win32:
            return settings
        minutes = (held.get("installExperience") or {}).get("maxRunTimeInMinutes")
        if minutes is not None:
            settings["intune"]["maxRunTimeMinutes"] = minutes
        own = {str(a["id"]): a for a in apps}
        for relationship in self._relationships(app_id):
            target = (
                own.get(relationship["targetId"])
                or self._call("GET", f"{APPS}/{relationship['targetId']}").json()
            )
            marker = parse_marker(target.get("notes"))
            if "dependencyType" in relationship:
                dependency: dict[str, Any] = {
                    "intent": marker.get("intent") or str(target.get("displayName"))
                }
                if relationship["dependencyType"] != "autoInstall":
                    dependency["autoInstall"] = False
                settings["intune"].setdefault("dependencies", []).append(dependency)
            else:
                supersedes: dict[str, Any] = {"version": marker.get("version", "?")}
                if relationship["supersedenceType"] == "replace":
                    supersedes["uninstall"] = True
                settings["intune"]["supersedes"] = supersedes
        return settings

    def observe(self, intent: Mapping[str, Any], rings: Sequence[Ring]) -> Observed:
        """The intent's app for drift: newest assigned version, its marker, every group's intent.

        Apps are found by the marker in ``notes``; when none carries it, by the display name git
        gives the app (``<app name> <version>``): found that way it is present with no marker.
        Exclusions are settings, not assignments.
        """
        del rings
        name = _observe.intent_name(intent)
        apps = self._apps_of(name)
        if not apps:
            shown = f"{intent['app']['name']} {intent['app']['version']}"
            query = "isof('microsoft.graph.mobileLobApp') and displayName eq '"
            query += shown.replace("'", "''") + "'"
            unmarked = list(self._pages(APPS, {"$filter": query}))
            if not unmarked:
                return _observe.absent()
            app = unmarked[0]
            held = [a for a in self._assignments(str(app["id"])) if not _excluded(a)]
            return Observed(
                present=True,
                version=str(app.get("displayVersion") or "") or None,
                marker=None,
                assignments=_observe.assignments((_group(a), str(a.get("intent"))) for a in held),
            )
        assigned = sorted(
            ((app, self._assignments(str(app["id"]))) for app in apps),
            key=lambda pair: _version_key(pair[0]),
        )
        pairs = [
            (_group(a), str(a.get("intent")))
            for _, held in assigned
            for a in held
            if not _excluded(a)
        ]
        live = [pair for pair in assigned if pair[1]] or assigned
        marker = _observe.parse_marker(live[-1][0].get("notes"))
        return Observed(
            present=True,
            version=marker.version if marker else None,
            marker=marker,
            assignments=_observe.assignments(pairs),
        )

    def retire(self, intent_name: str, journal: Journal) -> None:
        """Remove every group assignment of every version of the intent (the apps stay)."""
        for app in self._apps_of(intent_name):
            for assignment in self._assignments(str(app["id"])):
                self._call("DELETE", f"{APPS}/{app['id']}/assignments/{assignment['id']}")
                journal.put(f"intune.retired.{assignment['id']}", str(app["id"]))

    def outcomes(self, publication: Publication) -> RingOutcomes:
        """The app version's install status on the ring's Entra group, from Intune's reports.

        ``DeviceInstallStatusByApp`` (filter ``ApplicationId``, a pinned ``select``) is exported,
        polled until ``completed`` and downloaded. Reports have no ring filter, and their
        ``DeviceId`` is Intune's managed-device id while the ring group's device members
        (``transitiveMembers``, every page) carry the Entra ``deviceId``: rows are joined to
        members through ``managedDevices`` (``id`` → ``azureADDeviceId``, see
        :meth:`_managed_to_entra`). A member with no row (or not enrolled) is pending. When the
        export is refused as unsupported, Graph beta's ``mobileApps/{id}/deviceStatuses`` (whose
        ``deviceId`` is also the managed id) is read instead (``installSummary`` counts the
        whole app, not a ring, so it cannot serve a gate). ``as_of`` is the export
        job's ``requestDateTime`` (or the newest ``lastSyncDateTime`` of the fallback).
        """
        app = self._find(publication)
        if app is None:
            raise PermanentConnectorError(
                f"intune: no app '{display_name(publication)}' to read back"
            )
        app_id = str(app["id"])
        members = self._device_members(publication.ring.target)
        try:
            rows, as_of = self._export_device_status(app_id)
        except _ExportUnsupportedError:
            rows, as_of = self._legacy_device_status(app_id)
        entra = self._managed_to_entra(members)
        states = {entra[row[0]]: row[1:] for row in rows if entra.get(row[0]) in members}
        installed = failed = not_applicable = 0
        errors: list[DeviceError] = []
        for device_id, (state, code, detail) in states.items():
            if state == "installed":
                installed += 1
            elif state == "failed":
                failed += 1
                errors.append(DeviceError(members[device_id], code or "unknown", detail))
            elif state == "notapplicable":
                not_applicable += 1
        return RingOutcomes(
            targeted=len(members),
            installed=installed,
            failed=failed,
            pending=len(members) - installed - failed - not_applicable,
            not_applicable=not_applicable,
            as_of=as_of,
            errors=sample(errors),
        )

    def _device_members(self, group: str) -> dict[str, str]:
        """The group's devices (nested groups included): Entra ``deviceId`` → display name."""
        found = {}
        params = {"$select": "id,deviceId,displayName", "$top": "999"}
        for member in self._pages(f"/groups/{group}/transitiveMembers", params):
            if member.get("@odata.type") == "#microsoft.graph.device" and member.get("deviceId"):
                found[str(member["deviceId"])] = str(
                    member.get("displayName") or member["deviceId"]
                )
        return found

    def _managed_to_entra(self, members: Mapping[str, str]) -> dict[str, str]:
        """Intune managed-device ``id`` → Entra ``azureADDeviceId``, for at least ``members``.

        A device re-enrolled has several managed records with one Entra id: each maps to it.
        """
        select = "id,azureADDeviceId,deviceName"
        if len(members) <= MEMBER_LOOKUPS:
            found: list[dict[str, Any]] = []
            for entra_id in members:
                query = "azureADDeviceId eq '" + entra_id.replace("'", "''") + "'"
                found += self._pages(MANAGED_DEVICES, {"$filter": query, "$select": select})
        else:
            found = list(self._pages(MANAGED_DEVICES, {"$select": select, "$top": "1000"}))
        return {
            str(device["id"]): str(device["azureADDeviceId"])
            for device in found
            if device.get("id") and device.get("azureADDeviceId")
        }

    def _export_device_status(self, app_id: str) -> tuple[list[_StatusRow], datetime]:
        body = {
            "reportName": "DeviceInstallStatusByApp",
            "filter": f"(ApplicationId eq '{app_id}')",
            "select": list(REPORT_SELECT),
            "format": "csv",
            "localizationType": "replaceLocalizableValues",
        }
        response = send(
            self._client,
            "POST",
            f"{self._settings.url.rstrip('/')}{EXPORT_JOBS}",
            plane="intune",
            secrets=(self._settings.client_secret,),
            accept=(400, 404, 501),
            headers={"Authorization": f"Bearer {self._bearer()}"},
            json=body,
        )
        if response.status_code in {400, 404, 501}:
            raise _ExportUnsupportedError
        job_id = str(response.json()["id"])

        def read() -> dict[str, Any]:
            job: dict[str, Any] = self._call("GET", f"{EXPORT_JOBS}/{job_id}").json()
            if job.get("status") == "failed":
                raise TransientConnectorError(f"intune: report export {job_id} failed")
            return job

        job = self._follow.until(
            read, lambda j: j.get("status") == "completed", f"intune: report export {job_id}"
        )
        url = httpx.URL(str(job.get("url")))
        download = send(
            self._client, "GET", str(url), plane="intune reports", secrets=(url.params.get("sig"),)
        )
        try:
            with zipfile.ZipFile(io.BytesIO(download.content)) as archive:
                text = archive.read(archive.namelist()[0]).decode("utf-8-sig")
        except (zipfile.BadZipFile, IndexError, KeyError, UnicodeDecodeError) as error:
            raise TransientConnectorError(f"intune: report {job_id}: {error}") from None
        rows = [
            (
                str(row.get("DeviceId")),
                str(row.get("AppInstallState") or "").replace(" ", "").lower(),
                str(row.get("HexErrorCode") or ""),
                str(row.get("AppInstallStateDetails") or ""),
            )
            for row in csv.DictReader(io.StringIO(text))
        ]
        return rows, parse_time(job.get("requestDateTime"), f"intune: report {job_id}")

    def _legacy_device_status(self, app_id: str) -> tuple[list[_StatusRow], datetime]:
        beta = self._beta
        rows = []
        newest: datetime | None = None
        for status in self._pages(f"{beta}{APPS}/{app_id}/deviceStatuses", {}):
            code = status.get("errorCode")
            rows.append(
                (
                    str(status.get("deviceId")),
                    str(status.get("installState") or "").lower(),
                    hex_code(code) if code else "",
                    str(status.get("installStateDetail") or ""),
                )
            )
            synced = parse_time(status.get("lastSyncDateTime"), "intune: deviceStatuses")
            newest = synced if newest is None or synced > newest else newest
        if newest is None:  # no device has reported: the data is as of Graph's answer
            newest = datetime.now(UTC)
        return rows, newest

    # -- steps -----------------------------------------------------------------------------

    def _versions_path(self, app_id: str, kind: str) -> str:
        return f"{APPS}/{app_id}/microsoft.graph.{kind}/contentVersions"

    def _content(self, publication: Publication) -> Content:
        """The intent's package, checked against its SHA-256 and made into Intune content."""
        intent = publication.intent
        artifact = fetch_artifact(self._artifacts, intent, artifact_file_name(intent))
        return prepare_content(intent, artifact)

    def _upload(
        self,
        publication: Publication,
        app_id: str,
        body: dict[str, Any],
        content: Content | None,
    ) -> str:
        """Upload and commit the content; return the committed content version id."""
        kind = body["@odata.type"].rsplit(".", 1)[1]
        versions = self._versions_path(app_id, kind)
        reusable = self._committed_file(versions)
        if reusable is not None:
            return reusable
        content = content or self._content(publication)
        version = str(self._call("POST", versions, json={}).json()["id"])
        files = f"{versions}/{version}/files"
        created = self._call("POST", files, json=_file_body(content)).json()
        file_path = f"{files}/{created['id']}"
        ready = self._wait(file_path, "azureStorageUriRequest")
        self._put_blob(str(ready["azureStorageUri"]), content.payload)
        self._call("POST", f"{file_path}/commit", json={"fileEncryptionInfo": content.encryption})
        self._wait(file_path, "commitFile")
        return version

    def _committed_file(self, versions: str) -> str | None:
        """A content version whose file was committed by an earlier, interrupted attempt."""
        for content in reversed(list(self._pages(versions, {}))):
            files_path = f"{versions}/{content['id']}/files"
            files = list(self._pages(files_path, {}))
            if not files:
                continue
            states = {f.get("uploadState") for f in files}
            if states == {"commitFilePending"}:
                for item in files:
                    self._wait(f"{files_path}/{item['id']}", "commitFile")
                return str(content["id"])
            if states == {"commitFileSuccess"}:
                return str(content["id"])
        return None

    def _wait(self, path: str, stage: str) -> dict[str, Any]:
        """Poll a content file until ``<stage>Success``; any other non-pending state fails."""

        def read() -> dict[str, Any]:
            found: dict[str, Any] = self._call("GET", path).json()
            state = str(found.get("uploadState"))
            if state.startswith(stage) and state not in {f"{stage}Success", f"{stage}Pending"}:
                raise TransientConnectorError(f"intune: content file {path}: {state}")
            return found

        found: dict[str, Any] = self._follow.until(
            read,
            lambda f: f.get("uploadState") == f"{stage}Success",
            f"intune: content file waiting for {stage}Success",
        )
        return found

    def _put_blob(self, sas_url: str, data: bytes) -> None:
        """Azure block upload: ``comp=block`` per 6 MiB, then ``comp=blocklist``.

        No Graph token goes to storage; the SAS signature in the URL is the credential, so it is
        passed as a secret to the error mapping and never appears in a message.
        """
        url = httpx.URL(sas_url)
        signature = (url.params.get("sig"),)
        ids = []
        for index, start in enumerate(range(0, max(len(data), 1), BLOCK_SIZE)):
            block_id = base64.b64encode(f"{index:04d}".encode()).decode("ascii")
            ids.append(block_id)
            send(
                self._client,
                "PUT",
                str(url.copy_merge_params({"comp": "block", "blockid": block_id})),
                plane="intune storage",
                secrets=signature,
                content=data[start : start + BLOCK_SIZE],
                headers={"x-ms-blob-type": "BlockBlob"},
            )
        listing = "".join(f"<Latest>{block}</Latest>" for block in ids)
        send(
            self._client,
            "PUT",
            str(url.copy_merge_params({"comp": "blocklist"})),
            plane="intune storage",
            secrets=signature,
            content=f'<?xml version="1.0" encoding="utf-8"?><BlockList>{listing}</BlockList>',
            headers={"Content-Type": "application/xml"},
        )

    def _assign(self, app_id: str, publication: Publication, kind: str) -> None:
        """Make the app hold the ring's assignments, keeping every other assignment as it is."""
        wanted = ring_assignments(publication, kind)
        mine = {_assignment_key(a) for a in wanted}
        beta = uses_filters(publication.intent)  # filters exist in beta only: read and assign there
        current = self._assignments(app_id, beta=beta)
        held = [_as_sent(a) for a in current if _assignment_key(a) in mine]
        if sorted(map(_canonical, held)) == sorted(map(_canonical, wanted)):
            return
        kept = [_as_sent(a) for a in current if _assignment_key(a) not in mine and _group(a)]
        root = self._beta if beta else ""
        self._call(
            "POST",
            f"{root}{APPS}/{app_id}/assign",
            json={"mobileAppAssignments": [*kept, *wanted]},
        )


def _assignment_key(assignment: Mapping[str, Any]) -> tuple[bool, str]:
    return (_excluded(assignment), _group(assignment))


def _excluded(assignment: Mapping[str, Any]) -> bool:
    kind = str((assignment.get("target") or {}).get("@odata.type") or "")
    return kind.endswith("exclusionGroupAssignmentTarget")


def _as_sent(assignment: Mapping[str, Any]) -> dict[str, Any]:
    """An assignment as read back, made a body ``assign`` takes again (no id)."""
    body = {k: v for k, v in assignment.items() if k not in {"id", "source", "sourceId"}}
    body["@odata.type"] = "#microsoft.graph.mobileAppAssignment"
    target = body.get("target") or {}
    if target.get(FILTER_ID) is None and target.get(FILTER_TYPE, "none") == "none":
        body["target"] = {k: v for k, v in target.items() if k not in {FILTER_ID, FILTER_TYPE}}
    if body.get("settings") is None:
        body.pop("settings", None)
    return body


def _canonical(assignment: Mapping[str, Any]) -> str:
    return json.dumps(assignment, sort_keys=True)


def read_settings(app: Mapping[str, Any], assignments: list[dict[str, Any]]) -> dict[str, Any]:
    """What an app and its assignments say, in the words of the intent's ``intune`` sections.

    ``{"intune": ..., "rings": {group: {"intune": ..., "schedule": ...}}}``; a setting left at
    the connector's default is left out, as an intent that does not mention it says it.
    """
    kind = str(app.get("@odata.type", "")).removeprefix("#microsoft.graph.")
    section = _read_win32(app) if kind == "win32LobApp" else _read_macos(app, kind)
    rings: dict[str, Any] = {}
    excluded = sorted(_group(a) for a in assignments if _excluded(a))
    for assignment in assignments:
        if _excluded(assignment):
            continue
        ring: dict[str, Any] = {}
        ring_section = _read_assignment(assignment.get("settings") or {}, ring)
        target = assignment.get("target") or {}
        if target.get(FILTER_ID) and target.get(FILTER_TYPE, "none") != "none":
            ring_section["filter"] = {"id": target[FILTER_ID], "mode": target[FILTER_TYPE]}
        if ring_section:
            ring["intune"] = ring_section
        rings[_group(assignment)] = ring
    found: dict[str, Any] = {"intune": section, "rings": rings}
    if excluded:
        found["excludeGroups"] = excluded
    package = _read_win32_package(app) if kind == "win32LobApp" else {}
    if package:
        found["package"] = package
    return found


def _read_win32_package(app: Mapping[str, Any]) -> dict[str, Any]:
    """The Win32 app's detection rule and architectures in the words of the intent's package.

    Architectures left at the connector's default (``x64``, ``arm64``) read back as left out.
    """
    package: dict[str, Any] = {}
    allowed = [a for a in str(app.get("allowedArchitectures") or "").split(",") if a]
    if allowed and set(allowed) != set(ARCHITECTURES):
        package["architectures"] = allowed
    rules = [r for r in app.get("rules") or () if r.get("ruleType") == "detection"]
    if len(rules) == 1:
        package["detection"] = _read_detection(rules[0])
    return package


def _read_detection(rule: Mapping[str, Any]) -> dict[str, Any]:
    kind = str(rule.get("@odata.type", "")).removeprefix("#microsoft.graph.")
    if kind == "win32LobAppProductCodeRule":
        return {"type": "msiProductCode", "productCode": rule["productCode"]}
    if kind == "win32LobAppRegistryRule":
        registry = {"type": "registry", "key": rule["keyPath"]}
        if rule.get("valueName") is not None:
            registry["valueName"] = rule["valueName"]
        return registry
    if kind == "win32LobAppFileSystemRule":
        path = PureWindowsPath(str(rule["path"])) / str(rule["fileOrFolderName"])
        file = {"type": "file", "path": str(path)}
        if rule.get("operationType") == "version" and rule.get("comparisonValue"):
            file["fileVersion"] = rule["comparisonValue"]
        return file
    if kind == "win32LobAppPowerShellScriptRule":
        return {"type": "script", "script": base64.b64decode(str(rule["scriptContent"])).decode()}
    return {"type": kind}


def _read_win32(app: Mapping[str, Any]) -> dict[str, Any]:
    section: dict[str, Any] = {}
    restart = (app.get("installExperience") or {}).get("deviceRestartBehavior", "suppress")
    if restart != "suppress":
        section["restartBehavior"] = restart
    requirements: dict[str, Any] = {}
    if app.get("minimumSupportedWindowsRelease") not in {None, "1607"}:
        requirements["minimumWindowsRelease"] = app["minimumSupportedWindowsRelease"]
    for key, graph in _MINIMUMS.items():
        if app.get(graph) is not None:
            requirements[key] = app[graph]
    rules = [_read_rule(r) for r in app.get("rules") or () if r.get("ruleType") == "requirement"]
    if rules:
        requirements["rules"] = rules
    if requirements:
        section["requirements"] = requirements
    defaults = set(RETURN_CODES)
    custom = [
        {"code": c["returnCode"], "type": c["type"]}
        for c in app.get("returnCodes") or ()
        if (c["returnCode"], c["type"]) not in defaults
    ]
    if custom:
        section["returnCodes"] = custom
    return section


def _read_macos(app: Mapping[str, Any], kind: str) -> dict[str, Any]:
    if kind == "macOSDmgApp":
        bundles = [(i["bundleId"], i["bundleVersion"]) for i in app.get("includedApps") or ()]
    else:
        bundles = [(c["bundleId"], c["versionNumber"]) for c in app.get("childApps") or ()]
    section: dict[str, Any] = {"bundles": [{"bundleId": b, "version": v} for b, v in bundles]}
    if app.get("ignoreVersionDetection"):
        section["ignoreVersionDetection"] = True
    if app.get("installAsManaged"):
        section["installAsManaged"] = True
    return section


def _read_rule(rule: Mapping[str, Any]) -> dict[str, Any]:
    kind = next(k for k, t in _RULE_TYPES.items() if t == rule.get("@odata.type"))
    found: dict[str, Any] = {"type": kind}
    operation = str(rule.get("operationType"))
    if kind == "file":
        found["path"] = str(PureWindowsPath(str(rule["path"])) / str(rule["fileOrFolderName"]))
        found["check"] = {v: k for k, v in _FILE_CHECKS.items()}[operation]
    elif kind == "registry":
        found["key"] = rule["keyPath"]
        if rule.get("valueName") is not None:
            found["valueName"] = rule["valueName"]
        found["check"] = {v: k for k, v in _REGISTRY_CHECKS.items()}[operation]
    else:
        found["script"] = base64.b64decode(str(rule["scriptContent"])).decode()
        found["check"] = operation
    if rule.get("operator", "notConfigured") != "notConfigured":
        found["operator"] = rule["operator"]
        found["value"] = rule.get("comparisonValue")
    if rule.get("check32BitOn64System") or rule.get("runAs32Bit"):
        found["check32BitOn64System"] = True
    return found


def _read_assignment(settings: Mapping[str, Any], ring: dict[str, Any]) -> dict[str, Any]:
    section: dict[str, Any] = {}
    if settings.get("notifications", "showAll") != "showAll":
        section["notifications"] = settings["notifications"]
    if settings.get("deliveryOptimizationPriority", "notConfigured") != "notConfigured":
        section["deliveryOptimizationPriority"] = settings["deliveryOptimizationPriority"]
    times = settings.get("installTimeSettings") or {}
    if times.get("useLocalTime"):
        section["useLocalTime"] = True
    schedule = {
        key: times[graph]
        for key, graph in (("start", "startDateTime"), ("deadline", "deadlineDateTime"))
        if times.get(graph)
    }
    if schedule:
        ring["schedule"] = schedule
    restart = settings.get("restartSettings")
    if restart:
        grace = {
            "gracePeriodMinutes": restart["gracePeriodInMinutes"],
            "countdownMinutes": restart["countdownDisplayBeforeRestartInMinutes"],
        }
        if restart.get("restartNotificationSnoozeDurationInMinutes") is not None:
            grace["snoozeMinutes"] = restart["restartNotificationSnoozeDurationInMinutes"]
        section["restartGracePeriod"] = grace
    return section


def _ring_lines(wanted: list[dict[str, Any]]) -> list[str]:
    """What the plan says of a ring's assignment settings beyond group and intent."""
    lines = [f"exclude group {_group(a)}" for a in wanted if _excluded(a)]
    target = wanted[0].get("target") or {}
    if target.get(FILTER_ID):
        lines.append(f"assignment filter {target[FILTER_ID]} ({target[FILTER_TYPE]}, Graph beta)")
    settings = wanted[0].get("settings") or {}
    times = settings.get("installTimeSettings") or {}
    if times.get("startDateTime"):
        lines.append(f"available from {times['startDateTime']}")
    if times.get("deadlineDateTime"):
        lines.append(f"installation deadline {times['deadlineDateTime']}")
    if settings.get("notifications", "showAll") != "showAll":
        lines.append(f"end-user notifications {settings['notifications']}")
    if settings.get("deliveryOptimizationPriority", "notConfigured") != "notConfigured":
        lines.append(f"delivery optimization {settings['deliveryOptimizationPriority']}")
    return lines


_StatusRow = tuple[str, str, str, str]
"""(device id, install state lower-cased without spaces, hex error code, detail)."""


class _ExportUnsupportedError(Exception):
    """The reports export refused the report: read the legacy per-device statuses instead."""


def _sorted(relationships: list[dict[str, Any]]) -> list[str]:
    return sorted(map(_canonical, relationships))


def _relationship_line(relationship: Mapping[str, Any], apps: Mapping[str, Any]) -> str:
    target = apps.get(relationship["targetId"]) or {}
    name = target.get("displayName") or relationship["targetId"]
    if relationship["@odata.type"].endswith("Dependency"):
        how = "installed with it" if relationship["dependencyType"] == "autoInstall" else "detected"
        return f"depend on '{name}' ({how}; Graph beta)"
    how = "uninstalled first" if relationship["supersedenceType"] == "replace" else "updated"
    return f"supersede '{name}' ({how}; Graph beta)"


def _file_body(content: Content) -> dict[str, Any]:
    return {
        "@odata.type": "#microsoft.graph.mobileAppContentFile",
        "name": content.name,
        "size": content.size,
        "sizeEncrypted": len(content.payload),
        "manifest": None,
        "isDependency": False,
    }


def _age(app: Mapping[str, Any]) -> tuple[str, str]:
    """Creation order as Graph reports it (ISO 8601 UTC sorts as text), then id."""
    return (str(app.get("createdDateTime") or ""), str(app["id"]))


def _version_key(app: Mapping[str, Any]) -> Any:
    """Orders apps by the version in their marker (unorderable versions compare equal)."""

    def compare(a: str, b: str) -> int:
        return compare_versions(b, a) or 0

    return functools.cmp_to_key(compare)(parse_marker(app.get("notes")).get("version", ""))


def _group(assignment: Mapping[str, Any]) -> str:
    return str((assignment.get("target") or {}).get("groupId") or "")


def _step(kind: StepKind, description: str) -> PlannedStep:
    return PlannedStep(kind=kind, description=description)
