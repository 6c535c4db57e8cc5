"""``eucora demo`` runs on embedded defaults and shows what works."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from bot.entrypoints.cli import cli

CHROME = "intents/windows/google-chrome.yaml"


def test_demo_validates_the_example_and_catches_a_careless_edit(tmp_path: Path) -> None:
    home = tmp_path / "home"
    result = CliRunner().invoke(cli, ["demo"], env={"EUCORA_HOME": str(home)})
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "0 errors, 0 warnings" in out
    for plane in ("intune", "jamf", "sccm", "landscape", "ansible"):
        assert f"via {plane}" in out
    assert "schema.additionalProperties" in out
    assert "did you mean 'devices'" in out
    assert "yaml.ambiguous" in out
    assert "everything behaved as expected" in out
    # The sample pull request's check: verdict, risk, evidence stored, signed and verified.
    assert "PASS — needs 1 CAB approval" in out
    assert "digest ok, signature ok, statement ok" in out
    assert "/evidence/sha256:" in out
    assert list((home / "evidence" / "sha256").rglob("*.dsse.json"))
    # Recorded in the audit log, with a proof bundle that verifies offline with public keys.
    assert list((home / "evidence" / "sha256").rglob("*.tlog-proof"))
    assert "verified offline with the public keys only:" in out
    assert "signature ok, statement ok, inclusion ok" in out
    assert "rule.change.freeze-window" in out
    # The ticket warning sits on change.ticket's line of the pull request's head file.
    head = (home / "demo" / "pull-request" / CHROME).read_text(encoding="utf-8").splitlines()
    ticket_line = next(n for n, text in enumerate(head, 1) if text.strip().startswith("ticket:"))
    assert ticket_line > 1
    assert f"{CHROME}:{ticket_line}:11: warning[rule.change.ticket-reused]" in out
    assert "eucora audit verify: OK" in out
    # The GitHub App step: the webhook in, both check runs and the sticky comment out.
    assert "POST /webhook (pull_request opened, signed) -> 202" in out
    assert "check run 'EUCORA policy': success" in out
    assert "check run 'EUCORA CAB approval': in_progress — Waiting for 1 more CAB approval" in out
    assert "sticky comment by eucora-test[bot]" in out
    assert "@carol here is why the risk is **33/100 (medium)**" in out
    # The CAB reviews: the author's own approval refused with its reason, carol's counted.
    assert (
        "dave approves -> check run 'EUCORA CAB approval': in_progress — Waiting for 1 more CAB"
        " approval\n     review " in out
    )
    assert "not counted: the pull request's author cannot approve it" in out
    assert "carol approves -> check run 'EUCORA CAB approval': success — Approved by the CAB" in out
    assert "counted for contoso/cab-desktop" in out
    # Before the merge, the comment's plan is read from the planes.
    assert "and its plan, read from the five plane doubles" in out
    assert "create: create Win32 app 'Google Chrome 132.0.6834.83'" in out
    assert "deploy '7-zip-lab 24.09' to collection PS100012" in out
    # Carol merges: one publication per plane, deployments green, what each plane holds.
    for environment in ("intune/lab", "jamf/lab", "sccm/lab", "landscape/lab", "ansible/lab"):
        assert f"deployment {environment:<24} in_progress -> success" in out
    assert "5 of 5 published." in out
    for plane in ("Intune", "Jamf Pro", "Configuration Manager", "Landscape", "AWX"):
        assert f"   {plane:<22} " in out
    assert "objects per plane: {'intune': 1, 'jamf': 1, 'sccm': 1, 'landscape': 1, 'awx': 1}" in out
    assert "change pack (approvals, merge, every result) stored as sha256:" in out
    assert_the_rollout_ran(out)
    assert_the_cab_steered(out)
    verified = out.split("change pack (approvals")[-1]
    assert "digest ok" in verified
    assert "inclusion ok" in verified
    # State stays under EUCORA_HOME so it can be explored afterwards.
    assert (home / "demo" / "intents-repo" / "eucora.yaml").is_file()
    assert (home / "demo" / "broken-change" / "google-chrome.yaml").is_file()


def assert_the_cab_steered(out: str) -> None:
    """Step 8: the author's ``/eucora halt`` is refused; a CAB member holds, another resumes."""
    steering = out.rsplit("8. The CAB steers a rollout", maxsplit=1)[-1]
    assert "dave: /eucora halt " in steering
    assert " -> active; the bot: @dave sorry" in steering.split("carol:")[0]
    assert " -> held; the bot: @carol done" in steering.split("carol:")[1]
    assert " -> active; the bot: @sam done" in steering.split("sam:")[1]


def test_demo_runs_twice_in_the_same_home(tmp_path: Path) -> None:
    env = {"EUCORA_HOME": str(tmp_path)}
    assert CliRunner().invoke(cli, ["demo"], env=env).exit_code == 0
    assert CliRunner().invoke(cli, ["demo"], env=env).exit_code == 0


def test_demo_refuses_an_unreadable_secret_file(tmp_path: Path) -> None:
    """Settings errors are usage errors (exit 2), never a traceback."""
    from bot.settings import SettingsError, read_secret

    try:
        read_secret({"GITHUB_TOKEN_FILE": str(tmp_path / "missing")}, "GITHUB_TOKEN")
    except SettingsError as error:
        assert "GITHUB_TOKEN_FILE" in str(error)
    else:  # pragma: no cover - the assertion below explains
        raise AssertionError("an unreadable secret file must be refused")
    assert read_secret({"X": "v"}, "X") == "v"
    (tmp_path / "s").write_text("secret\n", encoding="utf-8")
    assert read_secret({"X_FILE": str(tmp_path / "s")}, "X") == "secret"
    assert read_secret({}, "X") is None


def test_settings_defaults_live_under_home(tmp_path: Path) -> None:
    from bot.settings import Settings

    settings = Settings.from_environ({"EUCORA_HOME": str(tmp_path)})
    assert settings.database_url == f"sqlite:///{tmp_path.as_posix()}/eucora.db"
    assert settings.evidence_dir == tmp_path / "evidence"
    (tmp_path / "key").write_text("s3cret\n", encoding="utf-8")
    custom = Settings.from_environ(
        {
            "EUCORA_HOME": str(tmp_path),
            "EUCORA_DATABASE_URL": "postgresql+psycopg://db/eucora",
            "EUCORA_EVIDENCE_DIR": "/srv/evidence",
            "EUCORA_SIGNING_KEY_FILE": str(tmp_path / "key"),
        }
    )
    assert custom.database_url.startswith("postgresql")
    assert str(custom.evidence_dir) == "/srv/evidence"
    assert custom.signing_key == "s3cret"
    assert "s3cret" not in repr(custom)


def assert_the_rollout_ran(out: str) -> None:
    """Step 7: the rollout, ring by ring, with a halt and a weekend freeze."""
    assert "halted google-chrome 132.0.6834.83 (intune) at lab: 3 devices failed" in out
    assert "promoted osquery-linux-servers 5.14.1-1 (landscape) to pilot" in out
    assert "freeze window 'weekend'" in out
    assert "completed osquery-linux-servers 5.14.1-1 (landscape)" in out
    assert "deployment intune/lab               in_progress -> success -> failure" in out
    assert "osquery-linux-servers 5.14.1-1 on landscape: complete" in out
    assert "['eucora:halted']: Rollout halted: google-chrome 132.0.6834.83 at lab" in out
    assert "['eucora:emergency']: Roll back google-chrome to 131.0.6778.86" in out
