"""The planes this installation publishes to: one connector per configured plane, built once.

The composition root builds :class:`Connectors` from the same environment mapping as
``bot.settings.Settings`` (nothing here reads ``os.environ``), so a plane is configured exactly
when its ``connectors.settings`` class says so, and a half-configured plane stops the process
with that class's one-line :class:`bot.settings.SettingsError` naming the variable.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import suppress

from connectors._polling import Follow
from connectors.ansible import build_ansible_connector
from connectors.artifacts import ArtifactSource, HttpArtifactSource
from connectors.base import Connector, Plane
from connectors.intune import UPLOAD_FOLLOW, IntuneConnector
from connectors.jamf import JamfConnector
from connectors.landscape import LandscapeConnector
from connectors.sccm import SccmConnector
from connectors.settings import (
    AnsibleLocalSettings,
    AwxSettings,
    IntuneSettings,
    JamfSettings,
    LandscapeSettings,
    SccmSettings,
)


class Connectors:
    """The configured planes' connectors, built once per process and closed together."""

    def __init__(self, connectors: Mapping[Plane, Connector]) -> None:
        self._connectors = dict(connectors)

    def get(self, plane: str) -> Connector | None:
        """The connector for ``plane`` (a :class:`Plane` value), or None when not configured."""
        try:
            return self._connectors.get(Plane(plane))
        except ValueError:
            return None

    def configured(self) -> tuple[Plane, ...]:
        """The configured planes, in :class:`Plane` order."""
        return tuple(plane for plane in Plane if plane in self._connectors)

    def close(self) -> None:
        """Close every connector's HTTP client (local Ansible has none)."""
        for connector in self._connectors.values():
            close = getattr(connector, "close", None)
            if callable(close):
                with suppress(Exception):  # closing one must not leave the others open
                    close()


def build_connectors(
    environ: Mapping[str, str],
    *,
    artifacts: ArtifactSource | None = None,
    follow: Follow | None = None,
) -> Connectors:
    """One connector per plane ``environ`` configures (``SettingsError`` when one is half set).

    ``artifacts`` is where installers are downloaded from (default: over HTTPS, redirected only
    as ``EUCORA_ARTIFACT_REDIRECT_HOSTS`` allows); ``follow`` bounds how long a launched job or
    an upload is read back (default: each connector's own).
    """
    intune = IntuneSettings.from_environ(environ)
    jamf = JamfSettings.from_environ(environ)
    sccm = SccmSettings.from_environ(environ)
    landscape = LandscapeSettings.from_environ(environ)
    awx = AwxSettings.from_environ(environ)
    local = AnsibleLocalSettings.from_environ(environ)
    source = artifacts if artifacts is not None else HttpArtifactSource.from_environ(environ)
    built: dict[Plane, Connector] = {}
    if intune is not None:
        built[Plane.INTUNE] = IntuneConnector(
            intune, artifacts=source, follow=follow or UPLOAD_FOLLOW
        )
    if jamf is not None:
        built[Plane.JAMF] = JamfConnector(jamf, artifacts=source)
    if sccm is not None:
        built[Plane.SCCM] = SccmConnector(sccm)
    if landscape is not None:
        built[Plane.LANDSCAPE] = LandscapeConnector(landscape, follow=follow)
    ansible = build_ansible_connector(awx, local, follow=follow)
    if ansible is not None:
        built[Plane.ANSIBLE] = ansible
    return Connectors(built)
