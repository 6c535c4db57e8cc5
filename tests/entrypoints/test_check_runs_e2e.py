"""A check run never stays ``in_progress``: the bot as deployed, against the GitHub double.

Issue 14: an evaluation that raised after the ``EUCORA policy`` run was created left the run
``in_progress`` for good (one per attempt: five for a PR whose intent held a 5,000-digit integer).
"""

from __future__ import annotations

from typing import Any

from bot.core.github_model import POLICY_CHECK
from tests.entrypoints.test_approvals_e2e import REPO, opened
from tests.entrypoints.test_github_app import App, app, source
from tests.support.gitrepo import GitRepo

SHARED_FIXTURES = (app, source)
"""``test_github_app``'s app over the GitHub double and source repository (found by name)."""
CHROME = "intents/windows/google-chrome.yaml"


def policy_runs(bot: App) -> list[Any]:
    return [r for r in bot.double.check_runs(REPO) if r.name == POLICY_CHECK]


def test_an_intent_with_a_5000_digit_integer_gets_a_completed_blocked_run(
    app: App, source: GitRepo
) -> None:
    source.edit(CHROME, "devices: 12", "devices: " + "1" * 5000)
    source.commit("a very large lab ring")

    opened(app, source)

    [run] = policy_runs(app)
    assert (run.status, run.conclusion) == ("completed", "failure")
    assert any("yaml.integer" in str(a) for a in run.annotations)


def test_an_evaluation_that_raises_completes_its_run_with_a_one_line_reason(
    app: App, source: GitRepo
) -> None:
    source.edit(CHROME, 'version: "131.0.6778.86"', 'version: "131.0.6778.109"')
    source.commit("Chrome 131.0.6778.109")
    app.double.fail(502, count=1000, path=r"/pulls/\d+/reviews$", message="Bad Gateway")

    opened(app, source)  # the approvals read fails after the policy run was created

    [run] = policy_runs(app)
    assert (run.status, run.conclusion) == ("completed", "failure")
    assert run.title == "EUCORA could not evaluate this change"
    reason = (run.summary or "").split("\n\n")[0]
    assert reason == (
        "The evaluation failed (GitHubError: reading the reviews of acme/intents#1: GitHub kept "
        "failing after retries); EUCORA retries it."
    )
