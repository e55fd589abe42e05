#!/usr/bin/env python3
"""The Python and C clients against a cluster (part of `make test-postgres`).

    cluster_clients.py POSTGRES_ADMIN_URL SMRT_CHATD SMRTCHAT_BENCH

Creates a fresh database on the given PostgreSQL server, starts 3 smrt-chatd instances sharing it, and
checks that
- the Python Client, given every instance's RPC endpoint, is balanced over them and carries on when one
  instance is killed mid-load (same request id on resend: nothing twice, nothing acknowledged lost);
- the Python EventSubscriber, given every instance's events endpoint, delivers the tenant's log exactly
  once, each room in seq order, although live events come from three publishers (and one dies);
- smrtchat-bench (libsmrtchat) with a comma-separated list of RPC endpoints completes a send load.
Runs under the Python client's venv (clients/python/.venv). Exit status 0 when every check holds.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid

import smrtchat
from smrtchat.events import EventSubscriber
from smrtchat.v1 import events_pb2

TENANT = "cluster-tenant"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fail(message):
    print(f"cluster_clients: FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def main():
    admin_url, chatd, bench = sys.argv[1:4]
    name = "clients_" + uuid.uuid4().hex[:8]
    subprocess.run(["psql", admin_url, "-qc", f"CREATE DATABASE {name}"], check=True)
    url = admin_url.rsplit("/", 1)[0] + "/" + name
    tmp = tempfile.mkdtemp(prefix="smrtchat-cluster-")
    rpcs = [f"tcp://127.0.0.1:{free_port()}" for _ in range(3)]
    events = [f"tcp://127.0.0.1:{free_port()}" for _ in range(3)]
    procs = []
    try:
        for i in range(3):
            log = open(os.path.join(tmp, f"instance{i}.log"), "wb")
            p = subprocess.Popen([chatd, "serve", "--storage", url, "--rpc", rpcs[i], "--events", events[i],
                                  "--no-rate-limits", "--no-jobs", "--log-level", "warning"],
                                 stdout=subprocess.PIPE, stderr=log)
            if b"serving" not in p.stdout.readline():
                fail(f"instance {i} did not start (log in {log.name})")
            threading.Thread(target=p.stdout.read, daemon=True).start()
            procs.append(p)
        key = json.loads(subprocess.run([chatd, "keys", "create", "--storage", url, "--tenant", TENANT,
                                         "--scope", "chat", "--scope", "events", "--json"],
                                        check=True, capture_output=True, text=True).stdout)

        def client(actor):
            return smrtchat.Client(rpcs, key["key_id"], key["secret"], TENANT, actor, timeout_ms=3000,
                                   resend_ms=500, max_attempts=6)

        owner = client("owner")
        rooms = [owner.create_room(name=f"r{i}", room_type="public").room.id for i in range(3)]
        subscriber = EventSubscriber(client("indexer"), events, tenant_id=TENANT, after_event_id=0,
                                     idle_catchup_ms=300)
        senders, per_sender = 4, 40
        errors = []

        def send(w):
            c = client(f"sender{w}")
            try:
                for room in rooms:
                    c.join_room(room_id=room)
                for j in range(per_sender):
                    c.send_message(room_id=rooms[(w + j) % 3], content=f"w{w} m{j}")
                    if w == 0 and j == per_sender // 2:
                        procs[1].send_signal(signal.SIGKILL)   # one instance dies under load
            except Exception as e:  # noqa: BLE001 — reported below
                errors.append(f"sender {w}: {e!r}")

        threads = [threading.Thread(target=send, args=(w,)) for w in range(senders)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            fail("; ".join(errors))

        indexer = client("indexer")
        log = []
        after = 0
        while True:
            page = indexer.list_tenant_events(after_event_id=after, limit=200)
            log += page.events
            if not page.has_more or not page.events:
                break
            after = page.events[-1].event_id
        expected = 3 * 2 + senders * 3 + senders * per_sender   # rooms (created + owner joined), joins, messages
        if len(log) != expected:
            fail(f"the log holds {len(log)} events, expected {expected}")
        got = subscriber.take(len(log), timeout_ms=20000)
        subscriber.close()
        ids = [e.event_id for e in got]
        if sorted(ids) != [e.event_id for e in log]:
            fail(f"the subscriber's events differ from the log ({len(ids)} of {len(log)}, "
                 f"{len(ids) - len(set(ids))} duplicates)")
        for room in rooms:
            seqs = [e.seq for e in got if e.room_id == room]
            if seqs != list(range(1, len(seqs) + 1)):
                fail(f"room {room} not delivered in seq order")
        messages = [e for e in log if e.kind == events_pb2.EVENT_KIND_MESSAGE_CREATED]
        if len(messages) != senders * per_sender:
            fail(f"{len(messages)} messages, expected {senders * per_sender} (one per acknowledged send)")

        r = subprocess.run([bench, "--rpc", ",".join([rpcs[0], rpcs[2]]), "--key-id", key["key_id"],
                            "--secret", key["secret"], "--tenant", TENANT, "--actor", "cbench",
                            "--clients", "4", "--calls", "25", "--op", "send"],
                           capture_output=True, text=True, timeout=120)
        line = json.loads(r.stdout.strip().splitlines()[-1])
        if r.returncode != 0 or line.get("ok") != 100 or line.get("errors"):
            fail(f"smrtchat-bench over 2 instances: {line}")
        print(f"cluster_clients: ok ({len(log)} events once each over 3 publishers, one killed; "
              f"C client {line['throughput_per_s']} sends/s over 2 endpoints)")
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()


if __name__ == "__main__":
    main()
