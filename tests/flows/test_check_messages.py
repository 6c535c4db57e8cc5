"""What a check says about itself: the codes behind "N error findings", why the tier was raised."""

from __future__ import annotations

from bot.core.changes import ChangeKind, FileChange, RevisionPair
from bot.core.render.check_markdown import render_check_markdown
from bot.core.render.check_text import render_check_text
from bot.flows.check import check_pair
from tests.flows.test_check_digest import CONFIG, NOW, _file
from tests.support.corpus import generate_intent_text

POLICY = """apiVersion: eucora.dev/v1
kind: PolicyPack
metadata:
  name: local
rules:
  - id: local.always
    description: A rule that never matches.
    when: "false"
    deny:
      message: never
"""


def _pair(*changes: FileChange) -> RevisionPair:
    files = (_file("eucora.yaml", CONFIG),)
    return RevisionPair("contoso/intents", "a" * 40, "b" * 40, "a" * 40, changes, files, files)


def test_the_blocking_reason_names_the_codes_of_the_error_findings() -> None:
    text = generate_intent_text(0).replace("  - name: lab\n", "  - name: Lab\n", 1)
    run = check_pair(
        _pair(FileChange(ChangeKind.ADDED, None, _file("intents/app.yaml", text))), now=NOW
    )
    [reason] = run.pack["decision"]["reasons"]
    assert reason.startswith("1 error finding (schema.pattern)")


def test_a_policy_only_change_says_why_its_risk_is_high_at_score_zero() -> None:
    run = check_pair(
        _pair(FileChange(ChangeKind.ADDED, None, _file("policies/local.yaml", POLICY))), now=NOW
    )
    assert run.pack["risk"]["score"] == 0
    text = render_check_text(run.pack)
    assert (
        "Risk: 0/100 (high: the score alone gives low; the change edits policies: at least high"
        " tier)" in text
    )
    markdown = render_check_markdown(run.pack, digest=run.digest)
    assert "risk **0/100 high** (the score alone gives low; the change edits policies" in markdown


def test_the_why_reply_of_a_policy_only_change_names_the_policy_edit_not_a_rule() -> None:
    from bot.core.pr_report import explain_reply

    run = check_pair(
        _pair(FileChange(ChangeKind.ADDED, None, _file("policies/local.yaml", POLICY))), now=NOW
    )
    reply = explain_reply(run.pack, digest=run.digest, requested_by="carol")
    assert "The score alone gives tier low; the change edits policies: at least high tier" in reply
    assert "a rule raised it" not in reply
