"""A local Jamf Pro double: OAuth client-credentials tokens, Pro API packages, Classic XML policies.

Requests to ``/api`` are validated with openapi-core against Jamf's own OpenAPI files
(``data/jamf/Packages.yaml``, ``Authentication.yaml``; ``_MonolithLibrary.yaml`` is a stub of the
names they reference), plus a check that JSON bodies only use property names the schema declares.
Classic ``/JSSResource/policies`` XML is read element by element against the ``policy_post``
schema from Jamf's Classic resource description (``data/jamf/classic-policy.schema.json``):
unknown elements, wrong scalar types and values outside an enum are violations, and the result is
run through jsonschema. Jamf behaviours emulated: unique policy and package names (Classic answers
``409`` with an HTML page saying "Duplicate name"; the Pro API a 409 ``ApiError``), ``POST
/JSSResource/policies/id/0`` answering ``201 <policy><id>N</id></policy>``, and a bearer token
required everywhere except the token endpoints. Known limits: the Classic 409 wording and the Pro
API's duplicate answer are as commonly observed, not from a Jamf specification (planes.md §9).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from collections.abc import Mapping
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import unquote
from xml.etree.ElementTree import Element, SubElement, tostring

import jsonschema
from defusedxml import ElementTree
from openapi_core import OpenAPI
from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest
from werkzeug.wrappers import Request, Response

from ._console import ConsoleEdit, ConsoleEdits
from ._outcomes import DeviceOutcome
from ._server import HttpDouble

DATA = resources.files("bot.doubles") / "data" / "jamf"
_PACKAGE_ID = re.compile(r"^/api/v1/packages/(\d+)(/upload)?$")
_POLICY = re.compile(r"^/JSSResource/policies/(id|name)/([^/]+)$")
_GROUP = re.compile(r"^/JSSResource/computergroups/(id|name)/([^/]+)$")
_HISTORY = re.compile(r"^/JSSResource/computerhistory/id/(\d+)/subset/PolicyLogs$")
_FILTER = re.compile(r'^(packageName|fileName)=="(.*)"$')


def _data_path(name: str) -> Path:
    return Path(str(DATA / name))


class JamfDouble(ConsoleEdits, HttpDouble):
    """Jamf Pro on loopback; ``computer_groups`` maps the known group names to their ids."""

    plane = "jamf"

    def __init__(
        self,
        *,
        client_id: str = "eucora-test",
        client_secret: str = "jamf-secret-value",  # noqa: S107 -- the double's own test credential
        computer_groups: Mapping[str, int] | None = None,
    ) -> None:
        super().__init__()
        self.client_id = client_id
        self.client_secret = client_secret
        self.computer_groups = dict(computer_groups or {})
        self.packages: dict[str, dict[str, Any]] = {}
        self.package_files: dict[str, bytes] = {}
        self.policies: dict[int, dict[str, Any]] = {}
        self._ids = itertools.count(1)

    _console_fields = ("policies", "computer_groups")

    def _console_apply(self, intent: str, kind: ConsoleEdit, group: str, value: str) -> None:
        prefix = f"EUCORA {intent} ["
        mine = {
            i: p for i, p in self.policies.items() if str(p["general"]["name"]).startswith(prefix)
        }
        if not mine:
            raise self.refuse("jamf", kind, f"no policy of {intent}")
        for policy_id, policy in mine.items():
            service = policy.setdefault("self_service", {})
            text = str(service.get("self_service_description") or "")
            scope = policy.setdefault("scope", {})
            groups = scope.get("computer_groups") or []
            names = [str(g.get("computer_group", {}).get("name")) for g in groups]
            match kind:
                case ConsoleEdit.VERSION:
                    service["self_service_description"] = re.sub(
                        r"version=\S+", f"version={value}", text
                    )
                case ConsoleEdit.ASSIGNMENT if group in names:
                    service["use_for_self_service"] = value == "available"
                case ConsoleEdit.REMOVE_GROUP:
                    scope["computer_groups"] = [
                        g for g, name in zip(groups, names, strict=True) if name != group
                    ]
                case ConsoleEdit.ADD_GROUP if policy_id == min(mine):
                    self.computer_groups.setdefault(group, len(self.computer_groups) + 1)
                    scope["computer_groups"] = [*groups, {"computer_group": {"name": group}}]
                case ConsoleEdit.DELETE:
                    del self.policies[policy_id]
                case ConsoleEdit.STRIP_MARKER:
                    service["self_service_description"] = "\n".join(
                        line for line in text.splitlines() if not line.startswith("eucora ")
                    )
                case _:
                    pass

    def environ(self) -> dict[str, str]:
        """The ``EUCORA_JAMF_*`` settings that point a connector at this double."""
        return {
            "EUCORA_JAMF_URL": self.url,
            "EUCORA_JAMF_CLIENT_ID": self.client_id,
            "EUCORA_JAMF_CLIENT_SECRET": self.client_secret,
        }

    # -- descriptions ----------------------------------------------------------------------

    @cached_property
    def _apis(self) -> tuple[OpenAPI, ...]:
        return tuple(
            OpenAPI.from_file_path(str(_data_path(name)))
            for name in ("Packages.yaml", "Authentication.yaml")
        )

    @cached_property
    def _package_properties(self) -> frozenset[str]:
        with (self._apis[0].spec / "components" / "schemas" / "Package").open() as package:
            return frozenset(str(k) for k in package["properties"])

    @cached_property
    def _classic(self) -> dict[str, Any]:
        document: dict[str, Any] = json.loads(
            _data_path("classic-policy.schema.json").read_text(encoding="utf-8")
        )
        return document

    def _check_pro(self, request: Request) -> None:
        errors: list[str] = []
        for api in self._apis:
            try:
                api.validate_request(WerkzeugOpenAPIRequest(request))
            except Exception as error:  # noqa: BLE001 -- openapi-core's errors have no common base
                errors.append(_openapi_message(error))
            else:
                return
        self.violation(f"{request.method} {request.path}: " + " | ".join(errors))

    def _check_package_body(self, body: Mapping[str, Any]) -> None:
        unknown = sorted(set(body) - self._package_properties)
        if unknown:
            self.violation(f"package body: properties not in Package schema: {unknown}")

    # -- serving -------------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        """Route one request."""
        path = request.path
        if path in {"/api/oauth/token", "/api/v1/oauth/token"} and request.method == "POST":
            if path.startswith("/api/v1/"):
                self._check_pro(request)
            return self._token(request)
        if not self.authorized(request):
            if path.startswith("/JSSResource"):
                return _classic_error(
                    401, "Unauthorized", "The request requires user authentication"
                )
            return _api_error(401, "INVALID_TOKEN", "Unauthorized")
        if path.startswith("/api/"):
            self._check_pro(request)
            return self._pro(request)
        if path.startswith("/JSSResource/"):
            return self._classic_route(request)
        return _api_error(404, "NOT_FOUND", f"no route {path}")

    def fault_response(self, status: int, code: str, message: str) -> Response:
        """Jamf's ApiError envelope."""
        return _api_error(status, code, message)

    def _token(self, request: Request) -> Response:
        form = request.form
        if form.get("grant_type") != "client_credentials":
            return _oauth_error(
                400, "unsupported_grant_type", "grant_type must be client_credentials"
            )
        if (
            form.get("client_id") != self.client_id
            or form.get("client_secret") != self.client_secret
        ):
            return _oauth_error(401, "invalid_client", "Client authentication failed")
        body = {
            "access_token": self.issue_token(),
            "scope": "api-role:1",
            "token_type": "Bearer",
            "expires_in": 1199,
        }
        return Response(json.dumps(body), status=200, mimetype="application/json")

    # -- Pro API: packages -----------------------------------------------------------------------

    def _pro(self, request: Request) -> Response:
        path, method = request.path, request.method
        if path == "/api/v1/packages" and method == "GET":
            return self._list_packages(request)
        if path == "/api/v1/packages" and method == "POST":
            return self._create_package(request)
        match = _PACKAGE_ID.match(path)
        if match is None:
            return _api_error(404, "NOT_FOUND", f"no route {path}")
        package_id, upload = match.groups()
        with self.lock:
            package = self.packages.get(package_id)
        if package is None:
            return _api_error(404, "INVALID_ID", f"Package with id {package_id} not found")
        if upload and method == "POST":
            return self._upload(request, package)
        if method == "GET":
            return _json(200, package)
        if method == "PUT":
            body = request.get_json(silent=True) or {}
            self._check_package_body(body)
            with self.lock:
                clash = self._package_named(str(body.get("packageName")))
                if clash is not None and clash["id"] != package_id:
                    return _api_error(
                        409, "DUPLICATE_FIELD", "packageName must be unique", "packageName"
                    )
                package.update({k: v for k, v in body.items() if k not in _READ_ONLY})
            return _json(200, package)
        if method == "DELETE":
            with self.lock:
                self.packages.pop(package_id, None)
            return Response(status=204)
        return _api_error(405, "METHOD_NOT_ALLOWED", f"{method} {path}")

    def _package_named(self, name: str) -> dict[str, Any] | None:
        return next((p for p in self.packages.values() if p["packageName"] == name), None)

    def _list_packages(self, request: Request) -> Response:
        with self.lock:
            found = list(self.packages.values())
        query = request.args.get("filter", "")
        if query:
            match = _FILTER.match(query)
            if match is None:
                return _api_error(400, "INVALID_FILTER", f"unsupported filter {query!r}")
            field, value = match.groups()
            found = [p for p in found if p.get(field) == value]
        if request.environ.get("double.stale"):
            found = []
        page, size = int(request.args.get("page", 0)), int(request.args.get("page-size", 100))
        body = {"totalCount": len(found), "results": found[page * size : (page + 1) * size]}
        return _json(200, body)

    def _create_package(self, request: Request) -> Response:
        body = request.get_json(silent=True) or {}
        self._check_package_body(body)
        with self.lock:
            if self._package_named(str(body.get("packageName"))) is not None:
                return _api_error(
                    409, "DUPLICATE_FIELD", "packageName must be unique", "packageName"
                )
            package_id = str(next(self._ids))
            record = {k: v for k, v in body.items() if k not in _READ_ONLY}
            record |= {"id": package_id, "size": None, "cloudTransferStatus": "NOT_READY"}
            self.packages[package_id] = record
            self.creates["package"] += 1
        href = f"{request.host_url.rstrip('/')}/api/v1/packages/{package_id}"
        return _json(201, {"id": package_id, "href": href})

    def _upload(self, request: Request, package: dict[str, Any]) -> Response:
        upload = request.files.get("file")
        if upload is None:
            return _api_error(400, "INVALID_FIELD", "multipart field 'file' is required", "file")
        data = upload.read()
        with self.lock:
            self.package_files[package["id"]] = data
            self.creates["upload"] += 1
            package["size"] = f"{len(data)}B"
            package["cloudTransferStatus"] = "READY"
            package["uploadedSha256"] = hashlib.sha256(data).hexdigest()
        return _json(201, {"id": package["id"], "href": request.url})

    # -- Classic API: policies ---------------------------------------------------------------------

    def _classic_route(self, request: Request) -> Response:  # noqa: C901 - a route table
        path, method = request.path, request.method
        if path == "/JSSResource/policies" and method == "GET":
            return self._list_policies(request)
        if method == "GET" and (group := _GROUP.match(path)) is not None:
            return self._show_group(*group.groups())
        if method == "GET" and (history := _HISTORY.match(path)) is not None:
            return self._policy_logs(int(history.group(1)))
        match = _POLICY.match(path)
        if match is None:
            return _classic_error(
                404, "Not Found", "The server has not found anything matching the request URI"
            )
        by, key = match.groups()
        with self.lock:
            policy_id = self._policy_id(by, key)
        if request.environ.get("double.stale") and method == "GET":
            policy_id = None
        if method == "POST":
            if by != "id" or key != "0":
                self.violation(f"POST {path}: Jamf creates policies at /JSSResource/policies/id/0")
            return self._write_policy(request, None)
        if policy_id is None:
            return _classic_error(
                404, "Not Found", "The server has not found anything matching the request URI"
            )
        if method == "GET":
            return self._show_policy(request, policy_id)
        if method == "PUT":
            return self._write_policy(request, policy_id)
        if method == "DELETE":
            with self.lock:
                self.policies.pop(policy_id, None)
            return _xml(200, _policy_id_xml(policy_id))
        return _classic_error(405, "Method Not Allowed", f"{method} {path}")

    # -- told outcomes: group members and their policy logs -----------------------------------

    def _members(self, group: str) -> list[tuple[int, DeviceOutcome]]:
        """(computer id, outcome) of a static group's told members; Jamf has no "not applicable"
        state, so those devices are simply not members.
        """
        base = 1000 * (self.computer_groups.get(group, 0) + 1)
        told = self.outcomes_of(group) or []
        return [(base + d.index, d) for d in told if d.state != "not_applicable"]

    def _show_group(self, by: str, key: str) -> Response:
        name = unquote(key)
        with self.lock:
            found = next(
                (
                    (n, i)
                    for n, i in self.computer_groups.items()
                    if (by == "name" and n == name) or (by == "id" and str(i) == name)
                ),
                None,
            )
        if found is None:
            return _classic_error(
                404, "Not Found", "The server has not found anything matching the request URI"
            )
        group, group_id = found
        root = Element("computer_group")
        _fill_flat(root, {"id": group_id, "name": group, "is_smart": False})
        computers = SubElement(root, "computers")
        members = self._members(group)
        SubElement(computers, "size").text = str(len(members))
        for computer_id, device in members:
            _fill_flat(
                SubElement(computers, "computer"),
                {"id": computer_id, "name": device.name, "serial_number": f"C02{computer_id:07d}"},
            )
        return _xml(200, tostring(root, encoding="unicode"))

    def _policy_logs(self, computer_id: int) -> Response:
        logs = []
        for group in list(self.computer_groups):
            for member_id, device in self._members(group):
                if member_id != computer_id or device.state not in {"installed", "failed"}:
                    continue
                when = self.data_time(group)
                for policy_id, policy in self.policies.items():
                    scoped = policy.get("scope", {}).get("computer_groups", [])
                    if not any(g.get("computer_group", {}).get("name") == group for g in scoped):
                        continue
                    logs.append(
                        {
                            "policy_id": policy_id,
                            "policy_name": policy["general"]["name"],
                            "username": "",
                            "date_time": when.strftime("%Y/%m/%d at %-I:%M %p"),
                            "date_time_epoch": str(int(when.timestamp() * 1000)),
                            "date_time_utc": when.strftime("%Y-%m-%dT%H:%M:%S.000+0000"),
                            "status": "Completed" if device.state == "installed" else "Failed",
                        }
                    )
        root = Element("computer_history")
        _fill_flat(SubElement(root, "general"), {"id": computer_id})
        history = SubElement(root, "policy_logs")
        for log in logs:
            _fill_flat(SubElement(history, "policy_log"), log)
        return _xml(200, tostring(root, encoding="unicode"))

    def _list_policies(self, request: Request) -> Response:
        with self.lock:
            listed = [{"id": i, "name": p["general"]["name"]} for i, p in self.policies.items()]
        if "application/json" in request.headers.get("Accept", ""):
            return _json(200, {"policies": listed})
        root = Element("policies")
        SubElement(root, "size").text = str(len(listed))
        for entry in listed:
            _fill_flat(SubElement(root, "policy"), entry)
        return _xml(200, tostring(root, encoding="unicode"))

    def _policy_id(self, by: str, key: str) -> int | None:
        if by == "id":
            return int(key) if key.isdigit() and int(key) in self.policies else None
        return next((i for i, p in self.policies.items() if p["general"]["name"] == key), None)

    def _show_policy(self, request: Request, policy_id: int) -> Response:
        with self.lock:
            policy = json.loads(json.dumps(self.policies[policy_id]))
        if "application/json" in request.headers.get("Accept", ""):
            return _json(200, {"policy": policy})
        return _xml(200, tostring(self.to_xml("policy", policy), encoding="unicode"))

    def _write_policy(self, request: Request, policy_id: int | None) -> Response:
        if request.mimetype not in {"application/xml", "text/xml"}:
            self.violation(f"{request.method} {request.path}: Content-Type {request.mimetype!r}")
        parsed = self.parse_policy(request.get_data(as_text=True))
        if parsed is None:
            return _classic_error(400, "Bad Request", "Unable to parse XML")
        name = parsed.get("general", {}).get("name")
        with self.lock:
            same = next((i for i, p in self.policies.items() if p["general"]["name"] == name), None)
            if same is not None and same != policy_id:
                return _classic_error(409, "Conflict", "Error: Duplicate name")
            unknown = self._unknown_groups(parsed)
            if unknown:
                return _classic_error(
                    409, "Conflict", f"Error: Problem with computer group {unknown}"
                )
            if policy_id is None:
                if not name:
                    return _classic_error(409, "Conflict", "Error: Policy name is required")
                policy_id = next(self._ids)
                parsed.setdefault("general", {})["id"] = policy_id
                self.policies[policy_id] = parsed
                self.creates["policy"] += 1
            else:
                current = self.policies[policy_id]
                for section, value in parsed.items():
                    if isinstance(value, dict) and isinstance(current.get(section), dict):
                        current[section] |= value
                    else:
                        current[section] = value
                current["general"]["id"] = policy_id
        return _xml(201, _policy_id_xml(policy_id))

    def _unknown_groups(self, policy: Mapping[str, Any]) -> str | None:
        for item in policy.get("scope", {}).get("computer_groups", []):
            group = item.get("computer_group", {})
            if group.get("name") not in self.computer_groups and group.get("id") not in set(
                self.computer_groups.values()
            ):
                return str(group.get("name") or group.get("id"))
        return None

    def parse_policy(self, text: str) -> dict[str, Any] | None:
        """Read a ``<policy>`` document into its JSON form, recording departures from the schema."""
        try:
            root = ElementTree.fromstring(text)
        except ElementTree.ParseError as error:
            self.violation(f"policy XML does not parse: {error}")
            return None
        if root.tag != "policy":
            self.violation(f"policy XML root is <{root.tag}>, not <policy>")
        schema = self._classic["components"]["schemas"]["policy_post"]
        value = self._from_xml(root, schema, "policy")
        validator = jsonschema.Draft7Validator(
            {**schema, "components": self._classic["components"]}
        )
        for problem in validator.iter_errors(value):
            path = "/".join(str(p) for p in problem.absolute_path)
            self.violation(f"policy/{path}: {problem.message}")
        return value if isinstance(value, dict) else None

    def _resolve(self, schema: Mapping[str, Any]) -> Mapping[str, Any]:
        ref = schema.get("$ref")
        if isinstance(ref, str):
            resolved: Mapping[str, Any] = self._classic["components"]["schemas"][
                ref.rsplit("/", 1)[1]
            ]
            return resolved
        return schema

    def _from_xml(self, element: Element, schema: Mapping[str, Any], where: str) -> Any:
        schema = self._resolve(schema)
        kind = schema.get("type")
        if kind == "array" or (kind is None and "items" in schema):
            item = self._resolve(schema.get("items", {}))
            return [
                {child.tag: self._child(child, item, f"{where}/{child.tag}")} for child in element
            ]
        if kind == "object" or "properties" in schema:
            found: dict[str, Any] = {}
            properties = schema.get("properties", {})
            for child in element:
                entry = self._resolve(properties.get(child.tag, {}))
                if self._repeated(entry):
                    item = self._from_xml(child, entry.get("items", {}), f"{where}/{child.tag}")
                    found.setdefault(child.tag, []).append(item)
                else:
                    found[child.tag] = self._child(child, schema, f"{where}/{child.tag}")
            return found
        return _scalar(element.text or "", kind)

    def _child(self, child: Element, parent: Mapping[str, Any], where: str) -> Any:
        properties = parent.get("properties", {})
        if child.tag not in properties:
            self.violation(f"{where}: element not in the Classic policy schema")
            return child.text or ""
        return self._from_xml(child, properties[child.tag], where)

    def _repeated(self, schema: Mapping[str, Any]) -> bool:
        """An array whose element repeats in its parent (``<script>…</script><script>…``).

        The Classic description writes two kinds of list as ``type: array``: a wrapper whose
        children each hold one object (``<computer_groups><computer_group>…``: every item
        property but ``size`` is an object) and an element that itself repeats, one per item
        (``<scripts><script>…``, ``<self_service_categories><category>…``, ``<day>``).
        """
        if schema.get("type") != "array" and "items" not in schema:
            return False
        properties = self._resolve(schema.get("items", {})).get("properties")
        if not properties:
            return True
        return not all(
            "properties" in self._resolve(value)
            for key, value in properties.items()
            if key != "size"
        )

    def to_xml(self, tag: str, value: Any) -> Element:
        """A policy's JSON form as Classic XML, along ``policy_post``."""
        element = Element(tag)
        self._fill(element, value, self._classic["components"]["schemas"]["policy_post"])
        return element

    def _fill(self, element: Element, value: Any, schema: Mapping[str, Any]) -> None:
        schema = self._resolve(schema)
        if isinstance(value, dict):
            properties = schema.get("properties", {})
            for key, child in value.items():
                entry = self._resolve(properties.get(key, {}))
                if isinstance(child, list) and self._repeated(entry):
                    for item in child:
                        self._fill(SubElement(element, key), item, entry.get("items", {}))
                else:
                    self._fill(SubElement(element, key), child, entry)
        elif isinstance(value, list):
            item_schema = self._resolve(schema.get("items", {}))
            for item in value:
                self._fill(element, item, item_schema)
        elif isinstance(value, bool):
            element.text = "true" if value else "false"
        elif value is not None:
            element.text = str(value)


_READ_ONLY = frozenset({"id", "size", "cloudTransferStatus", "indexed"})


def _scalar(text: str, kind: Any) -> Any:
    text = text.strip()
    if kind == "integer" and re.fullmatch(r"-?\d+", text):
        return int(text)
    if kind == "boolean" and text in {"true", "false"}:
        return text == "true"
    return text


def _fill_flat(element: Element, value: Mapping[str, Any]) -> None:
    for key, child in value.items():
        sub = SubElement(element, key)
        sub.text = ("true" if child else "false") if isinstance(child, bool) else str(child)


def _policy_id_xml(policy_id: int) -> str:
    return f'<?xml version="1.0" encoding="UTF-8"?><policy><id>{policy_id}</id></policy>'


def _openapi_message(error: Exception) -> str:
    cause = error.__cause__
    details = [getattr(e, "message", str(e)) for e in getattr(cause, "schema_errors", ())]
    return f"{error}" if not details else f"{type(error).__name__}: {'; '.join(details)}"


def _json(status: int, body: Any) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")


def _xml(status: int, text: str) -> Response:
    return Response(text, status=status, mimetype="application/xml")


def _api_error(status: int, code: str, description: str, field: str | None = None) -> Response:
    error = {"code": code, "description": description, "id": "0", "field": field}
    return _json(status, {"httpStatus": status, "errors": [error]})


def _oauth_error(status: int, error: str, description: str) -> Response:
    return _json(status, {"error": error, "error_description": description})


def _classic_error(status: int, title: str, message: str) -> Response:
    page = (
        "<html><head><title>Status page</title></head><body>"
        f"<p>{title}</p><p>{message}</p>"
        "<p>You can get technical details here.</p></body></html>"
    )
    return Response(page, status=status, mimetype="text/html")
