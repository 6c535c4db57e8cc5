"""A typed, read-only view of the check evidence pack, for the code that reads it.

A pack is stored and hashed as canonical JSON (``bot.core.evidence``); its dict stays exactly as
it is and these views only read it, by the names ``schemas/evidence.schema.json`` gives, so a
reader says ``view.risk_tier`` rather than ``pack["risk"]["tier"]`` and a field renamed in the
schema is renamed here once. A view never copies or converts what the pack holds:
each property returns the pack's own value (lists as the pack's lists), typed as the schema
declares it, so what a reader writes from a view (audit payloads, check runs, renderings) is
what it wrote from the dict. Only a part the schema lets a pack lack reads as empty.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

JsonObject = Mapping[str, Any]

BLOCKED = "blocked"


@dataclass(frozen=True, slots=True)
class CheckPackView:
    """A ``CheckPack``: the check of one pull request head (read-only, over the pack's dict)."""

    pack: JsonObject

    @classmethod
    def of(cls, pack: JsonObject) -> CheckPackView:
        """The view of a check pack's dict (nothing is read until a property is)."""
        return cls(pack)

    # --- what was checked ----------------------------------------------------------------------

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
    def policy_digest(self) -> str:
        """The content address of the compiled policy pack the check ran."""
        return cast("str", self.pack["policy"]["digest"])

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
