"""Plane-aware checks of an intent's plane settings (``intune:``, ``jamf:``, ``sccm:``; issue 20).

The schema says which settings exist and their shapes; these checks say what a plane would
refuse, or what a device could not install, before anything is published: settings written for
another plane, a Win32 app Intune could not uninstall or detect, return codes that collide, a
group id that is not a GUID, an exclusion of the ring's own group, an assignment filter that is
not named by its id or has no mode, a dependency on the intent itself (or, with the whole
repository at hand, on an intent it lacks or that is not an Intune one), a superseded version
not older, a Jamf trigger that does not exist. Every message says how to fix it. Landscape
(``landscape:``) and Ansible (``ansible:``) have theirs too: a repository source without a
package name, a reboot delay with no reboot, extra vars named like EUCORA's own.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator, Mapping
from typing import Any

from bot.core.planes import PROFILES, Plane
from bot.core.schema import RawFinding
from bot.core.versions import compare_versions

PLANE_SECTIONS: Mapping[str, str] = {
    plane.value: PROFILES[plane].display_name
    for plane in (Plane.INTUNE, Plane.JAMF, Plane.SCCM, Plane.LANDSCAPE, Plane.ANSIBLE)
}
"""The intent sections that hold one plane's settings, by plane name, and the plane's name."""

JAMF_TRIGGERS: Mapping[str, str] = {
    "recurringCheckin": "trigger_checkin",
    "enrollmentComplete": "trigger_enrollment_complete",
    "login": "trigger_login",
    "logout": "trigger_logout",
    "startup": "trigger_startup",
    "networkStateChange": "trigger_network_state_changed",
}
"""The Jamf policy triggers an intent names, and the Classic policy element each one sets."""

WIN32_ONLY = (
    "requirements",
    "returnCodes",
    "restartBehavior",
    "maxRunTimeMinutes",
    "dependencies",
    "supersedes",
)
MACOS_ONLY = ("bundles", "ignoreVersionDetection", "installAsManaged")
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_MSI_TYPES = frozenset({"msi", "intunewin"})
INTUNE_PACKAGE_FIELDS = ("setupFile", "setupFolder", "architectures", "msi")
"""``package`` fields only an Intune Win32 app has (the schema's descriptions say so)."""
_SCCM_DETECTIONS = frozenset({"msiProductCode", "file", "registry", "script"})
_HIVES = frozenset(
    {"HKEY_LOCAL_MACHINE", "HKEY_CURRENT_USER", "HKEY_CLASSES_ROOT", "HKEY_USERS",
     "HKEY_CURRENT_CONFIG"}
)  # fmt: skip


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _rings(intent: Mapping[str, Any]) -> list[tuple[int, Mapping[str, Any]]]:
    return [(i, r) for i, r in enumerate(_list(intent.get("rings"))) if isinstance(r, dict)]


def check_plane_sections(intent: Mapping[str, Any]) -> Iterator[RawFinding]:
    """Settings sit in the section of the plane the intent publishes through, not another's."""
    plane = intent.get("plane")
    if not isinstance(plane, str):
        return
    known = {profile.name: profile.display_name for profile in PROFILES.values()}
    title = known.get(plane, plane)
    places = [("", intent)] + [(f"/rings/{i}", ring) for i, ring in _rings(intent)]
    for where, holder in places:
        for section, owner in PLANE_SECTIONS.items():
            if section in holder and section != plane:
                yield RawFinding(
                    f"{where}/{section}",
                    "intent.plane-settings",
                    f"`{section}:` holds {owner} settings, but this intent publishes through"
                    f" {title} (plane: {plane}), which has none of them: move what {title} offers"
                    f" under `{plane}:` (see docs/intents.md, 'Plane settings') or remove the"
                    f" section",
                )


def check_intune_settings(intent: Mapping[str, Any]) -> Iterator[RawFinding]:
    """Intune: Win32 and macOS fields on the right platform, commands, detection, codes, ids."""
    if intent.get("plane") != "intune":
        return
    settings = _mapping(intent.get("intune"))
    platform = intent.get("platform")
    wrong = MACOS_ONLY if platform == "windows" else WIN32_ONLY if platform == "macos" else ()
    for key in wrong:
        if key in settings:
            kind = "a macOS app" if key in MACOS_ONLY else "a Win32 app"
            yield RawFinding(
                f"/intune/{key}",
                "intune.platform-setting",
                f"intune.{key} is a setting of {kind}, and this intent's platform is {platform}:"
                " remove it",
            )
    yield from check_intune_package(intent)
    yield from _return_codes(settings.get("returnCodes"), "/intune/returnCodes", "intune")
    yield from _intune_relationships(intent, settings)
    targets = {r.get("target"): r.get("name") for _, r in _rings(intent)}
    for index, ring in _rings(intent):
        ring_settings = _mapping(ring.get("intune"))
        where = f"/rings/{index}/intune"
        for position, group in enumerate(_list(ring_settings.get("excludeGroups"))):
            yield from _excluded_group(group, ring, targets, f"{where}/excludeGroups/{position}")
        if isinstance(ring_settings.get("filter"), dict):
            yield from _assignment_filter(ring_settings["filter"], f"{where}/filter")


def check_intune_package(intent: Mapping[str, Any]) -> Iterator[RawFinding]:
    """What :func:`check_intune_settings` finds without any ``intune:`` section.

    That is: a Win32 app's detection rule and uninstall command (in ``package``).
    """
    if intent.get("plane") == "intune" and intent.get("platform") == "windows":
        yield from _win32_commands(intent)


def _assignment_filter(given: Mapping[str, Any], where: str) -> Iterator[RawFinding]:
    """An assignment filter is named by its id (a GUID) and says include or exclude."""
    filter_id = given.get("id")
    if isinstance(filter_id, str) and not _GUID.fullmatch(filter_id):
        yield RawFinding(
            f"{where}/id",
            "intune.filter-id",
            f"assignment filter {filter_id!r} is not a filter id (a GUID): copy the filter's ID"
            " from Tenant administration > Filters (its name is not accepted)",
        )
    if "mode" not in given:
        yield RawFinding(
            where,
            "intune.filter-mode",
            "an assignment filter needs a mode: `mode: include` (only the group's devices the"
            " filter matches) or `mode: exclude` (all but those)",
            at_key=True,
        )


def _intune_relationships(
    intent: Mapping[str, Any], settings: Mapping[str, Any]
) -> Iterator[RawFinding]:
    """No dependency on the intent itself; supersedence of an older version."""
    own_name = _mapping(intent.get("metadata")).get("name")
    for index, dependency in enumerate(_list(settings.get("dependencies"))):
        if _mapping(dependency).get("intent") == own_name:
            yield RawFinding(
                f"/intune/dependencies/{index}/intent",
                "intune.dependency",
                f"intent {own_name} depends on itself: a dependency names another intent (an app"
                " that must be on the device first); for an earlier version use intune.supersedes",
            )
    yield from _superseded_older(intent, _mapping(settings.get("supersedes")), "intune", "an app")


def _superseded_older(
    intent: Mapping[str, Any], supersedes: Mapping[str, Any], plane: str, noun: str
) -> Iterator[RawFinding]:
    """``<plane>.supersedes.version`` is older than the app's own version."""
    version = supersedes.get("version")
    own = _mapping(intent.get("app")).get("version")
    if isinstance(version, str) and isinstance(own, str):
        order = compare_versions(version, own)
        if order is not None and order <= 0:
            yield RawFinding(
                f"/{plane}/supersedes/version",
                f"{plane}.supersedes",
                f"{plane}.supersedes names version {version}, which is not older than this"
                f" app's {own}: {noun} supersedes an earlier version, usually"
                " rollback.previousVersion",
            )


def intune_dependencies(
    intents: Mapping[str, Mapping[str, Any]],
) -> Iterator[tuple[str, RawFinding]]:
    """(intent name, finding) for each Intune dependency on an intent not among ``intents``.

    ``intents`` are every intent of the repository by name; run only when the whole repository
    is at hand (else the connector refuses a dependency it cannot find on Intune at plan time).
    """
    for name, intent in intents.items():
        if intent.get("plane") != "intune":
            continue
        dependencies = _list(_mapping(intent.get("intune")).get("dependencies"))
        for index, dependency in enumerate(dependencies):
            wanted = _mapping(dependency).get("intent")
            if not isinstance(wanted, str) or wanted == name:
                continue
            where = f"/intune/dependencies/{index}/intent"
            if wanted in intents:
                plane = intents[wanted].get("plane")
                if plane != "intune":
                    yield (
                        name,
                        RawFinding(
                            where,
                            "intune.dependency",
                            f"intent {name} depends on intent {wanted!r}, which publishes through"
                            f" {plane}, not Intune: an Intune app can depend only on another"
                            " Intune app; publish that intent through Intune, or remove the"
                            " dependency",
                        ),
                    )
                continue
            close = difflib.get_close_matches(wanted, list(intents), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            yield (
                name,
                RawFinding(
                    where,
                    "intune.dependency",
                    f"intent {name} depends on intent {wanted!r}, which is not in this"
                    f" repository{hint}: add that intent (it is published first), or remove the"
                    " dependency",
                ),
            )


def _excluded_group(
    group: object, ring: Mapping[str, Any], targets: Mapping[Any, Any], where: str
) -> Iterator[RawFinding]:
    if not isinstance(group, str):
        return
    if not _GUID.fullmatch(group):
        yield RawFinding(
            where,
            "intune.group-id",
            f"excluded group {group!r} is not an Entra ID group object id (a GUID): copy the"
            " group's Object ID from Entra ID > Groups",
        )
    elif group == ring.get("target"):
        yield RawFinding(
            where,
            "intune.exclude-own-group",
            f"ring {ring.get('name')!r} excludes its own group {group}, so it would reach no"
            " device: remove the exclusion, or target another group",
        )
    elif group in targets:
        yield RawFinding(
            where,
            "intune.exclude-own-group",
            f"group {group} is ring {targets[group]!r}'s target; Intune applies an exclusion to"
            " every assignment of the app, so that ring would reach no device: remove the"
            " exclusion",
        )


def _win32_commands(intent: Mapping[str, Any]) -> Iterator[RawFinding]:
    package = _mapping(intent.get("package"))
    kind = package.get("type")
    if not isinstance(kind, str):
        return
    detection = package.get("detection")
    # A Win32 app without any detection rule is refused by the connector at publish time; it is
    # not a finding here yet, as it would change the findings of intents already in repositories.
    if isinstance(detection, dict) and detection.get("type") not in {
        "msiProductCode", "file", "registry", "script"
    }:  # fmt: skip
        yield RawFinding(
            "/package/detection/type",
            "intune.win32-detection",
            f"detection {detection.get('type')!r} is not a Win32 detection rule: use"
            " msiProductCode, file, registry or script",
        )
    msi_code = _mapping(package.get("msi")).get("productCode") or (
        _mapping(detection).get("productCode")
    )
    if package.get("uninstallCommand") or kind in _MSI_TYPES or msi_code:
        return
    setup = str(package.get("setupFile") or "")
    if setup.lower().endswith(".msi"):
        return
    yield RawFinding(
        "/package",
        "intune.win32-uninstall",
        "a Win32 app needs package.uninstallCommand: Intune runs it for uninstall assignments"
        " and rollbacks, and EUCORA derives one only for an MSI (msiexec /x {productCode})",
    )


def _return_codes(codes: object, where: str, plane: str) -> Iterator[RawFinding]:
    seen: dict[int, int] = {}
    for index, entry in enumerate(_list(codes)):
        code = _mapping(entry).get("code")
        if not isinstance(code, int) or isinstance(code, bool):
            continue
        if code in seen:
            yield RawFinding(
                f"{where}/{index}/code",
                f"{plane}.return-codes",
                f"return code {code} is listed twice (first as item {seen[code] + 1}): a code"
                " has one meaning; keep one entry",
            )
        else:
            seen[code] = index


def check_jamf_settings(intent: Mapping[str, Any]) -> Iterator[RawFinding]:
    """Jamf: triggers that exist, no exclusion of the ring's own group."""
    if intent.get("plane") != "jamf":
        return
    settings = _mapping(intent.get("jamf"))
    for index, trigger in enumerate(_list(settings.get("triggers"))):
        if isinstance(trigger, str) and trigger not in JAMF_TRIGGERS:
            close = difflib.get_close_matches(trigger, list(JAMF_TRIGGERS), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            yield RawFinding(
                f"/jamf/triggers/{index}",
                "jamf.trigger",
                f"Jamf Pro has no policy trigger {trigger!r}{hint}: use one of"
                f" {', '.join(JAMF_TRIGGERS)}, or jamf.customEvent for a custom event",
            )
    for index, ring in _rings(intent):
        for position, group in enumerate(_list(_mapping(ring.get("jamf")).get("excludeGroups"))):
            if group == ring.get("target"):
                yield RawFinding(
                    f"/rings/{index}/jamf/excludeGroups/{position}",
                    "jamf.exclude-own-group",
                    f"ring {ring.get('name')!r} excludes its own computer group {group!r}, so its"
                    " policy would reach no computer: remove the exclusion",
                )


def check_sccm_settings(intent: Mapping[str, Any]) -> Iterator[RawFinding]:
    """Configuration Manager: return codes, detection, supersedence of an older version."""
    if intent.get("plane") != "sccm":
        return
    settings = _mapping(intent.get("sccm"))
    yield from _return_codes(settings.get("returnCodes"), "/sccm/returnCodes", "sccm")
    detection = _mapping(_mapping(intent.get("package")).get("detection"))
    kind = detection.get("type")
    if isinstance(kind, str) and kind not in _SCCM_DETECTIONS:
        yield RawFinding(
            "/package/detection/type",
            "sccm.detection",
            f"Configuration Manager has no {kind!r} detection method: use msiProductCode, file,"
            " registry or script",
        )
    key = detection.get("key")
    if kind == "registry" and isinstance(key, str) and key.split("\\", 1)[0] not in _HIVES:
        yield RawFinding(
            "/package/detection/key",
            "sccm.detection",
            f"registry key {key!r} does not start with a hive Configuration Manager names: write"
            f" the full hive, e.g. HKEY_LOCAL_MACHINE\\SOFTWARE\\..., not HKLM\\...",
        )
    yield from _sccm_supersedes(intent, settings)
    package = _mapping(intent.get("package"))
    for key in INTUNE_PACKAGE_FIELDS:
        if key in package:
            instead = (
                ": give the platforms in sccm.requirements.operatingSystems (each names its"
                " architecture)"
                if key == "architectures"
                else ": remove it"
            )
            yield RawFinding(
                f"/package/{key}",
                "sccm.intune-setting",
                f"package.{key} is a setting of an Intune Win32 app, which Configuration Manager"
                f" does not have{instead}",
                at_key=True,
            )


def _sccm_supersedes(
    intent: Mapping[str, Any], settings: Mapping[str, Any]
) -> Iterator[RawFinding]:
    supersedes = _mapping(settings.get("supersedes"))
    yield from _superseded_older(intent, supersedes, "sccm", "an application")
    if supersedes:
        return
    for index, ring in _rings(intent):
        if _mapping(ring.get("sccm")).get("updateSupersedence"):
            yield RawFinding(
                f"/rings/{index}/sccm/updateSupersedence",
                "sccm.supersedes",
                f"ring {ring.get('name')!r} upgrades superseded versions, but the app supersedes"
                " none: add sccm.supersedes (the earlier version), or remove updateSupersedence",
            )


NOT_IN_API: Mapping[tuple[str, bool, str], str] = {
    ("sccm", False, "dependencies"): (
        "Configuration Manager dependencies name other applications' deployment types, which"
        " EUCORA does not send yet: add them in the console (Deployment Type > Dependencies)"
    ),
}
"""Settings a plane's console has but EUCORA cannot send, by (plane, in a ring, key)."""


def check_settings_not_in_api(intent: Mapping[str, Any]) -> Iterator[RawFinding]:
    """A console setting EUCORA cannot send says why and where to set it (the schema refuses it)."""
    plane = intent.get("plane")
    if not isinstance(plane, str):
        return
    places = [("", False, intent)] + [(f"/rings/{i}", True, r) for i, r in _rings(intent)]
    for where, in_ring, holder in places:
        for key in _mapping(holder.get(plane)):
            reason = NOT_IN_API.get((plane, in_ring, key))
            if reason:
                yield RawFinding(
                    f"{where}/{plane}/{key}",
                    f"{plane}.not-in-api",
                    f"{PLANE_SECTIONS[plane]}: {reason}",
                    at_key=True,
                )
    rules = _mapping(_mapping(intent.get("sccm")).get("requirements")).get("rules")
    if plane == "sccm" and rules is not None:
        yield RawFinding(
            "/sccm/requirements/rules",
            "sccm.not-in-api",
            "Configuration Manager: file, registry and script requirements are custom global"
            " conditions (SMS_GlobalCondition), which EUCORA does not create: create the global"
            " condition and the requirement in the console, or use operatingSystems,"
            " minimumFreeDiskSpaceMB and minimumMemoryMB",
            at_key=True,
        )


def check_landscape_settings(intent: Mapping[str, Any]) -> Iterator[RawFinding]:
    """Landscape: a repository source names a deb package; a reboot delay needs a reboot."""
    if intent.get("plane") != "landscape":
        return
    settings = _mapping(intent.get("landscape"))
    kind = _mapping(intent.get("package")).get("type")
    if settings.get("source") == "repository":
        if not settings.get("packageName"):
            yield RawFinding(
                "/landscape",
                "landscape.package-name",
                "landscape.source is repository, so Landscape needs landscape.packageName: the"
                " Debian package name the computers' APT repositories hold (e.g. osquery)",
            )
        if kind != "deb":
            yield RawFinding(
                "/landscape/source",
                "landscape.source",
                f"landscape.source repository installs a deb package from APT, and"
                f" package.type is {kind!r}: use source download, or package.type deb",
            )
    elif "packageName" in settings:
        yield RawFinding(
            "/landscape/packageName",
            "landscape.package-name",
            "landscape.packageName is used only with landscape.source: repository (a download"
            " installs package.url): add source: repository, or remove packageName",
        )
    places = [("/landscape", settings, "never")] + [
        (f"/rings/{i}/landscape", _mapping(r.get("landscape")), settings.get("reboot", "never"))
        for i, r in _rings(intent)
    ]
    for where, section, inherited in places:
        if section.get("rebootDelayMinutes") and section.get("reboot", inherited) != "afterInstall":
            yield RawFinding(
                f"{where}/rebootDelayMinutes",
                "landscape.reboot-delay",
                "rebootDelayMinutes delays a restart, and this ring does not restart"
                " (reboot: never): set reboot: afterInstall, or remove the delay",
            )


def check_ansible_settings(intent: Mapping[str, Any]) -> Iterator[RawFinding]:
    """Ansible: extra vars that are not EUCORA's own."""
    if intent.get("plane") != "ansible":
        return
    extra = _mapping(_mapping(intent.get("ansible")).get("extraVars"))
    for name in extra:
        if str(name).startswith("eucora_"):
            yield RawFinding(
                f"/ansible/extraVars/{name}",
                "ansible.extra-vars",
                f"ansible.extraVars.{name}: names starting eucora_ are EUCORA's own (the"
                " change's intent, version, ring and evidence digest, sent with every launch):"
                " rename the variable",
            )


PLANE_SETTINGS_CHECKS = (
    check_plane_sections,
    check_intune_settings,
    check_jamf_settings,
    check_sccm_settings,
    check_settings_not_in_api,
    check_landscape_settings,
    check_ansible_settings,
)
"""Added to :data:`bot.core.semantics.INTENT_CHECKS`."""
