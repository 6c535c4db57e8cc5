"""A local Microsoft Intune double: Entra ID token endpoints, Graph mobile apps, Azure blob upload.

Serves HTTPS (MSAL accepts only ``https`` authorities; the CA is in :attr:`ca_bundle`) with:

* the identity endpoints MSAL calls for a client-credentials token when instance discovery is off:
  ``/{tenant}/v2.0/.well-known/openid-configuration`` and ``/{tenant}/oauth2/v2.0/token``;
* Graph v1.0 under ``/v1.0``: ``deviceAppManagement/mobileApps`` (``$filter`` with ``isof(...)`` and
  ``displayName eq '...'``, ``$top`` paging through ``@odata.nextLink``), content versions routed
  with no cast, a ``microsoft.graph.<type>`` cast or a ``graph.<type>`` cast, content files whose
  ``uploadState`` moves from ``…Pending`` to ``…Success`` on the next read, ``commit``,
  ``renewUpload``, ``assign`` (replaces the app's assignment set) and per-assignment ``DELETE``;
* the read-back: ``groups/{id}/transitiveMembers`` (Entra devices: directory object ``id`` and
  ``deviceId``), ``deviceManagement/managedDevices`` (``id``, ``azureADDeviceId``; ``$filter``
  ``azureADDeviceId eq '…'``), report export jobs whose ``DeviceId`` is the managed-device id, and
  beta ``deviceStatuses``; every told device has three distinct ids, as in a tenant;
* Graph beta under ``/beta`` for what only beta has (filters, relationships, max run time): an app
  (``GET``, ``PATCH``), ``assign``, ``assignments`` (each target with its filter, ``none`` when
  it has none), ``relationships`` (the app's own as ``child``, those naming it as ``parent``) and
  ``updateRelationships``, checked against the beta typings' subset; the tenant's assignment
  filters are made with :meth:`IntuneDouble.add_filter`. A v1.0 read leaves beta-only properties
  out;
* an "Azure storage" endpoint at ``/blob/...`` taking ``PUT ?comp=block`` and ``?comp=blocklist``
  with a per-file signature (a request without it is refused, as a bad SAS is).

Every JSON body is checked against the vendored Graph CSDL subset (``data/intune``): property
names, ``@odata.type`` values, enum members and action parameters; departures are recorded in
:attr:`violations`. ``commit`` verifies the uploaded bytes for real, as a device would open them:
the HMAC over IV and ciphertext with the committed ``macKey``, the decryption with the committed
key, the SHA-256 of the decrypted content against ``fileDigest`` and its size against the file's
``size``; for a Win32 app the content must be a zip holding the app's ``setupFilePath``. Content
that fails any of these ends in ``commitFileFailed`` with the reason as a violation.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import hmac
import io
import itertools
import json
import re
import secrets
import uuid
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import quote

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from defusedxml import ElementTree
from werkzeug.wrappers import Request, Response

from ._console import ConsoleEdit, ConsoleEdits
from ._csdl import CsdlModel
from ._outcomes import DeviceOutcome
from ._server import HttpDouble

DATA = resources.files("bot.doubles") / "data" / "intune"
GRAPH_SCOPE = "https://graph.microsoft.com/.default"
_APPS = "/v1.0/deviceAppManagement/mobileApps"
_CAST = r"(?:/(?:microsoft\.graph|graph)\.(?P<cast>[A-Za-z0-9]+))?"
_APP = rf"^{_APPS}/(?P<app>[0-9a-f-]+)"
_ROUTES = {
    "app": re.compile(rf"{_APP}$"),
    "assign": re.compile(rf"{_APP}/assign$"),
    "assignments": re.compile(rf"{_APP}/assignments(?:/(?P<assignment>[^/]+))?$"),
    "versions": re.compile(rf"{_APP}{_CAST}/contentVersions(?:/(?P<version>\d+))?$"),
    "files": re.compile(
        rf"{_APP}{_CAST}/contentVersions/(?P<version>\d+)/files"
        r"(?:/(?P<file>[0-9a-f-]+))?(?:/(?P<action>commit|renewUpload))?$"
    ),
}
_EXPORT_JOBS = "/v1.0/deviceManagement/reports/exportJobs"
_MANAGED_DEVICES = "/v1.0/deviceManagement/managedDevices"
_FILTER_AAD = re.compile(r"^azureADDeviceId eq '([0-9a-f-]+)'$")
_MEMBERS = re.compile(r"^/v1\.0/groups/(?P<group>[^/]+)/(?:transitiveMembers|members)$")
_BETA_STATUSES = re.compile(r"^/beta/deviceAppManagement/mobileApps/(?P<app>[^/]+)/deviceStatuses$")
_BETA_APP = re.compile(
    r"^/beta/deviceAppManagement/mobileApps/(?P<app>[0-9a-f-]+)"
    r"(?:/(?P<part>assign|assignments|relationships|updateRelationships))?$"
)
_FILTER_KEYS = (
    "deviceAndAppManagementAssignmentFilterId",
    "deviceAndAppManagementAssignmentFilterType",
)
_RELATIONSHIP_KINDS = {"mobileAppDependency": "dependencyType",
                       "mobileAppSupersedence": "supersedenceType"}  # fmt: skip
REPORT_COLUMNS = {
    "DeviceInstallStatusByApp": frozenset(
        {"DeviceName", "UserPrincipalName", "Platform", "AppVersion", "DeviceId",
         "LastModifiedDateTime", "AppInstallState", "AppInstallStateDetails", "HexErrorCode",
         "UserName", "UserId", "ApplicationId", "AssignmentFilterIdsExist"}
    ),
    "AppInstallStatusAggregate": frozenset(
        {"ApplicationId", "DisplayName", "Platform", "AppVersion", "InstalledDeviceCount",
         "FailedDeviceCount", "PendingInstallDeviceCount", "NotApplicableDeviceCount",
         "NotInstalledDeviceCount", "FailedDevicePercentage"}
    ),
}  # fmt: skip
"""Columns of the two app reports (Microsoft's "Export Intune reports" page; ROLLOUTS.md)."""
_REPORT_STATE = {
    "installed": "Installed",
    "failed": "Failed",
    "pending": "Install Pending",
    "not_applicable": "Not Applicable",
}
_FILTER_APP = re.compile(r"^\(?ApplicationId eq '(?P<app>[0-9a-f-]+)'\)?$")
_FILTER_ISOF = re.compile(r"^isof\('microsoft\.graph\.([A-Za-z0-9]+)'\)$")
_FILTER_NAME = re.compile(r"^displayName eq '((?:[^']|'')*)'$")


@dataclass(slots=True)
class ContentFile:
    """A content file and its upload state machine."""

    id: str
    body: dict[str, Any]
    state: str = "azureStorageUriRequestPending"
    signature: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    blocks: dict[str, bytes] = field(default_factory=dict)
    blob: bytes | None = None


@dataclass(slots=True)
class App:
    """A mobile app with its content versions and assignments."""

    body: dict[str, Any]
    versions: dict[str, dict[str, ContentFile]] = field(default_factory=dict)
    assignments: list[dict[str, Any]] = field(default_factory=list)
    relationships: list[dict[str, Any]] = field(default_factory=list)
    """The app's own (child) relationships as ``updateRelationships`` last set them."""


class IntuneDouble(ConsoleEdits, HttpDouble):
    """Intune (Graph v1.0) and its token authority on one HTTPS loopback server."""

    plane = "intune"

    def __init__(
        self,
        *,
        tenant_id: str = "00000000-0000-4000-8000-00000000c0de",
        client_id: str = "11111111-2222-4333-8444-555555555555",
        client_secret: str = "intune-secret-value",  # noqa: S107 -- the double's own test credential
        page_size: int = 100,
    ) -> None:
        super().__init__(tls=True)
        self.tenant_id = tenant_id
        self.client_id = client_id
        self.client_secret = client_secret
        self.page_size = page_size
        self.apps: dict[str, App] = {}
        self._ids = itertools.count(1)
        self.export_jobs: dict[str, dict[str, Any]] = {}
        self.export_supported = True
        """False: the export API answers 400 as for a report the tenant does not offer."""
        self.export_steps = 2
        """Reads of an export job before it is ``completed``."""
        self.unenrolled: set[str] = set()
        """Entra ``deviceId``s in a group but with no Intune managed device (no report row)."""
        self._reads: dict[str, int] = {}
        self._downloads: dict[str, bytes] = {}
        self.assignment_filters: dict[str, dict[str, Any]] = {}
        """The tenant's assignment filters by id (:meth:`add_filter`); beta ``assign`` refuses
        a target naming any other filter, as Intune does."""

    def add_filter(self, name: str, rule: str = '(device.osVersion -startsWith "10.0")') -> str:
        """Create an assignment filter (Tenant administration > Filters); return its id."""
        filter_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"eucora-double/filter/{name}"))
        self.assignment_filters[filter_id] = {
            "id": filter_id,
            "displayName": name,
            "platform": "windows10AndLater",
            "rule": rule,
        }
        return filter_id

    _console_fields = ("apps",)

    def _console_apply(  # noqa: C901, PLR0912 - one branch per console edit
        self, intent: str, kind: ConsoleEdit, group: str, value: str
    ) -> None:
        apps = {key: app for key, app in self.apps.items() if _marked(app, intent)}
        if not apps:
            raise self.refuse("intune", kind, f"no app of {intent}")
        newest = list(apps.values())[-1]  # the newest version, created last
        match kind:
            case ConsoleEdit.VERSION:
                newest.body["displayVersion"] = value
                notes = str(newest.body.get("notes") or "")
                newest.body["notes"] = re.sub(r"version=\S+", f"version={value}", notes)
            case ConsoleEdit.ASSIGNMENT:
                for app in apps.values():
                    for assignment in app.assignments:
                        if _assigned_group(assignment) == group:
                            assignment["intent"] = value
            case ConsoleEdit.REMOVE_GROUP:
                for app in apps.values():
                    app.assignments = [a for a in app.assignments if _assigned_group(a) != group]
            case ConsoleEdit.ADD_GROUP:
                newest.assignments.append(
                    {
                        "id": f"{uuid.uuid4()}_0_0",
                        "intent": value,
                        "target": {
                            "@odata.type": "#microsoft.graph.groupAssignmentTarget",
                            "groupId": group,
                        },
                        "settings": None,
                    }
                )
            case ConsoleEdit.DELETE:
                for key in apps:
                    del self.apps[key]
            case ConsoleEdit.STRIP_MARKER:
                for app in apps.values():
                    app.body["notes"] = "Edited in the console"

    @cached_property
    def model(self) -> CsdlModel:
        """The Graph types this double checks bodies against."""
        model = CsdlModel(Path(str(DATA / "graph-v1.0-intune-apps.csdl")))
        # Graph's v1.0 documentation of win32LobApp.allowedArchitectures names arm64 ("The
        # possible values are: null, x86, x64, arm64"); the published CSDL's flags enum has not
        # caught up, so the double accepts the documented member too.
        members, flags = model.enums["windowsArchitecture"]
        model.enums["windowsArchitecture"] = (members | {"arm64"}, flags)
        return model

    @cached_property
    def beta(self) -> CsdlModel:
        """Graph beta's types for what EUCORA sends through ``/beta`` (the typings' subset)."""
        return CsdlModel.from_subset(Path(str(DATA / "graph-beta-intune-subset.json")))

    def _v1(self, value: Any, expected: str) -> Any:
        """What a v1.0 read shows: without the properties only beta has (filters, max run time)."""
        return self.beta.project(value, expected, self.model)

    @property
    def authority(self) -> str:
        """What ``EUCORA_INTUNE_AUTHORITY`` should be set to (the tenant is added to it)."""
        return self.url

    @property
    def graph_url(self) -> str:
        """What ``EUCORA_INTUNE_URL`` should be set to."""
        return f"{self.url}/v1.0"

    def environ(self) -> dict[str, str]:
        """The ``EUCORA_INTUNE_*`` settings that point a connector at this double."""
        return {
            "EUCORA_INTUNE_URL": self.graph_url,
            "EUCORA_INTUNE_AUTHORITY": self.authority,
            "EUCORA_INTUNE_TENANT_ID": self.tenant_id,
            "EUCORA_INTUNE_CLIENT_ID": self.client_id,
            "EUCORA_INTUNE_CLIENT_SECRET": self.client_secret,
            "EUCORA_INTUNE_CA_BUNDLE": self.ca_bundle or "",
        }

    def is_token_path(self, path: str) -> bool:
        """Token and discovery endpoints do not change Intune's state."""
        return not path.startswith(("/v1.0/", "/blob/", "/beta/"))

    def _check(self, value: Any, expected: str, where: str, model: CsdlModel | None = None) -> None:
        for problem in (model or self.model).check(value, expected, where):
            self.violation(problem)

    # -- serving -------------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        """Route one request."""
        path = request.path
        tenant = f"/{self.tenant_id}"
        if path == f"{tenant}/v2.0/.well-known/openid-configuration":
            return self._openid_configuration()
        if path == f"{tenant}/oauth2/v2.0/token" and request.method == "POST":
            return self._token(request)
        if path.startswith("/blob/"):
            return self._blob(request)
        if path.startswith("/reports/"):
            return self._download(request)
        if path.startswith("/beta/"):
            if not self.authorized(request):
                return _error(
                    401, "InvalidAuthenticationToken", "Access token is empty or invalid."
                )
            return self._beta(request)
        if not path.startswith("/v1.0/"):
            return _error(404, "NotFound", f"no route {path}")
        if not self.authorized(request):
            return _error(401, "InvalidAuthenticationToken", "Access token is empty or invalid.")
        return self._graph(request)

    def fault_response(self, status: int, code: str, message: str) -> Response:
        """Graph's error envelope."""
        return _error(status, code, message)

    def _openid_configuration(self) -> Response:
        base = f"{self.url}/{self.tenant_id}"
        return _json(
            200,
            {
                "issuer": f"{base}/v2.0",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "token_endpoint_auth_methods_supported": ["client_secret_post"],
                "response_types_supported": ["code", "id_token", "token"],
                "subject_types_supported": ["pairwise"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "tenant_region_scope": "EU",
            },
        )

    def _token(self, request: Request) -> Response:
        form = request.form
        if form.get("grant_type") != "client_credentials":
            return _oauth_error(400, "unsupported_grant_type", "AADSTS70003: grant type")
        if form.get("client_id") != self.client_id:
            return _oauth_error(400, "unauthorized_client", "AADSTS700016: application not found")
        if form.get("client_secret") != self.client_secret:
            return _oauth_error(
                401, "invalid_client", "AADSTS7000215: Invalid client secret provided."
            )
        scopes = set((form.get("scope") or "").split())
        if GRAPH_SCOPE not in scopes:
            return _oauth_error(400, "invalid_scope", f"AADSTS1002012: scope must be {GRAPH_SCOPE}")
        token = self.issue_token()
        body = {
            "token_type": "Bearer",
            "expires_in": 3599,
            "ext_expires_in": 3599,
            "access_token": token,
        }
        return _json(200, body)

    # -- Graph ---------------------------------------------------------------------------------

    def _graph(self, request: Request) -> Response:  # noqa: C901, PLR0912 -- a route table
        path, method = request.path, request.method
        if path.startswith(_EXPORT_JOBS):
            return self._export(request)
        if path == _MANAGED_DEVICES and method == "GET":
            return self._managed_devices(request)
        if (members := _MEMBERS.match(path)) is not None and method == "GET":
            return self._members(request, members["group"])
        if path == _APPS:
            if method == "GET":
                return self._list_apps(request)
            if method == "POST":
                return self._create_app(request)
        for name, pattern in _ROUTES.items():
            match = pattern.match(path)
            if match is None:
                continue
            groups = match.groupdict()
            with self.lock:
                app = self.apps.get(groups["app"])
            if app is None:
                return _error(404, "ResourceNotFound", f"mobileApp {groups['app']} not found")
            if groups.get("cast") and not self._cast_ok(app, groups["cast"], path):
                return _error(400, "BadRequest", f"bad type cast {groups['cast']}")
            if name == "app":
                return self._app(request, app)
            if name == "assign" and method == "POST":
                return self._assign(request, app)
            if name == "assignments":
                return self._assignments(request, app, groups.get("assignment"))
            if name == "versions":
                return self._versions(request, app, groups.get("version"))
            if name == "files":
                return self._files(request, app, groups)
        return _error(404, "ResourceNotFound", f"no route {method} {path}")

    # -- install outcomes ---------------------------------------------------------------------

    def device_id(self, group: str, index: int) -> str:
        """The Entra ``deviceId`` the double gives a told group's ``index``-th device."""
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"eucora-double/{group}/{index}"))

    def object_id(self, group: str, index: int) -> str:
        """The device's directory object ``id`` (a group member's ``id``, not its ``deviceId``)."""
        return str(uuid.uuid5(uuid.NAMESPACE_OID, self.device_id(group, index)))

    def managed_id(self, group: str, index: int) -> str:
        """The device's Intune managed-device ``id`` (the reports' ``DeviceId``)."""
        return str(uuid.uuid5(uuid.NAMESPACE_DNS, self.device_id(group, index)))

    def _app_devices(self, app_id: str) -> list[tuple[str, DeviceOutcome, str]]:
        """(managed-device id, outcome, group) of every told device in the app's groups."""
        app = self.apps.get(app_id)
        groups = (
            [str((a.get("target") or {}).get("groupId")) for a in app.assignments] if app else []
        )
        return [
            (self.managed_id(g, d.index), d, g)
            for g in groups
            for d in self.outcomes_of(g) or []
            if self.device_id(g, d.index) not in self.unenrolled
        ]

    def _members(self, request: Request, group: str) -> Response:
        devices = self.outcomes_of(group) or []
        self._check_select(request, "device", "GET members")
        rows = [
            {
                "@odata.type": "#microsoft.graph.device",
                "id": self.object_id(group, d.index),
                "deviceId": self.device_id(group, d.index),
                "displayName": d.name,
            }
            for d in devices
        ]
        return self._paged(request, rows, f"/v1.0/groups/{group}/transitiveMembers")

    def _managed_devices(self, request: Request) -> Response:
        """``GET /deviceManagement/managedDevices``: every told device, or ``azureADDeviceId eq``."""
        self._check_select(request, "managedDevice", "GET managedDevices")
        query = request.args.get("$filter")
        wanted = _FILTER_AAD.match(query) if query else None
        if query and wanted is None:
            return _error(400, "BadRequest", f"unsupported $filter {query}")
        rows = [
            {
                "id": self.managed_id(group, d.index),
                "azureADDeviceId": self.device_id(group, d.index),
                "deviceName": d.name,
            }
            for group in self.outcomes.groups()
            for d in self.outcomes_of(group) or []
            if self.device_id(group, d.index) not in self.unenrolled
        ]
        if wanted is not None:
            rows = [r for r in rows if r["azureADDeviceId"] == wanted[1]]
        return self._paged(request, rows, _MANAGED_DEVICES)

    def _check_select(self, request: Request, entity: str, where: str) -> None:
        wanted = [x.strip() for x in request.args.get("$select", "").split(",") if x.strip()]
        known = self.model.all_properties(entity)
        unknown = [x for x in wanted if x not in known]
        if unknown:
            self.violation(f"{where}: $select {unknown} are not {entity} properties")

    def _paged(self, request: Request, rows: list[dict[str, Any]], path: str) -> Response:
        skip = int(request.args.get("$skiptoken", "0") or 0)
        top = min(int(request.args.get("$top", self.page_size)), self.page_size)
        body: dict[str, Any] = {"value": rows[skip : skip + top]}
        if skip + top < len(rows):
            select = quote(request.args.get("$select", ""))
            body["@odata.nextLink"] = (
                f"{self.url}{path}?$select={select}&$top={top}&$skiptoken={skip + top}"
            )
        return _json(200, body)

    def _export(self, request: Request) -> Response:
        job_id = request.path.removeprefix(_EXPORT_JOBS).strip("/")
        if request.method == "POST" and not job_id:
            return self._create_export(request)
        job = self.export_jobs.get(job_id)
        if request.method != "GET" or job is None:
            return _error(404, "ResourceNotFound", f"no export job {job_id}")
        reads = self._reads[job_id] = self._reads.get(job_id, 0) + 1
        if job["status"] != "completed":
            job["status"] = "completed" if reads >= self.export_steps else "inProgress"
        if job["status"] == "completed" and job["url"] is None:
            self._downloads[job_id] = self._report(job)
            job["url"] = (
                f"{self.url}/reports/{job_id}.zip?sv=2024-08-04&sig={secrets.token_urlsafe(12)}"
            )
        return _json(200, job)

    def _create_export(self, request: Request) -> Response:
        body = request.get_json(silent=True)
        self._check(body, "deviceManagementExportJob", "POST exportJobs")
        if not isinstance(body, dict):
            return _error(400, "BadRequest", "body must be a JSON object")
        name = str(body.get("reportName"))
        if not self.export_supported or name not in REPORT_COLUMNS:
            return _error(400, "BadRequest", f"Invalid report name {name}")
        select = list(body.get("select") or [])
        unknown = sorted(set(select) - REPORT_COLUMNS[name])
        if not select or unknown:
            self.violation(f"exportJobs {name}: pin a select of known columns (unknown {unknown})")
            return _error(400, "BadRequest", f"Invalid select columns {unknown}")
        if _FILTER_APP.match(str(body.get("filter") or "")) is None:
            return _error(400, "BadRequest", f"Invalid filter {body.get('filter')!r}")
        now = self.clock()
        job_id = f"{name}_{uuid.uuid4()}"
        job = {
            "@odata.context": f"{self.graph_url}/$metadata#deviceManagement/reports/exportJobs/$entity",
            "id": job_id,
            "reportName": name,
            "filter": body.get("filter"),
            "select": select,
            "format": body.get("format", "csv"),
            "snapshotId": None,
            "localizationType": body.get("localizationType", "localizedValuesAsAdditionalColumn"),
            "status": "notStarted",
            "url": None,
            "requestDateTime": now.isoformat().replace("+00:00", "Z"),
            "expirationDateTime": "0001-01-01T00:00:00Z",
        }
        self.export_jobs[job_id] = job
        self.creates["export"] += 1
        return _json(201, job)

    def _report(self, job: dict[str, Any]) -> bytes:
        """The zip Intune offers at ``url``: one CSV of the selected columns."""
        match = _FILTER_APP.match(str(job["filter"]))
        app_id = match["app"] if match else ""
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=job["select"], extrasaction="ignore")
        writer.writeheader()
        for device_id, device, group in self._app_devices(app_id):
            writer.writerow(
                {
                    "DeviceName": device.name,
                    "DeviceId": device_id,
                    "ApplicationId": app_id,
                    "AppInstallState": _REPORT_STATE[device.state],
                    "AppInstallStateDetails": device.message,
                    "HexErrorCode": device.code,
                    "LastModifiedDateTime": self.data_time(group).isoformat(),
                    "Platform": "Windows",
                }
            )
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr(f"{job['id']}.csv", out.getvalue())
        return buffer.getvalue()

    def _download(self, request: Request) -> Response:
        job_id = request.path.removeprefix("/reports/").removesuffix(".zip")
        data = self._downloads.get(job_id)
        if data is None or not request.args.get("sig"):
            return _storage_error(403, "AuthenticationFailed", "Signature did not match.")
        return Response(data, status=200, mimetype="application/octet-stream")

    def _beta(self, request: Request) -> Response:
        """Graph beta: an app (GET, PATCH), ``assign``, ``assignments``, ``relationships``,
        ``updateRelationships``, checked against the beta subset; ``deviceStatuses``.
        """
        routed = _BETA_APP.match(request.path)
        if routed is not None:
            with self.lock:
                app = self.apps.get(routed["app"])
            if app is None:
                return _error(404, "ResourceNotFound", f"mobileApp {routed['app']} not found")
            part, method = routed["part"], request.method
            if part is None and method in {"GET", "PATCH"}:
                return self._app(request, app, self.beta)
            if part == "assign" and method == "POST":
                return self._assign(request, app, self.beta)
            if part == "assignments" and method == "GET":
                return self._assignments(request, app, None, beta=True)
            if part == "relationships" and method == "GET":
                return _json(200, {"value": self._relationships(app)})
            if part == "updateRelationships" and method == "POST":
                return self._update_relationships(request, app)
            return _error(405, "MethodNotAllowed", method)
        match = _BETA_STATUSES.match(request.path)
        if match is None or request.method != "GET":
            return _error(404, "ResourceNotFound", f"no route {request.path}")
        legacy = {"pending": "pendingInstall", "not_applicable": "notApplicable"}
        rows = [
            {
                "id": device_id,
                "deviceId": device_id,
                "deviceName": device.name,
                "installState": legacy.get(device.state, device.state),
                "installStateDetail": "noAdditionalDetails",
                "errorCode": _signed(device.code),
                "lastSyncDateTime": self.data_time(group).isoformat().replace("+00:00", "Z"),
            }
            for device_id, device, group in self._app_devices(match["app"])
        ]
        return self._paged(request, rows, request.path)

    def _update_relationships(self, request: Request, app: App) -> Response:
        """``updateRelationships``: the app's dependencies and supersedences, replaced as a set."""
        body = request.get_json(silent=True)
        for problem in self.beta.check_action(
            "updateRelationships", _type_of(app.body), body, "updateRelationships"
        ):
            self.violation(problem)
        stored = []
        for given in (body or {}).get("relationships") or []:
            kind = _type_of(given)
            target = self.apps.get(str(given.get("targetId")))
            if kind not in _RELATIONSHIP_KINDS:
                return _error(400, "BadRequest", f"relationship type {kind!r} cannot be created")
            if target is None or target is app:
                return _error(400, "BadRequest", f"target app {given.get('targetId')} not found")
            if _type_of(target.body) != "win32LobApp" or _type_of(app.body) != "win32LobApp":
                return _error(400, "BadRequest", "relationships are between Win32 apps")
            field_name = _RELATIONSHIP_KINDS[kind]
            stored.append(
                {
                    "@odata.type": f"#microsoft.graph.{kind}",
                    "id": f"{app.body['id']}_{target.body['id']}",
                    "targetId": target.body["id"],
                    "targetDisplayName": target.body.get("displayName"),
                    "targetDisplayVersion": target.body.get("displayVersion"),
                    "targetPublisher": target.body.get("publisher"),
                    "targetType": "child",
                    field_name: given.get(field_name),
                }
            )
        with self.lock:
            app.relationships = stored
        return Response(status=204)

    def _relationships(self, app: App) -> list[dict[str, Any]]:
        """The app's own relationships (``child``) and those of apps naming it (``parent``)."""
        with self.lock:
            parents = [
                {
                    **relationship,
                    "id": f"{other.body['id']}_{app.body['id']}",
                    "targetId": other.body["id"],
                    "targetDisplayName": other.body.get("displayName"),
                    "targetDisplayVersion": other.body.get("displayVersion"),
                    "targetPublisher": other.body.get("publisher"),
                    "targetType": "parent",
                }
                for other in self.apps.values()
                for relationship in other.relationships
                if relationship["targetId"] == app.body["id"]
            ]
            return [*app.relationships, *parents]

    def _cast_ok(self, app: App, cast: str, path: str) -> bool:
        actual = str(app.body["@odata.type"]).removeprefix("#microsoft.graph.")
        if cast not in self.model.types or not self.model.derives(actual, cast):
            self.violation(f"{path}: {actual} cannot be cast to {cast}")
            return False
        if "contentVersions" in path and "contentVersions" not in self.model.navigation(cast):
            self.violation(f"{path}: {cast} has no contentVersions")
            return False
        return True

    def _list_apps(self, request: Request) -> Response:
        with self.lock:
            found = [self._v1(a.body, _type_of(a.body)) for a in self.apps.values()]
        query = request.args.get("$filter", "")
        for clause in (c.strip() for c in query.split(" and ") if c.strip()):
            isof, named = _FILTER_ISOF.match(clause), _FILTER_NAME.match(clause)
            if isof is not None:
                wanted = isof.group(1)
                found = [a for a in found if self.model.derives(_type_of(a), wanted)]
            elif named is not None:
                name = named.group(1).replace("''", "'")
                found = [a for a in found if a.get("displayName") == name]
            else:
                return _error(400, "BadRequest", f"Invalid filter clause: {clause}")
        if request.environ.get("double.stale"):
            found = []
        skip = int(request.args.get("$skiptoken", "0") or 0)
        top = min(int(request.args.get("$top", self.page_size)), self.page_size)
        body: dict[str, Any] = {
            "@odata.context": f"{self.graph_url}/$metadata#deviceAppManagement/mobileApps",
            "value": found[skip : skip + top],
        }
        if skip + top < len(found):
            body["@odata.nextLink"] = (
                f"{self.url}{_APPS}?$filter={quote(query)}&$top={top}&$skiptoken={skip + top}"
            )
        return _json(200, body)

    def _create_app(self, request: Request) -> Response:
        body = request.get_json(silent=True)
        self._check(body, "mobileApp", "POST mobileApps")
        if not isinstance(body, dict) or not str(body.get("@odata.type", "")).startswith("#"):
            return _error(400, "BadRequest", "@odata.type is required for mobileApp")
        now = _now()
        app_id = str(uuid.uuid4())
        record = body | {
            "id": app_id,
            "createdDateTime": now,
            "lastModifiedDateTime": now,
            "publishingState": "notPublished",
            "committedContentVersion": None,
            "size": 0,
        }
        with self.lock:
            self.apps[app_id] = App(body=record)
            self.creates["app"] += 1
        return _json(201, record)

    def _app(self, request: Request, app: App, model: CsdlModel | None = None) -> Response:
        if request.method == "GET":
            shown = app.body if model is not None else self._v1(app.body, _type_of(app.body))
            return _json(200, shown)
        if request.method == "PATCH":
            body = request.get_json(silent=True)
            where = f"PATCH {'beta ' if model else ''}mobileApp {app.body['id']}"
            self._check(body, _type_of(app.body), where, model)
            if not isinstance(body, dict):
                return _error(400, "BadRequest", "body must be a JSON object")
            with self.lock:
                version = body.get("committedContentVersion")
                if version is not None:
                    files = app.versions.get(str(version), {})
                    if not files or any(f.state != "commitFileSuccess" for f in files.values()):
                        return _error(
                            400, "BadRequest", f"content version {version} is not committed"
                        )
                    app.body["publishingState"] = "published"
                    app.body["size"] = sum(f.body.get("size", 0) for f in files.values())
                for key, value in body.items():
                    if key == "@odata.type":
                        continue
                    held = app.body.get(key)
                    merge = isinstance(held, dict) and isinstance(value, dict) and model is None
                    # a v1.0 PATCH of a complex value keeps what only beta wrote in it
                    app.body[key] = held | value if merge else value
                app.body["lastModifiedDateTime"] = _now()
            return Response(status=204)
        if request.method == "DELETE":
            with self.lock:
                self.apps.pop(app.body["id"], None)
            return Response(status=204)
        return _error(405, "MethodNotAllowed", request.method)

    def _assign(self, request: Request, app: App, model: CsdlModel | None = None) -> Response:
        body = request.get_json(silent=True)
        where = "beta assign" if model else "assign"
        for problem in (model or self.model).check_action(
            "assign", _type_of(app.body), body, where
        ):
            self.violation(problem)
        if app.body.get("publishingState") != "published":
            return _error(400, "BadRequest", "The app must be published before it is assigned.")
        wanted = (body or {}).get("mobileAppAssignments") or []
        refused = self._filter_problem(wanted)
        if refused:
            return _error(400, "BadRequest", refused)
        with self.lock:
            known = {_assignment_key(a): a for a in app.assignments}
            result = []
            for assignment in wanted:
                key = _assignment_key(assignment)
                if key in known:
                    result.append(
                        known[key]
                        | {
                            "intent": assignment.get("intent"),
                            "settings": assignment.get("settings"),
                            "target": assignment.get("target"),
                        }
                    )
                    continue
                self.creates["assignment"] += 1
                result.append(
                    {k: v for k, v in assignment.items() if k != "@odata.type"}
                    | {"id": f"{uuid.uuid4()}_0_0"}
                )
            app.assignments = result
        return Response(status=204)

    def _filter_problem(self, assignments: list[Any]) -> str:
        """Why Intune would refuse the assignment filters of an ``assign`` ("" when it would not)."""
        for assignment in assignments:
            target = (assignment or {}).get("target") or {}
            filter_id = target.get(_FILTER_KEYS[0])
            mode = target.get(_FILTER_KEYS[1]) or "none"
            if filter_id is None and mode == "none":
                continue
            if filter_id is None:
                return f"a filter type of {mode} needs an assignment filter id"
            if mode == "none":
                return f"assignment filter {filter_id} needs a filter type of include or exclude"
            if str(target.get("@odata.type")).endswith("exclusionGroupAssignmentTarget"):
                return "assignment filters cannot be used with excluded groups"
            if filter_id not in self.assignment_filters:
                return f"assignment filter {filter_id} was not found"
        return ""

    def _assignments(
        self, request: Request, app: App, assignment_id: str | None, *, beta: bool = False
    ) -> Response:
        if assignment_id is None and request.method == "GET":
            if beta:  # beta answers every target's filter, "none" when it has none
                shown = [
                    a | {"target": {_FILTER_KEYS[0]: None, _FILTER_KEYS[1]: "none"} | a["target"]}
                    for a in app.assignments
                ]
            else:
                shown = [self._v1(a, "mobileAppAssignment") for a in app.assignments]
            return _json(200, {"value": shown})
        if assignment_id is not None and request.method == "DELETE":
            with self.lock:
                before = len(app.assignments)
                app.assignments = [a for a in app.assignments if a["id"] != assignment_id]
                if len(app.assignments) == before:
                    return _error(404, "ResourceNotFound", f"assignment {assignment_id}")
            return Response(status=204)
        if assignment_id is not None and request.method == "GET":
            found = next((a for a in app.assignments if a["id"] == assignment_id), None)
            return _json(200, found) if found else _error(404, "ResourceNotFound", assignment_id)
        return _error(405, "MethodNotAllowed", request.method)

    def _versions(self, request: Request, app: App, version: str | None) -> Response:
        if version is None and request.method == "POST":
            self._check(request.get_json(silent=True), "mobileAppContent", "POST contentVersions")
            with self.lock:
                version_id = str(len(app.versions) + 1)
                app.versions[version_id] = {}
                self.creates["contentVersion"] += 1
            return _json(
                201, {"@odata.type": "#microsoft.graph.mobileAppContent", "id": version_id}
            )
        if version is None and request.method == "GET":
            listed = [
                {"@odata.type": "#microsoft.graph.mobileAppContent", "id": v} for v in app.versions
            ]
            return _json(200, {"value": listed})
        if version in app.versions and request.method == "GET":
            return _json(200, {"@odata.type": "#microsoft.graph.mobileAppContent", "id": version})
        return _error(404, "ResourceNotFound", f"contentVersion {version}")

    def _files(self, request: Request, app: App, groups: dict[str, Any]) -> Response:
        files = app.versions.get(groups["version"])
        if files is None:
            return _error(404, "ResourceNotFound", f"contentVersion {groups['version']}")
        file_id, action = groups.get("file"), groups.get("action")
        if file_id is None:
            if request.method == "POST":
                return self._create_file(request, app, groups["version"], files)
            return _json(
                200, {"value": [self._file_view(app, groups["version"], f) for f in files.values()]}
            )
        content = files.get(file_id)
        if content is None:
            return _error(404, "ResourceNotFound", f"mobileAppContentFile {file_id}")
        if action == "commit" and request.method == "POST":
            return self._commit(request, app, content)
        if action == "renewUpload" and request.method == "POST":
            with self.lock:
                content.state = "azureStorageUriRenewalPending"
            return Response(status=204)
        if action is None and request.method == "GET":
            with self.lock:
                content.state = _advance(content.state)
            return _json(200, self._file_view(app, groups["version"], content))
        return _error(405, "MethodNotAllowed", request.method)

    def _create_file(
        self, request: Request, app: App, version: str, files: dict[str, ContentFile]
    ) -> Response:
        body = request.get_json(silent=True)
        self._check(body, "mobileAppContentFile", "POST files")
        if not isinstance(body, dict):
            return _error(400, "BadRequest", "body must be a JSON object")
        with self.lock:
            content = ContentFile(id=str(uuid.uuid4()), body=body)
            files[content.id] = content
            self.creates["contentFile"] += 1
        return _json(201, self._file_view(app, version, content))

    def _file_view(self, app: App, version: str, content: ContentFile) -> dict[str, Any]:
        view = {
            "@odata.type": "#microsoft.graph.mobileAppContentFile",
            "id": content.id,
            "name": content.body.get("name"),
            "size": content.body.get("size"),
            "sizeEncrypted": content.body.get("sizeEncrypted"),
            "isCommitted": content.state == "commitFileSuccess",
            "uploadState": content.state,
            "azureStorageUri": None,
            "manifest": None,
            "createdDateTime": _now(),
        }
        if content.state in {"azureStorageUriRequestSuccess", "azureStorageUriRenewalSuccess"}:
            view["azureStorageUri"] = (
                f"{self.url}/blob/{app.body['id']}/{version}/{content.id}"
                f"?sv=2024-08-04&sr=b&sp=rw&sig={content.signature}"
            )
        return view

    def _commit(self, request: Request, app: App, content: ContentFile) -> Response:
        body = request.get_json(silent=True)
        for problem in self.model.check_action("commit", "mobileAppContentFile", body, "commit"):
            self.violation(problem)
        info = (body or {}).get("fileEncryptionInfo") or {}
        with self.lock:
            problem = _content_problem(content, info, app.body)
            content.state = "commitFileFailed" if problem else "commitFilePending"
            if problem:
                self.violation(
                    f"commit of file {content.id}: uploaded bytes do not verify: {problem}"
                )
        return Response(status=204)

    # -- "Azure storage" -------------------------------------------------------------------------

    def _blob(self, request: Request) -> Response:
        parts = request.path.split("/")
        if len(parts) != 5 or request.method != "PUT":
            return _storage_error(400, "InvalidUri", "The requested URI does not represent a blob.")
        _, _, app_id, version, file_id = parts
        with self.lock:
            app = self.apps.get(app_id)
            content = app.versions.get(version, {}).get(file_id) if app else None
        if content is None or not hmac.compare_digest(
            request.args.get("sig", ""), content.signature
        ):
            return _storage_error(403, "AuthenticationFailed", "Signature did not match.")
        comp = request.args.get("comp")
        if comp == "block":
            if request.headers.get("x-ms-blob-type") != "BlockBlob":
                self.violation("PUT block without x-ms-blob-type: BlockBlob")
            with self.lock:
                content.blocks[request.args.get("blockid", "")] = request.get_data()
            return Response(status=201)
        if comp == "blocklist":
            ids = [e.text or "" for e in ElementTree.fromstring(request.get_data()).iter("Latest")]
            with self.lock:
                missing = [i for i in ids if i not in content.blocks]
                if missing:
                    return _storage_error(400, "InvalidBlockList", f"unknown blocks {missing}")
                content.blob = b"".join(content.blocks[i] for i in ids)
            return Response(status=201)
        return _storage_error(400, "InvalidQueryParameterValue", f"comp={comp}")


def _signed(code: str) -> int:
    """A hex error code as Graph's signed ``errorCode`` (0 when there is none)."""
    if not code:
        return 0
    value = int(code, 0)
    return value - 2**32 if value >= 2**31 else value


def _advance(state: str) -> str:
    """Each read moves a pending state to its success (the service works between polls)."""
    return {
        "azureStorageUriRequestPending": "azureStorageUriRequestSuccess",
        "azureStorageUriRenewalPending": "azureStorageUriRenewalSuccess",
        "commitFilePending": "commitFileSuccess",
    }.get(state, state)


def _content_problem(content: ContentFile, info: dict[str, Any], app: dict[str, Any]) -> str:
    """Why the uploaded content would not install on a device ("" when it would)."""
    if content.blob is None:
        return "nothing was uploaded"
    if len(content.blob) != content.body.get("sizeEncrypted"):
        return f"{len(content.blob)} bytes uploaded, sizeEncrypted says {content.body.get('sizeEncrypted')}"
    plain = _decrypt(content.blob, info)
    if plain is None:
        return "the MAC, key or fileDigest of the commit does not open it"
    if len(plain) != content.body.get("size"):
        return f"it decrypts to {len(plain)} bytes, size says {content.body.get('size')}"
    if _type_of(app) != "win32LobApp":
        return ""
    setup = str(app.get("setupFilePath") or "").replace("\\", "/")
    try:
        with zipfile.ZipFile(io.BytesIO(plain)) as archive:
            names = {n.replace("\\", "/") for n in archive.namelist()}
    except zipfile.BadZipFile:
        return "a Win32 app's content must be a zip of the setup folder (a .intunewin payload)"
    if setup not in names:
        return f"the setup folder has no setupFilePath {setup!r} (it holds {sorted(names)[:5]})"
    return ""


def _decrypt(blob: bytes, info: dict[str, Any]) -> bytes | None:
    """HMAC over IV and ciphertext, decryption, the plaintext's SHA-256 against ``fileDigest``."""
    try:
        mac_key = base64.b64decode(info["macKey"])
        key = base64.b64decode(info["encryptionKey"])
        expected_mac, iv, ciphertext = blob[:32], blob[32:48], blob[48:]
        if not hmac.compare_digest(
            hmac.new(mac_key, iv + ciphertext, hashlib.sha256).digest(), expected_mac
        ):
            return None
        if (
            base64.b64decode(info["mac"]) != expected_mac
            or base64.b64decode(info["initializationVector"]) != iv
        ):
            return None
        decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
        padded = decryptor.update(ciphertext) + decryptor.finalize()
        unpadder = padding.PKCS7(128).unpadder()
        plain = unpadder.update(padded) + unpadder.finalize()
    except (KeyError, ValueError, TypeError):
        return None
    if hashlib.sha256(plain).digest() != base64.b64decode(info.get("fileDigest", "")):
        return None
    return plain


def _marked(app: App, intent: str) -> bool:
    words = str(app.body.get("notes") or "").split()
    return bool(words) and words[0] == "eucora" and f"intent={intent}" in words


def _assigned_group(assignment: dict[str, Any]) -> str:
    return str((assignment.get("target") or {}).get("groupId") or "")


def _assignment_key(assignment: dict[str, Any]) -> tuple[str, str]:
    target = assignment.get("target") or {}
    return (str(target.get("@odata.type")), str(target.get("groupId")))


def _type_of(body: dict[str, Any]) -> str:
    return str(body.get("@odata.type", "")).removeprefix("#microsoft.graph.")


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _json(status: int, body: Any) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")


def _error(status: int, code: str, message: str) -> Response:
    inner = {"request-id": str(uuid.uuid4()), "date": _now()}
    return _json(status, {"error": {"code": code, "message": message, "innerError": inner}})


def _oauth_error(status: int, error: str, description: str) -> Response:
    return _json(status, {"error": error, "error_description": description, "error_codes": [0]})


def _storage_error(status: int, code: str, message: str) -> Response:
    text = (
        '<?xml version="1.0" encoding="utf-8"?>'
        f"<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    )
    return Response(text, status=status, mimetype="application/xml")
