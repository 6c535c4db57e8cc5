"""The check as a GitHub Actions step: the flow behind ``eucora action``.

Reads the event that started the workflow, checks its base and head revisions in the checked-out
repository exactly as ``eucora check`` does, and hands the result to the runner the ways it
listens: annotations (workflow commands on stdout), the job summary, step outputs, the evidence
pack as a file for ``actions/upload-artifact``, and — given a token — the sticky comment.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from bot.core.action import (
    ActionEvent,
    EventError,
    capped_annotations,
    check_outputs,
    evidence_file_name,
    format_outputs,
    parse_event,
)
from bot.core.evidence import canonical_json
from bot.core.github_model import EVIDENCE_MARKER
from bot.core.render.check import render_check_github, render_check_markdown
from bot.errors import GitHubError
from bot.flows.check import CheckedChange, check_revisions
from bot.ports import GitHub

EVENT_FILE_MAX_BYTES = 25 * 1024 * 1024  # GitHub caps webhook payloads at 25 MB


class ActionError(Exception):
    """The step cannot run: its environment or event is not what a check needs (exit 2)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ActionEnvironment:
    """What the runner tells the step, through its environment variables."""

    event_name: str
    event_path: Path
    repo: Path
    output_path: Path | None = None
    summary_path: Path | None = None
    evidence_dir: Path = Path()

    @classmethod
    def from_environ(
        cls, environ: Mapping[str, str], *, repo: str | None = None, evidence_dir: str | None = None
    ) -> ActionEnvironment:
        """Read ``GITHUB_EVENT_NAME``, ``GITHUB_EVENT_PATH``, ``GITHUB_OUTPUT``... from a mapping.

        The repository defaults to ``GITHUB_WORKSPACE``, the evidence folder to ``RUNNER_TEMP``
        (both the current folder outside a runner).
        """
        event_path = environ.get("GITHUB_EVENT_PATH")
        if not event_path:
            raise ActionError(
                "GITHUB_EVENT_PATH is not set: `eucora action` runs as a GitHub Actions step"
                " (use `eucora check` elsewhere)"
            )
        output = environ.get("GITHUB_OUTPUT")
        summary = environ.get("GITHUB_STEP_SUMMARY")
        return cls(
            event_name=environ.get("GITHUB_EVENT_NAME", ""),
            event_path=Path(event_path),
            repo=Path(repo or environ.get("GITHUB_WORKSPACE") or "."),
            output_path=Path(output) if output else None,
            summary_path=Path(summary) if summary else None,
            evidence_dir=Path(evidence_dir or environ.get("RUNNER_TEMP") or "."),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ActionReport:
    """What the step did: the event, the check, what to print, and what became of the comment."""

    event: ActionEvent
    run: CheckedChange
    annotations: str
    evidence_file: Path
    comment: str
    comment_failed: bool = False

    @property
    def blocked(self) -> bool:
        """Whether the change is blocked (the step fails, as ``eucora check`` exits 1)."""
        return self.run.result.blocked


def read_event(environment: ActionEnvironment) -> ActionEvent:
    """The event that started the workflow, from the payload file the runner wrote."""
    path = environment.event_path
    try:
        with path.open("rb") as stream:
            raw = stream.read(EVENT_FILE_MAX_BYTES + 1)
    except OSError as error:
        raise ActionError(f"cannot read the event payload {path}: {error.strerror}") from None
    if len(raw) > EVENT_FILE_MAX_BYTES:
        raise ActionError(f"{path}: the event payload is larger than GitHub's 25 MB")
    try:
        payload = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        where = f":{error.lineno}:{error.colno}" if isinstance(error, json.JSONDecodeError) else ""
        raise ActionError(f"{path}{where}: the event payload is not JSON") from None
    try:
        return parse_event(environment.event_name, payload)
    except EventError as error:
        raise ActionError(f"{path}: {error}") from None


def _append(path: Path | None, text: str) -> None:
    if path is None:
        return
    try:
        with path.open("a", encoding="utf-8") as stream:
            stream.write(text)
    except OSError as error:
        raise ActionError(f"cannot write {path}: {error.strerror}") from None


def _comment(
    event: ActionEvent,
    run: CheckedChange,
    connect: Callable[[], GitHub] | None,
    public_url: str | None,
) -> tuple[str, bool]:
    """Post or update the sticky comment when it can be; say why not otherwise."""
    if event.number is None:
        return "no comment: a merge group has no pull request to comment on", False
    if event.from_fork:
        return "no comment: the pull request comes from a fork (its token is read-only)", False
    if connect is None:
        return "no comment: no GITHUB_TOKEN given", False
    evidence_url = f"{public_url.rstrip('/')}/evidence/{run.digest}" if public_url else None
    body = render_check_markdown(run.pack, digest=run.digest, evidence_url=evidence_url)
    try:
        comment_id = connect().upsert_comment(event.repository, event.number, EVIDENCE_MARKER, body)
    except GitHubError as error:
        return f"the sticky comment could not be posted: {error}", True
    return f"sticky comment {comment_id} on pull request #{event.number} is up to date", False


def run_action(
    environment: ActionEnvironment,
    *,
    now: datetime,
    connect: Callable[[], GitHub] | None = None,
    home: Path | None = None,
    public_url: str | None = None,
) -> ActionReport:
    """Check the event's revisions and report to the runner (and to the pull request).

    ``connect`` builds the GitHub client for the comment, only when one will be posted.
    Raises :class:`ActionError` (and ``bot.adapters.git.GitError`` for missing revisions)
    before anything is written when the step cannot run.
    """
    event = read_event(environment)
    run = check_revisions(
        environment.repo, event.base_sha, event.head_sha, now=now, labels=event.labels, home=home
    )
    evidence_url = f"{public_url.rstrip('/')}/evidence/{run.digest}" if public_url else None
    _, summary = render_check_github(run.pack, evidence_url=evidence_url, digest=run.digest)
    evidence_file = environment.evidence_dir / evidence_file_name(run.digest)
    try:
        environment.evidence_dir.mkdir(parents=True, exist_ok=True)
        evidence_file.write_bytes(canonical_json(run.pack))
    except OSError as error:
        raise ActionError(f"cannot write {evidence_file}: {error.strerror}") from None
    _append(environment.summary_path, summary)
    outputs = check_outputs(run.pack, digest=run.digest, evidence_file=str(evidence_file))
    _append(environment.output_path, format_outputs(outputs))
    comment, failed = _comment(event, run, connect, public_url)
    return ActionReport(
        event=event,
        run=run,
        annotations=capped_annotations(run.pack["findings"]),
        evidence_file=evidence_file,
        comment=comment,
        comment_failed=failed,
    )
