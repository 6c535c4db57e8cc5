"""One signing key story (issue 19, item 9): `keys generate`, then that key for everything.

The key `keys generate` writes signs evidence and audit checkpoints alike; `audit.pub` is written
for whichever key signs, so the documented `audit verify --public-key keys/audit.pub` works;
turning the key on in a home that signed with its generated key is a key change, not tampering;
a key file that is not there is one line naming it, and `serve` does not start; the log's origin
names the installation and is shown by `audit verify`.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.adapters.audit_keys import DEFAULT_KEY_NAME, audit_origin, load_or_create_signer
from bot.core.tlog import Ed25519Signer, encode_signer_key
from bot.entrypoints.cli import cli
from bot.entrypoints.serve import build_server
from bot.errors import SigningKeyError
from bot.settings import Settings


def _run(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), env=env)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.stdout, result.stderr


def _generate(tmp_path: Path) -> Path:
    code, out, _ = _run(
        {"EUCORA_HOME": str(tmp_path / "unused")}, "keys", "generate", "--out", str(tmp_path / "k")
    )
    assert code == 0, out
    return tmp_path / "k" / "evidence-signing-key.pem"


def test_the_generated_key_runs_the_demo_and_audit_pub_verifies_its_log(tmp_path: Path) -> None:
    key = _generate(tmp_path)
    home = tmp_path / "home"
    env = {"EUCORA_HOME": str(home), "EUCORA_SIGNING_KEY": str(key)}
    code, out, err = _run(env, "demo")
    assert code == 0, out + err
    assert "everything behaved as expected" in out
    assert (home / "keys" / "audit.pub").is_file()
    code, out, err = _run(env, "audit", "verify", "--public-key", str(home / "keys" / "audit.pub"))
    assert code == 0, out + err
    assert out.startswith("OK: audit log:")
    assert "(signatures checked)" in out
    origin = (home / "keys" / "audit.origin").read_text(encoding="utf-8").strip()
    assert origin != DEFAULT_KEY_NAME
    assert f"log origin: {origin}" in out


def test_turning_the_key_on_in_an_existing_home_is_not_reported_as_tampering(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    plain = {"EUCORA_HOME": str(home)}
    assert _run(plain, "demo")[0] == 0  # signs with the generated audit.key
    before = (home / "keys" / "audit.pub").read_text(encoding="utf-8")
    keyed = {**plain, "EUCORA_SIGNING_KEY": str(_generate(tmp_path))}
    code, _, err = _run(keyed, "audit", "checkpoint")
    assert code == 0, err
    # The home trusts the key before the change: the default verification holds.
    code, out, err = _run(keyed, "audit", "verify")
    assert code == 0, out + err
    assert (home / "keys" / "audit.pub.previous").read_text(encoding="utf-8") == before
    # Given only the new key, the old checkpoints are a key change, said as such.
    code, out, _ = _run(keyed, "audit", "verify", "--public-key", str(home / "keys" / "audit.pub"))
    assert code == 1
    assert "signed by a different key" in out
    assert "if the log's key changed after them, give the earlier key too" in out
    assert "bad checkpoint" not in out


def test_a_signing_key_file_that_is_not_there_is_one_line_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "keys" / "nope.pem"
    env = {"EUCORA_HOME": str(tmp_path / "home"), "EUCORA_SIGNING_KEY": str(missing)}
    for args in (("demo",), ("audit", "verify")):
        code, out, err = _run(env, *args)
        assert code == 2, out + err
        assert err.strip().splitlines() == [
            f"eucora: error: the signing key file {missing} was not found"
        ]


def test_serve_refuses_to_start_with_a_signing_key_that_is_not_there(tmp_path: Path) -> None:
    missing = tmp_path / "nope.pem"
    settings = Settings.from_environ(
        {"EUCORA_HOME": str(tmp_path / "home"), "EUCORA_SIGNING_KEY": str(missing)}
    )
    with pytest.raises(SigningKeyError, match=f"{missing} was not found"):
        build_server(settings, metrics_dir=False)


def test_a_new_log_is_named_after_the_installation_and_an_old_one_keeps_its_name(
    tmp_path: Path,
) -> None:
    url = "https://eucora.contoso.com/"
    assert audit_origin(tmp_path / "new", None, url) == "eucora.contoso.com/eucora/audit"
    assert audit_origin(tmp_path / "new", "contoso/intents-audit", url) == "contoso/intents-audit"
    signer = load_or_create_signer(tmp_path / "new", public_url=url)
    assert signer.name == "eucora.contoso.com/eucora/audit"
    # A home whose log began before origins were named: its generated key (and so every
    # checkpoint it signed) is named eucora/audit; a configured PEM key keeps signing under it.
    old = tmp_path / "old" / "keys"
    old.mkdir(parents=True, mode=0o700)
    seed = b"\x01" * 32
    (old / "audit.key").write_text(encode_signer_key(DEFAULT_KEY_NAME, seed) + "\n")
    (old / "audit.key").chmod(0o600)
    assert audit_origin(tmp_path / "old", None, url) == DEFAULT_KEY_NAME
    assert load_or_create_signer(tmp_path / "old", public_url=url) == Ed25519Signer(
        DEFAULT_KEY_NAME, seed
    )
    pem = _generate(tmp_path)
    assert (
        load_or_create_signer(tmp_path / "old", str(pem), public_url=url).name == DEFAULT_KEY_NAME
    )


def test_an_origin_that_is_not_a_log_name_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SigningKeyError, match="not a log name"):
        audit_origin(tmp_path, "my audit log")


def test_checkpoints_a_pem_key_signed_as_eucora_audit_still_verify(tmp_path: Path) -> None:
    """Before logs were named, a configured PEM key signed as eucora/audit: still trusted."""
    from bot.adapters.audit_keys import parse_signing_key, verifier_keys
    from bot.core.tlog import Checkpoint, sign_checkpoint, verify_checkpoint

    pem = str(_generate(tmp_path))
    legacy = parse_signing_key(pem)  # the name it signed under then
    assert legacy.name == DEFAULT_KEY_NAME
    note = sign_checkpoint(
        Checkpoint(DEFAULT_KEY_NAME, 3, b"\x01" * 32), legacy.name, legacy.private_key
    )
    home = tmp_path / "home"
    assert load_or_create_signer(home, pem, public_url="https://a.example").name != DEFAULT_KEY_NAME
    assert verify_checkpoint(note, verifier_keys(home, pem)).size == 3
