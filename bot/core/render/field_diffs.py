"""A changed intent's field diffs read for people: a field's values, devices reached, leaves."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from bot.core.render.formatting import _plural, _value

MINUS = "\N{MINUS SIGN}"


def _resolve(value: Any, tokens: Sequence[str]) -> Any:
    for token in tokens:
        if isinstance(value, dict):
            value = value.get(token)
        elif isinstance(value, list) and token.isdigit() and int(token) < len(value):
            value = value[int(token)]
        else:
            return None
    return value


def _tokens(pointer: str) -> list[str]:
    return [t.replace("~1", "/").replace("~0", "~") for t in pointer.split("/")[1:]]


def _field(diffs: Sequence[Mapping[str, Any]], pointer: str) -> tuple[Any, Any] | None:
    """Old and new value of a field, from its diff or an ancestor's; None when unchanged."""
    wanted = _tokens(pointer)
    for diff in diffs:
        have = _tokens(str(diff["path"]))
        if wanted[: len(have)] == have:
            rest = wanted[len(have) :]
            return _resolve(diff["old"], rest), _resolve(diff["new"], rest)
    return None


_RING = re.compile(r"^/rings/[0-9]+$")
_RING_DEVICES = re.compile(r"^/rings/[0-9]+/devices$")


def _devices(value: Any, pointer: str) -> tuple[int, int]:
    """Devices and rings under a diffed value, by where it sits in the intent."""
    if pointer == "":
        rings = value.get("rings") if isinstance(value, dict) else None
    elif pointer == "/rings":
        rings = value
    elif _RING.match(pointer):
        rings = [value] if value is not None else []
    elif _RING_DEVICES.match(pointer):
        count = value if isinstance(value, int) and not isinstance(value, bool) else 0
        return count, 0
    else:
        return 0, 0
    if not isinstance(rings, list):
        return 0, 0
    devices = [r.get("devices") for r in rings if isinstance(r, dict)]
    total = sum(d for d in devices if isinstance(d, int) and not isinstance(d, bool))
    return total, len(rings)


def _devices_text(change: Mapping[str, Any]) -> str:
    """Devices reached before → after (added, deleted) or the change in devices (modified)."""
    old_devices = new_devices = old_rings = new_rings = 0
    for diff in change["fieldDiffs"]:
        devices, rings = _devices(diff["old"], str(diff["path"]))
        old_devices, old_rings = old_devices + devices, old_rings + rings
        devices, rings = _devices(diff["new"], str(diff["path"]))
        new_devices, new_rings = new_devices + devices, new_rings + rings
    kind = change["kind"]
    if kind == "added" and new_rings:
        return f"0 → {new_devices:,} ({_plural(new_rings, 'ring')})"
    if kind == "deleted" and old_rings:
        return f"{old_devices:,} → 0 ({_plural(old_rings, 'ring')})"
    delta, ring_delta = new_devices - old_devices, new_rings - old_rings
    if delta == 0 and ring_delta == 0:
        return "—"
    text = f"{delta:+,}".replace("-", MINUS)
    if ring_delta:
        text += f" ({ring_delta:+} ring{'s' if abs(ring_delta) != 1 else ''})".replace("-", MINUS)
    return text


def _leaves(value: Any, pointer: str) -> list[tuple[str, Any]]:
    if isinstance(value, dict) and value:
        items: list[tuple[str, Any]] = [
            (str(k).replace("~", "~0").replace("/", "~1"), v) for k, v in sorted(value.items())
        ]
    elif isinstance(value, list) and value:
        items = [(str(i), v) for i, v in enumerate(value)]
    else:
        return [(pointer, value)]
    return [leaf for key, item in items for leaf in _leaves(item, f"{pointer}/{key}")]


def _same(leaf: str, path: str, line: Any) -> Any:
    """The diff's line belongs to its own path only, not to the leaves under it."""
    return line if leaf == path else None


def _flat_diffs(diffs: Sequence[Mapping[str, Any]]) -> list[tuple[str, Any, Any, Any]]:
    """Field diffs at the leaves: an added or removed object shows field by field.

    Its leaves get no line: the pack has the line of the object only.
    """
    out: list[tuple[str, Any, Any, Any]] = []
    for diff in diffs:
        path, old, new, line = str(diff["path"]), diff["old"], diff["new"], diff.get("line")
        if old is None and isinstance(new, dict | list):
            out.extend((p, None, v, _same(p, path, line)) for p, v in _leaves(new, path))
        elif new is None and isinstance(old, dict | list):
            out.extend((p, v, None, _same(p, path, line)) for p, v in _leaves(old, path))
        else:
            out.append((path, old, new, line))
    return out


def _summary(intent: Any) -> str:
    """One line for a whole intent: app, version, platform, plane and rings."""
    if not isinstance(intent, dict):
        return _value(intent)
    app_value, rings_value = intent.get("app"), intent.get("rings")
    app: dict[str, Any] = app_value if isinstance(app_value, dict) else {}
    rings: list[Any] = rings_value if isinstance(rings_value, list) else []
    ring_text = " → ".join(
        f"{r.get('name')} {r.get('devices')}" for r in rings if isinstance(r, dict)
    )
    return (
        f"{app.get('name')} {app.get('version')}, {intent.get('platform')} via "
        f"{intent.get('plane')}: {ring_text}"
    )
