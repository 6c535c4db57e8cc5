"""The layering rule is enforced here, not by review: the core is pure, layers point down."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "bot" / "core"

# What the pure core may import: data-only standard modules and parsing/validation libraries.
CORE_ALLOWED = {
    "__future__",
    "collections",
    "dataclasses",
    "datetime",
    "difflib",
    "enum",
    "fnmatch",  # drift ignore patterns (pure string matching)
    "fractions",  # exact success rates in the ring gates
    "functools",
    "operator",  # operator.index: the fast schema refuses a float where a whole number goes
    "hashlib",
    "hmac",
    "itertools",
    "json",
    "math",
    "re",
    "typing",
    "bot",
    "yaml",
    "yaml_rs",
    "jsonschema",
    "jsonschema_rs",
    "cel_expr_python",
    "google",  # protobuf descriptors: typed declarations for CEL's checker (cel_types.py)
    "rfc8785",
    "base64",
    "cryptography",
}


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_core_imports_only_pure_modules() -> None:
    """Every module under bot/core imports only data-only modules."""
    offenders = {
        str(path.relative_to(ROOT)): sorted(imported_roots(path) - CORE_ALLOWED)
        for path in CORE.rglob("*.py")
        if imported_roots(path) - CORE_ALLOWED
    }
    assert offenders == {}


def test_core_imports_nothing_outside_the_core() -> None:
    """The core never reaches up into adapters, flows, entry points or connectors."""
    for path in CORE.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("bot"):
                assert node.module.startswith("bot.core"), f"{path}: imports {node.module}"


def test_import_linter_contracts_hold() -> None:
    """The import-linter contracts in pyproject.toml (layers, forbidden imports) are kept."""
    executable = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert executable is not None, "import-linter is part of the test dependencies"
    result = subprocess.run(
        [executable], cwd=ROOT, capture_output=True, text=True, check=False, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr


BANNED_BUILTINS = {"open", "print", "input", "exec", "eval", "breakpoint", "__import__"}


def test_core_calls_no_io_builtins() -> None:
    """The core neither opens files nor prints: the caller reads and the CLI prints."""
    offenders = []
    for path in CORE.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        offenders.extend(
            f"{path.relative_to(ROOT)}:{node.lineno}: {node.func.id}()"
            for node in ast.walk(tree)
            if isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in BANNED_BUILTINS
        )
    assert offenders == []


def test_core_ruff_config_bans_clock_environment_and_randomness() -> None:
    """The nested ruff.toml keeps its bans (ruff runs it in the test command)."""
    config = (CORE / "ruff.toml").read_text(encoding="utf-8")
    for name in ("os.environ", "datetime.datetime.now", "time.time", "random", "subprocess"):
        assert f'"{name}".msg' in config


def test_nothing_below_the_entry_points_imports_the_composition_root() -> None:
    """``bot.flows.pull_request`` imported ``build_redactor`` from ``bot.bootstrap``."""
    offenders = [
        str(path.relative_to(ROOT))
        for folder in ("flows", "adapters", "core")
        for path in (ROOT / "bot" / folder).rglob("*.py")
        if any(
            isinstance(node, ast.ImportFrom) and node.module == "bot.bootstrap"
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        )
    ]
    assert offenders == []


def test_the_flows_contract_forbids_adapters_and_the_root() -> None:
    """The import-linter contract that keeps the flows on ports names what it forbids."""
    import tomllib

    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"][
        "importlinter"
    ]["contracts"]
    flows = [c for c in contracts if c.get("source_modules") == ["bot.flows"]]
    assert len(flows) == 1
    forbidden = set(flows[0]["forbidden_modules"])
    assert {
        "bot.adapters",
        "bot.bootstrap",
        "connectors.registry",
        "connectors.intune",
    } <= forbidden
    assert "connectors.base" not in forbidden  # the plane value types stay importable
    # no exceptions left (docs/architecture.md, "Not yet behind ports"): five flow modules
    # imported the revisions, evidence store, keys and workspace adapters
    assert flows[0].get("ignore_imports", []) == []
