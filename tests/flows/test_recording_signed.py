"""Every pack the App stores through ``AuditedEvidence`` is signed when a key is configured."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.adapters.audit_keys import audit_signer
from bot.adapters.evidence_keys import SettingsKeys
from bot.adapters.evidence_store import EvidenceStore
from bot.adapters.pem_keys import PRIVATE_KEY_NAME, generate_key_pair
from bot.adapters.storage.audit_log import AuditLog
from bot.adapters.storage.db import create_database_engine, upgrade_schema
from bot.core.evidence import digest_of
from bot.flows.audited_evidence import AuditedEvidence
from bot.flows.evidence import verify
from bot.ports import EvidencePorts
from bot.settings import Settings
from tests.core.test_evidence_html import make_pack
from tests.core.test_evidence_html_links import make_change_pack

NOW = datetime(2027, 2, 17, 9, tzinfo=UTC)


def _recorder(settings: Settings) -> AuditedEvidence:
    engine = create_database_engine(settings.database_url)
    upgrade_schema(engine)
    return AuditedEvidence(
        AuditLog(engine),
        evidence=EvidencePorts(
            store=EvidenceStore(settings.evidence_dir),
            keys=SettingsKeys(settings, checkpoint=audit_signer(settings)),
        ),
        clock=lambda: NOW,
    )


@pytest.mark.parametrize("signed", [True, False])
def test_the_app_signs_each_pack_it_stores_when_a_key_is_configured(
    tmp_path: Path, *, signed: bool
) -> None:
    generate_key_pair(tmp_path / "keys")
    environ = {"EUCORA_HOME": str(tmp_path)}
    if signed:
        environ["EUCORA_SIGNING_KEY_FILE"] = str(tmp_path / "keys" / PRIVATE_KEY_NAME)
    settings = Settings.from_environ(environ)
    recorder = _recorder(settings)
    store = EvidenceStore(settings.evidence_dir)
    check = make_pack()
    for pack in (check, make_change_pack(check_digest=digest_of(check))):
        digest = recorder.record_pack(
            pack, correlation_id="d-1", repository="acme/intents", pr=7, head_sha="a" * 40
        )
        envelope = store.get_envelope(digest)
        assert (envelope is not None) is signed
        report = verify(digest, EvidencePorts(store=store, keys=SettingsKeys(settings)))
        assert report.ok, report.checks
        assert report.verdict == (
            "verified" if signed else "digest holds, NOT signed (no signature was checked)"
        )
        if envelope is not None:
            assert json.loads(envelope)["signatures"][0]["keyid"] in report.key_ids
