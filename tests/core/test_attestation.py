"""in-toto Statement v1 in DSSE envelopes: the spec's PAE vector, and securesystemslib both ways."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given
from hypothesis import strategies as st
from securesystemslib.dsse import Envelope
from securesystemslib.exceptions import VerificationError
from securesystemslib.signer import CryptoSigner, SSlibKey

from bot.core.attestation import (
    CHECK_PREDICATE_TYPE,
    PAYLOAD_TYPE,
    STATEMENT_TYPE,
    AttestationError,
    EnvelopeFormatError,
    SignatureError,
    StatementError,
    key_id,
    pae,
    read_unverified_statement,
    sign_envelope,
    statement_for,
    verify_envelope,
)
from bot.core.evidence import canonical_json, digest_of

HEAD = "3f786850e387550fdab836ed7e6dc881de23001b"
PACK: dict[str, Any] = {
    "apiVersion": "eucora.dev/v1",
    "kind": "CheckPack",
    "repository": "contoso/intents",
    "head": HEAD,
    "decision": {"conclusion": "pass", "reasons": []},
    "labels": ["eucora:emergency", "é"],
}
DIGEST = digest_of(PACK)
HEX = DIGEST.removeprefix("sha256:")


@pytest.fixture(scope="module")
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(bytes(range(32)))


@pytest.fixture(scope="module")
def other_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))


@pytest.fixture
def envelope(key: Ed25519PrivateKey) -> dict[str, Any]:
    return sign_envelope(statement_for(PACK, DIGEST), key)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def payload_of(envelope: dict[str, Any]) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(base64.b64decode(envelope["payload"]))
    return value


def signed(
    key: Ed25519PrivateKey, payload: bytes, payload_type: str = PAYLOAD_TYPE
) -> dict[str, Any]:
    """An envelope over arbitrary bytes, signed correctly: for checks after the signature."""
    return {
        "payload": b64(payload),
        "payloadType": payload_type,
        "signatures": [{"keyid": "", "sig": b64(key.sign(pae(payload_type, payload)))}],
    }


class TestPae:
    def test_the_dsse_spec_vector(self) -> None:
        """PAE matches the test vector of DSSE protocol.md."""
        assert (
            pae("http://example.com/HelloWorld", b"hello world")
            == b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
        )

    def test_lengths_count_bytes_not_characters(self) -> None:
        """LEN is the UTF-8 byte length of the type and of the body."""
        assert pae("é", "ü".encode()) == "DSSEv1 2 é 2 ü".encode()

    def test_empty_type_and_body(self) -> None:
        """Empty fields still get their lengths and separators."""
        assert pae("", b"") == b"DSSEv1 0  0 "

    @given(st.text(), st.binary())
    def test_same_bytes_as_securesystemslib(self, payload_type: str, payload: bytes) -> None:
        """Our PAE is byte for byte the one securesystemslib signs."""
        assert pae(payload_type, payload) == Envelope(payload, payload_type, {}).pae()


class TestStatementFor:
    def test_shape(self) -> None:
        """A Statement v1: the pack and the head commit as subjects, the pack as predicate."""
        statement = statement_for(PACK, DIGEST)
        assert statement == {
            "_type": STATEMENT_TYPE,
            "subject": [
                {"name": f"{HEX}.json", "digest": {"sha256": HEX}},
                {"name": f"contoso/intents@{HEAD}", "digest": {"gitCommit": HEAD}},
            ],
            "predicateType": CHECK_PREDICATE_TYPE,
            "predicate": PACK,
        }
        assert statement["predicate"] is not PACK

    def test_the_subject_digest_is_the_pack_digest(self) -> None:
        """The subject's sha256 is the sha256 of the pack's canonical bytes."""
        [first, *_] = statement_for(PACK, DIGEST)["subject"]
        assert first["digest"]["sha256"] == hashlib.sha256(canonical_json(PACK)).hexdigest()

    def test_no_commit_subject_without_a_head_sha(self) -> None:
        """A pack whose head is not a commit id attests only the pack."""
        pack = {**PACK, "head": "main"}
        assert len(statement_for(pack, digest_of(pack))["subject"]) == 1

    def test_a_digest_that_is_not_the_packs_is_refused(self) -> None:
        """Attesting a pack under another digest would make a false claim."""
        with pytest.raises(AttestationError, match="digest is"):
            statement_for(PACK, "sha256:" + "0" * 64)

    @pytest.mark.parametrize("digest", [HEX, "sha256:" + HEX.upper(), "sha512:" + HEX, ""])
    def test_a_malformed_digest_is_refused(self, digest: str) -> None:
        """Only sha256:<64 lowercase hex> is a digest."""
        with pytest.raises(AttestationError, match="is not a sha256"):
            statement_for(PACK, digest)

    def test_an_unknown_kind_needs_an_explicit_predicate_type(self) -> None:
        """Kinds without a registered predicate type are refused unless one is given."""
        pack = {**PACK, "kind": "Mystery"}
        with pytest.raises(AttestationError, match="no predicate type"):
            statement_for(pack, digest_of(pack))
        other = "https://eucora.dev/attestations/mystery/v1"
        assert statement_for(pack, digest_of(pack), predicate_type=other)["predicateType"] == other


class TestSignAndVerify:
    def test_round_trip(self, envelope: dict[str, Any], key: Ed25519PrivateKey) -> None:
        """A signed statement verifies and gives back the statement that was signed."""
        statement = verify_envelope(envelope, [key.public_key()])
        assert statement.predicate == PACK
        assert statement.predicate_type == CHECK_PREDICATE_TYPE
        assert statement.subject_digest() == (HEX,)
        assert statement.subject_digest("gitCommit") == (HEAD,)
        assert statement.verified_by == (key_id(key.public_key()),)
        assert statement.payload == canonical_json(statement_for(PACK, DIGEST))

    def test_envelope_fields(self, envelope: dict[str, Any], key: Ed25519PrivateKey) -> None:
        """DSSE fields: payload (base64 of canonical JSON), payloadType, signatures[keyid, sig]."""
        assert set(envelope) == {"payload", "payloadType", "signatures"}
        assert envelope["payloadType"] == "application/vnd.in-toto+json"
        assert payload_of(envelope) == statement_for(PACK, DIGEST)
        [signature] = envelope["signatures"]
        assert set(signature) == {"keyid", "sig"}
        assert len(base64.b64decode(signature["sig"], validate=True)) == 64

    def test_signing_is_deterministic(self, key: Ed25519PrivateKey) -> None:
        """The same pack and key give byte-identical envelopes (Ed25519, canonical payload)."""
        first = sign_envelope(statement_for(PACK, DIGEST), key)
        assert canonical_json(first) == canonical_json(
            sign_envelope(statement_for(PACK, DIGEST), key)
        )

    def test_key_id_is_sha256_of_the_der_public_key(self, key: Ed25519PrivateKey) -> None:
        """keyid = lowercase hex sha256 of the DER SubjectPublicKeyInfo."""
        der = key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
        assert key_id(key.public_key()) == hashlib.sha256(der).hexdigest()

    def test_another_key_does_not_verify(
        self, envelope: dict[str, Any], other_key: Ed25519PrivateKey
    ) -> None:
        """A signature holds only for the key that made it."""
        with pytest.raises(SignatureError, match="0 of the 1"):
            verify_envelope(envelope, [other_key.public_key()])

    def test_no_keys_verify_nothing(self, envelope: dict[str, Any]) -> None:
        """Without keys nothing is trusted."""
        with pytest.raises(SignatureError):
            verify_envelope(envelope, [])

    def test_a_changed_payload_does_not_verify(
        self, envelope: dict[str, Any], key: Ed25519PrivateKey
    ) -> None:
        """Editing the pack inside the payload breaks the signature."""
        statement = payload_of(envelope)
        statement["predicate"]["decision"]["conclusion"] = "blocked"
        envelope["payload"] = b64(canonical_json(statement))
        with pytest.raises(SignatureError):
            verify_envelope(envelope, [key.public_key()])

    def test_a_changed_payload_type_does_not_verify(
        self, envelope: dict[str, Any], key: Ed25519PrivateKey
    ) -> None:
        """The payload type is authenticated by PAE."""
        envelope["payloadType"] = "application/vnd.in-toto.check+json"
        with pytest.raises(SignatureError):
            verify_envelope(envelope, [key.public_key()])

    def test_the_keyid_is_only_a_hint(
        self, envelope: dict[str, Any], key: Ed25519PrivateKey
    ) -> None:
        """DSSE: keyid MUST NOT be used for security decisions; any keyid (or none) verifies."""
        envelope["signatures"][0]["keyid"] = "somebody-else"
        assert verify_envelope(envelope, [key.public_key()]).predicate == PACK
        del envelope["signatures"][0]["keyid"]
        assert verify_envelope(envelope, [key.public_key()]).predicate == PACK

    def test_url_safe_and_unpadded_base64_are_accepted(
        self, envelope: dict[str, Any], key: Ed25519PrivateKey
    ) -> None:
        """DSSE verifiers accept standard and URL-safe base64."""
        for field in ("payload",):
            raw = base64.b64decode(envelope[field])
            envelope[field] = base64.urlsafe_b64encode(raw).decode().rstrip("=")
        sig = base64.b64decode(envelope["signatures"][0]["sig"])
        envelope["signatures"][0]["sig"] = base64.urlsafe_b64encode(sig).decode().rstrip("=")
        assert verify_envelope(envelope, [key.public_key()]).predicate == PACK

    def test_threshold_counts_distinct_keys(
        self, envelope: dict[str, Any], key: Ed25519PrivateKey, other_key: Ed25519PrivateKey
    ) -> None:
        """(t, n): two signatures by one key do not make two; two keys do."""
        envelope["signatures"].append(dict(envelope["signatures"][0]))
        keys = [key.public_key(), other_key.public_key()]
        with pytest.raises(SignatureError, match="1 of the 2"):
            verify_envelope(envelope, keys, threshold=2)
        payload = base64.b64decode(envelope["payload"])
        second = b64(other_key.sign(pae(PAYLOAD_TYPE, payload)))
        envelope["signatures"].append({"keyid": "", "sig": second})
        assert len(verify_envelope(envelope, keys, threshold=2).verified_by) == 2

    def test_threshold_must_be_positive(
        self, envelope: dict[str, Any], key: Ed25519PrivateKey
    ) -> None:
        """A threshold of 0 would accept anything."""
        with pytest.raises(ValueError, match="at least 1"):
            verify_envelope(envelope, [key.public_key()], threshold=0)

    def test_unverified_reading_is_for_display(self, envelope: dict[str, Any]) -> None:
        """The statement can be read without keys (show), and is the signed one."""
        assert read_unverified_statement(envelope) == statement_for(PACK, DIGEST)


class TestMalformedEnvelopes:
    @pytest.mark.parametrize(
        ("change", "message"),
        [
            ({"payloadType": None}, "payloadType"),
            ({"payload": 7}, "payload string"),
            ({"payload": "not base64!"}, "not base64"),
            ({"signatures": []}, "no signatures"),
            ({"signatures": {}}, "no signatures"),
            ({"signatures": [{"keyid": "k"}]}, "no sig"),
            ({"signatures": [{"keyid": 3, "sig": ""}]}, "keyid"),
            ({"signatures": ["sig"]}, "no sig"),
            ({"signatures": [{"sig": "%%%%"}]}, "not base64"),
        ],
    )
    def test_refused_with_a_clear_error(
        self, envelope: dict[str, Any], key: Ed25519PrivateKey, change: dict[str, Any], message: str
    ) -> None:
        """Malformed envelopes are refused before any signature is checked."""
        broken = {**envelope, **change}
        with pytest.raises(EnvelopeFormatError, match=message):
            verify_envelope(broken, [key.public_key()])

    def test_not_an_object(self, key: Ed25519PrivateKey) -> None:
        """An envelope is a JSON object."""
        with pytest.raises(EnvelopeFormatError):
            verify_envelope([], [key.public_key()])  # type: ignore[arg-type]

    def test_a_short_signature_is_not_a_signature(
        self, envelope: dict[str, Any], key: Ed25519PrivateKey
    ) -> None:
        """A signature of the wrong size never verifies."""
        envelope["signatures"][0]["sig"] = b64(b"\x00" * 10)
        with pytest.raises(SignatureError):
            verify_envelope(envelope, [key.public_key()])


class TestSignedButNotAStatement:
    """Payloads that are signed correctly but are not in-toto Statements v1."""

    def statement(self, **change: Any) -> bytes:
        value = {**statement_for(PACK, DIGEST), **change}
        return canonical_json({k: v for k, v in value.items() if v is not None})

    @pytest.mark.parametrize(
        ("payload", "message"),
        [
            (b"\xff\xfe", "not UTF-8"),
            (b"{", "not JSON"),
            (b"[]", "not a JSON object"),
            (b'{"_type": NaN}', "not JSON"),
            (b'{"_type": 1, "_type": 2}', "repeats"),
        ],
    )
    def test_not_json(self, key: Ed25519PrivateKey, payload: bytes, message: str) -> None:
        """The payload must be one JSON object, without duplicate names or non-JSON constants."""
        with pytest.raises(StatementError, match=message):
            verify_envelope(signed(key, payload), [key.public_key()])

    @pytest.mark.parametrize(
        ("change", "message"),
        [
            ({"_type": "https://in-toto.io/Statement/v0.1"}, "_type"),
            ({"subject": []}, "no subject"),
            ({"subject": ["x"]}, "not an object"),
            ({"subject": [{"name": "x"}]}, "no digest"),
            ({"subject": [{"digest": {"sha256": 5}}]}, "not a string"),
            ({"subject": [{"digest": {"sha256": "ZZ"}}]}, "64 hex"),
            ({"subject": [{"name": 1, "digest": {"sha256": HEX}}]}, "name"),
            ({"predicateType": None}, "predicateType"),
            ({"predicate": []}, "predicate"),
        ],
    )
    def test_not_a_statement(
        self, key: Ed25519PrivateKey, change: dict[str, Any], message: str
    ) -> None:
        """Statement v1 fields are checked, including what in-toto's own validator lets through."""
        with pytest.raises(StatementError, match=message):
            verify_envelope(signed(key, self.statement(**change)), [key.public_key()])

    def test_another_payload_type(self, key: Ed25519PrivateKey) -> None:
        """A correctly signed payload of another type is not an in-toto Statement."""
        with pytest.raises(StatementError, match="payloadType"):
            verify_envelope(signed(key, self.statement(), "text/plain"), [key.public_key()])

    def test_a_predicate_specific_media_type_is_accepted(self, key: Ed25519PrivateKey) -> None:
        """in-toto allows application/vnd.in-toto.<predicate>+json."""
        envelope = signed(key, self.statement(), "application/vnd.in-toto.eucora-check+json")
        assert verify_envelope(envelope, [key.public_key()]).predicate == PACK

    def test_a_missing_predicate_is_empty(self, key: Ed25519PrivateKey) -> None:
        """Statement v1: an unset predicate means an empty one."""
        statement = verify_envelope(signed(key, self.statement(predicate=None)), [key.public_key()])
        assert statement.predicate == {}


class TestSecuresystemslib:
    """An independent DSSE implementation agrees with ours, both ways."""

    def sslib_key(self, public_key: Ed25519PublicKey, keyid: str | None = None) -> SSlibKey:
        return SSlibKey.from_crypto(public_key, keyid or key_id(public_key), "ed25519")

    def test_our_envelope_verifies_with_securesystemslib(
        self, envelope: dict[str, Any], key: Ed25519PrivateKey
    ) -> None:
        """securesystemslib's Envelope.verify accepts our signature (its keyid match included)."""
        theirs = Envelope.from_dict(copy.deepcopy(envelope))
        accepted = theirs.verify([self.sslib_key(key.public_key())], 1)
        assert list(accepted) == [key_id(key.public_key())]
        assert theirs.payload_type == PAYLOAD_TYPE
        assert json.loads(theirs.payload) == statement_for(PACK, DIGEST)
        assert theirs.to_dict() == envelope

    def test_securesystemslib_refuses_our_envelope_for_another_key(
        self, envelope: dict[str, Any], other_key: Ed25519PrivateKey
    ) -> None:
        """The independent check is not vacuous: the wrong key fails there too."""
        theirs = Envelope.from_dict(copy.deepcopy(envelope))
        wrong = self.sslib_key(other_key.public_key(), keyid=envelope["signatures"][0]["keyid"])
        with pytest.raises(VerificationError):
            theirs.verify([wrong], 1)

    def test_their_envelope_verifies_with_ours(self) -> None:
        """An envelope signed by securesystemslib (its own keyid form) verifies with ours."""
        signer = CryptoSigner.generate_ed25519()
        theirs = Envelope(canonical_json(statement_for(PACK, DIGEST)), PAYLOAD_TYPE, {})
        theirs.sign(signer)
        public = Ed25519PublicKey.from_public_bytes(
            bytes.fromhex(signer.public_key.keyval["public"])
        )
        statement = verify_envelope(theirs.to_dict(), [public])
        assert statement.predicate == PACK
        assert statement.subject_digest() == (HEX,)

    def test_their_envelope_for_another_key_does_not_verify_with_ours(
        self, other_key: Ed25519PrivateKey
    ) -> None:
        """Our verifier refuses their signature under a key that did not make it."""
        signer = CryptoSigner.generate_ed25519()
        theirs = Envelope(canonical_json(statement_for(PACK, DIGEST)), PAYLOAD_TYPE, {})
        theirs.sign(signer)
        with pytest.raises(SignatureError):
            verify_envelope(theirs.to_dict(), [other_key.public_key()])
