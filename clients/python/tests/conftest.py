"""Starts a real smrt-chatd (binary from $SMRTCHAT_SERVER) on free loopback ports with a temporary
database, and makes keys with `smrt-chatd keys create --json`."""
from __future__ import annotations

import json
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid

import pytest

import smrtchat

HERE = pathlib.Path(__file__).resolve().parent
DEFAULT_SERVER = (HERE / "../../../.build/debug/smrt-chatd").resolve()
ALL_SCOPES = ("chat", "agent", "events", "admin")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, binary: str, config: dict | None = None):
        """config: key = value lines for --config; given, the periodic jobs run as it says (no --no-jobs)."""
        self.binary = binary
        self.config = config
        self.dir = tempfile.mkdtemp(prefix="smrtchat-py-")
        self.db = os.path.join(self.dir, "chat.sqlite")
        self.rpc_tcp = f"tcp://127.0.0.1:{_free_port()}"
        self.rpc_ipc = f"ipc://{self.dir}/rpc.sock"
        self.events = f"tcp://127.0.0.1:{_free_port()}"
        self.rpc = [self.rpc_tcp, self.rpc_ipc]
        self.proc = None
        self.log = open(os.path.join(self.dir, "server.log"), "wb")

    def start(self):
        args = [self.binary, "serve", "--rpc", ",".join(self.rpc), "--events", self.events, "--db", self.db,
                "--no-rate-limits", "--log-level", "warning"]
        if self.config is None:
            args.append("--no-jobs")
        else:
            path = os.path.join(self.dir, "smrt-chatd.conf")
            with open(path, "w") as f:
                f.writelines(f"{k} = {v}\n" for k, v in self.config.items())
            args += ["--config", path]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self.log)
        ready = {}

        def wait_line():
            ready["line"] = self.proc.stdout.readline()
        t = threading.Thread(target=wait_line, daemon=True)
        t.start()
        t.join(30)
        line = ready.get("line", b"")
        if b"serving" not in line:
            self.stop()
            raise RuntimeError(f"smrt-chatd did not start: {line!r}; log in {self.log.name}")
        # Drain stdout so the server never blocks on a full pipe.
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    def create_key(self, tenants=None, scopes=("chat",)) -> tuple[str, str]:
        args = ["create", "--db", self.db, "--json"]
        if tenants is None:
            args.append("--all-tenants")
        else:
            for t in tenants:
                args += ["--tenant", t]
        for s in scopes:
            args += ["--scope", s]
        out = subprocess.run([self.binary, "keys", *args], check=True, capture_output=True, timeout=30)
        data = json.loads(out.stdout)
        return data["key_id"], data["secret"]

    def revoke_key(self, key_id: str):
        subprocess.run([self.binary, "keys", "revoke", "--db", self.db, key_id], check=True,
                       capture_output=True, timeout=30)


def run_server(config=None):
    binary = os.environ.get("SMRTCHAT_SERVER") or str(DEFAULT_SERVER)
    if not os.access(binary, os.X_OK):
        pytest.fail(f"server binary not found: {binary} (build it: swift build --product smrt-chatd, "
                    f"or set SMRTCHAT_SERVER)")
    srv = Server(binary, config)
    srv.start()
    yield srv
    srv.stop()
    if srv.proc.returncode not in (0, -signal.SIGTERM):
        print(f"smrt-chatd exited with {srv.proc.returncode}; log kept in {srv.dir}")
    else:
        shutil.rmtree(srv.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def server():
    yield from run_server()


@pytest.fixture(scope="session")
def all_key(server):
    """A key with every scope in every tenant."""
    return server.create_key(None, ALL_SCOPES)


@pytest.fixture(scope="session")
def chat_key(server):
    """A key with only the chat scope, in every tenant."""
    return server.create_key(None, ("chat",))


@pytest.fixture
def tenant():
    """A tenant of its own for each test."""
    return "t-" + uuid.uuid4().hex[:12]


@pytest.fixture
def make_client(server):
    made = []

    def make(key, tenant_id, actor, **kw):
        kw.setdefault("timeout_ms", 3000)
        c = smrtchat.Client(server.rpc, key[0], key[1], tenant_id, actor, **kw)
        made.append(c)
        return c
    yield make
    for c in made:
        c.close()


@pytest.fixture
def alice(make_client, chat_key, tenant):
    return make_client(chat_key, tenant, "alice")
