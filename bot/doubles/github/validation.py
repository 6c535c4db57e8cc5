"""Every request and response checked against GitHub's OpenAPI description (openapi-core).

The description is the extracted subset in ``bot/doubles/data/github/openapi-subset.json``. It is
loaded with openapi-core's spec check off: GitHub's published description does not pass
openapi-spec-validator as a whole (a ``format: uri`` string defaults to ``""``), which says
nothing about the operations themselves. A request or response that breaks it becomes a
violation: recorded on the double, and the ``github_double`` fixture fails the test with them.
"""

from __future__ import annotations

import copy
import re
from functools import cache
from typing import Any

from openapi_core import Config, OpenAPI
from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest, WerkzeugOpenAPIResponse
from werkzeug.wrappers import Request, Response

from bot.doubles.github.responses import description


def _null_in_nullable_enums(node: Any) -> None:
    """Let ``nullable: true`` enums hold null, as GitHub means and sends.

    OpenAPI 3.0.3 says a nullable enum must list ``null`` itself; GitHub's description does
    not (``check-run.conclusion`` is ``nullable`` with an enum of strings, and an in-progress
    run has ``"conclusion": null``), so without this every real in-progress run would fail.
    """
    if isinstance(node, dict):
        if (
            node.get("nullable") is True
            and isinstance(node.get("enum"), list)
            and None not in node["enum"]
        ):
            node["enum"] = [*node["enum"], None]
        for value in node.values():
            _null_in_nullable_enums(value)
    elif isinstance(node, list):
        for value in node:
            _null_in_nullable_enums(value)


def _null_in_nullable_alternatives(node: Any) -> None:
    """Let ``nullable: true`` ``oneOf``/``anyOf`` schemas hold null, as GitHub sends.

    A commit's ``author`` is ``nullable`` with ``oneOf`` a user or an empty object, and GitHub
    sends ``"author": null`` for an address tied to no account; with no ``type`` beside it,
    ``nullable`` alone admits nothing, so a null alternative is added.
    """
    if isinstance(node, dict):
        for key in ("oneOf", "anyOf"):
            alternatives = node.get(key)
            if not (node.get("nullable") is True and isinstance(alternatives, list)):
                continue
            if {"enum": [None]} not in alternatives:
                node[key] = [*alternatives, {"enum": [None]}]
        for value in node.values():
            _null_in_nullable_alternatives(value)
    elif isinstance(node, list):
        for value in node:
            _null_in_nullable_alternatives(value)


@cache
def _openapi() -> OpenAPI:
    """One validator for every double: relative server URLs match any 127.0.0.1 port.

    ``/api/v3`` is where GitHub Enterprise Server serves the same API (``api_prefix``).
    """
    spec: dict[str, Any] = copy.deepcopy(description())
    spec["servers"] = [{"url": "/"}, {"url": "/api/v3"}]
    _null_in_nullable_enums(spec)
    _null_in_nullable_alternatives(spec)
    return OpenAPI.from_dict(spec, config=Config(spec_validator_cls=None))


def _explain(error: Exception) -> str:
    """One line per schema error: where in the body, and what."""
    parts = [f"{type(error).__name__}: {error}"]
    cause = error.__cause__
    for schema_error in getattr(cause, "schema_errors", ()) or ():
        where = "/".join(map(str, schema_error.absolute_path)) or "<root>"
        parts.append(f"  at {where}: {schema_error.message[:300]}")
    if cause is not None and not getattr(cause, "schema_errors", None):
        parts.append(f"  {type(cause).__name__}: {str(cause)[:300]}")
    return "\n".join(parts)


def operation_declares(method: str, path_pattern: str, status: int) -> bool:
    """Whether GitHub documents ``status`` for this operation (else its shape is unchecked)."""
    responses = description()["paths"][path_pattern][method.lower()]["responses"]
    return str(status) in responses or "default" in responses


def _multi_segment_names(spec: dict[str, Any], item: dict[str, Any]) -> set[str]:
    """The ``x-multi-segment`` path parameters of a path item's operations."""
    names = set()
    for operation in item.values():
        for parameter in operation.get("parameters", []) if isinstance(operation, dict) else []:
            resolved = parameter
            for part in parameter.get("$ref", "#")[2:].split("/") if "$ref" in parameter else ():
                resolved = (spec if resolved is parameter else resolved)[part]
            if resolved.get("x-multi-segment") and resolved.get("in") == "path":
                names.add(resolved["name"])
    return names


@cache
def _multi_segment_paths() -> tuple[tuple[re.Pattern[str], int], ...]:
    """Path templates with an ``x-multi-segment`` parameter (a git ref: ``heads/a/b``).

    Each as a regex over the request path and the group holding that parameter's value.
    """
    spec = description()
    found = []
    for template, item in spec["paths"].items():
        names = _multi_segment_names(spec, item)
        if not names:
            continue
        pattern, group, index = "", 0, 0
        for part in re.split(r"(\{\w+\})", template):
            if not (part.startswith("{") and part.endswith("}")):
                pattern += re.escape(part)
                continue
            index += 1
            multi = part[1:-1] in names
            group = index if multi else group
            pattern += "(.+)" if multi else "([^/]+)"
        found.append((re.compile(f"(?:/api/v3)?{pattern}$"), group))
    # The longest template first: ``commits/{ref}/check-runs`` before ``commits/{ref}``.
    found.sort(key=lambda entry: -len(entry[0].pattern))
    return tuple(found)


class _Request(WerkzeugOpenAPIRequest):
    """The request as openapi-core sees it, a multi-segment parameter's slashes escaped.

    GitHub's description marks a git ref (``heads/feature-a``) ``x-multi-segment``; openapi-core
    matches one segment per parameter, so the slashes inside it are written ``%2F``.
    """

    def get_path(self, path: str) -> str:
        full = super().get_path(path)
        for pattern, group in _multi_segment_paths():
            match = pattern.match(full)
            if match and group:
                start, end = match.span(group)
                return full[:start] + full[start:end].replace("/", "%2F") + full[end:]
        return full


def check_request(request: Request) -> str | None:
    """A description of how ``request`` breaks the description, or None when it conforms."""
    try:
        _openapi().validate_request(_Request(request))
    except Exception as error:  # noqa: BLE001 (openapi-core raises many kinds; all are violations)
        return f"{request.method} {request.path}: request does not match GitHub's description: {_explain(error)}"
    return None


def check_response(request: Request, response: Response) -> str | None:
    """A description of how ``response`` breaks the description, or None when it conforms."""
    try:
        _openapi().validate_response(_Request(request), WerkzeugOpenAPIResponse(response))
    except Exception as error:  # noqa: BLE001
        return (
            f"{request.method} {request.path} -> {response.status_code}: response does not match"
            f" GitHub's description: {_explain(error)}"
        )
    return None
