"""How long ``eucora`` takes to start, next to the bare interpreter and its core libraries.

Every CLI run, hook and Action step pays the start-up: Python, then the imports. Times, each the
best of ``--repeat`` fresh processes (noise on a shared machine is one-sided):

* python     — ``python -c pass``: the interpreter alone;
* libraries  — ``python -c "import click, yaml, jsonschema, jsonschema_rs"``: the floor of what
               ``eucora validate`` cannot avoid importing (since the CLI loads each command when
               it runs, validate no longer imports PyGithub: ``github`` left the floor);
* help       — ``eucora --help``: every command listed (none imported);
* validate   — ``eucora validate`` of the bundled example intent (start-up plus one file).

Usage: python benchmarks/startup.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "intents-repo" / "intents" / "windows" / "7-zip.yaml"

COMMANDS: dict[str, list[str]] = {
    "python": [sys.executable, "-c", "pass"],
    "libraries": [
        sys.executable,
        "-c",
        "import click, yaml, jsonschema, jsonschema_rs",
    ],
    "help": [sys.executable, "-m", "bot", "--help"],
    "validate": [sys.executable, "-m", "bot", "validate", str(EXAMPLE)],
}


def best(repeat: int, argv: list[str]) -> float:
    """The fastest of ``repeat`` runs of ``argv``, in seconds (each must succeed)."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True, cwd=ROOT)
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    figures = {name: best(args.repeat, argv) for name, argv in COMMANDS.items()}
    floor = figures["libraries"]
    for name, seconds in figures.items():
        print(f"{name:10s} {seconds * 1000:7.0f} ms   {seconds / floor:5.2f}x libraries")


if __name__ == "__main__":
    main()
