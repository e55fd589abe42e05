#!/bin/sh
# Starts a real smrt-chatd on a temporary database and fresh ipc paths (plus a free tcp port when
# one can be found), creates keys, runs the C test programs, smrtchat-tail and smrtchat-bench
# against it, and stops the server. Used by `make test`.
#   SMRTCHAT_SERVER  path of smrt-chatd      BUILD_DIR  clients/c/build      VECTORS  vectors.json
set -eu
SERVER=${SMRTCHAT_SERVER:-../../.build/debug/smrt-chatd}
BUILD_DIR=${BUILD_DIR:-build}
BIN=$BUILD_DIR/bin
if [ ! -x "$SERVER" ]; then
  echo "run-tests.sh: no server at $SERVER (build it: cd /work/main && swift build --product smrt-chatd," \
       "or pass SMRTCHAT_SERVER=...)" >&2
  exit 1
fi

tmp=$(mktemp -d /tmp/smrtchat-c-test.XXXXXX)
server_pid=
server2_pid=
stop_server() {
  if [ -n "$1" ] && kill -0 "$1" 2>/dev/null; then
    kill -TERM "$1" 2>/dev/null || true
    i=0
    while kill -0 "$1" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
    kill -KILL "$1" 2>/dev/null || true
  fi
}
cleanup() {
  stop_server "$server_pid"
  stop_server "$server2_pid"
  if [ "${KEEP_TMP:-0}" = 1 ]; then echo "kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

db=$tmp/chat.sqlite
rpc1=ipc://$tmp/rpc.sock
rpc2=ipc://$tmp/rpc2.sock
events=ipc://$tmp/events.sock
rpc_all="$rpc1,$rpc2"
# A free tcp port, if python3 is around to find one (the ipc endpoints are enough otherwise).
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null || true)
if [ -n "$port" ]; then rpc_all="$rpc_all,tcp://127.0.0.1:$port"; fi

key_json() { "$SERVER" keys create --db "$db" "$@" --json; }
field() { sed -n "s/.*\"$1\": *\"\([^\"]*\)\".*/\1/p"; }
chat_json=$(key_json --tenant tenant-1 --tenant tenant-2 --scope chat --scope events)
agent_json=$(key_json --tenant tenant-1 --scope agent)
SMRTCHAT_KEY_ID=$(echo "$chat_json" | field key_id)
SMRTCHAT_SECRET=$(echo "$chat_json" | field secret)
SMRTCHAT_AGENT_KEY_ID=$(echo "$agent_json" | field key_id)
SMRTCHAT_AGENT_SECRET=$(echo "$agent_json" | field secret)
if [ -z "$SMRTCHAT_KEY_ID" ] || [ -z "$SMRTCHAT_SECRET" ] || [ -z "$SMRTCHAT_AGENT_KEY_ID" ]; then
  echo "run-tests.sh: could not create keys: $chat_json / $agent_json" >&2
  exit 1
fi

"$SERVER" serve --rpc "$rpc_all" --events "$events" --db "$db" --no-rate-limits --no-jobs \
  >"$tmp/server.out" 2>"$tmp/server.err" &
server_pid=$!
i=0
until grep -q "smrt-chatd serving" "$tmp/server.out" 2>/dev/null; do
  if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "run-tests.sh: server exited:" >&2; cat "$tmp/server.err" >&2; exit 1
  fi
  i=$((i + 1))
  if [ $i -gt 300 ]; then echo "run-tests.sh: server not ready after 30 s" >&2; exit 1; fi
  sleep 0.1
done
echo "server: $(cat "$tmp/server.out")"

export SMRTCHAT_RPC="$rpc1" SMRTCHAT_EVENTS="$events" SMRTCHAT_TENANT=tenant-1 SMRTCHAT_ACTOR=alice
export SMRTCHAT_KEY_ID SMRTCHAT_SECRET SMRTCHAT_AGENT_KEY_ID SMRTCHAT_AGENT_SECRET
export SMRTCHAT_TEST_OUT="$tmp/test.out"
fail=0

echo "== test_smrtchat"
${SMRTCHAT_TEST_WRAPPER:-} "$BIN/test_smrtchat" || fail=1
[ -f "$tmp/test.out" ] || { echo "run-tests.sh: test program wrote no summary" >&2; exit 1; }
. "$tmp/test.out"

echo "== smrtchat-tail --room (catch-up from seq 0)"
"$BIN/smrtchat-tail" --room "$ROOM" --after-seq 0 --count "$ROOM_HEAD" --idle-exit-ms 5000 >"$tmp/tail.room" || fail=1
head -3 "$tmp/tail.room"
seqs=$(awk '{print $3}' "$tmp/tail.room" | tr '\n' ' ')
want=$(seq 1 "$ROOM_HEAD" | tr '\n' ' ')
if [ "$seqs" = "$want" ] && [ "$(awk 'NF != 5' "$tmp/tail.room" | wc -l)" -eq 0 ]; then
  echo "ok: tail printed seq 1..$ROOM_HEAD of the room, 5 fields each"
else
  echo "FAIL: tail seqs [$seqs] want [$want]"; fail=1
fi

echo "== smrtchat-tail (tenant, catch-up from event 0, live)"
"$BIN/smrtchat-tail" --after-event-id 0 --idle-exit-ms 4000 --poll-ms 0 >"$tmp/tail.tenant" &
tail_pid=$!
sleep 0.5
# A live event while the tail runs: a message into the room.
"$BIN/smrtchat-bench" --clients 1 --calls 1 --op send --room "$ROOM" >/dev/null || fail=1
wait "$tail_pid" || fail=1
n=$(wc -l <"$tmp/tail.tenant")
max_id=$(awk '$1 > m {m = $1} END {print m + 0}' "$tmp/tail.tenant")
last_main=$(awk -v r="$ROOM" '$2 == r {s=$3} END {print s}' "$tmp/tail.tenant")
main_n=$(awk -v r="$ROOM" '$2 == r' "$tmp/tail.tenant" | wc -l)
if [ "$max_id" -gt "$TENANT_HEAD" ] && [ "$last_main" = "$((ROOM_HEAD + 1))" ] && [ "$main_n" -eq "$((ROOM_HEAD + 1))" ]; then
  echo "ok: tenant tail printed $n events up to event $max_id; the room's $main_n events include the live seq $last_main"
else
  echo "FAIL: tenant tail printed $n events up to event $max_id (want > $TENANT_HEAD), room: $main_n events, last seq $last_main (want $((ROOM_HEAD + 1)))"
  fail=1
fi
# event ids strictly increase in the tenant tail
if awk 'NR > 1 && $1 <= prev { bad = 1 } { prev = $1 } END { exit bad }' "$tmp/tail.tenant"; then
  echo "ok: tenant tail event ids increase"
else
  echo "FAIL: tenant tail event ids not increasing"; fail=1
fi
# each room gap-free in the tenant tail
if awk '{ if (($2 in last) && $3 != last[$2] + 1) bad = 1; last[$2] = $3 } END { exit bad }' "$tmp/tail.tenant"; then
  echo "ok: tenant tail gap-free per room"
else
  echo "FAIL: tenant tail has a gap"; fail=1
fi

echo "== examples/hello"
if "$BIN/hello" >"$tmp/hello.out"; then head -2 "$tmp/hello.out"; else echo "FAIL: hello"; fail=1; fi

for op in ping send; do
  echo "== smrtchat-bench --clients 4 --calls 200 --op $op (rpc: $rpc_all)"
  if SMRTCHAT_RPC="$rpc_all" "$BIN/smrtchat-bench" --clients 4 --calls 200 --op $op >"$tmp/bench.$op"; then
    cat "$tmp/bench.$op"
    grep -q '"errors":0' "$tmp/bench.$op" && [ "$(wc -l <"$tmp/bench.$op")" -eq 1 ] || { echo "FAIL: bench output"; fail=1; }
  else
    cat "$tmp/bench.$op"; echo "FAIL: bench $op exited non-zero"; fail=1
  fi
done

echo "== test_stream (SPEC §13: streamed replies, tool approvals, busy sessions)"
${SMRTCHAT_TEST_WRAPPER:-} "$BIN/test_stream" || fail=1

# The reader's RESYNC_REQUIRED fallback against the real server: a second server (own database and
# endpoints) that drops a finished reply's deltas after 1 s, with the stream job every second.
echo "== test_stream, resync mode (second server: delta_retention_seconds=1, stream_job_interval=1)"
db2=$tmp/chat2.sqlite
chat2_json=$("$SERVER" keys create --db "$db2" --tenant tenant-1 --scope chat --scope events --json)
agent2_json=$("$SERVER" keys create --db "$db2" --tenant tenant-1 --scope agent --json)
SMRTCHAT_DELTA_RETENTION_SECONDS=1 SMRTCHAT_STREAM_JOB_INTERVAL=1 \
  "$SERVER" serve --rpc "ipc://$tmp/rpc-b.sock" --events "ipc://$tmp/events-b.sock" --db "$db2" --no-rate-limits \
  >"$tmp/server2.out" 2>"$tmp/server2.err" &
server2_pid=$!
i=0
until grep -q "smrt-chatd serving" "$tmp/server2.out" 2>/dev/null; do
  if ! kill -0 "$server2_pid" 2>/dev/null || [ $i -gt 300 ]; then
    echo "FAIL: second server not serving:"; cat "$tmp/server2.err"; fail=1; break
  fi
  i=$((i + 1)); sleep 0.1
done
if kill -0 "$server2_pid" 2>/dev/null; then
  SMRTCHAT_RPC="ipc://$tmp/rpc-b.sock" SMRTCHAT_EVENTS="ipc://$tmp/events-b.sock" SMRTCHAT_STREAM_TEST_MODE=resync \
    SMRTCHAT_KEY_ID=$(echo "$chat2_json" | field key_id) SMRTCHAT_SECRET=$(echo "$chat2_json" | field secret) \
    SMRTCHAT_AGENT_KEY_ID=$(echo "$agent2_json" | field key_id) SMRTCHAT_AGENT_SECRET=$(echo "$agent2_json" | field secret) \
    ${SMRTCHAT_TEST_WRAPPER:-} "$BIN/test_stream" || fail=1
fi
stop_server "$server2_pid"

if [ -s "$tmp/server.err" ] && grep -qi "fatal\|crash" "$tmp/server.err"; then
  echo "server stderr:"; tail -20 "$tmp/server.err"
fi
if [ $fail -eq 0 ]; then echo "ALL C CLIENT TESTS PASSED"; else echo "C CLIENT TESTS FAILED"; KEEP_TMP=${KEEP_TMP:-1}; fi
exit $fail
