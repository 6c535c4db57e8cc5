"""Every relative link in README.md and docs/ points at a file (and heading) that exists."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import pytest

from tests.conftest import ROOT

DOCUMENTS = sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md")])
LINK = re.compile(r"(?<!\!)\[(?:[^\]\[]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
IMAGE = re.compile(r"!\[[^\]]*\]\(\s*([^)\s]+)")
FENCE = re.compile(r"^(```|~~~)")


def prose(text: str) -> str:
    """The text outside fenced code blocks and inline code spans."""
    lines, inside = [], False
    for line in text.splitlines():
        if FENCE.match(line.strip()):
            inside = not inside
            continue
        if not inside:
            lines.append(re.sub(r"`[^`]*`", "", line))
    return "\n".join(lines)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"`|\*|_(?=\w)|(?<=\w)_", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    return {
        slug(line.lstrip("#"))
        for line in prose(path.read_text(encoding="utf-8")).splitlines()
        if re.match(r"^#{1,6} ", line)
    }


def relative_links(path: Path) -> list[str]:
    text = prose(path.read_text(encoding="utf-8"))
    found = LINK.findall(text) + IMAGE.findall(text)
    return [t for t in found if not re.match(r"^[a-z][a-z0-9+.-]*:", t, re.IGNORECASE)]


def test_there_are_documents_with_links() -> None:
    names = {p.relative_to(ROOT).as_posix() for p in DOCUMENTS}
    assert {
        "docs/quickstart.md",
        "docs/github-app.md",
        "docs/operations.md",
        "docs/security.md",
    } <= names
    assert sum(len(relative_links(p)) for p in DOCUMENTS) > 20


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_relative_link_resolves(document: Path) -> None:
    broken = []
    for target in relative_links(document):
        file_part, _, anchor = unquote(target).partition("#")
        resolved = (document.parent / file_part).resolve() if file_part else document
        if not resolved.exists():
            broken.append(
                f"{target}: no {resolved.relative_to(ROOT) if resolved.is_relative_to(ROOT) else resolved}"
            )
            continue
        if not resolved.is_relative_to(ROOT):
            broken.append(f"{target}: outside the repository")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            broken.append(f"{target}: no heading #{anchor} in {resolved.relative_to(ROOT)}")
    assert not broken, "\n".join(broken)


def test_the_checker_sees_broken_links(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "# Title\n[ok](#title) [bad](#nope) [file](missing.md) [web](https://example.com)\n"
        "```\n[in code](ignored.md)\n```\n`[span](ignored.md)`\n",
        encoding="utf-8",
    )
    assert relative_links(page) == ["#title", "#nope", "missing.md"]
    assert anchors(page) == {"title"}
    assert slug("2b. As a GitHub App") == "2b-as-a-github-app"
    assert slug("Make the EUCORA checks required") == "make-the-eucora-checks-required"
    assert slug("What it may do, and why") == "what-it-may-do-and-why"
