#!/usr/bin/env bash
# make test-install: `make install` into a temporary prefix (the debug build, already built by `make test`), then
# - the installed smrt-chatd and smrt-chat run (--help);
# - `pkg-config --cflags --libs smrtchat` compiles and links clients/c/examples/hello.c, which then runs against
#   the installed smrt-chatd;
# - `systemd-analyze verify` accepts the installed unit;
# - the Python client builds a wheel (python -m build).
set -euo pipefail
cd "$(dirname "$0")/.."
tmp="$(mktemp -d /tmp/smrtchat-install-XXXXXX)"
server_pid=""
cleanup() { [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
prefix="$tmp/prefix"

make --no-print-directory install PREFIX="$prefix" CONFIG=debug >"$tmp/install.log" 2>&1 || { cat "$tmp/install.log"; exit 1; }
"$prefix/bin/smrt-chatd" --help | grep -q "SmrtChat server"
"$prefix/bin/smrt-chat" --help >/dev/null

export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
flags="$(pkg-config --cflags --libs smrtchat)"
echo "pkg-config --cflags --libs smrtchat: $flags"
# shellcheck disable=SC2086
cc -o "$tmp/hello" clients/c/examples/hello.c $flags
"$prefix/bin/smrt-chatd" serve --db "$tmp/chat.sqlite" --rpc "ipc://$tmp/rpc.sock" --events "ipc://$tmp/ev.sock" \
  --no-jobs --log-level warning >"$tmp/server.out" &
server_pid=$!
for _ in $(seq 100); do grep -q serving "$tmp/server.out" && break; sleep 0.1; done
key="$("$prefix/bin/smrt-chatd" keys create --db "$tmp/chat.sqlite" --tenant tenant-1 --json)"
SMRTCHAT_RPC="ipc://$tmp/rpc.sock" SMRTCHAT_TENANT=tenant-1 SMRTCHAT_ACTOR=alice \
  SMRTCHAT_KEY_ID="$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["key_id"])' "$key")" \
  SMRTCHAT_SECRET="$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["secret"])' "$key")" \
  LD_LIBRARY_PATH="$prefix/lib" "$tmp/hello" >"$tmp/hello.out"
grep -q "^room .* message .* (room_seq [0-9]*)" "$tmp/hello.out" || { cat "$tmp/hello.out"; exit 1; }

unit="$prefix/lib/systemd/system/smrt-chatd.service"
grep -q "^ExecStart=$prefix/bin/smrt-chatd serve" "$unit"
# verify checks the unit's syntax, its directives and that ExecStart exists; it may not warn either.
out="$(systemd-analyze verify "$unit" 2>&1 || echo "exit $?")"
if [ -n "$out" ]; then echo "systemd-analyze verify: $out" >&2; exit 1; fi

venv="clients/python/.venv"
[ -x "$venv/bin/python" ] || clients/python/run_tests.sh --collect-only -q >/dev/null
"$venv/bin/python" -m pip install -q build
"$venv/bin/python" -m build --wheel --outdir "$tmp/dist" clients/python >"$tmp/wheel.log" 2>&1 || { cat "$tmp/wheel.log"; exit 1; }
ls "$tmp/dist"/smrtchat-*.whl >/dev/null
echo "test-install: ok (prefix $prefix: binaries, C library via pkg-config, systemd unit, Python wheel $(basename "$tmp"/dist/*.whl))"
