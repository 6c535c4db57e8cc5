"""Plane settings: which planes are configured, where they are and how to sign in.

Built from the same environment mapping as :class:`bot.settings.Settings` (the composition root
passes it in; nothing here reads ``os.environ``). A plane whose URL is unset is not configured and
its ``from_environ`` returns ``None``. Every secret may also be given as ``NAME_FILE``. Secrets are
kept out of ``repr`` so a settings object can be logged.

Configuration Manager (``EUCORA_SCCM_*``)
    ``URL`` is the SMS Provider's base, e.g. ``https://cm01.contoso.com`` (``/AdminService`` is
    appended unless the URL already ends with it). The AdminService wants Windows authentication;
    EUCORA speaks HTTP **Basic** (``USERNAME`` + ``PASSWORD``, for an IIS binding or a reverse proxy
    that accepts Basic and does Negotiate towards the provider) or a **bearer** token (``TOKEN``,
    e.g. an Entra ID token for ``/AdminService_TokenAuth``: point ``URL`` at that route).
Landscape (``EUCORA_LANDSCAPE_*``)
    ``URL`` is the server, e.g. ``https://landscape.contoso.com`` (the legacy API lives at
    ``/api/``); ``KEY`` and ``SECRET`` are the API access key and secret key that sign requests
    (HMAC-SHA256, signature version 2). ``SCRIPT_USER`` (default ``root``) runs the scripts.
AWX / Automation Platform (``EUCORA_AWX_*``)
    ``URL`` is the controller, ``TOKEN`` an OAuth2 personal access token (``write`` scope),
    ``API_PREFIX`` defaults to ``/api/v2`` (AAP 2.5+ gateways: ``/api/controller/v2``),
    ``ORGANIZATION`` (optional) turns the template lookup into a named URL
    ``<template>++<organization>``.
Ansible local mode (``EUCORA_ANSIBLE_*``)
    ``PLAYBOOK_DIR`` selects local mode when no AWX URL is set: the playbook
    ``<dir>/<intent name>.yml`` (or ``<dir>/site.yml``) runs with ansible-runner. ``DATA_DIR`` is
    the runner's private data directory (default ``$EUCORA_HOME/ansible-runner``),
    ``INVENTORY`` an inventory file (default: ``localhost`` with a local connection, in a group
    named after each ring target), ``EXTRA_VARS`` a JSON object merged into the extra vars.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bot.settings import DEFAULT_HOME, SettingsError, read_secret

DEFAULT_TIMEOUT = 30.0
"""Seconds per HTTP request (connect, read, write, pool) unless ``EUCORA_<PLANE>_TIMEOUT``."""


def _timeout(environ: Mapping[str, str], name: str) -> float:
    raw = environ.get(name)
    if not raw:
        return DEFAULT_TIMEOUT
    try:
        value = float(raw)
    except ValueError as error:
        raise SettingsError(f"{name}: {raw!r} is not a number of seconds") from error
    if value <= 0:
        raise SettingsError(f"{name}: {raw!r} must be more than 0 seconds")
    return value


@dataclass(frozen=True, slots=True, kw_only=True)
class SccmSettings:
    """Where the AdminService is and how to sign in to it."""

    url: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    timeout: float = DEFAULT_TIMEOUT

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> SccmSettings | None:
        """Read ``EUCORA_SCCM_*``; ``None`` when Configuration Manager is not configured."""
        url = environ.get("EUCORA_SCCM_URL")
        if not url:
            return None
        settings = cls(
            url=url,
            username=environ.get("EUCORA_SCCM_USERNAME") or None,
            password=read_secret(environ, "EUCORA_SCCM_PASSWORD"),
            token=read_secret(environ, "EUCORA_SCCM_TOKEN"),
            timeout=_timeout(environ, "EUCORA_SCCM_TIMEOUT"),
        )
        if not settings.token and not (settings.username and settings.password):
            raise SettingsError(
                "EUCORA_SCCM_URL is set but neither EUCORA_SCCM_TOKEN nor"
                " EUCORA_SCCM_USERNAME with EUCORA_SCCM_PASSWORD is"
            )
        return settings


@dataclass(frozen=True, slots=True, kw_only=True)
class LandscapeSettings:
    """Where Landscape is and the access key pair that signs legacy-API requests."""

    url: str
    key: str
    secret: str = field(repr=False)
    script_user: str = "root"
    timeout: float = DEFAULT_TIMEOUT

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> LandscapeSettings | None:
        """Read ``EUCORA_LANDSCAPE_*``; ``None`` when Landscape is not configured."""
        url = environ.get("EUCORA_LANDSCAPE_URL")
        if not url:
            return None
        key = read_secret(environ, "EUCORA_LANDSCAPE_KEY")
        secret = read_secret(environ, "EUCORA_LANDSCAPE_SECRET")
        if not key or not secret:
            raise SettingsError(
                "EUCORA_LANDSCAPE_URL is set but EUCORA_LANDSCAPE_KEY or"
                " EUCORA_LANDSCAPE_SECRET is not"
            )
        return cls(
            url=url,
            key=key,
            secret=secret,
            script_user=environ.get("EUCORA_LANDSCAPE_SCRIPT_USER") or "root",
            timeout=_timeout(environ, "EUCORA_LANDSCAPE_TIMEOUT"),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class AwxSettings:
    """Where the AWX / Automation Platform controller is and the token that signs in."""

    url: str
    token: str = field(repr=False)
    api_prefix: str = "/api/v2"
    organization: str | None = None
    timeout: float = DEFAULT_TIMEOUT

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> AwxSettings | None:
        """Read ``EUCORA_AWX_*``; ``None`` when no controller is configured."""
        url = environ.get("EUCORA_AWX_URL")
        if not url:
            return None
        token = read_secret(environ, "EUCORA_AWX_TOKEN")
        if not token:
            raise SettingsError("EUCORA_AWX_URL is set but EUCORA_AWX_TOKEN is not")
        return cls(
            url=url,
            token=token,
            api_prefix=(environ.get("EUCORA_AWX_API_PREFIX") or "/api/v2").rstrip("/"),
            organization=environ.get("EUCORA_AWX_ORGANIZATION") or None,
            timeout=_timeout(environ, "EUCORA_AWX_TIMEOUT"),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class AnsibleLocalSettings:
    """Local mode: playbooks run by ansible-runner on this machine."""

    playbook_dir: Path
    data_dir: Path
    inventory: Path | None = None
    extra_vars: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> AnsibleLocalSettings | None:
        """Read ``EUCORA_ANSIBLE_*``; ``None`` unless ``EUCORA_ANSIBLE_PLAYBOOK_DIR`` is set."""
        playbook_dir = environ.get("EUCORA_ANSIBLE_PLAYBOOK_DIR")
        if not playbook_dir:
            return None
        home = Path(environ.get("EUCORA_HOME") or DEFAULT_HOME)
        raw_vars = environ.get("EUCORA_ANSIBLE_EXTRA_VARS") or "{}"
        try:
            extra_vars = json.loads(raw_vars)
        except json.JSONDecodeError as error:
            raise SettingsError(
                f"EUCORA_ANSIBLE_EXTRA_VARS: not JSON (line {error.lineno}, column {error.colno})"
            ) from error
        if not isinstance(extra_vars, dict):
            raise SettingsError("EUCORA_ANSIBLE_EXTRA_VARS: must be a JSON object")
        inventory = environ.get("EUCORA_ANSIBLE_INVENTORY")
        return cls(
            playbook_dir=Path(playbook_dir),
            data_dir=Path(environ.get("EUCORA_ANSIBLE_DATA_DIR") or home / "ansible-runner"),
            inventory=Path(inventory) if inventory else None,
            extra_vars={str(k): str(v) for k, v in extra_vars.items()},
        )


def ansible_settings(environ: Mapping[str, str]) -> AwxSettings | AnsibleLocalSettings | None:
    """A controller when ``EUCORA_AWX_URL`` is set, else local mode when configured, else ``None``.

    Both are read, so a bad setting of either is an error even when the other wins.
    """
    awx = AwxSettings.from_environ(environ)
    local = AnsibleLocalSettings.from_environ(environ)
    return awx if awx is not None else local


GRAPH_URL = "https://graph.microsoft.com/v1.0"
ENTRA_AUTHORITY = "https://login.microsoftonline.com"


@dataclass(frozen=True, slots=True, kw_only=True)
class IntuneSettings:
    """Where Microsoft Graph and the Entra ID authority are, and the app registration to use.

    ``EUCORA_INTUNE_URL`` is the Graph base (default ``https://graph.microsoft.com/v1.0``),
    ``AUTHORITY`` the authority host (default ``https://login.microsoftonline.com``; the tenant
    is appended), ``TENANT_ID``, ``CLIENT_ID`` and ``CLIENT_SECRET`` (or ``_FILE``) the app
    registration with ``DeviceManagementApps.ReadWrite.All``, ``CA_BUNDLE`` a PEM file of a
    private CA to trust (proxies, the local double), ``TIMEOUT`` seconds per request. Intune is
    configured when ``URL`` or ``TENANT_ID`` is set.
    """

    url: str = GRAPH_URL
    authority: str = ENTRA_AUTHORITY
    tenant_id: str
    client_id: str
    client_secret: str = field(repr=False)
    ca_bundle: str | None = None
    timeout: float = DEFAULT_TIMEOUT

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> IntuneSettings | None:
        """Read ``EUCORA_INTUNE_*``; ``None`` when Intune is not configured."""
        url = environ.get("EUCORA_INTUNE_URL")
        tenant = environ.get("EUCORA_INTUNE_TENANT_ID")
        if not url and not tenant:
            return None
        client_id = environ.get("EUCORA_INTUNE_CLIENT_ID")
        secret = read_secret(environ, "EUCORA_INTUNE_CLIENT_SECRET")
        if not tenant or not client_id or not secret:
            raise SettingsError(
                "Intune is configured but EUCORA_INTUNE_TENANT_ID, EUCORA_INTUNE_CLIENT_ID or"
                " EUCORA_INTUNE_CLIENT_SECRET (or _FILE) is not set"
            )
        return cls(
            url=url or GRAPH_URL,
            authority=environ.get("EUCORA_INTUNE_AUTHORITY") or ENTRA_AUTHORITY,
            tenant_id=tenant,
            client_id=client_id,
            client_secret=secret,
            ca_bundle=environ.get("EUCORA_INTUNE_CA_BUNDLE") or None,
            timeout=_timeout(environ, "EUCORA_INTUNE_TIMEOUT"),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class JamfSettings:
    """Where Jamf Pro is and the API client (client credentials) that signs in.

    ``EUCORA_JAMF_URL`` is the server, ``CLIENT_ID`` and ``CLIENT_SECRET`` (or ``_FILE``) an API
    client whose role can read and write packages and policies, ``CA_BUNDLE`` a private CA's PEM
    file, ``TIMEOUT`` seconds per request.
    """

    url: str
    client_id: str
    client_secret: str = field(repr=False)
    ca_bundle: str | None = None
    timeout: float = DEFAULT_TIMEOUT

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> JamfSettings | None:
        """Read ``EUCORA_JAMF_*``; ``None`` when Jamf is not configured."""
        url = environ.get("EUCORA_JAMF_URL")
        if not url:
            return None
        client_id = environ.get("EUCORA_JAMF_CLIENT_ID")
        secret = read_secret(environ, "EUCORA_JAMF_CLIENT_SECRET")
        if not client_id or not secret:
            raise SettingsError(
                "EUCORA_JAMF_URL is set but EUCORA_JAMF_CLIENT_ID or EUCORA_JAMF_CLIENT_SECRET"
                " (or _FILE) is not"
            )
        return cls(
            url=url,
            client_id=client_id,
            client_secret=secret,
            ca_bundle=environ.get("EUCORA_JAMF_CA_BUNDLE") or None,
            timeout=_timeout(environ, "EUCORA_JAMF_TIMEOUT"),
        )
