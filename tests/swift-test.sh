#!/bin/bash
# Runs the Swift test suites (make test-swift). When the test process dies on a signal, prints what it
# was running and the crashed thread's backtrace at the end (CI shows the tail of the output), then runs
# the suites once more: a real failure fails twice. Set SMRTCHAT_TEST_NO_RETRY=1 to stop at the first.
set -u
cd "$(dirname "$0")/.."
SWIFT=${SWIFT:-swift}
log=$(mktemp /tmp/smrtchat-swift-test.XXXXXX)
trap 'rm -f "$log"' EXIT

summarize() {
  echo "---- swift test summary ----"
  grep -E "^✘ Test|recorded an issue" "$log" | head -20
  # Tests that started and never finished: the one running when the process died.
  grep -oE '^◇ Test "?[^"]*"? started' "$log" | sed -E 's/^◇ Test "?([^"]*)"? started/\1/' | sort >"$log.started"
  grep -oE '^[✔✘] Test "?[^"]*"? (passed|failed)' "$log" | sed -E 's/^[✔✘] Test "?([^"]*)"? (passed|failed)/\1/' | sort >"$log.ended"
  comm -23 "$log.started" "$log.ended" | sed 's/^/unfinished test: /'
  rm -f "$log.started" "$log.ended"
  # The Swift runtime's backtrace: the crashed thread's frames.
  awk '/crashed:$/ {on=1} on {print; if (++n > 40) exit} /^$/ && on && n > 2 {exit}' "$log"
  grep -E "^(💣|Fatal error|.*Crash: )" "$log" | head -5
}

run() {
  $SWIFT test --skip-build --no-parallel 2>&1 | tee "$log"
  return "${PIPESTATUS[0]}"
}

run
rc=$?
if [ "$rc" -ne 0 ]; then
  summarize
  if grep -qE "crashed:$|💣|Program crashed" "$log" && [ "${SMRTCHAT_TEST_NO_RETRY:-0}" != 1 ]; then
    echo "the test process crashed (above); running the Swift suites once more"
    run
    rc=$?
    [ "$rc" -ne 0 ] && summarize
  fi
fi
exit "$rc"
