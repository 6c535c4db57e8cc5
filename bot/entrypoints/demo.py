"""``eucora demo``: the whole job on embedded defaults, so a newcomer sees what works.

Today it validates the bundled example intents repository and shows a broken change being caught;
each new capability adds its step here.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from bot import resources
from bot.adapters.audit_keys import (
    VERIFIER_FILE,
    audit_signer,
    audit_verifier_keys,
    check_signing_key,
)
from bot.adapters.pem_keys import PRIVATE_KEY_NAME, PUBLIC_KEY_NAME, generate_key_pair
from bot.adapters.revisions import GitRevisions
from bot.adapters.storage.audit_log import AuditLog
from bot.adapters.storage.db import create_database_engine, upgrade_schema
from bot.adapters.workspace import read_sources
from bot.bootstrap import file_evidence
from bot.core.audit_events import AuditEventType
from bot.core.pack_view import CheckPackView
from bot.core.render.check_text import render_check_text
from bot.core.render.findings import render_summary, render_text, summarize
from bot.doubles.planes import with_stand_in_package
from bot.entrypoints.demo_github import run_github_step
from bot.flows.audit import verify_log
from bot.flows.check import CheckedChange, check_fetched
from bot.flows.evidence import EvidenceContext, RecordedEvidence, record_check_evidence
from bot.flows.evidence import verify as verify_evidence
from bot.flows.validate import validate_paths
from bot.settings import Settings

Echo = Callable[[str], None]

# A change a hurried engineer might make: a typo'd key, a YAML 1.1 "yes", a plain-http URL.
BROKEN_EDITS = (
    (re.compile(r"^(\s+)devices:", re.MULTILINE), r"\1devcies:"),
    (re.compile(r"^(\s+)signed: true", re.MULTILINE), r"\1signed: yes"),
    (re.compile(r"^(\s+)url: https://", re.MULTILINE), r"\1url: http://"),
)


def _ring_line(intent: dict[str, Any]) -> str:
    rings = intent.get("rings", [])
    return " -> ".join(f"{r['name']} {r['devices']}" for r in rings)


def _copy_example(home: Path) -> Path:
    target = home / "demo" / "intents-repo"
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(resources.example_repository(), target)
    return target


def _break_one_intent(repo: Path, home: Path) -> Path:
    source = repo / "intents" / "windows" / "google-chrome.yaml"
    text = source.read_text(encoding="utf-8")
    for pattern, replacement in BROKEN_EDITS:
        text = pattern.sub(replacement, text, count=1)
    target = home / "demo" / "broken-change" / "google-chrome.yaml"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    return target


def run(settings: Settings, echo: Echo) -> int:
    """Run the demo; return the exit code (0 when everything behaved as expected).

    Raises ``SigningKeyError`` first thing when a configured signing key cannot sign.
    """
    check_signing_key(settings)
    repo = _copy_example(settings.home)
    echo(f"EUCORA demo (state under {settings.home})\n")
    echo(f"1. Validating the example intents repository: {repo}")
    result = validate_paths([str(repo)], read_sources)
    intents = [d for d in result.documents if d.kind.value == "intent" and d.data is not None]
    rows = [
        (
            d.data["metadata"]["name"],
            d.data["app"]["version"],
            d.data["platform"],
            d.data["plane"],
            _ring_line(d.data),
        )
        for d in sorted(intents, key=lambda d: d.path)
    ]
    widths = [max((len(row[i]) for row in rows), default=0) for i in range(4)]
    for name, version, platform, plane, rings in rows:
        echo(
            f"   {name:<{widths[0]}}  {version:<{widths[1]}}  {platform:>{widths[2]}} "
            f"via {plane:<{widths[3]}}  {rings}"
        )
    echo("   " + render_summary(summarize(result.findings, len(result.documents))).strip())
    clean = not result.findings and not result.problems

    broken = _break_one_intent(repo, settings.home)
    echo(f"\n2. Validating a careless edit of one intent: {broken}")
    caught = validate_paths([str(broken)], read_sources)
    for line in render_text(caught.findings).splitlines():
        echo(f"   {line}")
    echo("   " + render_summary(summarize(caught.findings, len(caught.documents))).strip())
    codes = {f.code for f in caught.findings}
    expected = {"schema.additionalProperties", "yaml.ambiguous", "schema.pattern"}
    ok = clean and expected <= codes

    pull_request = _pull_request(settings.home)
    echo(f"\n3. A pull request in a git repository ({pull_request}): Chrome 131 -> 132,")
    echo("   Zoom to a bigger lab ring, 7-Zip 24.09 in the lab, osquery for servers and CIS")
    echo("   hardening 1.3.1 (one intent per plane); checked as of " + DEMO_NOW)
    revisions = GitRevisions(pull_request)
    run = check_fetched(revisions, "main", "change", now=datetime.fromisoformat(DEMO_NOW))
    for line in render_check_text(run.pack).splitlines():
        echo(f"   {line}")
    echo(f"   evidence digest: {run.digest}")
    ok = ok and run.result.conclusion == "pass" and len(run.result.intents) == 5
    ok = _store_evidence(run, settings, echo) and ok
    ok = _audit(run, settings, echo) and ok

    frozen = check_fetched(revisions, "main", "change", now=datetime.fromisoformat(FROZEN_NOW))
    echo(f"\n4. The same pull request during the year-end freeze ({FROZEN_NOW}):")
    echo(f"   {frozen.result.conclusion.upper()}: " + "; ".join(frozen.result.reasons))
    for finding in frozen.result.findings:
        if finding.severity.value == "error":
            echo(f"   {finding.path}:{finding.line}: {finding.code}: {finding.message}")
    ok = ok and frozen.result.blocked
    labelled = check_fetched(
        revisions,
        "main",
        "change",
        now=datetime.fromisoformat(FROZEN_NOW),
        labels=("eucora:emergency",),
    )
    echo(
        f"   With the eucora:emergency label: {labelled.result.conclusion.upper()}, "
        f"{labelled.result.tier} risk, {labelled.result.required_approvals} CAB approvals needed"
    )
    still = sorted({f.code for f in labelled.result.findings if f.severity.value == "error"})
    if still:
        echo(f"   (still blocked by: {', '.join(still)} — an emergency must say why)")
    echo("\n5. The same pull request on GitHub: the App gets the webhook and answers on the PR")
    ok = run_github_step(settings, pull_request, datetime.fromisoformat(DEMO_NOW), echo) and ok
    echo("\nDemo finished: " + ("everything behaved as expected." if ok else "SOMETHING IS WRONG."))
    return 0 if ok else 1


def _store_evidence(run: CheckedChange, settings: Settings, echo: Echo) -> bool:
    """Store the pack signed, record it in the audit log with its proof, verify it offline."""
    view = CheckPackView.of(run.pack)
    keys = settings.home / "keys"
    signer = audit_signer(settings)  # writes keys/audit.pub, whichever key signs
    if settings.signing_key:  # EUCORA_SIGNING_KEY signs both; audit.pub verifies both
        signed, public_keys = settings, [str(keys / VERIFIER_FILE)]
    else:
        if not (keys / PRIVATE_KEY_NAME).exists():
            generate_key_pair(keys)
        signed = replace(settings, signing_key=str(keys / PRIVATE_KEY_NAME))
        public_keys = [str(keys / PUBLIC_KEY_NAME), str(keys / VERIFIER_FILE)]
    engine = create_database_engine(settings.database_url)
    upgrade_schema(engine)
    recorded = record_check_evidence(
        run,
        file_evidence(signed, checkpoint=signer),
        log=AuditLog(engine),
        context=EvidenceContext(
            actor="eucora-demo",
            correlation_id=f"demo-{run.digest[7:19]}",
            repository=view.repository,
            pr=1,
            head_sha=view.head,
        ),
        now=datetime.fromisoformat(DEMO_NOW),
    )
    engine.dispose()
    stored = recorded.stored
    base_url = (settings.public_url or "http://127.0.0.1:8000").rstrip("/")
    echo(f"   evidence stored: {stored.path}")
    echo(f"   signed as an in-toto statement in a DSSE envelope, key id {stored.key_id}")
    echo(f"   evidence page:   {base_url}/evidence/{stored.digest}")
    echo("   (run `eucora serve` with the same EUCORA_HOME to open it)")
    checkpoint = recorded.checkpoint_note.splitlines()
    echo(
        f"   recorded as audit event {recorded.seq}; proof bundle {recorded.proof_path.name}"
        f" against the signed checkpoint {' / '.join(checkpoint[:2])}"
    )
    return _verify_offline(recorded, public_keys, settings, echo)


def _verify_offline(
    recorded: RecordedEvidence, public_keys: list[str], settings: Settings, echo: Echo
) -> bool:
    """Copy the pack, envelope and proof bundle away and verify them with the public keys only."""
    auditor = settings.home / "demo" / "auditor"
    shutil.rmtree(auditor, ignore_errors=True)
    auditor.mkdir(parents=True)
    for path in (recorded.stored.path, recorded.stored.envelope_path, recorded.proof_path):
        if path is not None:
            shutil.copy(path, auditor)
    pack = auditor / recorded.stored.path.name
    nowhere = Settings.from_environ({"EUCORA_HOME": str(auditor / "no-home")})
    report = verify_evidence(str(pack), file_evidence(nowhere), public_keys=public_keys)
    checks = ", ".join(f"{c.name} {c.status.value}" for c in report.checks)
    echo(f"   copied to {auditor} and verified offline with the public keys only: {checks}")
    echo(f"   (eucora evidence verify {pack}{''.join(f' --public-key {k}' for k in public_keys)})")
    return report.ok


def _audit(run: CheckedChange, settings: Settings, echo: Echo) -> bool:
    """Record the check in the audit trail, sign a checkpoint, and verify the whole log."""
    view = CheckPackView.of(run.pack)
    engine = create_database_engine(settings.database_url)
    upgrade_schema(engine)
    log = AuditLog(engine)
    now = datetime.fromisoformat(DEMO_NOW)
    log.append(
        type=AuditEventType.PULL_REQUEST_CHECKED,
        actor="eucora-demo",
        correlation_id=f"demo-{run.digest[7:19]}",
        repository=view.repository,
        pr=1,
        head_sha=view.head,
        payload={"digest": run.digest, "conclusion": run.result.conclusion},
        time=now,
    )
    signer = audit_signer(settings)
    note = log.checkpoint(signer, time=now)
    report, text = verify_log(log, audit_verifier_keys(settings))
    first = (note or "").splitlines()
    echo(f"   audit event recorded; signed checkpoint: {' / '.join(first[:2])}")
    echo(f"   eucora audit verify: {text.strip().splitlines()[0] if text.strip() else report}")
    return bool(report.ok)


DEMO_NOW = "2027-02-17T10:00:00+01:00"
FROZEN_NOW = "2026-12-28T10:00:00+01:00"
_GIT_ENV = {
    "GIT_AUTHOR_NAME": "EUCORA demo",
    "GIT_AUTHOR_EMAIL": "demo@eucora.dev",
    "GIT_COMMITTER_NAME": "EUCORA demo",
    "GIT_COMMITTER_EMAIL": "demo@eucora.dev",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
}


def _git(repo: Path, *args: str) -> None:
    subprocess.run(  # noqa: S603 - fixed arguments, no shell
        ["git", *args],  # noqa: S607 - git from PATH, like GitPython
        cwd=repo,
        env={**os.environ, **_GIT_ENV},
        check=True,
        capture_output=True,
    )


_ZOOM_POLICY = """\
jamf:
  customEvent: install-zoom
  selfService:
    category: Communication
    installButtonText: Install Zoom
"""
"""Jamf policy settings the demo's change adds to Zoom (a trigger and Self Service)."""
_SEVEN_ZIP_TYPE = """\
sccm:
  maxRunTimeMinutes: 30
  rebootBehavior: noAction
"""
"""Configuration Manager deployment type settings of the 7-Zip lab intent."""


def _pull_request(home: Path) -> Path:
    """A git copy of the example repository with a change branch: the demo's pull request.

    The change touches one intent per plane, so merging it publishes to all five: Chrome 132
    (Intune, with the example's requirements), Zoom to a bigger lab ring with a custom trigger
    and Self Service (Jamf Pro), 7-Zip 24.09 piloted in the lab with its deadline and a maximum
    run time (Configuration Manager), osquery for servers, whose lab restarts after the install
    (Landscape), and CIS hardening 1.3.1 with its survey answers (Ansible).
    Package digests are those of stand-in installers (the demo has no network to download the
    real ones; the plane doubles receive the stand-ins).
    """
    repo = home / "demo" / "pull-request"
    if repo.exists():
        shutil.rmtree(repo)
    shutil.copytree(resources.example_repository(), repo)
    for intent in sorted((repo / "intents").rglob("*.yaml")):
        intent.write_text(with_stand_in_package(intent.read_text(encoding="utf-8")), "utf-8")
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "Contoso intents")
    _git(repo, "checkout", "-q", "-b", "change")
    chrome = repo / "intents" / "windows" / "google-chrome.yaml"
    chrome.write_text(
        chrome.read_text(encoding="utf-8")
        .replace("131.0.6778.86", "132.0.6834.83")
        .replace('previousVersion: "130.0.6723.117"', 'previousVersion: "131.0.6778.86"'),
        encoding="utf-8",
    )
    zoom = repo / "intents" / "macos" / "zoom.yaml"
    zoom.write_text(
        re.sub(r"(?m)^(\s+devices:) 6$", r"\1 9", zoom.read_text(encoding="utf-8"), count=1)
        # The helpdesk's custom trigger and the Self Service entry of the available ring.
        .replace("\nrings:\n", "\n" + _ZOOM_POLICY + "rings:\n", 1),
        encoding="utf-8",
    )
    osquery = (repo / "intents" / "linux" / "osquery.yaml").read_text(encoding="utf-8")
    servers = repo / "intents" / "linux" / "osquery-servers.yaml"
    servers.write_text(
        osquery.replace("name: osquery-linux", "name: osquery-linux-servers", 1),
        encoding="utf-8",
    )
    seven = (repo / "intents" / "windows" / "7-zip.yaml").read_text(encoding="utf-8")
    lab = seven.replace("name: 7-zip\n", "name: 7-zip-lab\n", 1).replace("24.08", "24.09")
    lab = lab.replace("2408", "2409")
    lab = lab[: lab.index("  - name: pilot")] + lab[lab.index("rollback:") :]  # the lab ring only
    lab = lab.replace("\nrings:\n", "\n" + _SEVEN_ZIP_TYPE + "rings:\n", 1)
    (repo / "intents" / "windows" / "7-zip-lab.yaml").write_text(
        with_stand_in_package(lab), encoding="utf-8"
    )
    cis = repo / "intents" / "linux" / "cis-hardening.yaml"
    cis.write_text(
        with_stand_in_package(cis.read_text(encoding="utf-8").replace("1.3.0", "1.3.1")),
        encoding="utf-8",
    )
    _git(repo, "add", "-A")
    _git(
        repo,
        "commit",
        "-q",
        "-m",
        "Chrome 132, Zoom first ring, 7-Zip 24.09 in the lab, osquery for servers, CIS 1.3.1",
    )
    return repo
