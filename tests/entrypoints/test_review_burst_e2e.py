"""A burst of reviews of one PR: every review reaches the ledger from its own webhook, the PR is
decided once (the inbox folds the queued reviews into the newest; ``bot.flows.review_deliveries``)."""

from __future__ import annotations

from bot.adapters.storage.reviews import ReviewLedger
from tests.entrypoints.test_approvals_e2e import (  # noqa: F401 - pytest finds fixtures by name
    REPO,
    App,
    GitRepo,
    app,
    approval_run,
    audit_types,
    opened,
    source,
)
from tests.support import webhooks


def test_queued_reviews_of_one_pr_are_all_recorded_and_decided_once(
    app: App,  # noqa: F811 - the fixture imported above
    source: GitRepo,  # noqa: F811
) -> None:
    pr = opened(app, source)
    decided = audit_types(app, pr).count("approval.decided")
    reviews = [
        app.double.add_review(REPO, pr.number, user, state)
        for user, state in (("dave", "COMMENTED"), ("sam", "COMMENTED"), ("carol", "APPROVED"))
    ]
    for review in reviews:  # GitHub delivers them faster than the worker runs them
        delivery = webhooks.review_event(
            pr, review, secret=app.secret, installation_id=app.installation
        )
        assert app.post(delivery) == 202

    assert app.drain() == 1  # one run for the three deliveries

    ledger = ReviewLedger(app.server.intake.services.engine)
    entries = ledger.entries(REPO, pr.number)
    assert [(e.review.id, e.source, e.action) for e in entries] == [
        (r.id, "webhook", "submitted") for r in reviews
    ]
    assert all(e.review.commit_id == pr.head_sha for e in entries)
    types = audit_types(app, pr)
    assert types.count("approval.decided") == decided + 1
    assert types.count("approval.review_recorded") == 3
    run = approval_run(app)
    assert (run.status, run.conclusion) == ("completed", "success")
    rows = app.server.intake.services.inbox.rows()
    assert sorted(r["status"] for r in rows if r["event"] == "pull_request_review") == [
        "collapsed",
        "collapsed",
        "done",
    ]
