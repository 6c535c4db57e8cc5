"""bot.core.publishing: what a merge publishes, whether it may, when a failure is retried."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from bot.adapters.revisions import GitRevisions
from bot.core.approvals import Outcome
from bot.core.attestation import CHANGE_PREDICATE_TYPE, statement_for
from bot.core.changes import ChangeKind
from bot.core.evidence import canonical_json, digest_of
from bot.core.publishing import (
    BACKOFF_BASE_SECONDS,
    BACKOFF_CAP_SECONDS,
    DESCRIPTION_MAX,
    FINAL_STATES,
    MAX_ATTEMPTS,
    RETRY_AFTER_CAP_SECONDS,
    BranchFacts,
    MergeFacts,
    MergeProblem,
    PublicationAction,
    PublicationState,
    PublicationView,
    branch_facts,
    build_change_pack,
    deployment_status,
    idempotency_key,
    is_final,
    judge_merge,
    publication_specs,
    publishing_branches,
    retire_key,
    retry_decision,
)
from tests.conftest import EXAMPLES
from tests.support.gitrepo import GitRepo
from tests.support.packs import VALIDATOR, make_change, passing_pack

# --- idempotency keys and states ------------------------------------------------------------------


def test_the_idempotency_key_is_name_version_and_ring() -> None:
    assert (
        idempotency_key("google-chrome", "131.0.6778.86", "lab")
        == "google-chrome@131.0.6778.86#lab"
    )


def test_the_key_changes_with_each_part_and_only_then() -> None:
    base = idempotency_key("a", "1", "lab")
    assert base == idempotency_key("a", "1", "lab")
    assert len({base, idempotency_key("b", "1", "lab"), idempotency_key("a", "2", "lab")}) == 3
    assert base != idempotency_key("a", "1", "pilot")


@pytest.mark.parametrize(
    ("state", "final"),
    [
        ("pending", False),
        ("in_progress", False),
        ("succeeded", True),
        ("failed", True),
        ("cancelled", False),
        ("", False),
    ],
)
def test_only_succeeded_and_failed_are_final(state: str, final: bool) -> None:
    assert is_final(state) is final


def test_final_states() -> None:
    assert {PublicationState.SUCCEEDED, PublicationState.FAILED} == FINAL_STATES
    assert all(is_final(s) for s in FINAL_STATES)


# --- publication specs from a check pack ----------------------------------------------------------


def intent(name: str, plane: str, version: str = "1.0", rings: int = 2) -> dict[str, Any]:
    return {
        "apiVersion": "eucora.dev/v1",
        "kind": "DeploymentIntent",
        "metadata": {"name": name, "owner": "team-endpoint"},
        "app": {"name": name.title(), "publisher": "Contoso", "version": version},
        "platform": "windows",
        "plane": plane,
        "rings": [
            {
                "name": ring,
                "target": f"{name}-{ring}-group",
                "devices": 10 * (index + 1),
                "assignment": "required" if index == 0 else "available",
            }
            for index, ring in enumerate(["lab", "pilot", "broad"][:rings])
        ],
    }


def change(name: str, kind: str, path: str | None = None) -> dict[str, Any]:
    path = path or f"intents/{name}.yaml"
    return make_change(intent=name, kind=kind, path=path, basePath=path)


def pack_with(*changes: dict[str, Any]) -> dict[str, Any]:
    return passing_pack(changes=list(changes))


def test_one_spec_per_added_or_modified_intent_on_its_first_ring() -> None:
    chrome = intent("google-chrome", "intune", "131.0.6778.86")
    pack = pack_with(change("google-chrome", "modified"), change("slack", "added"))
    documents = {
        "intents/google-chrome.yaml": chrome,
        "intents/slack.yaml": intent("slack", "jamf", "4.41.105"),
    }
    specs = publication_specs(pack, documents)
    assert [(s.plane, s.intent_name, s.version, s.ring) for s in specs] == [
        ("intune", "google-chrome", "131.0.6778.86", "lab"),
        ("jamf", "slack", "4.41.105", "lab"),
    ]
    first = specs[0]
    assert first.path == "intents/google-chrome.yaml"
    assert first.target == "google-chrome-lab-group"
    assert first.devices == 10
    assert first.assignment == "required"
    assert first.idempotency_key == "google-chrome@131.0.6778.86#lab"
    assert first.intent is chrome


def test_deleted_intents_are_not_published() -> None:
    pack = pack_with(change("old-app", "deleted"), change("new-app", "added"))
    documents = {
        "intents/old-app.yaml": intent("old-app", "sccm"),
        "intents/new-app.yaml": intent("new-app", "sccm"),
    }
    assert [s.intent_name for s in publication_specs(pack, documents)] == ["new-app"]


def test_a_deleted_intent_the_base_had_is_retired_from_its_first_ring() -> None:
    pack = pack_with(change("old-app", "deleted"), change("new-app", "added"))
    base = {"intents/old-app.yaml": intent("old-app", "sccm", "2.1")}
    documents = {"intents/new-app.yaml": intent("new-app", "sccm")}
    specs = publication_specs(pack, documents, base)
    assert [(s.intent_name, s.action) for s in specs] == [
        ("new-app", PublicationAction.PUBLISH),
        ("old-app", PublicationAction.RETIRE),
    ]
    retired = specs[1]
    assert (retired.plane, retired.ring, retired.target, retired.version) == (
        "sccm",
        "lab",
        "old-app-lab-group",
        "2.1",
    )
    assert retired.idempotency_key == retire_key("old-app", "2.1") == "old-app@2.1#retire"
    assert retired.intent is base["intents/old-app.yaml"]


def test_a_deleted_intent_without_its_base_document_retires_nothing() -> None:
    pack = pack_with(change("old-app", "deleted"))
    assert publication_specs(pack, {}, {}) == ()
    assert publication_specs(pack, {}, {"intents/other.yaml": intent("old-app", "sccm")}) == ()


def test_an_intent_deleted_here_and_added_there_on_the_same_plane_moved_and_is_not_retired() -> (
    None
):
    pack = pack_with(
        change("app", "deleted", "intents/a/app.yaml"), change("app", "added", "intents/b/app.yaml")
    )
    specs = publication_specs(
        pack,
        {"intents/b/app.yaml": intent("app", "intune", "2.0")},
        {"intents/a/app.yaml": intent("app", "intune", "1.0")},
    )
    assert [(s.path, s.action) for s in specs] == [
        ("intents/b/app.yaml", PublicationAction.PUBLISH)
    ]


def test_every_change_kind_is_handled() -> None:
    """A new ChangeKind must be decided here: does it publish?"""
    published = {
        kind.value
        for kind in ChangeKind
        if publication_specs(
            pack_with(change("a", kind.value)), {"intents/a.yaml": intent("a", "intune")}
        )
    }
    assert published == {"added", "modified", "renamed"}
    assert {k.value for k in ChangeKind} == published | {"deleted"}


def test_a_renamed_intent_is_published_from_its_new_path() -> None:
    moved = change("osquery-linux", "renamed", "intents/linux/osquery-agent.yaml")
    moved["basePath"] = "intents/linux/osquery.yaml"
    documents = {"intents/linux/osquery-agent.yaml": intent("osquery-linux", "landscape")}
    [spec] = publication_specs(pack_with(moved), documents)
    assert (spec.path, spec.plane) == ("intents/linux/osquery-agent.yaml", "landscape")


def test_changes_without_a_document_are_skipped() -> None:
    pack = pack_with(change("a", "modified"), change("b", "modified"))
    specs = publication_specs(pack, {"intents/b.yaml": intent("b", "ansible")})
    assert [s.intent_name for s in specs] == ["b"]
    assert publication_specs(pack_with(), {}) == ()


def test_specs_are_sorted_by_plane_name_and_ring_whatever_the_pack_order() -> None:
    names = [("zoom", "jamf"), ("chrome", "intune"), ("7-zip", "intune"), ("cis", "ansible")]
    documents = {f"intents/{n}.yaml": intent(n, p) for n, p in names}
    forward = publication_specs(pack_with(*(change(n, "added") for n, _ in names)), documents)
    backward = publication_specs(
        pack_with(*(change(n, "added") for n, _ in reversed(names))), documents
    )
    assert forward == backward
    assert [(s.plane, s.intent_name) for s in forward] == [
        ("ansible", "cis"),
        ("intune", "7-zip"),
        ("intune", "chrome"),
        ("jamf", "zoom"),
    ]


def test_keys_are_stable_across_builds_and_change_with_the_version() -> None:
    pack = pack_with(change("chrome", "modified"))
    one = publication_specs(pack, {"intents/chrome.yaml": intent("chrome", "intune", "1")})
    two = publication_specs(pack, {"intents/chrome.yaml": intent("chrome", "intune", "1")})
    newer = publication_specs(pack, {"intents/chrome.yaml": intent("chrome", "intune", "2")})
    assert one[0].idempotency_key == two[0].idempotency_key == "chrome@1#lab"
    assert newer[0].idempotency_key == "chrome@2#lab"


@pytest.mark.parametrize(
    ("document", "missing"),
    [
        ({**intent("x", "intune"), "rings": []}, "no ring"),
        ({k: v for k, v in intent("x", "intune").items() if k != "plane"}, "plane"),
        ({**intent("x", "intune"), "rings": [{"name": "lab"}]}, "'target' is missing"),
        ({**intent("x", "intune"), "rings": "lab"}, "string indices"),
    ],
)
def test_a_document_that_cannot_be_published_names_its_path(
    document: dict[str, Any], missing: str
) -> None:
    with pytest.raises(ValueError, match=r"^intents/x\.yaml: .*" + missing):
        publication_specs(pack_with(change("x", "added")), {"intents/x.yaml": document})


WEDNESDAY = datetime.fromisoformat("2027-02-17T10:00:00+01:00")


def test_specs_from_a_real_check_of_the_example_repository(tmp_path: Path) -> None:
    """``eucora check`` on a PR that modifies, adds, renames and deletes intents on four planes."""
    from bot.flows.check import check_fetched

    repo = GitRepo.create(tmp_path / "repo", template=EXAMPLES / "intents-repo")
    repo.branch("change")
    chrome = "intents/windows/google-chrome.yaml"
    repo.edit(chrome, 'version: "131.0.6778.86"', 'version: "131.0.6778.109"')
    added = repo.read("intents/linux/osquery.yaml").replace(
        "name: osquery-linux", "name: osquery-linux-servers", 1
    )
    repo.write("intents/linux/osquery-servers.yaml", added)
    repo.git("mv", "intents/macos/zoom.yaml", "intents/macos/zoom-workplace.yaml")
    repo.git("rm", "-q", "intents/windows/7-zip.yaml")
    repo.commit("four changes")
    pack = check_fetched(GitRevisions(repo.path), "main", "change", now=WEDNESDAY).pack
    kinds = {c["path"]: c["kind"] for c in pack["changes"]}
    assert sorted(kinds.values()) == ["added", "deleted", "modified", "renamed"]
    documents = {p: yaml.safe_load(repo.read(p)) for p, kind in kinds.items() if kind != "deleted"}
    specs = publication_specs(pack, documents)
    assert [(s.plane, s.intent_name, s.ring) for s in specs] == sorted(
        (d["plane"], d["metadata"]["name"], d["rings"][0]["name"]) for d in documents.values()
    )
    by_name = {s.intent_name: s for s in specs}
    assert "7-zip" not in by_name
    assert by_name["google-chrome"].idempotency_key == "google-chrome@131.0.6778.109#lab"
    assert by_name["google-chrome"].target == "6513270e-269e-4d37-b2a7-4de452e6b438"
    assert by_name["google-chrome"].devices == 12
    assert len({s.plane for s in specs}) >= 3


# --- judge_merge ----------------------------------------------------------------------------------

MAIN = BranchFacts(branch="main", default_branch="main", listed=True, same_rules=True)
GOOD = MergeFacts(
    check_digest="sha256:" + "a" * 64,
    check_conclusion="pass",
    approval_outcome=Outcome.APPROVED.value,
    approval_headline="approved by 1 CAB member",
    head_content_hash="h1",
    merged_content_hash="h1",
    freeze_windows=(),
    emergency=False,
    labels_changed=(),
    target=MAIN,
)


def test_a_checked_approved_unchanged_merge_outside_freezes_may_publish() -> None:
    verdict = judge_merge(GOOD)
    assert verdict.allowed
    assert verdict.problems == ()


@pytest.mark.parametrize(
    ("changes", "problem", "words"),
    [
        (
            {"check_digest": None, "check_conclusion": None},
            MergeProblem.NOT_EVALUATED,
            "No EUCORA check",
        ),
        ({"check_conclusion": "blocked"}, MergeProblem.BLOCKED_BY_POLICY, "blocked"),
        (
            {
                "approval_outcome": Outcome.WAITING.value,
                "approval_headline": "waiting for 1 more CAB approval",
            },
            MergeProblem.NOT_APPROVED,
            "waiting for 1 more CAB approval",
        ),
        ({"approval_outcome": Outcome.BLOCKED.value}, MergeProblem.NOT_APPROVED, "CAB"),
        (
            {"approval_outcome": Outcome.CRITICAL_WITHOUT_EMERGENCY.value, "approval_headline": ""},
            MergeProblem.NOT_APPROVED,
            "critical-without-emergency",
        ),
        ({"merged_content_hash": "h2"}, MergeProblem.TREE_CHANGED, "differ"),
        ({"merged_content_hash": None}, MergeProblem.TREE_CHANGED, "could not be compared"),
        ({"head_content_hash": None}, MergeProblem.TREE_CHANGED, "could not be compared"),
        ({"freeze_windows": ("year-end",)}, MergeProblem.FROZEN, "year-end"),
        ({"labels_changed": ("+eucora:emergency",)}, MergeProblem.LABELS_CHANGED, "+eucora"),
    ],
)
def test_each_problem_refuses_the_merge(
    changes: dict[str, Any], problem: MergeProblem, words: str
) -> None:
    verdict = judge_merge(replace(GOOD, **changes))
    assert not verdict.allowed
    assert [p for p, _ in verdict.problems] == [problem]
    [(_, sentence)] = verdict.problems
    assert words in sentence
    assert sentence.endswith(".")
    assert "\n" not in sentence


def test_an_emergency_merge_inside_a_freeze_window_may_publish() -> None:
    verdict = judge_merge(
        replace(GOOD, freeze_windows=("year-end", "patch-tuesday"), emergency=True)
    )
    assert verdict.allowed
    assert verdict.problems == ()


def test_the_emergency_label_does_not_excuse_anything_else() -> None:
    verdict = judge_merge(
        replace(GOOD, freeze_windows=("year-end",), emergency=True, merged_content_hash="h2")
    )
    assert [p for p, _ in verdict.problems] == [MergeProblem.TREE_CHANGED]


def test_every_problem_is_reported_in_order() -> None:
    verdict = judge_merge(
        MergeFacts(
            check_digest=None,
            check_conclusion="blocked",
            approval_outcome=Outcome.WAITING.value,
            approval_headline="waiting for 2 more CAB approvals.",
            head_content_hash="h1",
            merged_content_hash="h2",
            freeze_windows=("year-end", "audit"),
            emergency=False,
            labels_changed=("-eucora:emergency",),
            target=MAIN,
        )
    )
    assert not verdict.allowed
    branch_only = {MergeProblem.NOT_A_PUBLISHING_BRANCH, MergeProblem.RULES_DIFFER}
    assert [p for p, _ in verdict.problems] == [p for p in MergeProblem if p not in branch_only]
    sentences = dict(verdict.problems)
    assert sentences[MergeProblem.FROZEN].count("year-end, audit") == 1
    assert "approvals.." not in sentences[MergeProblem.NOT_APPROVED]


def test_problem_values_are_the_contract_names() -> None:
    assert [p.value for p in MergeProblem] == [
        "not_evaluated",
        "blocked_by_policy",
        "not_approved",
        "tree_changed",
        "frozen",
        "not_a_publishing_branch",
        "rules_differ",
        "labels_changed",
    ]


@pytest.mark.parametrize(
    ("branch", "config", "same_rules", "problem"),
    [
        ("side", {}, True, MergeProblem.NOT_A_PUBLISHING_BRANCH),
        (
            "side",
            {"publish": {"branches": ["release"]}},
            True,
            MergeProblem.NOT_A_PUBLISHING_BRANCH,
        ),
        ("release", {"publish": {"branches": ["release"]}}, False, MergeProblem.RULES_DIFFER),
    ],
)
def test_a_merge_outside_the_publishing_branches_is_judged_on_where_it_landed_only(
    branch: str, config: dict[str, Any], same_rules: bool, problem: MergeProblem
) -> None:
    target = branch_facts(
        branch=branch, default_branch="main", default_config=config, same_rules=same_rules
    )
    # everything else is fine, even the emergency label: where it was merged decides alone
    verdict = judge_merge(replace(GOOD, target=target, emergency=True, freeze_windows=("x",)))
    assert not verdict.allowed
    [(found, sentence)] = verdict.problems
    assert found is problem
    assert branch in sentence
    assert "main" in sentence


def test_the_default_branch_and_the_branches_it_lists_publish() -> None:
    listed = {"publish": {"branches": ["release", "hotfix/2027"]}}
    for branch in ("main", "release", "hotfix/2027"):
        target = branch_facts(
            branch=branch, default_branch="main", default_config=listed, same_rules=True
        )
        assert judge_merge(replace(GOOD, target=target)).allowed
    # the default branch's own rules are the rules: same_rules is not asked of it
    target = branch_facts(branch="main", default_branch="main", default_config={}, same_rules=False)
    assert judge_merge(replace(GOOD, target=target)).allowed
    assert publishing_branches({"publish": {"branches": "release"}}) == ()


# --- retry_decision -------------------------------------------------------------------------------


@pytest.mark.parametrize("attempts", [1, 3, MAX_ATTEMPTS, MAX_ATTEMPTS + 4])
def test_a_permanent_error_is_never_retried(attempts: int) -> None:
    decision = retry_decision(attempts=attempts, transient=False, retry_after=30.0, jitter=0.5)
    assert not decision.retry
    assert decision.delay_seconds == 0.0
    assert decision.reason == f"permanent error, attempt {attempts} of {MAX_ATTEMPTS}: not retried"


@pytest.mark.parametrize(
    ("attempts", "low", "high"),
    [(1, 1.0, 2.0), (2, 2.0, 4.0), (3, 4.0, 8.0), (4, 8.0, 16.0), (5, 16.0, 32.0)],
)
def test_transient_backoff_doubles_with_equal_jitter(
    attempts: int, low: float, high: float
) -> None:
    at = [
        retry_decision(attempts=attempts, transient=True, retry_after=None, jitter=j)
        for j in (0.0, 0.5, 0.999999)
    ]
    assert all(d.retry for d in at)
    assert at[0].delay_seconds == low
    assert at[1].delay_seconds == (low + high) / 2
    assert low < at[2].delay_seconds < high
    assert high == BACKOFF_BASE_SECONDS * 2 ** (attempts - 1)


def test_the_reason_says_attempt_and_delay() -> None:
    decision = retry_decision(attempts=2, transient=True, retry_after=None, jitter=0.0)
    assert decision.reason == "transient error, attempt 2 of 6, retrying in 2 s"
    halfway = retry_decision(attempts=1, transient=True, retry_after=None, jitter=0.5)
    assert halfway.reason == "transient error, attempt 1 of 6, retrying in 1.5 s"


def test_backoff_is_capped() -> None:
    late = retry_decision(
        attempts=30, transient=True, retry_after=None, jitter=0.999, max_attempts=100
    )
    assert BACKOFF_CAP_SECONDS / 2 <= late.delay_seconds <= BACKOFF_CAP_SECONDS
    huge = retry_decision(
        attempts=10_000, transient=True, retry_after=None, jitter=0.0, max_attempts=20_000
    )
    assert huge.delay_seconds == BACKOFF_CAP_SECONDS / 2


def test_retry_after_is_honoured_without_jitter() -> None:
    for jitter in (0.0, 0.7):
        decision = retry_decision(attempts=1, transient=True, retry_after=42.0, jitter=jitter)
        assert decision.retry
        assert decision.delay_seconds == 42.0
        assert decision.reason == "transient error, attempt 1 of 6, retrying in 42 s (Retry-After)"


@pytest.mark.parametrize(
    ("retry_after", "delay"),
    [
        (10_000.0, RETRY_AFTER_CAP_SECONDS),
        (math.inf, RETRY_AFTER_CAP_SECONDS),
        (-5.0, 0.0),
        (0.0, 0.0),
        (RETRY_AFTER_CAP_SECONDS, RETRY_AFTER_CAP_SECONDS),
    ],
)
def test_retry_after_is_capped_and_never_negative(retry_after: float, delay: float) -> None:
    decision = retry_decision(attempts=2, transient=True, retry_after=retry_after, jitter=0.1)
    assert decision.delay_seconds == delay


def test_a_nan_retry_after_falls_back_to_backoff() -> None:
    decision = retry_decision(attempts=2, transient=True, retry_after=math.nan, jitter=0.0)
    assert decision.delay_seconds == 2.0
    assert "Retry-After" not in decision.reason


@pytest.mark.parametrize(("attempts", "max_attempts"), [(6, 6), (7, 6), (3, 3), (1, 1)])
def test_attempts_exhausted(attempts: int, max_attempts: int) -> None:
    decision = retry_decision(
        attempts=attempts,
        transient=True,
        retry_after=5.0,
        jitter=0.3,
        max_attempts=max_attempts,
    )
    assert not decision.retry
    assert decision.delay_seconds == 0.0
    assert decision.reason.endswith("no attempts left")


def test_the_last_retry_is_before_max_attempts() -> None:
    assert retry_decision(
        attempts=MAX_ATTEMPTS - 1, transient=True, retry_after=None, jitter=0
    ).retry


@pytest.mark.parametrize(
    ("attempts", "jitter", "message"),
    [(0, 0.5, "attempts"), (-1, 0.5, "attempts"), (1, 1.0, "jitter"), (1, -0.1, "jitter")],
)
def test_bad_arguments_are_refused(attempts: int, jitter: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        retry_decision(attempts=attempts, transient=True, retry_after=None, jitter=jitter)


@given(
    attempts=st.integers(min_value=1, max_value=200),
    transient=st.booleans(),
    retry_after=st.none() | st.floats(allow_nan=True, allow_infinity=True),
    jitter=st.floats(min_value=0.0, max_value=1.0, exclude_max=True),
    max_attempts=st.integers(min_value=1, max_value=200),
)
def test_delays_are_always_within_their_cap(
    attempts: int, transient: bool, retry_after: float | None, jitter: float, max_attempts: int
) -> None:
    decision = retry_decision(
        attempts=attempts,
        transient=transient,
        retry_after=retry_after,
        jitter=jitter,
        max_attempts=max_attempts,
    )
    assert decision.retry == (transient and attempts < max_attempts)
    honoured = retry_after is not None and not math.isnan(retry_after)
    cap = RETRY_AFTER_CAP_SECONDS if honoured else BACKOFF_CAP_SECONDS
    assert 0.0 <= decision.delay_seconds <= cap
    assert math.isfinite(decision.delay_seconds)
    if not decision.retry:
        assert decision.delay_seconds == 0.0
    assert f"attempt {attempts} of {max_attempts}" in decision.reason


@given(
    attempts=st.integers(min_value=1, max_value=60),
    a=st.floats(min_value=0.0, max_value=1.0, exclude_max=True),
    b=st.floats(min_value=0.0, max_value=1.0, exclude_max=True),
)
def test_more_jitter_never_means_a_shorter_wait(attempts: int, a: float, b: float) -> None:
    low, high = sorted((a, b))

    def delay(jitter: float) -> float:
        return retry_decision(
            attempts=attempts, transient=True, retry_after=None, jitter=jitter, max_attempts=61
        ).delay_seconds

    assert delay(low) <= delay(high)
    assert delay(high) <= 2 * delay(0.0)


# --- the change pack ------------------------------------------------------------------------------

HEAD = "2" * 40
MERGE = "3" * 40


def view(id_: int, state: str = "succeeded", **extra: Any) -> PublicationView:
    fields: dict[str, Any] = {
        "id": id_,
        "plane": "intune",
        "ring": "lab",
        "target": "group-1",
        "intent_name": f"app-{id_}",
        "version": "1.0",
        "state": state,
        "attempts": 1,
    }
    fields.update(extra)
    return PublicationView(**fields)


def change_pack(**overrides: Any) -> dict[str, Any]:
    arguments: dict[str, Any] = {
        "repository": "contoso/eucora-intents",
        "pr": 42,
        "head_sha": HEAD,
        "merge_sha": MERGE,
        "check_digest": "sha256:" + "c" * 64,
        "merged_at": "2027-02-17T09:30:00Z",
        "approvals": [
            {"reviewId": 902, "reviewer": "carol", "teams": ["cab", "ciso"], "commit": HEAD},
            {"reviewId": 901, "reviewer": "bob", "teams": ["cab"], "commit": HEAD},
        ],
        "decision": {"outcome": "approved", "required": 2, "counted": 2},
        "emergency": False,
        "post_implementation_review": None,
        "publications": [
            view(2, "failed", error="Graph said 400: bad detection rule", attempts=1),
            view(1, object_id="a1b2", url="https://intune.example/apps/a1b2", created=True),
        ],
    }
    arguments.update(overrides)
    return build_change_pack(**arguments)


def test_the_change_pack_follows_the_evidence_schema() -> None:
    pack = change_pack()
    VALIDATOR.validate(pack)
    assert pack["kind"] == "ChangePack"
    assert pack["$schema"] == "https://eucora.dev/schemas/v1/evidence.schema.json"
    assert pack["apiVersion"] == "eucora.dev/v1"
    emergency = change_pack(
        emergency=True,
        post_implementation_review={"owed": True, "reason": "emergency change", "issue": None},
        publications=[],
        approvals=[],
    )
    VALIDATOR.validate(emergency)
    followed_up = change_pack(
        post_implementation_review={"owed": True, "reason": "critical risk", "issue": 77}
    )
    VALIDATOR.validate(followed_up)
    assert followed_up["postImplementationReview"] == {
        "owed": True,
        "reason": "critical risk",
        "issue": 77,
    }


def test_the_change_pack_holds_what_the_contract_names() -> None:
    pack = change_pack()
    assert [a["reviewId"] for a in pack["approvals"]] == [901, 902]
    assert pack["approvals"][1] == {
        "reviewId": 902,
        "reviewer": "carol",
        "teams": ["cab", "ciso"],
        "commit": HEAD,
    }
    assert pack["decision"] == {"outcome": "approved", "required": 2, "counted": 2}
    assert [p["id"] for p in pack["publications"]] == [1, 2]
    assert pack["publications"][0] == {
        "id": 1,
        "plane": "intune",
        "ring": "lab",
        "target": "group-1",
        "intent": "app-1",
        "version": "1.0",
        "state": "succeeded",
        "attempts": 1,
        "objectId": "a1b2",
        "url": "https://intune.example/apps/a1b2",
        "created": True,
        "error": None,
    }
    assert (pack["pullRequest"], pack["head"], pack["mergeCommit"]) == (42, HEAD, MERGE)


def test_the_check_schema_still_refuses_a_change_pack_shape_under_check_kind() -> None:
    pack = change_pack()
    assert not VALIDATOR.is_valid({**pack, "kind": "CheckPack"})
    assert not VALIDATOR.is_valid({**pack, "extra": 1})
    assert not VALIDATOR.is_valid({**pack, "mergedAt": "2027-02-17T10:30:00+01:00"})
    pack["publications"][0]["state"] = "done"
    assert not VALIDATOR.is_valid(pack)


PINNED_CHANGE_PACK = "sha256:8a966185e7c4a91f81b938a93a21f6bd4b6ac1f4cacf168ae4d397f1b4d84bfd"
"""The digest of :func:`change_pack` as built before retirements existed (no ``action``)."""


def test_a_change_pack_without_a_retirement_keeps_its_bytes() -> None:
    pack = change_pack()
    assert digest_of(pack) == PINNED_CHANGE_PACK
    assert all("action" not in p for p in pack["publications"])


def test_a_retirement_is_named_in_the_change_pack_and_follows_the_schema() -> None:
    pack = change_pack(publications=[view(1, object_id="a1b2"), view(3, action="retire")])
    VALIDATOR.validate(pack)
    entries = {p["id"]: p for p in pack["publications"]}
    assert entries[3]["action"] == "retire"
    assert "action" not in entries[1]
    assert digest_of(pack) != PINNED_CHANGE_PACK


def test_the_change_pack_is_canonical_and_its_digest_stable() -> None:
    one = change_pack()
    shuffled = change_pack(
        approvals=[
            {"reviewId": 901, "reviewer": "bob", "teams": ["cab"], "commit": HEAD},
            {"reviewId": 902, "reviewer": "carol", "teams": ["ciso", "cab"], "commit": HEAD},
        ],
        publications=[
            view(1, object_id="a1b2", url="https://intune.example/apps/a1b2", created=True),
            view(2, "failed", error="Graph said 400: bad detection rule", attempts=1),
        ],
    )
    assert digest_of(one) == digest_of(shuffled)
    text = canonical_json(one)
    assert json.loads(text) == one
    assert text == canonical_json(json.loads(text))
    assert digest_of(one) != digest_of(change_pack(merge_sha="4" * 40))


def test_the_change_pack_holds_no_floats() -> None:
    pack = change_pack(
        pr=42.0,
        decision={"outcome": "approved", "required": 2.0, "counted": 2.0},
        approvals=[{"reviewId": 901.0, "reviewer": "bob", "teams": ["cab"], "commit": HEAD}],
        post_implementation_review={"owed": 1, "reason": "critical", "issue": 5.0},
        publications=[view(1, attempts=3.0)],
    )

    def numbers(value: Any) -> list[Any]:
        if isinstance(value, dict):
            return [n for v in value.values() for n in numbers(v)]
        if isinstance(value, list):
            return [n for v in value for n in numbers(v)]
        return [value] if isinstance(value, int | float) and not isinstance(value, bool) else []

    found = numbers(pack)
    assert found
    assert all(type(n) is int for n in found)
    floats: list[str] = []
    json.loads(canonical_json(pack), parse_float=floats.append)
    assert floats == []
    VALIDATOR.validate(pack)


def test_extra_keys_in_the_inputs_do_not_reach_the_pack() -> None:
    pack = change_pack(
        approvals=[
            {"reviewId": 1, "reviewer": "bob", "teams": [], "commit": HEAD, "token": "s3cr3t"}
        ],
        decision={"outcome": "approved", "required": 0, "counted": 0, "debug": 0.5},
    )
    assert "s3cr3t" not in canonical_json(pack).decode()
    assert "debug" not in pack["decision"]


def test_a_change_pack_is_attested_under_its_own_predicate_type() -> None:
    """A signing key is configured in production: storing a change pack must not fail."""
    pack = change_pack()
    statement = statement_for(pack, digest_of(pack))
    assert statement["predicateType"] == CHANGE_PREDICATE_TYPE
    assert statement["predicate"] == pack
    assert {"name": f"contoso/eucora-intents@{HEAD}", "digest": {"gitCommit": HEAD}} in statement[
        "subject"
    ]


# --- deployment statuses --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("publication", "state", "description"),
    [
        (view(1, "pending", attempts=0), "queued", "queued: app-1 1.0 to intune/lab"),
        (
            view(1, "pending", attempts=2, error="HTTP 503 from Graph"),
            "queued",
            "retry 3 queued after: HTTP 503 from Graph",
        ),
        (view(1, "in_progress"), "in_progress", "publishing app-1 1.0 to intune/lab"),
        (view(1, "succeeded", object_id="a1b2"), "success", "published: a1b2"),
        (view(1, "succeeded"), "success", "published: app-1 1.0 to intune/lab"),
        (view(1, "failed", error="Jamf said 409"), "failure", "Jamf said 409"),
        (view(1, "failed"), "failure", "failed: app-1 1.0 to intune/lab"),
        (
            view(1, "pending", attempts=0, action="retire"),
            "queued",
            "queued: retire app-1 1.0 from intune (deleted)",
        ),
        (view(1, "in_progress", action="retire"), "in_progress", "retiring app-1 1.0 from intune"),
        (
            view(1, "succeeded", action="retire"),
            "inactive",
            "retired: app-1 1.0 from intune (the intent was deleted)",
        ),
        (view(1, "failed", error="Graph 403", action="retire"), "failure", "Graph 403"),
    ],
)
def test_deployment_status_per_state(
    publication: PublicationView, state: str, description: str
) -> None:
    assert deployment_status(publication) == (state, description)


def test_deployment_descriptions_are_clipped_to_one_line_of_140() -> None:
    long = view(1, "failed", error="line one\nline two " + "x" * 500)
    state, description = deployment_status(long)
    assert state == "failure"
    assert len(description) == DESCRIPTION_MAX
    assert description.endswith("…")
    assert "\n" not in description
    assert description.startswith("line one line two")


def test_an_unknown_state_is_refused() -> None:
    with pytest.raises(ValueError, match="cancelled"):
        deployment_status(view(1, "cancelled"))
