"""The evidence pack of a generated 1,000-intent pull request, pinned by its digest.

Speed work on the check (where line numbers come from, which side is validated how, how the pack is
serialised) must never change a byte of the pack. The change set mixes every kind of change and
edits at the top, middle and end of files, in block and flow style, on the fast and the reference
validation paths, so that every way of finding a field diff's line is exercised. The digest was
recorded with the implementation before those optimisations (commit 9c30b7e).
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from bot.core.changes import ChangeKind, FileAtRevision, FileChange, RevisionPair
from bot.flows.check import check_pair
from tests.support.corpus import generate_intent_text

NOW = datetime.fromisoformat("2027-02-17T10:00:00+01:00")
CONFIG = (
    "apiVersion: eucora.dev/v1\nkind: EucoraConfig\ncab:\n  teams: [contoso/cab]\n"
    "packageHosts: ['*.contoso.com']\n"
)
# The generated change holds invalid intents (schema errors), so its pack carries their messages:
# re-pinned when the messages learned to say how to fix (issue 19: hints instead of patterns,
# "N error findings" naming the codes, the YAML 1.1 yes/no advice). Re-pinned again when rule
# findings moved from line 1 to the field each rule judges (issue 19 item 1: the default rules'
# at:/atExpr entries change the policy digest and every rule finding's line and column). And once
# more when unquoted leading-zero numbers were read as YAML 1.2 reads them (issue 19 item 5): the
# ``tier: 0777`` edit is now the integer 777, a type error, not the text "0777" with a warning.
PINNED = "sha256:74994c8f9101a639c358a23cee790decc5dfcbcb360f0e8936a3d194210536b7"


def _file(path: str, text: str) -> FileAtRevision:
    raw = text.encode()
    blob = hashlib.sha1(b"blob %d\0" % len(raw) + raw).hexdigest()  # noqa: S324 - git's blob id
    return FileAtRevision(path, blob, raw)


EDITS: tuple[tuple[str, str], ...] = (
    ("    tier: standard", "    tier: gold"),  # near the top, block style
    ("  signed: true", "  signed: true  # checked"),  # a comment only: no field diff
    ("maxFailures: 0", "maxFailures: 1"),  # in a list of maps
    ("vulnerabilities: {critical: 0, high: 0,", "vulnerabilities: {critical: 0, high: 2,"),  # flow
    ("  ticket: CHG", "  ticket: CHG9"),  # at the end
    ("  sbom: https://ci.contoso.com/sbom/example/1.json\n", ""),  # removed: the line is at base
    ("    with a promotion gate", "    with a careful promotion gate"),  # a folded scalar
    ("    tier: standard", "    tier: 0777"),  # 777 to YAML 1.2, 511 to 1.1: the reference path
    ("  strategy: previous-version\n", "  strategy: manual\n  notes: by hand\n"),  # added field
    (
        "  - name: lab\n",
        "  - name: canary\n    target: x\n    devices: 3\n  - name: lab\n",
    ),  # invalid
    ("  - name: pilot\n", "  - name: pilot-two\n"),  # a ring replaced: one line at base
)


def _edit(text: str, index: int) -> str:
    for old, new in (EDITS[index % len(EDITS)], EDITS[(index * 7 + 3) % len(EDITS)]):
        text = text.replace(old, new, 1)
    return text


def generated_pair(count: int = 1_000) -> RevisionPair:
    """A pull request over ``count`` generated intents: mostly modified, some added/renamed/deleted."""
    changes: list[FileChange] = []
    for i in range(count):
        path = f"intents/app-{i:05d}.yaml"
        text = generate_intent_text(i)
        if i % 50 == 1:
            changes.append(FileChange(ChangeKind.ADDED, None, _file(path, text)))
        elif i % 50 == 2:
            changes.append(FileChange(ChangeKind.DELETED, _file(path, text), None))
        elif i % 50 == 3:
            moved = f"intents/moved/app-{i:05d}.yaml"
            changes.append(
                FileChange(ChangeKind.RENAMED, _file(path, text), _file(moved, _edit(text, i)))
            )
        else:
            changes.append(
                FileChange(ChangeKind.MODIFIED, _file(path, text), _file(path, _edit(text, i)))
            )
    base_files = (_file("eucora.yaml", CONFIG),)
    return RevisionPair(
        "contoso/intents", "a" * 40, "b" * 40, "a" * 40, tuple(changes), base_files, base_files
    )


def test_the_pack_of_a_generated_1000_intent_change_is_pinned() -> None:
    run = check_pair(generated_pair(), now=NOW)
    lines = [d["line"] for c in run.pack["changes"] for d in c["fieldDiffs"]]
    assert len(run.pack["changes"]) == 1_000
    assert len(set(lines)) > 10  # lines from all over the files, not only the top
    assert run.digest == PINNED
