"""Evidence packs as signed attestations: an in-toto Statement v1 in a DSSE envelope.

* Statement: https://github.com/in-toto/attestation/blob/main/spec/v1/statement.md — ``_type``,
  ``subject`` (ResourceDescriptors matched purely by digest), ``predicateType``, ``predicate``.
* Envelope: https://github.com/secure-systems-lab/dsse/blob/master/envelope.md and
  ``protocol.md`` (v1.0.2) — ``payload`` (base64), ``payloadType``, ``signatures`` [{keyid, sig}],
  each signature over PAE(payloadType, payload).
* in-toto's envelope layer (``spec/v1/envelope.md``): payloadType ``application/vnd.in-toto+json``.

The pack is the predicate and its sha256 (of the RFC 8785 bytes, as :func:`digest_of` gives) is
the first subject, so tools that match subjects by digest find it; the head commit the pack judges
is the second (``gitCommit``). The payload is the canonical JSON of the Statement, so with Ed25519
(deterministic, RFC 8032) the same pack and key always give byte-identical envelopes; verification
never depends on that canonical form, only on the payload bytes that were signed.

Key ids are a hint (DSSE: "MUST NOT be used for security decisions"): ``key_id`` is the lowercase
hex SHA-256 of the public key's DER SubjectPublicKeyInfo (the bytes inside its PEM), and
:func:`verify_envelope` tries every given key against every signature whatever the keyid says.

Pure: keys come in as ``cryptography`` objects; nothing here reads a file or the environment.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from bot.core.evidence import canonical_json, digest_of

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
CHECK_PREDICATE_TYPE = "https://eucora.dev/attestations/check/v1"
CHANGE_PREDICATE_TYPE = "https://eucora.dev/attestations/change/v1"
ROLLOUT_PREDICATE_TYPE = "https://eucora.dev/attestations/rollout/v1"
# Which predicate type each pack kind is attested under.
PREDICATE_TYPES: Mapping[str, str] = {
    "CheckPack": CHECK_PREDICATE_TYPE,
    "ChangePack": CHANGE_PREDICATE_TYPE,
    "RolloutPack": ROLLOUT_PREDICATE_TYPE,
}

_DIGEST = re.compile(r"sha256:([0-9a-f]{64})")
_HEX_SHA256 = re.compile(r"[0-9a-f]{64}")
_GIT_COMMIT = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
# The in-toto envelope layer also allows application/vnd.in-toto.<predicate>+json.
_IN_TOTO_PAYLOAD_TYPE = re.compile(r"application/vnd\.in-toto(\.[A-Za-z0-9._-]+)?\+json")
_ED25519_SIGNATURE_SIZE = 64


class AttestationError(ValueError):
    """An attestation cannot be built or does not verify: the base of the errors below."""


class EnvelopeFormatError(AttestationError):
    """The DSSE envelope is not shaped as the specification requires (fields, base64)."""


class SignatureError(AttestationError):
    """Not enough signatures over PAE(payloadType, payload) verify with the given keys."""


class StatementError(AttestationError):
    """The signed payload is not an in-toto Statement v1 (or not one EUCORA understands)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Subject:
    """One in-toto ResourceDescriptor of the Statement: a name and its digest set."""

    name: str
    digest: Mapping[str, str]


@dataclass(frozen=True, slots=True, kw_only=True)
class Statement:
    """A Statement read from the payload bytes of an envelope whose signatures verified.

    ``verified_by`` holds the key ids (as :func:`key_id` computes them) of the given keys that
    verified a signature; ``payload`` is the exact bytes they signed.
    """

    subjects: tuple[Subject, ...]
    predicate_type: str
    predicate: dict[str, Any]
    verified_by: tuple[str, ...]
    payload: bytes = field(repr=False)

    def subject_digest(self, algorithm: str = "sha256") -> tuple[str, ...]:
        """The digests of the subjects under one algorithm, in subject order."""
        return tuple(s.digest[algorithm] for s in self.subjects if algorithm in s.digest)


# --- Statement ------------------------------------------------------------------------------------


def statement_for(
    pack: Mapping[str, Any], digest: str, *, predicate_type: str | None = None
) -> dict[str, Any]:
    """The in-toto Statement v1 attesting an evidence pack.

    Subjects: the pack (name ``<hex>.json``, its file name in the evidence store; digest
    ``sha256``) and, when the pack names a head commit, that commit (``gitCommit``). The predicate
    is the pack itself. ``predicate_type`` defaults to the one registered for the pack's ``kind``.

    Raises:
        AttestationError: ``digest`` is not the pack's digest, or the kind has no predicate type.
    """
    match = _DIGEST.fullmatch(digest)
    if match is None:
        raise AttestationError(f"{digest!r} is not a sha256:<64 lowercase hex> digest")
    actual = digest_of(pack)
    if actual != digest:
        raise AttestationError(f"the pack's digest is {actual}, not {digest}")
    if predicate_type is None:
        kind = pack.get("kind")
        if not isinstance(kind, str) or kind not in PREDICATE_TYPES:
            raise AttestationError(f"no predicate type for packs of kind {kind!r}")
        predicate_type = PREDICATE_TYPES[kind]
    hex_digest = match.group(1)
    subjects: list[dict[str, Any]] = [
        {"name": f"{hex_digest}.json", "digest": {"sha256": hex_digest}}
    ]
    head = pack.get("head")
    if isinstance(head, str) and _GIT_COMMIT.fullmatch(head):
        repository = pack.get("repository")
        name = f"{repository}@{head}" if isinstance(repository, str) and repository else head
        subjects.append({"name": name, "digest": {"gitCommit": head}})
    return {
        "_type": STATEMENT_TYPE,
        "subject": subjects,
        "predicateType": predicate_type,
        "predicate": dict(pack),
    }


# --- DSSE -----------------------------------------------------------------------------------------


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding (``protocol.md``).

    ``"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body``, LEN being the ASCII decimal byte length.
    """
    type_bytes = payload_type.encode("utf-8")
    return b"DSSEv1 %d %b %d %b" % (len(type_bytes), type_bytes, len(payload), payload)


def key_id(public_key: Ed25519PublicKey) -> str:
    """The key id: lowercase hex SHA-256 of the DER SubjectPublicKeyInfo of the public key."""
    der = public_key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def sign_envelope(statement: Mapping[str, Any], signer: Ed25519PrivateKey) -> dict[str, Any]:
    """Sign a Statement into a DSSE envelope (payloadType ``application/vnd.in-toto+json``).

    The payload is the Statement's canonical JSON, base64 with the standard alphabet and padding.
    """
    payload = canonical_json(statement)
    signature = signer.sign(pae(PAYLOAD_TYPE, payload))
    return {
        "payload": _b64encode(payload),
        "payloadType": PAYLOAD_TYPE,
        "signatures": [{"keyid": key_id(signer.public_key()), "sig": _b64encode(signature)}],
    }


def verify_envelope(
    envelope: Mapping[str, Any],
    public_keys: Sequence[Ed25519PublicKey],
    *,
    threshold: int = 1,
) -> Statement:
    """Verify a DSSE envelope and return the in-toto Statement its signed payload holds.

    Follows DSSE ``protocol.md``: every signature is checked against every key over
    PAE(payloadType, payload) (keyids are ignored); at least ``threshold`` distinct keys must
    verify; the Statement is parsed from the verified payload bytes, never from the envelope
    again. Standard and URL-safe base64 are both accepted, padded or not.

    Raises:
        EnvelopeFormatError: the envelope's fields are missing, mistyped or not base64.
        SignatureError: fewer than ``threshold`` of the keys verify a signature.
        StatementError: the payload type or the Statement is not what in-toto v1 requires.
    """
    if threshold < 1:
        raise ValueError("the threshold must be at least 1")
    payload_type, payload, signatures = _read_envelope(envelope)
    message = pae(payload_type, payload)
    verified: dict[str, None] = {}
    for public_key in public_keys:
        for signature in signatures:
            if _verifies(public_key, signature, message):
                verified[key_id(public_key)] = None
                break
    if len(verified) < threshold:
        raise SignatureError(
            f"{len(verified)} of the {len(public_keys)} given key(s) verified a signature"
            f" over the payload; {threshold} needed"
        )
    if _IN_TOTO_PAYLOAD_TYPE.fullmatch(payload_type) is None:
        raise StatementError(f"payloadType {payload_type!r} is not an in-toto Statement")
    return _parse_statement(payload, tuple(verified))


def read_unverified_statement(envelope: Mapping[str, Any]) -> dict[str, Any]:
    """The Statement in an envelope WITHOUT checking any signature: for display only.

    Raises:
        EnvelopeFormatError: the envelope is malformed.
        StatementError: its payload is not a JSON object.
    """
    _, payload, _ = _read_envelope(envelope)
    return _load_json_object(payload)


def _verifies(public_key: Ed25519PublicKey, signature: bytes, message: bytes) -> bool:
    if len(signature) != _ED25519_SIGNATURE_SIZE:
        return False
    try:
        public_key.verify(signature, message)
    except InvalidSignature:
        return False
    return True


def _read_envelope(envelope: Mapping[str, Any]) -> tuple[str, bytes, tuple[bytes, ...]]:
    if not isinstance(envelope, Mapping):
        raise EnvelopeFormatError("a DSSE envelope is a JSON object")
    payload_type = envelope.get("payloadType")
    if not isinstance(payload_type, str):
        raise EnvelopeFormatError("the envelope has no payloadType string")
    payload_text = envelope.get("payload")
    if not isinstance(payload_text, str):
        raise EnvelopeFormatError("the envelope has no payload string")
    payload = _b64decode(payload_text, "payload")
    entries = envelope.get("signatures")
    if not isinstance(entries, list) or not entries:
        raise EnvelopeFormatError("the envelope has no signatures")
    signatures: list[bytes] = []
    for number, entry in enumerate(entries, start=1):
        if not isinstance(entry, Mapping) or not isinstance(entry.get("sig"), str):
            raise EnvelopeFormatError(f"signature {number} has no sig string")
        keyid = entry.get("keyid")
        if keyid is not None and not isinstance(keyid, str):
            raise EnvelopeFormatError(f"signature {number} has a keyid that is not a string")
        signatures.append(_b64decode(entry["sig"], f"signature {number}"))
    return payload_type, payload, tuple(signatures)


def _b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _b64decode(text: str, what: str) -> bytes:
    """Decode standard or URL-safe base64, with or without padding (DSSE ``envelope.md``)."""
    normal = text.strip().replace("-", "+").replace("_", "/")
    normal += "=" * (-len(normal) % 4)
    try:
        return base64.b64decode(normal, validate=True)
    except ValueError as error:  # binascii.Error is a ValueError
        raise EnvelopeFormatError(f"the {what} is not base64: {error}") from None


# --- Statement parsing ----------------------------------------------------------------------------


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """Refuse duplicate names: two parsers could read them differently."""
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise StatementError(f"the payload repeats the name {key!r}")
        result[key] = value
    return result


def _refuse_constant(name: str) -> Any:
    raise StatementError(f"the payload holds {name}, which is not JSON")


def _load_json_object(payload: bytes) -> dict[str, Any]:
    try:
        value = json.loads(
            payload.decode("utf-8"),
            object_pairs_hook=_refuse_duplicates,
            parse_constant=_refuse_constant,
        )
    except UnicodeDecodeError:
        raise StatementError("the payload is not UTF-8") from None
    except json.JSONDecodeError as error:
        raise StatementError(f"the payload is not JSON: {error}") from None
    if not isinstance(value, dict):
        raise StatementError("the payload is not a JSON object")
    return value


def _parse_statement(payload: bytes, verified_by: tuple[str, ...]) -> Statement:
    value = _load_json_object(payload)
    if value.get("_type") != STATEMENT_TYPE:
        raise StatementError(f"_type is {value.get('_type')!r}, not {STATEMENT_TYPE!r}")
    entries = value.get("subject")
    if not isinstance(entries, list) or not entries:
        raise StatementError("the Statement has no subject")
    subjects = tuple(_parse_subject(entry, number) for number, entry in enumerate(entries, 1))
    predicate_type = value.get("predicateType")
    if not isinstance(predicate_type, str) or not predicate_type:
        raise StatementError("the Statement has no predicateType")
    predicate = value.get("predicate", {})
    if not isinstance(predicate, dict):
        raise StatementError("the Statement's predicate is not an object")
    return Statement(
        subjects=subjects,
        predicate_type=predicate_type,
        predicate=predicate,
        verified_by=verified_by,
        payload=payload,
    )


def _parse_subject(entry: Any, number: int) -> Subject:
    if not isinstance(entry, dict):
        raise StatementError(f"subject {number} is not an object")
    digest = entry.get("digest")
    if not isinstance(digest, dict) or not digest:
        raise StatementError(f"subject {number} has no digest")
    for algorithm, value in digest.items():
        if not isinstance(value, str):
            raise StatementError(f"subject {number}: digest {algorithm!r} is not a string")
    # in-toto's validator accepts any text here; a sha256 must be 64 lowercase hex digits.
    if "sha256" in digest and _HEX_SHA256.fullmatch(digest["sha256"]) is None:
        raise StatementError(f"subject {number}: sha256 {digest['sha256']!r} is not 64 hex digits")
    name = entry.get("name", "")
    if not isinstance(name, str):
        raise StatementError(f"subject {number}: name is not a string")
    return Subject(name=name, digest=dict(digest))
