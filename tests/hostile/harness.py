"""Shared machinery of the hostile suites: a real smrt-chatd on free loopback ports with a temporary
database, service keys, hand-built (signed or unsigned) request frames, raw round trips, a Health prober
running in its own process, the server's resident memory, and the results files.

The server binary comes from $SMRTCHAT_SERVER (default .build/debug/smrt-chatd). It is copied into the
server's temporary directory before the first start, so a rebuild during a run (or a restart after a
crash) never swaps the binary under test.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import json
import math
import os
import pathlib
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import pynng

from smrtchat.client import OPERATIONS, new_request_id
from smrtchat.signing import sign
from smrtchat.v1 import rpc_pb2

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parent.parent
ALL_SCOPES = ("chat", "agent", "events", "admin")
INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1
INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1
#: The server's default max_frame_bytes (README, Configuration).
MAX_FRAME_BYTES = 1 << 20
#: Lines printed after pytest's own summary (see conftest.py): figures and failure tables.
SUMMARY: list[str] = []


def report(*lines: str) -> None:
    """Queues lines for the end-of-run summary (printed even when output is captured)."""
    SUMMARY.extend(lines)


def server_binary() -> str:
    """The binary under test: $SMRTCHAT_SERVER or the repository's debug build."""
    return str(pathlib.Path(os.environ.get("SMRTCHAT_SERVER") or REPO / ".build/debug/smrt-chatd").resolve())


def is_release_build(binary: str) -> bool:
    """Whether a binary path is a release build (judged by a `release` directory in its path)."""
    return "release" in pathlib.Path(binary).parts


def write_results(env_var: str, values: dict) -> None:
    """Merges `values` into the JSON file named by the environment variable `env_var`, when it is set
    (several suites may share one file)."""
    path = os.environ.get(env_var)
    if not path:
        return
    data = {}
    if os.path.exists(path):
        with open(path) as f:
            data = json.load(f)
    data.update(values)
    with open(path, "w") as f:
        json.dump(data, f, indent=2, sort_keys=True)
        f.write("\n")


def method_path(op_name: str) -> str:
    """'/smrt.chat.v1.ChatService/GetRoom' for 'GetRoom'."""
    return OPERATIONS[op_name].method


def code_name(code: int) -> str:
    """'NOT_FOUND' for 5 (the proto enum name without CODE_), or the number when unknown."""
    try:
        return rpc_pb2.Code.Name(code).removeprefix("CODE_")
    except ValueError:
        return str(code)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """One smrt-chatd process serving RPC and events on free loopback TCP ports with its own database.

    `extra_args` are appended to `smrt-chatd serve`; `env` entries (e.g. SMRTCHAT_KEY_RATE) are added to
    its environment, from which every other SMRTCHAT_* variable is removed so the caller's shell cannot
    change the configuration under test. `restart()` starts the same binary again on the same ports and
    database (keys and data survive).
    """

    def __init__(self, extra_args: tuple[str, ...] = (), env: dict[str, str] | None = None):
        source = server_binary()
        if not os.access(source, os.X_OK):
            raise FileNotFoundError(f"server binary not found: {source} (build it with "
                                    f"`swift build --product smrt-chatd`, or set SMRTCHAT_SERVER)")
        self.release = is_release_build(source)
        self.dir = tempfile.mkdtemp(prefix="smrtchat-hostile-")
        self.binary = os.path.join(self.dir, "smrt-chatd")
        shutil.copy2(source, self.binary)
        self.db = os.path.join(self.dir, "chat.sqlite")
        self.rpc = f"tcp://127.0.0.1:{_free_port()}"
        self.events = f"tcp://127.0.0.1:{_free_port()}"
        self.log_path = os.path.join(self.dir, "server.log")
        self.extra_args = tuple(extra_args)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("SMRTCHAT_")}
        self.env.update(env or {})
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        """Starts the server and waits (≤ 30 s) for its `serving` line."""
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [self.binary, "serve", "--rpc", self.rpc, "--events", self.events, "--db", self.db,
                 "--no-jobs", "--log-level", "warning", *self.extra_args],
                stdout=subprocess.PIPE, stderr=log, env=self.env)
        line: dict[str, bytes] = {}
        reader = threading.Thread(target=lambda: line.setdefault("l", self.proc.stdout.readline()), daemon=True)
        reader.start()
        reader.join(30)
        if b"serving" not in line.get("l", b""):
            self.kill()
            raise RuntimeError(f"smrt-chatd did not start: {line.get('l', b'')!r}\n{self.log_tail()}")
        # Drain stdout so the server never blocks on a full pipe.
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def exit_status(self) -> str:
        """How the process ended: 'signal SIGSEGV', 'exit 1' or 'running'."""
        code = self.proc.poll() if self.proc else None
        if code is None:
            return "running"
        if code < 0:
            return f"signal {signal.Signals(-code).name}"
        return f"exit {code}"

    def kill(self) -> None:
        """SIGKILL (this server's pid only) and reap."""
        if self.alive():
            self.proc.kill()
        if self.proc:
            self.proc.wait()

    def restart(self) -> None:
        """Kills the process if it still runs and starts it again on the same ports and database."""
        self.kill()
        self.start()

    def terminate(self, timeout: float = 60.0) -> float:
        """SIGTERM; returns the seconds until the process exited (SIGKILL after `timeout`)."""
        start = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
        return time.monotonic() - start

    def rss_kib(self) -> int | None:
        """VmRSS of the process in KiB (None once it has exited)."""
        try:
            with open(f"/proc/{self.pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1])
        except (FileNotFoundError, ProcessLookupError):
            return None
        return None

    def create_key(self, tenants: list[str] | None, scopes: tuple[str, ...] = ("chat",)) -> tuple[str, str]:
        """`smrt-chatd keys create --json`: (key id, secret hex). `tenants=None` grants every tenant."""
        args = ["keys", "create", "--db", self.db, "--json"]
        args += ["--all-tenants"] if tenants is None else [a for t in tenants for a in ("--tenant", t)]
        args += [a for s in scopes for a in ("--scope", s)]
        out = subprocess.run([self.binary, *args], check=True, capture_output=True, timeout=60, env=self.env)
        data = json.loads(out.stdout)
        return data["key_id"], data["secret"]

    def log_tail(self, lines: int = 15) -> str:
        """The end of the server's stderr log (where a Swift runtime trap prints its reason)."""
        try:
            with open(self.log_path, "rb") as f:
                text = f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def crash_reason(self) -> str:
        """The Swift runtime's account of the last crash in the log ('Fatal error: …', 'Program crashed:
        …'), else the log's last line."""
        try:
            with open(self.log_path, "rb") as f:
                lines = [line.strip() for line in f.read().decode("utf-8", "replace").splitlines() if line.strip()]
        except FileNotFoundError:
            return ""
        marked = [line for line in lines if re.search(r"Fatal error|Program crashed|Crash", line)]
        return " / ".join(marked[-2:]) if marked else (lines[-1] if lines else "")

    def cleanup(self, keep: bool = False) -> None:
        """Stops the server; removes the temporary directory unless `keep` (then says where it is)."""
        if self.alive():
            self.terminate(30)
        if keep:
            print(f"smrt-chatd files kept in {self.dir}", file=sys.stderr)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)


def envelope(op_name: str, payload: bytes, tenant: str, actor: str, request_id: str | None = None,
             deadline_ms: int = 0, traceparent: str = "") -> rpc_pb2.RpcRequest:
    """An unsigned RpcRequest (no Auth) of one call; a fresh request id unless one is given."""
    return rpc_pb2.RpcRequest(method=method_path(op_name), payload=payload, context=rpc_pb2.CallContext(
        tenant_id=tenant, actor_profile_id=actor, request_id=new_request_id() if request_id is None else request_id,
        deadline_unix_ms=deadline_ms, traceparent=traceparent))


def health_frame() -> bytes:
    """An unsigned Health call (Health needs no credentials)."""
    return envelope("Health", b"", "hostile", "probe").SerializeToString()


class Signer:
    """Builds RpcRequest frames for one key acting as one profile of one tenant (SPEC §7.1, §7.3)."""

    def __init__(self, key: tuple[str, str], tenant: str, actor: str):
        self.key_id, secret_hex = key
        self.secret = bytes.fromhex(secret_hex)
        self.tenant = tenant
        self.actor = actor

    def frame(self, op_name: str, payload: bytes, *, request_id: str | None = None,
              timestamp_ms: int | None = None, deadline_ms: int | None = None, signed: bool = True,
              key_id: str | None = None, secret: bytes | None = None, traceparent: str = "") -> bytes:
        """The serialized envelope of one call. Defaults: a fresh request id, now as the timestamp, a
        deadline 60 s away. `signed=False` leaves Auth out; `key_id`/`secret` override the key's (a
        bogus key, a wrong secret)."""
        now = time.time_ns() // 1_000_000
        timestamp_ms = now if timestamp_ms is None else timestamp_ms
        env = envelope(op_name, payload, self.tenant, self.actor, request_id,
                       now + 60_000 if deadline_ms is None else deadline_ms, traceparent)
        if signed:
            env.auth.key_id = self.key_id if key_id is None else key_id
            env.auth.timestamp_unix_ms = timestamp_ms
            env.auth.signature = sign(self.secret if secret is None else secret, env.method, self.tenant,
                                      self.actor, env.context.request_id, timestamp_ms, payload)
        return env.SerializeToString()


class Caller:
    """A pynng REQ socket for hand-built frames. Each round trip uses its own nng context and never
    resends (a resend would be a second frame the server must answer); a late reply is discarded."""

    _NO_RESEND_MS = 3_600_000

    def __init__(self, endpoint: str):
        self.sock = pynng.Req0(recv_max_size=64 << 20)
        self.sock.resend_time = self._NO_RESEND_MS
        self.sock.dial(endpoint, block=False)

    def roundtrip(self, frame: bytes, timeout_ms: int) -> rpc_pb2.RpcResponse | None:
        """Sends one frame and returns the decoded reply, or None when none came within `timeout_ms`.
        Raises ValueError when the reply is not an RpcResponse."""
        ctx = self.sock.new_context()
        try:
            end = time.monotonic() + timeout_ms / 1000
            pynng.lib.nng_ctx_set_ms(ctx.context, b"send-timeout", int(timeout_ms))
            pynng.lib.nng_ctx_set_ms(ctx.context, b"req:resend-time", self._NO_RESEND_MS)
            ctx.send(frame)
            left = max(1, int((end - time.monotonic()) * 1000))
            pynng.lib.nng_ctx_set_ms(ctx.context, b"recv-timeout", left)
            data = ctx.recv()
        except pynng.Timeout:
            return None
        finally:
            ctx.close()
        resp = rpc_pb2.RpcResponse()
        try:
            resp.ParseFromString(data)
        except Exception as exc:  # noqa: BLE001 - any decode failure is reported the same way
            raise ValueError(f"reply is not an RpcResponse ({len(data)} bytes)") from exc
        return resp

    def wait_ready(self, timeout_s: float = 30.0) -> None:
        """Waits until an unsigned Health call is answered (after a start or restart)."""
        frame = health_frame()
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            if self.roundtrip(frame, 500) is not None:
                return
        raise TimeoutError("the server does not answer Health")

    def close(self) -> None:
        self.sock.close()


class HealthProbe:
    """Unsigned Health calls every `interval_ms` from a separate process (health_probe.py), so this
    process's work and GIL never delay them. `samples` holds (monotonic send time, latency ms); a call
    unanswered after `timeout_ms` counts as that long. CLOCK_MONOTONIC is system-wide, so the send times
    compare with this process's time.monotonic()."""

    def __init__(self, endpoint: str, interval_ms: int = 20, timeout_ms: int = 2000):
        self.samples: list[tuple[float, float]] = []
        self._proc = subprocess.Popen(
            [sys.executable, str(HERE / "health_probe.py"), endpoint, str(interval_ms), str(timeout_ms)],
            stdout=subprocess.PIPE, text=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self._proc.stdout:
            sent, latency = line.split()
            self.samples.append((float(sent), float(latency)))

    def stop(self) -> list[tuple[float, float]]:
        """Ends the prober (its own pid) and returns every sample."""
        self._proc.terminate()
        self._proc.wait(10)
        self._reader.join(10)
        return list(self.samples)


class RssSampler:
    """Samples a server's VmRSS every `interval_s` in a thread; `peak_kib` is the largest seen."""

    def __init__(self, server: Server, interval_s: float = 0.02):
        self.server = server
        self.interval_s = interval_s
        self.peak_kib = server.rss_kib() or 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            rss = self.server.rss_kib()
            if rss is not None:
                self.peak_kib = max(self.peak_kib, rss)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak_kib


class RawReq:
    """A raw (AF_SP_RAW) nanomsg REQ socket through ctypes and the system libnanomsg: `send` puts a
    frame on the wire without waiting for its reply, prefixed with the 4-byte request id a cooked REQ
    socket adds, so one thread keeps its connection as full as the server lets it. `drain` reads the
    replies that have arrived. Sends block at most `send_timeout_ms` (then return False)."""

    _AF_SP_RAW, _NN_REQ, _NN_SOL_SOCKET, _NN_SNDTIMEO, _NN_RCVMAXSIZE, _NN_DONTWAIT = 2, 48, 0, 4, 16, 1
    _NN_MSG = ctypes.c_size_t(-1).value
    _lib = None

    @classmethod
    def _nanomsg(cls):
        if cls._lib is None:
            name = ctypes.util.find_library("nanomsg") or "libnanomsg.so.5"
            lib = ctypes.CDLL(name, use_errno=True)
            lib.nn_socket.argtypes = [ctypes.c_int, ctypes.c_int]
            lib.nn_connect.argtypes = [ctypes.c_int, ctypes.c_char_p]
            lib.nn_setsockopt.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t]
            lib.nn_send.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_int]
            lib.nn_recv.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
            lib.nn_freemsg.argtypes = [ctypes.c_void_p]
            lib.nn_close.argtypes = [ctypes.c_int]
            lib.nn_errno.restype = ctypes.c_int
            lib.nn_strerror.restype = ctypes.c_char_p
            lib.nn_strerror.argtypes = [ctypes.c_int]
            cls._lib = lib
        return cls._lib

    def __init__(self, endpoint: str, send_timeout_ms: int = 1000):
        self.lib = self._nanomsg()
        self.fd = self.lib.nn_socket(self._AF_SP_RAW, self._NN_REQ)
        self._check(self.fd, "nn_socket")
        timeout = ctypes.c_int(send_timeout_ms)
        self._check(self.lib.nn_setsockopt(self.fd, self._NN_SOL_SOCKET, self._NN_SNDTIMEO, ctypes.byref(timeout),
                                           ctypes.sizeof(timeout)), "nn_setsockopt(NN_SNDTIMEO)")
        unlimited = ctypes.c_int(-1)
        self._check(self.lib.nn_setsockopt(self.fd, self._NN_SOL_SOCKET, self._NN_RCVMAXSIZE,
                                           ctypes.byref(unlimited), ctypes.sizeof(unlimited)), "nn_setsockopt")
        self._check(self.lib.nn_connect(self.fd, endpoint.encode()), "nn_connect")
        self._next_id = 1

    def _check(self, rc: int, what: str) -> None:
        if rc < 0:
            err = self.lib.nn_errno()
            raise OSError(err, f"{what}: {self.lib.nn_strerror(err).decode()}")

    def send(self, frame: bytes) -> bool:
        """Sends one frame with a fresh request id header; False when the send timed out."""
        header = (0x80000000 | (self._next_id & 0x7FFFFFFF)).to_bytes(4, "big")
        self._next_id += 1
        data = header + frame
        return self.lib.nn_send(self.fd, data, len(data), 0) == len(data)

    def drain(self) -> int:
        """Reads every reply already received; returns how many."""
        count = 0
        buf = ctypes.c_void_p()
        while self.lib.nn_recv(self.fd, ctypes.byref(buf), self._NN_MSG, self._NN_DONTWAIT) >= 0:
            self.lib.nn_freemsg(buf)
            count += 1
        return count

    def close(self) -> None:
        self.lib.nn_close(self.fd)


def percentile(values: list[float], q: float) -> float:
    """The q-quantile (0..1) by nearest rank; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered), max(1, math.ceil(q * len(ordered)))) - 1]
