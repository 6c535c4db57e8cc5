"""Deployments of a merge: a protection rule answered, deployments made and found, statuses."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.adapters.github_calls import GitHubCalls, scrub
from bot.core.github_model import DEPLOYMENT_DESCRIPTION_MAX, DeploymentReviewState, one_line
from bot.errors import GitHubError

MAX_DEPLOYMENT_PAGES = 10
"""A merge's deployments to one environment read back at most (1,000: one per intent)."""


class DeploymentCalls(GitHubCalls):
    """The deployment calls of :class:`bot.adapters.github.GitHubAdapter`."""

    def review_deployment(
        self,
        repository: str,
        run_id: int,
        *,
        environment: str,
        state: DeploymentReviewState,
        comment: str,
    ) -> None:
        """``POST .../actions/runs/{run_id}/deployment_protection_rule`` (the event's callback).

        The URL is built from the configured API and the run id, never taken from the payload:
        the installation token goes only to GitHub.
        """
        body = {"environment_name": environment, "state": str(state), "comment": comment[:1024]}
        url = f"/repos/{repository}/actions/runs/{run_id}/deployment_protection_rule"
        with self._call("review_deployment", f"answering the deployment of run {run_id}"):
            self._post(url, body)

    def create_deployment(
        self,
        repository: str,
        *,
        ref: str,
        environment: str,
        description: str,
        payload: Mapping[str, Any],
    ) -> int:
        """``POST .../deployments`` for ``ref`` with no auto-merge and no required contexts.

        EUCORA's checks already gated the merge: ``required_contexts: []`` stops GitHub refusing
        the deployment over other contexts, ``auto_merge: false`` stops it merging the default
        branch into ``ref``. Neither transient nor production (one ring of many).
        """
        body = {
            "ref": ref,
            "environment": environment,
            "description": description,
            "payload": dict(payload),
            "auto_merge": False,
            "required_contexts": [],
            "transient_environment": False,
            "production_environment": False,
        }
        what = f"creating a deployment of {ref[:12]} to {environment} on {repository}"
        with self._call("create_deployment", what):
            data = self._post(f"/repos/{repository}/deployments", body)
            if not isinstance(data.get("id"), int):  # a 202 "auto-merged" answer has no id
                raise GitHubError(
                    scrub(f"{what}: GitHub made no deployment: {data.get('message')}")
                )
            return int(data["id"])

    def find_deployment(
        self, repository: str, *, sha: str, environment: str, payload: Mapping[str, Any]
    ) -> int | None:
        """``GET .../deployments?sha=&environment=`` (newest first), matched on the payload."""
        what = f"looking for a deployment of {sha[:12]} to {environment} on {repository}"
        with self._call("find_deployment", what):
            return self._renewing(
                lambda: self._find_deployment(repository, sha, environment, payload)
            )

    def _find_deployment(
        self, repository: str, sha: str, environment: str, payload: Mapping[str, Any]
    ) -> int | None:
        items = self._raw_pages(
            f"/repos/{repository}/deployments",
            {"sha": sha, "environment": environment},
            pages=MAX_DEPLOYMENT_PAGES,
        )
        for item in items:  # newest first: stops reading at the first match
            held = item.get("payload")
            if isinstance(held, dict) and all(held.get(k) == v for k, v in payload.items()):
                return int(item["id"])
        return None

    def create_deployment_status(  # noqa: PLR0913 - GitHub's status fields
        self,
        repository: str,
        deployment_id: int,
        *,
        state: str,
        description: str,
        log_url: str | None,
        environment_url: str | None,
    ) -> None:
        """``POST .../deployments/{id}/statuses``, the description clipped to 140 characters.

        ``auto_inactive: false``: one environment holds many intents, and a newer deployment of
        another intent does not make this one inactive.
        """
        body: dict[str, Any] = {
            "state": state,
            "description": one_line(description, DEPLOYMENT_DESCRIPTION_MAX),
            "auto_inactive": False,
        }
        if log_url:
            body["log_url"] = log_url
        if environment_url:
            body["environment_url"] = environment_url
        what = f"setting deployment {deployment_id} on {repository} to {state}"
        with self._call("create_deployment_status", what):
            self._post(f"/repos/{repository}/deployments/{deployment_id}/statuses", body)
