"""Typed, read-only views of the check and change evidence packs, for the code that reads them.

A pack is stored and hashed as canonical JSON (``bot.core.evidence``); its dict stays exactly as
it is and these views only read it, by the names ``schemas/evidence.schema.json`` gives, so a
reader says ``view.risk_tier`` rather than ``pack["risk"]["tier"]`` and a field renamed in the
schema is renamed here once. A view never copies or converts what the pack holds:
each property returns the pack's own value (lists as the pack's lists), typed as the schema
declares it, so what a reader writes from a view (audit payloads, check runs, renderings) is
what it wrote from the dict. Only a part the schema lets a pack lack reads as empty.

Each view checks, when it is made, that each part its readers read is there with the schema's
JSON type, and says which is not in one line (:class:`PackShapeError`): a pack is read back from
the evidence store, where a reader may meet any bytes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from bot.core.findings import Severity

JsonObject = Mapping[str, Any]

BLOCKED = "blocked"


@dataclass(frozen=True, slots=True)
class CheckPackView:
    """A ``CheckPack``: the check of one pull request head (read-only, over the pack's dict).

    Made, it has checked its pack: every part a reader of the view reads (its properties, and
    in the changes, findings, waivers, factors, routes and preview they return, each field a
    reader subscripts) is there with its schema's JSON type, or :class:`PackShapeError` says
    which is not. Of the enum values only a finding's ``severity`` is checked, as readers
    convert it to :class:`~bot.core.findings.Severity`; the others are text.
    """

    pack: JsonObject

    def __post_init__(self) -> None:
        _check_check_pack(self.pack)

    @classmethod
    def of(cls, pack: JsonObject) -> CheckPackView:
        """The view of a check pack's dict; :class:`PackShapeError` when it is not one."""
        return cls(pack)

    # --- what was checked ----------------------------------------------------------------------

    @property
    def api_version(self) -> str:
        """The evidence format's version, ``eucora.dev/v1``."""
        return cast("str", self.pack["apiVersion"])

    @property
    def kind(self) -> str:
        """Always ``CheckPack``."""
        return cast("str", self.pack["kind"])

    @property
    def repository(self) -> str:
        """``owner/name`` of the repository."""
        return cast("str", self.pack["repository"])

    @property
    def base(self) -> str:
        """The base commit of the pull request."""
        return cast("str", self.pack["base"])

    @property
    def head(self) -> str:
        """The head commit that was checked."""
        return cast("str", self.pack["head"])

    @property
    def merge_base(self) -> str:
        """The merge base of base and head (what the change is diffed against)."""
        return cast("str", self.pack["mergeBase"])

    @property
    def evaluated_at(self) -> str:
        """When the check ran, RFC 3339 in UTC."""
        return cast("str", self.pack["evaluatedAt"])

    @property
    def labels(self) -> Sequence[str]:
        """The pull request's labels the check saw (empty when the pack has none)."""
        return cast("Sequence[str]", self.pack.get("labels", ()))

    @property
    def changes(self) -> Sequence[JsonObject]:
        """Each changed intent: path, kind, risk, rule results, diff."""
        return cast("Sequence[JsonObject]", self.pack["changes"])

    @property
    def other_files(self) -> Sequence[str]:
        """Changed paths that are not intents."""
        return cast("Sequence[str]", self.pack["otherFiles"])

    @property
    def findings(self) -> Sequence[JsonObject]:
        """The findings, each at a file, line and column."""
        return cast("Sequence[JsonObject]", self.pack["findings"])

    @property
    def waivers(self) -> Sequence[JsonObject]:
        """The waivers that applied."""
        return cast("Sequence[JsonObject]", self.pack["waivers"])

    @property
    def policy_preview(self) -> Sequence[JsonObject]:
        """How a changed policy would judge unchanged intents (empty when no policy changed)."""
        return cast("Sequence[JsonObject]", self.pack.get("policyPreview", []))

    @property
    def policy(self) -> JsonObject:
        """The whole ``policy`` object: the compiled ``digest``, its ``sources`` and ``rules``."""
        return cast("JsonObject", self.pack["policy"])

    @property
    def policy_digest(self) -> str:
        """The content address of the compiled policy pack the check ran."""
        return cast("str", self.policy["digest"])

    # --- risk ----------------------------------------------------------------------------------

    @property
    def risk(self) -> JsonObject:
        """The whole ``risk`` object (score, tier, families, caps, factors)."""
        return cast("JsonObject", self.pack["risk"])

    @property
    def risk_score(self) -> int:
        """The riskiest intent's score, 0 to 100."""
        return cast("int", self.risk["score"])

    @property
    def risk_tier(self) -> str:
        """``low``, ``medium``, ``high`` or ``critical``."""
        return cast("str", self.risk["tier"])

    @property
    def risk_factors(self) -> Sequence[JsonObject]:
        """The rules that matched and added points."""
        return cast("Sequence[JsonObject]", self.risk["factors"])

    # --- approvals and the decision ------------------------------------------------------------

    @property
    def approvals(self) -> JsonObject:
        """The whole ``approvals`` object (required, reasons, routes, CAB teams...)."""
        return cast("JsonObject", self.pack["approvals"])

    @property
    def approvals_required(self) -> int:
        """CAB approvals the head needs."""
        return cast("int", self.approvals["required"])

    @property
    def approval_reasons(self) -> Sequence[str]:
        """Why that many, for people."""
        return cast("Sequence[str]", self.approvals["reasons"])

    @property
    def approval_routes(self) -> Sequence[JsonObject]:
        """The matched approval routes (empty when the repository routes none)."""
        return cast("Sequence[JsonObject]", self.approvals.get("routes", []))

    @property
    def decision(self) -> JsonObject:
        """The whole ``decision`` object."""
        return cast("JsonObject", self.pack["decision"])

    @property
    def conclusion(self) -> str:
        """``pass`` or ``blocked``."""
        return cast("str", self.decision["conclusion"])

    @property
    def blocked(self) -> bool:
        """The change may not merge as it is."""
        return self.conclusion == BLOCKED

    @property
    def decision_reasons(self) -> Sequence[str]:
        """Why, for people."""
        return cast("Sequence[str]", self.decision["reasons"])


class PackShapeError(ValueError):
    """A pack lacks a part its view reads, or holds another JSON type there (one line: which)."""


CHANGE_PACK = "ChangePack"

_STRING, _INTEGER, _BOOLEAN, _NULL = "a string", "an integer", "a boolean", "null"
_ARRAY, _OBJECT, _NUMBER = "an array", "an object", "a number"
_ANY = (_NULL, _BOOLEAN, _INTEGER, _NUMBER, _STRING, _ARRAY, _OBJECT)

Fields = Sequence[tuple[str, tuple[str, ...]]]

CHECK_PACK = "CheckPack"
_SEVERITIES = tuple(severity.value for severity in Severity)

_CHECK_FIELDS = (
    ("apiVersion", (_STRING,)),
    ("repository", (_STRING,)),
    ("base", (_STRING,)),
    ("head", (_STRING,)),
    ("mergeBase", (_STRING,)),
    ("evaluatedAt", (_STRING,)),
    ("policy", (_OBJECT,)),
    ("changes", (_ARRAY,)),
    ("otherFiles", (_ARRAY,)),
    ("findings", (_ARRAY,)),
    ("waivers", (_ARRAY,)),
    ("risk", (_OBJECT,)),
    ("approvals", (_OBJECT,)),
    ("decision", (_OBJECT,)),
)
_CHECK_OPTIONAL = (("labels", (_ARRAY,)), ("policyPreview", (_ARRAY,)))
_POLICY_FIELDS = (("digest", (_STRING,)), ("sources", (_ARRAY,)), ("rules", (_ARRAY,)))
_RISK_FIELDS = (
    ("score", (_INTEGER,)),
    ("tier", (_STRING,)),
    ("byFamily", (_OBJECT,)),
    ("factors", (_ARRAY,)),
)
_RISK_OPTIONAL = (("scoreTier", (_STRING,)), ("caps", (_OBJECT,)))
_FACTOR_FIELDS = (
    ("intent", (_STRING,)),
    ("rule", (_STRING,)),
    ("family", (_STRING,)),
    ("points", (_INTEGER,)),
    ("reason", (_STRING,)),
)
_REQUIREMENT_FIELDS = (("required", (_INTEGER,)), ("reasons", (_ARRAY,)))
_REQUIREMENT_OPTIONAL = (
    ("routes", (_ARRAY,)),
    ("cabTeams", (_ARRAY,)),
    ("tierApprovals", (_OBJECT,)),
)
_ROUTE_FIELDS = (("route", (_STRING,)), ("teams", (_ARRAY,)), ("required", (_INTEGER,)))
_ROUTE_OPTIONAL = (("matched", (_ARRAY,)), ("files", (_INTEGER,)), ("description", (_STRING,)))
_CONCLUSION_FIELDS = (("conclusion", (_STRING,)), ("reasons", (_ARRAY,)))
_INTENT_CHANGE_FIELDS = (
    ("intent", (_STRING,)),
    ("kind", (_STRING,)),
    ("path", (_STRING,)),
    ("basePath", (_STRING, _NULL)),
    ("fieldDiffs", (_ARRAY,)),
    ("risk", (_OBJECT,)),
    ("ruleResults", (_ARRAY,)),
    ("devices", (_OBJECT,)),
)
_INTENT_CHANGE_OPTIONAL = (("previewRuleResults", (_ARRAY,)),)
_INTENT_RISK_FIELDS = (("score", (_INTEGER,)), ("tier", (_STRING,)))
_DEVICES_FIELDS = (("base", (_INTEGER,)), ("head", (_INTEGER,)))
_FIELD_DIFF_FIELDS = (("path", (_STRING,)), ("old", _ANY), ("new", _ANY))
_FIELD_DIFF_OPTIONAL = (("line", (_INTEGER, _NULL)),)
_RULE_RESULT_FIELDS = (("rule", (_STRING,)), ("matched", (_BOOLEAN,)))
_FINDING_FIELDS = (
    ("path", (_STRING,)),
    ("line", (_INTEGER,)),
    ("column", (_INTEGER,)),
    ("code", (_STRING,)),
    ("severity", (_STRING,)),
    ("message", (_STRING,)),
)
_WAIVER_FIELDS = tuple(
    (name, (_STRING,))
    for name in ("rule", "intent", "owner", "ticket", "expires", "reason", "source")
)
_PREVIEW_FIELDS = (
    ("intent", (_STRING,)),
    ("path", (_STRING,)),
    ("nowMatches", (_ARRAY,)),
    ("noLongerMatches", (_ARRAY,)),
    ("wouldBlock", (_BOOLEAN,)),
)

_APPROVAL_FIELDS = (
    ("reviewId", (_INTEGER,)),
    ("reviewer", (_STRING,)),
    ("teams", (_ARRAY,)),
    ("commit", (_STRING,)),
)
_DECISION_FIELDS = (("outcome", (_STRING,)), ("required", (_INTEGER,)), ("counted", (_INTEGER,)))
_REVIEW_FIELDS = (("owed", (_BOOLEAN,)), ("reason", (_STRING,)), ("issue", (_INTEGER, _NULL)))
_PUBLICATION_FIELDS = (
    ("id", (_INTEGER,)),
    ("plane", (_STRING,)),
    ("ring", (_STRING,)),
    ("target", (_STRING,)),
    ("intent", (_STRING,)),
    ("version", (_STRING,)),
    ("state", (_STRING,)),
    ("attempts", (_INTEGER,)),
    ("objectId", (_STRING, _NULL)),
    ("url", (_STRING, _NULL)),
    ("created", (_BOOLEAN, _NULL)),
    ("error", (_STRING, _NULL)),
)
_CHANGE_FIELDS = (
    ("repository", (_STRING,)),
    ("pullRequest", (_INTEGER,)),
    ("head", (_STRING,)),
    ("mergeCommit", (_STRING,)),
    ("checkDigest", (_STRING,)),
    ("mergedAt", (_STRING,)),
    ("emergency", (_BOOLEAN,)),
    ("approvals", (_ARRAY,)),
    ("decision", (_OBJECT,)),
    ("postImplementationReview", (_OBJECT, _NULL)),
    ("publications", (_ARRAY,)),
)


def _json_type(value: object) -> str:
    """The JSON type of a parsed value, in words (``a boolean`` before ``an integer``)."""
    parsed = _PARSED_TYPES.get(type(value))  # what json.loads makes: one look-up
    if parsed is not None:
        return parsed
    if value is None:
        return _NULL
    if isinstance(value, bool):
        return _BOOLEAN
    if isinstance(value, int):
        return _INTEGER
    if isinstance(value, float):
        return _NUMBER
    if isinstance(value, str):
        return _STRING
    if isinstance(value, Mapping):
        return _OBJECT
    if isinstance(value, list | tuple):
        return _ARRAY
    return type(value).__name__


_PARSED_TYPES: dict[type, str] = {
    type(None): _NULL,
    bool: _BOOLEAN,
    int: _INTEGER,
    float: _NUMBER,
    str: _STRING,
    dict: _OBJECT,
    list: _ARRAY,
}


def _check_fields(value: object, fields: Fields, where: str, optional: Fields = ()) -> None:
    """Each of ``fields`` is in ``value`` (an object) with one of its JSON types.

    Each of ``optional`` may be absent, and has one of its types when it is there.
    """
    if not isinstance(value, Mapping):
        raise PackShapeError(f"{where} is {_json_type(value)}, not {_OBJECT}")
    for name, types in fields:
        if name not in value:
            raise PackShapeError(f"{where}: {name} is missing")
        _check_type(value[name], types, where, name)
    for name, types in optional:
        if name in value:
            _check_type(value[name], types, where, name)


def _check_type(value: object, types: tuple[str, ...], where: str, name: str) -> None:
    found = _json_type(value)
    if found not in types:
        raise PackShapeError(f"{where}: {name} is {found}, not {' or '.join(types)}")


def _check_items(
    items: Sequence[object], fields: Fields, where: str, optional: Fields = ()
) -> None:
    for index, item in enumerate(items):
        _check_fields(item, fields, f"{where}[{index}]", optional)


def _check_check_pack(pack: object) -> None:
    """``pack`` reads as a check pack (see :class:`CheckPackView`), or :class:`PackShapeError`."""
    if not isinstance(pack, Mapping):
        raise PackShapeError(f"a check pack is {_json_type(pack)}, not {_OBJECT}")
    kind = pack.get("kind")
    if kind != CHECK_PACK:
        raise PackShapeError(f"the pack's kind is {kind!r}, not {CHECK_PACK!r}")
    _check_fields(pack, _CHECK_FIELDS, CHECK_PACK, _CHECK_OPTIONAL)
    _check_fields(pack["policy"], _POLICY_FIELDS, f"{CHECK_PACK}.policy")
    risk = pack["risk"]
    _check_fields(risk, _RISK_FIELDS, f"{CHECK_PACK}.risk", _RISK_OPTIONAL)
    _check_items(risk["factors"], _FACTOR_FIELDS, f"{CHECK_PACK}.risk.factors")
    approvals = pack["approvals"]
    where = f"{CHECK_PACK}.approvals"
    _check_fields(approvals, _REQUIREMENT_FIELDS, where, _REQUIREMENT_OPTIONAL)
    _check_items(approvals.get("routes", ()), _ROUTE_FIELDS, f"{where}.routes", _ROUTE_OPTIONAL)
    _check_fields(pack["decision"], _CONCLUSION_FIELDS, f"{CHECK_PACK}.decision")
    for index, change in enumerate(pack["changes"]):
        _check_intent_change(change, f"{CHECK_PACK}.changes[{index}]")
    _check_items(pack["findings"], _FINDING_FIELDS, f"{CHECK_PACK}.findings")
    for index, finding in enumerate(pack["findings"]):
        severity = finding["severity"]
        if severity not in _SEVERITIES:
            where = f"{CHECK_PACK}.findings[{index}]"
            known = f"{', '.join(_SEVERITIES[:-1])} or {_SEVERITIES[-1]}"
            raise PackShapeError(f"{where}: severity is {severity!r}, not {known}")
    _check_items(pack["waivers"], _WAIVER_FIELDS, f"{CHECK_PACK}.waivers")
    _check_items(pack.get("policyPreview", ()), _PREVIEW_FIELDS, f"{CHECK_PACK}.policyPreview")


def _check_intent_change(change: object, where: str) -> None:
    """One entry of a check pack's ``changes``: an intent's diff, risk and rule results."""
    _check_fields(change, _INTENT_CHANGE_FIELDS, where, _INTENT_CHANGE_OPTIONAL)
    change = cast("JsonObject", change)
    _check_fields(change["risk"], _INTENT_RISK_FIELDS, f"{where}.risk")
    _check_fields(change["devices"], _DEVICES_FIELDS, f"{where}.devices")
    _check_items(
        change["fieldDiffs"], _FIELD_DIFF_FIELDS, f"{where}.fieldDiffs", _FIELD_DIFF_OPTIONAL
    )
    _check_items(change["ruleResults"], _RULE_RESULT_FIELDS, f"{where}.ruleResults")
    preview = change.get("previewRuleResults", ())
    _check_items(preview, _RULE_RESULT_FIELDS, f"{where}.previewRuleResults")


@dataclass(frozen=True, slots=True)
class ChangePackView:
    """A ``ChangePack``: a merged change and its publications (read-only, over the pack's dict).

    Like a check pack's view, this one checks its pack when it is made: every part it reads is
    there with its schema's JSON type, or :class:`PackShapeError` says which is not (a change
    pack is read back from the evidence store, where a reader may meet any bytes). The enum
    values (``decision.outcome``, a publication's ``state``) are not checked: they are text.
    """

    pack: JsonObject

    def __post_init__(self) -> None:
        pack: object = self.pack
        if not isinstance(pack, Mapping):
            raise PackShapeError(f"a change pack is {_json_type(pack)}, not {_OBJECT}")
        kind = pack.get("kind")
        if kind != CHANGE_PACK:
            raise PackShapeError(f"the pack's kind is {kind!r}, not {CHANGE_PACK!r}")
        _check_fields(pack, _CHANGE_FIELDS, CHANGE_PACK)
        _check_items(pack["approvals"], _APPROVAL_FIELDS, f"{CHANGE_PACK}.approvals")
        for index, approval in enumerate(pack["approvals"]):
            teams = approval["teams"]
            if not all(isinstance(team, str) for team in teams):
                where = f"{CHANGE_PACK}.approvals[{index}]"
                raise PackShapeError(f"{where}: teams holds a value that is not a string")
        _check_fields(pack["decision"], _DECISION_FIELDS, f"{CHANGE_PACK}.decision")
        review = pack["postImplementationReview"]
        if review is not None:
            _check_fields(review, _REVIEW_FIELDS, f"{CHANGE_PACK}.postImplementationReview")
        _check_items(pack["publications"], _PUBLICATION_FIELDS, f"{CHANGE_PACK}.publications")

    @classmethod
    def of(cls, pack: JsonObject) -> ChangePackView:
        """The view of a change pack's dict; :class:`PackShapeError` when it is not one."""
        return cls(pack)

    # --- what was merged -----------------------------------------------------------------------

    @property
    def kind(self) -> str:
        """Always ``ChangePack``."""
        return cast("str", self.pack["kind"])

    @property
    def repository(self) -> str:
        """``owner/name`` of the intents repository."""
        return cast("str", self.pack["repository"])

    @property
    def pull_request(self) -> int:
        """The merged pull request's number."""
        return cast("int", self.pack["pullRequest"])

    @property
    def head(self) -> str:
        """The pull request head that was checked and approved."""
        return cast("str", self.pack["head"])

    @property
    def merge_commit(self) -> str:
        """The merge commit whose tree was published."""
        return cast("str", self.pack["mergeCommit"])

    @property
    def check_digest(self) -> str:
        """The digest of the head's check pack."""
        return cast("str", self.pack["checkDigest"])

    @property
    def merged_at(self) -> str:
        """When the pull request was merged, RFC 3339 in UTC."""
        return cast("str", self.pack["mergedAt"])

    @property
    def emergency(self) -> bool:
        """The pull request carried the emergency label."""
        return cast("bool", self.pack["emergency"])

    # --- approvals and the decision ------------------------------------------------------------

    @property
    def approvals(self) -> Sequence[JsonObject]:
        """The CAB approvals that counted: ``reviewId``, ``reviewer``, ``teams``, ``commit``."""
        return cast("Sequence[JsonObject]", self.pack["approvals"])

    @property
    def decision(self) -> JsonObject:
        """The whole CAB ``decision`` at merge time."""
        return cast("JsonObject", self.pack["decision"])

    @property
    def decision_outcome(self) -> str:
        """``approved`` for a change that was published (or where the approval stood)."""
        return cast("str", self.decision["outcome"])

    @property
    def approvals_required(self) -> int:
        """Approvals the change needed."""
        return cast("int", self.decision["required"])

    @property
    def approvals_counted(self) -> int:
        """Approvals that counted."""
        return cast("int", self.decision["counted"])

    @property
    def post_implementation_review(self) -> JsonObject | None:
        """The review owed (``owed``, ``reason``, ``issue``), or None when none is owed."""
        return cast("JsonObject | None", self.pack["postImplementationReview"])

    # --- what it did ---------------------------------------------------------------------------

    @property
    def publications(self) -> Sequence[JsonObject]:
        """Every publication and its result, sorted by id."""
        return cast("Sequence[JsonObject]", self.pack["publications"])

    @property
    def succeeded(self) -> int:
        """How many publications succeeded."""
        return sum(p["state"] == "succeeded" for p in self.publications)

    @property
    def failed(self) -> int:
        """How many publications failed."""
        return sum(p["state"] == "failed" for p in self.publications)
