"""The management planes, each defined once: one row of :data:`PROFILES` per plane.

A plane's profile says what the rest of EUCORA needs to know about it without talking to it: the
platforms it manages (``intent.plane-platform``), what a ring's ``target`` names on it, the targets
that mean "every device" (the ``required_rings_all_devices`` fact), how people call it, and the
``EUCORA_<PREFIX>_*`` environment variables its settings are read from. The connector that talks
to the plane lives in ``connectors/<name>.py`` and declares itself with this profile;
``tests/test_planes_in_step.py`` fails when the profiles, the connectors and the schemas' plane
lists disagree. ``docs/contributing.md`` lists what adding a plane touches.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum


class Plane(StrEnum):
    """The management planes an intent's ``plane`` may name."""

    INTUNE = "intune"
    JAMF = "jamf"
    SCCM = "sccm"
    LANDSCAPE = "landscape"
    ANSIBLE = "ansible"


class TargetKind(StrEnum):
    """What a ring's ``target`` names on a plane."""

    ENTRA_GROUP = "entra-group"
    """An Entra ID group's object id (a GUID)."""
    COMPUTER_GROUP = "computer-group"
    """A Jamf Pro computer group, by name or id."""
    COLLECTION = "collection"
    """A Configuration Manager collection id (site code and five hex digits, e.g. PS100012)."""
    TAG = "tag"
    """A Landscape tag (or search query)."""
    INVENTORY_LIMIT = "inventory-limit"
    """An Ansible inventory group or limit (host pattern)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PlaneProfile:
    """What EUCORA knows about one plane without talking to it."""

    plane: Plane
    display_name: str
    """How people call it, as the schemas' descriptions do: "Jamf Pro"."""
    platforms: frozenset[str]
    """The ``platform`` values of the intents it can manage."""
    target: TargetKind
    target_pattern: str | None
    """The pattern the intent schema holds every ring ``target`` of this plane to, if any."""
    all_devices_targets: frozenset[str]
    """Targets (lower case) that reach every device the plane manages."""
    env_prefixes: tuple[str, ...]
    """``EUCORA_<PREFIX>_*``: the first prefix names the URL variable."""

    @property
    def name(self) -> str:
        """The plane's name in intents, policies and evidence: ``intune``."""
        return self.plane.value

    @property
    def url_variable(self) -> str:
        """The environment variable that says where the plane is: ``EUCORA_JAMF_URL``."""
        return f"EUCORA_{self.env_prefixes[0]}_URL"

    def mentioned_in(self, environ: Mapping[str, str]) -> bool:
        """Tell whether any ``EUCORA_<PREFIX>_*`` variable of this plane is set (even empty)."""
        prefixes = tuple(f"EUCORA_{prefix}_" for prefix in self.env_prefixes)
        return any(key.startswith(prefixes) for key in environ)


_GUID = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"

PROFILES: Mapping[Plane, PlaneProfile] = {
    profile.plane: profile
    for profile in (
        PlaneProfile(
            plane=Plane.INTUNE,
            display_name="Microsoft Intune",
            platforms=frozenset({"windows", "macos"}),
            target=TargetKind.ENTRA_GROUP,
            target_pattern=_GUID,
            # Intune's virtual "All devices" group.
            all_devices_targets=frozenset({"acacacac-9df4-4c7d-9d50-4ef0226f57a9"}),
            env_prefixes=("INTUNE",),
        ),
        PlaneProfile(
            plane=Plane.JAMF,
            display_name="Jamf Pro",
            platforms=frozenset({"macos"}),
            target=TargetKind.COMPUTER_GROUP,
            target_pattern=None,
            # Jamf's built-in smart group and its "All Computers" scope.
            all_devices_targets=frozenset({"all managed clients", "all computers"}),
            env_prefixes=("JAMF",),
        ),
        PlaneProfile(
            plane=Plane.SCCM,
            display_name="Microsoft Configuration Manager",
            platforms=frozenset({"windows"}),
            target=TargetKind.COLLECTION,
            target_pattern="^[A-Z0-9]{3}[0-9A-F]{5}$",
            # The "All Systems" collection.
            all_devices_targets=frozenset({"sms00001"}),
            env_prefixes=("SCCM",),
        ),
        PlaneProfile(
            plane=Plane.LANDSCAPE,
            display_name="Canonical Landscape",
            platforms=frozenset({"linux"}),
            target=TargetKind.TAG,
            target_pattern=None,
            all_devices_targets=frozenset({"all"}),
            env_prefixes=("LANDSCAPE",),
        ),
        PlaneProfile(
            plane=Plane.ANSIBLE,
            display_name="Ansible Automation Platform / AWX",
            platforms=frozenset({"windows", "macos", "linux"}),
            target=TargetKind.INVENTORY_LIMIT,
            target_pattern=None,
            # Ansible's host patterns for every host in the inventory.
            all_devices_targets=frozenset({"all", "*"}),
            # A controller (EUCORA_AWX_*) or local mode (EUCORA_ANSIBLE_PLAYBOOK_DIR...).
            env_prefixes=("AWX", "ANSIBLE"),
        ),
    )
}
"""Every plane's profile, in :class:`Plane` order."""
