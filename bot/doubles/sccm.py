"""A local double of the Configuration Manager AdminService WMI route (``/AdminService/wmi/``).

Holds collections, applications, deployments (``SMS_ApplicationAssignment``) and per-device
deployment status. Accepts HTTP Basic (the configured user and password) or a Bearer token.
Requests are checked against hand-written JSON Schemas of the WMI classes in ``data/sccm/`` (from
Microsoft's class reference pages, CC-BY-4.0): ``$filter`` and ``$select`` may only name properties
of the class, create bodies must validate (types, enumerations, ``required``) and may not carry
read-only properties; ``SDMPackageXML`` must be an ``AppMgmtDigest`` with an ``Application`` (title,
version) and at least one ``DeploymentType``, whose detection, requirement rules and supersedence
hold what ``data/sccm/README.md`` lists (a superseded application must exist). Class names are matched case-insensitively, as on
ConfigMgr 2006 and later. Answers use the OData envelope ``{"@odata.context", "value"}`` and the
error shape ``{"error": {"code", "message"}}``.

Assumptions that no public source settles (planes.md §3.6, §9): a second application with the
same display name is refused with 409, and ``DELETE <Class>(<key>)`` removes an instance.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from typing import Any
from xml.etree.ElementTree import ParseError

import jsonschema
from defusedxml import ElementTree as SafeET

from bot.doubles._console import ConsoleEdit, ConsoleEdits
from bot.doubles._json_double import Call, JsonDouble, Reply

DIGEST_NS = "http://schemas.microsoft.com/SystemCenterConfigurationManager/2009/AppMgmtDigest"
RULES_NS = "http://schemas.microsoft.com/SystemsCenterConfigurationManager/2009/06/14/Rules"
CLASSES = ("SMS_Application", "SMS_ApplicationAssignment", "SMS_Collection")
READ_ONLY_CLASSES = (
    "SMS_AppDeploymentAssetDetails",
    "SMS_AppDeploymentErrorAssetDetails",
    "SMS_DeploymentSummary",
)
_APP_STATUS = {"installed": 1, "pending": 2, "not_applicable": 3, "failed": 5}
"""``AppStatusType`` of a told outcome: 1 Success, 2 InProgress, 3 RequirementsNotMet, 5 Error."""
_INSTANCE = re.compile(r"^(?P<cls>\w+)(?:\((?P<key>[^)]*)\))?$")
_CONDITION = re.compile(
    r"^(?:(?P<prop>\w+) eq (?P<value>'(?:[^']|'')*'|-?\d+|true|false)"
    r"|startswith\((?P<sprop>\w+),\s*(?P<prefix>'(?:[^']|'')*')\))$"
)
KEYS = {
    "SMS_Application": "CI_ID",
    "SMS_ApplicationAssignment": "AssignmentID",
    "SMS_Collection": "CollectionID",
}


def _schema(name: str) -> dict[str, Any]:
    text = resources.files("bot.doubles").joinpath(f"data/sccm/{name}.schema.json").read_text()
    return dict(json.loads(text))


class ODataError(Exception):
    """An error answer in the OData envelope."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(status, code, message)
        self.status, self.code, self.message = status, code, message


@dataclass(slots=True)
class Collection:
    """A device collection and its members."""

    id: str
    name: str
    members: list[str] = field(default_factory=list)


class SccmDouble(ConsoleEdits, JsonDouble):
    """The AdminService on loopback."""

    plane = "sccm"

    def __init__(
        self,
        *,
        username: str = "CONTOSO\\svc-eucora",
        password: str = "sccm-test-password",  # noqa: S107 - a test double's credential
        token: str | None = None,
    ) -> None:
        super().__init__()
        self.username, self.password, self.token = username, password, token
        self.schemas = {name: _schema(name) for name in (*CLASSES, *READ_ONLY_CLASSES)}
        self._by_lower = {name.lower(): name for name in self.schemas}
        self.collections: dict[str, Collection] = {}
        self.applications: dict[int, dict[str, Any]] = {}
        self.assignments: dict[int, dict[str, Any]] = {}
        self.status_reads: dict[int, int] = {}
        self.steps_to_finish = 2
        self.device_outcome = 1
        """StatusType devices end with: 1 Success, 5 Error."""
        self._next_ci = 16777500
        self._next_assignment = 16777900

    _console_fields = ("applications", "assignments", "collections")

    def _console_apply(  # noqa: C901, PLR0912 - one branch per console edit
        self, intent: str, kind: ConsoleEdit, group: str, value: str
    ) -> None:
        apps = {
            ci: a
            for ci, a in self.applications.items()
            if str(a["LocalizedDisplayName"]).startswith(intent + " ")
        }
        if not apps:
            raise self.refuse("sccm", kind, f"no application of {intent}")
        newest = apps[max(apps)]
        unique = {a["CI_UniqueID"] for a in apps.values()}
        deployed = {i: d for i, d in self.assignments.items() if d["AssignedCI_UniqueID"] in unique}
        match kind:
            case ConsoleEdit.VERSION:
                newest["SoftwareVersion"] = value
            case ConsoleEdit.ASSIGNMENT:
                for deployment in deployed.values():
                    if deployment["TargetCollectionID"] == group:
                        deployment["OfferTypeID"] = 2 if value == "available" else 0
                        deployment["DesiredConfigType"] = 2 if value == "uninstall" else 1
            case ConsoleEdit.REMOVE_GROUP:
                for i, deployment in deployed.items():
                    if deployment["TargetCollectionID"] == group:
                        del self.assignments[i]
            case ConsoleEdit.ADD_GROUP:
                self._console_add(newest, deployed, group, value)
            case ConsoleEdit.DELETE:
                for i in deployed:
                    del self.assignments[i]
                for ci in apps:
                    del self.applications[ci]
            case ConsoleEdit.STRIP_MARKER:
                for deployment in deployed.values():
                    deployment["AssignmentDescription"] = ""

    def _console_add(
        self,
        newest: dict[str, Any],
        deployed: dict[int, dict[str, Any]],
        group: str,
        value: str,
    ) -> None:
        if group not in self.collections:
            self.add_collection(group, f"added in the console ({group})")
        self._next_assignment += 1
        template = next(iter(deployed.values()), {})
        self.assignments[self._next_assignment] = {
            **template,
            "AssignmentID": self._next_assignment,
            "AssignmentName": f"{newest['LocalizedDisplayName']} console -> {group}",
            "AssignmentDescription": "",
            "AssignedCI_UniqueID": newest["CI_UniqueID"],
            "TargetCollectionID": group,
            "CollectionName": self.collections[group].name,
            "OfferTypeID": 2 if value == "available" else 0,
            "DesiredConfigType": 2 if value == "uninstall" else 1,
        }

    # -- set-up ----------------------------------------------------------------------------

    def add_collection(self, collection_id: str, name: str, members: int = 2) -> None:
        """A device collection with ``members`` devices."""
        self.collections[collection_id] = Collection(
            collection_id, name, [f"{collection_id}-PC{i:03d}" for i in range(1, members + 1)]
        )

    def environ(self) -> dict[str, str]:
        """The ``EUCORA_SCCM_*`` settings that point a connector at this double (Basic auth)."""
        return {
            "EUCORA_SCCM_URL": self.url,
            "EUCORA_SCCM_USERNAME": self.username,
            "EUCORA_SCCM_PASSWORD": self.password,
        }

    # -- serving ---------------------------------------------------------------------------
    def error_body(self, code: str, message: str) -> Any:
        """The OData error envelope."""
        return {"error": {"code": code, "message": message}}

    def route(self, call: Call) -> Reply:
        """Authenticate, check against the class schemas, then answer."""
        if not self._authorised(call):
            return Reply(401, {"error": {"code": "Unauthorized", "message": "Access denied"}})
        try:
            return self._route(call)
        except ODataError as error:
            if error.status != 409:
                self.violation(f"{call.method} {call.path}: {error.code}: {error.message}")
            return Reply(error.status, {"error": {"code": error.code, "message": error.message}})

    def _authorised(self, call: Call) -> bool:
        header = call.headers.get("authorization", "")
        if self.token and header == f"Bearer {self.token}":
            return True
        if header.startswith("Basic "):
            decoded = base64.b64decode(header[6:]).decode()
            return decoded == f"{self.username}:{self.password}"
        return False

    def _route(self, call: Call) -> Reply:  # noqa: C901 - a route table
        prefix = "/AdminService/wmi/"
        if not call.path.startswith(prefix):
            raise ODataError(404, "NotFound", f"no route {call.path}")
        match = _INSTANCE.match(call.path[len(prefix) :])
        if match is None:
            raise ODataError(404, "NotFound", f"no route {call.path}")
        cls = self._by_lower.get(match["cls"].lower())
        if cls is None:
            raise ODataError(404, "NotFound", f"class {match['cls']} is not known here")
        key = match["key"]
        allowed = {"$filter", "$select"} if call.method == "GET" else set()
        unknown = set(call.query) - allowed
        if unknown:
            raise ODataError(400, "BadRequest", f"query options not supported: {sorted(unknown)}")
        if call.method == "GET":
            rows = self._rows(cls)
            if key is not None:
                rows = [r for r in rows if str(r.get(KEYS.get(cls, ""))) == key.strip("'")]
                if not rows:
                    raise ODataError(404, "NotFound", f"{cls}({key}) does not exist")
            conditions = self._filter(cls, call.query.get("$filter"))
            rows = [r for r in rows if all(_holds(c, r) for c in conditions)]
            rows = self._select(cls, call.query.get("$select"), rows)
            return Reply(200, {"@odata.context": f"$metadata#{cls}", "value": rows})
        if call.method == "POST" and key is None and cls in CLASSES:
            return Reply(201, self._create(cls, call))
        if call.method == "DELETE" and key is not None and cls == "SMS_ApplicationAssignment":
            if not key.isdigit() or int(key) not in self.assignments:
                raise ODataError(404, "NotFound", f"{cls}({key}) does not exist")
            del self.assignments[int(key)]
            self.creates["deletion"] += 1
            return Reply(204)
        raise ODataError(405, "MethodNotAllowed", f"{call.method} {cls} is not supported")

    # -- reading ---------------------------------------------------------------------------
    def _rows(self, cls: str) -> list[dict[str, Any]]:
        if cls == "SMS_Application":
            return list(self.applications.values())
        if cls == "SMS_ApplicationAssignment":
            return list(self.assignments.values())
        if cls == "SMS_Collection":
            return [
                {
                    "CollectionID": c.id,
                    "Name": c.name,
                    "CollectionType": 2,
                    "MemberCount": len(c.members),
                }
                for c in self.collections.values()
            ]
        if cls == "SMS_DeploymentSummary":
            return self._summaries()
        if cls == "SMS_AppDeploymentErrorAssetDetails":
            return [
                {k: v for k, v in row.items() if k in self._properties(cls)} | {"ErrorCode": code}
                for row, code in self._told_details()
                if row["AppStatusType"] == _APP_STATUS["failed"]
            ]
        return self._asset_details()

    def _summaries(self) -> list[dict[str, Any]]:
        """``SMS_DeploymentSummary`` rows: told outcomes, summarised as of their ``as_of``."""
        rows = []
        for assignment_id, assignment in self.assignments.items():
            collection = assignment["TargetCollectionID"]
            entry = self.outcome_entry(collection)
            if entry is None:
                continue
            rows.append(
                {
                    "AssignmentID": assignment_id,
                    "DeploymentID": assignment["AssignmentUniqueID"],
                    "CollectionID": collection,
                    "CollectionName": assignment["CollectionName"],
                    "SoftwareName": assignment["ApplicationName"],
                    "FeatureType": 1,
                    "NumberTargeted": entry.targeted,
                    "NumberSuccess": entry.installed,
                    "NumberErrors": entry.failed,
                    "NumberInProgress": entry.pending,
                    "NumberOther": entry.not_applicable,
                    "NumberUnknown": 0,
                    "EnforcementDeadline": assignment.get("EnforcementDeadline"),
                    "DeploymentTime": assignment.get("StartTime"),
                    "SummarizationTime": _wmi_time(self.data_time(collection)),
                }
            )
        return rows

    def _told_details(self) -> list[tuple[dict[str, Any], int]]:
        """Per-device rows (and error codes) of deployments whose collection was told outcomes."""
        rows = []
        for assignment_id, assignment in self.assignments.items():
            collection = assignment["TargetCollectionID"]
            devices = self.outcomes_of(collection) or []
            for device in devices:
                status = _APP_STATUS[device.state]
                row = {
                    "AssignmentID": assignment_id,
                    "AppName": assignment["ApplicationName"],
                    "CollectionID": collection,
                    "MachineName": device.name,
                    "MachineID": 16790000 + device.index,
                    "StatusType": status,
                    "AppStatusType": status,
                    "EnforcementState": 5000 if status == 5 else 1000 if status == 1 else 2000,
                    "StartTime": _wmi_time(self.data_time(collection)),
                    "DeploymentIntent": 1 if assignment["OfferTypeID"] == 0 else 2,
                }
                rows.append((row, _signed(int(device.code, 0)) if device.code else 0))
        return rows

    def _asset_details(self) -> list[dict[str, Any]]:
        rows = [row for row, _ in self._told_details()]
        for assignment_id, assignment in self.assignments.items():
            if self.outcomes_of(assignment["TargetCollectionID"]) is not None:
                continue
            reads = self.status_reads[assignment_id] = self.status_reads.get(assignment_id, 0) + 1
            status = self.device_outcome if reads >= self.steps_to_finish else 2
            collection = self.collections[assignment["TargetCollectionID"]]
            for index, machine in enumerate(collection.members):
                rows.append(
                    {
                        "AssignmentID": assignment_id,
                        "AppName": assignment["ApplicationName"],
                        "CollectionID": collection.id,
                        "MachineName": machine,
                        "MachineID": 16780000 + index,
                        "StatusType": status,
                        "AppStatusType": status,
                        "DeploymentIntent": 1 if assignment["OfferTypeID"] == 0 else 2,
                    }
                )
        return rows

    def _properties(self, cls: str) -> dict[str, Any]:
        return dict(self.schemas[cls]["properties"])

    def _filter(self, cls: str, raw: list[str] | None) -> list[tuple[str, Any, bool]]:
        """The ``$filter`` as (property, value, is-prefix) conditions, all ANDed."""
        if not raw:
            return []
        properties = self._properties(cls)
        conditions = []
        for clause in re.split(r"\s+and\s+", raw[0].strip()):
            match = _CONDITION.match(clause.strip())
            if match is None:
                raise ODataError(400, "BadRequest", f"unsupported $filter clause {clause!r}")
            prop = match["prop"] or match["sprop"]
            if prop not in properties:
                raise ODataError(400, "BadRequest", f"{cls} has no property {prop}")
            prefix = bool(match["sprop"])
            conditions.append(
                (prop, _literal(match["prefix"] if prefix else match["value"]), prefix)
            )
        return conditions

    def _select(
        self, cls: str, raw: list[str] | None, rows: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        if not raw:
            return rows
        names = [n.strip() for n in raw[0].split(",")]
        unknown = [n for n in names if n not in self._properties(cls)]
        if unknown:
            raise ODataError(400, "BadRequest", f"{cls} has no properties {unknown}")
        return [{n: r.get(n) for n in names} for r in rows]

    # -- creating --------------------------------------------------------------------------
    def _create(self, cls: str, call: Call) -> dict[str, Any]:
        try:
            body = call.json()
        except ValueError:
            raise ODataError(400, "BadRequest", "the body is not JSON") from None
        schema = self.schemas[cls]
        errors = sorted(
            jsonschema.Draft202012Validator(schema).iter_errors(body), key=lambda e: e.json_path
        )
        if errors:
            messages = "; ".join(f"{e.json_path}: {e.message}" for e in errors)
            raise ODataError(400, "BadRequest", messages)
        read_only = sorted(k for k in body if schema["properties"][k].get("readOnly"))
        if read_only:
            raise ODataError(400, "BadRequest", f"read-only properties sent: {read_only}")
        if cls == "SMS_Application":
            return self._create_application(body)
        if cls == "SMS_ApplicationAssignment":
            return self._create_assignment(body)
        raise ODataError(405, "MethodNotAllowed", "EUCORA does not create collections")

    def _create_application(self, body: dict[str, Any]) -> dict[str, Any]:
        info = parse_digest(body["SDMPackageXML"])
        if any(a["LocalizedDisplayName"] == info["title"] for a in self.applications.values()):
            raise ODataError(409, "Conflict", f"an application named {info['title']!r} exists")
        superseded = [self._superseded(model, dt) for model, dt in info["supersedes"]]
        self._next_ci += 1
        application = {
            "CI_ID": self._next_ci,
            "CI_UniqueID": f"ScopeId_EUCORA/{info['logical_name']}/1",
            "ModelName": f"ScopeId_EUCORA/{info['logical_name']}",
            "ModelID": self._next_ci + 1000,
            "LocalizedDisplayName": info["title"],
            "LocalizedDescription": info["description"],
            "Manufacturer": info["publisher"],
            "SoftwareVersion": info["version"],
            "IsLatest": True,
            "IsDeployed": False,
            "IsExpired": False,
            "IsEnabled": True,
            "NumberOfDeployments": 0,
            "NumberOfDeploymentTypes": info["deployment_types"],
            "DateCreated": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "SDMPackageXML": body["SDMPackageXML"],
        }
        self.applications[application["CI_ID"]] = application
        self.creates["application"] += 1
        for old in superseded:
            old["IsSuperseded"] = True
        application["IsSuperseding"] = bool(superseded)
        return application

    def _superseded(self, model_name: str, deployment_type: str) -> dict[str, Any]:
        """The application a supersedence names; one the site does not hold is refused."""
        for application in self.applications.values():
            if application["ModelName"] == model_name:
                names = parse_digest(application["SDMPackageXML"])["deployment_type_names"]
                if deployment_type not in names:
                    raise _bad(f"{model_name} has no deployment type {deployment_type}")
                return application
        raise _bad(f"the superseded application {model_name} does not exist")

    def _create_assignment(self, body: dict[str, Any]) -> dict[str, Any]:
        ci_id = body["AssignedCIs"][0] if len(body["AssignedCIs"]) == 1 else None
        application = self.applications.get(ci_id) if ci_id is not None else None
        if application is None:
            raise ODataError(400, "BadRequest", f"AssignedCIs {body['AssignedCIs']} is unknown")
        collection = self.collections.get(body["TargetCollectionID"])
        if collection is None:
            raise ODataError(400, "BadRequest", f"no collection {body['TargetCollectionID']}")
        if body["AssignmentType"] != 2:
            raise ODataError(400, "BadRequest", "an application deployment has AssignmentType 2")
        self._next_assignment += 1
        assignment = {
            **body,
            "AssignmentID": self._next_assignment,
            "AssignmentUniqueID": f"{{{uuid.uuid4()}}}",
            "ApplicationName": application["LocalizedDisplayName"],
            "AssignedCI_UniqueID": application["CI_UniqueID"],
            "AppModelID": application["ModelID"],
            "CollectionName": collection.name,
            "SourceSite": body["TargetCollectionID"][:3],
        }
        self.assignments[assignment["AssignmentID"]] = assignment
        application["IsDeployed"] = True
        application["NumberOfDeployments"] += 1
        self.creates["deployment"] += 1
        return assignment


def parse_digest(xml: str) -> dict[str, Any]:
    """The facts the provider takes from an ``AppMgmtDigest``; a malformed one is a 400."""
    try:
        root = SafeET.fromstring(xml)
    except ParseError as error:
        raise ODataError(400, "BadRequest", f"SDMPackageXML is not XML: {error}") from None
    ns = {"d": DIGEST_NS}
    if root.tag != f"{{{DIGEST_NS}}}AppMgmtDigest":
        raise ODataError(400, "BadRequest", "SDMPackageXML is not an AppMgmtDigest")
    application = root.find("d:Application", ns)
    if application is None or not application.get("LogicalName"):
        raise ODataError(400, "BadRequest", "SDMPackageXML has no Application with LogicalName")
    title = application.findtext("d:Title", default="", namespaces=ns).strip()
    version = application.findtext("d:SoftwareVersion", default="", namespaces=ns).strip()
    if not title or not version:
        raise ODataError(400, "BadRequest", "the Application needs a Title and a SoftwareVersion")
    deployment_types = root.findall("d:DeploymentType", ns)
    if not deployment_types:
        raise ODataError(400, "BadRequest", "SDMPackageXML has no DeploymentType")
    for deployment_type in deployment_types:
        _check_installer(deployment_type, ns)
        _check_detection(deployment_type, ns)
        _check_requirements(deployment_type)
    return {
        "logical_name": application.get("LogicalName"),
        "title": title,
        "version": version,
        "description": application.findtext("d:Description", default="", namespaces=ns),
        "publisher": application.findtext("d:Publisher", default="", namespaces=ns),
        "deployment_types": len(deployment_types),
        "deployment_type_names": [d.get("LogicalName") for d in deployment_types],
        "supersedes": [
            reference for d in deployment_types for reference in _superseded_references(d)
        ],
    }


_ARGS = {
    "ExecutionContext": frozenset({"System", "User", "Any"}),
    "PostInstallBehavior": frozenset(
        {"BasedOnExitCode", "NoAction", "ForceReboot", "ProgramReboot"}
    ),
}
"""Enumerated install arguments of a deployment type and the values the console offers."""
_EXIT_CLASSES = frozenset({"Success", "SoftReboot", "HardReboot", "FastRetry", "Failure"})


def _check_installer(deployment_type: Any, ns: dict[str, str]) -> None:
    """Install arguments and exit codes hold values the console offers; a code has one class.

    An assumption of this double (no public SDM XSD): the values are the console's choices
    (Installation behavior, Behavior after installation, Return Codes, Maximum run time 15-720).
    """
    for arg in deployment_type.iterfind("d:Installer/d:Args/d:Arg", ns):
        name, value = arg.get("Name", ""), (arg.text or "").strip()
        if name in _ARGS and value not in _ARGS[name]:
            raise ODataError(
                400, "BadRequest", f"Arg {name} {value!r} is not one of {sorted(_ARGS[name])}"
            )
        if name == "MaxExecuteTime" and not (value.isdigit() and 15 <= int(value) <= 720):
            raise ODataError(
                400, "BadRequest", f"Arg MaxExecuteTime {value!r} is not 15 to 720 minutes"
            )
    seen: set[int] = set()
    for code in deployment_type.iterfind("d:Installer/d:CustomData/d:ExitCodes/d:ExitCode", ns):
        kind = code.get("Class", "")
        if kind not in _EXIT_CLASSES:
            raise ODataError(
                400, "BadRequest", f"ExitCode Class {kind!r} is not one of {sorted(_EXIT_CLASSES)}"
            )
        number = int(code.get("Code", "x")) if code.get("Code", "").lstrip("-").isdigit() else None
        if number is None or number in seen:
            raise ODataError(
                400, "BadRequest", f"ExitCode Code {code.get('Code')!r} is not a new integer"
            )
        seen.add(number)


_HIVES = frozenset(
    {"HKEY_LOCAL_MACHINE", "HKEY_CURRENT_USER", "HKEY_CLASSES_ROOT", "HKEY_USERS",
     "HKEY_CURRENT_CONFIG"}
)  # fmt: skip
_SCRIPT_TYPES = frozenset({"0", "1", "2"})
"""``ScriptType`` of a script detection: 0 PowerShell, 1 VBScript, 2 JScript (the console's)."""
_OPERATORS = frozenset(
    {"Equals", "NotEquals", "GreaterThan", "LessThan", "GreaterEquals", "LessEquals", "OneOf",
     "NoneOf"}
)  # fmt: skip
_GLOBAL_CONDITIONS = frozenset({"FreeDiskSpace", "TotalPhysicalMemory"})
"""The built-in global conditions this double knows a requirement rule may compare."""
_PRODUCT_CODE = re.compile(r"^\{[0-9A-Fa-f]{8}(-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}\}$")


def _bad(message: str) -> ODataError:
    return ODataError(400, "BadRequest", message)


def _check_detection(deployment_type: Any, ns: dict[str, str]) -> None:  # noqa: C901, PLR0912
    """At most one ``DetectAction``, of a provider the console offers, with what it needs.

    An assumption of this double (no public SDM XSD): ``MSI`` holds a ``ProductCode`` in braces;
    ``Local`` one ``File`` (``Path``, ``Name``) or ``RegistryKey`` (a full ``Hive`` name,
    ``Key``); ``Script`` a ``ScriptType`` (0 PowerShell, 1 VBScript, 2 JScript) and a
    ``ScriptBody``.
    """
    actions = deployment_type.findall("d:Installer/d:DetectAction", ns)
    if len(actions) > 1:
        raise _bad("a deployment type has one DetectAction")
    if not actions:
        return
    detect = actions[0]
    provider = detect.get("Provider")
    if provider == "MSI":
        code = (detect.findtext("d:ProductCode", default="", namespaces=ns) or "").strip()
        if not _PRODUCT_CODE.fullmatch(code):
            raise _bad(f"DetectAction MSI ProductCode {code!r} is not a GUID in braces")
    elif provider == "Local":
        found = detect.findall("d:File", ns) + detect.findall("d:RegistryKey", ns)
        if len(found) != 1:
            raise _bad("DetectAction Local holds one File or one RegistryKey")
        setting = found[0]
        if setting.tag.endswith("}File") and not (setting.get("Path") and setting.get("Name")):
            raise _bad("DetectAction File needs a Path and a Name")
        if setting.tag.endswith("}RegistryKey"):
            if setting.get("Hive") not in _HIVES:
                raise _bad(
                    f"RegistryKey Hive {setting.get('Hive')!r} is not one of {sorted(_HIVES)}"
                )
            if not setting.get("Key"):
                raise _bad("DetectAction RegistryKey needs a Key")
    elif provider == "Script":
        args = {a.get("Name"): (a.text or "") for a in detect.iterfind("d:Args/d:Arg", ns)}
        if args.get("ScriptType") not in _SCRIPT_TYPES:
            raise _bad(
                f"DetectAction Script ScriptType {args.get('ScriptType')!r} is not 0, 1 or 2"
            )
        if not args.get("ScriptBody", "").strip():
            raise _bad("DetectAction Script has no ScriptBody")
    else:
        raise _bad(f"DetectAction Provider {provider!r} is not one of ['Local', 'MSI', 'Script']")


def _check_requirements(deployment_type: Any) -> None:
    """Requirement rules: an id, an operator the rules schema has, a known global condition."""
    ns = {"d": DIGEST_NS, "r": RULES_NS}
    for rule in deployment_type.iterfind("d:Requirements/*", ns):
        if rule.tag != f"{{{RULES_NS}}}Rule" or not rule.get("id"):
            raise _bad("Requirements hold rules:Rule elements with an id")
        systems = rule.find("r:OperatingSystemExpression", ns)
        expression = rule.find("r:Expression", ns)
        if systems is not None:
            operator = systems.findtext("r:Operator", default="", namespaces=ns)
            ids = [e.get("RuleId", "") for e in systems.iterfind("r:Operands/r:RuleExpression", ns)]
            if operator not in {"OneOf", "NoneOf"} or not ids:
                raise _bad("an operating system rule is OneOf/NoneOf a list of platforms")
            if any(not i.startswith("Windows/") for i in ids):
                raise _bad(f"operating system platforms {ids} are not all Windows/ platforms")
        elif expression is not None:
            operator = expression.findtext("r:Operator", default="", namespaces=ns)
            if operator not in _OPERATORS:
                raise _bad(f"rule operator {operator!r} is not one of {sorted(_OPERATORS)}")
            setting = expression.find("r:Operands/r:GlobalSettingReference", ns)
            value = expression.find("r:Operands/r:ConstantValue", ns)
            if setting is None or setting.get("LogicalName") not in _GLOBAL_CONDITIONS:
                name = None if setting is None else setting.get("LogicalName")
                raise _bad(f"global condition {name!r} is not one of {sorted(_GLOBAL_CONDITIONS)}")
            if value is None or not value.get("Value", "").isdigit():
                raise _bad("a global condition is compared with a whole ConstantValue")
        else:
            raise _bad("a requirement rule holds an OperatingSystemExpression or an Expression")


def _superseded_references(deployment_type: Any) -> list[tuple[str, str]]:
    """(application model name, deployment type logical name) each supersedence names."""
    ns = {"d": DIGEST_NS, "r": RULES_NS}
    found = []
    for expression in deployment_type.iterfind(
        "d:Supersedes/r:DeploymentTypeRule/r:DeploymentTypeIntentExpression", ns
    ):
        application = expression.find("r:DeploymentTypeApplicationReference", ns)
        target = expression.find("r:DeploymentTypeReference", ns)
        if application is None or target is None:
            raise _bad("a supersedence names an application and its deployment type")
        if expression.get("DesiredState") != "Prohibited":
            raise _bad("a superseded deployment type has DesiredState Prohibited")
        found.append(
            (
                f"{application.get('AuthoringScopeId')}/{application.get('LogicalName')}",
                str(target.get("LogicalName")),
            )
        )
    return found


def _signed(code: int) -> int:
    """A Win32/HRESULT code as WMI's signed 32-bit ``ErrorCode``."""
    return code - 2**32 if code >= 2**31 else code


def _wmi_time(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _holds(condition: tuple[str, Any, bool], row: dict[str, Any]) -> bool:
    prop, value, prefix = condition
    if prefix:
        return str(row.get(prop, "")).startswith(value)
    return bool(row.get(prop) == value)


def _literal(text: str) -> Any:
    if text.startswith("'"):
        return text[1:-1].replace("''", "'")
    if text in {"true", "false"}:
        return text == "true"
    return int(text)
