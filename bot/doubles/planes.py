"""All five plane doubles at once, seeded for a set of intents: the demo's and the tests' planes.

Starts the Intune, Jamf Pro, Configuration Manager, Landscape and AWX doubles on loopback, and
creates what each plane must already hold for the intents' rings (Jamf computer groups, SCCM
collections, Landscape computers with the rings' tags, an AWX job template per Ansible intent).
:meth:`PlaneDoubles.environ` points the connectors at them; :meth:`PlaneDoubles.holdings` says
what each plane holds now, as a person would read it in the plane's console;
:meth:`PlaneDoubles.objects` counts the objects that carry a change (the "exactly one" checks).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any, Self

import yaml

from bot.doubles.awx import AwxDouble
from bot.doubles.intune import IntuneDouble
from bot.doubles.jamf import JamfDouble
from bot.doubles.landscape import LandscapeDouble
from bot.doubles.sccm import SccmDouble


def stand_in_installer(url: str) -> bytes:
    """Deterministic bytes standing in for the installer at ``url`` (no network in the demo)."""
    seed = url.encode()
    return b"".join(hashlib.sha256(seed + bytes([i])).digest() for i in range(64))


class StandInArtifacts:
    """An ``ArtifactSource`` serving :func:`stand_in_installer` bytes for any URL."""

    def read(self, url: str) -> bytes:
        """The stand-in bytes of ``url``."""
        return stand_in_installer(url)


_SHA256_LINE = re.compile(r'(?m)^(\s+sha256:\s*)"?[0-9a-fA-F]{64}"?')


def with_stand_in_package(text: str) -> str:
    """An intent's YAML text whose ``package.sha256`` is the stand-in installer's digest.

    The intent keeps its package URL; the digest (what the CAB approves) becomes the one of the
    bytes :class:`StandInArtifacts` serves for it, so the connectors' digest check passes.
    """
    package = (yaml.safe_load(text) or {}).get("package") or {}
    url = package.get("url")
    if not isinstance(url, str):
        return text
    start = text.index("\npackage:")
    digest = hashlib.sha256(stand_in_installer(url)).hexdigest()
    tail = _SHA256_LINE.sub(lambda m: f'{m.group(1)}"{digest}"', text[start:], count=1)
    return text[:start] + tail


def _rings(intent: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [r for r in intent.get("rings") or () if isinstance(r, Mapping)]


class PlaneDoubles:
    """The five doubles, started and seeded (see the module docstring)."""

    def __init__(self, intents: Iterable[Mapping[str, Any]] = ()) -> None:
        self.intune = IntuneDouble()
        self.jamf = JamfDouble()
        self.sccm = SccmDouble()
        self.landscape = LandscapeDouble()
        self.awx = AwxDouble()
        self.all = (self.intune, self.jamf, self.sccm, self.landscape, self.awx)
        for intent in intents:
            self.seed(intent)

    def seed(self, intent: Mapping[str, Any]) -> None:
        """Create what the plane of ``intent`` must hold for its rings' targets."""
        plane = intent.get("plane")
        for ring in _rings(intent):
            target = str(ring.get("target", ""))
            if plane == "jamf" and target not in self.jamf.computer_groups:
                self.jamf.computer_groups[target] = len(self.jamf.computer_groups) + 1
            elif plane == "sccm" and target not in self.sccm.collections:
                self.sccm.add_collection(target, f"{ring.get('name')} ({target})")
            elif plane == "landscape" and not any(
                target in c.tags for c in self.landscape.computers.values()
            ):
                for i in (1, 2):
                    self.landscape.add_computer(f"{target}-{i:02d}", target)
        name = str(intent.get("metadata", {}).get("name", ""))
        if plane == "ansible" and name not in {t.name for t in self.awx.templates.values()}:
            self.awx.add_job_template(name)

    def start(self) -> Self:
        """Start every double."""
        for double in self.all:
            double.start()
        return self

    def stop(self) -> None:
        """Stop every double."""
        for double in self.all:
            double.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()

    def environ(self) -> dict[str, str]:
        """The ``EUCORA_<PLANE>_*`` settings that point the connectors at the doubles."""
        environ: dict[str, str] = {}
        for double in self.all:
            environ |= double.environ()
        return environ

    @property
    def violations(self) -> list[str]:
        """Every departure from a vendor's description any double saw."""
        return [v for double in self.all for v in double.violations]

    def objects(self) -> dict[str, int]:
        """Objects created on each plane that carry a change (apps, packages, jobs...)."""
        return {
            "intune": len(self.intune.apps),
            "jamf": len(self.jamf.policies),
            "sccm": len(self.sccm.applications),
            "landscape": sum(  # script runs; a restart (landscape.reboot) carries no change
                a.parent_id is None and a.summary.startswith("Run script: ")
                for a in self.landscape.activities.values()
            ),
            "awx": len(self.awx.jobs),
        }

    def holdings(self) -> list[tuple[str, str]]:
        """(plane, what it holds) lines for people, one per object."""
        lines: list[tuple[str, str]] = []
        for app in self.intune.apps.values():
            body = app.body
            groups = (
                ", ".join(f"{_target(a)} ({a.get('intent')})" for a in app.assignments)
                or "no assignment"
            )
            lines.append(
                (
                    "Intune",
                    f"{body.get('displayName')} {body.get('displayVersion', '')}".strip()
                    + f" -> {groups}",
                )
            )
        lines.extend(
            ("Jamf Pro", f"package {package.get('packageName')}")
            for package in self.jamf.packages.values()
        )
        lines.extend(
            ("Jamf Pro", f"policy {policy.get('general', {}).get('name')}")
            for policy in self.jamf.policies.values()
        )
        for application in self.sccm.applications.values():
            deployed = [
                str(a.get("CollectionName"))
                for a in self.sccm.assignments.values()
                if a.get("AssignedCI_UniqueID") == application.get("CI_UniqueID")
            ]
            suffix = f" -> {', '.join(deployed)}" if deployed else ""
            lines.append(
                (
                    "Configuration Manager",
                    f"application {application.get('LocalizedDisplayName')}{suffix}",
                )
            )
        lines.extend(
            (
                "Landscape",
                (
                    f"activity {a.id} {a.summary} (on {len(a.children)} computers:"
                    f" {', '.join(sorted({c.activity_status for c in a.children}))})"
                ),
            )
            for a in self.landscape.activities.values()
            if a.parent_id is None  # the group, not each computer's part
        )
        lines.extend(
            ("AWX", f"job {j.id} of template {j.template.name}: {j.status}, limit {j.limit}")
            for j in self.awx.jobs.values()
        )
        return lines


def _target(assignment: Mapping[str, Any]) -> str:
    target = assignment.get("target")
    if isinstance(target, Mapping):
        return str(target.get("groupId", "?"))
    return "?"
