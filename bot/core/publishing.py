"""Publishing a merged change: what to publish, whether the merge may publish, when to retry.

Merging is the moment a change happens (issue 8). The merge flow asks this module three questions
and applies the answers: which publications a merged check pack asks for
(:func:`publication_specs`), whether the merge may publish at all (:func:`judge_merge`: a merge
that changed the approved tree, lost its approval or landed in a freeze window publishes
nothing), and, for the publish worker, whether and when a failed attempt is tried again
(:func:`retry_decision`). :func:`build_change_pack` writes down what happened as the ``ChangePack``
evidence pack (``schemas/evidence.schema.json``), and :func:`deployment_status` says it to GitHub.

Pure: the flows gather the facts, draw the jitter and read the clock; nothing here does I/O.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from bot.core.approvals import Outcome
from bot.core.changes import ChangeKind
from bot.core.evidence import EVIDENCE_SCHEMA_ID, PACK_API_VERSION
from bot.core.github_model import DEPLOYMENT_DESCRIPTION_MAX, one_line
from bot.core.pack_view import CheckPackView


class PublicationState(StrEnum):
    """Where one publication (an intent to the first ring of its plane) stands."""

    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class PublicationAction(StrEnum):
    """What a publication does on its plane: publish a version, or retire a deleted intent."""

    PUBLISH = "publish"
    RETIRE = "retire"


FINAL_STATES: frozenset[PublicationState] = frozenset(
    {PublicationState.SUCCEEDED, PublicationState.FAILED}
)
"""States a publication never leaves on its own (``/eucora retry-publish`` reopens failed ones)."""

MAX_ATTEMPTS = 6
"""Claims of one publication before it fails for good."""
BACKOFF_BASE_SECONDS = 2.0
"""The first retry waits about this long."""
BACKOFF_CAP_SECONDS = 300.0
"""No backoff is longer: far below the Redis visibility timeout (no redelivery while waiting)."""
RETRY_AFTER_CAP_SECONDS = 900.0
"""A plane's ``Retry-After`` is honoured up to this long; a longer one is cut to it."""
DESCRIPTION_MAX = DEPLOYMENT_DESCRIPTION_MAX
"""GitHub's limit on a deployment status description (``bot.core.github_model``)."""

_PUBLISHED_KINDS = frozenset({ChangeKind.ADDED, ChangeKind.MODIFIED, ChangeKind.RENAMED})
"""Change kinds that publish: a renamed intent is published under its new path; a deleted one is
retired instead (:func:`publication_specs`' ``retired``)."""
_MAX_EXPONENT = 60
"""Backoff exponents beyond this are all capped anyway; stopping here keeps the float finite."""


def idempotency_key(intent_name: str, version: str, ring: str) -> str:
    """The key that makes a publication find-or-create on its plane: ``name@version#ring``."""
    return f"{intent_name}@{version}#{ring}"


def retire_key(intent_name: str, version: str) -> str:
    """The key of a deleted intent's retirement: ``name@version#retire`` (one per change)."""
    return f"{intent_name}@{version}#retire"


def is_final(state: str) -> bool:
    """Tell whether a publication state is final (succeeded or failed); unknown states are not."""
    return state in {s.value for s in FINAL_STATES}


# --- what to publish ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class PublicationSpec:
    """One publication the merge asks for: an intent's version to the first ring of its plane."""

    path: str
    intent_name: str
    version: str
    plane: str
    ring: str
    target: str
    devices: int
    assignment: str
    idempotency_key: str
    intent: Mapping[str, Any]
    """The validated ``DeploymentIntent`` document (a retired intent's: as the base had it)."""
    action: PublicationAction = PublicationAction.PUBLISH


_SCHEDULE_PLANES = frozenset({"intune", "sccm"})
"""Planes that receive a ring's ``schedule`` (availability and deadline) with its assignment."""


def plane_settings_sent(intent: Mapping[str, Any], ring: str) -> tuple[tuple[str, Any], ...]:
    """The plane settings a publication of ``intent`` to ``ring`` sends, for the plan.

    ``(dotted name, value)`` pairs: the intent's section of its own plane (``jamf.triggers``),
    then the ring's (``rings.pilot.jamf.excludeGroups``) and, for planes that receive it, the
    ring's schedule. Empty for an intent without settings, so its plan reads as before.
    """
    plane = str(intent.get("plane") or "")
    out: list[tuple[str, Any]] = []
    section = intent.get(plane)
    if isinstance(section, Mapping):
        out.extend((f"{plane}.{key}", section[key]) for key in section)
    found = next(
        (r for r in intent.get("rings") or () if isinstance(r, Mapping) and r.get("name") == ring),
        None,
    )
    if found is None:
        return tuple(out)
    own = found.get(plane)
    if isinstance(own, Mapping):
        out.extend((f"rings.{ring}.{plane}.{key}", own[key]) for key in own)
    schedule = found.get("schedule")
    if plane in _SCHEDULE_PLANES and isinstance(schedule, Mapping) and out:
        out.extend((f"rings.{ring}.schedule.{key}", schedule[key]) for key in schedule)
    return tuple(out)


def publication_specs(
    pack: Mapping[str, Any],
    documents: Mapping[str, Mapping[str, Any]],
    retired: Mapping[str, Mapping[str, Any]] | None = None,
) -> tuple[PublicationSpec, ...]:
    """The publications a merged change asks for, sorted by (plane, intent name, ring).

    One per entry of the check pack's ``changes`` that is added, modified or renamed and whose
    document (the validated intent at the merged tree, keyed by the entry's ``path``) is given:
    its plane and first ring. Later rings are promoted by the reconciler once a ring's gate is met.

    A deleted entry whose document at the **base** is in ``retired`` (keyed by the entry's
    ``path``) is retired from its plane: one spec with action ``retire``, its first ring's name
    and target, key ``name@version#retire``; unless the same change publishes an intent of that
    name on that plane (it moved). Raises ``ValueError`` naming the path when a document has no
    ring or misses a field a publication needs (validated documents always have them).
    """
    specs = []
    deleted = []
    for entry in CheckPackView.of(pack).changes:
        path = str(entry["path"])
        if entry["kind"] == ChangeKind.DELETED:
            document = (retired or {}).get(path)
            if document is not None:
                deleted.append(_spec(path, document, PublicationAction.RETIRE))
            continue
        if entry["kind"] not in _PUBLISHED_KINDS:
            continue
        document = documents.get(path)
        if document is None:
            continue
        specs.append(_spec(path, document))
    published = {(s.plane, s.intent_name) for s in specs}
    specs.extend(s for s in deleted if (s.plane, s.intent_name) not in published)
    return tuple(sorted(specs, key=lambda s: (s.plane, s.intent_name, s.ring, s.action)))


def _spec(
    path: str,
    document: Mapping[str, Any],
    action: PublicationAction = PublicationAction.PUBLISH,
) -> PublicationSpec:
    try:
        rings = document["rings"]
        if not rings:
            raise ValueError(f"{path}: the intent has no ring to publish to")
        first = rings[0]
        name = str(document["metadata"]["name"])
        version = str(document["app"]["version"])
        ring = str(first["name"])
        return PublicationSpec(
            path=path,
            intent_name=name,
            version=version,
            plane=str(document["plane"]),
            ring=ring,
            target=str(first["target"]),
            devices=int(first["devices"]),
            assignment=str(first["assignment"]),
            idempotency_key=(
                retire_key(name, version)
                if action is PublicationAction.RETIRE
                else idempotency_key(name, version, ring)
            ),
            intent=document,
            action=action,
        )
    except KeyError as error:
        raise ValueError(f"{path}: not a valid deployment intent: {error} is missing") from error
    except (TypeError, IndexError) as error:
        raise ValueError(f"{path}: not a valid deployment intent: {error}") from error


# --- may the merge publish? -----------------------------------------------------------------------


class MergeProblem(StrEnum):
    """Why a merge publishes nothing, in the order they are reported."""

    NOT_EVALUATED = "not_evaluated"
    BLOCKED_BY_POLICY = "blocked_by_policy"
    NOT_APPROVED = "not_approved"
    TREE_CHANGED = "tree_changed"
    FROZEN = "frozen"
    NOT_A_PUBLISHING_BRANCH = "not_a_publishing_branch"
    RULES_DIFFER = "rules_differ"
    LABELS_CHANGED = "labels_changed"


@dataclass(frozen=True, slots=True, kw_only=True)
class BranchFacts:
    """Where a pull request was merged, and whether merges there publish.

    Only merges into the repository's default branch publish, or into a branch that the
    **default branch's** ``eucora.yaml`` lists under ``publish.branches`` (a branch cannot list
    itself); a listed branch's rules (``eucora.yaml`` and policies) must be the default
    branch's, so the check and the CAB decision of the merged PR were made under them.
    """

    branch: str
    """The PR's base branch: where it was merged."""
    default_branch: str
    listed: bool
    """``branch`` is the default branch, or the default branch's ``publish.branches`` names it."""
    same_rules: bool
    """``branch``'s ``eucora.yaml`` and policies are the default branch's (the default: true)."""


def publishing_branches(config: Mapping[str, Any]) -> tuple[str, ...]:
    """The branches besides the default whose merges publish (``publish.branches``)."""
    publish = config.get("publish")
    branches = publish.get("branches") if isinstance(publish, Mapping) else None
    if not isinstance(branches, list):
        return ()
    return tuple(b for b in branches if isinstance(b, str) and b)


def branch_facts(
    *, branch: str, default_branch: str, default_config: Mapping[str, Any], same_rules: bool
) -> BranchFacts:
    """Judge the merge target from the default branch's ``eucora.yaml`` (``default_config``)."""
    is_default = branch == default_branch
    return BranchFacts(
        branch=branch,
        default_branch=default_branch,
        listed=is_default or branch in publishing_branches(default_config),
        same_rules=is_default or same_rules,
    )


def branch_problems(facts: BranchFacts) -> tuple[tuple[MergeProblem, str], ...]:
    """Why a merge into ``facts.branch`` publishes nothing (empty: it may publish)."""
    if not facts.listed:
        return (
            (
                MergeProblem.NOT_A_PUBLISHING_BRANCH,
                (
                    f"Its base branch is {facts.branch}, not {facts.default_branch}: only pull"
                    f" requests merged into {facts.default_branch}, or into a branch that"
                    f" eucora.yaml on {facts.default_branch} lists under publish.branches,"
                    " are published."
                ),
            ),
        )
    if not facts.same_rules:
        return (
            (
                MergeProblem.RULES_DIFFER,
                (
                    f"The eucora.yaml or policies of {facts.branch} differ from those of"
                    f" {facts.default_branch}, so the check and the CAB decision were not made"
                    f" under {facts.default_branch}'s rules: bring {facts.branch}'s rules in line."
                ),
            ),
        )
    return ()


@dataclass(frozen=True, slots=True, kw_only=True)
class MergeFacts:
    """What the merge flow found out about a merged pull request, at the merge moment."""

    check_digest: str | None
    """The check pack of the merged PR's head, or ``None`` when no check ran on it."""
    check_conclusion: str | None
    """``pack["decision"]["conclusion"]`` (``pass`` or ``blocked``), or ``None``."""
    approval_outcome: str
    """A :class:`bot.core.approvals.Outcome` value, decided from the reviews at merge time."""
    approval_headline: str
    """E.g. "waiting for 1 more CAB approval": said to people when not approved."""
    head_content_hash: str | None
    """Hash of the intents, policies and config at the approved head (``None``: unknown)."""
    merged_content_hash: str | None
    """The same hash at the merge commit's tree (``None``: unknown)."""
    freeze_windows: tuple[str, ...]
    """Names of the freeze windows containing the merge moment."""
    emergency: bool
    """The evaluated head's labels held the configured emergency label."""
    labels_changed: tuple[str, ...]
    """Labels added (``+name``) or removed (``-name``) since the head's check was evaluated."""
    target: BranchFacts
    """Where the PR was merged (a branch that does not publish is judged no further)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class MergeVerdict:
    """Whether a merge may publish, and every reason it may not (one sentence each)."""

    allowed: bool
    problems: tuple[tuple[MergeProblem, str], ...]


def judge_merge(facts: MergeFacts) -> MergeVerdict:
    """Decide whether a merged pull request may publish; every problem found is reported.

    A merge publishes only what was checked and approved: a check pack for the head that does not
    block, a CAB decision that is still ``approved`` at merge time, a merged tree whose intents,
    policies and configuration are those of the approved head (a content hash that is unknown
    counts as changed: what cannot be compared is not published), and no freeze window at the
    merge moment unless the evaluated head carried the emergency label, and labels that are
    still the evaluated ones. A merge into a branch that does not publish, or whose rules are not
    the default branch's, is judged no further: its only problem is where it was merged.
    """
    elsewhere = branch_problems(facts.target)
    if elsewhere:
        return MergeVerdict(allowed=False, problems=elsewhere)
    problems: list[tuple[MergeProblem, str]] = []
    if facts.check_digest is None:
        problems.append(
            (MergeProblem.NOT_EVALUATED, "No EUCORA check ran on the merged pull request's head.")
        )
    if facts.check_conclusion == "blocked":
        problems.append(
            (MergeProblem.BLOCKED_BY_POLICY, "The policy check blocked the merged head.")
        )
    if facts.approval_outcome != Outcome.APPROVED.value:
        headline = facts.approval_headline.strip().rstrip(".") or facts.approval_outcome
        problems.append(
            (MergeProblem.NOT_APPROVED, f"The CAB had not approved it at merge time: {headline}.")
        )
    if facts.head_content_hash is None or facts.merged_content_hash is None:
        problems.append(
            (
                MergeProblem.TREE_CHANGED,
                (
                    "The merged tree's intents, policies and configuration could not be compared "
                    "with the approved head's."
                ),
            )
        )
    elif facts.head_content_hash != facts.merged_content_hash:
        problems.append(
            (
                MergeProblem.TREE_CHANGED,
                (
                    "The merged tree's intents, policies or configuration differ from the approved "
                    "head's (a stale base or a rewritten merge)."
                ),
            )
        )
    if facts.freeze_windows and not facts.emergency:
        names = ", ".join(facts.freeze_windows)
        problems.append(
            (
                MergeProblem.FROZEN,
                f"It was merged inside the freeze window {names} without the emergency label.",
            )
        )
    if facts.labels_changed:
        changed = ", ".join(facts.labels_changed)
        problems.append(
            (
                MergeProblem.LABELS_CHANGED,
                (
                    f"Its labels changed after the check was evaluated ({changed}): the merge is"
                    " judged on the labels the check and the CAB saw."
                ),
            )
        )
    return MergeVerdict(allowed=not problems, problems=tuple(problems))


# --- retries --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryDecision:
    """Whether a failed attempt is tried again, after how long, and why (for the record)."""

    retry: bool
    delay_seconds: float
    """0.0 when not retrying."""
    reason: str


def _seconds(delay: float) -> str:
    return f"{round(delay, 1):g} s"


def retry_decision(
    *,
    attempts: int,
    transient: bool,
    retry_after: float | None,
    jitter: float,
    max_attempts: int = MAX_ATTEMPTS,
) -> RetryDecision:
    """Decide what follows a failed attempt; ``attempts`` counts the claims so far (>= 1).

    A permanent error is not retried (the vendor's answer will not change). A transient one is
    retried while attempts remain: after the plane's ``Retry-After`` when it gave one (negative
    read as 0, capped at :data:`RETRY_AFTER_CAP_SECONDS`), else after an exponential backoff
    ``base * 2**(attempts-1)`` capped at :data:`BACKOFF_CAP_SECONDS`, spread by "equal jitter":
    half of it fixed, half scaled by ``jitter`` in [0, 1), which the caller draws so this stays
    pure and testable. Raises ``ValueError`` for attempts below 1 or jitter outside [0, 1).
    """
    if attempts < 1:
        raise ValueError(f"attempts must be at least 1, not {attempts}")
    if not 0.0 <= jitter < 1.0:
        raise ValueError(f"jitter must be in [0, 1), not {jitter!r}")
    what = "transient error" if transient else "permanent error"
    where = f"{what}, attempt {attempts} of {max_attempts}"
    if not transient:
        return RetryDecision(retry=False, delay_seconds=0.0, reason=f"{where}: not retried")
    if attempts >= max_attempts:
        return RetryDecision(retry=False, delay_seconds=0.0, reason=f"{where}: no attempts left")
    if retry_after is not None and not math.isnan(retry_after):
        delay = min(max(retry_after, 0.0), RETRY_AFTER_CAP_SECONDS)
        return RetryDecision(
            retry=True,
            delay_seconds=delay,
            reason=f"{where}, retrying in {_seconds(delay)} (Retry-After)",
        )
    backoff = min(
        BACKOFF_BASE_SECONDS * 2.0 ** min(attempts - 1, _MAX_EXPONENT), BACKOFF_CAP_SECONDS
    )
    delay = backoff / 2 + backoff / 2 * jitter
    return RetryDecision(
        retry=True, delay_seconds=delay, reason=f"{where}, retrying in {_seconds(delay)}"
    )


# --- what people and the evidence see -------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class PublicationView:
    """One publication as people see it (a row of the PR's table, an entry of the change pack)."""

    id: int
    plane: str
    ring: str
    target: str
    intent_name: str
    version: str
    state: str
    attempts: int
    object_id: str | None = None
    url: str | None = None
    created: bool | None = None
    error: str | None = None
    """The last error, already free of secrets."""
    action: str = PublicationAction.PUBLISH.value
    """``retire``: a deleted intent removed from its plane (the pack names it only then)."""

    @property
    def retires(self) -> bool:
        """Whether this publication retires a deleted intent rather than publishing one."""
        return self.action == PublicationAction.RETIRE.value


def _approval(item: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "reviewId": int(item["reviewId"]),
        "reviewer": str(item["reviewer"]),
        "teams": sorted(str(t) for t in item["teams"]),
        "commit": str(item["commit"]),
    }


def _publication(view: PublicationView) -> dict[str, Any]:
    # "action" only on a retirement: a pack without one keeps the bytes (and digest) it had.
    retire = {"action": PublicationAction.RETIRE.value} if view.retires else {}
    return retire | {
        "id": int(view.id),
        "plane": view.plane,
        "ring": view.ring,
        "target": view.target,
        "intent": view.intent_name,
        "version": view.version,
        "state": view.state,
        "attempts": int(view.attempts),
        "objectId": view.object_id,
        "url": view.url,
        "created": view.created,
        "error": view.error,
    }


def build_change_pack(  # noqa: PLR0913 - keyword-only parts of the pack
    *,
    repository: str,
    pr: int,
    head_sha: str,
    merge_sha: str,
    check_digest: str,
    merged_at: str,
    approvals: Sequence[Mapping[str, Any]],
    decision: Mapping[str, Any],
    emergency: bool,
    post_implementation_review: Mapping[str, Any] | None,
    publications: Sequence[PublicationView],
) -> dict[str, Any]:
    """The ``ChangePack``: what a merged change was checked against, who approved it, what it did.

    It points at the head's check pack by digest rather than copying it, lists the approvals that
    counted (``{"reviewId", "reviewer", "teams", "commit"}``, sorted by review id), the CAB
    decision at merge time (``{"outcome", "required", "counted"}``), the post-implementation
    review owed by critical or emergency changes (``{"owed", "reason", "issue"}`` or ``None``)
    and every publication sorted by id. Only the known keys are copied and numbers are made
    integers, so the pack is canonical JSON with a stable digest.
    """
    review = (
        None
        if post_implementation_review is None
        else {
            "owed": bool(post_implementation_review["owed"]),
            "reason": str(post_implementation_review["reason"]),
            "issue": (
                None
                if post_implementation_review.get("issue") is None
                else int(post_implementation_review["issue"])
            ),
        }
    )
    return {
        "$schema": EVIDENCE_SCHEMA_ID,
        "apiVersion": PACK_API_VERSION,
        "kind": "ChangePack",
        "repository": repository,
        "pullRequest": int(pr),
        "head": head_sha,
        "mergeCommit": merge_sha,
        "checkDigest": check_digest,
        "mergedAt": merged_at,
        "emergency": bool(emergency),
        "approvals": sorted((_approval(a) for a in approvals), key=lambda a: a["reviewId"]),
        "decision": {
            "outcome": str(decision["outcome"]),
            "required": int(decision["required"]),
            "counted": int(decision["counted"]),
        },
        "postImplementationReview": review,
        "publications": [_publication(v) for v in sorted(publications, key=lambda v: v.id)],
    }


def deployment_status(view: PublicationView) -> tuple[str, str]:
    """The GitHub deployment status (state, description of at most 140 characters) of a row.

    pending → ``queued`` (saying why when it waits for a retry), in_progress → ``in_progress``,
    succeeded → ``success`` with the plane's object id (a retirement: ``retired``), failed →
    ``failure`` with the error. Raises ``ValueError`` for a state that is not a
    :class:`PublicationState`.
    """
    state = PublicationState(view.state)
    if view.retires:
        return _retirement_status(view, state)
    where = f"{view.intent_name} {view.version} to {view.plane}/{view.ring}"
    if state is PublicationState.PENDING:
        if view.attempts and view.error:
            text = f"retry {view.attempts + 1} queued after: {view.error}"
        else:
            text = f"queued: {where}"
        return "queued", one_line(text, DESCRIPTION_MAX)
    if state is PublicationState.IN_PROGRESS:
        return "in_progress", one_line(f"publishing {where}", DESCRIPTION_MAX)
    if state is PublicationState.SUCCEEDED:
        return "success", one_line(f"published: {view.object_id or where}", DESCRIPTION_MAX)
    return "failure", one_line(view.error or f"failed: {where}", DESCRIPTION_MAX)


def _retirement_status(view: PublicationView, state: PublicationState) -> tuple[str, str]:
    where = f"{view.intent_name} {view.version} from {view.plane}"
    if state is PublicationState.PENDING:
        if view.attempts and view.error:
            text = f"retry {view.attempts + 1} of the retirement queued after: {view.error}"
        else:
            text = f"queued: retire {where} (deleted)"
        return "queued", one_line(text, DESCRIPTION_MAX)
    if state is PublicationState.IN_PROGRESS:
        return "in_progress", one_line(f"retiring {where}", DESCRIPTION_MAX)
    if state is PublicationState.SUCCEEDED:
        return "inactive", one_line(f"retired: {where} (the intent was deleted)", DESCRIPTION_MAX)
    return "failure", one_line(view.error or f"retirement failed: {where}", DESCRIPTION_MAX)
