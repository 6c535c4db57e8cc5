"""Waivers: one rule, one intent, one owner and ticket, until a date at most 90 days ahead."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from bot.core.documents import ValidatedDocument
from bot.core.families import EXPIRING_WITHIN_DAYS
from bot.core.findings import Finding, Severity
from bot.core.schema import RawFinding

MAX_DAYS_AHEAD = 90


@dataclass(frozen=True, slots=True)
class Waiver:
    """An exception to one rule for one intent."""

    rule: str
    intent: str
    owner: str
    ticket: str
    expires: date
    reason: str
    source: str
    line: int

    def as_dict(self) -> dict[str, str | int]:
        """Plain data for the evidence pack."""
        return {
            "rule": self.rule,
            "intent": self.intent,
            "owner": self.owner,
            "ticket": self.ticket,
            "expires": self.expires.isoformat(),
            "reason": self.reason,
            "source": f"{self.source}:{self.line}",
        }


@dataclass(frozen=True, slots=True)
class WaiverBook:
    """The waivers in force at one moment, those expired or refused, and the findings."""

    active: dict[tuple[str, str], Waiver]
    expired: tuple[Waiver, ...]
    expiring: tuple[Waiver, ...]
    findings: tuple[Finding, ...]

    def lookup(self, rule: str, intent: str) -> Waiver | None:
        """The waiver in force for a rule and an intent, if any."""
        return self.active.get((rule, intent))


def load_waivers(documents: Sequence[ValidatedDocument], now: datetime) -> WaiverBook:
    """Sort waivers into active, expired and refused (too far ahead) as of ``now``."""
    today = now.date()
    active: dict[tuple[str, str], Waiver] = {}
    expired: list[Waiver] = []
    findings: list[Finding] = []
    for doc in documents:
        findings.extend(doc.findings)
        if not doc.ok or not isinstance(doc.data, dict):
            continue
        for index, item in enumerate(doc.data.get("waivers", [])):
            pointer = f"/waivers/{index}"
            try:
                expires = date.fromisoformat(item["expires"])
            except ValueError:
                findings.append(
                    doc.locate(
                        RawFinding(f"{pointer}/expires", "waiver.date", "not a calendar date")
                    )
                )
                continue
            waiver = Waiver(
                rule=item["rule"],
                intent=item["intent"],
                owner=item["owner"],
                ticket=item["ticket"],
                expires=expires,
                reason=item["reason"],
                source=doc.path,
                line=doc.source_map().position(pointer)[0],
            )
            if expires < today:
                expired.append(waiver)
            elif expires > today + timedelta(days=MAX_DAYS_AHEAD):
                findings.append(
                    doc.locate(
                        RawFinding(
                            f"{pointer}/expires",
                            "waiver.too-long",
                            f"waiver of {waiver.rule} for {waiver.intent} expires {expires}, "
                            f"more than {MAX_DAYS_AHEAD} days ahead: it does not apply",
                        )
                    )
                )
            else:
                active[(waiver.rule, waiver.intent)] = waiver
    expiring = tuple(
        w for w in active.values() if w.expires <= today + timedelta(days=EXPIRING_WITHIN_DAYS)
    )
    notes = [
        Finding(
            path=w.source,
            line=w.line,
            column=1,
            code="waiver.expired",
            severity=Severity.NOTE,
            message=f"waiver of {w.rule} for {w.intent} expired on {w.expires}",
        )
        for w in expired
    ]
    return WaiverBook(
        active=active,
        expired=tuple(expired),
        expiring=expiring,
        findings=tuple(findings + notes),
    )
