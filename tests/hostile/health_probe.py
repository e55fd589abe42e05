"""Health prober run by harness.HealthProbe in its own process:
    python health_probe.py ENDPOINT INTERVAL_MS TIMEOUT_MS
Sends an unsigned Health call every INTERVAL_MS and prints one line per call, `SEND_TIME LATENCY_MS`
(SEND_TIME is time.monotonic(); an unanswered call prints TIMEOUT_MS), until it is terminated."""
from __future__ import annotations

import signal
import sys
import time

import harness


def main() -> None:
    endpoint, interval_ms, timeout_ms = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    caller = harness.Caller(endpoint)
    next_send = time.monotonic()
    while True:
        sent = time.monotonic()
        try:
            answered = caller.roundtrip(harness.health_frame(), timeout_ms) is not None
        except ValueError:
            answered = True  # an undecodable reply is still an answer; the suites check replies themselves
        latency = (time.monotonic() - sent) * 1000 if answered else float(timeout_ms)
        print(f"{sent:.6f} {latency:.3f}", flush=True)
        next_send = max(next_send + interval_ms / 1000, time.monotonic())
        time.sleep(max(0.0, next_send - time.monotonic()))


if __name__ == "__main__":
    main()
