"""The evidence page beside the pack: its pull request, linked packs, signature, and the index.

Every value the server passes in (a PR title, an author, a key id, a repository) is user text
and is escaped; only http(s) addresses become links; pack links stay under ``/evidence/``.
"""

from __future__ import annotations

from typing import Any

from bot.core.audit_events import AuditEvent
from bot.core.evidence import digest_of
from bot.core.publishing import PublicationView, build_change_pack
from bot.core.render.evidence_html import (
    PUBLICATION_COLUMNS,
    IndexEntry,
    PageContext,
    PullRequestRef,
    index_entries,
    render_evidence_html,
    render_evidence_index,
)
from tests.core.test_evidence_html import DIGEST, EVIL, Page, make_pack

CHANGE_DIGEST = "sha256:" + "e" * 64
PR_URL = "https://github.com/acme/intents/pull/7"


def _context(**overrides: Any) -> PageContext:
    fields: dict[str, Any] = {
        "pull_request": PullRequestRef(number=7, url=PR_URL, title=EVIL, author=EVIL),
        "related": (("Change pack", CHANGE_DIGEST),),
        "key_ids": (EVIL,),
    }
    return PageContext(**(fields | overrides))


def make_change_pack(
    *, check_digest: str = DIGEST, repository: str = "acme/intents", **publication: Any
) -> dict[str, Any]:
    """A change pack of PR 7 with one publication (``publication`` overrides its fields)."""
    fields: dict[str, Any] = {
        "id": 1,
        "plane": "intune",
        "ring": "lab",
        "target": "group-1",
        "intent_name": "7-zip",
        "version": "24.09",
        "state": "succeeded",
        "attempts": 1,
        "object_id": "app-1",
    }
    return build_change_pack(
        repository=repository,
        pr=7,
        head_sha="a" * 40,
        merge_sha="b" * 40,
        check_digest=check_digest,
        merged_at="2027-02-17T09:00:00Z",
        approvals=[],
        decision={"outcome": "not_required", "required": 0, "counted": 0},
        emergency=False,
        post_implementation_review=None,
        publications=[PublicationView(**(fields | publication))],
    )


def _hrefs(page: str) -> list[str]:
    return [str(a.get("href")) for a in Page(page).all("a")]


class TestCheckPage:
    def test_the_pull_request_title_and_author_are_text_and_the_number_links_to_it(self) -> None:
        page = render_evidence_html(make_pack(), digest=DIGEST, context=_context())
        assert EVIL not in page
        visible = Page(page).visible()
        assert f"Pull request #7 {EVIL} by {EVIL}" in visible
        assert PR_URL in _hrefs(page)

    def test_a_pull_request_address_that_is_not_http_is_not_a_link(self) -> None:
        ref = PullRequestRef(number=7, url="javascript:alert(1)")
        page = render_evidence_html(make_pack(), digest=DIGEST, context=_context(pull_request=ref))
        assert "javascript:" not in page
        assert "Pull request #7" in Page(page).visible()

    def test_the_change_pack_is_linked_under_evidence(self) -> None:
        page = render_evidence_html(make_pack(), digest=DIGEST, context=_context())
        assert f"./{CHANGE_DIGEST}" in _hrefs(page)
        assert f"Change pack: {CHANGE_DIGEST}" in Page(page).visible()

    def test_the_signature_key_id_is_shown_escaped(self) -> None:
        page = render_evidence_html(make_pack(), digest=DIGEST, context=_context())
        assert EVIL not in page
        assert f"Signed (DSSE, Ed25519) by key {EVIL}" in Page(page).visible()

    def test_an_unsigned_pack_says_so(self) -> None:
        page = render_evidence_html(make_pack(), digest=DIGEST, context=_context(key_ids=()))
        assert "Not signed: no DSSE envelope is stored" in Page(page).visible()

    def test_without_a_context_the_page_is_as_before(self) -> None:
        pack = make_pack()
        page = render_evidence_html(pack, digest=DIGEST)
        assert page == render_evidence_html(pack, digest=DIGEST, context=None)
        assert "Signature" not in Page(page).visible()
        assert "Pull request #" not in Page(page).visible()


class TestChangePage:
    def test_the_check_pack_is_linked_back(self) -> None:
        pack = make_change_pack()
        page = render_evidence_html(pack, digest=digest_of(pack))
        assert f"./{DIGEST}" in _hrefs(page)

    def test_the_pull_request_fact_links_to_it_with_its_title(self) -> None:
        pack = make_change_pack()
        page = render_evidence_html(pack, digest=digest_of(pack), context=_context(related=()))
        assert PR_URL in _hrefs(page)
        assert f"#7 {EVIL} by {EVIL}" in Page(page).visible()
        assert EVIL not in page

    def test_publications_use_the_words_of_the_pull_request_comment(self) -> None:
        pack = make_change_pack(url="https://intune.example/app-1", attempts=3)
        page = render_evidence_html(pack, digest=digest_of(pack))
        visible = Page(page).visible()
        assert " ".join(PUBLICATION_COLUMNS) in visible
        assert "intune lab (group-1) 7-zip 24.09 published (attempt 3) app-1" in visible
        assert "https://intune.example/app-1" in _hrefs(page)
        assert "objectId" not in visible

    def test_a_failed_publication_shows_its_reason_escaped(self) -> None:
        pack = make_change_pack(state="failed", object_id=None, error=EVIL, intent_name=EVIL)
        page = render_evidence_html(pack, digest=digest_of(pack))
        assert EVIL not in page
        assert f"{EVIL} 24.09 failed {EVIL}" in Page(page).visible()

    def test_a_plane_address_that_is_not_http_is_not_a_link(self) -> None:
        pack = make_change_pack(url="javascript:alert(1)")
        page = render_evidence_html(pack, digest=digest_of(pack))
        assert "javascript:" not in page


def _event(seq: int, type_: str, payload: Any, *, pr: int | None = 7) -> AuditEvent:
    return AuditEvent(
        seq=seq,
        time=f"2027-02-17T09:00:0{seq}.000000Z",
        type=type_,
        actor="eucora[bot]",
        correlation_id="d-1",
        repository="acme/intents",
        pr=pr,
        head_sha=None,
        payload=payload,
        prev_hash="0" * 64,
        hash="1" * 64,
    )


class TestIndex:
    def test_entries_are_the_stored_packs_newest_first_once_each(self) -> None:
        events = [
            _event(1, "evidence.stored", {"digest": DIGEST, "kind": "CheckPack", "keyid": None}),
            _event(2, "pull_request.evaluated", {"digest": "sha256:" + "f" * 64}),
            _event(
                3, "evidence.stored", {"digest": CHANGE_DIGEST, "kind": "ChangePack", "keyid": "k"}
            ),
            _event(4, "evidence.stored", {"digest": DIGEST, "kind": "CheckPack", "keyid": None}),
            _event(5, "evidence.stored", "not a mapping", pr=None),
        ]
        entries = index_entries(events)
        assert [(e.digest, e.kind, e.key_ids) for e in entries] == [
            (DIGEST, "CheckPack", ()),
            (CHANGE_DIGEST, "ChangePack", ("k",)),
        ]
        assert entries[0].stored == "2027-02-17T09:00:04.000000Z"
        assert entries[0].pull_request == PullRequestRef(number=7)

    def test_the_index_lists_kind_repository_pull_request_and_digest_escaped(self) -> None:
        entries = [
            IndexEntry(
                digest=CHANGE_DIGEST,
                kind="ChangePack",
                repository=EVIL,
                pull_request=PullRequestRef(number=7, url=PR_URL, title=EVIL),
                stored="2027-02-17T09:00:02.000000Z",
                key_ids=("k",),
            ),
            IndexEntry(
                digest=DIGEST,
                kind="CheckPack",
                repository="acme/intents",
                pull_request=None,
                stored="2027-02-17T09:00:01.000000Z",
            ),
        ]
        page = render_evidence_index(entries)
        assert EVIL not in page
        parsed = Page(page)
        assert parsed.errors == []
        visible = parsed.visible()
        assert "Evidence packs (2), newest first" in visible
        assert (
            f"2027-02-17 09:00:02.000000 UTC change {EVIL} #7 {EVIL} signed {CHANGE_DIGEST}"
        ) in visible
        assert f"2027-02-17 09:00:01.000000 UTC check acme/intents — not signed {DIGEST}" in (
            visible
        )
        assert _hrefs(page) == ["#main", "#packs", PR_URL, f"./{CHANGE_DIGEST}", f"./{DIGEST}"]
        assert "<script" not in page

    def test_an_empty_index_says_so(self) -> None:
        assert "No evidence pack is stored yet." in Page(render_evidence_index([])).visible()


def test_a_check_digest_that_is_not_a_digest_stays_a_path_under_evidence() -> None:
    pack = make_change_pack() | {"checkDigest": "javascript:alert(1)//../x"}
    hrefs = _hrefs(render_evidence_html(pack, digest=DIGEST))
    assert "./javascript%3Aalert%281%29%2F%2F..%2Fx" in hrefs
    assert not any(h.startswith("javascript") for h in hrefs)
