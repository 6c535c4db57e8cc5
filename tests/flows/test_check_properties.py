"""Properties of the check that must hold for any input (no git: revision pairs built in memory)."""

from __future__ import annotations

import hashlib
from datetime import datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.changes import ChangeKind, FileAtRevision, FileChange, RevisionPair
from bot.flows.check import check_pair
from tests.conftest import EXAMPLES

REPO = EXAMPLES / "intents-repo"
NOW = datetime.fromisoformat("2027-02-17T10:00:00+01:00")


def file(path: str, text: str) -> FileAtRevision:
    raw = text.encode()
    return FileAtRevision(path, hashlib.sha1(b"blob %d\0" % len(raw) + raw).hexdigest(), raw)  # noqa: S324 - git's blob id


BASE_FILES = tuple(
    file(p.relative_to(REPO).as_posix(), p.read_text(encoding="utf-8"))
    for p in [REPO / "eucora.yaml", *sorted((REPO / "policies").glob("*.yaml"))]
)
ZOOM = (REPO / "intents" / "macos" / "zoom.yaml").read_text(encoding="utf-8")
ZOOM_HEAD = ZOOM.split("\nchange:")[0] + "\n"  # the ticket is gone: contoso's rule denies

RULES = st.sampled_from(
    [
        "  - id: contoso.broad-ring-needs-ticket\n    description: d\n    when: 'false'\n    deny: {message: m}\n",
        "  - id: contoso.anything\n    description: d\n    enforcement: audit\n    when: 'true'\n    deny: {message: m}\n",
        "  - id: contoso.risky\n    description: d\n    when: 'true'\n    risk: {points: 100, family: history, reason: r}\n",
        "  - id: contoso.broken\n    description: d\n    when: 'intent.nope &&'\n    deny: {message: m}\n",
    ]
)


@settings(max_examples=25)
@given(rules=st.lists(RULES, max_size=3), delete=st.booleans())
def test_a_policy_edit_in_head_never_changes_the_rules_that_judge_it(
    rules: list[str], delete: bool
) -> None:
    base_policy = next(f for f in BASE_FILES if f.path == "policies/contoso.yaml")
    if delete:
        policy_change = FileChange(ChangeKind.DELETED, base_policy, None)
        head_files = tuple(f for f in BASE_FILES if f.path != base_policy.path)
    else:
        text = "apiVersion: eucora.dev/v1\nkind: PolicyPack\nrules:\n" + "".join(rules or [""])
        head_policy = file(base_policy.path, text)
        policy_change = FileChange(ChangeKind.MODIFIED, base_policy, head_policy)
        head_files = tuple(head_policy if f.path == base_policy.path else f for f in BASE_FILES)
    intent_change = FileChange(
        ChangeKind.MODIFIED,
        file("intents/macos/zoom.yaml", ZOOM),
        file("intents/macos/zoom.yaml", ZOOM_HEAD),
    )

    def pair(changes: tuple[FileChange, ...], head: tuple[FileAtRevision, ...]) -> RevisionPair:
        return RevisionPair("repo", "a" * 40, "b" * 40, "a" * 40, changes, BASE_FILES, head)

    edited = check_pair(pair((intent_change, policy_change), head_files), now=NOW)
    plain = check_pair(pair((intent_change,), BASE_FILES), now=NOW)
    assert edited.pack["policy"] == plain.pack["policy"]
    [edited_change] = edited.pack["changes"]
    [plain_change] = plain.pack["changes"]
    # The same rules judge; editing policies can only add (the edit is itself a risky change).
    assert [r["rule"] for r in edited_change["ruleResults"]] == [
        r["rule"] for r in plain_change["ruleResults"]
    ]
    matched = lambda change: {r["rule"] for r in change["ruleResults"] if r["matched"]}  # noqa: E731
    assert matched(plain_change) <= matched(edited_change)
    assert matched(edited_change) - matched(plain_change) <= {"change.config-or-policies"}
    assert edited.result.required_approvals >= plain.result.required_approvals
    assert "rule.contoso.broad-ring-needs-ticket" in {f.code for f in edited.result.findings}
    assert edited.result.blocked
