"""What a pull request shows, from evidence packs: check runs, the sticky comment, replies."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core.github_model import (
    APPROVAL_CHECK,
    EVIDENCE_MARKER,
    POLICY_CHECK,
    AnnotationLevel,
    CheckConclusion,
    CheckStatus,
)
from bot.core.pr_report import (
    CHECK_TEXT_MAX_CHARS,
    MAX_ANNOTATIONS,
    Command,
    annotations_for,
    approval_check_run,
    comment_body,
    explain_reply,
    failed_policy_run,
    parse_command,
    policy_check_run,
    refusal_reply,
    report_for,
    started_policy_run,
)
from tests.support.packs import (
    CHROME,
    DIGEST,
    SHA_HEAD,
    big_pack,
    make_finding,
    make_pack,
    passing_pack,
)

CHECKPOINT = "eucora/audit\n12\nq83dL3bG9yZ2FuaXplZA==\n\n— eucora/audit AbCdEfGh\n"


@pytest.mark.parametrize(
    ("body", "command"),
    [
        ("/eucora recheck", Command.RECHECK),
        ("  /eucora explain  ", Command.EXPLAIN),
        ("Thanks!\n/eucora retry-publish\n", Command.RETRY_PUBLISH),
        ("/eucora dance\n/eucora recheck", Command.RECHECK),
        ("please /eucora recheck", None),
        ("> /eucora recheck", None),
        ("/eucorarecheck", None),
        ("/eucora recheck now", None),
        ("", None),
    ],
)
def test_commands_stand_alone_on_their_line(body: str, command: Command | None) -> None:
    assert parse_command(body) is command


def test_a_passing_pack_completes_the_policy_run_green_with_the_evidence() -> None:
    run = policy_check_run(
        passing_pack(), digest=DIGEST, evidence_url="https://e.x/evidence/d", checkpoint=CHECKPOINT
    )
    assert (run.name, run.head_sha, run.status) == (POLICY_CHECK, SHA_HEAD, CheckStatus.COMPLETED)
    assert run.conclusion is CheckConclusion.SUCCESS
    assert (run.external_id, run.details_url) == (DIGEST, "https://e.x/evidence/d")
    assert run.output is not None
    assert run.output.title == "Risk 35/100 (medium) · 1 intent · may proceed"
    assert DIGEST in run.output.summary
    assert CHECKPOINT.strip() in run.output.summary
    [note] = run.output.annotations
    assert (note.path, note.start_line, note.level) == (CHROME, 1, AnnotationLevel.WARNING)


def test_a_blocked_pack_fails_the_policy_run_naming_the_reasons() -> None:
    pack = make_pack(decision={"conclusion": "blocked", "reasons": ["1 error finding", "freeze"]})
    run = policy_check_run(pack, digest=DIGEST)
    assert run.conclusion is CheckConclusion.FAILURE
    assert run.output is not None
    assert run.output.title == "Blocked: 1 error finding (+1 more)"
    levels = [a.level for a in run.output.annotations]
    assert levels == [AnnotationLevel.FAILURE, AnnotationLevel.WARNING]  # most severe first


def test_annotations_are_capped_with_a_note_and_the_summary_stays_within_the_limit() -> None:
    pack = big_pack(findings=2000, changes=300)
    run = policy_check_run(pack, digest=DIGEST, checkpoint=CHECKPOINT)
    assert run.output is not None
    assert len(run.output.annotations) == MAX_ANNOTATIONS
    assert f"{2000 - MAX_ANNOTATIONS:,} more findings are not annotated" in run.output.summary
    assert len(run.output.summary) <= CHECK_TEXT_MAX_CHARS
    assert CHECKPOINT.strip() in run.output.summary  # the checkpoint survives the cut
    assert {a.level for a in run.output.annotations[:10]} == {AnnotationLevel.FAILURE}


def test_annotations_sit_on_the_finding_s_line_and_column_and_texts_are_clipped() -> None:
    pack = make_pack(findings=[make_finding(line=7, column=3, message="m" * 70_000)])
    [note], cut = annotations_for(pack)
    assert (note.start_line, note.end_line, note.start_column, note.end_column) == (7, 7, 3, 3)
    assert len(note.message) == 60_000
    assert cut == 0


@given(st.integers(min_value=0, max_value=30), st.integers(min_value=0, max_value=40))
def test_annotations_keep_min_of_limit_and_findings(count: int, limit: int) -> None:
    pack = make_pack(findings=[make_finding(i) for i in range(count)])
    notes, cut = annotations_for(pack, limit)
    assert len(notes) == min(count, limit)
    assert len(notes) + cut == count


def test_the_cab_run_waits_for_the_tier_s_approvals() -> None:
    run = approval_check_run(passing_pack(), digest=DIGEST)
    assert (run.name, run.status, run.conclusion) == (
        APPROVAL_CHECK,
        CheckStatus.IN_PROGRESS,
        None,
    )
    assert run.output is not None
    assert run.output.title == "Waiting for 1 CAB approval"
    assert "medium risk (score 35)" in run.output.summary


def test_the_cab_run_succeeds_when_no_approval_is_needed() -> None:
    pack = passing_pack(approvals={"required": 0, "reasons": []})
    run = approval_check_run(pack, digest=DIGEST)
    assert (run.status, run.conclusion) == (CheckStatus.COMPLETED, CheckConclusion.SUCCESS)


def test_the_cab_run_asks_for_action_while_the_policy_blocks() -> None:
    pack = make_pack(approvals={"required": 2, "reasons": ["high risk"]})
    run = approval_check_run(pack, digest=DIGEST)
    assert run.conclusion is CheckConclusion.ACTION_REQUIRED
    assert run.output is not None
    assert "needs 2 CAB approvals" in run.output.summary


def test_the_comment_starts_with_the_marker_and_fits_github_s_limit() -> None:
    body = comment_body(big_pack(), digest=DIGEST, checkpoint=CHECKPOINT)
    assert body.startswith(EVIDENCE_MARKER + "\n")
    assert body.count(EVIDENCE_MARKER) == 1
    assert len(body) <= 65_536
    assert CHECKPOINT.strip() in body


def test_an_oversized_or_missing_checkpoint_is_left_out() -> None:
    assert "Audit log checkpoint" not in comment_body(passing_pack(), digest=DIGEST)
    huge = comment_body(passing_pack(), digest=DIGEST, checkpoint="x" * 5_000)
    assert "Audit log checkpoint" not in huge


def test_the_report_bundles_both_runs_and_the_comment() -> None:
    report = report_for(passing_pack(), digest=DIGEST)
    assert (report.policy.name, report.approval.name) == (POLICY_CHECK, APPROVAL_CHECK)
    assert report.comment.startswith(EVIDENCE_MARKER)


def test_the_started_and_failed_runs() -> None:
    started = started_policy_run(SHA_HEAD)
    assert (started.status, started.conclusion) == (CheckStatus.IN_PROGRESS, None)
    failed = failed_policy_run(SHA_HEAD, "unknown revision *boom*")
    assert failed.conclusion is CheckConclusion.FAILURE
    assert failed.output is not None
    assert r"\*boom\*" in failed.output.summary  # user text is inert Markdown


def test_explain_lists_factors_by_points_and_the_tier_rule() -> None:
    pack = passing_pack()
    pack["risk"]["scoreTier"] = "low"
    reply = explain_reply(pack, digest=DIGEST, requested_by="maya")
    lines = reply.splitlines()
    assert lines[0].startswith("@maya here is why the risk is **35/100 (medium)**")
    rows = [line for line in lines if line.startswith("| 1")]
    assert rows[0].startswith(
        "| 15 | supply-chain | `package.unsigned-beyond-pilot` | google-chrome |"
    )
    assert "Capped at the family's weight: supply-chain 25 → 15." in reply
    assert "The score alone gives tier low; a rule raised it to medium." in reply
    assert DIGEST in reply


def test_explain_without_factors() -> None:
    pack = passing_pack()
    pack["risk"]["factors"] = []
    assert "No risk factor fired" in explain_reply(pack, digest=DIGEST, requested_by="m")


def test_the_refusal_is_polite_and_names_the_command() -> None:
    text = refusal_reply("rex_", Command.EXPLAIN)
    assert text.startswith(r"@rex\_ sorry, `/eucora explain`")
