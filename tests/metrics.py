#!/usr/bin/env python3
"""make test-metrics: a real Prometheus scrapes a running smrt-chatd (interval 1 s) while smrtchat-bench sends;
then Prometheus's HTTP API must report the calls: the SendMessage count equals what the load sent (within 5%),
sum(rate(smrtchat_calls_total[15s])) and the p99 of smrtchat_call_duration_seconds are positive and plausible.

    tests/metrics.py SERVER SMRTCHAT_BENCH       (Debian's prometheus must be installed: the Makefile does it)
Standard library only.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

SERVER, BENCH = sys.argv[1], sys.argv[2]
CLIENTS, CALLS = 4, 500  # per client


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url):
    with urllib.request.urlopen(url, timeout=5) as r:
        return r.read().decode()


def query(prom, expr):
    body = json.loads(get(f"http://127.0.0.1:{prom}/api/v1/query?" + urllib.parse.urlencode({"query": expr})))
    assert body["status"] == "success", body
    result = body["data"]["result"]
    return float(result[0]["value"][1]) if result else None


def wait_for(what, check, seconds=30):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            value = check()
            if value:
                return value
        except (OSError, ValueError, AssertionError):
            pass
        time.sleep(0.25)
    raise SystemExit(f"test-metrics: timed out waiting for {what}")


def main():
    tmp = tempfile.mkdtemp(prefix="smrtchat-metrics-")
    procs = []
    try:
        db, rpc = os.path.join(tmp, "chat.sqlite"), f"ipc://{tmp}/rpc.sock"
        mport, pport = free_port(), free_port()
        server = subprocess.Popen([SERVER, "serve", "--db", db, "--rpc", rpc, "--events", f"ipc://{tmp}/ev.sock",
                                   "--metrics", f"127.0.0.1:{mport}", "--no-rate-limits", "--no-jobs",
                                   "--log-level", "warning"], stdout=subprocess.PIPE, text=True)
        procs.append(server)
        assert "serving" in server.stdout.readline()
        key = json.loads(subprocess.check_output([SERVER, "keys", "create", "--db", db, "--tenant", "tenant-1", "--json"]))
        config = os.path.join(tmp, "prometheus.yml")
        with open(config, "w") as f:
            f.write(f"global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n"
                    f"  - job_name: smrtchat\n    static_configs:\n      - targets: ['127.0.0.1:{mport}']\n")
        prometheus = subprocess.Popen(["prometheus", f"--config.file={config}", f"--storage.tsdb.path={tmp}/tsdb",
                                       f"--web.listen-address=127.0.0.1:{pport}"],
                                      stdout=subprocess.DEVNULL, stderr=open(os.path.join(tmp, "prometheus.log"), "w"))
        procs.append(prometheus)
        wait_for("Prometheus to scrape smrt-chatd", lambda: query(pport, 'up{job="smrtchat"}') == 1)
        def send(clients, calls):
            r = json.loads(subprocess.check_output([BENCH, "--clients", str(clients), "--calls", str(calls), "--op", "send",
                                                    "--rpc", rpc, "--key-id", key["key_id"], "--secret", key["secret"],
                                                    "--tenant", "tenant-1", "--actor", "alice"]))
            assert r["errors"] == 0, r
            return r

        expr = 'sum(smrtchat_calls_total{method="SendMessage",status="OK"})'
        # A few sends first, so that the series exist in Prometheus before the load (a rate does not count the
        # first sample of a series that appears inside its window).
        warm = send(1, 10)["ok"]
        wait_for("the first sends to be scraped", lambda: (query(pport, expr) or 0) >= warm)
        time.sleep(1.5)
        load = send(CLIENTS, CALLS)
        sent = warm + load["ok"]
        # The scrapes after the load settle the count; wait for them (a lost increment never arrives: then the
        # check below fails on what was counted).
        counted, deadline = None, time.time() + 15
        while time.time() < deadline and (counted or 0) < sent:
            counted = query(pport, expr)
            time.sleep(0.25)
        rate = query(pport, "sum(rate(smrtchat_calls_total[15s]))")
        p99 = query(pport, 'histogram_quantile(0.99, sum by (le) (rate(smrtchat_call_duration_seconds_bucket{method="SendMessage"}[15s])))')
        print(f"test-metrics: sent {sent}, Prometheus counted {counted or 0:.0f}; rate {rate:.1f} calls/s "
              f"(load {load['throughput_per_s']:.0f}/s over {load['elapsed_s']:.2f} s); p99 {p99 * 1000:.2f} ms")
        assert counted is not None and abs(counted - sent) <= sent * 0.05, f"counted {counted} of {sent} sends"
        # The load ended inside the 15 s window: the rate is about its count over the window, never above the
        # load's own rate.
        assert rate and load["ok"] / 15 / 2 <= rate <= load["throughput_per_s"] * 1.5, rate
        assert p99 and 0 < p99 < 5, p99
        head = query(pport, "smrtchat_event_log_head_id")
        assert head and head >= sent, f"event log head {head} below {sent} sends"
        text = get(f"http://127.0.0.1:{mport}/metrics")
        for name in ("smrtchat_writer_batch_operations_count", "smrtchat_writer_commit_seconds_count",
                     "smrtchat_events_published_total", "smrtchat_process_resident_memory_bytes",
                     "smrtchat_process_open_fds", "smrtchat_database_wal_bytes", "smrtchat_pub_connections",
                     "smrtchat_event_log_first_id"):
            assert name in text, f"{name} missing from /metrics"
        print("test-metrics: ok")
    finally:
        for p in reversed(procs):
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
