#!/usr/bin/env python3
"""A/B of server binaries on SQLite, alternated in one run (this machine's noise is larger than most changes).

    python3 bench/ab.py ROUNDS SERVER_A SERVER_B [...]

Each round starts each binary in turn (one instance, a fresh SQLite file, NORMAL) and measures with
`clients/c/build/bin/smrtchat-bench`: ping (authenticated GetRoom) at 1 client, SendMessage at 1 and 64
clients; server CPU per call from /proc/PID/stat around each load. Prints the median of the rounds.
"""
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import postgres as P  # noqa: E402  (its Cluster starts instances and creates a key)

TICK = os.sysconf("SC_CLK_TCK")
LOADS = (("ping", 1, 3000), ("send", 1, 2000), ("send", 64, 12000))


def cpu_s(pid):
    fields = open(f"/proc/{pid}/stat").read()
    fields = fields[fields.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def bench(cluster, op, clients, calls):
    return json.loads(P.out([P.CBENCH, "--clients", str(clients), "--calls", str(calls), "--op", op,
                             "--rpc", ",".join(cluster.rpcs), "--key-id", cluster.key_id, "--secret", cluster.secret,
                             "--tenant", P.TENANT, "--actor", P.ACTOR]))


def one_round(server):
    with tempfile.TemporaryDirectory() as tmp:
        cluster = P.Cluster(server, tmp, "s", "sqlite:" + os.path.join(tmp, "c.sqlite"), 1)
        cluster.start([])
        try:
            pid = cluster.procs[0].pid
            bench(cluster, "send", 64, 20)  # warm-up
            result = {}
            for op, clients, calls in LOADS:
                before = cpu_s(pid)
                r = bench(cluster, op, clients, calls // clients)
                result[f"{op}{clients}"] = (r["throughput_per_s"], r["p50_us"], (cpu_s(pid) - before) / r["ok"] * 1e6)
            return result
        finally:
            cluster.stop()


def main():
    rounds, servers = int(sys.argv[1]), sys.argv[2:]
    results = {server: [] for server in servers}
    for _ in range(rounds):
        for server in servers:
            results[server].append(one_round(server))
    for server, runs in results.items():
        for key in runs[0]:
            values = [run[key] for run in runs]
            med = [sorted(v[i] for v in values)[len(values) // 2] for i in range(3)]
            print(f"{server}  {key:7s} calls/s {med[0]:8.1f}  p50 {med[1]:8.1f} µs  server CPU/call {med[2]:6.1f} µs")


if __name__ == "__main__":
    main()
