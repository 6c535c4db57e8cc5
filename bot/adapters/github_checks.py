"""Check runs: created and updated with their annotations 50 a request; the runs in progress."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

from github.CheckRun import CheckRun as GhCheckRun

from bot.adapters.github_calls import GitHubCalls
from bot.adapters.github_check_output import annotation_batches, output_fields, run_fields
from bot.core.github_model import Annotation, CheckRun
from bot.errors import GitHubError

MAX_CHECK_RUN_PAGES = 10
"""A commit's in-progress runs of one name read at most (1,000)."""


class CheckRunCalls(GitHubCalls):
    """The check run calls of :class:`bot.adapters.github.GitHubAdapter`."""

    def create_check_run(self, repository: str, run: CheckRun) -> int:
        """Create the run with the first 50 annotations, then send the rest 50 at a time."""
        batches = annotation_batches(run.output)
        with self._call("create_check_run", f"creating check run {run.name!r} on {repository}"):
            created = self._renewing(
                lambda: self._repo(repository).create_check_run(
                    name=run.name,
                    head_sha=run.head_sha,
                    **run_fields(run, batches[0] if batches else ()),
                ),
                write=True,
            )
            self._send_rest(created, run, batches[1:])
            return int(created.id)

    def update_check_run(self, repository: str, check_run_id: int, run: CheckRun) -> None:
        """Update the run in place (``PATCH``), annotations 50 per request."""
        batches = annotation_batches(run.output)
        with self._call("update_check_run", f"updating check run {check_run_id} on {repository}"):
            existing = self._repo(repository).get_check_run(check_run_id)  # lazy: no request
            self._renewing(
                lambda: existing.edit(**run_fields(run, batches[0] if batches else ())),
                write=True,
            )
            self._send_rest(existing, run, batches[1:])

    def in_progress_check_runs(self, repository: str, head_sha: str, name: str) -> tuple[int, ...]:
        """This app's runs ``name`` on the commit still in progress (``GET .../check-runs``).

        ``filter=all`` (GitHub lists only the newest run of each name by default), ``app_id``
        when the app is known; with a token, the runs whose app writes as the token's user.
        """
        parameters: dict[str, Any] = {"check_name": name, "status": "in_progress", "filter": "all"}
        if self._app_id is not None:
            parameters["app_id"] = self._app_id
        url = f"/repos/{repository}/commits/{head_sha}/check-runs"
        with self._call("in_progress_check_runs", f"listing the {name!r} runs on {repository}"):
            runs = self._renewing(lambda: self._check_run_pages(url, parameters))
            if self._app_id is None:
                me = self._identity()
                runs = [r for r in runs if f"{(r.get('app') or {}).get('slug')}[bot]" == me]
            return tuple(int(r["id"]) for r in runs if r.get("status") == "in_progress")

    def _check_run_pages(self, url: str, parameters: Mapping[str, Any]) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for page in range(1, MAX_CHECK_RUN_PAGES + 1):
            _, data = self._gh.requester.requestJsonAndCheck(
                "GET", url, parameters={**parameters, "per_page": 100, "page": page}
            )
            runs = data.get("check_runs") if isinstance(data, dict) else None
            if not isinstance(runs, list):
                raise GitHubError(f"GitHub answered {url} with no list of check runs")
            found.extend(runs)
            if len(runs) < 100:
                break
        return found

    def _send_rest(
        self, check_run: GhCheckRun, run: CheckRun, batches: Sequence[Sequence[Annotation]]
    ) -> None:
        # Each update repeats title and summary: GitHub requires them with any output.
        output = run.output
        if output is None:
            return
        for batch in batches:
            self._renewing(partial(check_run.edit, output=output_fields(output, batch)), write=True)
