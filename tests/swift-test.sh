#!/bin/bash
# Runs the Swift test suites (make test-swift). On failure it repeats, at the end of the output (CI shows
# the tail), the failed expectations and, when the test process died on a signal, the crashed thread's
# backtrace: the one crash seen in CI (nanomsg's inproc races, RawRepTests) printed only registers there.
set -u
cd "$(dirname "$0")/.."
SWIFT=${SWIFT:-swift}
log=$(mktemp /tmp/smrtchat-swift-test.XXXXXX)
trap 'rm -f "$log"' EXIT

summarize() {
  echo "---- swift test summary ----"
  grep -E "^✘ Test|recorded an issue" "$log" | head -20
  # On a crash: the test running when the process died, the cause, and the crashed thread's frames.
  if grep -q "Program crashed" "$log"; then
    grep -E "^◇ Test .* started" "$log" | tail -1 | sed 's/^/last test started: /'
    grep -E "Program crashed" "$log" | head -1
    awk '/crashed:$/ {on=1} on {print; if (++n > 40) exit} /^$/ && on && n > 2 {exit}' "$log"
  fi
}

# The crashed thread only, symbolicated fast: printing all ~45 threads in full once took swift-backtrace 14 minutes.
SWIFT_BACKTRACE=${SWIFT_BACKTRACE:-threads=crashed,symbolicate=fast} $SWIFT test --skip-build --no-parallel 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
[ "$rc" -ne 0 ] && summarize
exit "$rc"
