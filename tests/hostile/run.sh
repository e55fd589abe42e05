#!/usr/bin/env bash
# Runs the hostile suites (boundary cases from the proto descriptors, pre-auth flood, rate floods)
# against a real smrt-chatd, with the Python client's venv (clients/python/.venv, created when missing).
#   SMRTCHAT_SERVER=/path/to/smrt-chatd tests/hostile/run.sh [pytest args, e.g. test_boundary.py]
# Default server: .build/debug/smrt-chatd. Optional result files (JSON): BOUNDARY_RESULTS, FLOOD_RESULTS.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
export SMRTCHAT_SERVER="${SMRTCHAT_SERVER:-$repo/.build/debug/smrt-chatd}"
venv="$repo/clients/python/.venv"

if [ ! -x "$SMRTCHAT_SERVER" ]; then
  echo "run.sh: server binary not found at $SMRTCHAT_SERVER (set SMRTCHAT_SERVER)" >&2
  exit 1
fi
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import smrtchat, pytest, pynng" >/dev/null 2>&1; then
  # run_tests.sh creates the venv and installs the client with its test extra; --co runs no test.
  "$repo/clients/python/run_tests.sh" --co -q >/dev/null
fi
cd "$here"
exec "$venv/bin/python" -m pytest -q "$@"
