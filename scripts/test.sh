#!/usr/bin/env bash
# Install everything the tests need, then run the whole suite with its quality gates.
# Idempotent: running it twice installs nothing new the second time.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the tests use. Installed only when missing (CI runs as root on a fresh machine).
DEB_PACKAGES=(git python3-venv chromium postgresql redis-server)
missing=()
for package in "${DEB_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    echo "Installing Debian packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "Missing Debian packages (install them as root): ${missing[*]}" >&2
  fi
fi

PYTHON="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
# .[test] pulls every extra (server, planes, ansible, demo) and the tools.
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'

echo "== ruff" && .venv/bin/ruff check . && .venv/bin/ruff format --check .
echo "== mypy" && .venv/bin/mypy
echo "== import layers" && .venv/bin/lint-imports
echo "== pytest"
# One worker per core (--dist loadfile keeps a module's tests, and its servers, on one worker):
# most of the suite waits on real servers and subprocesses. EUCORA_TEST_WORKERS=0 runs it serially.
.venv/bin/python -m pytest -n "${EUCORA_TEST_WORKERS:-auto}" --dist loadfile \
  --cov --cov-report=term --cov-fail-under=90 --durations=15 "$@"
