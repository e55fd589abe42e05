#!/usr/bin/env bash
# Interop: a message sent from C (libsmrtchat's hello example) is read by Python (smrtchat) and seen by
# the Swift CLI's tail (smrt-chat tail), all against one real smrt-chatd.
#   SMRTCHAT_SERVER=/path/to/smrt-chatd tests/interop.sh
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
server="${SMRTCHAT_SERVER:-$root/.build/debug/smrt-chatd}"
cli="$(dirname "$server")/smrt-chat"
work="$(mktemp -d)"
pid=""
tail_pid=""
cleanup() {
  [ -n "$tail_pid" ] && kill "$tail_pid" 2>/dev/null || true
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

"$server" serve --rpc "ipc://$work/rpc.sock" --events "ipc://$work/ev.sock" --db "$work/chat.sqlite" \
  --no-rate-limits --no-jobs --log-level warning > "$work/server.out" &
pid=$!
for _ in $(seq 100); do grep -q serving "$work/server.out" 2>/dev/null && break; sleep 0.1; done
key_json="$("$server" keys create --db "$work/chat.sqlite" --tenant tenant-1 --scope chat --scope events --json)"
export SMRTCHAT_RPC="ipc://$work/rpc.sock" SMRTCHAT_EVENTS="ipc://$work/ev.sock" SMRTCHAT_TENANT=tenant-1 \
  SMRTCHAT_ACTOR=alice
SMRTCHAT_KEY_ID="$(python3 -c 'import json,sys;print(json.loads(sys.argv[1])["key_id"])' "$key_json")"
SMRTCHAT_SECRET="$(python3 -c 'import json,sys;print(json.loads(sys.argv[1])["secret"])' "$key_json")"
export SMRTCHAT_KEY_ID SMRTCHAT_SECRET

# The Swift CLI tails the tenant from its first event: room created, owner joined, message created.
"$cli" tail --json --count 3 --after-event-id 0 > "$work/tail.jsonl" 2> "$work/tail.err" &
tail_pid=$!

# C sends.
out="$("$root/clients/c/build/bin/hello")"
room="$(sed -n 's/^room \([^ ]*\) message \([^ ]*\).*/\1/p' <<<"$out")"
message="$(sed -n 's/^room \([^ ]*\) message \([^ ]*\).*/\2/p' <<<"$out")"
[ -n "$message" ] || { echo "interop: the C client sent nothing: $out" >&2; exit 1; }

# Python reads it.
"$root/clients/python/.venv/bin/python" - "$message" <<'PY'
import os, sys
import smrtchat
c = smrtchat.Client(os.environ["SMRTCHAT_RPC"], os.environ["SMRTCHAT_KEY_ID"], os.environ["SMRTCHAT_SECRET"],
                    os.environ["SMRTCHAT_TENANT"], os.environ["SMRTCHAT_ACTOR"])
got = c.get_message(message_id=sys.argv[1]).message
assert got.content == "hello, world", got
print("python read:", got.id, repr(got.content))
PY

# The Swift CLI saw it.
for _ in $(seq 100); do kill -0 "$tail_pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$tail_pid" 2>/dev/null; then echo "interop: smrt-chat tail did not see 3 events" >&2; cat "$work/tail.err" >&2; exit 1; fi
wait "$tail_pid" || { echo "interop: smrt-chat tail failed" >&2; cat "$work/tail.err" >&2; exit 1; }
tail_pid=""
grep -q "$message" "$work/tail.jsonl" || { echo "interop: tail output lacks $message" >&2; cat "$work/tail.jsonl" >&2; exit 1; }
grep -q "$room" "$work/tail.jsonl"
echo "interop ok: C sent $message in $room, Python read it, the Swift CLI tail saw it"
