"""The documentation tells one story: one ruleset, no missing documents, a pinned install line."""

from __future__ import annotations

import re
import tomllib

from tests.conftest import ROOT

DOCS = sorted((ROOT / "docs").rglob("*.md"))


def test_there_is_one_ruleset_json_and_the_others_link_to_it() -> None:
    holders = [p.name for p in DOCS if '"type": "required_status_checks"' in p.read_text("utf-8")]
    assert holders == ["github-app.md"]
    approvals = (ROOT / "docs" / "approvals.md").read_text(encoding="utf-8")
    assert "github-app.md#make-the-eucora-checks-required" in approvals


def test_the_docs_cite_only_documents_in_the_repository() -> None:
    for path in DOCS:
        for name in re.findall(r"`([A-Za-z0-9_./-]+\.md)`", path.read_text(encoding="utf-8")):
            found = (path.parent / name).exists() or any(ROOT.rglob(name.rsplit("/", 1)[-1]))
            assert found, f"{path.name} cites {name}, which is not in the repository"


def test_the_quickstart_installs_a_pinned_release_and_starts_with_init() -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"][
        "version"
    ]
    quickstart = (ROOT / "docs" / "quickstart.md").read_text(encoding="utf-8")
    installs = [line for line in quickstart.splitlines() if "pip install" in line]
    assert installs
    for install in installs:
        assert f'@v{version}"' in install, install
    assert "eucora init my-intents" in quickstart


def test_the_signing_key_story_is_told_once() -> None:
    """security.md tells it; the other pages link there instead of telling it again."""
    security = (ROOT / "docs" / "security.md").read_text(encoding="utf-8")
    assert "## The signing key" in security
    for needed in ("keys/audit.pub", "audit.pub.previous", "EUCORA_AUDIT_ORIGIN", "not found"):
        assert needed in security
    tellers = [p.name for p in DOCS if "audit.pub.previous" in p.read_text(encoding="utf-8")]
    for name in tellers:
        if name != "security.md":
            text = (ROOT / "docs" / name).read_text(encoding="utf-8")
            assert "security.md#the-signing-key" in text, name


def test_security_promises_no_preview_for_a_policy_only_change_that_changes_nothing() -> None:
    security = (ROOT / "docs" / "security.md").read_text(encoding="utf-8")
    assert "nothing is listed when no answer" in security
