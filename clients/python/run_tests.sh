#!/usr/bin/env bash
# Runs the Python client's tests against a real smrt-chatd (which it does not build).
#   SMRTCHAT_SERVER=/path/to/smrt-chatd ./run_tests.sh [pytest args]
# Default server: ../../.build/debug/smrt-chatd (build it with `swift build --product smrt-chatd`).
# Creates .venv (python3 -m venv) and installs the package with its test extra when needed.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"
export SMRTCHAT_SERVER="${SMRTCHAT_SERVER:-$here/../../.build/debug/smrt-chatd}"
PYTHON="${PYTHON:-python3}"

if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
stamp=".venv/.smrtchat-installed"
want="$(sha256sum pyproject.toml | cut -d' ' -f1) $here"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ] || \
   ! .venv/bin/python -c "import smrtchat, pytest, pynng" >/dev/null 2>&1; then
  .venv/bin/python -m pip install -q -e '.[test]'
  echo "$want" > "$stamp"
fi
if [ ! -x "$SMRTCHAT_SERVER" ]; then
  echo "run_tests.sh: server binary not found at $SMRTCHAT_SERVER (set SMRTCHAT_SERVER)" >&2
  exit 1
fi
exec .venv/bin/python -m pytest "$@"
