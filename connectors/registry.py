"""The planes this installation publishes to: one connector per configured plane, built once.

The composition root builds :class:`Connectors` from the same environment mapping as
``bot.settings.Settings`` (nothing here reads ``os.environ``), so a plane is configured exactly
when its ``connectors.settings`` class says so, and a half-configured plane stops the process
with that class's one-line :class:`bot.settings.SettingsError` naming the variable.

Every plane of :data:`bot.core.planes.PROFILES` is served by ``connectors/<name>.py``, which
declares itself as ``PLANE`` (a :class:`PlaneConnector`). A module is imported only when one of
its plane's ``EUCORA_<PREFIX>_*`` variables is set, so this module and an installation without
planes never load the planes' libraries (HTTP, MSAL, ansible-runner).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from contextlib import suppress
from typing import TYPE_CHECKING, Any

from bot.core.planes import PROFILES, PlaneProfile
from bot.settings import SettingsError
from connectors._polling import Follow
from connectors.base import Connector, Plane, PlaneConnector, PlaneServices

if TYPE_CHECKING:
    from connectors.artifacts import ArtifactSource


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


def plane_connector(profile: PlaneProfile) -> PlaneConnector[Any]:
    """The ``PLANE`` that ``connectors/<name>.py`` declares (this loads the plane's libraries).

    A library that is not installed is a one-line :class:`SettingsError`: the plane is configured
    but this installation cannot talk to it.
    """
    try:
        module = importlib.import_module(f"connectors.{profile.name}")
    except ImportError as error:
        raise SettingsError(
            f"{profile.display_name} is configured (EUCORA_{profile.env_prefixes[0]}_*) but its"
            f" connector cannot load: {error}"
        ) from error
    declared: PlaneConnector[Any] = module.PLANE
    return declared


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
    Every plane's settings are read before any connector is built, in :class:`Plane` order.
    """
    configured: list[tuple[PlaneConnector[Any], object]] = []
    for profile in PROFILES.values():
        if not profile.mentioned_in(environ):
            continue
        plane = plane_connector(profile)
        settings = plane.settings(environ)
        if settings is not None:
            configured.append((plane, settings))
    if not configured:
        return Connectors({})
    if artifacts is None:
        from connectors.artifacts import HttpArtifactSource  # noqa: PLC0415 - HTTP, with a plane

        artifacts = HttpArtifactSource.from_environ(environ)
    services = PlaneServices(artifacts=artifacts, follow=follow)
    return Connectors(
        {plane.profile.plane: plane.build(settings, services) for plane, settings in configured}
    )
