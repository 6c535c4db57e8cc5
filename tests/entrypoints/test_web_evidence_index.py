"""``GET /evidence/`` and the links between packs, over a catalogue of the audit log's records.

The catalogue double is an in-memory list of what the audit log recorded (newest first) and the
envelopes stored beside the packs; one test builds the real catalogue from a SQLite audit log and
the evidence store, as ``eucora serve`` does.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from bot.adapters.evidence_keys import SettingsKeys
from bot.adapters.evidence_store import EvidenceStore
from bot.adapters.pem_keys import PRIVATE_KEY_NAME, generate_key_pair
from bot.adapters.storage.audit_log import AuditLog
from bot.adapters.storage.db import create_database_engine, upgrade_schema
from bot.core.evidence import canonical_json, digest_of
from bot.core.render.evidence_html import IndexEntry, PullRequestRef
from bot.entrypoints import web
from bot.entrypoints.serve import StoreSource
from bot.flows.evidence import EvidenceContext, record_evidence
from bot.ports import EvidencePorts
from bot.settings import Settings
from tests.core.test_evidence_html import EVIL, Page, make_pack
from tests.core.test_evidence_html_links import make_change_pack

WEB = "https://github.com"
KEY_ID = "0123abcd" * 8


def _change_pack(check_digest: str) -> dict[str, Any]:
    return make_change_pack(check_digest=check_digest, repository="contoso/eucora-intents")


class Catalogue:
    """What the audit log recorded, newest first, and the envelopes by digest."""

    def __init__(self, entries: Sequence[IndexEntry], envelopes: dict[str, bytes]) -> None:
        self._entries = list(entries)
        self._envelopes = envelopes

    def entries(self) -> Sequence[IndexEntry]:
        return self._entries

    def envelope(self, digest: str) -> bytes | None:
        return self._envelopes.get(digest)


class Packs:
    def __init__(self, packs: dict[str, bytes]) -> None:
        self.packs = packs

    def get(self, digest: str) -> bytes | None:
        return self.packs.get(digest)


@pytest.fixture
def check() -> dict[str, Any]:
    return make_pack(repository="contoso/eucora-intents")


@pytest.fixture
def change(check: dict[str, Any]) -> dict[str, Any]:
    return _change_pack(digest_of(check))


@pytest.fixture
def other_change() -> dict[str, Any]:
    """A change pack of the same pull request that was checked by another pack."""
    return _change_pack("sha256:" + "9" * 64) | {"mergedAt": "2027-02-18T09:00:00Z"}


def _entry(pack: dict[str, Any], stored: str, key_ids: tuple[str, ...] = ()) -> IndexEntry:
    return IndexEntry(
        digest=digest_of(pack),
        kind=str(pack["kind"]),
        repository=str(pack.get("repository", "contoso/eucora-intents")),
        pull_request=PullRequestRef(number=7),
        stored=stored,
        key_ids=key_ids,
    )


def _client(
    check: dict[str, Any],
    change: dict[str, Any],
    other_change: dict[str, Any],
    surface: str = "ALL",
) -> FlaskClient:
    packs = {digest_of(p): canonical_json(p) for p in (check, change, other_change)}
    envelope = {"payload": "", "payloadType": "x", "signatures": [{"keyid": KEY_ID, "sig": ""}]}
    catalogue = Catalogue(
        [
            _entry(other_change, "2027-02-18T09:00:00.000000Z"),
            _entry(change, "2027-02-17T09:00:00.000000Z", (KEY_ID,)),
            _entry(check, "2027-02-16T09:00:00.000000Z"),
        ],
        {digest_of(change): json.dumps(envelope).encode()},
    )
    # By name: tests/entrypoints/test_web.py reloads the module, making new enum members.
    app = web.create_app(
        evidence=Packs(packs),
        repository_url_for=web.github_repository_urls(WEB),
        catalogue=catalogue,
        surface=web.Surface[surface],
    )
    return app.test_client()


@pytest.fixture
def client(
    check: dict[str, Any], change: dict[str, Any], other_change: dict[str, Any]
) -> FlaskClient:
    return _client(check, change, other_change)


def _hrefs(html: str) -> list[str]:
    return [str(a.get("href")) for a in Page(html).all("a")]


class TestIndex:
    def test_it_lists_every_pack_newest_first(
        self,
        client: FlaskClient,
        check: dict[str, Any],
        change: dict[str, Any],
        other_change: dict[str, Any],
    ) -> None:
        response = client.get("/evidence/")
        assert response.status_code == 200
        assert response.mimetype == "text/html"
        assert response.headers["Content-Security-Policy"].startswith("default-src 'none'")
        links = [h for h in _hrefs(response.text) if h.startswith("./")]
        assert links == [f"./{digest_of(p)}" for p in (other_change, change, check)]
        visible = Page(response.text).visible()
        assert "change contoso/eucora-intents #7 signed" in visible
        assert "check contoso/eucora-intents #7 not signed" in visible
        assert f"{WEB}/contoso/eucora-intents/pull/7" in _hrefs(response.text)

    def test_each_link_opens_its_pack(self, client: FlaskClient, change: dict[str, Any]) -> None:
        index = client.get("/evidence/").text
        href = next(h for h in _hrefs(index) if h == f"./{digest_of(change)}")
        page = client.get("/evidence/" + href.removeprefix("./"))
        assert page.status_code == 200
        assert "PUBLISHED" in page.text

    def test_it_is_on_the_admin_surface_only(
        self, check: dict[str, Any], change: dict[str, Any], other_change: dict[str, Any]
    ) -> None:
        admin = _client(check, change, other_change, "ADMIN")
        public = _client(check, change, other_change, "PUBLIC")
        assert admin.get("/evidence/").status_code == 200
        assert public.get("/evidence/").status_code == 404

    def test_without_a_catalogue_there_is_no_index(self, check: dict[str, Any]) -> None:
        app = web.create_app(evidence=Packs({digest_of(check): canonical_json(check)}))
        assert app.test_client().get("/evidence/").status_code == 404


class TestLinksBothWays:
    def test_a_check_pack_links_its_change_pack_and_its_pull_request(
        self, client: FlaskClient, check: dict[str, Any], change: dict[str, Any]
    ) -> None:
        page = client.get(f"/evidence/{digest_of(check)}").text
        hrefs = _hrefs(page)
        assert f"./{digest_of(change)}" in hrefs
        # the other change pack of the PR was checked by another pack: not linked
        assert sum(h.startswith("./sha256:") for h in hrefs) == 1
        assert f"{WEB}/contoso/eucora-intents/pull/7" in hrefs
        visible = Page(page).visible()
        assert f"Change pack: {digest_of(change)}" in visible
        assert "Not signed: no DSSE envelope is stored" in visible

    def test_a_change_pack_links_its_check_pack_and_shows_its_key(
        self, client: FlaskClient, check: dict[str, Any], change: dict[str, Any]
    ) -> None:
        page = client.get(f"/evidence/{digest_of(change)}").text
        assert f"./{digest_of(check)}" in _hrefs(page)
        assert f"Signed (DSSE, Ed25519) by key {KEY_ID}" in Page(page).visible()

    def test_the_json_is_the_stored_bytes_unchanged(
        self, client: FlaskClient, change: dict[str, Any]
    ) -> None:
        response = client.get(
            f"/evidence/{digest_of(change)}", headers={"Accept": "application/json"}
        )
        assert response.data == canonical_json(change)


def test_only_owner_name_repositories_get_an_address() -> None:
    url_for = web.github_repository_urls("https://github.example/")
    assert url_for("acme/intents") == "https://github.example/acme/intents"
    for local in ("/home/runner/work/intents", ".", "acme/../x", EVIL, "a/b/c", "acme/.."):
        assert url_for(local) is None


def record_pull_request_7(
    settings: Settings, *, pr: int = 7
) -> tuple[AuditLog, EvidenceStore, dict[str, Any], dict[str, Any]]:
    """A check pack and its change pack recorded for one pull request, as the App records them."""
    engine = create_database_engine(settings.database_url)
    upgrade_schema(engine)
    log, store = AuditLog(engine), EvidenceStore(settings.evidence_dir)
    check = make_pack(repository="contoso/eucora-intents")
    change = _change_pack(digest_of(check))
    for pack in (check, change):
        record_evidence(
            pack,
            EvidencePorts(store=store, keys=SettingsKeys(settings)),
            log=log,
            context=EvidenceContext(
                actor="eucora[bot]",
                correlation_id="d-1",
                repository="contoso/eucora-intents",
                pr=pr,
                head_sha="a" * 40,
            ),
            now=datetime(2027, 2, 17, tzinfo=UTC),
        )
    return log, store, check, change


def test_the_served_catalogue_reads_the_audit_log_and_the_store(tmp_path: Path) -> None:
    """As ``eucora serve`` builds it: packs recorded with a key are listed, signed, newest first."""
    generate_key_pair(tmp_path / "keys")
    settings = Settings.from_environ(
        {
            "EUCORA_HOME": str(tmp_path),
            "EUCORA_SIGNING_KEY_FILE": str(tmp_path / "keys" / PRIVATE_KEY_NAME),
        }
    )
    log, store, check, change = record_pull_request_7(settings)
    entries = web.AuditCatalogue(log, store).entries()
    assert [e.digest for e in entries] == [digest_of(change), digest_of(check)]
    assert all(e.key_ids for e in entries)
    assert all(e.pull_request == PullRequestRef(number=7) for e in entries)
    envelope = web.AuditCatalogue(log, store).envelope(digest_of(check))
    assert envelope is not None
    assert json.loads(envelope)["signatures"][0]["keyid"] == entries[1].key_ids[0]


TITLE = f"Chrome 132 {EVIL}<img src=x onerror=alert(2)>"
AUTHOR = 'ada"><b>bold</b>'


def _served(tmp_path: Path) -> tuple[FlaskClient, dict[str, Any], dict[str, Any]]:
    """The app over the real catalogue: a check and its change pack recorded for PR 7, with the
    pull request the App recorded beside the check pack (a title and author full of markup)."""
    log, store, check, change = record_pull_request_7(
        Settings.from_environ({"EUCORA_HOME": str(tmp_path)})
    )
    store.put_pull_request(
        digest_of(check),
        {
            "number": 7,
            "title": TITLE,
            "author": AUTHOR,
            "url": f"{WEB}/contoso/eucora-intents/pull/7",
        },
    )
    app = web.create_app(
        evidence=StoreSource(store),
        repository_url_for=web.github_repository_urls(WEB),
        catalogue=web.AuditCatalogue(log, store),
    )
    return app.test_client(), check, change


class TestThePullRequestTheAppRecorded:
    def test_the_catalogue_names_the_title_and_author_of_both_packs(self, tmp_path: Path) -> None:
        client, check, change = _served(tmp_path)
        del client
        settings = Settings.from_environ({"EUCORA_HOME": str(tmp_path)})
        catalogue = web.AuditCatalogue(
            AuditLog(create_database_engine(settings.database_url)),
            EvidenceStore(settings.evidence_dir),
        )
        refs = {e.digest: e.pull_request for e in catalogue.entries()}
        expected = PullRequestRef(
            number=7, url=f"{WEB}/contoso/eucora-intents/pull/7", title=TITLE, author=AUTHOR
        )
        assert refs == {digest_of(check): expected, digest_of(change): expected}

    def test_the_page_shows_them_as_text(self, tmp_path: Path) -> None:
        client, check, change = _served(tmp_path)
        for pack in (check, change):
            html = client.get(f"/evidence/{digest_of(pack)}").text
            assert f"Pull request #7 {TITLE} by {AUTHOR}" in Page(html).visible()
            assert "<script>" not in html
            assert "<img" not in html
            assert "<b>bold" not in html
            assert f"{WEB}/contoso/eucora-intents/pull/7" in _hrefs(html)

    def test_the_index_shows_them_as_text(self, tmp_path: Path) -> None:
        client, _, _ = _served(tmp_path)
        html = client.get("/evidence/").text
        visible = Page(html).visible()
        assert visible.count(f"#7 {TITLE} by {AUTHOR}") == 2
        assert "<script>" not in html
        assert "<img" not in html


def test_a_stored_change_pack_that_does_not_read_as_one_is_refused_in_one_line(
    check: dict[str, Any], change: dict[str, Any]
) -> None:
    """The page says which part is wrong; the index and the check's page skip its link."""
    broken = change | {"publications": "all of them"}
    client = _client(check, broken, _change_pack("sha256:" + "9" * 64))
    response = client.get(f"/evidence/{digest_of(broken)}")
    assert response.status_code == 500
    assert response.mimetype == "text/plain"
    assert response.text == (
        "The stored evidence cannot be shown as a page: ChangePack: publications is a string,"
        " not an array. Its JSON is served to Accept: application/json."
    )
    json_response = client.get(
        f"/evidence/{digest_of(broken)}", headers={"Accept": "application/json"}
    )
    assert json_response.data == canonical_json(broken)
    # the check pack's page links no change pack it cannot read
    page = client.get(f"/evidence/{digest_of(check)}").text
    assert f"./{digest_of(broken)}" not in _hrefs(page)
    assert client.get("/evidence/").status_code == 200


@pytest.mark.parametrize(
    ("broken", "error"),
    [
        (
            lambda pack: pack | {"findings": [{**pack["findings"][0], "line": "1"}]},
            "CheckPack.findings[0]: line is a string, not an integer",
        ),
        (
            lambda pack: pack | {"changes": [{**pack["changes"][0], "devices": {"base": 1}}]},
            "CheckPack.changes[0].devices: head is missing",
        ),
        (
            lambda pack: {k: v for k, v in pack.items() if k != "repository"},
            "CheckPack: repository is missing",
        ),
    ],
)
def test_a_stored_check_pack_that_does_not_read_as_one_is_refused_in_one_line(
    check: dict[str, Any],
    change: dict[str, Any],
    broken: Callable[[dict[str, Any]], dict[str, Any]],
    error: str,
) -> None:
    """A malformed check pack's page is a one-line 500 naming the part; its JSON is served."""
    bad = broken(check)
    client = _client(bad, change, _change_pack("sha256:" + "9" * 64))
    response = client.get(f"/evidence/{digest_of(bad)}")
    assert response.status_code == 500
    assert response.mimetype == "text/plain"
    assert response.text == (
        f"The stored evidence cannot be shown as a page: {error}."
        " Its JSON is served to Accept: application/json."
    )
    json_response = client.get(
        f"/evidence/{digest_of(bad)}", headers={"Accept": "application/json"}
    )
    assert json_response.status_code == 200
    assert json_response.data == canonical_json(bad)
    assert client.get("/evidence/").status_code == 200
