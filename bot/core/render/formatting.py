"""Values and user text made short, plain or inert for a terminal, Markdown or a URL.

User-supplied text (intent values, messages, paths, waiver reasons) is escaped for the target:
control characters are shown, not obeyed, in a terminal; Markdown and HTML are neutralised in a
comment.
"""

from __future__ import annotations

import json
import re
from typing import Any

VALUE_WIDTH = 60  # a field value longer than this is cut, with an ellipsis
DETAIL_VALUE_WIDTH = 120  # the same, in the collapsible full diff
SHORT_SHA = 12


def _plural(count: int, noun: str, plural: str | None = None) -> str:
    word = noun if count == 1 else (plural or noun + "s")
    return f"{count:,} {word}"


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _json(value: Any) -> str:
    """A field value as compact JSON (so ``null``, ``"1"`` and ``1`` stay distinct)."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(", ", ": "))


def _value(value: Any, width: int = VALUE_WIDTH) -> str:
    return "—" if value is None else _clip(_json(value), width)


def _scalar(value: Any, width: int = VALUE_WIDTH) -> str:
    """A scalar for a summary cell: strings without quotes."""
    if value is None:
        return "—"
    return _clip(value if isinstance(value, str) else _json(value), width)


def _short(sha: Any) -> str:
    return str(sha)[:SHORT_SHA]


_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")


def _plain(text: Any) -> str:
    """User text for a terminal, on one line: control characters shown as escapes, not obeyed."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", str(text))


_MARKDOWN_ESCAPES = {
    "&": "&amp;",
    "<": "&lt;",
    ">": "&gt;",
    "|": "&#124;",  # a cell separator even inside code spans
    "`": "&#96;",
    "$": "&#36;",  # GitHub math
    "\\": "\\\\",
    "*": "\\*",
    "_": "\\_",
    "[": "\\[",
    "]": "\\]",
    "~": "\\~",
    "@": "@&#8203;",  # no mentions (a zero-width space after @)
    "\r": " ",
    "\n": " ",
}
_MARKDOWN_SPECIAL = re.compile("[" + re.escape("".join(_MARKDOWN_ESCAPES)) + "]")


def escape_markdown(text: Any) -> str:
    """User text as inert one-line Markdown: no HTML, links, emphasis, mentions, cell breaks."""
    return _MARKDOWN_SPECIAL.sub(lambda m: _MARKDOWN_ESCAPES[m.group()], str(text))


def _code(text: Any) -> str:
    return f"<code>{escape_markdown(text)}</code>"


def _url(url: str) -> str:
    for char, code in ((" ", "%20"), ("(", "%28"), (")", "%29"), ("<", "%3C"), (">", "%3E")):
        url = url.replace(char, code)
    return url
