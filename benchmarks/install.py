"""How long installing EUCORA takes and how much it weighs: the base install next to the full one.

Builds the wheel once, then for each install (``base``: ``pip install eucora``, what action.yml
runs; ``all``: ``pip install 'eucora[all]'``, every extra) makes a fresh virtual environment
without pip (so pip's own files are not counted), installs the wheel into it with this
interpreter's pip (``pip --python``), and reports the wall time, the distributions installed and
the size of site-packages. Both installs run in the same run, one after the other, with pip
configured as on this machine (its cache and its indexes): compare them with each other, not with
a figure from another day. ``--no-cache`` makes pip skip its cache (downloads and builds again).

Usage: python benchmarks/install.py [--repeat 1] [--no-cache]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
INSTALLS = {"base": "", "all": "[all]"}


def build_wheel(folder: Path) -> Path:
    """The project's wheel, built with this environment's hatchling."""
    build = ["wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(folder), str(ROOT)]
    subprocess.run([sys.executable, "-m", "pip", *build], check=True)
    [wheel] = folder.glob("eucora-*.whl")
    return wheel


def size_of(folder: Path) -> int:
    """Bytes of the regular files under ``folder``."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def install(wheel: Path, extras: str, folder: Path, *, cache: bool) -> tuple[float, int, int]:
    """Seconds to install, distributions installed, bytes of site-packages."""
    venv = folder / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    argv = [sys.executable, "-m", "pip", "--python", str(python), "install", "-q"]
    argv += [] if cache else ["--no-cache-dir"]
    started = time.perf_counter()
    subprocess.run([*argv, f"{wheel}{extras}"], check=True, stderr=subprocess.DEVNULL)
    seconds = time.perf_counter() - started
    [site] = venv.glob("lib/python*/site-packages")
    distributions = len(list(site.glob("*.dist-info")))
    return seconds, distributions, size_of(site)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1, help="installs of each; the best counts")
    parser.add_argument("--no-cache", action="store_true", help="pip without its cache")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="eucora-install-") as temp:
        wheel = build_wheel(Path(temp))
        results: dict[str, tuple[float, int, int]] = {}
        for name, extras in INSTALLS.items():
            runs = []
            for attempt in range(args.repeat):
                folder = Path(temp) / f"{name}-{attempt}"
                runs.append(install(wheel, extras, folder, cache=not args.no_cache))
            results[name] = min(runs)
    base_seconds, _, base_bytes = results["base"]
    print(f"{'install':8s} {'seconds':>8s} {'dists':>6s} {'MiB':>7s}   vs base")
    for name, (seconds, distributions, size) in results.items():
        print(
            f"{name:8s} {seconds:8.1f} {distributions:6d} {size / 2**20:7.1f}"
            f"   {seconds / base_seconds:4.1f}x time, {size / base_bytes:4.1f}x size"
        )


if __name__ == "__main__":
    main()
