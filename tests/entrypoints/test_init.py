"""`eucora init` starts a repository that validates, whose schema lines an editor follows."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml
from click.testing import CliRunner

from bot.core.scaffold import PLANES, SCHEMA_DIR, scaffold
from bot.entrypoints.cli import cli
from tests.conftest import ROOT

SCHEMA_LINE = "# yaml-language-server: $schema="


def _invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("intents")
    args = [arg for plane in PLANES for arg in ("--plane", plane)]
    code, out, err = _invoke("init", str(folder), *args, "--org", "contoso")
    assert code == 0, out + err
    return folder


def _yaml_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.yaml") if SCHEMA_DIR not in p.as_posix())


def test_init_writes_one_intent_per_plane_a_policy_its_test_and_the_workflow(
    repository: Path,
) -> None:
    for plane in PLANES.values():
        assert (repository / plane.path).is_file()
    assert (repository / "eucora.yaml").is_file()
    assert (repository / "policies" / "local.yaml").is_file()
    assert (repository / "policies" / "tests" / "local.test.yaml").is_file()
    workflow = repository / ".github" / "workflows" / "eucora.yml"
    assert workflow.read_bytes() == (ROOT / "examples" / "workflows" / "eucora.yml").read_bytes()
    assert "contoso/cab" in (repository / "eucora.yaml").read_text(encoding="utf-8")


def test_the_new_repository_validates_without_a_finding_and_its_policy_test_passes(
    repository: Path,
) -> None:
    code, out, err = _invoke("validate", str(repository), "--strict")
    assert code == 0, out + err
    assert out == ""  # no finding at all, not even a warning
    assert f"{len(PLANES) + 2} files checked, 0 errors, 0 warnings" in err
    code, out, err = _invoke("policy", "test", str(repository / "policies"))
    assert code == 0, out + err
    assert "2 passed, 0 failed" in out


def test_every_schema_line_resolves_inside_the_repository(repository: Path) -> None:
    files = _yaml_files(repository)
    assert len(files) == len(PLANES) + 4
    for path in files:
        first = path.read_text(encoding="utf-8").splitlines()[0]
        assert first.startswith(SCHEMA_LINE), path
        target = (path.parent / first.removeprefix(SCHEMA_LINE)).resolve()
        assert target.is_file(), f"{path}: {target} does not exist"
        assert target.is_relative_to(repository.resolve() / SCHEMA_DIR), target


def _schema_of(path: Path) -> Path:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    return (path.parent / first.removeprefix(SCHEMA_LINE)).resolve()


def test_an_independent_strict_validator_accepts_every_file_by_its_schema_line(
    repository: Path,
) -> None:
    """What an editor does: follow the $schema line, validate with formats (Draft 2020-12)."""
    for path in _yaml_files(repository):
        schema = json.loads(_schema_of(path).read_text(encoding="utf-8"))
        validator = jsonschema.Draft202012Validator(
            schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
        )
        errors = [e.message for e in validator.iter_errors(yaml.safe_load(path.read_text()))]
        assert errors == [], path


def test_check_jsonschema_accepts_every_file_by_its_schema_line(repository: Path) -> None:
    """check-jsonschema (a YAML 1.2 reader, formats on) against the schema each file names."""
    for path in _yaml_files(repository):
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "check_jsonschema",
                "--schemafile",
                str(_schema_of(path)),
                str(path),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, f"{path}: {result.stdout}{result.stderr}"


def test_init_refuses_to_overwrite_and_writes_nothing(tmp_path: Path) -> None:
    (tmp_path / "eucora.yaml").write_text("mine\n", encoding="utf-8")
    code, _, err = _invoke("init", str(tmp_path))
    assert code == 2
    assert err.splitlines() == [
        f"eucora: error: {tmp_path / 'eucora.yaml'} already exists; init writes only new files"
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["eucora.yaml"]
    assert (tmp_path / "eucora.yaml").read_text(encoding="utf-8") == "mine\n"


def test_init_twice_is_refused(tmp_path: Path) -> None:
    assert _invoke("init", str(tmp_path))[0] == 0
    code, _, err = _invoke("init", str(tmp_path))
    assert code == 2
    assert len(err.splitlines()) == 1
    assert "already exists (and " in err


def test_the_default_is_one_intune_intent(tmp_path: Path) -> None:
    assert _invoke("init", str(tmp_path))[0] == 0
    assert [p.relative_to(tmp_path).as_posix() for p in (tmp_path / "intents").rglob("*.yaml")] == [
        PLANES["intune"].path
    ]


def test_an_unknown_plane_is_a_usage_error(tmp_path: Path) -> None:
    code, _, err = _invoke("init", str(tmp_path), "--plane", "kandji")
    assert code == 2
    assert "'kandji' is not one of" in err
    with pytest.raises(ValueError, match="unknown plane 'kandji'"):
        scaffold(["kandji"])


def test_schema_export_writes_the_schemas_an_intent_line_points_at(tmp_path: Path) -> None:
    code, out, _ = _invoke("schema", "export", str(tmp_path))
    assert code == 0
    shipped = sorted(p.name for p in (ROOT / "schemas").glob("*.schema.json"))
    assert sorted(p.name for p in (tmp_path / SCHEMA_DIR).iterdir()) == shipped
    assert f"wrote {len(shipped)} schemas" in out
    for name in shipped:
        assert (tmp_path / SCHEMA_DIR / name).read_bytes() == (ROOT / "schemas" / name).read_bytes()
