"""The web app through Flask's test client, over an in-memory evidence source."""

from __future__ import annotations

import importlib
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from bot.core.evidence import canonical_json, digest_of
from bot.entrypoints import web
from bot.entrypoints.web import (
    BAD_DIGEST,
    CORRUPT_EVIDENCE,
    INTERNAL_ERROR,
    SECURITY_HEADERS,
    UNKNOWN_DIGEST,
    create_app,
)
from tests.core.test_evidence_html import CHROME, EVIL, SHA_HEAD, make_change, make_pack

REPO_URL = "https://github.com/contoso/eucora-intents"
UNKNOWN = "sha256:" + "0" * 64
BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8"


class InMemoryEvidence:
    """An EvidenceSource over a dict, recording every digest asked for."""

    def __init__(self, packs: dict[str, bytes]) -> None:
        self.packs = packs
        self.asked: list[str] = []

    def get(self, digest: str) -> bytes | None:
        self.asked.append(digest)
        return self.packs.get(digest)


class BrokenEvidence:
    def get(self, digest: str) -> bytes | None:
        raise RuntimeError("disk on fire: /var/lib/eucora/secret-path")


@pytest.fixture
def pack() -> dict[str, Any]:
    return make_pack(changes=[make_change(intent=EVIL)])


@pytest.fixture
def digest(pack: dict[str, Any]) -> str:
    return digest_of(pack)


@pytest.fixture
def store(pack: dict[str, Any], digest: str) -> InMemoryEvidence:
    return InMemoryEvidence({digest: canonical_json(pack)})


@pytest.fixture
def repository_calls() -> list[str]:
    return []


@pytest.fixture
def app(store: InMemoryEvidence, repository_calls: list[str]) -> Flask:
    def repository_url_for(repository: str) -> str | None:
        repository_calls.append(repository)
        return REPO_URL

    return create_app(evidence=store, repository_url_for=repository_url_for)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def assert_secure(response: Any) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value, name


class TestEvidencePage:
    def test_html_by_default(
        self, client: FlaskClient, digest: str, repository_calls: list[str]
    ) -> None:
        """A browser gets the page: decision, risk, escaped user text, links to GitHub."""
        response = client.get(f"/evidence/{digest}", headers={"Accept": BROWSER_ACCEPT})
        assert response.status_code == 200
        assert response.mimetype == "text/html"
        assert response.mimetype_params["charset"] == "utf-8"
        assert "Accept" in response.headers["Vary"]
        body = response.get_data(as_text=True)
        assert body.startswith("<!DOCTYPE html>")
        assert "BLOCKED" in body
        assert "Risk: 35/100" in body
        assert digest in body
        assert "&lt;script&gt;" in body
        assert "<script" not in body
        assert f'href="{REPO_URL}/blob/{SHA_HEAD}/{CHROME}#L17"' in body
        assert repository_calls == ["contoso/eucora-intents"]
        assert_secure(response)

    def test_html_without_an_accept_header(self, client: FlaskClient, digest: str) -> None:
        response = client.get(f"/evidence/{digest}")
        assert response.status_code == 200
        assert response.mimetype == "text/html"

    def test_json_for_accept_application_json(
        self, client: FlaskClient, digest: str, store: InMemoryEvidence
    ) -> None:
        """JSON is the stored canonical bytes, untouched: their sha256 is the digest."""
        response = client.get(f"/evidence/{digest}", headers={"Accept": "application/json"})
        assert response.status_code == 200
        assert response.mimetype == "application/json"
        assert response.get_data() == store.packs[digest]
        assert digest_of(response.get_json()) == digest
        assert "Accept" in response.headers["Vary"]
        assert_secure(response)

    @pytest.mark.parametrize(
        ("accept", "mimetype"),
        [
            ("application/json, text/html;q=0.5", "application/json"),
            ("text/html, application/json;q=0.5", "text/html"),
            ("*/*", "text/html"),
            ("image/png", "text/html"),
        ],
    )
    def test_accept_negotiation(
        self, client: FlaskClient, digest: str, accept: str, mimetype: str
    ) -> None:
        response = client.get(f"/evidence/{digest}", headers={"Accept": accept})
        assert response.status_code == 200
        assert response.mimetype == mimetype

    def test_links_are_plain_text_without_a_repository_address(
        self, store: InMemoryEvidence, digest: str
    ) -> None:
        for app in (
            create_app(evidence=store),
            create_app(evidence=store, repository_url_for=lambda _: None),
        ):
            body = app.test_client().get(f"/evidence/{digest}").get_data(as_text=True)
            assert "github.com" not in body
            assert f"{CHROME}:17" in body

    def test_a_plain_dict_is_an_evidence_source(self, pack: dict[str, Any], digest: str) -> None:
        app = create_app(evidence={digest: canonical_json(pack)})
        assert app.test_client().get(f"/evidence/{digest}").status_code == 200

    def test_head_requests(self, client: FlaskClient, digest: str) -> None:
        response = client.head(f"/evidence/{digest}")
        assert response.status_code == 200
        assert response.get_data() == b""


class TestRefusals:
    def test_unknown_digest_is_404(self, client: FlaskClient, store: InMemoryEvidence) -> None:
        response = client.get(f"/evidence/{UNKNOWN}", headers={"Accept": "application/json"})
        assert response.status_code == 404
        assert response.mimetype == "text/plain"
        assert response.get_data(as_text=True) == UNKNOWN_DIGEST
        assert store.asked == [UNKNOWN]
        assert_secure(response)

    @pytest.mark.parametrize(
        "bad",
        [
            "sha256:XYZ",
            "../../etc/passwd",
            "..%2F..%2Fetc%2Fpasswd",
            "sha256:" + "A" * 64,
            "sha256:" + "a" * 63,
            "sha256:" + "a" * 65,
            "sha512:" + "a" * 64,
            "SHA256:" + "a" * 64,
            "a" * 64,
            "sha256:" + "a" * 64 + "%0A",
            "sha256:" + "a" * 64 + "/extra",
            "sha256:%20" + "a" * 64,
        ],
    )
    def test_malformed_digest_is_400_and_never_reaches_the_store(
        self, client: FlaskClient, store: InMemoryEvidence, bad: str
    ) -> None:
        response = client.get(f"/evidence/{bad}")
        assert response.status_code == 400
        assert response.mimetype == "text/plain"
        body = response.get_data(as_text=True)
        assert body == BAD_DIGEST
        assert "\n" not in body
        assert store.asked == []
        assert_secure(response)

    def test_stored_bytes_that_do_not_match_the_digest_are_not_shown(
        self, pack: dict[str, Any], digest: str
    ) -> None:
        tampered = canonical_json({**pack, "repository": "mallory/intents"})
        client = create_app(evidence={digest: tampered}).test_client()
        for accept in ("text/html", "application/json"):
            response = client.get(f"/evidence/{digest}", headers={"Accept": accept})
            assert response.status_code == 500
            assert response.get_data(as_text=True) == CORRUPT_EVIDENCE
            assert_secure(response)

    def test_a_failure_shows_no_traceback(self, digest: str) -> None:
        """An exception becomes a plain 500: no traceback, no path, no debugger."""
        app = create_app(evidence=BrokenEvidence())
        response = app.test_client().get(f"/evidence/{digest}")
        assert response.status_code == 500
        assert response.mimetype == "text/plain"
        body = response.get_data(as_text=True)
        assert body == INTERNAL_ERROR
        assert "Traceback" not in body
        assert "secret-path" not in body
        assert not app.debug
        assert_secure(response)

    def test_a_pack_that_cannot_render_is_a_plain_500(self) -> None:
        data = b'{"not":"a pack"}'
        digest = digest_of({"not": "a pack"})
        assert canonical_json({"not": "a pack"}) == data
        response = create_app(evidence={digest: data}).test_client().get(f"/evidence/{digest}")
        assert response.status_code == 500
        assert response.mimetype == "text/plain"
        assert response.get_data(as_text=True) == (
            "The stored evidence cannot be shown as a page: the pack's kind is None, not"
            " 'CheckPack'. Its JSON is served to Accept: application/json."
        )
        assert_secure(response)

    def test_unknown_routes_and_methods_are_plain_text(
        self, client: FlaskClient, digest: str
    ) -> None:
        missing = client.get("/nope")
        assert missing.status_code == 404
        assert missing.mimetype == "text/plain"
        assert missing.get_data(as_text=True) == "404 Not Found"
        assert_secure(missing)
        posted = client.post(f"/evidence/{digest}")
        assert posted.status_code == 405
        assert posted.mimetype == "text/plain"
        assert "GET" in posted.headers["Allow"]
        assert_secure(posted)
        assert client.get("/evidence/").status_code == 404


class TestApp:
    def test_healthz(self, client: FlaskClient) -> None:
        response = client.get("/healthz")
        assert response.status_code == 200
        assert response.get_data(as_text=True) == "ok"
        assert response.mimetype == "text/plain"
        assert_secure(response)

    def test_no_app_is_built_at_import(self) -> None:
        """The module defines the factory only: no app, config or store at import time."""
        module = importlib.reload(web)
        assert not [name for name, value in vars(module).items() if isinstance(value, Flask)]

    def test_each_app_is_independent(self, store: InMemoryEvidence, digest: str) -> None:
        first = create_app(evidence=store)
        second = create_app(evidence=InMemoryEvidence({}))
        assert first is not second
        assert first.test_client().get(f"/evidence/{digest}").status_code == 200
        assert second.test_client().get(f"/evidence/{digest}").status_code == 404
