"""Configuration Manager: an application and its deployment to the ring's collection.

Through the AdminService WMI route (``/AdminService/wmi/...``):

* **Application** (``SMS_Application``), found by ``LocalizedDisplayName eq '<intent> <version>'
  and IsLatest eq true``, else created from an ``SDMPackageXML`` application model whose title is
  that name and whose description carries the evidence digest and the intent's idempotency root
  (display name and description are read-only on the class: they come from the model). A 409 on
  create (the name exists) means: find it again and go on.
* **Deployment** (``SMS_ApplicationAssignment``), found by ``AssignmentName`` =
  ``<intent> <version> <ring> -> <collection>``, else created with ``AssignmentType`` 2
  (application), ``AssignmentAction`` 2 (APPLY), and the ring's assignment mapped as the class
  reference defines it: **availability is ``OfferTypeID``** (0 REQUIRED, 2 AVAILABLE), while
  ``DesiredConfigType`` says install (1 REQUIRED) or uninstall (2 NOT_ALLOWED). ``required`` →
  OfferTypeID 0 + DesiredConfigType 1; ``available`` → 2 + 1; ``uninstall`` → 0 + 2. Start time
  and deadline come from the ring's schedule (UTC), else now.

Both objects are found again by their names, so a retry after any failure (a lost answer
included) never creates a second one; there is no launch, so nothing needs journalling beyond the
ids recorded for the reader (``sccm_ci_id``, ``sccm_assignment_id``).

Gaps (documented, not hidden): content is not staged on a distribution point (the model's content
location is the package URL, which a real site must mirror to its content share), and the
``SDMPackageXML`` is a small hand-built ``AppMgmtDigest`` (one MSI or script deployment type with
install/uninstall commands, detection by MSI product code, file, registry key or PowerShell script,
requirement rules on the operating system and two built-in global conditions, and supersedence of
an earlier version's deployment type), not validated against Microsoft's SDM XSD, of which no
public copy was found. Custom requirements (global conditions) and dependencies are not sent.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import PureWindowsPath
from typing import Any
from urllib.parse import urlsplit
from xml.etree import ElementTree as ET

import httpx
from defusedxml import ElementTree as SafeET

from bot.core.drift import Marker, Observed
from bot.core.planes import PROFILES
from bot.core.rollout_model import DeviceError, RingOutcomes
from bot.errors import PermanentConnectorError, TransientConnectorError
from connectors import _observe
from connectors._outcomes import count, hex_code, parse_time, sample
from connectors._plane_client import PlaneClient
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
from connectors.settings import SccmSettings

PLANE = PlaneConnector(
    profile=PROFILES[Plane.SCCM],
    settings=SccmSettings.from_environ,
    build=lambda settings, _services: SccmConnector(settings),
)
"""Configuration Manager as the registry finds and builds it."""

DIGEST_NS = "http://schemas.microsoft.com/SystemCenterConfigurationManager/2009/AppMgmtDigest"
RULES_NS = "http://schemas.microsoft.com/SystemsCenterConfigurationManager/2009/06/14/Rules"
"""Requirement and supersedence rules of a deployment type are in the SDM rules namespace."""
OPERATING_SYSTEMS = {
    "windows10-x64": "Windows/All_x64_Windows_10_and_higher_Clients",
    "windows10-x86": "Windows/All_x86_Windows_10_and_higher_Clients",
    "windows10-arm64": "Windows/All_ARM64_Windows_10_and_higher_Clients",
    "windows11-x64": "Windows/All_x64_Windows_11_and_higher_Clients",
    "windows11-arm64": "Windows/All_ARM64_Windows_11_and_higher_Clients",
}
"""``sccm.requirements.operatingSystems`` → the platform a requirement rule names."""
GLOBAL_CONDITIONS = {
    "minimumFreeDiskSpaceMB": "FreeDiskSpace",
    "minimumMemoryMB": "TotalPhysicalMemory",
}
"""``sccm.requirements`` minimums → the built-in global condition compared (GreaterEquals, MB)."""
SCOPE = "ScopeId_EUCORA"
CI_ID = "sccm_ci_id"
ASSIGNMENT_ID = "sccm_assignment_id"
_EUCORA_NAMESPACE = uuid.UUID("5b0d6c1e-2f4a-4e0b-9a53-6f1c2d7e8a90")
INSTALL_BEHAVIOR = {"system": "System", "user": "User", "systemIfDeviceOtherwiseUser": "Any"}
"""``sccm.installBehavior`` → the deployment type's ``ExecutionContext``."""
REBOOT_BEHAVIOR = {
    "basedOnExitCode": "BasedOnExitCode",
    "noAction": "NoAction",
    "forceReboot": "ForceReboot",
    "programReboot": "ProgramReboot",
}
"""``sccm.rebootBehavior`` → the deployment type's ``PostInstallBehavior``."""
EXIT_CLASSES = {
    "success": "Success",
    "softReboot": "SoftReboot",
    "hardReboot": "HardReboot",
    "fastRetry": "FastRetry",
    "failure": "Failure",
}
"""``sccm.returnCodes[].type`` → the ``ExitCode`` class of the deployment type."""
DEFAULT_EXIT_CODES = ((0, "Success"), (1707, "Success"), (3010, "SoftReboot"),
                      (1641, "HardReboot"), (1618, "FastRetry"))  # fmt: skip
"""The return codes a new deployment type starts with in the console."""
NOTIFICATION = {
    "displayAll": (True, True),
    "displaySoftwareCenterOnly": (False, True),
    "hideAll": (False, False),
}
"""``rings[].sccm.userNotification`` → the deployment's (``NotifyUser``, ``UserUIExperience``)."""
OFFER = {"required": (0, 1), "available": (2, 1), "uninstall": (0, 2)}
"""Ring assignment → (OfferTypeID, DesiredConfigType), per the SMS_ApplicationAssignment docs."""
STATUS = {1: "success", 2: "in_progress", 3: "requirements_not_met", 4: "unknown", 5: "error"}
SUMMARY_SELECT = (
    "AssignmentID,CollectionID,NumberTargeted,NumberSuccess,NumberErrors,NumberInProgress,"
    "NumberOther,NumberUnknown,SummarizationTime"
)
ERROR_SELECT = "MachineName,ErrorCode,EnforcementState,StartTime"


@dataclass(frozen=True)
class ModelReference:
    """An application's deployment type as another application's model refers to it."""

    scope: str
    application: str
    version: str
    deployment_type: str
    deployment_type_version: str


def display_name(publication: Publication) -> str:
    """The application's name in Configuration Manager: the intent's name and version."""
    return f"{publication.name} {publication.version}"


def assignment_name(publication: Publication) -> str:
    """The deployment's name: unique per intent version, ring and collection."""
    return (
        f"{publication.name} {publication.version} {publication.ring.name}"
        f" -> {publication.ring.target}"
    )


def _odata(text: str) -> str:
    """A string literal for ``$filter``."""
    return "'" + text.replace("'", "''") + "'"


def _sccm_message(response: httpx.Response) -> str:
    body = response.json()
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        error = body["error"]
        return f"{error.get('code', '')}: {error.get('message', '')}"
    return str(body)


def application_model(publication: Publication, superseded: ModelReference | None = None) -> str:
    """A minimal ``AppMgmtDigest`` (SDMPackageXML) for the intent's package.

    ``superseded`` is the deployment type the intent's ``sccm.supersedes`` names, as the site
    holds it (the connector looks it up; the model only refers to it).
    """
    package = publication.intent["package"]
    kind = str(package["type"])
    if kind not in {"msi", "exe", "script"}:
        raise PermanentConnectorError(
            f"sccm: package type {kind!r} is not supported (msi, exe or script)"
        )
    app = publication.intent["app"]
    name = display_name(publication)
    seed = f"{publication.name}@{publication.version}"
    app_id = f"Application_{uuid.uuid5(_EUCORA_NAMESPACE, seed)}"
    dt_id = f"DeploymentType_{uuid.uuid5(_EUCORA_NAMESPACE, seed + '/dt')}"
    description = (
        f"Published by EUCORA from intent {publication.name} {publication.version};"
        f" evidence {publication.evidence_digest}"
    )
    ET.register_namespace("", DIGEST_NS)
    ET.register_namespace("rules", RULES_NS)

    def tag(name: str) -> str:
        return f"{{{DIGEST_NS}}}{name}"

    root = ET.Element(tag("AppMgmtDigest"))
    application = ET.SubElement(
        root, tag("Application"), AuthoringScopeId=SCOPE, LogicalName=app_id, Version="1"
    )
    display = ET.SubElement(application, tag("DisplayInfo"), DefaultLanguage="en-US")
    info = ET.SubElement(display, tag("Info"), Language="en-US")
    for field, value in (
        ("Title", name),
        ("Publisher", str(app["publisher"])),
        ("Version", publication.version),
        ("Description", description),
    ):
        ET.SubElement(info, tag(field)).text = value
    types = ET.SubElement(application, tag("DeploymentTypes"))
    ET.SubElement(types, tag("DeploymentType"), AuthoringScopeId=SCOPE, LogicalName=dt_id)
    for field, value in (
        ("Title", name),
        ("Description", description),
        ("Publisher", str(app["publisher"])),
        ("SoftwareVersion", publication.version),
    ):
        ET.SubElement(application, tag(field)).text = value
    technology = "MSI" if kind == "msi" else "Script"
    deployment = ET.SubElement(
        root, tag("DeploymentType"), AuthoringScopeId=SCOPE, LogicalName=dt_id, Version="1"
    )
    ET.SubElement(deployment, tag("Title")).text = f"{name} ({technology})"
    ET.SubElement(deployment, tag("Technology")).text = technology
    installer = ET.SubElement(deployment, tag("Installer"), Technology=technology)
    contents = ET.SubElement(installer, tag("Contents"))
    content = ET.SubElement(contents, tag("Content"), ContentId=f"Content_{dt_id[15:]}")
    file_name = urlsplit(str(package["url"])).path.rsplit("/", 1)[-1]
    ET.SubElement(content, tag("File"), Name=file_name, Size=str(package.get("sizeBytes", 0)))
    ET.SubElement(content, tag("Location")).text = str(package["url"])
    ET.SubElement(content, tag("Hash"), Algorithm="SHA256").text = str(package["sha256"])
    args = ET.SubElement(installer, tag("InstallAction"))
    ET.SubElement(args, tag("CommandLine")).text = str(package.get("installCommand", ""))
    uninstall = ET.SubElement(installer, tag("UninstallAction"))
    ET.SubElement(uninstall, tag("CommandLine")).text = str(package.get("uninstallCommand", ""))
    _add_detection(installer, package.get("detection") or {}, tag)
    settings = publication.intent.get("sccm") or {}
    _add_settings(installer, settings, tag)
    _add_requirements(deployment, settings.get("requirements") or {}, seed, tag)
    if settings.get("supersedes"):
        if superseded is None:
            raise PermanentConnectorError(
                "sccm: sccm.supersedes needs the superseded deployment type, looked up first"
            )
        _add_supersedes(deployment, superseded, bool(settings["supersedes"].get("uninstall")), tag)
    return ET.tostring(root, encoding="unicode")


def _add_detection(
    installer: ET.Element, detection: Mapping[str, Any], tag: Callable[[str], str]
) -> None:
    """The intent's detection as the deployment type's ``DetectAction``.

    ``MSI`` checks a product code; ``Local`` a file (``File``: folder, name, optional minimum
    version) or a registry key (``RegistryKey``: hive, key, optional value name); ``Script`` runs
    a PowerShell script (``ScriptType`` 0), installed when it writes to stdout and exits 0.
    """
    kind = detection.get("type")
    if kind is None:
        return
    if kind == "msiProductCode":
        detect = ET.SubElement(installer, tag("DetectAction"), Provider="MSI")
        ET.SubElement(detect, tag("ProductCode")).text = str(detection["productCode"])
    elif kind == "file":
        path = PureWindowsPath(str(detection["path"]))
        detect = ET.SubElement(installer, tag("DetectAction"), Provider="Local")
        found = ET.SubElement(detect, tag("File"), Path=str(path.parent), Name=path.name)
        if detection.get("fileVersion"):
            found.set("MinimumVersion", str(detection["fileVersion"]))
    elif kind == "registry":
        hive, _, key = str(detection["key"]).partition("\\")
        detect = ET.SubElement(installer, tag("DetectAction"), Provider="Local")
        found = ET.SubElement(detect, tag("RegistryKey"), Hive=hive, Key=key)
        if detection.get("valueName"):
            found.set("ValueName", str(detection["valueName"]))
    elif kind == "script":
        detect = ET.SubElement(installer, tag("DetectAction"), Provider="Script")
        args = ET.SubElement(detect, tag("Args"))
        ET.SubElement(args, tag("Arg"), Name="ScriptType", Type="Int32").text = "0"
        ET.SubElement(args, tag("Arg"), Name="ScriptBody", Type="String").text = str(
            detection["script"]
        )
    else:
        raise PermanentConnectorError(
            f"sccm: detection {kind!r} is not a Configuration Manager detection method"
            " (use msiProductCode, file, registry or script)"
        )


def _add_requirements(
    deployment: ET.Element, requirements: Mapping[str, Any], seed: str, tag: Callable[[str], str]
) -> None:
    """``sccm.requirements`` as requirement rules on built-in global conditions."""
    rules: list[tuple[str, ET.Element]] = []
    if requirements.get("operatingSystems"):
        expression = ET.Element(_rule("OperatingSystemExpression"))
        ET.SubElement(expression, _rule("Operator")).text = "OneOf"
        operands = ET.SubElement(expression, _rule("Operands"))
        for system in requirements["operatingSystems"]:
            ET.SubElement(operands, _rule("RuleExpression"), RuleId=OPERATING_SYSTEMS[system])
        rules.append(("os", expression))
    for key, setting in GLOBAL_CONDITIONS.items():
        if key not in requirements:
            continue
        expression = ET.Element(_rule("Expression"))
        ET.SubElement(expression, _rule("Operator")).text = "GreaterEquals"
        operands = ET.SubElement(expression, _rule("Operands"))
        ET.SubElement(
            operands,
            _rule("GlobalSettingReference"),
            AuthoringScopeId="GLOBAL",
            LogicalName=setting,
            DataType="Int64",
        )
        ET.SubElement(
            operands, _rule("ConstantValue"), Value=str(int(requirements[key])), DataType="Int64"
        )
        rules.append((setting, expression))
    if not rules:
        return
    holder = ET.SubElement(deployment, tag("Requirements"))
    for name, expression in rules:
        rule = ET.SubElement(
            holder,
            _rule("Rule"),
            id=f"Rule_{uuid.uuid5(_EUCORA_NAMESPACE, f'{seed}/requirement/{name}')}",
            Severity="None",
            NonCompliantWhenSettingIsNotFound="false",
        )
        rule.append(expression)


def _add_supersedes(
    deployment: ET.Element, superseded: ModelReference, uninstall: bool, tag: Callable[[str], str]
) -> None:
    """The superseded version's deployment type, replaced (``DesiredState`` Prohibited)."""
    rule = ET.SubElement(
        ET.SubElement(deployment, tag("Supersedes")), _rule("DeploymentTypeRule"), Severity="None"
    )
    expression = ET.SubElement(
        rule, _rule("DeploymentTypeIntentExpression"), DesiredState="Prohibited"
    )
    ET.SubElement(
        expression,
        _rule("DeploymentTypeApplicationReference"),
        AuthoringScopeId=superseded.scope,
        LogicalName=superseded.application,
        Version=superseded.version,
    )
    ET.SubElement(
        expression,
        _rule("DeploymentTypeReference"),
        AuthoringScopeId=superseded.scope,
        LogicalName=superseded.deployment_type,
        Version=superseded.deployment_type_version,
        Changeable=str(uninstall).lower(),
    )


def _rule(name: str) -> str:
    return f"{{{RULES_NS}}}{name}"


def model_reference(model: str) -> ModelReference:
    """Where an ``SDMPackageXML`` names its application and (first) deployment type."""
    ns = {"d": DIGEST_NS}
    root = _parse_model(model)
    application = root.find("d:Application", ns)
    deployment = root.find("d:DeploymentType", ns)
    if application is None or deployment is None:
        raise TransientConnectorError(
            "sccm: an SDMPackageXML without an Application and a DeploymentType"
        )
    return ModelReference(
        scope=application.get("AuthoringScopeId", ""),
        application=application.get("LogicalName", ""),
        version=application.get("Version", "1"),
        deployment_type=deployment.get("LogicalName", ""),
        deployment_type_version=deployment.get("Version", "1"),
    )


def _parse_model(model: str) -> ET.Element:
    try:
        root: ET.Element = SafeET.fromstring(model)
    except ET.ParseError:
        raise TransientConnectorError("sccm: the application's SDMPackageXML is not XML") from None
    return root


def read_model_detection(model: str) -> dict[str, Any] | None:
    """The deployment type's detection in the words of the intent's ``package.detection``."""
    ns = {"d": DIGEST_NS}
    detect = _parse_model(model).find("d:DeploymentType/d:Installer/d:DetectAction", ns)
    if detect is None:
        return None
    provider = detect.get("Provider")
    if provider == "MSI":
        return {
            "type": "msiProductCode",
            "productCode": detect.findtext("d:ProductCode", default="", namespaces=ns),
        }
    if provider == "Script":
        body = detect.find("d:Args/d:Arg[@Name='ScriptBody']", ns)
        return {"type": "script", "script": "" if body is None else body.text or ""}
    found = detect.find("d:File", ns)
    if found is not None:
        file = {
            "type": "file",
            "path": str(PureWindowsPath(found.get("Path", ""), found.get("Name", ""))),
        }
        if found.get("MinimumVersion"):
            file["fileVersion"] = found.get("MinimumVersion", "")
        return file
    found = detect.find("d:RegistryKey", ns)
    if found is not None:
        registry = {"type": "registry", "key": f"{found.get('Hive', '')}\\{found.get('Key', '')}"}
        if found.get("ValueName"):
            registry["valueName"] = found.get("ValueName", "")
        return registry
    return {"type": f"unknown {provider}"}


def read_model_supersedes(model: str) -> tuple[str, bool] | None:
    """The model name (``<scope>/<logical name>``) of the superseded application and uninstall."""
    ns = {"d": DIGEST_NS, "r": RULES_NS}
    expression = _parse_model(model).find(
        "d:DeploymentType/d:Supersedes/r:DeploymentTypeRule/r:DeploymentTypeIntentExpression", ns
    )
    if expression is None:
        return None
    application = expression.find("r:DeploymentTypeApplicationReference", ns)
    deployment = expression.find("r:DeploymentTypeReference", ns)
    if application is None:
        return None
    uninstall = deployment is not None and deployment.get("Changeable") == "true"
    return f"{application.get('AuthoringScopeId')}/{application.get('LogicalName')}", uninstall


def _add_settings(
    installer: ET.Element, settings: Mapping[str, Any], tag: Callable[[str], str]
) -> None:
    """The ``sccm`` section as the deployment type's install arguments and exit codes.

    Only what the intent says is written (an intent without ``sccm:`` keeps the model it had);
    return codes are written as the console holds them, its defaults first.
    """
    values = []
    if "installBehavior" in settings:
        values.append(("ExecutionContext", "String", INSTALL_BEHAVIOR[settings["installBehavior"]]))
    if "maxRunTimeMinutes" in settings:
        values.append(("MaxExecuteTime", "Int32", str(int(settings["maxRunTimeMinutes"]))))
    if "rebootBehavior" in settings:
        values.append(
            ("PostInstallBehavior", "String", REBOOT_BEHAVIOR[settings["rebootBehavior"]])
        )
    if values:
        args = ET.SubElement(installer, tag("Args"))
        for name, kind, value in values:
            ET.SubElement(args, tag("Arg"), Name=name, Type=kind).text = value
    custom = [
        (int(c["code"]), EXIT_CLASSES[str(c["type"])]) for c in settings.get("returnCodes") or ()
    ]
    if custom:
        codes = ET.SubElement(ET.SubElement(installer, tag("CustomData")), tag("ExitCodes"))
        for code, kind in [
            c for c in DEFAULT_EXIT_CODES if c[0] not in {n for n, _ in custom}
        ] + custom:
            ET.SubElement(codes, tag("ExitCode"), Code=str(code), Class=kind)


def read_model_settings(model: str) -> dict[str, Any]:
    """An ``SDMPackageXML``'s deployment type settings in the words of the intent's ``sccm``."""
    ns = {"d": DIGEST_NS}
    root = _parse_model(model)
    section: dict[str, Any] = {}
    words = {
        "ExecutionContext": ("installBehavior", {v: k for k, v in INSTALL_BEHAVIOR.items()}),
        "PostInstallBehavior": ("rebootBehavior", {v: k for k, v in REBOOT_BEHAVIOR.items()}),
    }
    for arg in root.iterfind("d:DeploymentType/d:Installer/d:Args/d:Arg", ns):
        name, value = arg.get("Name", ""), (arg.text or "").strip()
        if name in words and value in words[name][1]:
            key, table = words[name]
            section[key] = table[value]
        elif name == "MaxExecuteTime" and value.isdigit():
            section["maxRunTimeMinutes"] = int(value)
    classes = {v: k for k, v in EXIT_CLASSES.items()}
    custom = [
        {"code": int(code.get("Code", "0")), "type": classes.get(code.get("Class", ""), "")}
        for code in root.iterfind(
            "d:DeploymentType/d:Installer/d:CustomData/d:ExitCodes/d:ExitCode", ns
        )
        if (int(code.get("Code", "0")), code.get("Class")) not in DEFAULT_EXIT_CODES
    ]
    if custom:
        section["returnCodes"] = custom
    requirements = _read_requirements(root)
    if requirements:
        section["requirements"] = requirements
    return section


def _read_requirements(root: ET.Element) -> dict[str, Any]:
    ns = {"d": DIGEST_NS, "r": RULES_NS}
    requirements: dict[str, Any] = {}
    systems = {v: k for k, v in OPERATING_SYSTEMS.items()}
    conditions = {v: k for k, v in GLOBAL_CONDITIONS.items()}
    for rule in root.iterfind("d:DeploymentType/d:Requirements/r:Rule", ns):
        ids = [
            e.get("RuleId", "")
            for e in rule.iterfind("r:OperatingSystemExpression/r:Operands/r:RuleExpression", ns)
        ]
        if ids:
            requirements["operatingSystems"] = [systems.get(i, i) for i in ids]
        setting = rule.find("r:Expression/r:Operands/r:GlobalSettingReference", ns)
        value = rule.find("r:Expression/r:Operands/r:ConstantValue", ns)
        if setting is not None and value is not None:
            name = setting.get("LogicalName", "")
            requirements[conditions.get(name, name)] = int(value.get("Value", "0"))
    return requirements


class SccmConnector:
    """Configuration Manager through the AdminService REST API."""

    plane = Plane.SCCM

    def __init__(
        self,
        settings: SccmSettings,
        *,
        now: Callable[[], datetime] | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._now = now or (lambda: datetime.now(UTC))
        base = settings.url.rstrip("/")
        self._base = base if base.lower().endswith("/adminservice") else f"{base}/AdminService"
        auth: tuple[str, str] | None = None
        headers: dict[str, str] = {}
        if settings.token:
            headers["Authorization"] = f"Bearer {settings.token}"
        elif settings.username and settings.password:
            auth = (settings.username, settings.password)
        self._http = PlaneClient(
            plane="sccm",
            base_url=self._base,
            timeout=settings.timeout,
            auth=auth,
            headers=headers,
            secrets=(settings.password, settings.token),
            message_of=_sccm_message,
            transport=transport,
        )

    def close(self) -> None:
        """Close the HTTP connections."""
        self._http.close()

    # -- the interface ---------------------------------------------------------------------
    def plan(self, publication: Publication) -> tuple[PlannedStep, ...]:
        """What publishing would create, from GET requests only."""
        # An unsupported package type, or a superseded version the site lacks, fails the plan.
        application_model(publication, self._superseded(publication))
        collection = self._collection(publication.ring.target)
        name = display_name(publication)
        offer, desired = OFFER[publication.ring.assignment]
        steps = []
        application = self._find_application(name)
        if application is None:
            supersedes = (publication.intent.get("sccm") or {}).get("supersedes")
            superseding = (
                f", superseding '{publication.name} {supersedes['version']}'"
                f" ({'uninstall' if supersedes.get('uninstall') else 'upgrade'})"
                if supersedes
                else ""
            )
            steps.append(
                PlannedStep(
                    kind=StepKind.CREATE,
                    description=f"create application '{name}'{superseding}",
                )
            )
        deployment = self._find_assignment(assignment_name(publication))
        purpose = _purpose(offer, desired)
        if deployment is None:
            steps.append(
                PlannedStep(
                    kind=StepKind.ASSIGN,
                    description=(
                        f"deploy '{name}' to collection {collection['CollectionID']}"
                        f" ({collection.get('Name', '')}, {collection.get('MemberCount', '?')}"
                        f" devices) as {purpose}"
                    ),
                )
            )
        else:
            steps.append(
                PlannedStep(
                    kind=StepKind.NOTHING,
                    description=f"'{name}' is already deployed to {publication.ring.target}",
                )
            )
        return tuple(steps)

    def publish(self, publication: Publication, journal: Journal) -> PublishResult:
        """Find or create the application, then find or create its deployment."""
        name = display_name(publication)
        collection = self._collection(publication.ring.target)
        application, app_created = self._find_or_create_application(publication, name)
        journal.put(CI_ID, str(application["CI_ID"]))
        deployment, created = self._find_or_create_assignment(publication, application)
        journal.put(ASSIGNMENT_ID, str(deployment["AssignmentID"]))
        return PublishResult(
            object_id=str(deployment["AssignmentID"]),
            created=created,
            details={
                "ci_id": str(application["CI_ID"]),
                "application": name,
                "application_created": str(app_created).lower(),
                "assignment_id": str(deployment["AssignmentID"]),
                "collection": str(collection["CollectionID"]),
                "offer_type": str(deployment.get("OfferTypeID")),
                "desired_config_type": str(deployment.get("DesiredConfigType")),
            },
        )

    def state(self, intent_name: str) -> PlaneState:
        """The newest application of the intent, its deployments and their device status."""
        found = self._wmi(
            "SMS_Application",
            f"startswith(LocalizedDisplayName,{_odata(intent_name + ' ')}) and IsLatest eq true",
        )
        if not found:
            return PlaneState(present=False)
        application = max(found, key=lambda a: int(a["CI_ID"]))
        deployments = self._wmi(
            "SMS_ApplicationAssignment",
            f"AssignedCI_UniqueID eq {_odata(str(application['CI_UniqueID']))}",
        )
        rings: dict[str, str] = {}
        details: dict[str, str] = {"ci_id": str(application["CI_ID"])}
        read_rings: dict[str, Any] = {}
        for deployment in deployments:
            ring = _ring_of(str(deployment["AssignmentName"]), intent_name)
            rings[ring] = _purpose(deployment["OfferTypeID"], deployment["DesiredConfigType"])
            read_rings[ring] = read_deployment_settings(deployment)
            rows = self._wmi(
                "SMS_AppDeploymentAssetDetails", f"AssignmentID eq {deployment['AssignmentID']}"
            )
            for status in sorted({STATUS.get(r["StatusType"], "unknown") for r in rows}):
                count = sum(1 for r in rows if STATUS.get(r["StatusType"], "unknown") == status)
                details[f"{ring}.{status}"] = str(count)
        model = self._model(application)
        settings: dict[str, Any] = {"sccm": read_model_settings(model), "rings": read_rings}
        supersedes = self._read_supersedes(model)
        if supersedes:
            settings["sccm"]["supersedes"] = supersedes
        detection = read_model_detection(model)
        if detection is not None:
            settings["package"] = {"detection": detection}
        return PlaneState(
            present=True,
            version=str(application.get("SoftwareVersion") or "") or None,
            rings=rings,
            object_id=str(application["CI_ID"]),
            details=details,
            settings=settings,
        )

    def _model(self, application: Mapping[str, Any]) -> str:
        """The application's ``SDMPackageXML``; it is lazy, so read by key if left out."""
        model = application.get("SDMPackageXML")
        if not model:
            found = self._wmi_key("SMS_Application", int(application["CI_ID"]))
            model = found.get("SDMPackageXML")
        if not isinstance(model, str) or not model:
            raise TransientConnectorError(
                f"sccm: application {application['CI_ID']} came back without its SDMPackageXML"
            )
        return model

    def _superseded(self, publication: Publication) -> ModelReference | None:
        """The deployment type of the version ``sccm.supersedes`` names, as the site holds it."""
        supersedes = (publication.intent.get("sccm") or {}).get("supersedes")
        if not supersedes:
            return None
        name = f"{publication.name} {supersedes['version']}"
        found = self._find_application(name)
        if found is None:
            raise PermanentConnectorError(
                f"sccm: sccm.supersedes names '{name}', which the site does not hold: publish"
                " that version first, or remove sccm.supersedes"
            )
        return model_reference(self._model(found))

    def _read_supersedes(self, model: str) -> dict[str, Any] | None:
        """``sccm.supersedes`` as the model says it: the superseded application's version."""
        found = read_model_supersedes(model)
        if found is None:
            return None
        model_name, uninstall = found
        rows = self._wmi("SMS_Application", f"ModelName eq {_odata(model_name)}")
        if not rows:
            raise TransientConnectorError(
                f"sccm: the application supersedes {model_name}, which the site does not list"
            )
        newest = max(rows, key=lambda a: int(a["CI_ID"]))
        supersedes: dict[str, Any] = {"version": str(newest.get("SoftwareVersion") or "")}
        if uninstall:
            supersedes["uninstall"] = True
        return supersedes

    def observe(self, intent: Mapping[str, Any], rings: Sequence[Ring]) -> Observed:
        """The intent's newest application for drift: its version and each deployment's collection.

        The application's name (``<intent> <version>``) names it; each EUCORA deployment carries
        ``EUCORA <key>; evidence <digest>`` in its description: deployments that all lost it leave
        the application unmarked.
        """
        del rings
        name = _observe.intent_name(intent)
        found = self._wmi(
            "SMS_Application",
            f"startswith(LocalizedDisplayName,{_odata(name + ' ')}) and IsLatest eq true",
        )
        if not found:
            return _observe.absent()
        application = max(found, key=lambda a: int(a["CI_ID"]))
        deployments = self._wmi(
            "SMS_ApplicationAssignment",
            f"AssignedCI_UniqueID eq {_odata(str(application['CI_UniqueID']))}",
        )
        version = str(application.get("SoftwareVersion") or "") or None
        described = [str(d.get("AssignmentDescription") or "") for d in deployments]
        evidence = [text.rsplit("evidence ", 1)[-1] for text in described if "EUCORA" in text]
        shown = str(application.get("LocalizedDisplayName") or "").removeprefix(name + " ")
        marker = (
            None
            if deployments and not evidence
            else Marker(name=name, version=shown, evidence=evidence[0] if evidence else "")
        )
        return Observed(
            present=True,
            version=version,
            marker=marker,
            assignments=_observe.assignments(
                (
                    str(d.get("TargetCollectionID") or ""),
                    _purpose(d["OfferTypeID"], d["DesiredConfigType"]),
                )
                for d in deployments
            ),
        )

    def retire(self, intent_name: str, journal: Journal) -> None:
        """Delete every deployment of the intent's applications (the applications stay)."""
        del journal
        for application in self._wmi(
            "SMS_Application", f"startswith(LocalizedDisplayName,{_odata(intent_name + ' ')})"
        ):
            for deployment in self._wmi(
                "SMS_ApplicationAssignment",
                f"AssignedCI_UniqueID eq {_odata(str(application['CI_UniqueID']))}",
            ):
                self._http.request(
                    "DELETE",
                    f"/wmi/SMS_ApplicationAssignment({deployment['AssignmentID']})",
                    allow=(404,),
                )

    def outcomes(self, publication: Publication) -> RingOutcomes:
        """The ring's deployment as ``SMS_DeploymentSummary`` summarised it, with error devices.

        Counts are the site's summary (``SummarizationTime`` is ``as_of``): ``NumberInProgress``
        and ``NumberUnknown`` are pending, ``NumberOther`` (requirements not met) not applicable.
        The error sample is ``SMS_AppDeploymentErrorAssetDetails`` of the same deployment.
        """
        name = assignment_name(publication)
        deployment = self._find_assignment(name)
        if deployment is None:
            raise PermanentConnectorError(f"sccm: no deployment named '{name}' to read back")
        assignment_id = int(deployment["AssignmentID"])
        where = f"sccm: SMS_DeploymentSummary of deployment {assignment_id}"
        rows = self._wmi(
            "SMS_DeploymentSummary", f"AssignmentID eq {assignment_id}", select=SUMMARY_SELECT
        )
        if len(rows) != 1:
            raise TransientConnectorError(
                f"{where}: {len(rows)} summary rows (the site has not summarised it yet?)"
            )
        row = rows[0]
        failed = count(row, "NumberErrors", where)
        errors: tuple[DeviceError, ...] = ()
        if failed:
            details = self._wmi(
                "SMS_AppDeploymentErrorAssetDetails",
                f"AssignmentID eq {assignment_id}",
                select=ERROR_SELECT,
            )
            errors = sample(
                DeviceError(
                    device=str(d.get("MachineName")),
                    code=hex_code(d.get("ErrorCode")),
                    message=f"enforcement state {d.get('EnforcementState')}",
                )
                for d in details
            )
        return RingOutcomes(
            targeted=count(row, "NumberTargeted", where),
            installed=count(row, "NumberSuccess", where),
            failed=failed,
            pending=count(row, "NumberInProgress", where) + count(row, "NumberUnknown", where),
            not_applicable=count(row, "NumberOther", where),
            as_of=parse_time(row.get("SummarizationTime"), where),
            errors=errors,
        )

    # -- steps -----------------------------------------------------------------------------
    def _wmi(self, cls: str, condition: str, *, select: str | None = None) -> list[dict[str, Any]]:
        params = {"$filter": condition} | ({"$select": select} if select else {})
        body = self._http.json("GET", f"/wmi/{cls}", params=params)
        if not isinstance(body, dict) or not isinstance(body.get("value"), list):
            raise TransientConnectorError(f"sccm: GET {cls} answered without a value list")
        return list(body["value"])

    def _wmi_key(self, cls: str, key: int) -> dict[str, Any]:
        body = self._http.json("GET", f"/wmi/{cls}({key})")
        rows = body.get("value") if isinstance(body, dict) else None
        if not isinstance(rows, list) or len(rows) != 1 or not isinstance(rows[0], dict):
            raise TransientConnectorError(f"sccm: GET {cls}({key}) answered without one instance")
        return dict(rows[0])

    def _collection(self, collection_id: str) -> dict[str, Any]:
        found = self._wmi("SMS_Collection", f"CollectionID eq {_odata(collection_id)}")
        if not found:
            raise PermanentConnectorError(f"sccm: collection {collection_id} does not exist")
        return found[0]

    def _find_application(self, name: str) -> dict[str, Any] | None:
        found = self._wmi(
            "SMS_Application", f"LocalizedDisplayName eq {_odata(name)} and IsLatest eq true"
        )
        return found[0] if found else None

    def _find_or_create_application(
        self, publication: Publication, name: str
    ) -> tuple[dict[str, Any], bool]:
        found = self._find_application(name)
        if found is not None:
            return found, False
        model = application_model(publication, self._superseded(publication))
        response = self._http.request(
            "POST",
            "/wmi/SMS_Application",
            json={"SDMPackageXML": model},
            allow=(409,),
        )
        if response.status_code == 409:
            found = self._find_application(name)
            if found is None:
                raise PermanentConnectorError(
                    f"sccm: creating '{name}' answered 409 but no application has that name"
                )
            return found, False
        return dict(self._http.decode(response, "POST SMS_Application")), True

    def _find_assignment(self, name: str) -> dict[str, Any] | None:
        found = self._wmi("SMS_ApplicationAssignment", f"AssignmentName eq {_odata(name)}")
        return found[0] if found else None

    def _find_or_create_assignment(
        self, publication: Publication, application: dict[str, Any]
    ) -> tuple[dict[str, Any], bool]:
        name = assignment_name(publication)
        found = self._find_assignment(name)
        if found is not None:
            return found, False
        offer, desired = OFFER[publication.ring.assignment]
        start, deadline = self._schedule(publication)
        ring_settings = _intent_ring(publication).get("sccm") or {}
        notify, shown = NOTIFICATION[ring_settings.get("userNotification", _notification(offer))]
        body: dict[str, Any] = {
            "AssignmentName": name,
            "AssignmentDescription": (
                f"EUCORA {publication.idempotency_key}; evidence {publication.evidence_digest}"
            ),
            "AssignedCIs": [int(application["CI_ID"])],
            "AssignmentType": 2,
            "AssignmentAction": 2,
            "OfferTypeID": offer,
            "DesiredConfigType": desired,
            "TargetCollectionID": publication.ring.target,
            "StartTime": start,
            "UseGMTTimes": True,
            "Enabled": True,
            "NotifyUser": notify,
            "UserUIExperience": shown,
            "OverrideServiceWindows": bool(ring_settings.get("overrideServiceWindows", False)),
            "SuppressReboot": 0,
            "OfferFlags": 1 if offer == 0 else 0,
            "Priority": 1,
            "RequireApproval": False,
            "WoLEnabled": False,
            "LogComplianceToWinEvent": False,
            "DisableMomAlerts": False,
        }
        if offer == 0:
            body["EnforcementDeadline"] = deadline or start
        if ring_settings.get("rebootOutsideServiceWindows"):
            body["RebootOutsideOfServiceWindows"] = True
        if ring_settings.get("updateSupersedence"):
            body["UpdateSupersedence"] = True
        created = self._http.json("POST", "/wmi/SMS_ApplicationAssignment", json=body)
        return dict(created), True

    def _schedule(self, publication: Publication) -> tuple[str, str | None]:
        schedule = _intent_ring(publication).get("schedule") or {}
        start = _utc(schedule.get("start")) or self._now().strftime("%Y-%m-%dT%H:%M:%SZ")
        return start, _utc(schedule.get("deadline"))


def _intent_ring(publication: Publication) -> dict[str, Any]:
    """The intent's ring the publication is for (its settings and schedule)."""
    rings = publication.intent.get("rings", [])
    found: dict[str, Any] = next((r for r in rings if r.get("name") == publication.ring.name), {})
    return found


def _notification(offer: int) -> str:
    """The ``userNotification`` a ring that says none gets: all for available, else restarts."""
    return "displayAll" if offer == 2 else "displaySoftwareCenterOnly"


def read_deployment_settings(deployment: Mapping[str, Any]) -> dict[str, Any]:
    """A deployment's settings and times in the words of the intent's ring.

    ``{"sccm": ..., "schedule": {"start", "deadline"}}``: the plane keeps UTC, so the times are
    UTC; a deadline equal to the start is the one the connector sends when the ring has none.
    """
    ring: dict[str, Any] = {}
    section: dict[str, Any] = {}
    offer = int(deployment.get("OfferTypeID", 0))
    held = (bool(deployment.get("NotifyUser")), bool(deployment.get("UserUIExperience", True)))
    notification = next((k for k, v in NOTIFICATION.items() if v == held), None)
    if notification is not None and notification != _notification(offer):
        section["userNotification"] = notification
    if deployment.get("OverrideServiceWindows"):
        section["overrideServiceWindows"] = True
    if deployment.get("RebootOutsideOfServiceWindows"):
        section["rebootOutsideServiceWindows"] = True
    if deployment.get("UpdateSupersedence"):
        section["updateSupersedence"] = True
    if section:
        ring["sccm"] = section
    schedule: dict[str, Any] = {}
    if deployment.get("StartTime"):
        schedule["start"] = _utc(deployment["StartTime"])
    deadline = deployment.get("EnforcementDeadline")
    if deadline and _utc(deadline) != schedule.get("start"):
        schedule["deadline"] = _utc(deadline)
    if schedule:
        ring["schedule"] = schedule
    return ring


def _utc(value: Any) -> str | None:
    if not value:
        return None
    when = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _purpose(offer: int, desired: int) -> str:
    if desired == 2:
        return "uninstall"
    return "available" if offer == 2 else "required"


def _ring_of(assignment: str, intent_name: str) -> str:
    """The ring from ``<intent> <version> <ring> -> <collection>``."""
    parts = assignment.removeprefix(intent_name + " ").split(" ")
    return parts[1] if len(parts) > 1 else assignment
