"""Deterministic generated intents, for property tests and benchmarks.

Each intent is realistic (comments, a folded description, nested maps, lists of maps, quoted versions)
and valid; ``generate_intent_text(i)`` is the same text for the same ``i`` on any machine.
"""

from __future__ import annotations

import hashlib
import random

PLANES = (
    ("windows", "intune", "msi", "msiProductCode"),
    ("macos", "intune", "pkg", "bundleId"),
    ("macos", "jamf", "pkg", "bundleId"),
    ("windows", "sccm", "msi", "msiProductCode"),
    ("linux", "landscape", "deb", "packageVersion"),
    ("linux", "ansible", "playbook", "script"),
)
RING_NAMES = ("lab", "pilot", "early", "broad", "late")


def _guid(rng: random.Random) -> str:
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _target(plane: str, rng: random.Random, index: int) -> str:
    if plane == "intune":
        return _guid(rng)
    if plane == "sccm":
        return f"PS1{index:05X}"
    return f"ring-{index}-{rng.randrange(1000)}"


def _detection(kind: str, i: int, rng: random.Random) -> list[str]:
    if kind == "msiProductCode":
        return ["    type: msiProductCode", f"    productCode: '{{{_guid(rng).upper()}}}'"]
    if kind == "bundleId":
        return ["    type: bundleId", f"    bundleId: com.example.app{i}"]
    if kind == "packageVersion":
        return ["    type: packageVersion", f"    packageName: example-app-{i}"]
    return ["    type: script", "    script: test -f /etc/eucora/applied"]


def generate_intent_text(i: int) -> str:
    """Return the YAML text of generated intent number ``i``."""
    rng = random.Random(i)
    platform, plane, package_type, detection = PLANES[i % len(PLANES)]
    major = rng.randrange(1, 130)
    version = f"{major}.{rng.randrange(10)}.{rng.randrange(10000)}.{rng.randrange(200)}"
    sha = hashlib.sha256(f"package-{i}".encode()).hexdigest()
    ring_count = 2 + i % 3
    devices = 5
    ring_lines: list[str] = []
    for r in range(ring_count):
        devices = devices * (4 + rng.randrange(6))
        ring_lines += [
            f"  - name: {RING_NAMES[r]}",
            f"    target: {_target(plane, rng, i * 10 + r)}",
            f"    devices: {devices}",
            f"    assignment: {'required' if r else 'available'}",
            "    schedule:",
            f"      start: '2027-0{1 + r}-0{1 + r % 8}T08:00:00Z'",
            f"      deadline: '2027-0{1 + r}-1{1 + r % 8}T17:00:00+01:00'",
            "    gate:",
            f"      minSuccessPercent: {90 + r}",
            f"      soak: P{1 + r}D",
            f"      maxFailures: {r * 3}",
        ]
    lines = [
        "# Generated intent for tests and benchmarks.",
        "apiVersion: eucora.dev/v1",
        "kind: DeploymentIntent",
        "metadata:",
        f"  name: example-app-{i}",
        f"  owner: team-endpoint-{i % 7}",
        "  description: >-",
        f"    Example application number {i}, rolled out in {ring_count} rings",
        "    with a promotion gate between each of them.",
        "  labels:",
        f"    cost-center: cc-{i % 13}",
        "    tier: standard",
        "app:",
        f"  name: Example App {i}",
        "  publisher: Example Software Ltd",
        f"  version: '{version}'",
        f"platform: {platform}",
        f"plane: {plane}",
        "package:",
        f"  type: {package_type}",
        f"  url: https://packages.contoso.com/apps/example-{i}/{version}/installer",
        f"  sha256: {sha}",
        f"  sizeBytes: {1000 + rng.randrange(10**8)}",
        "  signed: true",
        "  signer:",
        "    subject: 'CN=Example Software Ltd, O=Example Software Ltd, C=GB'",
        f"  requiresAdmin: {'true' if i % 4 == 0 else 'false'}",
        "  installContext: system",
        "  detection:",
        *_detection(detection, i, rng),
        "rings:",
        *ring_lines,
        "rollback:",
        "  strategy: previous-version",
        f"  previousVersion: '{major - 1}.9.0.0'",
        "evidence:",
        "  testReport: https://ci.contoso.com/reports/example/1",
        "  sbom: https://ci.contoso.com/sbom/example/1.json",
        "  vulnerabilities: {critical: 0, high: 0, medium: 2, low: 5}",
        "change:",
        f"  ticket: CHG{1000000 + i}",
        "  window:",
        "    start: '2027-01-04T08:00:00Z'",
        "    end: '2027-01-04T18:00:00Z'",
    ]
    return "\n".join(lines) + "\n"
