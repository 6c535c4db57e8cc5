"""Audit exports: the JSON Lines an auditor checks offline with only the log's verifier key.

Nothing here reads a file or a database: lines come in and go out as bytes.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

from bot.core.audit_chain import (
    ChainFault,
    ChainProblem,
    ChainReport,
    ProvenEvent,
    StoredCheckpoint,
    verify_chain,
    verify_excerpt,
)
from bot.core.audit_events import GENESIS_HASH, AuditEvent, event_from_json, leaf_data
from bot.core.evidence import canonical_json
from bot.core.tlog import EMPTY_ROOT

EXPORT_FORMAT = "eucora.dev/audit-export/v1"
"""The ``format`` of an export's header line.

An export is JSON Lines, each line canonical JSON:

1. a header ``{"record": "header", "format": ..., "size": N, "complete": bool, "filters": {...}}``;
2. every stored checkpoint, smallest first: ``{"record": "checkpoint", "size": ..., "root":
   base64, "note": signed note, "consistency": [base64 hashes from the previous checkpoint]}``;
3. the events, each line exactly its leaf data (``leaf_data``), in log order; in a filtered
   export each is followed by ``{"record": "inclusion", "seq": ..., "proof": [base64 ...]}``,
   its inclusion proof in the latest checkpoint.

Nothing in the file is trusted but what the verifier key's signatures cover: the header only
says how to read the rest.
"""


@dataclass(frozen=True, slots=True, kw_only=True)
class ExportFilters:
    """Which events an export holds: since a time (event-time text), of a repository, of a PR."""

    since: str | None = None
    repository: str | None = None
    pr: int | None = None

    @property
    def complete(self) -> bool:
        """Whether no filter is set: the export holds the whole signed log."""
        return self.since is None and self.repository is None and self.pr is None

    def matches(self, event: AuditEvent) -> bool:
        """Whether an event passes every filter."""
        return (
            (self.since is None or event.time >= self.since)
            and (self.repository is None or event.repository == self.repository)
            and (self.pr is None or event.pr == self.pr)
        )


def _line(value: Any) -> bytes:
    return canonical_json(value) + b"\n"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def export_header_line(filters: ExportFilters, size: int) -> bytes:
    """The header line of an export of a log whose latest checkpoint covers ``size`` events."""
    return _line(
        {
            "record": "header",
            "format": EXPORT_FORMAT,
            "size": size,
            "complete": filters.complete,
            "filters": {"since": filters.since, "repository": filters.repository, "pr": filters.pr},
        }
    )


def checkpoint_line(checkpoint: StoredCheckpoint) -> bytes:
    """A stored checkpoint as an export line."""
    return _line(
        {
            "record": "checkpoint",
            "size": checkpoint.size,
            "root": _b64(checkpoint.root),
            "note": checkpoint.note,
            "consistency": [_b64(h) for h in checkpoint.consistency],
        }
    )


def event_line(event: AuditEvent) -> bytes:
    """An event as an export line: its leaf data and a newline."""
    return leaf_data(event) + b"\n"


def inclusion_line(seq: int, proof: Sequence[bytes]) -> bytes:
    """The inclusion proof of event ``seq`` in the latest checkpoint, as an export line."""
    return _line({"record": "inclusion", "seq": seq, "proof": [_b64(h) for h in proof]})


class _ExportReader:
    """Reads an export line by line; the first malformed line becomes a fault, not an error."""

    def __init__(self, lines: Iterable[str | bytes]) -> None:
        self._lines = iter(enumerate(lines, 1))
        self._held: tuple[int, dict[str, Any]] | None = None
        self.fault: ChainFault | None = None
        self.events_read = 0
        self.fault_after = 0  # events read before the malformed line

    def _next(self) -> tuple[int, dict[str, Any]] | None:
        if self.fault is not None:
            return None
        if self._held is not None:
            held, self._held = self._held, None
            return held
        numbered = next(self._lines, None)
        if numbered is None:
            return None
        number, raw = numbered
        try:
            value = json.loads(raw)
        except ValueError as error:
            self._fail(number, f"not JSON ({error})")
            return None
        if not isinstance(value, dict):
            self._fail(number, "not a JSON object")
            return None
        return number, value

    def _fail(self, number: int, message: str) -> None:
        if self.fault is None:
            self.fault_after = self.events_read
            self.fault = ChainFault(
                seq=None, problem=ChainProblem.MALFORMED, message=f"line {number}: {message}"
            )

    def header(self) -> dict[str, Any] | None:
        item = self._next()
        if item is None:
            self._fail(1, "an export starts with its header line")
            return None
        number, value = item
        if value.get("record") != "header" or value.get("format") != EXPORT_FORMAT:
            self._fail(number, f"not an {EXPORT_FORMAT} header")
            return None
        if not isinstance(value.get("complete"), bool):
            self._fail(number, "the header says neither complete nor filtered")
            return None
        return value

    def checkpoints(self) -> list[StoredCheckpoint]:
        stored: list[StoredCheckpoint] = []
        while (item := self._next()) is not None:
            number, value = item
            if value.get("record") != "checkpoint":
                self._held = item
                break
            try:
                stored.append(
                    StoredCheckpoint(
                        size=_int(value["size"]),
                        root=_unb64(value["root"]),
                        note=_text(value["note"]),
                        consistency=tuple(_unb64(h) for h in value["consistency"]),
                    )
                )
            except (KeyError, TypeError, ValueError) as error:
                self._fail(number, f"not a checkpoint record ({error})")
                break
        return stored

    def events(self) -> Iterator[AuditEvent]:
        while (item := self._next()) is not None:
            number, value = item
            try:
                event = event_from_json(value)
            except ValueError as error:
                self._fail(number, f"not an event: {error}")
                return
            self.events_read += 1
            yield event

    def proven_events(self) -> Iterator[ProvenEvent]:
        for event in self.events():
            item = self._next()
            if item is None:
                self._fail(0, f"event {event.seq} has no inclusion proof after it")
                return
            number, value = item
            if value.get("record") != "inclusion" or value.get("seq") != event.seq:
                self._fail(number, f"expected the inclusion proof of event {event.seq}")
                return
            try:
                proof = tuple(_unb64(h) for h in value["proof"])
            except (KeyError, TypeError, ValueError) as error:
                self._fail(number, f"not an inclusion proof ({error})")
                return
            yield ProvenEvent(event=event, proof=proof)


def _int(value: Any) -> int:
    if type(value) is not int:
        raise TypeError("expected an integer")
    return value


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError("expected text")
    return value


def _unb64(value: Any) -> bytes:
    text = _text(value)
    data = base64.b64decode(text, validate=True)
    if _b64(data) != text:
        raise ValueError("not canonical base64")
    return data


def verify_export(lines: Iterable[str | bytes], verifier_keys: Sequence[str]) -> ChainReport:
    """Check an export offline with only the log's verifier key(s).

    A complete export is walked like the database (``verify_chain``), and every event must be
    covered by a checkpoint the keys verify. A filtered export is checked event by event against
    the latest checkpoint (``verify_excerpt``). A line that does not parse is the fault where it
    stands ("line N: ..."). Truncating a complete export together with its last checkpoints is
    not visible in the file itself: compare its latest checkpoint with one kept elsewhere.
    """
    reader = _ExportReader(lines)
    header = reader.header()
    if header is None:
        return ChainReport(size=0, head_hash=GENESIS_HASH, root=EMPTY_ROOT, fault=reader.fault)
    checkpoints = reader.checkpoints()
    if header["complete"]:
        report = verify_chain(reader.events(), checkpoints, verifier_keys, signed_only=True)
    else:
        report = verify_excerpt(reader.proven_events(), checkpoints, verifier_keys)
    if reader.fault is not None and (report.fault is None or report.size >= reader.fault_after):
        return replace(report, fault=reader.fault)
    return report
