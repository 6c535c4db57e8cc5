"""How fast is ``eucora validate``, next to the floor of the bare libraries, in the same run.

Writes N generated intents (default 10,000) into a temporary intents repository, then times:

* floor      — read each file, yaml-rs ``loads`` + compiled jsonschema-rs ``is_valid`` and nothing else
               (the fastest correct parse + schema stack measured in LIBS.md);
* eucora     — the whole validate flow (``bot.flows.validate.validate_paths``): reading, UTF-8 and size
               checks, the fast path with its divergence guards, semantic rules, repository checks;
* reference  — the same flow forced down the reference path (PyYAML positional loader +
               python-jsonschema), i.e. what a file with findings costs;
* pyyaml+jsonschema — ``yaml.load(CSafeLoader)`` + python-jsonschema ``iter_errors``, the stack the
               mission names, for scale.

Each figure is the best of ``--repeat`` runs (noise on a shared 2-core machine is one-sided).
Usage: python benchmarks/validate.py [--count 10000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import jsonschema
import jsonschema_rs
import yaml
import yaml_rs

from bot import resources
from bot.catalog import build_document_validator
from bot.core.documents import DocumentKind
from bot.flows import validate as validate_flow
from tests.support.corpus import generate_intent_text


def write_repo(folder: Path, count: int) -> list[Path]:
    intents = folder / "intents"
    intents.mkdir(parents=True)
    (folder / "eucora.yaml").write_text(
        "apiVersion: eucora.dev/v1\nkind: EucoraConfig\ncab:\n  teams: [contoso/cab]\n",
        encoding="utf-8",
    )
    paths = []
    for i in range(count):
        path = intents / f"app-{i:05d}.yaml"
        path.write_text(generate_intent_text(i), encoding="utf-8")
        paths.append(path)
    return paths


def best(repeat: int, work) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    schema = resources.load_schema("deployment-intent.schema.json")
    fast = jsonschema_rs.validator_for(schema, validate_formats=True)
    reference = jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        paths = write_repo(folder, args.count)

        def floor() -> None:
            for path in paths:
                data = yaml_rs.loads(path.read_text(encoding="utf-8"), parse_datetime=False)
                assert fast.is_valid(data)

        def eucora() -> None:
            run = validate_flow.validate_paths([str(folder)])
            assert not run.findings, run.findings[:3]

        validator = build_document_validator(fast_path=False)

        def eucora_reference() -> None:
            for path in paths:
                doc = validator.validate(path.read_bytes(), str(path), DocumentKind.INTENT)
                assert not doc.findings

        def pyyaml_jsonschema() -> None:
            for path in paths[: max(1, len(paths) // 10)]:
                data = yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)
                assert not list(reference.iter_errors(data))

        eucora()  # warm up: schema compilation, imports
        results = {
            "floor (yaml-rs + jsonschema-rs)": best(args.repeat, floor),
            "eucora validate (whole flow)": best(args.repeat, eucora),
            "eucora reference path": best(1, eucora_reference),
            "PyYAML C + python-jsonschema (10% sample, scaled)": best(1, pyyaml_jsonschema) * 10,
        }
    n = args.count
    floor_s = results["floor (yaml-rs + jsonschema-rs)"]
    print(f"{n} generated intents, best of {args.repeat}")
    print(f"{'stack':<52} {'seconds':>8} {'intents/s':>10} {'ms/intent':>10} {'x floor':>8}")
    for name, seconds in results.items():
        print(
            f"{name:<52} {seconds:>8.3f} {n / seconds:>10.0f} {1000 * seconds / n:>10.3f} "
            f"{seconds / floor_s:>8.2f}"
        )


if __name__ == "__main__":
    main()
