"""The evidence page of a ``ChangePack``: approvals, publications, the review owed, escaped."""

from __future__ import annotations

from bot.core.evidence import digest_of
from bot.core.publishing import PublicationView, build_change_pack
from bot.core.render.evidence_html import render_evidence_html


def _pack(*, failed: bool, review: bool) -> dict[str, object]:
    views = [
        PublicationView(
            id=1,
            plane="intune",
            ring="lab",
            target="group-1",
            intent_name="<script>alert(1)</script>",
            version="1.0",
            state="succeeded",
            attempts=1,
            object_id="app-1",
        ),
        PublicationView(
            id=2,
            plane="sccm",
            ring="lab",
            target="PS100012",
            intent_name="7-zip",
            version="24.09",
            state="failed" if failed else "succeeded",
            attempts=1,
            error="400 no collection PS100012" if failed else None,
        ),
    ]
    return build_change_pack(
        repository="acme/intents",
        pr=7,
        head_sha="a" * 40,
        merge_sha="b" * 40,
        check_digest="sha256:" + "c" * 64,
        merged_at="2027-02-17T09:00:00Z",
        approvals=[{"reviewId": 5, "reviewer": "carol", "teams": ["acme/cab"], "commit": "a" * 40}],
        decision={"outcome": "approved", "required": 1, "counted": 1},
        emergency=review,
        post_implementation_review=(
            {"owed": True, "reason": "emergency change", "issue": 12} if review else None
        ),
        publications=views,
    )


def test_a_published_change_shows_who_approved_and_what_each_plane_did() -> None:
    pack = _pack(failed=False, review=False)
    page = render_evidence_html(pack, digest=digest_of(pack))
    assert "PUBLISHED" in page
    assert "2 of 2 publications succeeded" in page
    assert "carol" in page
    assert "acme/cab" in page
    assert "<script>alert(1)</script>" not in page  # user text is escaped
    assert "&lt;script&gt;" in page
    assert digest_of(pack) in page


def test_a_failed_publication_and_a_review_owed_are_shown() -> None:
    pack = _pack(failed=True, review=True)
    page = render_evidence_html(pack, digest=digest_of(pack))
    assert "FAILED" in page
    assert "1 of 2 publications succeeded, 1 failed" in page
    assert "400 no collection PS100012" in page
    assert "issue #12" in page
