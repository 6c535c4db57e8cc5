"""The offline verifier's pure checks: signature, statement, inclusion, and the report."""

from __future__ import annotations

import hashlib

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bot.core.attestation import PREDICATE_TYPES, sign_envelope, statement_for, verify_envelope
from bot.core.evidence import digest_of
from bot.core.evidence_verify import (
    CheckStatus,
    InclusionVerdict,
    VerifyCheck,
    VerifyReport,
    bundle_inclusion,
    claimed_key_ids,
    inclusion_check,
    signature_check,
    statement_check,
    unverified_envelope,
)
from tests.core.test_evidence_proof import DIGEST, OTHER, SIGNER, bundle, log_with_pack

KEY = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"evidence verify key").digest())
STRANGER = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"stranger").digest())
PACK = {"kind": "CheckPack", "repository": "acme/intents", "n": 1}


def signed(pack: dict[str, object] = PACK) -> dict[str, object]:
    return sign_envelope(statement_for(pack, digest_of(pack)), KEY)


def test_signature_check_without_an_envelope_is_skipped_unless_required() -> None:
    skipped, statement = signature_check(None, [KEY.public_key()], required=False)
    assert (skipped.status, statement) == (CheckStatus.SKIPPED, None)
    failed, _ = signature_check(None, [KEY.public_key()], required=True)
    assert failed.status is CheckStatus.FAILED
    assert "not signed" in failed.detail


def test_signature_check_needs_a_key_and_the_right_one() -> None:
    no_key, _ = signature_check(signed(), [], required=False)
    assert no_key.status is CheckStatus.FAILED
    assert "--public-key" in no_key.detail
    wrong, statement = signature_check(signed(), [STRANGER.public_key()], required=False)
    assert (wrong.status, statement) == (CheckStatus.FAILED, None)
    good, statement = signature_check(signed(), [KEY.public_key()], required=False)
    assert good.status is CheckStatus.OK
    assert statement is not None
    assert statement.verified_by[0] in good.detail


def test_statement_check_compares_subject_type_and_predicate() -> None:
    statement = verify_envelope(signed(), [KEY.public_key()])
    digest = digest_of(PACK)
    ok = statement_check(statement, PACK, digest)
    assert ok.status is CheckStatus.OK
    assert PREDICATE_TYPES["CheckPack"] in ok.detail
    other = "sha256:" + "0" * 64
    assert "omit " + other in statement_check(statement, PACK, other).detail
    assert (
        "is not the one for 'ChangePack'"
        in statement_check(statement, {**PACK, "kind": "ChangePack"}, digest).detail
    )
    changed = statement_check(statement, {**PACK, "n": 2}, digest)
    assert (changed.status, changed.detail) == (
        CheckStatus.FAILED,
        "the signed predicate is not the stored pack",
    )


def test_bundle_inclusion_says_why() -> None:
    events, event = log_with_pack()
    text = bundle(events, event).encode()
    keys = {"verifier_keys": [SIGNER.verifier.verifier_key], "public_keys": []}
    none = bundle_inclusion(None, DIGEST, **keys)
    assert (none.ok, none.skipped) == (True, True)
    assert bundle_inclusion(None, DIGEST, required=True, **keys) == InclusionVerdict(
        ok=False, why=none.why
    )
    no_key = bundle_inclusion(text, DIGEST, verifier_keys=[], public_keys=[])
    assert not no_key.ok
    assert "no key" in no_key.why
    assert bundle_inclusion(b"\xff", DIGEST, source="p.tlog-proof", **keys) == InclusionVerdict(
        ok=False, why="p.tlog-proof is not UTF-8 text"
    )
    other_key = bundle_inclusion(
        text, DIGEST, verifier_keys=[OTHER.verifier.verifier_key], public_keys=[]
    )
    assert not other_key.ok
    assert other_key.why.startswith("the proof bundle: ")
    good = bundle_inclusion(text, DIGEST, verifier_keys=[], public_keys=[SIGNER.public_key])
    assert good.ok
    assert f"audit event {event.seq} records it" in good.why


def test_inclusion_check_maps_the_verdict() -> None:
    assert inclusion_check(DIGEST, None).detail == "no audit log was given to check"
    assert inclusion_check("", lambda _d: InclusionVerdict(ok=True, why="x")).detail == (
        "no digest to look up"
    )
    for verdict, status in (
        (InclusionVerdict(ok=True, why="in"), CheckStatus.OK),
        (InclusionVerdict(ok=False, why="out"), CheckStatus.FAILED),
        (InclusionVerdict(ok=True, why="none", skipped=True), CheckStatus.SKIPPED),
    ):
        assert inclusion_check(DIGEST, lambda _d, v=verdict: v) == VerifyCheck(
            "inclusion", status, verdict.why
        )


def test_reports_hold_unless_a_check_failed() -> None:
    checks = (
        VerifyCheck("digest", CheckStatus.OK, "d"),
        VerifyCheck("signature", CheckStatus.SKIPPED, "s"),
    )
    report = VerifyReport(digest=DIGEST, source="f", checks=checks, key_ids=("k",))
    assert report.ok
    assert report.as_dict() == {
        "digest": DIGEST,
        "source": "f",
        "verified": True,
        "verifiedBy": ["k"],
        "checks": [c.as_dict() for c in checks],
    }
    failed = VerifyReport(digest=DIGEST, source="f", checks=(unverified_envelope("e.json"),))
    assert not failed.ok
    assert failed.checks[0].detail.startswith("e.json is an envelope whose signature")


def test_claimed_key_ids() -> None:
    assert claimed_key_ids(None) == ()
    assert claimed_key_ids({"signatures": "x"}) == ()
    envelope = {"signatures": [{"keyid": "a"}, {"keyid": ""}, "junk", {"sig": "s"}, {"keyid": "b"}]}
    assert claimed_key_ids(envelope) == ("a", "b")


def test_the_verdict_says_verified_only_when_a_signature_held() -> None:
    digest_ok = VerifyCheck("digest", CheckStatus.OK, "d")
    unsigned = VerifyReport(
        digest=DIGEST,
        source="f",
        checks=(digest_ok, VerifyCheck("signature", CheckStatus.SKIPPED, "s")),
    )
    assert unsigned.ok
    assert unsigned.verdict == "digest holds, NOT signed (no signature was checked)"
    signed = VerifyReport(
        digest=DIGEST,
        source="f",
        checks=(digest_ok, VerifyCheck("signature", CheckStatus.OK, "s")),
    )
    assert signed.verdict == "verified"
    failed = VerifyReport(
        digest=DIGEST,
        source="f",
        checks=(digest_ok, VerifyCheck("signature", CheckStatus.FAILED, "s")),
    )
    assert failed.verdict == "NOT verified"


def test_a_required_missing_signature_says_why_it_was_required() -> None:
    check, statement = signature_check(None, [KEY.public_key()], required=True, why_required="X")
    assert statement is None
    assert check == VerifyCheck(
        "signature", CheckStatus.FAILED, "the pack is not signed (no DSSE envelope), but X"
    )
    skipped, _ = signature_check(None, [], required=False, why_required="X")
    assert skipped.status is CheckStatus.SKIPPED
    assert "X" not in skipped.detail
