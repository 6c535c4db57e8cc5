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

Each figure is the best of ``--repeat`` runs (noise on a shared 2-core machine is one-sided), the
floor and the flow taking turns; wall and CPU time both, and the load average, are printed.
Usage: python benchmarks/validate.py [--count 10000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
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
from bot.adapters.workspace import read_sources
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


def timed(work) -> tuple[float, float]:
    """Wall and CPU seconds of one run."""
    wall, cpu = time.perf_counter(), time.process_time()
    work()
    return time.perf_counter() - wall, time.process_time() - cpu


def best_interleaved(repeat: int, works: dict[str, object]) -> dict[str, tuple[float, float]]:
    """Best wall and best CPU time of each work, the works taking turns round after round.

    On a shared machine the load changes from second to second; taking turns gives each stack the
    same chances of a quiet moment, so their ratio means something even when the load is high.
    """
    out = {name: (float("inf"), float("inf")) for name in works}
    for _ in range(repeat):
        for name, work in works.items():
            wall, cpu = timed(work)
            out[name] = (min(out[name][0], wall), min(out[name][1], cpu))
    return out


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
            run = validate_flow.validate_paths([str(folder)], read_sources)
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
        floor()
        results = best_interleaved(args.repeat, {FLOOR: floor, EUCORA: eucora})
        results[REFERENCE] = timed(eucora_reference)
        wall, cpu = timed(pyyaml_jsonschema)
        results[PYYAML] = (wall * 10, cpu * 10)
    n = args.count
    floor_wall, floor_cpu = results[FLOOR]
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"{n} generated intents, best of {args.repeat} taking turns; load average {load}")
    print(
        f"{'stack':<52} {'wall s':>7} {'intents/s':>10} {'ms/intent':>10} {'x floor':>8} "
        f"{'CPU s':>7} {'x floor':>8}"
    )
    for name, (wall, cpu) in results.items():
        print(
            f"{name:<52} {wall:>7.3f} {n / wall:>10.0f} {1000 * wall / n:>10.3f} "
            f"{wall / floor_wall:>8.2f} {cpu:>7.3f} {cpu / floor_cpu:>8.2f}"
        )


FLOOR = "floor (yaml-rs + jsonschema-rs)"
EUCORA = "eucora validate (whole flow)"
REFERENCE = "eucora reference path"
PYYAML = "PyYAML C + python-jsonschema (10% sample, scaled)"


if __name__ == "__main__":
    main()
