"""A Markdown rendering fitted within a size limit: details dropped, then listings cut."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from bot.core.render.formatting import _url

Measure = Callable[[str], int]


def _see(evidence_url: str | None) -> str:
    if evidence_url is None:
        return "see the evidence page"
    return f"see the [evidence page]({_url(evidence_url)})"


@dataclass(frozen=True, slots=True)
class _Listing:
    """A list or table whose rows may be cut to fit, with a line saying how many were left out."""

    head: str
    rows: tuple[tuple[str, str], ...]  # (group heading, row): a heading is written when it changes
    noun: str
    plural: str
    keep: int = 20  # rows kept before any other listing is cut
    tail: str = "\n"

    def render(self, shown: int, evidence_url: str | None) -> str:
        parts = [self.head]
        group = ""
        for heading, row in self.rows[:shown]:
            if heading != group:
                parts.append(heading)
                group = heading
            parts.append(row)
        hidden = len(self.rows) - shown
        if hidden:
            what = self.noun if hidden == 1 else self.plural
            parts.append(f"\n… {hidden:,} more {what} — {_see(evidence_url)}\n")
        parts.append(self.tail)
        return "".join(parts)


Block = str | _Listing


@dataclass(frozen=True, slots=True)
class _Layout:
    """The comment as blocks, and which to drop (details) and cut (listings) to fit, in order."""

    blocks: tuple[Block, ...]
    droppable: tuple[int, ...]
    cuttable: tuple[int, ...]


def _assemble(
    layout: _Layout, dropped: set[int], shown: Mapping[int, int], evidence_url: str | None
) -> str:
    parts = []
    for index, block in enumerate(layout.blocks):
        if index in dropped:
            continue
        if isinstance(block, _Listing):
            parts.append(block.render(shown.get(index, len(block.rows)), evidence_url))
        else:
            parts.append(block)
    return "".join(parts)


def _fit(layout: _Layout, limit: int, measure: Measure, evidence_url: str | None) -> str:
    """Everything if it fits; else without the details; else with listings cut, findings first.

    Listings are cut in two passes: first down to the few rows each keeps (so ten findings are not
    lost to a table of two thousand changes), then, only if that is not enough, further.
    """
    dropped: set[int] = set()
    shown: dict[int, int] = {}
    text = _assemble(layout, dropped, shown, evidence_url)
    for index in layout.droppable:
        if measure(text) <= limit:
            return text
        dropped.add(index)
        text = _assemble(layout, dropped, shown, evidence_url)
    for first_pass in (True, False):
        for index in layout.cuttable:
            if measure(text) <= limit:
                return text
            block = layout.blocks[index]
            if not isinstance(block, _Listing):
                continue
            current = shown.get(index, len(block.rows))
            floor = min(block.keep, current) if first_pass else 0

            def fits(count: int, index: int = index) -> bool:
                attempt = _assemble(layout, dropped, {**shown, index: count}, evidence_url)
                return measure(attempt) <= limit

            shown[index] = _most_rows(floor, current, fits)
            text = _assemble(layout, dropped, shown, evidence_url)
    if measure(text) <= limit:
        return text
    return _hard_cut(text, limit, measure)


def _most_rows(low: int, high: int, fits: Callable[[int], bool]) -> int:
    """The most rows in [low, high] that fit (``low`` when none does)."""
    while low < high:
        middle = (low + high + 1) // 2
        if fits(middle):
            low = middle
        else:
            high = middle - 1
    return low


def _hard_cut(text: str, limit: int, measure: Measure) -> str:
    """Last resort for a tiny limit: the text cut short, still within it."""
    suffix = "\n…\n"
    low, high = 0, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if measure(text[:middle] + suffix) <= limit:
            low = middle
        else:
            high = middle - 1
    return (text[:low] + suffix) if measure(text[:low] + suffix) <= limit else ""
