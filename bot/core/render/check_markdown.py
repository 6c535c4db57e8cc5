"""The check evidence pack as a sticky pull request comment and Actions output.

Every function renders a pack *dict* (as ``build_check_pack`` builds it, or as read back from the
evidence store), never the live check objects, so a stored pack re-renders byte for byte.
User text is made inert Markdown; workflow-command data and properties are percent-encoded for
the runner.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.core.pack_view import CheckPackView
from bot.core.render.check_details import _md_diff_details, _md_rule_details
from bot.core.render.check_summary import _md_approvals, _md_footer, _md_header, _md_preview
from bot.core.render.check_tables import (
    _md_changes,
    _md_factors,
    _md_findings,
    _md_other_files,
    _md_risk,
    _md_waivers,
)
from bot.core.render.findings import render_github
from bot.core.render.fitting import Block, _fit, _Layout
from bot.core.render.pack_findings import _by_severity, _finding

COMMENT_MAX_CHARS = 65_536  # GitHub's limit on an issue comment body
STEP_SUMMARY_MAX_BYTES = 1_048_576  # GitHub's limit on one step's job summary


def render_check_markdown(  # noqa: PLR0913 - keyword-only parts of the rendering
    pack: Mapping[str, Any],
    *,
    evidence_url: str | None = None,
    digest: str | None = None,
    max_chars: int = COMMENT_MAX_CHARS,
    config: Mapping[str, Any] | None = None,
    verdict: str | None = None,
) -> str:
    """The sticky pull request comment, within ``max_chars`` (GitHub's limit by default).

    When it is too long, the collapsible details go first, then findings are cut (with a line
    saying how many more, pointing at ``evidence_url``), then the other long listings.
    ``config`` and ``verdict``: as for :func:`render_check_text` (the verdict stands under the
    status line, which then says only the policy passed).
    """
    layout = _layout(CheckPackView.of(pack), evidence_url, digest, config, verdict)
    return _fit(layout, max_chars, len, evidence_url)


def _utf8_length(text: str) -> int:
    return len(text.encode("utf-8"))


def render_check_github(
    pack: Mapping[str, Any],
    *,
    evidence_url: str | None = None,
    digest: str | None = None,
    config: Mapping[str, Any] | None = None,
    verdict: str | None = None,
) -> tuple[str, str]:
    """Workflow commands (one annotation per finding, most severe first) and the step summary.

    GitHub shows only the first 10 error and 10 warning annotations of a step, so all are emitted
    with errors first. The summary is the Markdown rendering within 1 MiB of UTF-8, GitHub's limit.
    """
    view = CheckPackView.of(pack)
    commands = render_github([_finding(item) for item in _by_severity(view.findings)])
    layout = _layout(view, evidence_url, digest, config, verdict)
    summary = _fit(layout, STEP_SUMMARY_MAX_BYTES, _utf8_length, evidence_url)
    return commands, summary


def _layout(
    view: CheckPackView,
    evidence_url: str | None,
    digest: str | None,
    config: Mapping[str, Any] | None = None,
    verdict: str | None = None,
) -> _Layout:
    blocks: list[Block] = [
        _md_header(view, verdict),
        _md_changes(view),
        _md_other_files(view),
        _md_risk(view),
        _md_factors(view),
        _md_approvals(view, config),
        _md_findings(view),
        _md_waivers(view),
        _md_diff_details(view),
        _md_rule_details(view),
        _md_preview(view),
        _md_footer(view, evidence_url, digest),
    ]
    # drop: rule results, diffs, then the preview; cut: findings, changes, factors, waivers, files
    return _Layout(blocks=tuple(blocks), droppable=(9, 8, 10), cuttable=(6, 1, 4, 7, 2))
