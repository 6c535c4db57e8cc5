"""The files of a new intents repository (``eucora init``): pure templates, no I/O.

``scaffold`` returns every file as its repository path and text: ``eucora.yaml``, one intent per
plane asked for, a policy with its test, and the schemas' place for editors. Each YAML file's
first line points the editor's YAML language server at the schema copied into the repository
(``SCHEMA_DIR``) by a path relative to the file itself, so completion and checks work offline
and never point outside the repository. Everything written validates without findings, and the
policy test passes (``tests/entrypoints/test_init.py``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

SCHEMA_DIR = ".eucora-schemas"
"""Where ``eucora init`` and ``eucora schema export`` put the schemas, from the repository root."""

CONFIG_SCHEMA = "eucora-config.schema.json"
INTENT_SCHEMA = "deployment-intent.schema.json"
POLICY_SCHEMA = "policy.schema.json"
POLICY_TEST_SCHEMA = "policy-test.schema.json"
WORKFLOW_PATH = ".github/workflows/eucora.yml"


@dataclass(frozen=True, slots=True)
class Rings:
    """A lab ring and a broad ring: what the plane's targets look like, and how many devices."""

    comment: str
    lab: str
    lab_devices: int
    broad: str
    broad_devices: int


@dataclass(frozen=True, slots=True)
class PlaneIntent:
    """The example intent of one plane: where it goes, its download host, its text and rings."""

    path: str
    host: str
    body: str
    rings: Rings


_RINGS = """rings:
  # {comment}
  - name: lab
    target: {lab}
    devices: {lab_devices}
    assignment: required
    schedule:
      start: "2027-03-02T09:00:00+01:00"
      deadline: "2027-03-03T17:00:00+01:00"
    gate:
      minSuccessPercent: 100
      soak: P2D
      maxFailures: 0
  - name: broad
    target: {broad}
    devices: {broad_devices}
    assignment: required
    schedule:
      start: "2027-03-08T09:00:00+01:00"
      deadline: "2027-03-12T17:00:00+01:00"
"""


def schema_line(path: str, schema: str, schema_dir: str = SCHEMA_DIR) -> str:
    """The editor's schema comment for the file at ``path``: a path relative to that file."""
    depth = path.count("/")  # ``path`` and ``schema_dir`` are relative to the repository root
    return f"# yaml-language-server: $schema={'../' * depth}{schema_dir}/{schema}\n"


_INTENT_HEAD = """apiVersion: eucora.dev/v1
kind: DeploymentIntent
"""

_TAIL = """evidence:
  testReport: https://wiki.example.com/euc/test-reports/{name}
  sbom: https://artifacts.example.com/sbom/{name}.cdx.json
  vulnerabilities:
    critical: 0
    high: 0
    medium: 0
    low: 0
change:
  ticket: CHG0010001
  window:
    start: "2027-03-01T08:00:00+01:00"
    end: "2027-03-19T18:00:00+01:00"
"""

PLANES: Mapping[str, PlaneIntent] = {
    "intune": PlaneIntent(
        "intents/windows/google-chrome.yaml",
        "dl.google.com",
        """# Google Chrome Enterprise (64-bit MSI) for Windows, through Intune.
metadata:
  name: google-chrome
  owner: desktop-team
app:
  name: Google Chrome
  publisher: Google LLC
  version: "131.0.6778.86"
platform: windows
plane: intune
package:
  type: msi
  url: https://dl.google.com/dl/chrome/install/googlechromestandaloneenterprise64.msi
  # lower-case hex: Get-FileHash prints upper case, lower-case it
  sha256: "8db32f793ae959d6a2915775629641aad218d0d037adfe15588802bda1dfe681"
  signed: true
  signer:
    thumbprint: 2673EA6CC23BEFFDA49AC715B121544098A1284C
  requiresAdmin: true
  installContext: system
  detection:
    type: file
    path: C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe
    fileVersion: "131.0.6778.86"
{rings}rollback:
  strategy: previous-version
  previousVersion: "130.0.6723.117"
""",
        Rings(
            "Intune targets are Entra ID group object ids (Object ID in the Entra admin center).",
            '"6513270e-269e-4d37-b2a7-4de452e6b438"   # EUC-Lab-Windows',
            10,
            '"36f675cc-81e7-4ef5-a8e2-5d940ed90475"   # All-Managed-Windows',
            900,
        ),
    ),
    "jamf": PlaneIntent(
        "intents/macos/zoom.yaml",
        "zoom.us",
        """# Zoom Workplace for macOS (IT installer), through Jamf Pro.
metadata:
  name: zoom-macos
  owner: desktop-team
app:
  name: Zoom Workplace
  publisher: Zoom Video Communications, Inc.
  version: "6.2.11.43613"
platform: macos
plane: jamf
package:
  type: pkg
  url: https://zoom.us/client/6.2.11.43613/ZoomInstallerIT.pkg
  sha256: "b988a44fe7aeb16576f850770eec5f80c9b415d515530d1284fd5da775742a75"
  signed: true
  signer:
    teamId: BJ4HAAB9B3
  requiresAdmin: true
  installContext: system
  detection:
    type: bundleId
    bundleId: us.zoom.xos
{rings}rollback:
  strategy: previous-version
  previousVersion: "6.2.10.43047"
""",
        Rings(
            "Jamf Pro computer groups, by name.",
            "EUC Lab Macs",
            6,
            "All Managed Macs",
            350,
        ),
    ),
    "sccm": PlaneIntent(
        "intents/windows/7-zip.yaml",
        "www.7-zip.org",
        """# 7-Zip x64 MSI for Windows, through Configuration Manager.
metadata:
  name: 7-zip
  owner: desktop-team
app:
  name: 7-Zip
  publisher: Igor Pavlov
  version: "24.08"
platform: windows
plane: sccm
package:
  type: msi
  url: https://www.7-zip.org/a/7z2408-x64.msi
  sha256: "c2496d402cb893a306a3aaff0da76c9e4108f71afb42826b2c5d34c7312cbc1c"
  signed: true
  signer:
    subject: CN=Igor Pavlov
  requiresAdmin: true
  installContext: system
  detection:
    type: msiProductCode
    productCode: "{23170F69-40C1-2702-2408-000001000000}"
{rings}rollback:
  strategy: previous-version
  previousVersion: "24.07"
""",
        Rings(
            "Configuration Manager collection ids: site code + 5 hex digits.",
            "PS100012",
            10,
            "PS100015",
            900,
        ),
    ),
    "landscape": PlaneIntent(
        "intents/linux/osquery.yaml",
        "pkg.osquery.io",
        """# osquery agent for Ubuntu workstations, through Canonical Landscape.
metadata:
  name: osquery-linux
  owner: secops-endpoint
app:
  name: osquery
  publisher: osquery project (Linux Foundation)
  version: "5.14.1-1"
platform: linux
plane: landscape
package:
  type: deb
  url: https://pkg.osquery.io/deb/osquery_5.14.1-1.linux_amd64.deb
  sha256: "5ad9c7925e0ce6ed9669bdb3d47fdfe944a3ac4aaaa88b723fba74d6bb1db289"
  signed: true
  requiresAdmin: true
  installContext: system
  detection:
    type: packageVersion
    packageName: osquery
{rings}rollback:
  strategy: previous-version
  previousVersion: "5.13.1-1"
""",
        Rings(
            "Landscape tags.",
            "euc-lab",
            5,
            "linux-workstations",
            300,
        ),
    ),
    "ansible": PlaneIntent(
        "intents/linux/cis-hardening.yaml",
        "artifacts.example.com",
        """# CIS Ubuntu 24.04 Level 1 workstation hardening, as an Ansible playbook run by AWX.
metadata:
  name: cis-ubuntu-2404-l1
  owner: secops-endpoint
app:
  name: CIS Ubuntu 24.04 Level 1 hardening
  publisher: Example Security Engineering
  version: "1.3.0"
platform: linux
plane: ansible
package:
  type: playbook
  url: https://artifacts.example.com/ansible/cis-ubuntu-2404/cis-ubuntu-2404-1.3.0.tar.gz
  sha256: "8910ab9977c5cdfe9715ac59f9382967ec225202471647cc7c386196e22d2076"
  signed: true
  requiresAdmin: true
  installContext: system
{rings}rollback:
  strategy: manual
  notes: Re-run the playbook at 1.2.0 with --tags rollback.
""",
        Rings(
            "Ansible inventory limits (host patterns).",
            "ws_lab",
            5,
            '"ws_broad"',
            300,
        ),
    ),
}

_CONFIG = """#
# EUCORA settings. EUCORA reads this file from the pull request's BASE revision: a change here
# takes effect once reviewed and merged. Reference: https://eucora.dev/docs/reference/eucora-yaml
apiVersion: eucora.dev/v1
kind: EucoraConfig

cab:
  # Members of these GitHub teams approve changes (organization/team-slug).
  teams:
    - {organization}/cab

risk:
  approvals:
    low: 0
    medium: 1
    high: 2
    critical: 2

# Package URLs must point at one of these hosts (https only).
packageHosts:
{hosts}
paths:
  intents: intents
  policies: policies
"""

_POLICY = """#
# This repository's own rules, evaluated on top of EUCORA's default pack. Conditions are CEL over
# `intent`, `base` (the intent at the PR's base, or null), `facts` and `config` (eucora.yaml).
apiVersion: eucora.dev/v1
kind: PolicyPack
metadata:
  name: local
  description: Rules of this repository.
rules:
  - id: local.broad-ring-needs-ticket
    description: >-
      A rollout beyond its first ring references a change ticket, so the service desk can match
      incidents to it.
    when: >-
      size(intent.rings) > 1 && !(has(intent.change) && has(intent.change.ticket))
    # Where the finding is shown: the first of these fields the intent has (docs/policies.md).
    at: [/change/ticket, /change, /rings/1]
    deny:
      message: >-
        {{{{ intent.metadata.name }}}} rolls out to {{{{ size(intent.rings) }}}} rings; add
        change.ticket (e.g. CHG0012345).
"""

_POLICY_TEST = """#
# Run with `eucora policy test policies`.
apiVersion: eucora.dev/v1
kind: PolicyTest
metadata:
  name: local rules
policies: [../local.yaml]
includeDefaultPack: false
config: ../../eucora.yaml
now: "2027-02-17T10:00:00+01:00"
cases:
  - name: the {name} rollout as committed passes
    intent: ../../{intent}
    expect:
      allowed: true
      notMatch: [local.broad-ring-needs-ticket]
  - name: a rollout past its first ring without a change ticket is denied
    intent: cases/no-ticket.yaml
    expect:
      deny: [local.broad-ring-needs-ticket]
      allowed: false
"""


def _intent(plane: PlaneIntent) -> str:
    name = plane.body.split("  name: ", 1)[1].split("\n", 1)[0]
    comment, body = plane.body.split("\n", 1)
    rings = plane.rings
    body = body.replace(
        "{rings}",
        _RINGS.format(
            comment=rings.comment,
            lab=rings.lab,
            lab_devices=rings.lab_devices,
            broad=rings.broad,
            broad_devices=rings.broad_devices,
        ),
    )
    return f"#\n{comment}\n{_INTENT_HEAD}{body}{_TAIL.format(name=name)}"


def _without_ticket(text: str) -> str:
    head, _, change = text.partition("change:\n")
    return head + "change:\n" + change.replace("  ticket: CHG0010001\n", "", 1)


def scaffold(
    planes: Iterable[str], *, organization: str = "my-org", workflow: str | None = None
) -> dict[str, str]:
    """Every file of a new repository, by its path: one intent per plane (in the order given).

    ``workflow`` is the example workflow's text (``examples/workflows/eucora.yml``), written to
    ``.github/workflows/eucora.yml`` when given. Raises ``ValueError`` for an unknown plane.
    """
    chosen = list(dict.fromkeys(planes)) or ["intune"]
    unknown = [p for p in chosen if p not in PLANES]
    if unknown:
        raise ValueError(f"unknown plane {unknown[0]!r}: choose from {', '.join(PLANES)}")
    files: dict[str, str] = {}
    hosts = "".join(f"  - {PLANES[p].host}\n" for p in chosen)
    files["eucora.yaml"] = schema_line("eucora.yaml", CONFIG_SCHEMA) + _CONFIG.format(
        organization=organization, hosts=hosts
    )
    for plane in chosen:
        intent = PLANES[plane]
        files[intent.path] = schema_line(intent.path, INTENT_SCHEMA) + _intent(intent)
    first = PLANES[chosen[0]]
    files["policies/local.yaml"] = schema_line("policies/local.yaml", POLICY_SCHEMA) + (
        _POLICY.format()
    )
    test_path = "policies/tests/local.test.yaml"
    name = first.body.split("  name: ", 1)[1].split("\n", 1)[0]
    files[test_path] = schema_line(test_path, POLICY_TEST_SCHEMA) + _POLICY_TEST.format(
        name=name, intent=first.path
    )
    case_path = "policies/tests/cases/no-ticket.yaml"
    files[case_path] = schema_line(case_path, INTENT_SCHEMA) + _without_ticket(_intent(first))
    if workflow is not None:
        files[WORKFLOW_PATH] = workflow
    return files
