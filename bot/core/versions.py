"""Ordering application versions, semantic and vendor-style alike.

Vendors rarely follow semantic versioning: Chrome ships ``124.0.6367.91``, 7-Zip ``23.01``, Debian
packages ``24.08-1``. The rule used here, documented in ``docs/intents.md``:

* a leading ``v`` is ignored, and so is ``+build`` metadata (as in SemVer);
* the release is any number of dot-separated integers, compared numerically, missing parts
  counting as zero (``1.2`` equals ``1.2.0``; ``23.01`` is 23.1, and ``23.10`` is newer);
* a ``-suffix`` that starts with a letter is a pre-release (``2.0.0-rc.1`` is older than
  ``2.0.0``), its dot-separated parts compared as SemVer does; a ``-suffix`` that starts with a
  digit is a package revision (``24.08-1`` is newer than ``24.08``), compared numerically;
* anything else (``115.0esr``, ``2024.10 build 7``) cannot be ordered: comparisons return ``None``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_VERSION = re.compile(
    r"^v?(?P<release>[0-9]+(?:\.[0-9]+)*)(?:-(?P<suffix>[0-9A-Za-z][0-9A-Za-z.-]*))?(?:\+[0-9A-Za-z.-]+)?$"
)


@dataclass(frozen=True, slots=True)
class Version:
    """A parsed, orderable version."""

    text: str
    release: tuple[int, ...]
    prerelease: tuple[int | str, ...] = ()
    revision: tuple[int, ...] = ()

    @property
    def major(self) -> int:
        """The first release number."""
        return self.release[0]


def parse_version(text: str) -> Version | None:
    """Parse a version string, or return ``None`` when it cannot be ordered."""
    match = _VERSION.match(text.strip())
    if match is None:
        return None
    release = tuple(int(p) for p in match["release"].split("."))
    suffix = match["suffix"]
    if suffix is None:
        return Version(text=text, release=release)
    if suffix[0].isdigit():
        parts = suffix.replace("-", ".").split(".")
        if not all(p.isdigit() for p in parts):
            return None
        return Version(text=text, release=release, revision=tuple(int(p) for p in parts))
    pre = tuple(int(p) if p.isdigit() else p for p in suffix.split("."))
    return Version(text=text, release=release, prerelease=pre)


def _release_key(release: tuple[int, ...], width: int) -> tuple[int, ...]:
    return release + (0,) * (width - len(release))


def _pre_key(pre: tuple[int | str, ...]) -> tuple[tuple[int, int | str], ...]:
    # SemVer 2.0 §11: numeric identifiers sort before alphanumeric ones.
    return tuple((0, p) if isinstance(p, int) else (1, p) for p in pre)


def compare_versions(old: str, new: str) -> int | None:
    """Return -1, 0 or 1 as ``new`` is older, equal or newer than ``old``; ``None``: unorderable."""
    a, b = parse_version(old), parse_version(new)
    if a is None or b is None:
        return None
    width = max(len(a.release), len(b.release))
    ka, kb = _release_key(a.release, width), _release_key(b.release, width)
    if ka != kb:
        return 1 if kb > ka else -1
    if a.prerelease != b.prerelease:
        if not a.prerelease:
            return -1
        if not b.prerelease:
            return 1
        return 1 if _pre_key(b.prerelease) > _pre_key(a.prerelease) else -1
    if a.revision != b.revision:
        return 1 if b.revision > a.revision else -1
    return 0
